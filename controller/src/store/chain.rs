//! The one check of the hash chain, used by every read: `verify` walks it all, `export` and
//! `history` check each record they serve, and a run checks it before it appends.
//!
//! A record is sound when its stored hash is [`chain_hash`] of what it holds and its `prev` is
//! the stored hash of the record before it ([`GENESIS`] for record 1). Records read in sequence
//! order ([`walk`], [`walk_map`]) are checked against the one before, as they stream: one thread
//! reads them in key order, a worker per core decompresses and hashes batches of them (and
//! makes what the caller asks of each, [`walk_map`]: an export's rows), and the caller's thread
//! takes the batches back in order, checks each record's link and hands it on, with bounded
//! channels between them so memory stays flat; a record read on its own
//! ([`Reader::get_checked`], as exports by time and history read them) against the stored hash
//! of the record before it, read without decompressing its body ([`stored_hash`]).
//!
//! The `meta` tree keeps the last head that was verified in full (`verified`, laid out like
//! `head`): written by a full `verify` and by the check a run makes before it appends. A store
//! that no longer holds that head was cut or rewritten since, even if its chain looks whole.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};

use super::entry::{chain_hash, key_seq, seq_key};
use super::{hex, Entry, Hash, Reader, StoreError, Stored, GENESIS};

/// Key of the last head verified in full in the `meta` tree (sequence number, big endian, then
/// the hash, as `head`).
pub const META_VERIFIED: &[u8] = b"verified";

/// Records handed from the reading thread to a worker at a time.
const BATCH: usize = 128;
/// Batches read ahead of the consumer (bounds memory: each holds up to 128 records of about
/// 8 KB of JSON, with what the caller made of them).
const IN_FLIGHT: usize = 4;
/// Most threads that decompress and hash at once.
const MOST_WORKERS: usize = 8;

