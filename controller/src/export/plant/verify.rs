//! Proof that the plant holds every station's records complete and unchanged: each station's
//! chain recomputed in the database (every hash from its `prev`, sequence number and body,
//! every link, the end at the station's head), the stations the plant refused as forked with
//! both heads, and, given a station's data directory, that the station still holds what the
//! plant holds of it and how far the plant is behind.

use std::fmt;

use tokio::runtime::Handle;
use tokio_postgres::Client;

use super::{begin, end, record, stations, stream, within, Link, ReadError, Station, BY_SEQ};
use crate::export::verify::Problem;
use crate::export::{head_text, view::View};
use crate::store::chain::stored_hash;
use crate::store::{hex, Hash, Reader, StoreError, Stored};

/// Problems kept in full per station (the rest are counted).
const KEEP: usize = 20;

/// A record a station sent that contradicts what the plant holds (`benchline.forks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fork {
    /// The record's sequence number.
    pub seq: u64,
    /// The plant's hash of that record (`None`: the plant holds no such record, the station's
    /// record named another previous hash).
    pub plant_hash: Option<Hash>,
    /// The hash the station sent.
    pub station_hash: Option<Hash>,
    /// When the plant found it.
    pub found_at: String,
}

/// One station's chain in the plant.
#[derive(Debug, Clone)]
pub struct StationReport {
    /// The station and its head in the plant.
    pub station: Station,
    /// Records read.
    pub records: u64,
    /// The first problems, in chain order.
    pub problems: Vec<Problem>,
    /// All problems found.
    pub problem_count: u64,
    /// Forks the plant recorded for the station.
    pub forks: Vec<Fork>,
}

impl StationReport {
    fn add(&mut self, seq: u64, what: String) {
        self.problem_count += 1;
        if self.problems.len() < KEEP {
            self.problems.push(Problem { seq, what });
        }
    }

    /// True when the chain holds and the plant accepts the station.
    pub fn ok(&self) -> bool {
        self.problem_count == 0 && self.station.refusal.is_none() && self.forks.is_empty()
    }
}

/// A station's data directory compared with what the plant holds of it.
#[derive(Debug, Clone)]
pub struct LocalReport {
    /// The data directory.
    pub dir: String,
    /// The station its records name.
    pub station: String,
    /// The plant's records of the station compared.
    pub compared: u64,
    /// The first records the plant holds that the store does not hold the same.
    pub problems: Vec<Problem>,
    /// All of them.
    pub problem_count: u64,
    /// The plant's head of the station.
    pub plant_head: Option<Stored>,
    /// The store's head.
    pub local_head: Option<Stored>,
}

impl LocalReport {
    /// Records the store holds that the plant does not hold yet.
    pub fn behind(&self) -> u64 {
        let local = self.local_head.map_or(0, |h| h.seq);
        let plant = self.plant_head.map_or(0, |h| h.seq);
        local.saturating_sub(plant)
    }

    fn add(&mut self, seq: u64, what: String) {
        self.problem_count += 1;
        if self.problems.len() < KEEP {
            self.problems.push(Problem { seq, what });
        }
    }
}

/// The result of a plant verification.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every station, in id order.
    pub stations: Vec<StationReport>,
    /// The data directory compared, if one was given.
    pub local: Option<LocalReport>,
}

impl Report {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.stations.iter().all(StationReport::ok)
            && self.local.as_ref().is_none_or(|l| l.problem_count == 0)
    }

    /// Records read in all.
    pub fn records(&self) -> u64 {
        self.stations.iter().map(|s| s.records).sum()
    }
}

/// Verifies every station's chain in the plant; with `local` (a station's store), also that
/// the store holds the same (seq, hash) for every record the plant holds of its station.
pub fn verify(rt: &Handle, client: &Client, local: Option<&Reader>) -> Result<Report, ReadError> {
    begin(rt, client)?;
    let result = verify_in(rt, client, local);
    end(rt, client);
    result
}

