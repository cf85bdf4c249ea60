//! The replication of a station's records to the plant, as a task beside the line.
//!
//! One task owns its [`Plant`] connection. It wakes when the store commits (the writer's
//! [`crate::store::Writer::commits`]) or on a tick, reads the outbox (the records after the
//! plant's head, [`crate::store::outbox`]) from the store's shared reader, pushes them in
//! batches of [`outbox::BATCH`], each one transaction, stores the plant's new head as the
//! watermark, and heartbeats the local head so the plant's lag view is current. Its status
//! (backlog, records pushed, last error, lag: [`Replication`]) is published on a watch
//! channel; the run turns it into [`crate::run::LineEvent::Plant`].
//!
//! The line never waits on it: the run's commit path only sends the new head on a watch
//! channel, which never blocks. An error (the plant down, a timeout, a refused login) drops
//! the connection and backs off, 1 s doubling to 60 s, while the backlog grows; each outage
//! and each recovery is logged once. A fork (the plant holds another history for this
//! station) stops pushing for good and is published as [`PlantState::Refused`] (the run
//! raises an alarm). On connecting, the plant's own head for the station decides where the
//! outbox starts, so a lost watermark or a plant restored from a backup costs nothing but a
//! push of what it lacks; the plant skips records it already holds.
//!
//! At the end of a run, [`Replicator::finish`] tries a last push within a deadline and says
//! how many records remain in the outbox (`benchctl sync` pushes them).

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{Outgoing, Plant, PlantError, Pushed};
use crate::run::event::{PlantState, Replication};
use crate::store::{outbox, Reader, StoreError, Stored};

/// The first wait after an error.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between attempts.
pub const MOST_BACKOFF: Duration = Duration::from_secs(60);
/// How often the task wakes without a commit (heartbeat, lag).
pub const TICK: Duration = Duration::from_secs(5);

/// What to replicate, and where.
#[derive(Clone)]
pub struct Config {
    /// The plant's URL.
    pub url: String,
    /// This station's id.
    pub station: String,
    /// The store's shared reader.
    pub reader: Reader,
    /// The store's head after each commit (`None`: no line commits; the tick wakes the task).
    pub commits: Option<watch::Receiver<Option<Stored>>>,
    /// Most records per push.
    pub batch: usize,
    /// How often to wake without a commit.
    pub tick: Duration,
}

impl Config {
    /// Replicates the store of `reader` as `station` to the plant at `url`, with the default
    /// batch and tick.
    pub fn new(url: &str, station: &str, reader: Reader) -> Config {
        Config {
            url: url.to_string(),
            station: station.to_string(),
            reader,
            commits: None,
            batch: outbox::BATCH,
            tick: TICK,
        }
    }
}

/// Why a round of pushing stopped.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The plant failed or refused.
    #[error(transparent)]
    Plant(#[from] PlantError),
    /// The local store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The plant's head after a batch is short of the batch's last record.
    #[error("the plant's head for station {station} is record {got} after a push that ended at record {sent}; it is tried again")]
    Unconfirmed {
        /// The station.
        station: String,
        /// The plant's head.
        got: u64,
        /// The batch's last record.
        sent: u64,
    },
}

impl Failure {
    /// True when pushing must stop until a person acts (a fork, a refusal).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Failure::Plant(PlantError::Forked { .. } | PlantError::Refused { .. })
        )
    }
}

/// How the task is asked to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Run,
    /// One last push (whatever the backoff), then end.
    Finish,
}

/// A running replication task.
pub struct Replicator {
    status: watch::Receiver<Replication>,
    ending: watch::Sender<Ending>,
    task: tokio::task::JoinHandle<()>,
    reader: Reader,
}