/// How far a long read has come: records done of a total (for a progress bar).
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// A counter at zero.
    pub const fn new() -> Progress {
        Progress {
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// Records done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Records the read will go through (0 until it knows).
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Sets the total.
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// Counts records done.
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}

/// How far the check before appending ([`check_before_append`], run as a store is opened for
/// writing) has come, for a front end to show while a large store is checked.
pub static BEFORE_APPEND: Progress = Progress::new();

/// A record read in chain order, with what is wrong with its place in the chain.
#[derive(Debug)]
pub struct Item {
    /// Sequence number (of the first missing one, for a gap).
    pub seq: u64,
    /// True for a gap: records from `seq` on are missing.
    pub missing: bool,
    /// The record (`None`: missing or unreadable).
    pub entry: Option<Entry>,
    /// What is wrong, in the words of a report ("record N ..."); empty: the record is sound.
    pub problems: Vec<String>,
}

impl Item {
    /// The record, if nothing is wrong with it.
    pub fn sound(self) -> Result<(u64, Entry), (u64, String)> {
        match (self.entry, self.problems.into_iter().next()) {
            (Some(e), None) => Ok((self.seq, e)),
            (_, Some(what)) => Err((self.seq, what)),
            (None, None) => Err((self.seq, "is missing".into())),
        }
    }
}

/// What is wrong with a record whose stored hash or link does not hold, or `None`.
fn link_problem(seq: u64, expected_prev: &Hash, entry: &Entry) -> Option<String> {
    (*expected_prev != entry.prev).then(|| {
        if seq == 1 {
            format!(
                "does not start the chain: it names {} as the previous hash, so records before it were changed, removed or reordered",
                hex(&entry.prev)
            )
        } else {
            format!(
                "does not follow record {}: it names {} as the previous hash, so records before it were changed, removed or reordered",
                seq - 1,
                hex(&entry.prev)
            )
        }
    })
}

/// Whether a record's content matches its stored hash.
fn hash_problem(seq: u64, entry: &Entry) -> Option<String> {
    (chain_hash(&entry.prev, seq, &entry.body) != entry.hash).then(|| {
        "was changed after it was written: its content does not match its hash".to_string()
    })
}

/// The stored hash of an encoded record, read without decoding its body (postcard writes the
/// two fixed-size hashes first, byte for byte).
pub fn stored_hash(raw: &[u8]) -> Option<Hash> {
    raw.get(32..64)?.try_into().ok()
}

/// The stored `prev` of an encoded record (the hash of the record it follows), read the same
/// way.
pub fn stored_prev(raw: &[u8]) -> Option<Hash> {
    raw.get(..32)?.try_into().ok()
}

/// Checks one record against the stored hash of the record before it (`None`: unknown, after
/// a gap or an unreadable record): every problem, in report order.
pub fn problems(seq: u64, expected_prev: Option<&Hash>, entry: &Entry) -> Vec<String> {
    expected_prev
        .and_then(|p| link_problem(seq, p, entry))
        .into_iter()
        .chain(hash_problem(seq, entry))
        .collect()
}

/// Reads records `1..=top` in sequence order, each checked against the one before it: the
/// reading, decompressing and hashing happen on other threads while `each` runs on this one.
/// Gaps come as items without an entry. Stops at the first error `each` returns.
pub fn walk<E: From<StoreError>>(
    reader: &Reader,
    top: u64,
    progress: &Progress,
    mut each: impl FnMut(Item) -> Result<(), E>,
) -> Result<(), E> {
    walk_map(reader, top, progress, |_, _| (), |item, _| each(item))
}

/// [`walk`], with `map` run on every record that decodes, on the threads that decompress and
/// hash it (as many as the machine has cores): `each` gets each item in sequence order, with
/// what `map` made of its record. `map` sees records before their link to the one before is
/// checked, so what it makes must only be used once `each` finds the item sound.
pub fn walk_map<T: Send, E: From<StoreError>>(
    reader: &Reader,
    top: u64,
    progress: &Progress,
    map: impl Fn(u64, &Entry) -> T + Sync,
    mut each: impl FnMut(Item, Option<T>) -> Result<(), E>,
) -> Result<(), E> {
    if top == 0 {
        return Ok(());
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, MOST_WORKERS);
    // Batches go to the workers through `jobs`; the receiving end of each batch's answer goes,
    // in sequence order, through `order` to this thread, which takes the answers in that order.
    let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job<T>>(workers);
    let jobs_rx = Mutex::new(jobs_rx);
    let (order_tx, order_rx) = mpsc::sync_channel::<Result<Answer<T>, StoreError>>(IN_FLIGHT);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| work(&jobs_rx, &map));
        }
        scope.spawn(move || read(reader, top, &jobs_tx, &order_tx));
        // The stored hash of the record before the next one (`None`: unknown, after a gap or
        // an unreadable record).
        let mut prev: Option<Hash> = Some(GENESIS);
        for answer in order_rx {
            // A worker that is gone without answering panicked: the scope passes it on.
            let Ok(batch) = answer?.recv() else { break };
            let n = batch.len() as u64;
            for done in batch {
                let (item, made) = link(done, &mut prev);
                each(item, made)?;
            }
            progress.add(n);
        }
        Ok(())
    })
    // Leaving the scope drops `order_rx` first, so a reader blocked on a full channel sees it
    // closed and stops, and then the workers find no more jobs.
}

/// A batch for a worker, and where its answer goes.
type Job<T> = (Vec<Raw>, mpsc::SyncSender<Vec<Done<T>>>);
/// Where the answer to one batch comes from.
type Answer<T> = mpsc::Receiver<Vec<Done<T>>>;

/// What the reading thread hands on: a record as stored, or an item it made itself (a gap,
/// records missing at the end, records that cannot be read).
enum Raw {
    Record(u64, sled::IVec),
    Made(Item),
}

