//! Plant-wide reads: the same exports, history and verification as a station's own, over every
//! station's records in the plant's PostgreSQL database (`benchline.records`, kept by
//! [`crate::plant`]).
//!
//! Every record is checked as it is read, as a station checks its own: its hash recomputed
//! from `prev`, its sequence number and its body ([`crate::store::entry::chain_hash`]), and its link to the
//! station's record before it; a record that does not hold stops the read with an error naming
//! its station and sequence number, and is never written. Everything is read in one
//! `REPEATABLE READ` transaction, so the heads an export states are the heads of the records
//! it read, and streamed ([`tokio_postgres::Client::query_raw`] is flow-controlled: rows are
//! read from the socket only as fast as they are taken), so memory stays flat whatever the
//! plant holds.
//!
//! The functions here are blocking: they drive the database client on `rt`, a multi-thread
//! tokio runtime (the one the client's connection task runs on), and must not be called from
//! inside it.

pub mod history;
pub mod verify;

use std::future::Future;
use std::io::Write;
use std::sync::mpsc;

use futures::TryStreamExt;
use tokio::runtime::Handle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use super::rows::{At, Make, Rows, Taken};
use super::{head_text, ExportError, Filter, Format, Progress};
use crate::plant::{PlantError, REQUEST_TIMEOUT};
use crate::store::chain::problems;
use crate::store::{hex, Entry, Hash, Stored, GENESIS};

/// Why a plant-wide read stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The database failed or refused the read.
    #[error("the plant database failed during the read: {0}; check the connection, and that this login may read benchline.records (an auditor's role, or the station's own rows)")]
    Db(#[from] tokio_postgres::Error),
    /// The database did not answer a query, or sent no row, within the plant client's
    /// request deadline ([`REQUEST_TIMEOUT`]).
    #[error("{0}; the read stopped there: run it again once the plant answers")]
    Plant(#[from] PlantError),
    /// A record in the database does not hold.
    #[error("record {seq} of station {station} in the plant {what}; {stopped}: run `benchctl verify --plant URL` and keep the database unchanged as evidence")]
    Broken {
        /// The station.
        station: String,
        /// Sequence number.
        seq: u64,
        /// What is wrong, in the words of a verify report.
        what: String,
        /// What the read did ("the export stopped before it").
        stopped: &'static str,
    },
    /// `--station` names a station the plant does not know.
    #[error(
        "the plant has no station {0:?}: `benchctl verify --plant URL` lists the stations it holds"
    )]
    NoStation(String),
    /// The export's output failed, or a record does not read as a record.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The thread reading the database is gone (it panicked).
    #[error("the thread reading the plant database stopped unexpectedly")]
    Reader,
}

/// A station as the plant holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Station {
    /// The station id.
    pub id: String,
    /// The plant's head of the station's chain (`None`: nothing received yet).
    pub head: Option<Stored>,
    /// Why the plant refuses the station's records (a fork), if it does.
    pub refusal: Option<String>,
}

impl Station {
    /// The head as exports state it: `SEQ:HASH`.
    pub fn head_text(&self) -> String {
        head_text(self.head)
    }

    fn head_seq(&self) -> u64 {
        self.head.map_or(0, |h| h.seq)
    }
}

/// What a plant export wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Records written.
    pub records: u64,
    /// The stations read, each with the head its records were read up to.
    pub stations: Vec<Station>,
}

/// Records handed from the thread reading the database at a time.
const BATCH: usize = 256;
/// Batches read ahead of the thread checking and writing them (bounds memory: a batch holds
/// up to 256 records of about 8 KB of JSON).
const AHEAD: usize = 4;

/// Waits for one answer from the database for at most [`REQUEST_TIMEOUT`] (a dead plant
/// otherwise holds a read until TCP gives up, hours later): past it, a
/// [`PlantError::Timeout`] naming `what`.
pub(crate) async fn within<T>(
    what: &str,
    request: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, ReadError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ReadError::Plant(PlantError::Timeout {
            what: what.to_string(),
            secs: REQUEST_TIMEOUT.as_secs(),
        })),
    }
}

/// Starts the read-only snapshot every plant read works in.
pub(crate) fn begin(rt: &Handle, client: &Client) -> Result<(), ReadError> {
    rt.block_on(within(
        "the start of the read (BEGIN)",
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
    ))
}

