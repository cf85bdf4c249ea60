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

use crate::store::{self, Entry, Reader, StoreError, Stored};
pub use filter::Filter;
use view::View;

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

/// Where rows go: a CSV writer, or plain JSON text.
enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Json(W),
}

/// Writes the selected records to `out`, one at a time.
pub fn export<W: Write>(
    store: &Reader,
    filter: &Filter,
    format: Format,
    out: W,
) -> Result<Summary, ExportError> {
    let head = store.current_head()?;
    let head_str = head_text(head);
    let out = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut sink = match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(columns::COLUMNS.iter().map(|(name, _)| name))
                .map_err(csv_error)?;
            Sink::Csv(Box::new(w))
        }
        Format::Json => {
            let mut out = out;
            write!(out, "{{\"export\":")?;
            serde_json::to_writer(&mut out, &header(filter, &head_str))
                .map_err(std::io::Error::from)?;
            write!(out, ",\n\"records\":[")?;
            Sink::Json(out)
        }
        Format::Jsonl => Sink::Json(out),
    };
    let mut count = 0u64;
    let mut emit = |seq: u64, entry: &Entry| -> Result<(), ExportError> {
        let damaged = |detail: String| ExportError::Damaged { seq, detail };
        let view = View::parse(&entry.body).map_err(|e| damaged(e.to_string()))?;
        if view.schema > store::SCHEMA {
            return Err(damaged(format!(
                "it has schema {}, newer than this benchctl knows",
                view.schema
            )));
        }
        if !filter.accepts(&view) {
            return Ok(());
        }
        match &mut sink {
            Sink::Csv(w) => w
                .write_record(columns::row(
                    seq,
                    &store::hex(&entry.hash),
                    &head_str,
                    &view,
                ))
                .map_err(csv_error)?,
            Sink::Json(out) => {
                if format == Format::Json {
                    out.write_all(if count == 0 { b"\n" } else { b",\n" })?;
                }
                let head = (format == Format::Jsonl).then_some(head_str.as_str());
                write_full(&mut *out, seq, entry, head)?;
                if format == Format::Jsonl {
                    out.write_all(b"\n")?;
                }
            }
        }
        count += 1;
        Ok(())
    };
    if filter.by_time() {
        let from = filter.since_ms.unwrap_or(0);
        let to = filter.until_ms.unwrap_or(u64::MAX);
        for seq in store.time_seqs(from, to) {
            let seq = seq?;
            let entry = store.get(seq)?.ok_or_else(|| ExportError::Damaged {
                seq,
                detail: "the time index names it but the record is missing".into(),
            })?;
            emit(seq, &entry)?;
        }
    } else {
        // By sequence number: the chain order, each record looked up on its own.
        for seq in 1..=head.map_or(0, |h| h.seq) {
            let entry = store.get(seq)?.ok_or_else(|| ExportError::Damaged {
                seq,
                detail: "it is missing from the chain".into(),
            })?;
            emit(seq, &entry)?;
        }
    }
    match sink {
        Sink::Csv(mut w) => w.flush()?,
        Sink::Json(mut out) => {
            if format == Format::Json {
                write!(out, "\n],\n\"count\":{count}}}\n")?;
            }
            out.flush()?;
        }
    }
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

fn csv_error(e: csv::Error) -> ExportError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ExportError::Write(io),
        other => ExportError::Write(std::io::Error::other(format!("{other:?}"))),
    }
}
