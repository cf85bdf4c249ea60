//! One device's history: every run of an IMEI, newest first.

use std::fmt::Write as _;

use super::view::View;
use crate::store::policy::short_hash;
use crate::store::{hex, Entry, Reader, StoreError};

/// A run of the device.
#[derive(Debug, Clone)]
pub struct Run {
    /// The plant's station the run was read from (`None`: a station's own store).
    pub station: Option<String>,
    /// Sequence number.
    pub seq: u64,
    /// The stored record.
    pub entry: Entry,
}

/// Every run of `imei`, newest first, each checked against its hash and the stored hash of
/// the record before it ([`Reader::get_checked`]): a record that does not hold stops the
/// history with an error naming it.
pub fn runs(store: &Reader, imei: &str) -> Result<Vec<Run>, StoreError> {
    let mut out = Vec::new();
    for seq in store.device_seqs(imei)?.into_iter().rev() {
        let entry = store.get_checked(seq).map_err(|e| match e {
            StoreError::Broken { dir, seq, what, .. } => StoreError::Broken {
                dir,
                seq,
                what,
                stopped: "the history stopped at it",
            },
            e => e,
        })?;
        let entry = entry.ok_or_else(|| StoreError::Broken {
            dir: store.dir().display().to_string(),
            seq,
            what: format!("is missing, but the device index names it for IMEI {imei}"),
            stopped: "the history stopped at it",
        })?;
        out.push(Run {
            station: None,
            seq,
            entry,
        });
    }
    Ok(out)
}

/// An IMEI as typed or scanned: digits, perhaps grouped with `-` or spaces (`35-693803-564381-7`).
pub fn parse_imei(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    (!digits.is_empty() && digits.len() <= 17 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

/// The runs as text for a person: when, where, under which plan, the grade and its reasons.
pub fn text(imei: &str, runs: &[Run]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "IMEI {imei}: {} run{}, newest first",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );
    for r in runs {
        // In the plant, a record is named by its station and its sequence number there.
        let at = match &r.station {
            Some(s) => format!("{s} #{}", r.seq),
            None => format!("#{}", r.seq),
        };
        let Ok(v) = View::parse(&r.entry.body) else {
            let _ = writeln!(out, "\n{at} (record unreadable: run `benchctl verify`)");
            continue;
        };
        let g = &v.grade;
        let _ = writeln!(
            out,
            "\n{at}  {}  {} {}  station {} {} slot {}  jig {} firmware {}{}",
            v.finished,
            v.phone.model,
            v.phone.serial,
            v.station.as_deref().unwrap_or("?"),
            v.bench.as_deref().unwrap_or("?"),
            v.slot,
            v.jig.serial,
            v.jig.firmware,
            if v.jig.simulated {
                "  SIMULATED jig: not a real phone's test"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "    plan {} {} ({})  operator {}  {}",
            v.plan.id,
            v.plan.version,
            short_hash(&v.plan.hash),
            v.operator,
            v.status
        );
        let mut grade = format!(
            "{}  functional {} ({})",
            g.disposition.as_str().to_uppercase(),
            g.functional,
            g.r2_functional
        );
        if let Some(c) = &g.cosmetic {
            let _ = write!(grade, "  cosmetic {c}");
        }
        if let Some(m) = &g.marketplace {
            let _ = write!(grade, "  marketplace {m}");
        }
        if !g.repair.is_empty() {
            let _ = write!(
                grade,
                "  repair: {}",
                g.repair
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(out, "    {grade}");
        for reason in &g.reasons {
            let _ = writeln!(out, "    - {reason}");
        }
        let _ = writeln!(out, "    record hash {}", hex(&r.entry.hash));
    }
    out
}
