//! Versions of the record and store layout, and how older stores are brought up to date.
//!
//! Records are immutable: the bytes a hash covers are never rewritten. A record keeps the schema
//! it was written with (its `schema` field; records of schema 1 have none), and readers accept
//! every older schema. A store's own version (in its `meta` tree) only ever moves forward, by
//! [`migrate`] when a newer `benchctl` opens it.
//!
//! | schema | what changed |
//! |---|---|
//! | 1 | first layout: `records` and the `by_device` index; records without `schema`, `station`, `bench` |
//! | 2 | adds the `by_time` index; records carry `schema`, `station` and `bench` |
//! | 3 | records carry `answered_by` (who gave each prompt answer) and `bin` (where the phone went) |

use serde::de::IgnoredAny;

use crate::run::record::Record;

use super::entry::{key_seq, time_key};
use super::StoreError;

/// The schema this `benchctl` writes, and the newest it can read.
pub const SCHEMA: u16 = 3;

/// Key of the store's schema in the `meta` tree (u16, big endian).
pub const META_SCHEMA: &[u8] = b"schema";
/// Key of the chain head in the `meta` tree (sequence number, big endian, then the hash).
pub const META_HEAD: &[u8] = b"head";

/// The few fields of a record body the store itself needs: its schema, the device and the
/// finish time (for the indexes). A projection of the one record type
/// ([`crate::run::record::Record`]), read with its measurement values skipped.
#[derive(Debug)]
pub struct Header {
    /// Schema of the record (1 when absent).
    pub schema: u16,
    /// The phone's IMEI.
    pub imei: String,
    /// End of the test, RFC 3339.
    pub finished: String,
}

impl Header {
    /// Reads the header of a record body.
    pub fn parse(body: &[u8]) -> Result<Header, String> {
        let record: Record<'_, IgnoredAny> =
            serde_json::from_slice(body).map_err(|e| format!("its JSON does not parse: {e}"))?;
        Ok(Header::of(&record))
    }

    /// The header of a record.
    pub fn of<V>(record: &Record<'_, V>) -> Header {
        Header {
            schema: record.schema,
            imei: record.phone.imei.to_string(),
            finished: record.finished.to_string(),
        }
    }

    /// Finish time in ms since the Unix epoch.
    pub fn finished_ms(&self) -> Result<u64, String> {
        parse_time_ms(&self.finished)
            .ok_or_else(|| format!("its finish time {:?} is not RFC 3339", self.finished))
    }
}

/// Parses an RFC 3339 time to ms since the Unix epoch.
pub fn parse_time_ms(text: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(text).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(d.as_millis()).ok()
}

/// Brings a store written with schema `from` up to [`SCHEMA`]. Idempotent: if it is cut short,
/// the store keeps its old schema number and the next open runs it again.
pub(super) fn migrate(db: &sled::Db, dir: &str, from: u16) -> Result<(), StoreError> {
    let fail = |detail: String| StoreError::Migrate {
        dir: dir.to_string(),
        from,
        detail,
    };
    if from < 2 {
        // Schema 2 adds the time index: build it from the records.
        let records = db.open_tree("records").map_err(|e| fail(e.to_string()))?;
        let by_time = db.open_tree("by_time").map_err(|e| fail(e.to_string()))?;
        let mut batch = sled::Batch::default();
        for item in records.iter() {
            let (k, v) = item.map_err(|e| fail(e.to_string()))?;
            let seq = key_seq(&k).ok_or_else(|| fail("a record key is not 8 bytes".into()))?;
            let entry = super::Entry::decode(&v)
                .map_err(|e| fail(format!("record {seq} is unreadable: {e}")))?;
            let header =
                Header::parse(&entry.body).map_err(|e| fail(format!("record {seq}: {e}")))?;
            let ms = header
                .finished_ms()
                .map_err(|e| fail(format!("record {seq}: {e}")))?;
            batch.insert(&time_key(ms, seq)[..], &[][..]);
        }
        by_time
            .apply_batch(batch)
            .map_err(|e| fail(e.to_string()))?;
    }
    let meta = db.open_tree("meta").map_err(|e| fail(e.to_string()))?;
    meta.insert(META_SCHEMA, &SCHEMA.to_be_bytes()[..])
        .map_err(|e| fail(e.to_string()))?;
    db.flush().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