/// A record decoded, hashed and mapped by a worker, not yet checked against the one before.
enum Done<T> {
    Record {
        seq: u64,
        decoded: Result<(Entry, Option<String>, T), Unreadable>,
    },
    Made(Item),
}

/// A record that does not decode: why, and its stored hash if that much reads.
struct Unreadable {
    why: String,
    stored: Option<Hash>,
}

/// A worker: decodes, hashes and maps the records of one batch after another.
fn work<T>(jobs: &Mutex<mpsc::Receiver<Job<T>>>, map: &(impl Fn(u64, &Entry) -> T + Sync)) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((batch, answer)) = job else { return };
        let done = batch
            .into_iter()
            .map(|raw| match raw {
                Raw::Record(seq, v) => Done::Record {
                    seq,
                    decoded: match Entry::decode(&v) {
                        Ok(entry) => {
                            let hash = hash_problem(seq, &entry);
                            let made = map(seq, &entry);
                            Ok((entry, hash, made))
                        }
                        Err(e) => Err(Unreadable {
                            why: e.to_string(),
                            stored: stored_hash(&v),
                        }),
                    },
                },
                Raw::Made(item) => Done::Made(item),
            })
            .collect();
        // The consumer may have stopped: nobody waits for this answer any more.
        let _ = answer.send(done);
    }
}

/// Checks a record against the stored hash of the one before it (`prev`, which becomes this
/// record's): the item in report order (its link, then its hash), with what `map` made.
fn link<T>(done: Done<T>, prev: &mut Option<Hash>) -> (Item, Option<T>) {
    match done {
        Done::Record {
            seq,
            decoded: Ok((entry, hash, made)),
        } => {
            let problems = prev
                .as_ref()
                .and_then(|p| link_problem(seq, p, &entry))
                .into_iter()
                .chain(hash)
                .collect();
            *prev = Some(entry.hash);
            let item = Item {
                seq,
                missing: false,
                entry: Some(entry),
                problems,
            };
            (item, Some(made))
        }
        Done::Record {
            seq,
            decoded: Err(u),
        } => {
            *prev = u.stored;
            let item = Item {
                seq,
                missing: false,
                entry: None,
                problems: vec![format!("is unreadable: {}", u.why)],
            };
            (item, None)
        }
        Done::Made(item) => {
            *prev = None;
            (item, None)
        }
    }
}

/// The reading side of [`walk_map`]: reads records in key order up to `top` and hands them on
/// in batches, until the consumer is gone.
fn read<T>(
    reader: &Reader,
    top: u64,
    jobs: &mpsc::SyncSender<Job<T>>,
    order: &mpsc::SyncSender<Result<Answer<T>, StoreError>>,
) {
    // Hands a batch to the workers and its answer to the consumer; false once they are gone.
    let hand_on = |batch: Vec<Raw>| {
        let (answer_tx, answer_rx) = mpsc::sync_channel(1);
        jobs.send((batch, answer_tx)).is_ok() && order.send(Ok(answer_rx)).is_ok()
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut next = 1u64;
    for kv in reader.records.range(seq_key(1)..=seq_key(top)) {
        let (k, v) = match kv {
            Ok(kv) => kv,
            Err(e) => {
                // Damaged database files: name where the readable chain ends.
                let detail = match reader.db_error("reading records")(e) {
                    StoreError::Db { detail, .. } => detail,
                    other => other.to_string(),
                };
                batch.push(Raw::Made(Item {
                    seq: next,
                    missing: true,
                    entry: None,
                    problems: vec![format!("and the records after it cannot be read: {detail}")],
                }));
                hand_on(batch);
                return;
            }
        };
        // Looking the key up again, through the tree's page cache rather than the
        // iterator's copy of the page, keeps sled's memory flat: without it, sled's memory
        // grew to 390 MB over 1,000,000 records (130 MB with it, most of it taken at opening);
        // it costs about 1% of the time.
        if let Err(e) = reader.records.contains_key(&k) {
            let _ = order.send(Err(reader.db_error("reading records")(e)));
            return;
        }
        // Keys that are not 8 bytes are not records ([`verify`] reports them).
        let Some(seq) = (k.len() == 8).then(|| key_seq(&k)).flatten() else {
            continue;
        };
        if seq > next {
            batch.push(Raw::Made(gap(next, seq)));
        }
        next = seq + 1;
        batch.push(Raw::Record(seq, v));
        if batch.len() >= BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if !hand_on(full) {
                return;
            }
        }
    }
    if next <= top {
        // The head names records that are not there.
        let what = if next == top {
            "is missing at the end: the store's head names it".to_string()
        } else {
            format!("to {top} are missing at the end: the store's head names record {top}")
        };
        batch.push(Raw::Made(Item {
            seq: next,
            missing: true,
            entry: None,
            problems: vec![what],
        }));
    }
    if !batch.is_empty() {
        hand_on(batch);
    }
}

