//! What auditors take out of the store: exports (CSV, JSON, JSONL) streamed in constant
//! memory, proof that the records are complete and unchanged ([`verify`]), and one device's
//! history ([`history`]).
//!
//! Every export states the chain head it was taken from (`SEQ:HASH`), so an auditor can later
//! ask the station's `benchctl verify --head SEQ:HASH` whether the chain still holds it.

pub mod columns;
pub mod filter;
pub mod history;
pub mod verify;
pub mod view;

use std::io::Write;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::store::chain;
pub use crate::store::chain::Progress;
use crate::store::{self, Entry, Reader, StoreError, Stored};
pub use filter::Filter;
use view::Outline;

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
    #[error("record {seq} is damaged ({detail}); the export stopped: run `benchctl verify` and keep this store as evidence")]
    Damaged {
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
    let damaged = |detail: String| ExportError::Damaged { seq, detail };
    let body = std::str::from_utf8(&entry.body).map_err(|e| damaged(e.to_string()))?;
    let record: &RawValue = serde_json::from_str(body).map_err(|e| damaged(e.to_string()))?;
    let full = Full {
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

/// Where rows go: whole lines (a CSV row, a JSON record) gathered in a buffer that is written
/// out only at line boundaries, so an export cut short (a SIGKILL, a full disk) ends with a
/// whole line, never half of one. `write` only gathers; `flush` is called at the end of each
/// line and writes the buffer out once it is full; `finish` writes out the rest.
struct Lines<W: Write> {
    out: W,
    buf: Vec<u8>,
}

/// Bytes gathered before they are written out.
const LINES_BUF: usize = 1 << 16;

impl<W: Write> Lines<W> {
    fn new(out: W) -> Self {
        Lines {
            out,
            buf: Vec::with_capacity(LINES_BUF + (16 << 10)),
        }
    }

    /// Writes out everything gathered.
    fn finish(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

impl<W: Write> Write for Lines<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    /// The end of a line: the buffer goes out if it is full.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= LINES_BUF {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
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
    let mut lines = Lines::new(out);
    match format {
        Format::Csv => columns::write_header(&mut lines.buf),
        Format::Json => {
            write!(lines.buf, "{{\"export\":")?;
            serde_json::to_writer(&mut lines.buf, &header(filter, &head_str))
                .map_err(std::io::Error::from)?;
            write!(lines.buf, ",\n\"records\":[")?;
        }
        Format::Jsonl => {}
    }
    lines.flush()?;
    // What a record becomes (`None`: the filters leave it out), made on the threads that read
    // the records; written out here, in order, once its place in the chain is checked.
    let make = |seq: u64, entry: &Entry| -> Result<Option<Vec<u8>>, ExportError> {
        let damaged = |detail: String| ExportError::Damaged { seq, detail };
        let view = Outline::parse(&entry.body).map_err(|e| damaged(e.to_string()))?;
        if view.schema > store::SCHEMA {
            return Err(damaged(format!(
                "it has schema {}, newer than this benchctl knows",
                view.schema
            )));
        }
        if !filter.accepts(&view) {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(1 << 10);
        match format {
            Format::Csv => columns::write_row(&mut out, seq, &entry.hash, &head_str, &view),
            Format::Json => write_full(&mut out, seq, entry, None)?,
            Format::Jsonl => {
                write_full(&mut out, seq, entry, Some(&head_str))?;
                out.push(b'\n');
            }
        }
        Ok(Some(out))
    };
    let mut count = 0u64;
    let mut emit = |made: Result<Option<Vec<u8>>, ExportError>| -> Result<(), ExportError> {
        let Some(bytes) = made? else {
            return Ok(());
        };
        if format == Format::Json {
            lines
                .buf
                .extend_from_slice(if count == 0 { b"\n" } else { b",\n" });
        }
        lines.buf.extend_from_slice(&bytes);
        // The whole line gathered: the lines go out if enough are.
        lines.flush()?;
        count += 1;
        Ok(())
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
    if format == Format::Json {
        write!(lines.buf, "\n],\n\"count\":{count}}}\n")?;
    }
    lines.finish()?;
    Ok(Summary {
        records: count,
        head,
    })
}

/// The header of a JSON export: where it was taken from, when, and the selection.
fn header<'a>(filter: &'a Filter, head: &'a str) -> impl Serialize + 'a {
    #[derive(Serialize)]
    struct Header<'a> {
        chain_head: &'a str,
        taken: String,
        schema: u16,
        since: Option<String>,
        until: Option<String>,
        grades: &'a [String],
        models: &'a [String],
        stations: &'a [String],
    }
    let time = |m: Option<u64>| {
        m.map(|m| {
            humantime::format_rfc3339_millis(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(m),
            )
            .to_string()
        })
    };
    Header {
        chain_head: head,
        taken: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        schema: store::SCHEMA,
        since: time(filter.since_ms),
        until: time(filter.until_ms),
        grades: &filter.grades,
        models: &filter.models,
        stations: &filter.stations,
    }
}

#[cfg(test)]
mod tests;