/// Ends the snapshot (nothing was written: a rollback).
pub(crate) fn end(rt: &Handle, client: &Client) {
    // A failed connection has no transaction left to end; a plant that does not answer ends
    // it when the connection drops.
    let _ = rt.block_on(within(
        "the end of the read (ROLLBACK)",
        client.batch_execute("ROLLBACK"),
    ));
}

/// The stations whose records this login may read: every station for an auditor (or the
/// owner), only its own for a station's login (row-level security hides the others' records).
const STATIONS: &str = "SELECT s.id, s.head_seq, s.head_hash, s.refusal, s.refused_at IS NOT NULL \
    FROM benchline.stations s \
    WHERE NOT pg_has_role(current_user, 'benchline_station', 'MEMBER') \
       OR pg_has_role(current_user, 'benchline_auditor', 'MEMBER') \
       OR EXISTS (SELECT 1 FROM benchline.station_roles m \
                  WHERE m.role = current_user AND m.station = s.id) \
    ORDER BY s.id";

/// The stations the plant holds (those named in `pick`, if any) whose records this login may
/// read, in id order.
pub fn stations(rt: &Handle, client: &Client, pick: &[String]) -> Result<Vec<Station>, ReadError> {
    let rows = rt.block_on(within("the list of stations", client.query(STATIONS, &[])))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0)?;
        if !pick.is_empty() && !pick.contains(&id) {
            continue;
        }
        let seq: i64 = row.try_get(1)?;
        let hash: &[u8] = row.try_get(2)?;
        let seq = u64::try_from(seq).unwrap_or(0);
        let head = match (seq, Hash::try_from(hash)) {
            (0, _) => None,
            (seq, Ok(hash)) => Some(Stored { seq, hash }),
            (seq, Err(_)) => {
                return Err(ReadError::Broken {
                    station: id,
                    seq,
                    what: format!(
                        "is named as the station's head with a hash of {} bytes, not 32",
                        hash.len()
                    ),
                    stopped: "the read stopped",
                })
            }
        };
        let refused: bool = row.try_get(4)?;
        let refusal = refused.then(|| {
            row.try_get::<_, Option<String>>(3)
                .ok()
                .flatten()
                .unwrap_or_else(|| "refused".into())
        });
        out.push(Station { id, head, refusal });
    }
    if let Some(missing) = pick.iter().find(|p| !out.iter().any(|s| s.id == **p)) {
        return Err(ReadError::NoStation(missing.clone()));
    }
    Ok(out)
}

/// Runs `sql` and hands its rows to `each`, in order, in batches, on this thread, while
/// another thread reads the next ones from the database. `what` names the read in errors.
///
/// The query, and each wait for its next row, has [`REQUEST_TIMEOUT`]: an idle deadline, not
/// a cap on the whole read (a long read that keeps receiving rows goes on).
pub(crate) fn stream(
    rt: &Handle,
    client: &Client,
    what: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    mut each: impl FnMut(Vec<Row>) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let (tx, rx) = mpsc::sync_channel::<Result<Vec<Row>, ReadError>>(AHEAD);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            rt.block_on(async {
                let query = format!("the query for {what}");
                let next = format!("the next row of {what}");
                let request = client.query_raw(sql, params.iter().copied());
                let rows = match within(&query, request).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                futures::pin_mut!(rows);
                let mut batch = Vec::with_capacity(BATCH);
                loop {
                    match within(&next, rows.try_next()).await {
                        Ok(Some(row)) => {
                            batch.push(row);
                            if batch.len() == BATCH
                                && tx
                                    .send(Ok(std::mem::replace(
                                        &mut batch,
                                        Vec::with_capacity(BATCH),
                                    )))
                                    .is_err()
                            {
                                // The consumer stopped: the rest is not wanted.
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                if !batch.is_empty() {
                    let _ = tx.send(Ok(batch));
                }
            });
        });
        let mut result = Ok(());
        for batch in rx.iter() {
            result = batch.and_then(&mut each);
            if result.is_err() {
                break;
            }
        }
        // Dropping the receiver stops the reader at its next batch.
        drop(rx);
        let joined = reader.join();
        result.and(joined.map_err(|_| ReadError::Reader))
    })
}

