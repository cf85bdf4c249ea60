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
//! | 4 | records carry `jig.simulated` (the jig was the host simulator; absent, it reads as false); the `meta` tree pins each plan id and version to its file's hash ([`super::policy`]) and may mark a training store |

use serde::de::IgnoredAny;

use crate::run::record::{Record, Step};

use super::entry::{key_seq, time_key};
use super::policy::Claim;
use super::StoreError;

/// The schema this `benchctl` writes, and the newest it can read.
pub const SCHEMA: u16 = 4;

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
    /// What the store's policy checks: the jig's provenance and the plan's identity.
    pub claim: Claim,
}

impl Header {
    /// Reads the header of a record body.
    pub fn parse(body: &[u8]) -> Result<Header, String> {
        let record: Record<'_, Step<'_, IgnoredAny>> =
            serde_json::from_slice(body).map_err(|e| format!("its JSON does not parse: {e}"))?;
        Ok(Header::of(&record))
    }

    /// The header of a record.
    pub fn of<S>(record: &Record<'_, S>) -> Header {
        Header {
            schema: record.schema,
            imei: record.phone.imei.to_string(),
            finished: record.finished.to_string(),
            claim: Claim {
                simulated: record.jig.simulated,
                jig: record.jig.serial.to_string(),
                plan_id: record.plan.id.to_string(),
                plan_version: record.plan.version.to_string(),
                plan_hash: record.plan.hash.to_string(),
            },
        }
    }

    /// Finish time in ms since the Unix epoch.
    pub fn finished_ms(&self) -> Result<u64, String> {
        parse_time_ms(&self.finished)
            .ok_or_else(|| format!("its finish time {:?} is not RFC 3339", self.finished))
    }
}

/// What a reader checks a stored record against the indexes with: its schema, IMEI and finish
/// time, borrowed from the body; the rest of the record is skipped, never built (`verify` reads
/// this of every record, where [`Header::parse`] builds the whole record to check it).
#[derive(Debug, serde::Deserialize)]
pub struct Indexed<'a> {
    /// Schema of the record (1 when absent).
    #[serde(default = "schema_one")]
    pub schema: u16,
    /// The phone (its IMEI).
    #[serde(borrow)]
    pub phone: IndexedPhone<'a>,
    /// End of the test, RFC 3339.
    #[serde(borrow)]
    pub finished: std::borrow::Cow<'a, str>,
}

/// The phone as [`Indexed`] reads it.
#[derive(Debug, serde::Deserialize)]
pub struct IndexedPhone<'a> {
    /// The phone's IMEI.
    #[serde(borrow)]
    pub imei: std::borrow::Cow<'a, str>,
}

fn schema_one() -> u16 {
    1
}

/// Reads a record's fields in order until [`Indexed`] is complete, then stops (the
/// deserializer then reports the rest as unread, which [`Indexed::parse`] ignores).
struct Seek<'o, 'a> {
    found: &'o mut Option<Indexed<'a>>,
}

impl<'de, 'o> serde::de::Visitor<'de> for Seek<'o, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record (a JSON object)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut schema, mut phone, mut finished) = (None, None, None);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "schema" => schema = Some(map.next_value::<u16>()?),
                "phone" => phone = Some(map.next_value::<IndexedPhone<'de>>()?),
                "finished" => finished = Some(map.next_value::<std::borrow::Cow<'de, str>>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            // `schema` comes first when a record has one; once the IMEI and the finish time
            // are read, the rest can only be fields the indexes do not need.
            if let (Some(_), Some(_)) = (&phone, &finished) {
                if schema.is_some() {
                    break;
                }
            }
        }
        if let (Some(phone), Some(finished)) = (phone, finished) {
            *self.found = Some(Indexed {
                schema: schema.unwrap_or(1),
                phone,
                finished,
            });
        }
        Ok(())
    }
}

impl<'a> Indexed<'a> {
    /// Reads the indexed fields of a record body, stopping as soon as it has them: records
    /// are written with `schema`, `phone` and `finished` before their steps, so the steps
    /// (most of a record's bytes) are not even scanned. Only for bodies whose hash was checked
    /// (what was stored was a whole record, [`Header::parse`] saw to that).
    pub fn parse(body: &'a [u8]) -> Result<Indexed<'a>, String> {
        let mut found = None;
        let mut de = serde_json::Deserializer::from_slice(body);
        let read = serde::Deserializer::deserialize_map(&mut de, Seek { found: &mut found });
        match (found, read) {
            (Some(h), _) => Ok(h),
            (None, Err(e)) => Err(format!("its JSON does not parse: {e}")),
            (None, Ok(())) => Err("it has no `phone.imei` or no `finished`".into()),
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
    if from < 4 {
        // Schema 4 pins each plan id and version to its file: pin the ones recorded.
        super::policy::pin_recorded(db, fail)?;
    }
    let meta = db.open_tree("meta").map_err(|e| fail(e.to_string()))?;
    meta.insert(META_SCHEMA, &SCHEMA.to_be_bytes()[..])
        .map_err(|e| fail(e.to_string()))?;
    db.flush().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
