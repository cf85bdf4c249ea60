//! The record store: every graded run, append-only, in a sled database in the data directory.
//!
//! Layout (trees of one sled database at `DATA/records/`):
//! - `records`: sequence number (u64, big endian) → [`Entry`] (postcard of the previous hash,
//!   the hash and the zstd-compressed JSON body): the record and its place in a SHA-256 hash
//!   chain ([`entry::chain_hash`]).
//! - `by_device`: IMEI, 0, sequence number → nothing (history of a device, retests included).
//! - `by_time`: finish time (ms), sequence number → nothing (exports by period).
//! - `meta`: `schema` (u16), `head` (sequence number and hash of the last record), `verified`
//!   (the last head verified in full, [`chain`]); the
//!   training mark and the plan pins ([`policy`]: what the store admits); the station and
//!   the plant's watermark ([`outbox`]: what the plant has not confirmed yet).
//!
//! Invariants:
//! - Sequence numbers start at 1 and have no gaps; `head` names the last record.
//! - A batch of records, its index entries and the new head are one sled transaction, and
//!   [`Store::append`] returns only after sled's `flush` and then `fdatasync` of sled's files
//!   ([`sync::Durable`]): what it returned survives a power cut, and a crash leaves either the
//!   whole batch or none of it.
//! - Nothing is ever rewritten or removed; a retest is a new record.
//! - One process per data directory ([`lock::DirLock`]); others read through the [`Reader`] it
//!   shares; a store written by a newer schema is refused, never modified.

pub mod chain;
pub mod entry;
pub mod lock;
pub mod outbox;
pub mod policy;
pub mod private;
pub mod reader;
pub mod schema;
pub mod sync;
pub mod writer;

use std::path::{Path, PathBuf};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

pub use entry::{hex, Entry, Hash, GENESIS};
pub use reader::Reader;
pub use schema::SCHEMA;
pub use writer::Writer;

use entry::{device_key, seq_key, time_key};
use schema::{Header, META_HEAD, META_SCHEMA};

/// Why the store cannot do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The file system said no.
    #[error("data directory {dir}: {what}: {detail}; {hint}")]
    Io {
        /// The data directory.
        dir: String,
        /// What was being done.
        what: String,
        /// The OS error.
        detail: String,
        /// What to do.
        hint: &'static str,
    },
    /// Another process holds the data directory.
    #[error("data directory {dir} is in use by another benchctl (pid {pid}); stop it first, or give this one another --data directory")]
    Busy {
        /// The data directory.
        dir: String,
        /// The holder's pid, as it wrote it.
        pid: String,
    },
    /// The data directory is not private to this user ([`private`]).
    #[error("data directory {dir} is not private: {problem}; benchctl keeps IMEIs, serial numbers and operator ids there and leaves it untouched: {fix}")]
    NotPrivate {
        /// The data directory.
        dir: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        fix: String,
    },
    /// The store was written by a newer benchctl.
    #[error("data directory {dir} holds records of schema {found}, written by a newer benchctl; this benchctl knows schema {known} at most and leaves them untouched: use a newer benchctl")]
    Newer {
        /// The data directory.
        dir: String,
        /// Schema found.
        found: u16,
        /// Newest schema known here.
        known: u16,
    },
    /// Bringing an older store up to date failed.
    #[error("data directory {dir}: cannot bring the store from schema {from} up to date: {detail}; the records are unchanged, run `benchctl verify --data {dir}`")]
    Migrate {
        /// The data directory.
        dir: String,
        /// Schema found.
        from: u16,
        /// What failed.
        detail: String,
    },
    /// The database itself failed (corruption, I/O).
    #[error("data directory {dir}: the record store failed while {what}: {detail}; its database files are damaged or were changed outside benchctl: keep the directory unchanged as evidence and restore the records from the last export or backup")]
    Db {
        /// The data directory.
        dir: String,
        /// What was being done.
        what: &'static str,
        /// sled's error.
        detail: String,
    },
    /// A record's place in the hash chain does not hold.
    #[error("data directory {dir}: record {seq} {what}; the chain of records is broken there and {stopped}: keep the directory unchanged as evidence, run `benchctl verify --data {dir}` for the full report, and restore the records from the last export or backup")]
    Broken {
        /// The data directory.
        dir: String,
        /// The first bad record.
        seq: u64,
        /// What is wrong with it.
        what: String,
        /// What was stopped.
        stopped: &'static str,
    },
    /// A record to append is not one the store can index.
    #[error("record not stored: {0}")]
    BadRecord(String),
    /// The store's policy refuses it ([`policy`]: a simulated jig in a production store, a
    /// plan file other than the one its id and version were recorded with).
    #[error(transparent)]
    Refused(#[from] policy::Refusal),
    /// The store belongs to another station ([`outbox`]): one data directory keeps one
    /// station's chain.
    #[error("data directory {dir} holds the records of station {held}, and this run is station {given}: one data directory keeps one station's records (the plant holds each station's chain by its id); run station {given} with a --data directory of its own, or give the station file of {held}")]
    OtherStation {
        /// The data directory.
        dir: String,
        /// The station the store belongs to.
        held: String,
        /// The station of the run.
        given: String,
    },
    /// The store is closed.
    #[error("the record store is closed")]
    Closed,
}

