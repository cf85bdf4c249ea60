//! The store's side of replication to the plant database: which station the store belongs to,
//! and the outbox, the records the plant has not confirmed yet.
//!
//! Both live in the `meta` tree, outside the hash chain:
//! - `station` → the station id (UTF-8): set by the first run that writes
//!   ([`Store::claim_station`]); a run of another station on the same data directory is
//!   refused, so one store is one station's chain.
//! - `plant.watermark` → the sequence number (u64, big endian) and hash of the last record the
//!   plant confirmed holding, then the identity of that plant (UTF-8: its database system
//!   identifier and database name, as the plant client states them). A watermark of another
//!   plant counts as none: a new plant starts from record 1.
//!
//! The outbox is every record after the watermark: nothing is copied, [`Reader::outbox`] reads
//! them from the `records` tree in sequence order, each checked against the one before it, in
//! batches, up to the head it finds when it starts (so it may run while a line appends).
//! Losing a watermark update (a crash before sled writes it) only pushes some records again,
//! which the plant skips as already held.

use super::chain::{problems, stored_hash};
use super::{hex, Entry, Hash, Reader, Store, StoreError, GENESIS};

/// Key of the station id in the `meta` tree.
pub const META_STATION: &[u8] = b"station";

/// Key of the plant's watermark in the `meta` tree.
pub const META_WATERMARK: &[u8] = b"plant.watermark";

/// Most records read into one batch by default (what one push sends).
pub const BATCH: usize = 500;

/// Most body bytes in one batch: a batch stops before it grows past this (it always holds at
/// least one record).
pub const BATCH_BYTES: usize = 16 << 20;

/// The last record a plant confirmed holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: Hash,
    /// The plant it refers to (database system identifier and database name).
    pub plant: String,
}

impl Watermark {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(40 + self.plant.len());
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.hash);
        v.extend_from_slice(self.plant.as_bytes());
        v
    }

    fn decode(v: &[u8]) -> Option<Watermark> {
        let seq = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
        let hash = v.get(8..40)?.try_into().ok()?;
        let plant = std::str::from_utf8(v.get(40..)?).ok()?.to_string();
        Some(Watermark { seq, hash, plant })
    }
}

impl std::fmt::Display for Watermark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} on {}", self.seq, hex(&self.hash), self.plant)
    }
}

impl Reader {
    /// The station this store belongs to (`None`: no run has written to it since stores
    /// learnt their station).
    pub fn station(&self) -> Result<Option<String>, StoreError> {
        let v = self
            .meta
            .get(META_STATION)
            .map_err(self.db_error("reading its station"))?;
        v.map(|v| {
            String::from_utf8(v.to_vec()).map_err(|_| StoreError::Db {
                dir: self.dir.display().to_string(),
                what: "reading its station",
                detail: "the station id is not UTF-8".into(),
            })
        })
        .transpose()
    }

    /// The plant's watermark as stored, whichever plant it names.
    pub fn watermark(&self) -> Result<Option<Watermark>, StoreError> {
        let v = self
            .meta
            .get(META_WATERMARK)
            .map_err(self.db_error("reading the plant's watermark"))?;
        v.map(|v| {
            Watermark::decode(&v).ok_or_else(|| StoreError::Db {
                dir: self.dir.display().to_string(),
                what: "reading the plant's watermark",
                detail: "the watermark is not a sequence number, a hash and a plant".into(),
            })
        })
        .transpose()
    }

    /// Where the outbox for `plant` starts: the sequence number of the last record that plant
    /// confirmed, when the watermark names it and this store still holds that record with
    /// that hash; 0 (everything) otherwise.
    pub fn outbox_start(&self, plant: &str) -> Result<u64, StoreError> {
        let Some(w) = self.watermark()? else {
            return Ok(0);
        };
        if w.plant != plant || w.seq == 0 {
            return Ok(0);
        }
        let held = self.get_raw(w.seq)?.and_then(|raw| stored_hash(&raw));
        if held == Some(w.hash) {
            Ok(w.seq)
        } else {
            tracing::warn!(
                "data directory {}: the plant's watermark names record {} with hash {}, which this store does not hold; the outbox starts again from record 1 (the plant skips what it holds and refuses a rewritten chain)",
                self.dir.display(),
                w.seq,
                hex(&w.hash)
            );
            Ok(0)
        }
    }

