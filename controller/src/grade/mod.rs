//! Grading: a pure function from a plan, the step records of a test (with the verdict the run
//! recorded on every limited measurement) and the operator's answers to a grade (CTIA cosmetic
//! and functional, R2v3 categories, marketplace grade), a disposition and the reasons that
//! decided it. No I/O, no clock, no randomness. A verdict is computed once, by [`judge_reading`]
//! as the run measures; grading reads it from the steps.

pub mod bin;
mod verdict;
pub mod vocab;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::{matches, Part, Plan, Prerequisites, RuleDisposition};
use crate::run::record::{MeasuredValue, Measurement, Reading, Step, StepRecord, StepStatus};
pub use verdict::{judge, Verdict};
pub use vocab::{CtiaCosmetic, Marketplace, R2Cosmetic, R2Functional};

/// What grading looks at.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The test's step records, each limited measurement carrying the verdict the run recorded
    /// ([`judge_reading`]); only measured steps count.
    pub steps: Vec<StepRecord>,
    /// Prompt answers by prompt id.
    pub answers: BTreeMap<String, String>,
    /// Why the test is incomplete (steps not measured, prompts not answered); empty when complete.
    pub incomplete: Vec<String>,
}

/// One measurement against its limit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Judged {
    /// `step.measurement`.
    pub id: String,
    /// Value (`null` in JSON for an open circuit).
    pub value: f64,
    /// Lower limit.
    pub min: Option<f64>,
    /// Upper limit.
    pub max: Option<f64>,
    /// Verdict.
    pub verdict: Verdict,
}

/// Where the phone goes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    /// Sell as is.
    Resale,
    /// Repair the listed parts, then retest.
    Repair,
    /// Harvest for parts.
    Parts,
    /// Recycle.
    Recycle,
    /// The test is incomplete: test again.
    Retest,
}

impl Disposition {
    /// Every disposition, from the best outcome to retest.
    pub const ALL: [Disposition; 5] = [
        Disposition::Resale,
        Disposition::Repair,
        Disposition::Parts,
        Disposition::Recycle,
        Disposition::Retest,
    ];