fn verify_in(rt: &Handle, client: &Client, local: Option<&Reader>) -> Result<Report, ReadError> {
    let mut report = Report::default();
    // A station's login may not read the forks (the refusal in `stations` still says it).
    let may_read_forks: bool = rt
        .block_on(within(
            "the check of this login's access to the forks",
            client.query_one(
                "SELECT has_table_privilege('benchline.forks', 'SELECT')",
                &[],
            ),
        ))?
        .try_get(0)?;
    let forks = if may_read_forks {
        rt.block_on(within(
            "the list of forks",
            client.query(
                "SELECT station, seq, plant_hash, station_hash, found_at::text \
                 FROM benchline.forks ORDER BY station, found_at, seq",
                &[],
            ),
        ))?
    } else {
        Vec::new()
    };
    for station in stations(rt, client, &[])? {
        let id = station.id.clone();
        let mut s = StationReport {
            station,
            records: 0,
            problems: Vec::new(),
            problem_count: 0,
            forks: Vec::new(),
        };
        for f in &forks {
            if f.try_get::<_, &str>(0)? != id {
                continue;
            }
            let hash = |i: usize| -> Result<Option<Hash>, ReadError> {
                let h: Option<&[u8]> = f.try_get(i)?;
                Ok(h.and_then(|h| Hash::try_from(h).ok()))
            };
            s.forks.push(Fork {
                seq: u64::try_from(f.try_get::<_, i64>(1)?).unwrap_or(0),
                plant_hash: hash(2)?,
                station_hash: hash(3)?,
                found_at: f.try_get::<_, Option<String>>(4)?.unwrap_or_default(),
            });
        }
        let mut link = Link::new();
        let mut broken = false;
        let what = format!("station {id}'s records");
        stream(rt, client, &what, BY_SEQ, &[&id], |batch| {
            for row in batch {
                s.records += 1;
                if broken {
                    continue;
                }
                let (seq, entry) = match record(&id, &row, 0) {
                    Ok(read) => read,
                    Err(ReadError::Broken { seq, what, .. }) => {
                        s.add(seq, what);
                        broken = true;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if let Err((seq, what)) = link.check(seq, &entry) {
                    // Past the first break, links are no longer known: the rest is counted.
                    s.add(seq, what);
                    broken = true;
                }
            }
            Ok(())
        })?;
        if !broken {
            if let Err((seq, what)) = link.end(s.station.head) {
                s.add(seq, what);
            }
        }
        report.stations.push(s);
    }
    if let Some(store) = local {
        report.local = Some(compare(rt, client, store, &report.stations)?);
    }
    Ok(report)
}

/// Compares a station's store with what the plant holds of that station.
fn compare(
    rt: &Handle,
    client: &Client,
    store: &Reader,
    stations: &[StationReport],
) -> Result<LocalReport, ReadError> {
    let dir = store.dir().display().to_string();
    let local_head = store.current_head().map_err(store_error)?;
    let station = local_station(store, local_head)?;
    let plant_head = stations
        .iter()
        .find(|s| s.station.id == station)
        .and_then(|s| s.station.head);
    let mut out = LocalReport {
        dir,
        station: station.clone(),
        compared: 0,
        problems: Vec::new(),
        problem_count: 0,
        plant_head,
        local_head,
    };
    let mut failed: Option<StoreError> = None;
    let what = format!("station {station}'s hashes");
    stream(
        rt,
        client,
        &what,
        "SELECT seq, hash FROM benchline.records WHERE station = $1 ORDER BY seq",
        &[&station],
        |batch| {
            for row in batch {
                let seq = u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0);
                let plant: &[u8] = row.try_get(1)?;
                out.compared += 1;
                match store.get_raw(seq) {
                    Ok(Some(raw)) => match stored_hash(&raw) {
                        Some(h) if h[..] == *plant => {}
                        Some(h) => out.add(
                            seq,
                            format!(
                                "differs: the plant holds hash {}, the store holds {}",
                                hex_of(plant),
                                hex(&h)
                            ),
                        ),
                        None => out.add(seq, "is unreadable in the store".into()),
                    },
                    Ok(None) => out.add(
                        seq,
                        format!(
                            "is missing from the store: the plant holds it (hash {})",
                            hex_of(plant)
                        ),
                    ),
                    Err(e) => {
                        failed = Some(e);
                        return Err(ReadError::Reader);
                    }
                }
            }
            Ok(())
        },
    )
    .map_err(|e| match (e, failed.take()) {
        (ReadError::Reader, Some(store)) => store_error(store),
        (e, _) => e,
    })?;
    Ok(out)
}

/// A store failure in a plant read.
fn store_error(e: StoreError) -> ReadError {
    ReadError::Export(e.into())
}

fn hex_of(bytes: &[u8]) -> String {
    Hash::try_from(bytes).map_or_else(|_| format!("of {} bytes", bytes.len()), |h| hex(&h))
}

/// The station whose records a store holds: the one its head record names.
fn local_station(store: &Reader, head: Option<Stored>) -> Result<String, ReadError> {
    let dir = store.dir().display().to_string();
    let Some(head) = head else {
        return Err(ReadError::Export(
            StoreError::Broken {
                dir,
                seq: 0,
                what: "is absent: the store holds no record, so it names no station".into(),
                stopped: "nothing to compare with the plant",
            }
            .into(),
        ));
    };
    let entry = store
        .get_checked(head.seq)
        .map_err(store_error)?
        .ok_or_else(|| {
            store_error(StoreError::Broken {
                dir: dir.clone(),
                seq: head.seq,
                what: "is missing at the end: the store's head names it".into(),
                stopped: "nothing was compared with the plant",
            })
        })?;
    let view = View::parse(&entry.body).map_err(|e| {
        store_error(StoreError::Broken {
            dir: dir.clone(),
            seq: head.seq,
            what: format!("is not a record: {e}"),
            stopped: "nothing was compared with the plant",
        })
    })?;
    view.station.map(|s| s.into_owned()).ok_or_else(|| {
        store_error(StoreError::Broken {
            dir,
            seq: head.seq,
            what: "names no station (a record of schema 1): the store cannot be matched with a plant station".into(),
            stopped: "nothing was compared with the plant",
        })
    })
}

fn short(hash: Option<Hash>) -> String {
    hash.map_or_else(|| "none".into(), |h| hex(&h))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bad = self.stations.iter().filter(|s| !s.ok()).count();
        if bad == 0 {
            writeln!(
                f,
                "plant: {} station(s), {} records verified: complete and unchanged",
                self.stations.len(),
                self.records()
            )?;
        } else {
            writeln!(
                f,
                "plant NOT VERIFIED: {bad} of {} station(s) with problems, {} records read",
                self.stations.len(),
                self.records()
            )?;
        }
        for s in &self.stations {
            let id = &s.station.id;
            let head = s.station.head_text();
            if s.problem_count == 0 {
                writeln!(f, "  {id}: {} records, head {head}", s.records)?;
            } else {
                writeln!(
                    f,
                    "  {id}: NOT VERIFIED: {} problem(s) in {} records (plant head {head})",
                    s.problem_count, s.records
                )?;
                for p in &s.problems {
                    writeln!(f, "    record {} of station {id} {}", p.seq, p.what)?;
                }
                if s.problem_count > s.problems.len() as u64 {
                    writeln!(
                        f,
                        "    ... and {} more",
                        s.problem_count - s.problems.len() as u64
                    )?;
                }
            }
            if let Some(why) = &s.station.refusal {
                writeln!(f, "  {id}: REFUSED as forked: {why}")?;
            }
            for k in &s.forks {
                writeln!(
                    f,
                    "    fork at record {}: the plant holds {}:{} (plant head {head}), the station sent {}:{} (found {})",
                    k.seq,
                    k.seq,
                    short(k.plant_hash),
                    k.seq,
                    short(k.station_hash),
                    k.found_at
                )?;
            }
        }
        if let Some(l) = &self.local {
            if l.problem_count == 0 {
                writeln!(
                    f,
                    "{}: holds the {} record(s) the plant holds of station {}; store head {}, plant head {}; the plant is {} record(s) behind",
                    l.dir,
                    l.compared,
                    l.station,
                    head_text(l.local_head),
                    head_text(l.plant_head),
                    l.behind()
                )?;
            } else {
                writeln!(
                    f,
                    "{}: NOT THE SAME as the plant: {} of the {} record(s) the plant holds of station {} (store head {}, plant head {})",
                    l.dir,
                    l.problem_count,
                    l.compared,
                    l.station,
                    head_text(l.local_head),
                    head_text(l.plant_head)
                )?;
                for p in &l.problems {
                    writeln!(
                        f,
                        "    record {} of station {} {}",
                        p.seq, l.station, p.what
                    )?;
                }
                if l.problem_count > l.problems.len() as u64 {
                    writeln!(
                        f,
                        "    ... and {} more",
                        l.problem_count - l.problems.len() as u64
                    )?;
                }
                writeln!(
                    f,
                    "the station no longer holds what the plant holds: keep both unchanged as evidence"
                )?;
            }
        }
        if !self.ok() {
            write!(f, "keep the database unchanged as evidence")?;
            if self.stations.iter().any(|s| s.station.refusal.is_some()) {
                write!(
                    f,
                    "; a refused station's store was rewritten after the plant received it: find out why (benchctl verify --data on the station) before it pushes again"
                )?;
            }
        }
        Ok(())
    }
}