    /// Records the plant confirmed holding up to `watermark`. Not flushed by itself: the next
    /// commit flushes it, and a watermark lost to a crash only sends records again.
    pub fn set_watermark(&self, watermark: &Watermark) -> Result<(), StoreError> {
        self.meta
            .insert(META_WATERMARK, watermark.encode())
            .map_err(self.db_error("writing the plant's watermark"))?;
        Ok(())
    }

    /// Writes what was set in the `meta` tree to disk (for `benchctl sync`, which commits
    /// nothing else).
    pub fn flush_meta(&self) -> Result<(), StoreError> {
        self.meta
            .flush()
            .map(|_| ())
            .map_err(self.db_error("writing the plant's watermark to disk"))
    }

    /// Records after `after` that the plant has not confirmed: the head's sequence number
    /// minus `after` (0 when the plant holds everything).
    pub fn backlog(&self, after: u64) -> Result<u64, StoreError> {
        Ok(self
            .current_head()?
            .map_or(0, |h| h.seq.saturating_sub(after)))
    }

    /// The next batch of the outbox: up to `most` records after `after` (and at most
    /// [`BATCH_BYTES`] of bodies), in sequence order, up to the head as it is now, each
    /// checked against its hash and the record before it. Empty when there is none.
    pub fn outbox(&self, after: u64, most: usize) -> Result<Vec<(u64, Entry)>, StoreError> {
        let Some(head) = self.current_head()? else {
            return Ok(Vec::new());
        };
        let last = head.seq.min(after.saturating_add(most.max(1) as u64));
        if last <= after {
            return Ok(Vec::new());
        }
        let mut prev: Hash = if after == 0 {
            GENESIS
        } else {
            self.get_raw(after)?
                .and_then(|raw| stored_hash(&raw))
                .ok_or_else(|| self.broken(after, "is missing".into()))?
        };
        let mut out = Vec::with_capacity((last - after) as usize);
        let mut bytes = 0usize;
        for seq in after + 1..=last {
            let entry = self
                .get(seq)?
                .ok_or_else(|| self.broken(seq, "is missing".into()))?;
            if let Some(what) = problems(seq, Some(&prev), &entry).into_iter().next() {
                return Err(self.broken(seq, what));
            }
            bytes += entry.body.len();
            if bytes > BATCH_BYTES && !out.is_empty() {
                break;
            }
            prev = entry.hash;
            out.push((seq, entry));
        }
        Ok(out)
    }

    fn broken(&self, seq: u64, what: String) -> StoreError {
        StoreError::Broken {
            dir: self.dir.display().to_string(),
            seq,
            what,
            stopped: "nothing from there on is sent to the plant",
        }
    }
}