impl Replicator {
    /// Starts the task on the current tokio runtime.
    pub fn start(config: Config) -> Replicator {
        let backlog = config
            .reader
            .watermark()
            .ok()
            .flatten()
            .map_or(0, |w| w.seq);
        let initial = Replication {
            backlog: config.reader.backlog(backlog).unwrap_or(0),
            confirmed: backlog,
            ..Replication::default()
        };
        let (status_tx, status) = watch::channel(initial);
        let (ending, ending_rx) = watch::channel(Ending::Run);
        let reader = config.reader.clone();
        let task = tokio::spawn(Task::new(config, status_tx).run(ending_rx));
        Replicator {
            status,
            ending,
            task,
            reader,
        }
    }

    /// The status, as it changes.
    pub fn status(&self) -> watch::Receiver<Replication> {
        self.status.clone()
    }

    /// Asks for a last push, waits for it at most `within`, and ends the task; returns the
    /// status at the end (its backlog is what remains in the outbox).
    pub async fn finish(mut self, within: Duration) -> Replication {
        let _ = self.ending.send(Ending::Finish);
        if tokio::time::timeout(within, &mut self.task).await.is_err() {
            self.task.abort();
            let _ = (&mut self.task).await;
        }
        let mut last = self.status.borrow().clone();
        // What the store holds now, past what the plant confirmed.
        if let Ok(b) = self.reader.backlog(last.confirmed) {
            last.backlog = b;
        }
        last
    }
}

/// The task's state.
struct Task {
    config: Config,
    status: watch::Sender<Replication>,
    shown: String,
    plant: Option<Plant>,
    /// The plant's identity, once connected.
    identity: String,
    /// The plant's head for this station as last confirmed (`None`: not connected yet).
    confirmed: Option<u64>,
    backoff: Duration,
    retry_at: Option<Instant>,
    /// Since when there is a backlog the plant has not taken from.
    behind_since: Option<Instant>,
    /// When the current outage began (for the log).
    outage_since: Option<Instant>,
    /// The last error logged (a repeat is not logged again).
    logged: Option<String>,
    refused: bool,
}

impl Task {
    fn new(config: Config, status: watch::Sender<Replication>) -> Task {
        let shown = super::url::PlantUrl::parse(&config.url)
            .map(|u| u.shown)
            .unwrap_or_else(|_| "(the plant URL)".to_string());
        Task {
            config,
            status,
            shown,
            plant: None,
            identity: String::new(),
            confirmed: None,
            backoff: FIRST_BACKOFF,
            retry_at: None,
            behind_since: None,
            outage_since: None,
            logged: None,
            refused: false,
        }
    }