/// A record as a row holds it: `seq, prev, hash, body` from column `first` on.
pub(crate) fn record(station: &str, row: &Row, first: usize) -> Result<(u64, Entry), ReadError> {
    let seq: i64 = row.try_get(first)?;
    let seq = u64::try_from(seq).unwrap_or(0);
    let prev: &[u8] = row.try_get(first + 1)?;
    let hash: &[u8] = row.try_get(first + 2)?;
    let body: &[u8] = row.try_get(first + 3)?;
    let bad = |what: String| ReadError::Broken {
        station: station.to_string(),
        seq,
        what,
        stopped: "the read stopped at it",
    };
    Ok((
        seq,
        Entry {
            prev: Hash::try_from(prev).map_err(|_| {
                bad(format!(
                    "has a previous hash of {} bytes, not 32",
                    prev.len()
                ))
            })?,
            hash: Hash::try_from(hash)
                .map_err(|_| bad(format!("has a hash of {} bytes, not 32", hash.len())))?,
            body: body.to_vec(),
        },
    ))
}

/// An optional hash column (a joined neighbour's).
pub(crate) fn neighbour(row: &Row, i: usize) -> Result<Option<Hash>, ReadError> {
    let h: Option<&[u8]> = row.try_get(i)?;
    Ok(h.and_then(|h| Hash::try_from(h).ok()))
}

/// Checks a record read on its own (by time, by device), as [`crate::store::Reader::get_checked`]
/// checks one in a station's store: its hash, its link to the plant's record before it
/// (`before`: that record's hash), the link of the plant's record after it to it (`after`: that
/// record's `prev`), or, for the station's last record, that the station's head names it.
pub(crate) fn check_alone(
    seq: u64,
    entry: &Entry,
    before: Option<Hash>,
    after: Option<Hash>,
    head: Option<Stored>,
) -> Result<(), String> {
    let prev = if seq <= 1 {
        GENESIS
    } else {
        before.ok_or_else(|| format!("follows record {}, which is missing", seq - 1))?
    };
    if let Some(what) = problems(seq, Some(&prev), entry).into_iter().next() {
        return Err(what);
    }
    let head_seq = head.map_or(0, |h| h.seq);
    match after {
        _ if seq > head_seq => Err(format!(
            "is past the station's head ({}) in the plant",
            head_text(head)
        )),
        Some(next) if next != entry.hash => Err(format!(
            "is not the record that record {} follows: record {} names {} as the previous hash",
            seq + 1,
            seq + 1,
            hex(&next)
        )),
        Some(_) => Ok(()),
        None if seq < head_seq => Err(format!(
            "is followed by nothing, but the station's head in the plant is {}: record {} is missing",
            head_text(head),
            seq + 1
        )),
        None => match head {
            Some(h) if h.hash != entry.hash => Err(format!(
                "is not the record the station's head names ({h})"
            )),
            _ => Ok(()),
        },
    }
}

/// The check of one station's records read in sequence order: each one's hash recomputed and
/// its link to the one before.
pub(crate) struct Link {
    next: u64,
    prev: Hash,
}

impl Link {
    pub(crate) fn new() -> Link {
        Link {
            next: 1,
            prev: GENESIS,
        }
    }

    /// Checks the next record: what is wrong with it, if anything (a gap is named at the first
    /// missing record).
    pub(crate) fn check(&mut self, seq: u64, entry: &Entry) -> Result<(), (u64, String)> {
        if seq != self.next {
            return Err(if seq > self.next {
                (
                    self.next,
                    format!(
                        "is missing: the plant holds record {seq} after record {}",
                        self.next - 1
                    ),
                )
            } else {
                (seq, "appears twice".into())
            });
        }
        if let Some(what) = problems(seq, Some(&self.prev), entry).into_iter().next() {
            return Err((seq, what));
        }
        self.next = seq + 1;
        self.prev = entry.hash;
        Ok(())
    }

