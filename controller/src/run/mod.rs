//! A test run, as a library that a front end drives: it is given the jigs (serial ports), the
//! plan, an [`Operator`] who answers the plan's prompts and a [`RecordSink`] where records are
//! committed, runs one task per slot, and tells what happens as one stream of [`LineEvent`]s,
//! until `count` phones are graded or the front end asks it to [`Stop`].
//!
//! The run knows nothing of simulators, phone libraries or terminals: `crate::sim` plugs
//! simulated jigs and a simulated operator into the same seams, `crate::tui` is the operator's
//! screen and `benchctl run --headless` prints the graded records as JSON lines.

mod benches;
pub mod event;
mod fit;
pub mod operator;
pub mod record;
pub mod sequence;
pub mod sink;
pub mod slot;
mod watch_jig;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

pub use event::{Alarm, Answer, Events, LineEvent, Question, SlotId};
pub use operator::{Nobody, Operator};
pub use record::PhoneRecord;
pub use sink::{NoStore, RecordSink};
pub use slot::Tested;

use crate::grade::bin::Bins;
use crate::link::{Link, LinkConfig, LinkError};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Serial ports of the jigs: without a station file, one bench each, numbered in this
    /// order (`bench-1`, ...); with one, the ports to ask (each jig goes to the bench that lists
    /// the serial it announces).
    pub ports: Vec<String>,
    /// The station file: its benches and their jigs by serial number, and the slots in use.
    /// The front end also sets [`RunOptions::station`] and [`RunOptions::bins`] from it.
    pub station_file: Option<Arc<crate::station::Station>>,
    /// Stop after this many phones.
    pub count: Option<usize>,
    /// Real seconds per jig second.
    pub time_scale: f64,
    /// Timeout margin over a procedure's physical duration.
    pub margin: Duration,
    /// Link timing.
    pub link: LinkConfig,
    /// The plan.
    pub plan: Arc<crate::plan::Plan>,
    /// The station name written in every record (the host's name by default; a station
    /// file's id).
    pub station: String,
    /// Asks the run to stop: [`Stop::Drain`] (take no new phone, finish the ones under test
    /// within [`RunOptions::grace`]) or [`Stop::Now`]. `None`: the run stops only at `count`.
    pub stop: Option<watch::Receiver<Stop>>,
    /// How long phones under test may take to finish once a drain is asked for.
    pub grace: Duration,
    /// The bin of each disposition.
    pub bins: Bins,
    /// How long a prompt waits for its answer before the phone is graded without it (retest).
    pub answer_within: Duration,
    /// The status of the replication to the plant database (`crate::plant::replicate`), when
    /// the line replicates: the run tells its changes as [`LineEvent::Plant`] (the line never
    /// waits on the plant).
    pub plant: Option<watch::Receiver<event::Replication>>,
}

impl RunOptions {
    /// A run of `plan` on the jigs at `ports` as fast as they go (time scale 0), no stop but
    /// `count`; change fields with `..` to taste.
    pub fn new(plan: Arc<crate::plan::Plan>, ports: Vec<String>) -> RunOptions {
        RunOptions {
            ports,
            station_file: None,
            count: None,
            time_scale: 0.0,
            margin: Duration::from_millis(1000),
            link: LinkConfig::default(),
            plan,
            station: station_name(),
            stop: None,
            grace: Duration::ZERO,
            bins: Bins::default(),
            answer_within: ANSWER_WITHIN,
            plant: None,
        }
    }
}

/// How long a prompt waits for the person at the bench by default.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(30 * 60);

/// What the run is given besides its options: who answers, where records go, where events go.
#[derive(Clone)]
pub struct Seams {
    /// Who answers the plan's prompts, and who is signed in.
    pub operator: Arc<dyn Operator>,
    /// Where records are committed before anyone hears of them.
    pub sink: Arc<dyn RecordSink>,
    /// Where the line's events go.
    pub events: Events,
}

/// How long a stopping run waits for a recorded phone's release to be confirmed.
const RELEASE_AT_STOP: Duration = Duration::from_secs(2);

/// How far a run is asked to stop; the levels only go up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// Keep testing.
    Run,
    /// Take no new phone; finish, record and release the phones under test.
    Drain,
    /// Stop at once; phones under test are abandoned (named in the log for a retest), nothing
    /// committed is lost.
    Now,
}

