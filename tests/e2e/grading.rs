//! Grading is a pure, deterministic function, and making any one measurement worse never gives
//! a better grade or a more favourable disposition (property tests on the standard plan).

use std::collections::BTreeMap;

use benchctl::grade::{
    measured_steps, Disposition, Grade, Input, Judged, Marketplace, R2Cosmetic, R2Functional,
};
use benchctl::plan::{matches, Bounds, Catalogue, Plan};
use proptest::prelude::*;

/// Every limited measurement of the plan with its bounds for `model` (`""`: the defaults).
fn limited(plan: &Plan, model: &str) -> Vec<(String, Bounds)> {
    let mut out = Vec::new();
    for step in &plan.steps {
        for (name, _) in step.procedure.measurement_names() {
            if let Some(l) = step.limits.iter().find(|l| matches(&l.pattern, &name)) {
                out.push((format!("{}.{name}", step.id), l.bounds_for(model)));
            }
        }
    }
    out
}

/// A recorded marketplace grade in the vocabulary's order (higher is better; none lowest).
fn marketplace_rank(m: &Option<std::borrow::Cow<'_, str>>) -> Option<Marketplace> {
    m.as_deref().and_then(Marketplace::from_name)
}

/// A recorded R2v3 functional category in the vocabulary's order (higher is better).
fn r2_rank(c: &str) -> Option<R2Functional> {
    R2Functional::from_name(c)
}

/// A value somewhere around the pass band, from a unit fraction.
fn spread(b: &Bounds, f: f64) -> f64 {
    let (lo, hi) = match (b.min, b.max) {
        (Some(lo), Some(hi)) => (lo - (hi - lo), hi + (hi - lo)),
        (Some(lo), None) => (lo * 0.5, lo * 1.5 + 1.0),
        (None, Some(hi)) => (0.0, hi * 2.0 + 1.0),
        (None, None) => (0.0, 1.0),
    };
    lo + (hi - lo) * f
}

/// The same value made worse by `amount` (a positive fraction of the band).
fn worsen(b: &Bounds, v: f64, amount: f64) -> f64 {
    match (b.min, b.max) {
        (Some(lo), Some(hi)) => {
            let mid = (lo + hi) / 2.0;
            let step = (hi - lo) * amount;
            if v >= mid {
                v + step
            } else {
                v - step
            }
        }
        (Some(lo), None) => v - lo.abs().max(1.0) * amount,
        (None, Some(hi)) => v + hi.abs().max(1.0) * amount,
        (None, None) => v,
    }
}

/// A phone as a test states it: values by `step.measurement`, judged as the run judges them
/// when graded.
#[derive(Debug, Clone)]
struct Case {
    model: String,
    values: BTreeMap<String, f64>,
    answers: BTreeMap<String, String>,
    incomplete: Vec<String>,
}

/// Grades a case from its step records, as the run does.
fn grade(plan: &Plan, c: &Case) -> (Vec<Judged>, Grade<'static>) {
    benchctl::grade::grade(
        plan,
        &Input {
            steps: measured_steps(plan, &c.model, &c.values),
            answers: c.answers.clone(),
            incomplete: c.incomplete.clone(),
        },
    )
}

