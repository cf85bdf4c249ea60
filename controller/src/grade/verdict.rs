//! One value against its bounds.

use serde::{Deserialize, Serialize};

use crate::plan::Bounds;

/// Verdict on one measurement; ordered from best to worst.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Inside the limits, outside the marginal band.
    Pass,
    /// Inside the limits, within the marginal band of one.
    Marginal,
    /// Outside the limits (an open circuit fails any upper limit; NaN fails).
    Fail,
}

/// Judges `value`: below `min` or above `max` fails; within `marginal` inside a limit is marginal.
pub fn judge(b: &Bounds, value: f64) -> Verdict {
    if value.is_nan() {
        return Verdict::Fail;
    }
    if b.min.is_some_and(|lo| value < lo) || b.max.is_some_and(|hi| value > hi) {
        return Verdict::Fail;
    }
    if b.min.is_some_and(|lo| value < lo + b.marginal)
        || b.max.is_some_and(|hi| value > hi - b.marginal)
    {
        return Verdict::Marginal;
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(min: Option<f64>, max: Option<f64>, marginal: f64, value: f64, expected: Verdict) {
        assert_eq!(
            judge(&Bounds { min, max, marginal }, value),
            expected,
            "{min:?}..{max:?} ±{marginal} at {value}"
        );
    }

    #[test]
    fn verdicts() {
        check(Some(80.0), None, 5.0, 79.9, Verdict::Fail);
        check(Some(80.0), None, 5.0, 80.0, Verdict::Marginal);
        check(Some(80.0), None, 5.0, 85.0, Verdict::Pass);
        check(None, Some(0.35), 0.1, 0.3, Verdict::Marginal);
        check(None, Some(0.35), 0.1, 0.36, Verdict::Fail);
        check(None, Some(0.5), 0.0, f64::INFINITY, Verdict::Fail);
        check(Some(0.8), Some(1.1), 0.0, 0.94, Verdict::Pass);
        check(Some(0.8), Some(1.1), 0.0, f64::NAN, Verdict::Fail);
    }
}