impl Store {
    /// Makes this store station `id`'s: the first run that writes sets it; a run of another
    /// station is refused (nothing is changed). Durable when it returns.
    pub fn claim_station(&mut self, id: &str) -> Result<(), StoreError> {
        match self.reader.station()? {
            Some(held) if held == id => return Ok(()),
            Some(held) => {
                return Err(StoreError::OtherStation {
                    dir: self.reader.dir.display().to_string(),
                    held,
                    given: id.to_string(),
                })
            }
            None => {}
        }
        self.reader
            .meta
            .insert(META_STATION, id.as_bytes())
            .map_err(self.db_error("recording its station"))?;
        self.db
            .flush()
            .map_err(self.db_error("recording its station"))?;
        self.durable
            .sync()
            .map_err(|e| StoreError::io(&self.reader.dir, "cannot sync its files to disk", &e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::{Pending, Use};

    fn pending(imei: &str) -> Pending {
        Pending::new(
            format!(
                r#"{{"schema":4,"phone":{{"imei":"{imei}","model":"PX7","serial":"S1"}},"jig":{{"port":"/dev/ttyACM0","serial":"J1","firmware":"1.0.0"}},"slot":0,"operator":"alice","started":"2026-11-23T10:00:00Z","finished":"2026-11-23T10:00:00Z","status":"complete","plan":{{"id":"p","version":"1","hash":"00"}},"steps":[],"grade":{{"functional":0,"r2_functional":"F6","disposition":"resale"}}}}"#
            )
            .into_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn a_store_keeps_the_station_that_first_wrote_and_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = Store::open(dir.path(), Use::Write).unwrap();
            assert_eq!(s.station().unwrap(), None);
            s.claim_station("line3").unwrap();
            s.claim_station("line3").unwrap();
        }
        let mut s = Store::open(dir.path(), Use::Write).unwrap();
        assert_eq!(s.station().unwrap().as_deref(), Some("line3"));
        let e = s.claim_station("line4").unwrap_err();
        assert!(
            matches!(e, StoreError::OtherStation { ref held, ref given, .. } if held == "line3" && given == "line4")
        );
        let text = e.to_string();
        assert!(
            text.contains("line3") && text.contains("line4") && text.contains("--data"),
            "{text}"
        );
        assert_eq!(s.station().unwrap().as_deref(), Some("line3"));
    }

    #[test]
    fn the_outbox_is_every_record_after_the_watermark_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), Use::Write).unwrap();
        assert!(s.outbox(0, 10).unwrap().is_empty());
        let stored = s
            .append((0..7).map(|i| pending(&i.to_string())).collect())
            .unwrap();
        assert_eq!(s.outbox_start("plant-a").unwrap(), 0);
        assert_eq!(s.backlog(0).unwrap(), 7);
        let first = s.outbox(0, 3).unwrap();
        assert_eq!(first.iter().map(|(q, _)| *q).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(first[0].1.prev, GENESIS);
        assert_eq!(first[2].1.hash, stored[2].hash);
        let w = Watermark {
            seq: 3,
            hash: stored[2].hash,
            plant: "plant-a".into(),
        };
        s.set_watermark(&w).unwrap();
        assert_eq!(s.watermark().unwrap(), Some(w));
        assert_eq!(s.outbox_start("plant-a").unwrap(), 3);
        // Another plant starts from the first record.
        assert_eq!(s.outbox_start("plant-b").unwrap(), 0);
        assert_eq!(s.backlog(3).unwrap(), 4);
        let rest = s.outbox(3, 500).unwrap();
        assert_eq!(
            rest.iter().map(|(q, _)| *q).collect::<Vec<_>>(),
            [4, 5, 6, 7]
        );
        assert_eq!(rest[0].1.prev, stored[2].hash);
        assert!(s.outbox(7, 500).unwrap().is_empty());
        // Past the head, nothing.
        assert!(s.outbox(9, 500).unwrap().is_empty());
        drop(s);
        let s = Store::open(dir.path(), Use::Read).unwrap();
        assert_eq!(s.outbox_start("plant-a").unwrap(), 3);
    }

    #[test]
    fn a_watermark_the_store_does_not_hold_restarts_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), Use::Write).unwrap();
        s.append(vec![pending("1"), pending("2")]).unwrap();
        s.set_watermark(&Watermark {
            seq: 2,
            hash: [9; 32],
            plant: "p".into(),
        })
        .unwrap();
        assert_eq!(s.outbox_start("p").unwrap(), 0);
        s.set_watermark(&Watermark {
            seq: 5,
            hash: [9; 32],
            plant: "p".into(),
        })
        .unwrap();
        assert_eq!(s.outbox_start("p").unwrap(), 0);
    }

    #[test]
    fn a_changed_record_stops_the_outbox_there() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), Use::Write).unwrap();
        s.append(vec![pending("1"), pending("2"), pending("3")])
            .unwrap();
        let mut e = s.get(2).unwrap().unwrap();
        e.body = pending("9").body.clone();
        s.records_tree()
            .insert(crate::store::entry::seq_key(2), e.encode().unwrap())
            .unwrap();
        let err = s.outbox(0, 10).unwrap_err();
        assert!(matches!(err, StoreError::Broken { seq: 2, .. }), "{err}");
        assert!(err.to_string().contains("plant"), "{err}");
    }
}