    /// The name used in records and reports (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Resale => "resale",
            Disposition::Repair => "repair",
            Disposition::Parts => "parts",
            Disposition::Recycle => "recycle",
            Disposition::Retest => "retest",
        }
    }

    /// The disposition named `text` (case-insensitive), if any.
    pub fn parse(text: &str) -> Option<Disposition> {
        Disposition::ALL
            .iter()
            .copied()
            .find(|d| d.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl std::fmt::Display for Disposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome, in the form records keep it (the names of [`vocab`]'s values): part of the
/// one record type ([`crate::run::record::Record`]), owned when graded, borrowed when read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Grade<'a> {
    /// CTIA cosmetic grade A-E (the operator's answer).
    #[serde(borrow, default)]
    pub cosmetic: Option<Cow<'a, str>>,
    /// CTIA functional grade 0-9.
    pub functional: u8,
    /// R2v3 functional category F1-F6 ([`R2Functional`]), or `controlled` for an R2
    /// controlled stream (no functioning category, or an R2 prerequisite not met).
    #[serde(borrow)]
    pub r2_functional: Cow<'a, str>,
    /// R2v3 cosmetic category C0-C9 ([`R2Cosmetic`]).
    #[serde(borrow, default)]
    pub r2_cosmetic: Option<Cow<'a, str>>,
    /// Marketplace grade ([`Marketplace`]), only for phones sold as is that meet the R2
    /// prerequisites.
    #[serde(borrow, default)]
    pub marketplace: Option<Cow<'a, str>>,
    /// Disposition.
    pub disposition: Disposition,
    /// Parts to repair.
    #[serde(default)]
    pub repair: Vec<Part>,
    /// The rules and failed measurements that decided it.
    #[serde(borrow, default)]
    pub reasons: Vec<Cow<'a, str>>,
}

/// Judges one value of a step against the step's limit for `name` on `model`: the bounds and
/// the verdict, or `None` when the plan does not limit it.
pub fn judge_step(
    step: &crate::plan::Step,
    model: &str,
    name: &str,
    value: f64,
) -> Option<(crate::plan::Bounds, Verdict)> {
    let limit = step.limits.iter().find(|l| matches(&l.pattern, name))?;
    let b = limit.bounds_for(model);
    let verdict = judge(&b, value);
    Some((b, verdict))
}

/// Judges one measurement of `step` on `model` against the plan's limit for it, once: sets its
/// `min`, `max` and `verdict` and returns the verdict, or `None` (and leaves it unjudged) when
/// the plan does not limit it or it is not a number.
pub fn judge_reading<V: MeasuredValue>(
    step: &crate::plan::Step,
    model: &str,
    m: &mut Reading<'_, V>,
) -> Option<Verdict> {
    let (b, verdict) = judge_step(step, model, &m.name, m.number()?)?;
    (m.min, m.max, m.verdict) = (b.min, b.max, Some(verdict));
    Some(verdict)
}

/// The verdicts recorded in `steps` (measured steps only), in plan order and by measurement
/// name within a step; nothing is judged again.
pub fn recorded<V: MeasuredValue>(plan: &Plan, steps: &[Step<'_, V>]) -> Vec<Judged> {
    let mut out = Vec::new();
    for step in &plan.steps {
        let mut judged: Vec<Judged> = steps
            .iter()
            .filter(|s| s.id == step.id && s.status == StepStatus::Measured)
            .flat_map(|s| s.measurements.iter())
            .filter_map(|m| {
                Some(Judged {
                    id: format!("{}.{}", step.id, m.name),
                    value: m.number()?,
                    min: m.min,
                    max: m.max,
                    verdict: m.verdict?,
                })
            })
            .collect();
        judged.sort_by(|a, b| a.id.cmp(&b.id));
        out.extend(judged);
    }
    out
}

/// Step records of a phone of `model` measured with `values` (by `step.measurement`), each
/// measurement judged as the run judges it ([`judge_reading`]): for grading values that did
/// not come from a run (tests, what-ifs).
pub fn measured_steps(plan: &Plan, model: &str, values: &BTreeMap<String, f64>) -> Vec<StepRecord> {
    plan.steps
        .iter()
        .map(|step| {
            let prefix = format!("{}.", step.id);
            let measurements = values
                .iter()
                .filter_map(|(id, &v)| {
                    let name = id.strip_prefix(&prefix)?;
                    let mut m = Measurement::num(name, v, "");
                    judge_reading(step, model, &mut m);
                    Some(m)
                })
                .collect();
            StepRecord {
                id: step.id.clone(),
                procedure: step.procedure.name(),
                channel: step.procedure.channel().as_str(),
                status: StepStatus::Measured,
                attempts: 1,
                errors: Vec::new(),
                measurements,
                duration_s: 0.0,
            }
        })
        .collect()
}

/// Grades: verdicts, rules, R2 prerequisites, then the disposition and the categories.
pub fn grade(plan: &Plan, input: &Input) -> (Vec<Judged>, Grade<'static>) {
    let judged = recorded(plan, &input.steps);
    let policy = &plan.grading;
    let any_fail = judged.iter().any(|j| j.verdict == Verdict::Fail);
    let mut functional = 0u8;
    let mut repair: Vec<Part> = Vec::new();
    let mut decided: Option<RuleDisposition> = None;
    let mut reasons = Vec::new();
    for rule in &policy.rules {
        let w = &rule.when;
        let hit = |patterns: &[String], worst_ok: Verdict| {
            patterns.iter().any(|p| {
                judged
                    .iter()
                    .any(|j| j.verdict >= worst_ok && matches(p, &j.id))
            })
        };
        let fires = (w.fail.is_empty() || hit(&w.fail, Verdict::Fail))
            && (w.marginal.is_empty() || hit(&w.marginal, Verdict::Marginal))
            && answered(&w.answer, &input.answers)
            && (!w.any_fail || any_fail);
        if !fires {
            continue;
        }
        functional = functional.max(rule.functional);
        if let Some(part) = rule.repair {
            if !repair.contains(&part) {
                repair.push(part);
            }
        }
        decided = decided.max(rule.disposition);
        reasons.push(rule.name.clone());
    }
    repair.sort();
    for j in judged.iter().filter(|j| j.verdict == Verdict::Fail) {
        reasons.push(describe(j));
    }
    let pre = policy.r2_prerequisites.as_ref();
    let unmet = pre
        .map(|p| unmet_prerequisites(p, &judged, &input.answers))
        .unwrap_or_default();
    // Met only when the plan states every prerequisite (an empty list would count as met);
    // the validator refuses such a plan, this keeps a plan built in code to the same rule.
    let stated = pre.is_some_and(|p| {
        !p.sanitized.is_empty() && !p.unlocked.is_empty() && !p.battery.is_empty()
    });
    let prerequisites_met = unmet.is_empty();
    let awardable = prerequisites_met && stated;
    let cosmetic = input.answers.get(&policy.cosmetic_prompt).cloned();
    let disposition = if !input.incomplete.is_empty() {
        reasons.extend(input.incomplete.iter().cloned());
        Disposition::Retest
    } else if decided == Some(RuleDisposition::Recycle) {
        Disposition::Recycle
    } else if decided == Some(RuleDisposition::Parts) || repair.len() >= policy.parts_when_repairs {
        Disposition::Parts
    } else if !repair.is_empty() {
        Disposition::Repair
    } else if !prerequisites_met {
        // No rule decided where it goes, but it is not sellable before the prerequisite is
        // met (a lock to clear, an erasure to verify): back through the line.
        Disposition::Retest
    } else {
        Disposition::Resale
    };
    for u in &unmet {
        reasons.push(format!("R2 prerequisite not met: {u}"));
    }
    let ctia = cosmetic.as_deref().and_then(CtiaCosmetic::from_name);
    let r2_functional = policy
        .r2_functional
        .get(usize::from(functional))
        .copied()
        // A functioning category describes a phone sold or handed on as functioning; one
        // routed to repair, parts or recycling is an R2 controlled stream until retested.
        .filter(|_| awardable && disposition == Disposition::Resale)
        .unwrap_or(R2Functional::Controlled);
    let r2_cosmetic = ctia.and_then(|c| policy.r2_cosmetic.get(&c)).map(|c| {
        match policy.r2_cosmetic_max.get(&r2_functional) {
            Some(max) => (*c).min(*max),
            None => *c,
        }
    });
    let marketplace = match (disposition, functional, awardable) {
        (Disposition::Resale, 0, true) => ctia.and_then(|c| policy.marketplace.get(&c)).copied(),
        _ => None,
    };
    let grade = Grade {
        cosmetic: cosmetic.map(Cow::Owned),
        functional,
        r2_functional: Cow::Borrowed(r2_functional.as_str()),
        r2_cosmetic: r2_cosmetic.map(|c| Cow::Borrowed(c.as_str())),
        marketplace: marketplace.map(|m| Cow::Borrowed(m.as_str())),
        disposition,
        repair,
        reasons: reasons.into_iter().map(Cow::Owned).collect(),
    };
    (judged, grade)
}

/// Whether every prompt listed has one of its listed answers.
fn answered(wanted: &BTreeMap<String, Vec<String>>, answers: &BTreeMap<String, String>) -> bool {
    wanted
        .iter()
        .all(|(prompt, choices)| answers.get(prompt).is_some_and(|a| choices.contains(a)))
}

/// The R2 prerequisites the phone does not meet, each said in words (empty: all met). A
/// battery measurement that was not measured is not met: battery life must be known.
pub fn unmet_prerequisites(
    pre: &Prerequisites,
    judged: &[Judged],
    answers: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let say = |wanted: &BTreeMap<String, Vec<String>>| {
        wanted
            .iter()
            .map(|(prompt, choices)| {
                let got = answers.get(prompt).map_or("no answer", String::as_str);
                format!("{prompt} is {got}, needs {}", choices.join(" or "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !answered(&pre.sanitized, answers) {
        out.push(format!(
            "data sanitization not verified ({})",
            say(&pre.sanitized)
        ));
    }
    if !answered(&pre.unlocked, answers) {
        out.push(format!("locked or encumbered ({})", say(&pre.unlocked)));
    }
    for pattern in &pre.battery {
        let mut seen = judged.iter().filter(|j| matches(pattern, &j.id)).peekable();
        if seen.peek().is_none() {
            out.push(format!("battery life unknown ({pattern} not measured)"));
        } else if seen.any(|j| j.verdict == Verdict::Fail) {
            out.push(format!("not enough battery life ({pattern} failed)"));
        }
    }
    out
}

fn describe(j: &Judged) -> String {
    if j.value.is_nan() {
        return format!("{} has no valid reading", j.id);
    }
    let value = if j.value.is_finite() {
        format!("{}", round(j.value))
    } else {
        "open".into()
    };
    match (j.min, j.max) {
        (Some(lo), _) if j.value < lo => format!("{} = {value} is below {}", j.id, round(lo)),
        (_, Some(hi)) => format!("{} = {value} is above {}", j.id, round(hi)),
        _ => format!("{} = {value} is out of limits", j.id),
    }
}

fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    /// A phone as tests state it: its values by `step.measurement`, judged as the run would.
    #[derive(Clone)]
    struct Case {
        model: String,
        values: BTreeMap<String, f64>,
        answers: BTreeMap<String, String>,
    }

    fn grade(plan: &Plan, c: &Case) -> (Vec<Judged>, Grade<'static>) {
        super::grade(
            plan,
            &Input {
                steps: measured_steps(plan, &c.model, &c.values),
                answers: c.answers.clone(),
                incomplete: Vec::new(),
            },
        )
    }

    /// The answers the R2 prerequisites and the cosmetic grade read: cosmetic A-E by index,
    /// unlocked or locked, erasure verified, failed or never answered.
    fn answer(input: &mut Case, cosmetic: usize, lock: usize, sanitized: Option<usize>) {
        input.answers.insert(
            "cosmetic".into(),
            ["A", "B", "C", "D", "E"][cosmetic].into(),
        );
        input
            .answers
            .insert("lock".into(), ["unlocked", "locked"][lock].into());
        match sanitized {
            Some(s) => {
                input
                    .answers
                    .insert("sanitized".into(), ["verified", "failed"][s].into());
            }
            None => {
                input.answers.remove("sanitized");
            }
        }
    }

    /// Values that pass every limit of the standard plan, and the answers of a like-new phone.
    fn like_new() -> (Plan, Case) {
        let plan = Plan::standard().unwrap_or_else(|e| panic!("{e}"));
        let mut values = BTreeMap::new();
        for (k, v) in [
            ("gauge.state_of_health", 95.0),
            ("gauge.temperature", 298.0),
            ("dcir.resistance", 0.12),
            ("cc.cc1", 0.94),
            ("cc.cc2", 0.94),
            ("charge.current", 1.8),
            ("touch.bad_nodes", 0.0),
            ("backlight.current", 0.06),
        ] {
            values.insert(k.to_string(), v);
        }
        for pin in [
            "vbus", "gnd", "dplus", "dminus", "cc1", "cc2", "sbu1", "sbu2",
        ] {
            values.insert(format!("continuity.{pin}.resistance"), 0.08);
            values.insert(format!("continuity.{pin}.leakage"), 0.0);
        }
        let answers = [
            ("cosmetic", "A"),
            ("pixels", "pass"),
            ("burn_in", "none"),
            ("lock", "unlocked"),
            ("sanitized", "verified"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let input = Case {
            model: "PX7".into(),
            values,
            answers,
        };
        (plan, input)
    }

    #[test]
    fn a_like_new_phone_is_f6_c7_premium() {
        let (plan, input) = like_new();
        let (_, g) = grade(&plan, &input);
        assert_eq!(g.disposition, Disposition::Resale, "{:?}", g.reasons);
        assert_eq!(g.r2_functional, "F6");
        assert_eq!(g.r2_cosmetic.as_deref(), Some("C7"));
        assert_eq!(g.marketplace.as_deref(), Some("Premium"));
    }

    #[test]
    fn a_locked_phone_is_harvested_without_a_functioning_category() {
        let (plan, mut input) = like_new();
        input.answers.insert("lock".into(), "locked".into());
        let (_, g) = grade(&plan, &input);
        assert_eq!(g.disposition, Disposition::Parts);
        assert_eq!(g.r2_functional, "controlled");
        assert_eq!(g.r2_cosmetic.as_deref(), Some("C6"));
        assert_eq!(g.marketplace, None);
        assert!(
            g.reasons.iter().any(|r| r.contains("locked or encumbered")),
            "{:?}",
            g.reasons
        );
    }

    #[test]
    fn a_failed_erasure_is_harvested_without_a_functioning_category() {
        let (plan, mut input) = like_new();
        input.answers.insert("sanitized".into(), "failed".into());
        let (_, g) = grade(&plan, &input);
        assert_eq!(g.disposition, Disposition::Parts);
        assert_eq!(g.r2_functional, "controlled");
        assert_eq!(g.marketplace, None);
    }

    #[test]
    fn an_unanswered_prerequisite_is_never_sold() {
        let (plan, mut input) = like_new();
        input.answers.remove("sanitized");
        let (_, g) = grade(&plan, &input);
        assert_eq!(g.disposition, Disposition::Retest);
        assert_eq!(g.r2_functional, "controlled");
        assert_eq!(g.marketplace, None);
    }

    #[test]
    fn a_collapsed_cell_is_a_failed_battery_and_a_controlled_stream() {
        let (plan, mut input) = like_new();
        input.values.insert("dcir.resistance".into(), f64::INFINITY);
        let (_, g) = grade(&plan, &input);
        assert_eq!(g.disposition, Disposition::Repair);
        assert_eq!(g.repair, vec![Part::Battery]);
        assert_eq!(g.r2_functional, "controlled");
        assert_eq!(g.marketplace, None);
    }

    #[test]
    fn a_phone_going_to_repair_is_a_controlled_stream_with_c6_at_best() {
        // CTIA 2 maps to F3, but a functioning category describes a phone sold as
        // functioning: one routed to repair is a controlled stream until it is retested.
        let (plan, mut input) = like_new();
        input.values.insert("gauge.temperature".into(), 325.0);
        let (_, g) = grade(&plan, &input);
        assert_eq!((g.functional, g.disposition), (2, Disposition::Repair));
        assert_eq!(g.r2_functional, "controlled");
        assert_eq!(g.r2_cosmetic.as_deref(), Some("C6"));
        assert_eq!(g.marketplace, None);
    }

    #[test]
    fn a_fully_functional_phone_going_to_screen_repair_is_a_controlled_stream() {
        let (plan, mut input) = like_new();
        input.answers.insert("cosmetic".into(), "D".into());
        let (_, g) = grade(&plan, &input);
        assert_eq!((g.functional, g.disposition), (0, Disposition::Repair));
        assert_eq!(g.r2_functional, "controlled");
        assert_eq!(g.r2_cosmetic.as_deref(), Some("C3"));
    }

    proptest! {
        /// Whatever is measured and answered, a phone that is locked, whose erasure is not
        /// verified, or whose battery health or DCIR fails never carries a functioning category
        /// or a marketplace grade.
        #[test]
        fn unmet_prerequisites_never_give_a_functioning_category_or_a_marketplace_grade(
            soh in 50.0f64..100.0,
            dcir in prop_oneof![0.05f64..0.6, Just(f64::INFINITY)],
            cosmetic in 0usize..5,
            lock in 0usize..2,
            sanitized in prop_oneof![Just(Some(0usize)), Just(Some(1)), Just(None)],
        ) {
            let (plan, mut input) = like_new();
            input.values.insert("gauge.state_of_health".into(), soh);
            input.values.insert("dcir.resistance".into(), dcir);
            answer(&mut input, cosmetic, lock, sanitized);
            let (_, g) = grade(&plan, &input);
            let met = lock == 0 && sanitized == Some(0) && soh >= 80.0 && dcir <= 0.35;
            if !met {
                prop_assert_eq!(&*g.r2_functional, "controlled");
                prop_assert_eq!(g.marketplace, None);
                prop_assert_ne!(g.disposition, Disposition::Resale);
            } else if g.disposition == Disposition::Resale {
                prop_assert_eq!(&*g.r2_functional, "F6");
            } else {
                prop_assert_eq!(&*g.r2_functional, "controlled");
            }
        }

        /// Whatever is measured and answered, only a phone going to resale carries a
        /// functioning category or a marketplace grade: repair, parts, recycle and retest are
        /// R2 controlled streams.
        #[test]
        fn only_resale_carries_a_functioning_category(
            temperature in 290.0f64..330.0,
            charge in 0.3f64..2.5,
            bad_nodes in prop_oneof![Just(0.0f64), 1.0f64..20.0],
            cosmetic in 0usize..5,
            pixels in 0usize..2,
            lock in 0usize..2,
            sanitized in prop_oneof![Just(Some(0usize)), Just(Some(1)), Just(None)],
        ) {
            let (plan, mut input) = like_new();
            input.values.insert("gauge.temperature".into(), temperature);
            input.values.insert("charge.current".into(), charge);
            input.values.insert("touch.bad_nodes".into(), bad_nodes);
            answer(&mut input, cosmetic, lock, sanitized);
            input.answers.insert("pixels".into(), ["pass", "fail"][pixels].into());
            let (_, g) = grade(&plan, &input);
            if g.disposition != Disposition::Resale {
                prop_assert_eq!(&*g.r2_functional, "controlled");
                prop_assert_eq!(g.marketplace, None);
            }
        }
    }
}
