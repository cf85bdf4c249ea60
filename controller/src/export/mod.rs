//! What auditors take out of the store: exports (CSV, JSON, JSONL) streamed in constant
//! memory, proof that the records are complete and unchanged ([`verify`]), and one device's
//! history ([`history`]).
//!
//! Every export states the chain head it was taken from (`SEQ:HASH`), so an auditor can later
//! ask the station's `benchctl verify --head SEQ:HASH` whether the chain still holds it.

pub mod columns;
pub mod filter;
pub mod history;
pub mod plant;
pub mod rows;
pub mod verify;
pub mod view;

use std::io::Write;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::store::chain;
pub use crate::store::chain::Progress;
use crate::store::{self, Entry, Reader, StoreError, Stored};
pub use filter::Filter;
use rows::{At, Make, Rows, Taken};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Format {
    /// One row per run, stable columns ([`columns::COLUMNS`]).
    Csv,
    /// One JSON document: the export's header, then every full record.
    Json,
    /// One full record per line.
    Jsonl,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record does not read.
    #[error("record {seq}{} is damaged ({detail}); the export stopped: run `benchctl verify{}` and keep {} as evidence", station.as_deref().map(|s| format!(" of station {s}")).unwrap_or_default(), if station.is_some() { " --plant URL" } else { "" }, if station.is_some() { "the database" } else { "this store" })]
    Damaged {
        /// The plant's station the record was read from (`None`: a station's own store).
        station: Option<String>,
        /// Sequence number.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// The output could not be written.
    #[error("cannot write the export: {0}")]
    Write(std::io::Error),
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        ExportError::Write(e)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Records written.
    pub records: u64,
    /// The chain head it was taken from (`None`: the store is empty).
    pub head: Option<Stored>,
}

/// A full record as JSON and JSONL carry it.
#[derive(Serialize)]
struct Full<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    station: Option<&'a str>,
    seq: u64,
    prev: String,
    hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    chain_head: Option<&'a str>,
    record: &'a RawValue,
}

/// Writes one full record as JSON: `{"seq", "prev", "hash", ["chain_head",] "record"}`, the
/// record being its stored bytes verbatim (so its hash can be recomputed from the export).
pub fn write_full(
    out: &mut (impl Write + ?Sized),
    seq: u64,
    entry: &Entry,
    chain_head: Option<&str>,
) -> Result<(), ExportError> {
    write_full_at(out, seq, entry, chain_head, None)
}

/// [`write_full`], naming first the plant's station the record was read from, if any.
pub fn write_full_at(
    out: &mut (impl Write + ?Sized),
    seq: u64,
    entry: &Entry,
    chain_head: Option<&str>,
    station: Option<&str>,
) -> Result<(), ExportError> {
    let damaged = |detail: String| ExportError::Damaged {
        station: station.map(str::to_string),
        seq,
        detail,
    };
    let body = std::str::from_utf8(&entry.body).map_err(|e| damaged(e.to_string()))?;
    let record: &RawValue = serde_json::from_str(body).map_err(|e| damaged(e.to_string()))?;
    let full = Full {
        station,
        seq,
        prev: store::hex(&entry.prev),
        hash: store::hex(&entry.hash),
        chain_head,
        record,
    };
    serde_json::to_writer(out, &full).map_err(|e| ExportError::Write(e.into()))
}

/// `SEQ:HASH` of a head, or `0:` and zeros for an empty store.
pub fn head_text(head: Option<Stored>) -> String {
    match head {
        Some(h) => h.to_string(),
        None => format!("0:{}", store::hex(&store::GENESIS)),
    }
}

/// Writes the selected records to `out`, one at a time.
pub fn export<W: Write>(
    store: &Reader,
    filter: &Filter,
    format: Format,
    out: W,
) -> Result<Summary, ExportError> {
    export_with(store, filter, format, out, &Progress::default())
}

/// [`export`], counting the records read in `progress`. Every record is checked as it is read
/// ([`chain`]): the export stops at the first one whose hash or link does not hold.
pub fn export_with<W: Write>(
    store: &Reader,
    filter: &Filter,
    format: Format,
    out: W,
    progress: &Progress,
) -> Result<Summary, ExportError> {
    let head = store.current_head()?;
    let head_str = head_text(head);
    let head_seq = head.map_or(0, |h| h.seq);
    let broken = |seq: u64, what: String| StoreError::Broken {
        dir: store.dir().display().to_string(),
        seq,
        what,
        stopped: "the export stopped before it",
    };
    // The head must name a record that holds, or the export would state a head that is not
    // the chain's.
    if let Some(h) = head {
        match store.get_raw(h.seq)? {
            Some(raw) if chain::stored_hash(&raw) == Some(h.hash) => {}
            Some(_) => {
                return Err(broken(
                    h.seq,
                    format!("is not the record the store's head names ({h})"),
                )
                .into())
            }
            None => {
                return Err(broken(
                    h.seq,
                    "is missing at the end: the store's head names it".into(),
                )
                .into())
            }
        }
    }
    let mut rows = Rows::start(out, format, filter, Taken::Chain(&head_str))?;
    // What a record becomes (`None`: the filters leave it out), made on the threads that read
    // the records; written out here, in order, once its place in the chain is checked.
    let maker = Make { format, filter };
    let at = At {
        head: &head_str,
        station: None,
    };
    let make = |seq: u64, entry: &Entry| maker.line(seq, entry, at);
    let mut emit = |made: Result<Option<Vec<u8>>, ExportError>| -> Result<(), ExportError> {
        match made? {
            Some(line) => rows.put(&line),
            None => Ok(()),
        }
    };
    if filter.by_time() {
        // By finish time: records out of chain order, each checked against the stored hash
        // of the one before it. Records after the head (a run appending) are not served.
        let from = filter.since_ms.unwrap_or(0);
        let to = filter.until_ms.unwrap_or(u64::MAX);
        for seq in store.time_seqs(from, to) {
            let seq = seq?;
            if seq > head_seq {
                continue;
            }
            let entry = store.get_checked(seq).map_err(|e| match e {
                StoreError::Broken { seq, what, .. } => broken(seq, what),
                e => e,
            })?;
            let entry = entry
                .ok_or_else(|| broken(seq, "is missing, but the time index names it".into()))?;
            emit(make(seq, &entry))?;
            progress.add(1);
        }
    } else {
        // By sequence number: the chain order, each record checked against the one before,
        // its row made by the threads that read it.
        // A record is written only once the next one is seen to follow it (the last one: once
        // the head was seen to name it, above), so a record rewritten with its own hash
        // recomputed is never shown: the export stops before it.
        progress.set_total(head_seq);
        let mut held = None;
        chain::walk_map(store, head_seq, progress, make, |item, made| {
            let seq = item.seq;
            item.sound().map_err(|(seq, what)| broken(seq, what))?;
            let made = made.ok_or_else(|| ExportError::Damaged {
                station: None,
                seq,
                detail: "it does not read".into(),
            })?;
            match held.replace(made) {
                Some(before) => emit(before),
                None => Ok(()),
            }
        })?;
        if let Some(last) = held {
            emit(last)?;
        }
    }
    let count = rows.finish()?;
    Ok(Summary {
        records: count,
        head,
    })
}

#[cfg(test)]
mod tests;
