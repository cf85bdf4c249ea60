//! What a store admits beyond a well-formed record: records of simulated jigs only when it is a
//! training store, and, for each plan id and version, only the plan file it first recorded.
//!
//! Both live in the `meta` tree, outside the hash chain (the records themselves carry
//! `jig.simulated` and the plan's hash inside it):
//! - `training` → `[1]`: the store is a training store. A store becomes one only while it holds
//!   no record ([`Store::make_training`]), and stays one; a store without the mark is a
//!   production store and refuses every record whose jig said it is simulated.
//! - `plan\0`, id length (u32, big endian), id, version → the SHA-256 (hex) of the plan file:
//!   pinned in the transaction that appends the first record of that plan id and version
//!   (and, for stores of schema 3 and older, by the migration from their records, the first
//!   record winning). A record of the same id and version with another hash is refused.
//!
//! `benchctl run` checks both at its start, before any phone is tested; [`admit`] checks them
//! again for every batch appended.

use std::path::{Path, PathBuf};

use super::schema::Header;
use super::{Pending, Reader, Store, StoreError};

/// Key of the training mark in the `meta` tree.
pub const META_TRAINING: &[u8] = b"training";

/// Prefix of the plan pins in the `meta` tree.
const PLAN_PIN: &[u8] = b"plan\0";

/// How many hex digits of a hash people are shown.
pub const SHORT_HASH: usize = 12;

/// The first [`SHORT_HASH`] hex digits of a hash.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..SHORT_HASH).unwrap_or(hash)
}

/// What a record says that the store's policy looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// The jig said it is simulated.
    pub simulated: bool,
    /// The jig's serial number.
    pub jig: String,
    /// Plan id.
    pub plan_id: String,
    /// Plan version.
    pub plan_version: String,
    /// SHA-256 of the plan file, hex.
    pub plan_hash: String,
}

/// Why a store does not admit something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A record of a simulated jig for a production store.
    #[error("jig {jig} says it is simulated, and data directory {dir} is a production store: it records only phones tested on real jigs. {TRAIN_HINT}")]
    Simulated {
        /// The data directory.
        dir: String,
        /// The jig's serial number.
        jig: String,
    },
    /// A plan file other than the one its id and version were first recorded with.
    #[error("plan {id} version {version} was first recorded in data directory {dir} from another file (sha256 {pinned}…); this file is sha256 {given}…: one plan id and version must always mean the same file. Raise the plan's version (`version` in its [plan] table) for the changed file, or run the file that was recorded")]
    PlanChanged {
        /// The data directory.
        dir: String,
        /// Plan id.
        id: String,
        /// Plan version.
        version: String,
        /// Prefix of the hash the store pinned.
        pinned: String,
        /// Prefix of the hash of the file given.
        given: String,
    },
    /// A production store that already holds records cannot become a training store.
    #[error("data directory {dir} is a production store holding {records} record(s); it cannot become a training store. {TRAIN_HINT}")]
    Production {
        /// The data directory.
        dir: String,
        /// Records it holds.
        records: u64,
    },
}

/// What to do instead of recording a simulated jig in a production store.
const TRAIN_HINT: &str = "Test real phones on real jigs; to train or demonstrate on simulated jigs, use a training store: `benchctl run --sim N` without --data uses one of its own, and `--data NEW_DIR --training-store` makes a new directory one";

/// The default data directory of simulated lines (`run --sim` without `--data`): the
/// production default ([`super::default_dir`]) with `-training` after its name, e.g.
/// `~/.local/share/benchline-training`. It is a training store.
pub fn training_dir() -> PathBuf {
    sibling(&super::default_dir(), "-training")
}

/// `dir` with `suffix` after its last component.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    match dir.file_name() {
        Some(name) => {
            let mut name = name.to_os_string();
            name.push(suffix);
            dir.with_file_name(name)
        }
        None => dir.join(format!("benchline{suffix}")),
    }
}

/// The `meta` key of a plan id and version's pin.
fn plan_key(id: &str, version: &str) -> Vec<u8> {
    let len = u32::try_from(id.len()).unwrap_or(u32::MAX);
    [
        PLAN_PIN,
        &len.to_be_bytes(),
        id.as_bytes(),
        version.as_bytes(),
    ]
    .concat()
}