fn input(plan: &Plan, fractions: &[f64], answers: [usize; 5], model: usize) -> Case {
    let mut values = BTreeMap::new();
    for ((id, b), f) in limited(plan, "").iter().zip(fractions.iter().cycle()) {
        values.insert(id.clone(), spread(b, *f));
    }
    let mut ans = BTreeMap::new();
    for (prompt, &i) in plan.prompts.iter().zip(answers.iter()) {
        ans.insert(
            prompt.id.clone(),
            prompt.choices[i % prompt.choices.len()].clone(),
        );
    }
    let models: Vec<&String> = plan.models.keys().collect();
    Case {
        model: models
            .get(model % models.len().max(1))
            .map(|m| m.to_string())
            .unwrap_or_default(),
        values,
        answers: ans,
        incomplete: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn grading_is_deterministic(fr in prop::collection::vec(0.0f64..1.0, 40), a in any::<[usize; 5]>(), m in 0usize..8) {
        let plan = Plan::standard().unwrap();
        let i = input(&plan, &fr, a, m);
        prop_assert_eq!(grade(&plan, &i), grade(&plan, &i.clone()));
    }

    #[test]
    fn a_worse_measurement_never_gives_a_better_outcome(
        fr in prop::collection::vec(0.0f64..1.0, 40),
        a in any::<[usize; 5]>(),
        m in 0usize..8,
        which in any::<prop::sample::Index>(),
        amount in 0.001f64..2.0,
    ) {
        let plan = Plan::standard().unwrap();
        let before = input(&plan, &fr, a, m);
        let lims = limited(&plan, &before.model);
        let (id, bounds) = &lims[which.index(lims.len())];
        let mut after = before.clone();
        let v = before.values[id];
        after.values.insert(id.clone(), worsen(bounds, v, amount));
        let (_, g0) = grade(&plan, &before);
        let (_, g1) = grade(&plan, &after);
        prop_assert!(g1.functional >= g0.functional, "{id}: functional {} -> {}", g0.functional, g1.functional);
        prop_assert!(g1.disposition >= g0.disposition, "{id}: {:?} -> {:?}", g0.disposition, g1.disposition);
        prop_assert!(g0.repair.iter().all(|p| g1.repair.contains(p)), "{id}: repair {:?} -> {:?}", g0.repair, g1.repair);
        prop_assert!(marketplace_rank(&g1.marketplace) <= marketplace_rank(&g0.marketplace), "{id}: {:?} -> {:?}", g0.marketplace, g1.marketplace);
        prop_assert!(r2_rank(&g1.r2_functional) <= r2_rank(&g0.r2_functional), "{id}: {} -> {}", g0.r2_functional, g1.r2_functional);
        let c = |g: &Grade| g.r2_cosmetic.as_deref().and_then(R2Cosmetic::from_name);
        prop_assert!(c(&g1) <= c(&g0), "{id}: {:?} -> {:?}", g0.r2_cosmetic, g1.r2_cosmetic);
    }
}

#[test]
fn an_incomplete_test_is_retested() {
    let plan = Plan::standard().unwrap();
    let mut i = input(&plan, &[0.5], [0; 5], 0);
    i.incomplete.push("step dcir could not be measured".into());
    let (_, g) = grade(&plan, &i);
    assert_eq!(g.disposition, Disposition::Retest);
    assert_eq!(g.marketplace, None);
}

#[test]
fn a_perfect_phone_is_resold_at_its_cosmetic_grade() {
    let plan = Plan::standard().unwrap();
    let mut values = BTreeMap::new();
    for (id, b) in limited(&plan, "") {
        let v = match (b.min, b.max) {
            (Some(lo), Some(hi)) => (lo + hi) / 2.0,
            (Some(lo), None) => lo + b.marginal + 1.0,
            (None, Some(hi)) => (hi - b.marginal).max(0.0) / 2.0,
            (None, None) => 0.0,
        };
        values.insert(id, v);
    }
    let answers = [
        ("cosmetic", "B"),
        ("pixels", "pass"),
        ("burn_in", "none"),
        ("lock", "unlocked"),
        ("sanitized", "verified"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (judged, g) = grade(
        &plan,
        &Case {
            model: "PX7".into(),
            values,
            answers,
            incomplete: Vec::new(),
        },
    );
    assert!(
        judged
            .iter()
            .all(|j| j.verdict == benchctl::grade::Verdict::Pass),
        "{judged:?}"
    );
    assert_eq!(
        (
            g.disposition,
            g.functional,
            g.marketplace.as_deref(),
            &*g.r2_functional
        ),
        (Disposition::Resale, 0, Some("Excellent"), "F6")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever a test engineer's editor leaves in the file, the validator answers with
    /// diagnostics, never a panic.
    #[test]
    fn the_plan_parser_never_panics_on_a_damaged_plan(
        cuts in prop::collection::vec((any::<prop::sample::Index>(), 0usize..40, ".{0,12}"), 1..6),
    ) {
        let mut text = benchctl::plan::STANDARD.to_string();
        for (at, len, insert) in cuts {
            let mut start = at.index(text.len().max(1));
            while !text.is_char_boundary(start) { start -= 1; }
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) { end -= 1; }
            text.replace_range(start..end.max(start), &insert);
        }
        if let Err(e) = Plan::parse(&text, "damaged.toml") {
            let rendered = e.to_string();
            prop_assert!(crate::plans::located(&rendered, "damaged.toml"), "{rendered}");
        }
    }
}
