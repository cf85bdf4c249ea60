//! Which records an export takes: a period, grades, models, stations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::view::View;
use crate::grade::{CtiaCosmetic, Disposition, Marketplace, R2Cosmetic, R2Functional};

/// A selection of records; empty lists select everything.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Filter {
    /// Finished at or after, ms since the Unix epoch.
    pub since_ms: Option<u64>,
    /// Finished before, ms since the Unix epoch.
    pub until_ms: Option<u64>,
    /// Dispositions, marketplace grades, CTIA cosmetic letters, R2v3 codes or `controlled`
    /// (lower case).
    pub grades: Vec<String>,
    /// Model codes.
    pub models: Vec<String>,
    /// Stations.
    pub stations: Vec<String>,
}

/// A `--since`/`--until`/`--grade` value that makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// Not a time.
    #[error("{0:?} is not a time: give an RFC 3339 time (2026-11-23T08:00:00Z), a date (2026-11-23, midnight UTC) or an age (36h, 7d)")]
    Time(String),
    /// Not a grade.
    #[error("{0:?} is not a grade: give a disposition (resale, repair, parts, recycle, retest), a marketplace grade (premium, excellent, good, fair), a CTIA cosmetic grade (A-E), an R2v3 code (F1-F6, C0-C9) or controlled (an R2 controlled stream)")]
    Grade(String),
}

/// Parses a time: RFC 3339 (`Z`, an offset such as `+02:00`, or none for UTC), a date
/// (midnight UTC), or an age before now (`90m`, `36h`, `7d`, `2w`).
pub fn parse_time(text: &str, now: SystemTime) -> Result<u64, FilterError> {
    let t = text.trim().to_ascii_uppercase();
    let bad = || FilterError::Time(text.to_string());
    let (local, offset) = split_offset(&t);
    let at = if let Ok(at) = humantime::parse_rfc3339_weak(local) {
        at
    } else if let Ok(at) = humantime::parse_rfc3339_weak(&format!("{local} 00:00:00")) {
        at
    } else {
        let age: Duration =
            humantime::parse_duration(&t.to_ascii_lowercase()).map_err(|_| bad())?;
        now.checked_sub(age).ok_or_else(bad)?
    };
    // A local time at +02:00 is two hours earlier in UTC.
    let at = if offset >= 0 {
        at.checked_sub(Duration::from_secs(offset.unsigned_abs()))
    } else {
        at.checked_add(Duration::from_secs(offset.unsigned_abs()))
    }
    .ok_or_else(bad)?;
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| bad())?
        .as_millis();
    u64::try_from(ms).map_err(|_| bad())
}

/// Splits a trailing UTC offset (`+HH:MM` / `-HH:MM`) off an RFC 3339 time: the rest and the
/// offset in seconds (0 when there is none).
fn split_offset(t: &str) -> (&str, i64) {
    let b = t.as_bytes();
    if b.len() > 16 && b[b.len() - 3] == b':' && matches!(b[b.len() - 6], b'+' | b'-') {
        let (rest, off) = t.split_at(t.len() - 6);
        let hours: Option<i64> = off.get(1..3).and_then(|h| h.parse().ok());
        let minutes: Option<i64> = off.get(4..6).and_then(|m| m.parse().ok());
        if let (Some(h), Some(m)) = (hours, minutes) {
            let secs = h * 3600 + m * 60;
            return (rest, if off.starts_with('-') { -secs } else { secs });
        }
    }
    (t, 0)
}

/// Checks and normalises a `--grade` value.
pub fn parse_grade(text: &str) -> Result<String, FilterError> {
    let g = text.trim().to_lowercase();
    // The grade vocabulary of `grade::vocab`, case-insensitive.
    let ok = Disposition::parse(&g).is_some()
        || Marketplace::parse(&g).is_some()
        || CtiaCosmetic::parse(&g).is_some()
        || R2Functional::parse(&g).is_some()
        || R2Cosmetic::parse(&g).is_some();
    if ok {
        Ok(g)
    } else {
        Err(FilterError::Grade(text.to_string()))
    }
}

impl Filter {
    /// Whether the filter selects by finish time.
    pub fn by_time(&self) -> bool {
        self.since_ms.is_some() || self.until_ms.is_some()
    }

    /// Whether a record passes the grade, model and station filters (the period is applied
    /// through the time index).
    pub fn accepts(&self, v: &View<'_>) -> bool {
        let eq = |list: &[String], value: Option<&str>| {
            list.is_empty()
                || value.is_some_and(|value| list.iter().any(|x| x.eq_ignore_ascii_case(value)))
        };
        let g = &v.grade;
        let grade_ok = self.grades.is_empty()
            || [
                Some(g.disposition.as_str()),
                g.marketplace.as_deref(),
                g.cosmetic.as_deref(),
                Some(g.r2_functional.as_ref()),
                g.r2_cosmetic.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|value| self.grades.iter().any(|x| x.eq_ignore_ascii_case(value)));
        grade_ok
            && eq(&self.models, Some(&v.phone.model))
            && eq(&self.stations, v.station.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_dates_and_ages() -> Result<(), FilterError> {
        let now = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert_eq!(parse_time("1970-01-02", now)?, 86_400_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z", now)?, 1000);
        assert_eq!(parse_time("1970-01-01 00:00:01.5", now)?, 1500);
        assert_eq!(parse_time("1h", now)?, 2_000_000_000_000 - 3_600_000);
        assert_eq!(parse_time("1970-01-01T02:00:01+02:00", now)?, 1000);
        assert_eq!(parse_time("1970-01-01t00:00:01-00:30", now)?, 1_801_000);
        assert_eq!(parse_time("1970-01-01T00:00:01z", now)?, 1000);
        assert!(parse_time("yesterday", now).is_err());
        Ok(())
    }

    #[test]
    fn grades_are_checked_and_lower_cased() {
        for ok in ["Resale", "PREMIUM", "b", "F3", "c0", "controlled", "F6"] {
            assert!(parse_grade(ok).is_ok(), "{ok}");
        }
        for bad in ["sell", "F7", "F0", "C10", "g", ""] {
            assert!(parse_grade(bad).is_err(), "{bad}");
        }
    }
}