impl Reader {
    /// True when this is a training store (it admits records of simulated jigs).
    pub fn training(&self) -> Result<bool, StoreError> {
        let v = self
            .meta
            .get(META_TRAINING)
            .map_err(self.db_error("reading whether it is a training store"))?;
        Ok(v.is_some_and(|v| v.as_ref() == [1]))
    }

    /// The hash of the plan file pinned for `id` and `version`, if any record of them is stored.
    pub fn pinned_plan(&self, id: &str, version: &str) -> Result<Option<String>, StoreError> {
        let v = self
            .meta
            .get(plan_key(id, version))
            .map_err(self.db_error("reading its plan pins"))?;
        Ok(v.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Refuses a plan file whose id and version were recorded here with another file.
    pub fn admits_plan(&self, id: &str, version: &str, hash: &str) -> Result<(), StoreError> {
        match self.pinned_plan(id, version)? {
            Some(pinned) if pinned != hash => Err(self.plan_changed(id, version, &pinned, hash)),
            _ => Ok(()),
        }
    }

    /// Refuses records of simulated jigs unless this is a training store.
    pub fn admits_simulated(&self, jig: &str) -> Result<(), StoreError> {
        if self.training()? {
            Ok(())
        } else {
            Err(Refusal::Simulated {
                dir: self.dir.display().to_string(),
                jig: jig.to_string(),
            }
            .into())
        }
    }

    fn plan_changed(&self, id: &str, version: &str, pinned: &str, given: &str) -> StoreError {
        Refusal::PlanChanged {
            dir: self.dir.display().to_string(),
            id: id.to_string(),
            version: version.to_string(),
            pinned: short_hash(pinned).to_string(),
            given: short_hash(given).to_string(),
        }
        .into()
    }
}

impl Store {
    /// Makes this store a training store, for good: allowed while it holds no record (or when
    /// it is one already); a production store with records is refused. Durable when it returns.
    pub fn make_training(&mut self) -> Result<(), StoreError> {
        if self.reader.training()? {
            return Ok(());
        }
        if let Some(head) = self.head {
            return Err(Refusal::Production {
                dir: self.reader.dir.display().to_string(),
                records: head.seq,
            }
            .into());
        }
        self.reader
            .meta
            .insert(META_TRAINING, &[1u8][..])
            .map_err(self.db_error("marking it a training store"))?;
        self.db
            .flush()
            .map_err(self.db_error("marking it a training store"))?;
        self.durable
            .sync()
            .map_err(|e| StoreError::io(&self.reader.dir, "cannot sync its files to disk", &e))
    }
}

/// Plan pins to write: `meta` keys and values.
pub(super) type Pins = Vec<(Vec<u8>, Vec<u8>)>;

/// Checks a batch against the store's policy before it is appended; returns the plan pins the
/// batch adds, to be written in the batch's transaction.
pub(super) fn admit(reader: &Reader, batch: &[Pending]) -> Result<Pins, StoreError> {
    let mut pins: Pins = Vec::new();
    for p in batch {
        let c = &p.claim;
        if c.simulated {
            reader.admits_simulated(&c.jig)?;
        }
        let key = plan_key(&c.plan_id, &c.plan_version);
        let pinned = match pins.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(String::from_utf8_lossy(v).into_owned()),
            None => reader.pinned_plan(&c.plan_id, &c.plan_version)?,
        };
        match pinned {
            Some(pinned) if pinned != c.plan_hash => {
                return Err(reader.plan_changed(&c.plan_id, &c.plan_version, &pinned, &c.plan_hash))
            }
            Some(_) => {}
            None => pins.push((key, c.plan_hash.as_bytes().to_vec())),
        }
    }
    Ok(pins)
}

/// Pins the plans of the records already stored (the migration to schema 4): the first record
/// of each plan id and version wins; later records with another file are named in the log.
pub(super) fn pin_recorded(
    db: &sled::Db,
    fail: impl Fn(String) -> StoreError,
) -> Result<(), StoreError> {
    let records = db.open_tree("records").map_err(|e| fail(e.to_string()))?;
    let meta = db.open_tree("meta").map_err(|e| fail(e.to_string()))?;
    let mut pins: std::collections::BTreeMap<Vec<u8>, (String, u64)> = Default::default();
    let mut seq = 1u64;
    // By sequence number, not by iterator: a pass of lookups keeps memory flat.
    while let Some(v) = records
        .get(super::entry::seq_key(seq))
        .map_err(|e| fail(e.to_string()))?
    {
        let entry = super::Entry::decode(&v)
            .map_err(|e| fail(format!("record {seq} is unreadable: {e}")))?;
        let header = Header::parse(&entry.body).map_err(|e| fail(format!("record {seq}: {e}")))?;
        let c = &header.claim;
        let key = plan_key(&c.plan_id, &c.plan_version);
        match pins.get(&key) {
            Some((hash, first)) if *hash != c.plan_hash => tracing::warn!(
                "record {seq} ran plan {} version {} from a file (sha256 {}) other than record {first}'s (sha256 {}); the first is pinned, later runs of the other file are refused",
                c.plan_id,
                c.plan_version,
                short_hash(&c.plan_hash),
                short_hash(hash)
            ),
            Some(_) => {}
            None => {
                pins.insert(key, (c.plan_hash.clone(), seq));
            }
        }
        seq += 1;
    }
    for (key, (hash, _)) in pins {
        if meta.get(&key).map_err(|e| fail(e.to_string()))?.is_none() {
            meta.insert(key, hash.as_bytes())
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::entry::seq_key;
    use crate::store::schema::{META_HEAD, META_SCHEMA};
    use crate::store::{raw_db, Entry, Use, GENESIS};

    const A: &str = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111";
    const B: &str = "bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222";

    /// A small record of schema 4: its jig simulated or not, run under plan `p` 1.0.0 from a
    /// file of hash `hash`.
    fn record(simulated: bool, plan: &str, hash: &str) -> Vec<u8> {
        format!(
            r#"{{"schema":4,"phone":{{"imei":"1","model":"PX7","serial":"S1"}},"jig":{{"port":"/dev/pts/3","serial":"SIM-0001","firmware":"0.1.0","simulated":{simulated}}},"slot":0,"operator":"alice","started":"2026-11-23T10:00:00Z","finished":"2026-11-23T10:00:00Z","status":"complete","plan":{{"id":"{plan}","version":"1.0.0","hash":"{hash}"}},"steps":[],"grade":{{"functional":0,"r2_functional":"F6","disposition":"resale"}}}}"#
        )
        .into_bytes()
    }

    fn pending(simulated: bool, plan: &str, hash: &str) -> Pending {
        Pending::new(record(simulated, plan, hash)).unwrap()
    }

    #[tokio::test]
    async fn a_refused_record_costs_the_others_of_its_batch_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Use::Write).unwrap();
        let (writer, finished) = crate::store::Writer::start(store).unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let w = writer.clone();
                tokio::spawn(async move { w.commit(pending(i % 2 == 1, "p", A)).await })
            })
            .collect();
        let mut stored = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(_) => {
                    assert_eq!(i % 2, 0);
                    stored += 1;
                }
                Err(e) => assert!(matches!(e, StoreError::Refused(_)), "{e}"),
            }
        }
        assert_eq!(stored, 4);
        // The writer goes on after a refusal.
        assert_eq!(writer.commit(pending(false, "p", A)).await.unwrap().seq, 5);
        drop(writer);
        assert_eq!(finished.wait().records, 5);
    }

    #[test]
    fn a_production_store_refuses_a_simulated_jig_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), Use::Write).unwrap();
        assert!(!s.training().unwrap());
        let e = s
            .append(vec![pending(false, "p", A), pending(true, "p", A)])
            .unwrap_err();
        assert!(matches!(
            e,
            StoreError::Refused(Refusal::Simulated { ref jig, .. }) if jig == "SIM-0001"
        ));
        let text = e.to_string();
        assert!(text.contains("production store"), "{text}");
        assert!(text.contains("--training-store"), "{text}");
        assert_eq!(s.head(), None);
        assert_eq!(s.pinned_plan("p", "1.0.0").unwrap(), None);
        assert!(s.admits_simulated("SIM-0001").is_err());
    }

    #[test]
    fn a_new_store_becomes_a_training_store_for_good_and_a_production_one_with_records_never_does()
    {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = Store::open(dir.path(), Use::Write).unwrap();
            s.make_training().unwrap();
            s.append(vec![pending(true, "p", A)]).unwrap();
            s.make_training().unwrap();
        }
        let s = Store::open(dir.path(), Use::Write).unwrap();
        assert!(s.training().unwrap());

        let prod = tempfile::tempdir().unwrap();
        let mut s = Store::open(prod.path(), Use::Write).unwrap();
        s.append(vec![pending(false, "p", A)]).unwrap();
        let e = s.make_training().unwrap_err();
        assert!(matches!(
            e,
            StoreError::Refused(Refusal::Production { records: 1, .. })
        ));
        assert!(!s.training().unwrap());
    }

    #[test]
    fn a_plan_id_and_version_keep_the_file_they_were_first_recorded_with() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), Use::Write).unwrap();
        assert!(s.admits_plan("p", "1.0.0", B).is_ok());
        // Two files in one batch: refused as a whole.
        assert!(s
            .append(vec![pending(false, "p", A), pending(false, "p", B)])
            .is_err());
        assert_eq!(s.head(), None);
        s.append(vec![pending(false, "p", A)]).unwrap();
        assert_eq!(s.pinned_plan("p", "1.0.0").unwrap().as_deref(), Some(A));
        s.append(vec![pending(false, "p", A), pending(false, "q", B)])
            .unwrap();
        let e = s.admits_plan("p", "1.0.0", B).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("aaaaaaaaaaaa") && text.contains("bbbbbbbbbbbb"),
            "{text}"
        );
        assert!(text.contains("Raise the plan's version"), "{text}");
        let e = s.append(vec![pending(false, "p", B)]).unwrap_err();
        assert!(matches!(
            e,
            StoreError::Refused(Refusal::PlanChanged { ref pinned, ref given, .. })
                if pinned == "aaaaaaaaaaaa" && given == "bbbbbbbbbbbb"
        ));
        assert_eq!(s.head().map(|h| h.seq), Some(3));
        drop(s);
        let s = Store::open(dir.path(), Use::Read).unwrap();
        assert_eq!(s.pinned_plan("q", "1.0.0").unwrap().as_deref(), Some(B));
    }

    #[test]
    fn a_schema_3_store_pins_the_plan_of_its_first_record() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = raw_db(dir.path()).unwrap();
            let records = db.open_tree("records").unwrap();
            let mut prev = GENESIS;
            for (i, hash) in [A, B].iter().enumerate() {
                let seq = i as u64 + 1;
                let body = String::from_utf8(record(false, "p", hash))
                    .unwrap()
                    .replace(r#""schema":4"#, r#""schema":3"#)
                    .replace(r#","simulated":false"#, "");
                let e = Entry::new(seq, prev, body.into_bytes());
                prev = e.hash;
                records.insert(seq_key(seq), e.encode().unwrap()).unwrap();
            }
            let meta = db.open_tree("meta").unwrap();
            let mut head = seq_key(2).to_vec();
            head.extend_from_slice(&prev);
            meta.insert(META_HEAD, head).unwrap();
            meta.insert(META_SCHEMA, &3u16.to_be_bytes()[..]).unwrap();
            db.flush().unwrap();
        }
        let s = Store::open(dir.path(), Use::Read).unwrap();
        assert_eq!(s.pinned_plan("p", "1.0.0").unwrap().as_deref(), Some(A));
        assert!(!s.training().unwrap());
    }

    #[test]
    fn the_training_directory_is_a_sibling_of_the_production_one() {
        assert_eq!(
            sibling(Path::new("/var/lib/benchline"), "-training"),
            PathBuf::from("/var/lib/benchline-training")
        );
        assert_eq!(
            sibling(Path::new("benchline-data"), "-training"),
            PathBuf::from("benchline-data-training")
        );
        assert_eq!(
            sibling(Path::new("/"), "-training"),
            PathBuf::from("/benchline-training")
        );
    }

    #[test]
    fn plan_keys_do_not_run_into_each_other() {
        assert_ne!(plan_key("a", "b1.0"), plan_key("ab", "1.0"));
        assert!(plan_key("standard-refurb", "2.0.0").starts_with(PLAN_PIN));
    }

    #[test]
    fn short_hashes_are_twelve_digits() {
        assert_eq!(short_hash("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_hash("abc"), "abc");
    }
}
