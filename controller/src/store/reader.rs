//! Reading the store: records by sequence number, the device and time indexes, the head.
//!
//! Records and the head are written in one transaction and never change afterwards, so a
//! reader that takes the head first and reads only up to it sees a consistent store even while
//! a run goes on appending (how `export`, `verify` and `history` are served from a running line).

use std::path::{Path, PathBuf};

use super::entry::{device_key, device_prefix, key_seq, seq_key, time_key};
use super::schema::META_HEAD;
use super::{sled_error, Entry, StoreError, Stored, GENESIS};

/// A read handle on an open store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Reader {
    pub(super) dir: PathBuf,
    pub(super) records: sled::Tree,
    pub(super) by_device: sled::Tree,
    pub(super) by_time: sled::Tree,
    pub(super) meta: sled::Tree,
    /// True when no one appends while this reader reads (the store is this process's alone).
    pub(super) exclusive: bool,
}

impl Reader {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether nothing is appended while this reader reads.
    pub fn exclusive(&self) -> bool {
        self.exclusive
    }

    pub(super) fn db_error(&self, what: &'static str) -> impl Fn(sled::Error) -> StoreError + '_ {
        move |e| sled_error(&self.dir, what, e)
    }

    /// The last record's sequence number and hash, as the store says now (`None` while empty).
    pub fn current_head(&self) -> Result<Option<Stored>, StoreError> {
        let v = self
            .meta
            .get(META_HEAD)
            .map_err(self.db_error("reading its head"))?;
        match v {
            None => Ok(None),
            Some(v) if v.len() == 40 => Ok(Some(Stored {
                seq: key_seq(&v[..8]).unwrap_or(0),
                hash: v[8..].try_into().unwrap_or(GENESIS),
            })),
            Some(_) => Err(StoreError::Db {
                dir: self.dir.display().to_string(),
                what: "reading its head",
                detail: "the head is not 40 bytes".into(),
            }),
        }
    }

    /// The record with this sequence number.
    pub fn get(&self, seq: u64) -> Result<Option<Entry>, StoreError> {
        let Some(v) = self.get_raw(seq)? else {
            return Ok(None);
        };
        Entry::decode(&v).map(Some).map_err(|e| StoreError::Db {
            dir: self.dir.display().to_string(),
            what: "reading a record",
            detail: format!("record {seq} is unreadable: {e}"),
        })
    }

    /// The record with this sequence number, undecoded (`None`: no such record).
    pub fn get_raw(&self, seq: u64) -> Result<Option<sled::IVec>, StoreError> {
        self.records
            .get(seq_key(seq))
            .map_err(self.db_error("reading a record"))
    }

    /// The records tree itself, for tests that tamper with a record behind the store's back.
    #[cfg(test)]
    pub(crate) fn records_tree(&self) -> &sled::Tree {
        &self.records
    }

    /// Every record in key order, undecoded, with its sequence number (0 for a key that is not
    /// 8 bytes): the raw read that [`super::chain::walk`] checks, for tools and benchmarks.
    pub fn raw_records(&self) -> impl Iterator<Item = Result<(u64, sled::IVec), StoreError>> + '_ {
        self.records.iter().map(|kv| {
            kv.map(|(k, v)| {
                (
                    if k.len() == 8 { key_seq(&k) } else { None }.unwrap_or(0),
                    v,
                )
            })
            .map_err(self.db_error("reading records"))
        })
    }

    /// The highest record key, as a sequence number if it is one (`Some(None)`: a key that is
    /// not 8 bytes).
    pub fn last_key(&self) -> Result<Option<Option<u64>>, StoreError> {
        Ok(self
            .records
            .last()
            .map_err(self.db_error("reading records"))?
            .map(|(k, _)| if k.len() == 8 { key_seq(&k) } else { None }))
    }

    /// Keys of the device index, in order.
    pub fn device_index(&self) -> impl Iterator<Item = Result<sled::IVec, StoreError>> + '_ {
        self.by_device
            .iter()
            .keys()
            .map(|r| r.map_err(self.db_error("reading the device index")))
    }

    /// Keys of the time index, in order.
    pub fn time_index(&self) -> impl Iterator<Item = Result<sled::IVec, StoreError>> + '_ {
        self.by_time
            .iter()
            .keys()
            .map(|r| r.map_err(self.db_error("reading the time index")))
    }

    /// Whether the device index holds this record.
    pub fn has_device_entry(&self, imei: &str, seq: u64) -> Result<bool, StoreError> {
        self.by_device
            .contains_key(device_key(imei, seq))
            .map_err(self.db_error("reading the device index"))
    }

    /// Whether the time index holds this record.
    pub fn has_time_entry(&self, finished_ms: u64, seq: u64) -> Result<bool, StoreError> {
        self.by_time
            .contains_key(time_key(finished_ms, seq))
            .map_err(self.db_error("reading the time index"))
    }

    /// Sequence numbers of every record of one device, oldest first.
    pub fn device_seqs(&self, imei: &str) -> Result<Vec<u64>, StoreError> {
        self.by_device
            .scan_prefix(device_prefix(imei))
            .keys()
            .map(|k| {
                k.map(|k| key_seq(&k).unwrap_or(0))
                    .map_err(self.db_error("reading the device index"))
            })
            .collect()
    }

    /// Sequence numbers of the records finished in `[from_ms, to_ms)`, in time order.
    pub fn time_seqs(
        &self,
        from_ms: u64,
        to_ms: u64,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        self.by_time
            .range(time_key(from_ms, 0)..time_key(to_ms, 0))
            .keys()
            .map(|k| {
                k.map(|k| key_seq(&k).unwrap_or(0))
                    .map_err(self.db_error("reading the time index"))
            })
    }
}