impl Stop {
    /// Raises the level to `level` (levels only go up); true when it changed, for
    /// `watch::Sender::send_if_modified`.
    pub fn raise(&mut self, level: Stop) -> bool {
        let raised = level > *self;
        if raised {
            *self = level;
        }
        raised
    }
}

/// What a slot hands the run: a record (committed, when there is a store), or the store's
/// refusal to keep one.
#[derive(Debug)]
pub enum Outcome {
    /// A tested phone (in that slot) and where its record landed.
    Recorded(SlotId, Box<PhoneRecord>, Option<crate::store::Stored>),
    /// The record could not be committed; the run must stop.
    StoreFailed(crate::store::StoreError),
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No jig could be opened.
    #[error("no jig is available:\n{0}")]
    NoJig(String),
    /// Nothing to run.
    #[error("nothing to run: give --sim N or at least one --port PATH")]
    Nothing,
    /// A record could not be stored; the phones whose records were stored are safe.
    #[error("{0}; the phone in that slot was not released: test it again once the store is fixed")]
    Store(crate::store::StoreError),
}

/// Counts at the end of a run.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Phones recorded.
    pub phones: usize,
    /// Jigs that could not be opened or were not taken into the line, with the reason.
    pub failed_jigs: Vec<String>,
    /// Benches of the station file whose jig did not answer, as `BENCH (jig SERIAL)`.
    pub missing: Vec<String>,
    /// Jigs taken out of service during the run, as (port, times).
    pub out_of_service: Vec<(String, u64)>,
    /// Slots whose phone was under test when the run stopped (to be tested again), as
    /// `bench slot N (port): phone IMEI`.
    pub abandoned: Vec<String>,
    /// Slots whose phone was recorded but not confirmed released when the run stopped (it may
    /// still be clamped), named like [`Summary::abandoned`].
    pub unreleased: Vec<String>,
    /// Each jig's link counters for the whole run, by port.
    pub links: Vec<(String, crate::link::LinkCounters)>,
    /// The run stopped at `--count` (phones under test in other slots were never meant to be
    /// recorded), rather than on a signal or a failure.
    pub counted: bool,
}

/// The name of this station: the host's name.
pub fn station_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "station".into())
}

/// How often the space left for records is looked at.
const SPACE_EVERY: Duration = Duration::from_secs(10);

/// True when the space left for records is low enough to warn: under 2 % of the file system
/// or under 512 MiB, whichever is more.
pub fn nearly_full(space: sink::Space) -> bool {
    space.free < (space.total / 50).max(512 << 20)
}

