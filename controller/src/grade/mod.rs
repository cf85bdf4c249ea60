//! Grading: a pure function from a plan, the measured values and the operator's answers to
//! verdicts, a grade (CTIA cosmetic and functional, R2v3 categories, marketplace grade), a
//! disposition and the reasons that decided it. No I/O, no clock, no randomness.

pub mod bin;
mod verdict;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::{matches, Part, Plan};
pub use verdict::{judge, Verdict};

/// What grading looks at.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// Model code the jig identified (selects per-model limits).
    pub model: String,
    /// Measured values by `step.measurement`; an open circuit is `f64::INFINITY`.
    pub values: BTreeMap<String, f64>,
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
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
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
}

/// The outcome.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Grade {
    /// CTIA cosmetic grade A-E (the operator's answer).
    pub cosmetic: Option<String>,
    /// CTIA functional grade 0-9.
    pub functional: u8,
    /// R2v3 functional category.
    pub r2_functional: String,
    /// R2v3 cosmetic category.
    pub r2_cosmetic: Option<String>,
    /// Marketplace grade, only for phones sold as is.
    pub marketplace: Option<String>,
    /// Disposition.
    pub disposition: Disposition,
    /// Parts to repair.
    pub repair: Vec<Part>,
    /// The rules and failed measurements that decided it.
    pub reasons: Vec<String>,
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

/// Judges every measured value that has a limit.
pub fn judge_all(plan: &Plan, input: &Input) -> Vec<Judged> {
    let mut out = Vec::new();
    for step in &plan.steps {
        for (id, &value) in input.values.range(format!("{}.", step.id)..) {
            let Some(name) = id.strip_prefix(&format!("{}.", step.id)) else {
                break;
            };
            if let Some((b, verdict)) = judge_step(step, &input.model, name, value) {
                out.push(Judged {
                    id: id.clone(),
                    value,
                    min: b.min,
                    max: b.max,
                    verdict,
                });
            }
        }
    }
    out
}

/// Grades: verdicts, rules, then the disposition.
pub fn grade(plan: &Plan, input: &Input) -> (Vec<Judged>, Grade) {
    let judged = judge_all(plan, input);
    let policy = &plan.grading;
    let any_fail = judged.iter().any(|j| j.verdict == Verdict::Fail);
    let mut functional = 0u8;
    let mut repair: Vec<Part> = Vec::new();
    let mut recycle = false;
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
            && w.answer.iter().all(|(prompt, choices)| {
                input
                    .answers
                    .get(prompt)
                    .is_some_and(|a| choices.contains(a))
            })
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
        recycle |= rule.recycle;
        reasons.push(rule.name.clone());
    }
    repair.sort();
    for j in judged.iter().filter(|j| j.verdict == Verdict::Fail) {
        reasons.push(describe(j));
    }
    let cosmetic = input.answers.get(&policy.cosmetic_prompt).cloned();
    let disposition = if !input.incomplete.is_empty() {
        reasons.extend(input.incomplete.iter().cloned());
        Disposition::Retest
    } else if recycle {
        Disposition::Recycle
    } else if repair.len() >= policy.parts_when_repairs {
        Disposition::Parts
    } else if !repair.is_empty() {
        Disposition::Repair
    } else {
        Disposition::Resale
    };
    let marketplace = match (disposition, functional) {
        (Disposition::Resale, 0) => cosmetic
            .as_ref()
            .and_then(|c| policy.marketplace.get(c))
            .cloned(),
        _ => None,
    };
    let grade = Grade {
        r2_cosmetic: cosmetic
            .as_ref()
            .and_then(|c| policy.r2_cosmetic.get(c))
            .cloned(),
        cosmetic,
        functional,
        r2_functional: policy
            .r2_functional
            .get(usize::from(functional))
            .cloned()
            .unwrap_or_default(),
        marketplace,
        disposition,
        repair,
        reasons,
    };
    (judged, grade)
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
