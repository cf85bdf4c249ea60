//! Which records an export takes: a period, grades, models, stations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::view::View;

/// Grade values `--grade` accepts, besides CTIA cosmetic letters and R2v3 codes.
pub const DISPOSITIONS: [&str; 5] = ["resale", "repair", "parts", "recycle", "retest"];
/// Marketplace grades.
pub const MARKETPLACE: [&str; 4] = ["premium", "excellent", "good", "fair"];

/// A selection of records; empty lists select everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Finished at or after, ms since the Unix epoch.
    pub since_ms: Option<u64>,
    /// Finished before, ms since the Unix epoch.
    pub until_ms: Option<u64>,
    /// Dispositions, marketplace grades, CTIA cosmetic letters or R2v3 codes (lower case).
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
    #[error("{0:?} is not a grade: give a disposition (resale, repair, parts, recycle, retest), a marketplace grade (premium, excellent, good, fair), a CTIA cosmetic grade (A-E) or an R2v3 code (F1-F6, C0-C9)")]
    Grade(String),
}

/// Parses a time: RFC 3339, a date (midnight UTC), or an age before now.
pub fn parse_time(text: &str, now: SystemTime) -> Result<u64, FilterError> {
    let t = text.trim();
    let bad = || FilterError::Time(text.to_string());
    let at = if let Ok(at) = humantime::parse_rfc3339_weak(t) {
        at
    } else if let Ok(at) = humantime::parse_rfc3339_weak(&format!("{t} 00:00:00")) {
        at
    } else {
        let age: Duration = humantime::parse_duration(t).map_err(|_| bad())?;
        now.checked_sub(age).ok_or_else(bad)?
    };
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| bad())?
        .as_millis();
    u64::try_from(ms).map_err(|_| bad())
}

/// Checks and normalises a `--grade` value.
pub fn parse_grade(text: &str) -> Result<String, FilterError> {
    let g = text.trim().to_lowercase();
    let ok = DISPOSITIONS.contains(&g.as_str())
        || MARKETPLACE.contains(&g.as_str())
        || matches!(g.as_str(), "a" | "b" | "c" | "d" | "e")
        || matches!(g.as_bytes(), [b'f', b'1'..=b'6'] | [b'c', b'0'..=b'9']);
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
                Some(g.disposition.as_ref()),
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
        assert!(parse_time("yesterday", now).is_err());
        Ok(())
    }

    #[test]
    fn grades_are_checked_and_lower_cased() {
        for ok in ["Resale", "PREMIUM", "b", "F3", "c0"] {
            assert!(parse_grade(ok).is_ok(), "{ok}");
        }
        for bad in ["sell", "F7", "g", ""] {
            assert!(parse_grade(bad).is_err(), "{bad}");
        }
    }
}
