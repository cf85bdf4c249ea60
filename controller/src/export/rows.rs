//! The export writer, whatever the records come from: the seam between a record source (the
//! station's chain, [`super::export_with`]; the plant's database, [`super::plant::export`]) and
//! the CSV / JSON / JSONL formats. A source checks each record as it reads it, has [`Make`]
//! turn it into its output line (on any thread: making is the costly part) and hands the lines
//! to [`Rows`] in its order; [`Rows`] writes the header, the lines and the trailer. There is
//! one copy of the columns and of the framing, for every source.

use std::io::Write;

use serde::Serialize;

use super::view::Outline;
use super::{columns, write_full_at, ExportError, Filter, Format};
use crate::store::{self, Entry};

/// Where an export was taken from, as its header states it.
#[derive(Debug, Clone, Copy)]
pub enum Taken<'a> {
    /// One station's chain, at this head (`SEQ:HASH`).
    Chain(&'a str),
    /// The plant: each station and the head (`SEQ:HASH`) its records were read up to.
    Plant(&'a [(String, String)]),
}

/// Where a record sits: its station's head (`SEQ:HASH`, what the CSV's `chain_head` column and
/// JSONL's `chain_head` state) and, for a plant export, the station it was read from.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    /// The head of the chain the record was read from.
    pub head: &'a str,
    /// The plant's station (`None`: a station's own export).
    pub station: Option<&'a str>,
}

/// What a record becomes in an export: its line, or nothing when the filters leave it out.
/// Cheap to copy and shared between threads.
#[derive(Debug, Clone, Copy)]
pub struct Make<'a> {
    /// The format.
    pub format: Format,
    /// The filters a record's body must pass (the period is the source's to apply).
    pub filter: &'a Filter,
}

impl Make<'_> {
    /// The output of one record (`None`: the grade, model and station filters leave it out).
    /// Only records already checked, or to be written only once checked, come here.
    pub fn line(
        &self,
        seq: u64,
        entry: &Entry,
        at: At<'_>,
    ) -> Result<Option<Vec<u8>>, ExportError> {
        let damaged = |detail: String| ExportError::Damaged {
            station: at.station.map(str::to_string),
            seq,
            detail,
        };
        let view = Outline::parse(&entry.body).map_err(|e| damaged(e.to_string()))?;
        if view.schema > store::SCHEMA {
            return Err(damaged(format!(
                "it has schema {}, newer than this benchctl knows",
                view.schema
            )));
        }
        if !self.filter.accepts(&view) {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(1 << 10);
        match self.format {
            Format::Csv => columns::write_row(&mut out, seq, &entry.hash, at.head, &view),
            Format::Json => write_full_at(&mut out, seq, entry, None, at.station)?,
            Format::Jsonl => {
                write_full_at(&mut out, seq, entry, Some(at.head), at.station)?;
                out.push(b'\n');
            }
        }
        Ok(Some(out))
    }
}

/// The output of an export: the header, then each record's line as the source hands it over,
/// then the trailer. Lines are gathered and written out only at line boundaries, so an export
/// cut short (a SIGKILL, a full disk) ends with a whole line, never half of one.
pub struct Rows<W: Write> {
    out: W,
    buf: Vec<u8>,
    format: Format,
    count: u64,
}

/// Bytes gathered before they are written out.
const LINES_BUF: usize = 1 << 16;

impl<W: Write> Rows<W> {
    /// Writes the header: the CSV's column names, or the JSON document's opening with where
    /// the export was taken from and the selection.
    pub fn start(
        out: W,
        format: Format,
        filter: &Filter,
        taken: Taken<'_>,
    ) -> Result<Rows<W>, ExportError> {
        let mut rows = Rows {
            out,
            buf: Vec::with_capacity(LINES_BUF + (16 << 10)),
            format,
            count: 0,
        };
        match format {
            Format::Csv => columns::write_header(&mut rows.buf),
            Format::Json => {
                rows.buf.extend_from_slice(b"{\"export\":");
                serde_json::to_writer(&mut rows.buf, &header(filter, taken))
                    .map_err(std::io::Error::from)?;
                rows.buf.extend_from_slice(b",\n\"records\":[");
            }
            Format::Jsonl => {}
        }
        rows.flush()?;
        Ok(rows)
    }

    /// Writes one record's line, as [`Make::line`] made it.
    pub fn put(&mut self, line: &[u8]) -> Result<(), ExportError> {
        if self.format == Format::Json {
            self.buf
                .extend_from_slice(if self.count == 0 { b"\n" } else { b",\n" });
        }
        self.buf.extend_from_slice(line);
        self.count += 1;
        // The whole line gathered: the lines go out if enough are.
        self.flush()?;
        Ok(())
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes the trailer and everything gathered; returns the records written.
    pub fn finish(mut self) -> Result<u64, ExportError> {
        if self.format == Format::Json {
            write!(self.buf, "\n],\n\"count\":{}}}\n", self.count)?;
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()?;
        Ok(self.count)
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

/// The header of a JSON export: where it was taken from, when, and the selection.
fn header<'a>(filter: &'a Filter, taken: Taken<'a>) -> impl Serialize + 'a {
    #[derive(Serialize)]
    struct Header<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        chain_head: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        station_heads: Option<std::collections::BTreeMap<&'a str, &'a str>>,
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
    let (chain_head, station_heads) = match taken {
        Taken::Chain(head) => (Some(head), None),
        Taken::Plant(heads) => (
            None,
            Some(
                heads
                    .iter()
                    .map(|(s, h)| (s.as_str(), h.as_str()))
                    .collect(),
            ),
        ),
    };
    Header {
        chain_head,
        station_heads,
        taken: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        schema: store::SCHEMA,
        since: time(filter.since_ms),
        until: time(filter.until_ms),
        grades: &filter.grades,
        models: &filter.models,
        stations: &filter.stations,
    }
}