/// Opens the sled database of a data directory as it is, bypassing the lock, the schema check
/// and the migration: for tests that build old stores or tamper with one. No background
/// flusher, so the database is closed (and its file lock gone) when the handle is dropped.
pub fn raw_db(dir: &Path) -> sled::Result<sled::Db> {
    sled::Config::new()
        .path(dir.join("records"))
        .flush_every_ms(None)
        .open()
}

/// A sled error as a [`StoreError`].
fn sled_error(dir: &Path, what: &'static str, e: sled::Error) -> StoreError {
    let detail = match e {
        sled::Error::Io(io) => return StoreError::io(dir, what, &io),
        sled::Error::Corruption { .. } => "the database files are corrupted".to_string(),
        other => other.to_string(),
    };
    StoreError::Db {
        dir: dir.display().to_string(),
        what,
        detail,
    }
}

impl StoreError {
    fn io(dir: &Path, what: &str, e: &std::io::Error) -> StoreError {
        use std::io::ErrorKind as K;
        let hint = match e.kind() {
            K::PermissionDenied | K::ReadOnlyFilesystem => {
                "give --data a directory this user can write (to read a store on read-only media, copy the directory somewhere writable and give --data the copy)"
            }
            K::StorageFull | K::QuotaExceeded | K::FileTooLarge => {
                "free space on that disk or give --data another directory"
            }
            _ => "check the path given to --data",
        };
        // sled wraps some OS errors in its own text; the kind reads better.
        let detail = match e.raw_os_error() {
            Some(_) => e.to_string(),
            None => std::io::Error::from(e.kind()).to_string(),
        };
        StoreError::Io {
            dir: dir.display().to_string(),
            what: what.to_string(),
            detail,
            hint,
        }
    }
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stored {
    /// Sequence number, from 1.
    pub seq: u64,
    /// Its chain hash (hex in JSON).
    #[serde(with = "entry::hex_serde")]
    pub hash: Hash,
}

impl std::fmt::Display for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, hex(&self.hash))
    }
}

/// A record to append: its JSON body, checked to carry what the indexes need.
#[derive(Debug, Clone)]
pub struct Pending {
    body: Vec<u8>,
    imei: String,
    finished_ms: u64,
    claim: policy::Claim,
}

impl Pending {
    /// Checks a record's JSON: it must carry `phone.imei` and an RFC 3339 `finished`.
    pub fn new(body: Vec<u8>) -> Result<Pending, StoreError> {
        let header = Header::parse(&body).map_err(StoreError::BadRecord)?;
        let finished_ms = header.finished_ms().map_err(StoreError::BadRecord)?;
        Ok(Pending {
            claim: header.claim,
            imei: header.imei,
            finished_ms,
            body,
        })
    }
}

/// The default data directory: `$BENCHCTL_DATA`, else `$XDG_DATA_HOME/benchline`, else
/// `~/.local/share/benchline`, else `./benchline-data`.
pub fn default_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = env("BENCHCTL_DATA") {
        return PathBuf::from(d);
    }
    if let Some(d) = env("XDG_DATA_HOME") {
        return PathBuf::from(d).join("benchline");
    }
    if let Some(h) = env("HOME") {
        return PathBuf::from(h).join(".local/share/benchline");
    }
    PathBuf::from("benchline-data")
}

/// How much memory sled may use for its page cache.
#[derive(Debug, Clone, Copy)]
pub enum Use {
    /// A run appending records.
    Write,
    /// Export, verify, history: streaming reads.
    Read,
}

/// An open store; holds the data directory's lock.
#[derive(Debug)]
pub struct Store {
    db: sled::Db,
    reader: Reader,
    head: Option<Stored>,
    durable: sync::Durable,
    _lock: lock::DirLock,
}

/// A store reads like its [`Reader`] (with the whole store to itself).
impl std::ops::Deref for Store {
    type Target = Reader;