/// Records `first..next` are missing.
fn gap(first: u64, next: u64) -> Item {
    let what = if next - first == 1 {
        format!("is missing (record {} follows {})", next, first - 1)
    } else {
        format!("to {} are missing ({} records)", next - 1, next - first)
    };
    Item {
        seq: first,
        missing: true,
        entry: None,
        problems: vec![what],
    }
}

/// What is wrong at the end of a chain whose head is `head` and whose last record read is
/// `last`, with `beyond` the highest record key (records after the head).
pub fn end_problem(
    head: Option<Stored>,
    last: Option<Stored>,
    beyond: u64,
) -> Option<(u64, String)> {
    let head_seq = head.map_or(0, |h| h.seq);
    match (head, last) {
        (Some(h), Some(l)) if h.seq > l.seq => Some((
            l.seq + 1,
            if h.seq == l.seq + 1 {
                "is missing at the end: the store's head names it".to_string()
            } else {
                format!(
                    "to {} are missing at the end: the store's head names record {}",
                    h.seq, h.seq
                )
            },
        )),
        (Some(h), None) => Some((
            1,
            format!(
                "to {} are missing: the store's head names record {} but no record is left",
                h.seq, h.seq
            ),
        )),
        (Some(h), Some(l)) if l.seq > h.seq => Some((
            h.seq + 1,
            format!(
                "and later records up to {} are not in the chain: the store's head is record {}",
                l.seq, h.seq
            ),
        )),
        (Some(h), Some(l)) if h != l => Some((
            l.seq,
            format!("is not the record the store's head names ({h})"),
        )),
        (None, Some(l)) => Some((l.seq, "follows no head: the store's head is missing".into())),
        (None, None) if beyond > 0 => Some((
            1,
            format!("and later records up to {beyond} follow no head: the store's head is missing"),
        )),
        _ if beyond > head_seq => Some((
            head_seq + 1,
            format!(
                "and later records up to {beyond} are not in the chain: the store's head is record {head_seq}"
            ),
        )),
        _ => None,
    }
}

/// What is wrong with the last head verified in full, as this store holds it now, or `None`.
pub fn verified_problem(reader: &Reader) -> Result<Option<(u64, String)>, StoreError> {
    let Some(v) = reader.verified_head()? else {
        return Ok(None);
    };
    Ok(match reader.get_raw(v.seq)? {
        Some(raw) if stored_hash(&raw) == Some(v.hash) => None,
        Some(raw) => Some((
            v.seq,
            format!(
                "is not the record verified earlier: its hash is {}, the last verified head was {v}, so the chain was rewritten since",
                stored_hash(&raw).map_or_else(|| "unreadable".into(), |h| hex(&h))
            ),
        )),
        None => Some((
            v.seq,
            format!(
                "is missing, but it was verified earlier (last verified head {v}): the chain was cut since"
            ),
        )),
    })
}

