//! Which records an export takes: a period, grades, models, stations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::view::Outline;
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
    /// An RFC 3339 time whose UTC offset is beyond ±23:59.
    #[error("{0:?} has the UTC offset {1}, which is not one: RFC 3339 offsets go from -23:59 to +23:59 (hours 00-23, minutes 00-59), such as +02:00 or Z for UTC")]
    Offset(String, String),
    /// `--since` is not before `--until`.
    #[error("--since {since} is not before --until {until}: no run can have finished in that period; give a --since earlier than --until (--since is inclusive, --until exclusive)")]
    Period {
        /// `--since` as given.
        since: String,
        /// `--until` as given.
        until: String,
    },
    /// Not a grade.
    #[error("{0:?} is not a grade: give a disposition (resale, repair, parts, recycle, retest), a marketplace grade (premium, excellent, good, fair), a CTIA cosmetic grade (A-E), an R2v3 code (F1-F6, C0-C9) or controlled (an R2 controlled stream)")]
    Grade(String),
}

/// Parses a time: RFC 3339 (`Z`, an offset such as `+02:00`, or none for UTC), a date
/// (midnight UTC), or an age before now (`90m`, `36h`, `7d`, `2w`).
pub fn parse_time(text: &str, now: SystemTime) -> Result<u64, FilterError> {
    let t = text.trim().to_ascii_uppercase();
    let bad = || FilterError::Time(shorten(text));
    let (local, offset) =
        split_offset(&t).map_err(|off| FilterError::Offset(shorten(text), off))?;
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
/// offset in seconds (0 when there is none); an offset beyond ±23:59 is an error (the offset).
fn split_offset(t: &str) -> Result<(&str, i64), String> {
    let b = t.as_bytes();
    if b.len() > 16 && b[b.len() - 3] == b':' && matches!(b[b.len() - 6], b'+' | b'-') {
        let (rest, off) = t.split_at(t.len() - 6);
        let digits = |r: std::ops::Range<usize>| {
            off.get(r)
                .filter(|d| d.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|d| d.parse::<i64>().ok())
        };
        if let (Some(h), Some(m)) = (digits(1..3), digits(4..6)) {
            if h > 23 || m > 59 {
                return Err(off.to_string());
            }
            let secs = h * 3600 + m * 60;
            return Ok((rest, if off.starts_with('-') { -secs } else { secs }));
        }
    }
    Ok((t, 0))
}

/// A value as shown in a message: at most 64 characters, then how long it was.
fn shorten(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
    }
}

/// Checks a period: `--since` (`since`, as given, and in ms) must come before `--until`.
pub fn check_period(
    since: Option<(&str, u64)>,
    until: Option<(&str, u64)>,
) -> Result<(), FilterError> {
    match (since, until) {
        (Some((s, s_ms)), Some((u, u_ms))) if s_ms >= u_ms => Err(FilterError::Period {
            since: shorten(s),
            until: shorten(u),
        }),
        _ => Ok(()),
    }
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
        Err(FilterError::Grade(shorten(text)))
    }
}

impl Filter {
    /// Whether the filter selects by finish time.
    pub fn by_time(&self) -> bool {
        self.since_ms.is_some() || self.until_ms.is_some()
    }

    /// Whether a record passes the grade, model and station filters (the period is applied
    /// through the time index).
    pub fn accepts(&self, v: &Outline<'_>) -> bool {
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
        assert_eq!(parse_time("1970-01-02T00:00:00+23:59", now)?, 60_000);
        assert_eq!(parse_time("1970-01-01T23:59:00-23:59", now)?, 172_680_000);
        for bad in [
            "2026-11-23T08:00:00+99:00",
            "2026-11-23T08:00:00+24:00",
            "2026-11-23T08:00:00-23:60",
            "2026-11-23T08:00:00+-1:00",
        ] {
            let e = parse_time(bad, now).err().map(|e| e.to_string());
            assert!(
                e.as_deref()
                    .is_some_and(|e| e.contains("-23:59 to +23:59") || e.contains("is not a time")),
                "{bad}: {e:?}"
            );
        }
        assert!(matches!(
            parse_time("2026-11-23T08:00:00+99:00", now),
            Err(FilterError::Offset(..))
        ));
        Ok(())
    }

    #[test]
    fn a_period_must_not_end_before_it_starts() {
        assert!(check_period(Some(("a", 1)), Some(("b", 2))).is_ok());
        assert!(check_period(Some(("a", 1)), None).is_ok());
        assert!(check_period(None, Some(("b", 2))).is_ok());
        for (s, u) in [(2, 1), (2, 2)] {
            let e = check_period(Some(("a", s)), Some(("b", u)))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("--since a is not before --until b"), "{e}");
        }
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(1 << 20);
        let e = parse_grade(&long)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.len() < 1000, "{}", e.len());
        assert!(e.contains("… (1048576 bytes)"), "{e}");
        let e = parse_time(&long, UNIX_EPOCH)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.len() < 1000, "{}", e.len());
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
