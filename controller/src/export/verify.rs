//! Proof that the records are complete and unchanged: walks the hash chain from the first
//! record to the head ([`chain::walk`]: the one check every read makes), recomputes every hash,
//! and checks both indexes against the records.

use crate::store::chain::{self, Progress};
use crate::store::entry::key_seq;
use crate::store::schema::Indexed;
use crate::store::{hex, Reader, StoreError, Stored, GENESIS, SCHEMA};

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
    verify_with(store, expect, &Progress::default())
}

/// [`verify`], counting the records done in `progress`. A store found complete and unchanged
/// has its head recorded as verified ([`chain::META_VERIFIED`]).
pub fn verify_with(
    store: &Reader,
    expect: Option<Stored>,
    progress: &Progress,
) -> Result<Report, StoreError> {
    let mut report = Report {
        head: store.current_head()?,
        ..Report::default()
    };
    // The chain is walked in key order, up to the highest record (keys that are not sequence
    // numbers are outside the chain and no export reads them). While a run appends, only the
    // records up to the head taken above are checked.
    let head_seq = report.head.map_or(0, |h| h.seq);
    let top = match store.last_key()? {
        _ if !store.exclusive() => head_seq,
        Some(Some(_)) => store.last_seq()?,
        Some(None) => {
            report.add(
                0,
                "the records tree holds a key that is not a sequence number".into(),
            );
            store.last_seq()?
        }
        None => 0,
    };
    progress.set_total(top);
    let mut last: Option<Stored> = None;
    // Each body is read on the threads that read the records; what it says is checked against
    // the indexes here, in chain order, after the record's place in the chain (sled's memory
    // stays flatter when the index lookups are made from one thread).
    let read_body = |_: u64, entry: &crate::store::Entry| Body::read(&entry.body);
    chain::walk_map(store, top, progress, read_body, |item, body| {
        if !item.missing {
            report.records += 1;
        }
        for what in item.problems {
            report.add(item.seq, what);
        }
        if let Some(body) = body {
            check_body(store, item.seq, body, &mut report)?;
        }
        if let Some(entry) = item.entry {
            last = Some(Stored {
                seq: item.seq,
                hash: entry.hash,
            });
        }
        Ok::<_, StoreError>(())
    })?;
    let next = top + 1;
    if let Some((seq, what)) = chain::end_problem(report.head, last, top) {
        report.add(seq, what);
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
        match store.get_raw(want.seq)? {
            Some(raw) if chain::stored_hash(&raw) == Some(want.hash) => {}
            Some(raw) => report.add(
                want.seq,
                format!(
                    "{HEAD_MISMATCH}: its hash is {}, the head given says {}",
                    chain::stored_hash(&raw).map_or_else(|| "unreadable".into(), |h| hex(&h)),
                    hex(&want.hash)
                ),
            ),
            None => report.add(
                want.seq,
                format!("{HEAD_MISMATCH}: it is missing, but the head given names it"),
            ),
        }
    }
    if let Some((seq, what)) = chain::verified_problem(store)? {
        report.add(seq, what);
    }
    if report.ok() {
        store.set_verified(report.head)?;
    }
    Ok(report)
}

/// What [`check_body`] needs of a record's body, read from it.
enum Body {
    /// Its schema, IMEI and finish time (ms, or why it has none).
    Record(u16, String, Result<u64, String>),
    /// It is not a record: why.
    Not(String),
}

impl Body {
    fn read(body: &[u8]) -> Body {
        match Indexed::parse(body) {
            Ok(h) => Body::Record(h.schema, h.phone.imei.to_string(), h.finished_ms()),
            Err(e) => Body::Not(e.to_string()),
        }
    }
}

/// Checks a record's body: it reads, its schema is known, and both indexes hold it.
fn check_body(store: &Reader, seq: u64, body: Body, report: &mut Report) -> Result<(), StoreError> {
    let (schema, imei, finished) = match body {
        Body::Record(schema, imei, finished) => (schema, imei, finished),
        Body::Not(e) => {
            report.add(seq, format!("is not a record: {e}"));
            return Ok(());
        }
    };
    if schema > SCHEMA {
        report.add(
            seq,
            format!(
                "has schema {schema}, newer than this benchctl knows ({SCHEMA}): verify with a newer benchctl"
            ),
        );
    }
    if !store.has_device_entry(&imei, seq)? {
        report.add(
            seq,
            format!("is missing from the device index (IMEI {imei})"),
        );
    }
    match finished {
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