/// Checks the whole chain before records are appended: every record up to the head sound and
/// linked, nothing after the head, the last verified head still held. Then records the head
/// as verified. The error names the first bad record.
pub(super) fn check_before_append(reader: &Reader) -> Result<Option<Stored>, StoreError> {
    let head = reader.current_head()?;
    let broken = |(seq, what): (u64, String)| StoreError::Broken {
        dir: reader.dir.display().to_string(),
        seq,
        what,
        stopped: "benchctl adds no record to it",
    };
    let beyond = reader.last_seq()?;
    let mut last = None;
    let progress = &BEFORE_APPEND;
    progress.done.store(0, Ordering::Relaxed);
    progress.set_total(head.map_or(0, |h| h.seq));
    walk(reader, head.map_or(0, |h| h.seq), progress, |item| {
        let (seq, entry) = item.sound().map_err(broken)?;
        last = Some(Stored {
            seq,
            hash: entry.hash,
        });
        Ok::<_, StoreError>(())
    })?;
    if let Some(p) = end_problem(head, last, beyond) {
        return Err(broken(p));
    }
    if let Some(p) = verified_problem(reader)? {
        return Err(broken(p));
    }
    reader.set_verified(head)?;
    Ok(head)
}

impl Reader {
    /// The record with this sequence number, checked: its content matches its hash, its
    /// `prev` is the stored hash of the record before it, and the record after it follows it
    /// (or, when it is the last, the head names it), so a record rewritten with its own hash
    /// recomputed is caught too. `Ok(None)`: no such record.
    pub fn get_checked(&self, seq: u64) -> Result<Option<Entry>, StoreError> {
        let broken = |what: String| StoreError::Broken {
            dir: self.dir.display().to_string(),
            seq,
            what,
            stopped: "the read stopped at it",
        };
        let Some(raw) = self.get_raw(seq)? else {
            return Ok(None);
        };
        let entry = Entry::decode(&raw).map_err(|e| broken(format!("is unreadable: {e}")))?;
        let prev = if seq <= 1 {
            GENESIS
        } else {
            match self.get_raw(seq - 1)? {
                Some(raw) => stored_hash(&raw).ok_or_else(|| {
                    broken(format!("follows record {}, which is unreadable", seq - 1))
                })?,
                None => {
                    return Err(broken(format!(
                        "follows record {}, which is missing",
                        seq - 1
                    )))
                }
            }
        };
        if let Some(what) = problems(seq, Some(&prev), &entry).into_iter().next() {
            return Err(broken(what));
        }
        match self.get_raw(seq + 1)? {
            Some(next) if stored_prev(&next) != Some(entry.hash) => Err(broken(format!(
                "is not the record that record {} follows: one of the two was changed after it was written",
                seq + 1
            ))),
            Some(_) => Ok(Some(entry)),
            // The last record: the head must name it (a head that moved on meanwhile names a
            // record appended after this read began).
            None => match self.current_head()? {
                Some(h) if h.seq == seq && h.hash != entry.hash => Err(broken(
                    "is not the record the store's head names: it was changed after it was written"
                        .to_string(),
                )),
                _ => Ok(Some(entry)),
            },
        }
    }

