//! Proof that the records are complete and unchanged: walks the hash chain from the first
//! record to the head, recomputes every hash, and checks both indexes against the records.

use crate::store::entry::{chain_hash, key_seq};
use crate::store::schema::Header;
use crate::store::{hex, Entry, Hash, Reader, StoreError, Stored, GENESIS, SCHEMA};

/// How a `--head` that the chain does not hold is reported.
const HEAD_MISMATCH: &str = "does not match the head given (--head)";

/// Problems kept in full in a report (the rest are counted).
const KEEP: usize = 20;

/// What is wrong with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The record (or the first of a missing run).
    pub seq: u64,
    /// What is wrong.
    pub what: String,
}

/// The result of a verification.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Records read.
    pub records: u64,
    /// The head the store names.
    pub head: Option<Stored>,
    /// The first problems, in chain order.
    pub problems: Vec<Problem>,
    /// All problems found.
    pub problem_count: u64,
}

impl Report {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }

    fn add(&mut self, seq: u64, what: String) {
        self.problem_count += 1;
        if self.problems.len() < KEEP {
            self.problems.push(Problem { seq, what });
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head = super::head_text(self.head);
        if self.ok() {
            return write!(
                f,
                "{} records verified: complete and unchanged; chain head {head}",
                self.records
            );
        }
        let first = &self.problems[0];
        writeln!(
            f,
            "NOT VERIFIED: {} problem(s) in {} records (store head {head})",
            self.problem_count, self.records
        )?;
        writeln!(f, "first bad record: record {} {}", first.seq, first.what)?;
        for p in &self.problems[1..] {
            writeln!(f, "  record {} {}", p.seq, p.what)?;
        }
        if self.problem_count > self.problems.len() as u64 {
            writeln!(
                f,
                "  ... and {} more",
                self.problem_count - self.problems.len() as u64
            )?;
        }
        write!(
            f,
            "keep this data directory unchanged as evidence and compare it with the last export's chain head"
        )?;
        if self
            .problems
            .iter()
            .all(|p| p.what.starts_with(HEAD_MISMATCH))
        {
            write!(
                f,
                "\nif that head came from another station or data directory, the chain here may be intact: check --data"
            )?;
        }
        Ok(())
    }
}

