//! Group commit: one thread owns the store; slots hand it records and wait until they are on
//! disk. Whatever arrived while the previous batch was being flushed goes into the next one, so
//! sixteen slots finishing together cost one fsync, not sixteen.

use tokio::sync::{mpsc, oneshot};

use super::{Pending, Store, StoreError, Stored};

/// Most records in one batch.
pub const MAX_BATCH: usize = 256;

struct Job {
    pending: Pending,
    reply: oneshot::Sender<Result<Stored, StoreError>>,
}

/// Counts of a writer's work.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriterStats {
    /// Records committed.
    pub records: u64,
    /// Transactions (each one flush).
    pub batches: u64,
}

/// A handle to the writer thread; cheap to clone. The thread (and the store with its lock)
/// goes away when the last handle is dropped and every queued record is written.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Job>,
    dir: std::sync::Arc<std::path::Path>,
    /// Reads the store's policy ([`super::policy`]) for the run.
    reader: super::Reader,
    /// The head after each commit (for the plant's replication, [`Writer::commits`]).
    commits: tokio::sync::watch::Receiver<Option<Stored>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// Waits for the writer thread to end (after every handle is dropped).
pub struct Finished(std::thread::JoinHandle<WriterStats>);

impl Finished {
    /// Blocks until the last batch is written and the store closed; returns the counts.
    pub fn wait(self) -> WriterStats {
        self.0.join().unwrap_or_default()
    }
}

impl Writer {
    /// Starts the writer thread on an open store.
    pub fn start(store: Store) -> Result<(Writer, Finished), StoreError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let path: std::sync::Arc<std::path::Path> = store.dir().into();
        let dir = store.dir().display().to_string();
        let reader = store.shared_reader();
        let (head_tx, commits) = tokio::sync::watch::channel(store.head());
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(store, rx, head_tx))
            .map_err(|e| StoreError::Io {
                dir,
                what: "cannot start the writer thread".into(),
                detail: e.to_string(),
                hint: "the machine is out of threads or memory",
            })?;
        Ok((
            Writer {
                tx,
                dir: path,
                reader,
                commits,
            },
            Finished(thread),
        ))
    }

    /// The store's data directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Refuses records of the simulated jig `jig` unless the store is a training store.
    pub fn admits_simulated(&self, jig: &str) -> Result<(), StoreError> {
        self.reader.admits_simulated(jig)
    }

    /// The store's head, changed after every commit: a task that follows the store (the
    /// plant's replication) wakes on it without being in the commit's way.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<Option<Stored>> {
        self.commits.clone()
    }

    /// Commits one record; returns once it is durably on disk.
    pub async fn commit(&self, pending: Pending) -> Result<Stored, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { pending, reply })
            .map_err(|_| StoreError::Closed)?;
        answer.await.unwrap_or(Err(StoreError::Closed))
    }
}

fn run(
    mut store: Store,
    mut rx: mpsc::UnboundedReceiver<Job>,
    head: tokio::sync::watch::Sender<Option<Stored>>,
) -> WriterStats {
    let mut stats = WriterStats::default();
    // After a failed write the store's state on disk is the last good batch; nothing more is
    // accepted, so no record is ever reported stored that is not.
    let mut failed: Option<StoreError> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if let Some(e) = &failed {
            for j in jobs {
                let _ = j.reply.send(Err(e.clone()));
            }
            continue;
        }
        let (batch, replies): (Vec<Pending>, Vec<_>) =
            jobs.into_iter().map(|j| (j.pending, j.reply)).unzip();
        // Kept to retry one by one if the store's policy refuses the batch.
        let retry = (batch.len() > 1).then(|| batch.clone());
        match store.append(batch) {
            Ok(stored) => {
                stats.records += stored.len() as u64;
                stats.batches += 1;
                for (reply, s) in replies.into_iter().zip(stored) {
                    let _ = reply.send(Ok(s));
                }
                head.send_replace(store.head());
            }
            // A refused record (a simulated jig, a changed plan) changes nothing on disk and
            // must not cost the other slots theirs: the batch goes again, record by record.
            Err(StoreError::Refused(refusal)) => match retry {
                Some(batch) => {
                    for (pending, reply) in batch.into_iter().zip(replies) {
                        if let Some(e) = &failed {
                            let _ = reply.send(Err(e.clone()));
                            continue;
                        }
                        let r = store.append(vec![pending]);
                        if let Ok(stored) = &r {
                            stats.records += stored.len() as u64;
                            stats.batches += 1;
                            head.send_replace(store.head());
                        }
                        let r = r.and_then(|mut s| s.pop().ok_or(StoreError::Closed));
                        if let Err(e) = &r {
                            tracing::error!("{e}");
                            if !matches!(e, StoreError::Refused(_)) {
                                failed.get_or_insert(e.clone());
                            }
                        }
                        let _ = reply.send(r);
                    }
                }
                None => {
                    tracing::error!("{refusal}");
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Refused(refusal.clone())));
                    }
                }
            },
            Err(e) => {
                tracing::error!("{e}");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
                failed = Some(e);
            }
        }
    }
    stats
}