    /// The highest record sequence number (0: none; keys that are not 8 bytes are skipped).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        for k in self.records.range(..=seq_key(u64::MAX)).keys().rev() {
            let k = k.map_err(self.db_error("reading records"))?;
            if k.len() == 8 {
                return Ok(key_seq(&k).unwrap_or(0));
            }
        }
        Ok(0)
    }

    /// The last head verified in full (`None`: never verified, or the store was empty).
    pub fn verified_head(&self) -> Result<Option<Stored>, StoreError> {
        let v = self
            .meta
            .get(META_VERIFIED)
            .map_err(self.db_error("reading its last verified head"))?;
        match v {
            None => Ok(None),
            Some(v) => match (key_seq(v.get(..8).unwrap_or_default()), v.get(8..)) {
                (Some(seq), Some(hash)) if v.len() == 40 => Ok(Some(Stored {
                    seq,
                    hash: hash.try_into().unwrap_or(GENESIS),
                })),
                _ => Err(StoreError::Db {
                    dir: self.dir.display().to_string(),
                    what: "reading its last verified head",
                    detail: "the verified head is not 40 bytes".into(),
                }),
            },
        }
    }

    /// Records `head` as verified in full (nothing for an empty store).
    pub fn set_verified(&self, head: Option<Stored>) -> Result<(), StoreError> {
        let Some(h) = head else {
            return Ok(());
        };
        let mut v = seq_key(h.seq).to_vec();
        v.extend_from_slice(&h.hash);
        self.meta
            .insert(META_VERIFIED, v)
            .map_err(self.db_error("recording its verified head"))?;
        self.meta
            .flush()
            .map_err(self.db_error("recording its verified head"))?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{Pending, Store, Use};
    use super::*;

    /// The JSON of a small record.
    fn record(i: u64) -> Vec<u8> {
        format!(
            r#"{{"schema":3,"phone":{{"imei":"35{i:013}","model":"PX7","serial":"S{i}"}},"jig":{{"port":"/dev/ttyACM0","serial":"J1","firmware":"1.0.0"}},"slot":0,"operator":"alice","started":"2026-11-23T10:00:00Z","finished":"2026-11-23T10:00:{:02}Z","status":"complete","plan":{{"id":"standard","version":"1","hash":"00"}},"steps":[],"grade":{{"functional":0,"r2_functional":"F6","disposition":"resale"}}}}"#,
            i % 60
        )
        .into_bytes()
    }

    /// An open store of `n` records (tests use the handle that wrote them: sled may still
    /// hold a closed database's files for a moment, so reopening at once can fail).
    fn filling(n: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), Use::Write).unwrap();
        s.append((1..=n).map(|i| Pending::new(record(i)).unwrap()).collect())
            .unwrap();
        (dir, s)
    }

    /// Changes record `seq` behind the store's back, as someone editing its files would: its
    /// body (and, with `rehash`, its hash to match).
    fn tamper(s: &Store, seq: u64, rehash: bool) {
        let records = &s.reader.records;
        let mut e = Entry::decode(&records.get(seq_key(seq)).unwrap().unwrap()).unwrap();
        e.body = String::from_utf8(e.body)
            .unwrap()
            .replace("resale", "parts")
            .into_bytes();
        if rehash {
            e.hash = chain_hash(&e.prev, seq, &e.body);
        }
        records.insert(seq_key(seq), e.encode().unwrap()).unwrap();
    }

    fn all(reader: &Reader, top: u64) -> Vec<Item> {
        let mut out = Vec::new();
        walk(reader, top, &Progress::default(), |i| {
            out.push(i);
            Ok::<_, StoreError>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn the_stored_hash_is_read_without_decoding_the_body() {
        let e = Entry::new(3, [7; 32], record(3));
        assert_eq!(stored_hash(&e.encode().unwrap()), Some(e.hash));
        assert_eq!(stored_hash(&[0; 10]), None);
    }

    #[test]
    fn a_walk_checks_every_record_against_the_one_before_and_counts_progress() {
        let (_dir, s) = filling(300);
        let progress = Progress::default();
        let mut seqs = Vec::new();
        walk(&s, 300, &progress, |i| {
            assert!(i.problems.is_empty(), "{:?}", i.problems);
            seqs.push(i.seq);
            Ok::<_, StoreError>(())
        })
        .unwrap();
        assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
        assert_eq!(progress.done(), 300);
        // A walk stops at the first error its consumer returns.
        let mut seen = 0;
        let e = walk(&s, 300, &progress, |i| {
            seen += 1;
            if i.seq == 5 {
                return Err(StoreError::Closed);
            }
            Ok(())
        });
        assert!(matches!(e, Err(StoreError::Closed)));
        assert_eq!(seen, 5);

        tamper(&s, 4, false);
        let items = all(&s, 300);
        let bad: Vec<(u64, &str)> = items
            .iter()
            .flat_map(|i| i.problems.iter().map(move |p| (i.seq, p.as_str())))
            .collect();
        assert_eq!(
            bad,
            [(
                4,
                "was changed after it was written: its content does not match its hash"
            )]
        );
        tamper(&s, 4, true);
        let items = all(&s, 300);
        let bad: Vec<u64> = items
            .iter()
            .filter(|i| !i.problems.is_empty())
            .map(|i| i.seq)
            .collect();
        assert_eq!(bad, [5]);
        assert!(items[4].problems[0].starts_with("does not follow record 4"));
        // A gap, and records missing at the end.
        s.reader.records.remove(seq_key(7)).unwrap();
        let items = all(&s, 302);
        assert_eq!(items[6].problems, ["is missing (record 8 follows 6)"]);
        assert_eq!(
            items.last().unwrap().problems,
            ["to 302 are missing at the end: the store's head names record 302"]
        );
    }

    #[test]
    fn a_record_read_on_its_own_is_checked_against_the_stored_hash_before_it() {
        let (_dir, s) = filling(6);
        tamper(&s, 3, true);
        // Record 2 is sound, and record 3 names it.
        assert!(s.get_checked(2).unwrap().is_some());
        // Record 3 was rehashed: it holds on its own, but record 4 no longer follows it,
        // whichever of the two is read.
        let e = s.get_checked(3).unwrap_err();
        assert!(
            matches!(&e, StoreError::Broken { seq: 3, what, .. } if what.starts_with("is not the record that record 4 follows")),
            "{e}"
        );
        let e = s.get_checked(4).unwrap_err();
        assert!(
            matches!(&e, StoreError::Broken { seq: 4, what, .. } if what.starts_with("does not follow record 3")),
            "{e}"
        );
        assert!(
            e.to_string().contains("keep the directory unchanged"),
            "{e}"
        );
        assert!(s.get_checked(7).unwrap().is_none());
        // The last record, rehashed, is not the one the head names.
        tamper(&s, 6, true);
        let e = s.get_checked(6).unwrap_err();
        assert!(
            matches!(&e, StoreError::Broken { seq: 6, what, .. } if what.starts_with("is not the record the store's head names")),
            "{e}"
        );
    }

    #[test]
    fn a_run_does_not_append_to_a_chain_broken_midway_and_appends_nothing() {
        let (_dir, s) = filling(10);
        tamper(&s, 4, false);
        // What `Store::open` runs for a writer (end to end: `tests/e2e/audit.rs`).
        let e = check_before_append(&s.reader).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("record 4 was changed after it was written"),
            "{text}"
        );
        assert!(text.contains("benchctl adds no record to it"), "{text}");
        assert!(
            text.contains("restore the records from the last export or backup"),
            "{text}"
        );
        // (That nothing was appended is checked end to end, `tests/e2e/audit.rs`.)
    }

    #[test]
    fn the_head_verified_before_a_run_must_still_be_held() {
        let (_dir, s) = filling(6);
        // The check before a run records the head it verified.
        assert_eq!(check_before_append(&s.reader).unwrap(), s.head());
        assert_eq!(s.verified_head().unwrap(), s.head());
        // Cut the chain to 4 records and make the head match: the chain alone looks whole.
        let records = &s.reader.records;
        let four = stored_hash(&records.get(seq_key(4)).unwrap().unwrap()).unwrap();
        records.remove(seq_key(5)).unwrap();
        records.remove(seq_key(6)).unwrap();
        let mut h = seq_key(4).to_vec();
        h.extend_from_slice(&four);
        s.reader.meta.insert("head", h).unwrap();
        let e = check_before_append(&s.reader).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("record 6 is missing, but it was verified earlier"),
            "{text}"
        );
    }
}