/// Runs a line until `count` phones are graded, the front end asks it to stop, or the sink
/// fails; every graded phone's record is committed to the sink before its `Graded` event.
pub async fn run(opts: RunOptions, seams: Seams) -> Result<Summary, RunError> {
    let events = seams.events.clone();
    if opts.ports.is_empty() {
        return Err(RunError::Nothing);
    }
    let link_config = LinkConfig {
        time_scale: opts.time_scale,
        ..opts.link.clone()
    };
    let opened = open_all(&opts.ports, &link_config).await;
    let mut summary = Summary::default();
    let check = fit::checker(opts.plan.clone(), seams.sink.clone());
    let benches = benches::place(&opts, opened, &check, &events, &mut summary).await;
    if benches.is_empty() {
        let missing = summary.missing.iter().map(|m| format!("{m}: missing"));
        let reasons: Vec<String> = summary.failed_jigs.iter().cloned().chain(missing).collect();
        return Err(RunError::NoJig(reasons.join("\n")));
    }
    let (tx, mut rx) = mpsc::channel(64);
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    let out = slot::Output {
        records: tx,
        sink: seams.sink.clone(),
        budget: Arc::new(std::sync::atomic::AtomicUsize::new(
            opts.count.unwrap_or(usize::MAX),
        )),
        deliveries: Arc::default(),
    };
    let deliveries = out.deliveries.clone();
    let mut tasks = Vec::new();
    let mut watchers = Vec::new();
    for placed in &benches {
        let (bench, link) = (&placed.bench, &placed.link);
        let place = Arc::new(sequence::Place {
            station: opts.station.clone(),
            bench: placed.name.clone(),
            bins: opts.bins.clone(),
        });
        watchers.push(tokio::spawn(watch_jig::watch(
            *bench,
            place.bench.clone(),
            link.clone(),
            events.clone(),
        )));
        let slots = in_use(placed, link.hello().map_or(0, |h| h.slots), &events).await;
        for slot in slots {
            let at = SlotId {
                bench: *bench,
                slot,
            };
            let ctx = sequence::Ctx {
                link: link.clone(),
                slot,
                at,
                events: events.clone(),
                time_scale: opts.time_scale,
                margin: opts.margin,
                plan: opts.plan.clone(),
                place: place.clone(),
                counters: Arc::default(),
                gone: Arc::default(),
            };
            let busy = Arc::new(slot::UnderTest::default());
            let name = format!("{} slot {slot} ({})", place.bench, link.port());
            let task = tokio::spawn(slot::run_slot(
                ctx,
                slot::Asker {
                    operator: seams.operator.clone(),
                    within: opts.answer_within,
                },
                out.clone(),
                stop_rx.clone(),
                busy.clone(),
            ));
            tasks.push((name, busy, task));
        }
    }
    drop(out);
    let space = tokio::spawn(watch_space(seams.sink.clone(), events.clone()));
    let plant = opts
        .plant
        .clone()
        .map(|status| tokio::spawn(watch_plant(status, events.clone())));
    let mut asked = opts.stop.clone();
    let mut failure = None;
    let mut counted = false;
    let mut grace_end: Option<tokio::time::Instant> = None;
    let graded = |at: SlotId, record: Box<PhoneRecord>, stored| {
        let disposition = record.grade.disposition;
        LineEvent::Graded {
            at,
            bin: record.bin.as_deref().unwrap_or_default().to_string(),
            record: Arc::from(record),
            stored,
            disposition,
        }
    };
    loop {
        let asked_changed = async {
            match asked.as_mut() {
                Some(a) => a.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let grace_over = async {
            match grace_end {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            o = rx.recv() => o,
            changed = asked_changed => {
                let level = match (&asked, changed) {
                    (Some(a), true) => *a.borrow(),
                    // The front end went away: stop as asked last, at least drain.
                    _ => { asked = None; Stop::Drain }
                };
                if level == Stop::Now {
                    break;
                }
                if level == Stop::Drain && grace_end.is_none() {
                    tracing::warn!("stopping: no new phones; the phones under test finish within {} s (ask again to stop at once)", opts.grace.as_secs());
                    grace_end = Some(tokio::time::Instant::now() + opts.grace);
                    let _ = stop_tx.send(Stop::Drain);
                }
                continue;
            }
            _ = grace_over => {
                tracing::warn!("stopping: the phones under test did not finish within {} s; they are named below", opts.grace.as_secs());
                break;
            }
        };
        // Every slot has stopped (a drain is over).
        let Some(outcome) = outcome else { break };
        match outcome {
            Outcome::Recorded(at, record, stored) => {
                events.send(graded(at, record, stored)).await;
            }
            Outcome::StoreFailed(e) => {
                events.send(LineEvent::Alarm(store_alarm(&e))).await;
                failure = Some(RunError::Store(e));
                break;
            }
        }
        summary.phones += 1;
        if opts.count.is_some_and(|c| summary.phones >= c) {
            counted = true;
            break;
        }
    }
    let _ = stop_tx.send(Stop::Now);
    space.abort();
    if let Some(p) = plant {
        p.abort();
    }
    for (name, busy, mut task) in tasks {
        // A recorded phone being released: let the clamp open (the slot then stops by
        // itself), within a bound.
        let ended = busy.releasing.load(std::sync::atomic::Ordering::SeqCst)
            && tokio::time::timeout(RELEASE_AT_STOP, &mut task)
                .await
                .is_ok();
        if !ended {
            task.abort();
            let _ = task.await;
        }
        let named = format!("{name}: phone {}", busy.imei());
        if busy.testing.load(std::sync::atomic::Ordering::SeqCst) {
            summary.abandoned.push(named);
        } else if busy.releasing.load(std::sync::atomic::Ordering::SeqCst) {
            summary.unreleased.push(named);
        }
    }
    // Records being committed when the slots stopped are committed: they are told too.
    let pending = deliveries
        .lock()
        .map(|mut set| std::mem::take(&mut *set))
        .unwrap_or_default();
    let finished = tokio::time::timeout(Duration::from_secs(10), pending.join_all()).await;
    if finished.is_err() {
        tracing::error!("the record store did not confirm the last records within 10 s; run `benchctl verify` to see what it holds");
    }
    while let Ok(outcome) = rx.try_recv() {
        match outcome {
            Outcome::Recorded(at, record, stored) => {
                events.send(graded(at, record, stored)).await;
                summary.phones += 1;
            }
            Outcome::StoreFailed(e) => {
                if failure.is_none() {
                    events.send(LineEvent::Alarm(store_alarm(&e))).await;
                    failure = Some(RunError::Store(e));
                }
            }
        }
    }
    drop(rx);
    summary.counted = counted;
    if !counted {
        for name in &summary.abandoned {
            tracing::error!("{name}: the phone under test was not finished; test it again");
        }
    }
    for name in &summary.unreleased {
        tracing::error!(
            "{name}: recorded, but its release was not confirmed; open the clamp by hand"
        );
    }
    for w in watchers {
        w.abort();
    }
    for l in benches.iter().map(|p| &p.link) {
        let times = l.times_out_of_service();
        if times > 0 {
            summary.out_of_service.push((l.port().to_string(), times));
        }
        let c = l.stats().snapshot();
        summary.links.push((l.port().to_string(), c));
        tracing::info!(
            port = l.port(),
            bad_frames = c.bad_frames,
            retries = c.retries,
            resends = c.resends,
            timeouts = c.timeouts,
            resets = c.resets,
            reconnects = c.reconnects,
            "link counters for the run"
        );
        // Let go of the port before a simulated jig goes away, so its end is not taken for an
        // unplugged jig.
        l.shutdown(Duration::from_secs(1)).await;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// Runs a line and hands each graded phone's record to `on_record` (in the order they are
/// graded); the run stops at once when `on_record` returns false (the record could not be
/// shown). For front ends that only want the records: dry runs, benchmarks, headless output.
pub async fn run_to_records(
    opts: RunOptions,
    operator: Arc<dyn Operator>,
    sink: Arc<dyn RecordSink>,
    on_record: impl FnMut(&PhoneRecord, Option<crate::store::Stored>) -> bool,
) -> Result<Summary, RunError> {
    run_with_notices(opts, operator, sink, on_record, |_| {}).await
}

/// [`run_to_records`], also handing `on_notice` the events that a front end without a screen
/// must still tell ([`LineEvent::JigMissing`], and [`LineEvent::Plant`] when the plant
/// becomes unreachable, reachable again or refuses the station), in order with the records.
pub async fn run_with_notices(
    mut opts: RunOptions,
    operator: Arc<dyn Operator>,
    sink: Arc<dyn RecordSink>,
    mut on_record: impl FnMut(&PhoneRecord, Option<crate::store::Stored>) -> bool,
    mut on_notice: impl FnMut(&LineEvent),
) -> Result<Summary, RunError> {
    let (events, mut rx) = Events::channel(256);
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    if let Some(mut asked) = opts.stop.replace(stop_rx) {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            while asked.changed().await.is_ok() {
                let level = *asked.borrow();
                stop_tx.send_if_modified(|s| s.raise(level));
            }
        });
    }
    let run = run(
        opts,
        Seams {
            operator,
            sink,
            events,
        },
    );
    tokio::pin!(run);
    let mut showing = true;
    loop {
        tokio::select! {
            summary = &mut run => {
                // Events sent before the run returned are still queued.
                while let Ok(e) = rx.try_recv() {
                    if notice(&e) {
                        on_notice(&e);
                    }
                    if let (LineEvent::Graded { record, stored, .. }, true) = (e, showing) {
                        showing = on_record(&record, stored);
                    }
                }
                return summary;
            }
            Some(e) = rx.recv() => {
                if notice(&e) {
                    on_notice(&e);
                }
                if let (LineEvent::Graded { record, stored, .. }, true) = (e, showing) {
                    showing = on_record(&record, stored);
                    if !showing {
                        let _ = stop_tx.send(Stop::Now);
                    }
                }
            }
        }
    }
}

/// Whether a front end without a screen must tell this event: a missing bench, and the
/// plant's outages, recoveries and refusal (not each change of its backlog).
fn notice(e: &LineEvent) -> bool {
    match e {
        LineEvent::JigMissing { .. } => true,
        LineEvent::Plant { change, .. } => *change != event::PlantChange::Backlog,
        _ => false,
    }
}

/// The slots of a placed jig to test: those its station file names (an alarm for any the jig
/// does not have), else all `has`.
async fn in_use(placed: &benches::Placed, has: u8, events: &Events) -> Vec<u8> {
    let Some(listed) = &placed.slots else {
        return (0..has).collect();
    };
    let absent: Vec<String> = listed
        .iter()
        .filter(|s| **s >= has)
        .map(u8::to_string)
        .collect();
    if !absent.is_empty() {
        let serial = placed
            .link
            .hello()
            .map(|h| h.jig_serial.to_string())
            .unwrap_or_default();
        let what = format!(
            "{}: the station file names slot(s) {} of jig {serial}, which has {has} slot(s) (0 to {}); those are not used",
            placed.name,
            absent.join(", "),
            has.saturating_sub(1)
        );
        tracing::error!("{what}");
        events
            .send(LineEvent::Alarm(Alarm {
                key: format!("slots of jig {serial}"),
                bench: Some(placed.bench),
                what,
                fix: "list only the slots the jig has in the station file's [[bench.jig]] slots, then restart the line".into(),
            }))
            .await;
    }
    listed.iter().copied().filter(|s| *s < has).collect()
}

/// Watches the space left where records are written: an alarm when it is nearly full,
/// cleared when it is not any more.
async fn watch_space(sink: Arc<dyn RecordSink>, events: Events) {
    let mut raised = false;
    let mut every = tokio::time::interval(SPACE_EVERY);
    loop {
        every.tick().await;
        let Some(space) = sink.space() else { return };
        let full = nearly_full(space);
        if full && !raised {
            tracing::error!(
                "the disk holding the record store is nearly full: {} MiB free",
                space.free >> 20
            );
            events
                .send(LineEvent::Alarm(Alarm {
                    key: "disk".into(),
                    bench: None,
                    what: format!(
                        "the disk holding the record store is nearly full ({} MiB of {} MiB free)",
                        space.free >> 20,
                        space.total >> 20
                    ),
                    fix: "free space on it now: when it is full, no phone can be graded".into(),
                }))
                .await;
        } else if !full && raised {
            events
                .send(LineEvent::AlarmCleared { key: "disk".into() })
                .await;
        }
        raised = full;
    }
}

/// The shortest time between two events about the plant's backlog (outages, recoveries and
/// refusals are told at once).
const PLANT_EVERY: Duration = Duration::from_secs(1);

/// Tells the line how the replication to the plant stands: an event when it changes (the
/// backlog at most once per [`PLANT_EVERY`]), and an alarm while the plant refuses the station.
async fn watch_plant(mut status: watch::Receiver<event::Replication>, events: Events) {
    let mut told = event::Replication::default();
    let mut last = tokio::time::Instant::now() - PLANT_EVERY;
    loop {
        let now = status.borrow_and_update().clone();
        if let Some(change) = now.change_from(&told) {
            if change == event::PlantChange::Refused {
                // The replicator has logged it.
                let what = now.error.clone().unwrap_or_default();
                events
                    .send(LineEvent::Alarm(Alarm {
                        key: "plant".into(),
                        bench: None,
                        what: format!("the plant database refused this station: {what}"),
                        fix: "the line goes on and keeps every record; nothing more is sent to the plant: tell the plant's database administrator (both heads are named above)".into(),
                    }))
                    .await;
            }
            if change == event::PlantChange::Backlog {
                tokio::time::sleep_until(last + PLANT_EVERY).await;
                // What the status says by now is told.
                let latest = status.borrow_and_update().clone();
                let change = latest.change_from(&told).unwrap_or(change);
                events
                    .send(LineEvent::Plant {
                        change,
                        status: latest.clone(),
                    })
                    .await;
                told = latest;
            } else {
                events
                    .send(LineEvent::Plant {
                        change,
                        status: now.clone(),
                    })
                    .await;
                told = now;
            }
            last = tokio::time::Instant::now();
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

fn store_alarm(e: &crate::store::StoreError) -> Alarm {
    Alarm {
        key: "store".into(),
        bench: None,
        what: format!("the record store failed: {e}"),
        fix: "the line stops; fix the store, then test the phones left in their slots again".into(),
    }
}

async fn open_all(ports: &[String], config: &LinkConfig) -> Vec<Result<Link, LinkError>> {
    let handles: Vec<_> = ports
        .iter()
        .map(|p| {
            let (p, c) = (p.clone(), config.clone());
            (
                p.clone(),
                tokio::spawn(async move { Link::open(&p, c).await }),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for (port, h) in handles {
        out.push(h.await.unwrap_or_else(|e| {
            Err(LinkError::Open {
                port,
                detail: e.to_string(),
            })
        }));
    }
    out
}