    async fn run(mut self, mut ending: watch::Receiver<Ending>) {
        let mut commits = self.config.commits.clone();
        loop {
            let finishing = *ending.borrow_and_update() == Ending::Finish;
            let due = self.retry_at.is_none_or(|t| Instant::now() >= t);
            if !self.refused && (due || finishing) {
                let outcome = self.round().await;
                self.after_round(outcome);
            } else {
                self.publish();
            }
            if finishing {
                return;
            }
            let wake = self
                .retry_at
                .unwrap_or_else(|| Instant::now() + self.config.tick);
            let committed = async {
                match commits.as_mut() {
                    Some(c) => {
                        if c.changed().await.is_err() {
                            // The writer is gone: nothing more is committed; the tick goes on.
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = ending.changed() => {}
                _ = committed => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Connects if needed, then pushes the outbox, batch by batch, and heartbeats.
    async fn round(&mut self) -> Result<(), Failure> {
        if self.plant.is_none() {
            self.connect().await?;
        }
        let Some(plant) = self.plant.take() else {
            return Ok(());
        };
        let result = self.push_all(&plant).await;
        if result.is_ok() {
            self.plant = Some(plant);
        }
        result
    }

    async fn connect(&mut self) -> Result<(), Failure> {
        let plant = Plant::connect(&self.config.url).await?;
        self.shown = plant.shown_url().to_string();
        self.identity = plant.identity().await?;
        let station = &self.config.station;
        let state = plant.state(station).await?;
        if let Some(refusal) = state.refusal {
            return Err(match state.fork {
                Some(f) => PlantError::Forked {
                    station: station.clone(),
                    plant_head: f.plant_head,
                    station_record: f.station_record,
                },
                None => PlantError::Refused {
                    station: station.clone(),
                    refusal,
                },
            }
            .into());
        }
        let reader = self.config.reader.clone();
        let Pushed {
            head_seq,
            head_hash,
        } = state.head;
        let identity = self.identity.clone();
        let (after, local) = blocking(move || {
            let local = reader.current_head()?.map_or(0, |h| h.seq);
            if head_seq == 0 {
                return Ok((0, local));
            }
            if head_seq > local {
                // The plant holds more than the store: the last record both hold is pushed
                // again and the rest as they come, so the plant compares them with its own
                // (the same history is skipped, another one is refused as a fork).
                return Ok((local.saturating_sub(1), local));
            }
            let held = reader
                .get_raw(head_seq)?
                .and_then(|raw| crate::store::chain::stored_hash(&raw));
            if held != Some(head_hash) {
                // Push from the contradicting record: the plant records the fork, naming
                // both heads.
                return Ok((head_seq - 1, local));
            }
            if reader.outbox_start(&identity)? != head_seq {
                reader.set_watermark(&outbox::Watermark {
                    seq: head_seq,
                    hash: head_hash,
                    plant: identity,
                })?;
            }
            Ok((head_seq, local))
        })
        .await?;
        if head_seq > local {
            tracing::warn!(
                "plant {}: the plant holds {head_seq} record(s) of station {station} and this store only {local}: the store was cut, replaced or restored from an old copy; its records are compared with the plant's as they are pushed, and the plant refuses a different history",
                self.shown
            );
        }
        self.confirmed = Some(after);
        self.plant = Some(plant);
        Ok(())
    }

    async fn push_all(&mut self, plant: &Plant) -> Result<(), Failure> {
        let station = self.config.station.clone();
        loop {
            let after = self.confirmed.unwrap_or(0);
            let reader = self.config.reader.clone();
            let most = self.config.batch;
            let batch = blocking(move || reader.outbox(after, most)).await?;
            let Some((last, last_hash)) = batch.last().map(|(s, e)| (*s, e.hash)) else {
                break;
            };
            let n = batch.len() as u64;
            let outgoing: Vec<Outgoing> = batch
                .into_iter()
                .map(|(seq, e)| Outgoing {
                    seq,
                    prev: e.prev,
                    hash: e.hash,
                    body: e.body,
                })
                .collect();
            let pushed = plant.push(&station, &outgoing).await?;
            drop(outgoing);
            // The plant may hold more than was sent (a store cut or restored): what was sent
            // matched its records, or the push would have failed as a fork.
            if pushed.head_seq < last || (pushed.head_seq == last && pushed.head_hash != last_hash)
            {
                return Err(Failure::Unconfirmed {
                    station,
                    got: pushed.head_seq,
                    sent: last,
                });
            }
            self.config.reader.set_watermark(&outbox::Watermark {
                seq: last,
                hash: last_hash,
                plant: self.identity.clone(),
            })?;
            self.confirmed = Some(last);
            self.behind_since = Some(Instant::now());
            self.status.send_modify(|s| s.pushed += n);
            self.publish();
        }
        let head = self.config.reader.current_head()?;
        plant
            .heartbeat(&station, head.map(|h| (h.seq, h.hash)))
            .await?;
        Ok(())
    }

    /// Logs and publishes what a round came to, and sets the next attempt.
    fn after_round(&mut self, outcome: Result<(), Failure>) {
        match outcome {
            Ok(()) => {
                if let Some(since) = self.outage_since.take() {
                    tracing::warn!(
                        "plant {}: reachable again after {} s; the outbox is being pushed",
                        self.shown,
                        since.elapsed().as_secs()
                    );
                }
                self.logged = None;
                self.backoff = FIRST_BACKOFF;
                self.retry_at = None;
                self.status.send_modify(|s| {
                    s.state = PlantState::Live;
                    s.error = None;
                });
                self.publish();
            }
            Err(e) if e.is_final() => {
                self.refused = true;
                self.plant = None;
                let text = e.to_string();
                tracing::error!(
                    "plant {}: {text}; this run pushes nothing more (its records stay in the store)",
                    self.shown
                );
                self.status.send_modify(|s| {
                    s.state = PlantState::Refused;
                    s.error = Some(text);
                });
                self.publish();
            }
            Err(e) => {
                self.plant = None;
                self.publish();
                let text = e.to_string();
                let wait = self.backoff;
                self.retry_at = Some(Instant::now() + wait);
                self.backoff = (self.backoff * 2).min(MOST_BACKOFF);
                let backlog = self.status.borrow().backlog;
                if self.outage_since.is_none() {
                    self.outage_since = Some(Instant::now());
                    tracing::error!(
                        "plant {}: {text}; the line goes on and keeps its records: {backlog} record(s) wait in the outbox, tried again in {} s (backing off to {} s)",
                        self.shown,
                        wait.as_secs(),
                        MOST_BACKOFF.as_secs()
                    );
                } else if self.logged.as_deref() != Some(text.as_str()) {
                    tracing::warn!(
                        "plant {}: still failing: {text}; {backlog} record(s) wait in the outbox",
                        self.shown
                    );
                } else {
                    tracing::debug!("plant {}: still failing: {text}", self.shown);
                }
                self.logged = Some(text.clone());
                self.status.send_modify(|s| {
                    s.state = PlantState::Outage;
                    s.error = Some(text);
                });
                self.publish();
            }
        }
    }

    /// Publishes the backlog and lag as the store and the plant stand now.
    fn publish(&mut self) {
        let confirmed = self
            .confirmed
            .unwrap_or_else(|| self.status.borrow().confirmed);
        let backlog = match self.config.reader.backlog(confirmed) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("plant: cannot read the store's head: {e}");
                self.status.borrow().backlog
            }
        };
        let now = Instant::now();
        let lag_s = if backlog == 0 {
            self.behind_since = None;
            0
        } else {
            now.duration_since(*self.behind_since.get_or_insert(now))
                .as_secs()
        };
        self.status.send_if_modified(|s| {
            let changed = s.backlog != backlog || s.confirmed != confirmed || s.lag_s != lag_s;
            s.backlog = backlog;
            s.confirmed = confirmed;
            s.lag_s = lag_s;
            changed
        });
    }
}

/// Runs a store read on the blocking pool (sled reads and decompression stay off the
/// runtime's workers).
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(read)
        .await
        .unwrap_or(Err(StoreError::Closed))
}

/// What [`sync`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Synced {
    /// The station.
    pub station: String,
    /// Records pushed.
    pub pushed: u64,
    /// The plant's head for the station afterwards.
    pub plant_head: u64,
    /// The store's head.
    pub local_head: u64,
}

/// Pushes everything past the plant's head for `station` and heartbeats the store's head:
/// what `benchctl sync` does. The store is not appended to meanwhile.
pub async fn sync(
    url: &str,
    station: &str,
    reader: Reader,
    batch: usize,
) -> Result<Synced, Failure> {
    let (status, watched) = watch::channel(Replication::default());
    let mut task = Task::new(
        Config {
            batch,
            ..Config::new(url, station, reader)
        },
        status,
    );
    task.round().await?;
    let local = task.config.reader.current_head()?;
    let pushed = watched.borrow().pushed;
    Ok(Synced {
        station: station.to_string(),
        pushed,
        plant_head: task.confirmed.unwrap_or(0),
        local_head: local.map_or(0, |h| h.seq),
    })
}