    fn deref(&self) -> &Reader {
        &self.reader
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, migrating an older one.
    pub fn open(dir: &Path, usage: Use) -> Result<Store, StoreError> {
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::Io {
                dir: dir.display().to_string(),
                what: "it is a file".into(),
                detail: "not a directory".into(),
                hint: "give --data a directory (benchctl creates it when it is missing)",
            });
        }
        private::prepare(dir)?;
        let lock = lock::DirLock::take(dir)?;
        let shown = dir.display().to_string();
        let db_err = |what: &'static str| move |e: sled::Error| sled_error(dir, what, e);
        let db = sled::Config::new()
            .path(dir.join("records"))
            .cache_capacity(match usage {
                Use::Write => 128 << 20,
                Use::Read => 8 << 20,
            })
            .flush_every_ms(None)
            .open()
            .map_err(db_err("opening the store"))?;
        // sled created its files with the umask.
        private::tighten(dir)?;
        let tree = |name: &str| db.open_tree(name).map_err(db_err("opening the store"));
        let meta = tree("meta")?;
        let fresh = db
            .open_tree("records")
            .map_err(db_err("opening the store"))?
            .is_empty();
        let schema = match meta
            .get(META_SCHEMA)
            .map_err(db_err("reading its schema"))?
        {
            Some(v) => {
                v.as_ref()
                    .try_into()
                    .map(u16::from_be_bytes)
                    .map_err(|_| StoreError::Db {
                        dir: shown.clone(),
                        what: "reading its schema",
                        detail: "the schema number is not 2 bytes".into(),
                    })?
            }
            None if fresh => SCHEMA,
            None => 1,
        };
        if schema > SCHEMA {
            return Err(StoreError::Newer {
                dir: shown,
                found: schema,
                known: SCHEMA,
            });
        }
        if schema < SCHEMA || fresh {
            schema::migrate(&db, &shown, schema)?;
        }
        let reader = Reader {
            dir: dir.to_path_buf(),
            records: tree("records")?,
            by_device: tree("by_device")?,
            by_time: tree("by_time")?,
            meta,
            exclusive: true,
        };
        // Before appending: the whole chain must be sound, or new records would extend a
        // chain that is already broken.
        let head = match usage {
            Use::Write => chain::check_before_append(&reader)?,
            Use::Read => reader.current_head()?,
        };
        let durable = sync::Durable::open(&dir.join("records"), dir)
            .map_err(|e| StoreError::io(dir, "cannot sync its files to disk", &e))?;
        Ok(Store {
            head,
            reader,
            db,
            durable,
            _lock: lock,
        })
    }

    /// The last record's sequence number and hash (`None` while empty).
    pub fn head(&self) -> Option<Stored> {
        self.head
    }

    /// A reader that other threads can use while this store goes on appending: it reads only
    /// up to the head it finds when it starts.
    pub fn shared_reader(&self) -> Reader {
        Reader {
            exclusive: false,
            ..self.reader.clone()
        }
    }

    /// Appends a batch of records in one transaction and flushes it to disk; returns where
    /// each landed, in order. On error nothing of the batch is kept.
    pub fn append(&mut self, batch: Vec<Pending>) -> Result<Vec<Stored>, StoreError> {
        let pins = policy::admit(&self.reader, &batch)?;
        let mut prev = self.head.map_or(GENESIS, |h| h.hash);
        let mut seq = self.head.map_or(0, |h| h.seq);
        let mut rows = Vec::with_capacity(batch.len());
        for p in batch {
            seq += 1;
            let entry = Entry::new(seq, prev, p.body);
            prev = entry.hash;
            let bytes = entry
                .encode()
                .map_err(|e| StoreError::BadRecord(e.to_string()))?;
            rows.push((seq, p.imei, p.finished_ms, bytes, entry.hash));
        }
        let Some(&(last, _, _, _, last_hash)) = rows.last() else {
            return Ok(Vec::new());
        };
        let mut head = seq_key(last).to_vec();
        head.extend_from_slice(&last_hash);
        let r = &self.reader;
        let result: Result<(), TransactionError<()>> =
            (&r.records, &r.by_device, &r.by_time, &r.meta).transaction(
                |(records, by_device, by_time, meta)| {
                    for (seq, imei, ms, bytes, _) in &rows {
                        records.insert(&seq_key(*seq)[..], bytes.as_slice())?;
                        by_device.insert(device_key(imei, *seq), &[][..])?;
                        by_time.insert(&time_key(*ms, *seq)[..], &[][..])?;
                    }
                    for (key, hash) in &pins {
                        meta.insert(key.as_slice(), hash.as_slice())?;
                    }
                    meta.insert(META_HEAD, head.as_slice())?;
                    Ok::<(), ConflictableTransactionError<()>>(())
                },
            );
        match result {
            Ok(()) => {}
            Err(TransactionError::Storage(e)) => {
                return Err(self.db_error("writing records")(e));
            }
            Err(TransactionError::Abort(())) => return Err(StoreError::Closed),
        }
        self.db
            .flush()
            .map_err(self.db_error("flushing records to disk"))?;
        self.durable
            .sync()
            .map_err(|e| StoreError::io(&self.reader.dir, "cannot sync records to disk", &e))?;
        self.head = Some(Stored {
            seq: last,
            hash: last_hash,
        });
        Ok(rows
            .into_iter()
            .map(|(seq, _, _, _, hash)| Stored { seq, hash })
            .collect())
    }
}

#[cfg(test)]
mod tests;
