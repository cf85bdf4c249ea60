//! The shift's line metrics: units per hour, first-pass yield, grade mix, top failing steps.
//!
//! Pure arithmetic over the graded records the line announced since the UI started (the
//! shift). Definitions:
//! - units per hour: phones graded over the time since the shift started, counted as at
//!   least one minute so the first phone does not read as thousands an hour;
//! - first-pass yield: of the IMEIs graded for the first time this shift, the share whose
//!   first grading was not `retest` and had every step measured (no step failed and the
//!   record `complete`); a phone seen again counts only the first time;
//! - grade mix: graded phones by disposition, and by marketplace grade when there is one;
//! - top failing steps: steps whose status is failed or that have a measurement with the
//!   verdict fail, by count.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use crate::grade::{Disposition, Verdict};
use crate::run::record::{PhoneRecord, StepStatus};

/// What the shift has graded so far.
#[derive(Debug, Clone)]
pub struct Shift {
    /// When the shift (the UI) started.
    pub started: Instant,
    /// Phones graded.
    pub graded: u64,
    seen: HashSet<String>,
    /// IMEIs graded for the first time this shift.
    pub first_graded: u64,
    /// Of those, the ones that passed the first time.
    pub first_pass: u64,
    /// Graded phones by disposition.
    pub dispositions: BTreeMap<Disposition, u64>,
    /// Graded phones by marketplace grade.
    pub marketplace: BTreeMap<String, u64>,
    /// Failing steps by step id.
    pub failing: BTreeMap<String, u64>,
}

impl Shift {
    /// A shift starting at `started`, nothing graded.
    pub fn new(started: Instant) -> Shift {
        Shift {
            started,
            graded: 0,
            seen: HashSet::new(),
            first_graded: 0,
            first_pass: 0,
            dispositions: BTreeMap::new(),
            marketplace: BTreeMap::new(),
            failing: BTreeMap::new(),
        }
    }

    /// Counts a graded phone.
    pub fn record(&mut self, record: &PhoneRecord, disposition: Disposition) {
        self.graded += 1;
        *self.dispositions.entry(disposition).or_default() += 1;
        if let Some(m) = &record.grade.marketplace {
            *self.marketplace.entry(m.to_string()).or_default() += 1;
        }
        for step in &record.steps {
            let failed = step.status == StepStatus::Failed
                || step
                    .measurements
                    .iter()
                    .any(|m| m.verdict == Some(Verdict::Fail));
            if failed {
                *self.failing.entry(step.id.clone()).or_default() += 1;
            }
        }
        if self.seen.insert(record.phone.imei.to_string()) {
            self.first_graded += 1;
            let measured = record.status == "complete"
                && record.steps.iter().all(|s| s.status != StepStatus::Failed);
            if disposition != Disposition::Retest && measured {
                self.first_pass += 1;
            }
        }
    }

    /// Phones graded per hour since the shift started (at least one minute counted).
    pub fn units_per_hour(&self, now: Instant) -> f64 {
        let elapsed = now
            .saturating_duration_since(self.started)
            .max(Duration::from_secs(60));
        self.graded as f64 * 3600.0 / elapsed.as_secs_f64()
    }

    /// First-pass yield, 0-1; `None` before the first phone.
    pub fn first_pass_yield(&self) -> Option<f64> {
        (self.first_graded > 0).then(|| self.first_pass as f64 / self.first_graded as f64)
    }

    /// The `n` steps failing most, most first (ties by step id).
    pub fn top_failing(&self, n: usize) -> Vec<(&str, u64)> {
        let mut steps: Vec<(&str, u64)> =
            self.failing.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        steps.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        steps.truncate(n);
        steps
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::tui::demo::record;

    #[test]
    fn units_per_hour_counts_at_least_a_minute() {
        let t0 = Instant::now();
        let mut s = Shift::new(t0);
        assert_eq!(s.units_per_hour(t0), 0.0);
        s.record(
            &record("1", Disposition::Resale, None, &[]),
            Disposition::Resale,
        );
        assert_eq!(s.units_per_hour(t0 + Duration::from_secs(1)), 60.0);
        s.record(
            &record("2", Disposition::Resale, None, &[]),
            Disposition::Resale,
        );
        assert_eq!(s.units_per_hour(t0 + Duration::from_secs(1800)), 4.0);
    }

    #[test]
    fn first_pass_yield_counts_each_imei_once_at_its_first_grading() {
        let mut s = Shift::new(Instant::now());
        assert_eq!(s.first_pass_yield(), None);
        // Passes at once.
        s.record(
            &record("1", Disposition::Resale, Some("Premium"), &[]),
            Disposition::Resale,
        );
        // Retest first, then passes: not a first pass.
        s.record(
            &record("2", Disposition::Retest, None, &[]),
            Disposition::Retest,
        );
        s.record(
            &record("2", Disposition::Resale, None, &[]),
            Disposition::Resale,
        );
        // A failed step: not every step measured.
        s.record(
            &record("3", Disposition::Repair, None, &["dcir"]),
            Disposition::Repair,
        );
        // Graded repair with every step measured: a first pass (the test passed, the phone did not).
        s.record(
            &record("4", Disposition::Repair, None, &[]),
            Disposition::Repair,
        );
        assert_eq!(s.graded, 5);
        assert_eq!(s.first_graded, 4);
        assert_eq!(s.first_pass, 2);
        assert_eq!(s.first_pass_yield(), Some(0.5));
        assert_eq!(s.dispositions[&Disposition::Resale], 2);
        assert_eq!(s.dispositions[&Disposition::Retest], 1);
        assert_eq!(s.marketplace["Premium"], 1);
    }

    #[test]
    fn top_failing_steps_by_count_then_id() {
        let mut s = Shift::new(Instant::now());
        s.record(
            &record("1", Disposition::Repair, None, &["dcir", "touch"]),
            Disposition::Repair,
        );
        s.record(
            &record("2", Disposition::Repair, None, &["touch"]),
            Disposition::Repair,
        );
        s.record(
            &record("3", Disposition::Repair, None, &["cc"]),
            Disposition::Repair,
        );
        assert_eq!(s.top_failing(2), vec![("touch", 2), ("cc", 1)]);
        assert_eq!(s.top_failing(5).len(), 3);
    }
}