    /// Checks that the records read end at the station's head: the last record read is the one
    /// the head names.
    pub(crate) fn end(&self, head: Option<Stored>) -> Result<(), (u64, String)> {
        let last = self.next - 1;
        match head {
            None if last == 0 => Ok(()),
            None => Err((
                1,
                "is held, but the station has no head in the plant".into(),
            )),
            Some(h) if last < h.seq => Err((
                last + 1,
                format!(
                    "is missing at the end: the station's head in the plant names record {}",
                    h.seq
                ),
            )),
            Some(h) if last > h.seq => Err((
                h.seq + 1,
                format!("is past the station's head ({h}) in the plant"),
            )),
            Some(h) if h.hash != self.prev => Err((
                h.seq,
                format!("is not the record the station's head names ({h})"),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// The records of one station in sequence order.
const BY_SEQ: &str = "SELECT seq, prev, hash, body FROM benchline.records \
    WHERE station = $1 ORDER BY seq";

/// The records of one station that finished in a period (ms since the Unix epoch, `NULL`:
/// open), in sequence order, each with the hash of the record before it and the `prev` of the
/// record after it.
const BY_TIME: &str = "SELECT r.seq, r.prev, r.hash, r.body, b.hash, a.prev \
    FROM benchline.records r \
    LEFT JOIN benchline.records b ON b.station = r.station AND b.seq = r.seq - 1 \
    LEFT JOIN benchline.records a ON a.station = r.station AND a.seq = r.seq + 1 \
    WHERE r.station = $1 \
      AND ($2::float8 IS NULL OR r.finished >= to_timestamp($2::float8 / 1000)) \
      AND ($3::float8 IS NULL OR r.finished < to_timestamp($3::float8 / 1000)) \
    ORDER BY r.seq";

/// Writes the selected records of every station (those in `filter.stations`, if any) to `out`
/// in (station, sequence number) order, in the local export's formats and columns: each row's
/// `chain_head` is its station's head in the plant, and a JSON export's header lists every
/// station's head (`station_heads`). Every record is checked as it is read: a record that does
/// not hold stops the export before it is written.
pub fn export<W: Write>(
    rt: &Handle,
    client: &Client,
    filter: &Filter,
    format: Format,
    out: W,
    progress: &Progress,
) -> Result<Summary, ReadError> {
    begin(rt, client)?;
    let result = export_in(rt, client, filter, format, out, progress);
    end(rt, client);
    result
}

fn export_in<W: Write>(
    rt: &Handle,
    client: &Client,
    filter: &Filter,
    format: Format,
    out: W,
    progress: &Progress,
) -> Result<Summary, ReadError> {
    let stations = stations(rt, client, &filter.stations)?;
    progress.set_total(stations.iter().map(Station::head_seq).sum());
    let heads: Vec<(String, String)> = stations
        .iter()
        .map(|s| (s.id.clone(), s.head_text()))
        .collect();
    let mut rows = Rows::start(out, format, filter, Taken::Plant(&heads))?;
    // The stations were picked by the plant's station id; the body's `station` is not asked
    // again (records of schema 1 have none).
    let body_filter = Filter {
        stations: Vec::new(),
        ..filter.clone()
    };
    let make = Make {
        format,
        filter: &body_filter,
    };
    let since = filter.since_ms.map(|ms| ms as f64);
    let until = filter.until_ms.map(|ms| ms as f64);
    for (station, (_, head_str)) in stations.iter().zip(&heads) {
        let id = station.id.as_str();
        let at = At {
            head: head_str,
            station: Some(id),
        };
        let broken = |seq: u64, what: String| ReadError::Broken {
            station: id.to_string(),
            seq,
            what,
            stopped: "the export stopped before it",
        };
        if filter.by_time() {
            let of = format!("station {id}'s records in the period");
            stream(rt, client, &of, BY_TIME, &[&id, &since, &until], |batch| {
                for row in batch {
                    let (seq, entry) = record(id, &row, 0)?;
                    let (before, after) = (neighbour(&row, 4)?, neighbour(&row, 5)?);
                    check_alone(seq, &entry, before, after, station.head)
                        .map_err(|what| broken(seq, what))?;
                    if let Some(line) = make.line(seq, &entry, at)? {
                        rows.put(&line)?;
                    }
                    progress.add(1);
                }
                Ok(())
            })?;
        } else {
            // A record is written only once the next one is seen to follow it (the last one:
            // once the station's head is seen to name it), so a record rewritten with its own
            // hash recomputed is never shown: the export stops before it.
            let mut link = Link::new();
            let mut held: Option<Vec<u8>> = None;
            let what = format!("station {id}'s records");
            stream(rt, client, &what, BY_SEQ, &[&id], |batch| {
                for row in batch {
                    let (seq, entry) = record(id, &row, 0)?;
                    link.check(seq, &entry)
                        .map_err(|(seq, what)| broken(seq, what))?;
                    if let Some(before) = held.take() {
                        rows.put(&before)?;
                    }
                    held = make.line(seq, &entry, at)?;
                    progress.add(1);
                }
                Ok(())
            })?;
            link.end(station.head)
                .map_err(|(seq, what)| broken(seq, what))?;
            if let Some(last) = held {
                rows.put(&last)?;
            }
        }
    }
    let records = rows.finish()?;
    Ok(Summary { records, stations })
}