/// Verifies the whole store; with `expect`, also that the chain still holds that head (taken
/// from an earlier export).
pub fn verify(store: &Reader, expect: Option<Stored>) -> Result<Report, StoreError> {
    let mut report = Report {
        head: store.current_head()?,
        ..Report::default()
    };
    // The chain is walked by sequence number up to the highest key: lookups keep memory
    // bounded, where a sled iterator over the records tree keeps the pages it passed (241 MB
    // for 100,000 records, measured). Keys that are not sequence numbers are outside the chain and no export reads them.
    // While a run appends, only the records up to the head taken above are checked.
    let head_seq = report.head.map_or(0, |h| h.seq);
    let top = match store.last_key()? {
        _ if !store.exclusive() => head_seq,
        Some(Some(seq)) => seq,
        Some(None) => {
            report.add(
                0,
                "the records tree holds a key that is not a sequence number".into(),
            );
            head_seq
        }
        None => 0,
    };
    // The hash the next record must name as its previous one (unknown after a gap).
    let mut prev: Option<Hash> = Some(GENESIS);
    let mut last: Option<Stored> = None;
    let mut gap: Option<u64> = None;
    for seq in 1..=top {
        let Some(value) = store.get_raw(seq)? else {
            gap.get_or_insert(seq);
            prev = None;
            continue;
        };
        if let Some(first) = gap.take() {
            let what = if seq - first == 1 {
                format!("is missing (record {} follows {})", seq, first - 1)
            } else {
                format!("to {} are missing ({} records)", seq - 1, seq - first)
            };
            report.add(first, what);
        }
        report.records += 1;
        let entry = match Entry::decode(&value) {
            Ok(e) => e,
            Err(e) => {
                report.add(seq, format!("is unreadable: {e}"));
                prev = None;
                continue;
            }
        };
        if prev.is_some_and(|p| p != entry.prev) {
            report.add(
                seq,
                format!(
                    "does not follow record {}: it names {} as the previous hash, so records before it were changed, removed or reordered",
                    seq - 1,
                    hex(&entry.prev)
                ),
            );
        }
        if chain_hash(&entry.prev, seq, &entry.body) != entry.hash {
            report.add(
                seq,
                "was changed after it was written: its content does not match its hash".into(),
            );
        }
        check_body(store, seq, &entry.body, &mut report)?;
        prev = Some(entry.hash);
        last = Some(Stored {
            seq,
            hash: entry.hash,
        });
    }
    let next = top + 1;
    match (report.head, last) {
        (Some(h), Some(l)) if h.seq > l.seq => report.add(
            l.seq + 1,
            if h.seq == l.seq + 1 {
                "is missing at the end: the store's head names it".to_string()
            } else {
                format!(
                    "to {} are missing at the end: the store's head names record {}",
                    h.seq, h.seq
                )
            },
        ),
        (Some(h), None) => report.add(
            1,
            format!(
                "to {} are missing: the store's head names record {} but no record is left",
                h.seq, h.seq
            ),
        ),
        (Some(h), Some(l)) if l.seq > h.seq => report.add(
            h.seq + 1,
            format!(
                "and later records up to {} are not in the chain: the store's head is record {}",
                l.seq, h.seq
            ),
        ),
        (Some(h), Some(l)) if h != l => report.add(
            l.seq,
            format!("is not the record the store's head names ({h})"),
        ),
        (None, Some(l)) => report.add(l.seq, "follows no head: the store's head is missing".into()),
        _ => {}
    }
    // Every record was looked up in both indexes; equal counts mean nothing else is in them.
    // Index entries of records after `top` are a live run's newer records (or, in a store
    // that is ours alone, entries naming records that do not exist: counted as a mismatch).
    let counted = |keys: &mut dyn Iterator<Item = Result<sled::IVec, StoreError>>| {
        keys.filter(|k| {
            store.exclusive()
                || k.as_ref()
                    .is_ok_and(|k| key_seq(k).is_some_and(|s| s <= top))
        })
        .count()
    };
    let (devices, times) = (
        counted(&mut store.device_index()),
        counted(&mut store.time_index()),
    );
    let records = usize::try_from(report.records).unwrap_or(usize::MAX);
    if devices != records || times != records {
        report.add(
            next,
            format!(
                "the indexes do not match the records: {devices} device and {times} time entries for {records} records"
            ),
        );
    }
    if let Some(want) = expect.filter(|w| w.seq > 0 || w.hash != GENESIS) {
        match store.get(want.seq)? {
            Some(e) if e.hash == want.hash => {}
            Some(e) => report.add(
                want.seq,
                format!(
                    "{HEAD_MISMATCH}: its hash is {}, the head given says {}",
                    hex(&e.hash),
                    hex(&want.hash)
                ),
            ),
            None => report.add(
                want.seq,
                format!("{HEAD_MISMATCH}: it is missing, but the head given names it"),
            ),
        }
    }
    Ok(report)
}

/// Checks a record's body: it reads, its schema is known, and both indexes hold it.
fn check_body(
    store: &Reader,
    seq: u64,
    body: &[u8],
    report: &mut Report,
) -> Result<(), StoreError> {
    let header = match Header::parse(body) {
        Ok(h) => h,
        Err(e) => {
            report.add(seq, format!("is not a record: {e}"));
            return Ok(());
        }
    };
    if header.schema > SCHEMA {
        report.add(
            seq,
            format!(
                "has schema {}, newer than this benchctl knows ({SCHEMA}): verify with a newer benchctl",
                header.schema
            ),
        );
    }
    if !store.has_device_entry(&header.imei, seq)? {
        report.add(
            seq,
            format!("is missing from the device index (IMEI {})", header.imei),
        );
    }
    match header.finished_ms() {
        Ok(ms) if store.has_time_entry(ms, seq)? => {}
        Ok(_) => report.add(seq, "is missing from the time index".into()),
        Err(e) => report.add(seq, format!("cannot be indexed by time: {e}")),
    }
    Ok(())
}

/// Parses `SEQ:HASH` (as exports state their chain head).
pub fn parse_head(text: &str) -> Option<Stored> {
    let (seq, hash) = text.trim().split_once(':')?;
    Some(Stored {
        seq: seq.parse().ok()?,
        hash: crate::store::entry::parse_hex(hash)?,
    })
}
