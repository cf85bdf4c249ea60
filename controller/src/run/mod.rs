//! A test run: opens every jig (or starts simulated ones), runs one task per slot, and hands
//! each tested phone's record to the caller, until `--count` phones are done.

pub mod answers;
pub mod record;
pub mod sequence;
pub mod slot;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::link::{Link, LinkConfig, LinkError};
use crate::sim::{self, Fault, Feeder, SimJigOptions};
pub use record::PhoneRecord;
pub use slot::Tested;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Serial ports of real (or separately simulated) jigs.
    pub ports: Vec<String>,
    /// Number of simulated jigs to start.
    pub sim: usize,
    /// Slots per simulated jig.
    pub sim_slots: usize,
    /// Faults for the simulated jigs.
    pub sim_faults: Vec<Fault>,
    /// Noise on the lines of the simulated jigs.
    pub sim_noise: Option<sim::Noise>,
    /// Phone library: what the simulated jigs are fed with, and whose answers the simulated
    /// operator gives to the prompts (load it once with `Library::load` or [`builtin_phones`]).
    pub library: benchline_sim::Library,
    /// Stop after this many phones.
    pub count: Option<usize>,
    /// Seed of the simulated line.
    pub seed: u64,
    /// Real seconds per jig second.
    pub time_scale: f64,
    /// Operator id written in every record.
    pub operator: String,
    /// Timeout margin over a procedure's physical duration.
    pub margin: Duration,
    /// Link timing.
    pub link: LinkConfig,
    /// The plan.
    pub plan: Arc<crate::plan::Plan>,
    /// Phones each simulated phone is handed out at most once (plan check), instead of cycling.
    pub sim_once: bool,
    /// The station name written in every record (the host's name by default).
    pub station: String,
    /// Where records are committed before anyone hears of them; `None` for a dry run.
    pub store: Option<crate::store::Writer>,
    /// Asks the run to stop: [`Stop::Drain`] (take no new phone, finish the ones under test
    /// within [`RunOptions::grace`]) or [`Stop::Now`]. `None`: the run stops only at `count`.
    pub stop: Option<watch::Receiver<Stop>>,
    /// How long phones under test may take to finish once a drain is asked for.
    pub grace: Duration,
}

impl RunOptions {
    /// A simulated line as fast as it goes (time scale 0): `jigs` jigs of `slots` slots fed from
    /// `library`, under `plan`, no store, no stop but `count`. Change fields with `..` to taste.
    pub fn simulated(
        plan: Arc<crate::plan::Plan>,
        library: benchline_sim::Library,
        jigs: usize,
        slots: usize,
        who: &str,
    ) -> RunOptions {
        RunOptions {
            ports: Vec::new(),
            sim: jigs,
            sim_slots: slots,
            sim_faults: Vec::new(),
            sim_noise: None,
            library,
            count: None,
            seed: 1,
            time_scale: 0.0,
            operator: who.into(),
            margin: Duration::from_millis(1000),
            link: LinkConfig::default(),
            plan,
            sim_once: false,
            station: who.into(),
            store: None,
            stop: None,
            grace: Duration::ZERO,
        }
    }
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

/// What a slot hands the run: a record (committed, when there is a store), or the store's
/// refusal to keep one.
#[derive(Debug)]
pub enum Outcome {
    /// A tested phone and where its record landed.
    Recorded(Box<PhoneRecord>, Option<crate::store::Stored>),
    /// The record could not be committed; the run must stop.
    StoreFailed(crate::store::StoreError),
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No jig could be opened.
    #[error("no jig is available:\n{0}")]
    NoJig(String),
    /// A simulated jig did not start.
    #[error(transparent)]
    Sim(#[from] sim::SimError),
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
    /// Jigs that could not be opened, with the reason.
    pub failed_jigs: Vec<String>,
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

/// The phone library files built into the binary.
const BUILTIN_PHONES: [(&str, &str); 8] = [
    (
        "fixtures/phones/a54.toml",
        include_str!("../../../fixtures/phones/a54.toml"),
    ),
    (
        "fixtures/phones/gs21.toml",
        include_str!("../../../fixtures/phones/gs21.toml"),
    ),
    (
        "fixtures/phones/ip12.toml",
        include_str!("../../../fixtures/phones/ip12.toml"),
    ),
    (
        "fixtures/phones/ipse2.toml",
        include_str!("../../../fixtures/phones/ipse2.toml"),
    ),
    (
        "fixtures/phones/mg5.toml",
        include_str!("../../../fixtures/phones/mg5.toml"),
    ),
    (
        "fixtures/phones/op9.toml",
        include_str!("../../../fixtures/phones/op9.toml"),
    ),
    (
        "fixtures/phones/px7.toml",
        include_str!("../../../fixtures/phones/px7.toml"),
    ),
    (
        "fixtures/phones/zf9.toml",
        include_str!("../../../fixtures/phones/zf9.toml"),
    ),
];

/// The phone library built into the binary (the files of `fixtures/phones/`).
pub fn builtin_phones() -> Result<benchline_sim::Library, benchline_sim::PhoneError> {
    let mut lib = benchline_sim::Library::default();
    for (name, text) in BUILTIN_PHONES {
        lib.phones
            .extend(benchline_sim::Library::parse(text, name.as_ref())?.phones);
    }
    Ok(lib)
}

/// The name of this station: the host's name.
pub fn station_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "station".into())
}

/// Runs until `count` phones are recorded (or forever), calling `on_record` for each once its
/// record is on disk (when there is a store); the run stops as soon as `on_record` returns false
/// (the record could not be shown) or the store fails.
pub async fn run(
    opts: RunOptions,
    mut on_record: impl FnMut(&PhoneRecord, Option<crate::store::Stored>) -> bool,
) -> Result<Summary, RunError> {
    let mut ports = opts.ports.clone();
    let mut sims = Vec::new();
    let library = &opts.library;
    let answers: Arc<dyn answers::Answerer> = Arc::new(answers::LibraryAnswers::new(library));
    if opts.sim > 0 {
        let limit = opts.sim_once.then_some(library.phones.len());
        let feeder = Feeder::new(library.phones.clone(), opts.seed, limit);
        for i in 0..opts.sim {
            let h = sim::spawn(SimJigOptions {
                serial: format!("SIM-{:04}", i + 1),
                slots: opts.sim_slots,
                seed: opts.seed.wrapping_mul(1000).wrapping_add(i as u64),
                time_scale: opts.time_scale,
                protocol_version: benchline_protocol::PROTOCOL_VERSION,
                faults: opts.sim_faults.clone(),
                link: None,
                feeder: feeder.clone(),
                handling_ms: 2_000,
                babble: false,
                noise: opts.sim_noise.clone(),
            })?;
            ports.push(h.path.to_string_lossy().into_owned());
            sims.push(h);
        }
    }
    if ports.is_empty() {
        return Err(RunError::Nothing);
    }
    let link_config = LinkConfig {
        time_scale: opts.time_scale,
        ..opts.link.clone()
    };
    let opened = open_all(&ports, &link_config).await;
    let mut links = Vec::new();
    let mut summary = Summary::default();
    for r in opened {
        match r.and_then(|l| suits(&opts.plan, &l).map(|_| l)) {
            Ok(l) => links.push(l),
            Err(e) => summary.failed_jigs.push(e.to_string()),
        }
    }
    if links.is_empty() {
        return Err(RunError::NoJig(summary.failed_jigs.join("\n")));
    }
    // The other jigs go on; the operator hears about the bad ones now, not at the end.
    for f in &summary.failed_jigs {
        tracing::error!("{f}");
    }
    let (tx, mut rx) = mpsc::channel(64);
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    let out = slot::Output {
        records: tx,
        store: opts.store.clone(),
        budget: Arc::new(std::sync::atomic::AtomicUsize::new(
            opts.count.unwrap_or(usize::MAX),
        )),
        deliveries: Arc::default(),
    };
    let deliveries = out.deliveries.clone();
    let mut tasks = Vec::new();
    for (bench, link) in links.iter().enumerate() {
        // Until station files name them, each jig is a bench of its own, numbered in port order.
        let place = Arc::new(sequence::Place {
            station: opts.station.clone(),
            bench: format!("bench-{}", bench + 1),
        });
        let slots = link.hello().map_or(0, |h| h.slots);
        for slot in 0..slots {
            let ctx = sequence::Ctx {
                link: link.clone(),
                slot,
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
                opts.operator.clone(),
                answers.clone(),
                out.clone(),
                stop_rx.clone(),
                busy.clone(),
            ));
            tasks.push((name, busy, task));
        }
    }
    drop(out);
    let mut asked = opts.stop.clone();
    let mut failure = None;
    let mut counted = false;
    let mut stopped_showing = false;
    let mut grace_end: Option<tokio::time::Instant> = None;
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
                    // The caller went away: stop as asked last, at least drain.
                    _ => { asked = None; Stop::Drain }
                };
                if level == Stop::Now {
                    break;
                }
                if level == Stop::Drain && grace_end.is_none() {
                    tracing::warn!("stopping: no new phones; the phones under test finish within {} s (signal again to stop at once)", opts.grace.as_secs());
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
        let (record, stored) = match outcome {
            Outcome::Recorded(r, s) => (r, s),
            Outcome::StoreFailed(e) => {
                failure = Some(RunError::Store(e));
                break;
            }
        };
        if !on_record(&record, stored) {
            stopped_showing = true;
            break;
        }
        summary.phones += 1;
        if opts.count.is_some_and(|c| summary.phones >= c) {
            counted = true;
            break;
        }
    }
    let _ = stop_tx.send(Stop::Now);
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
    // Records being committed when the slots stopped are committed: they are shown too.
    let pending = deliveries
        .lock()
        .map(|mut set| std::mem::take(&mut *set))
        .unwrap_or_default();
    let finished = tokio::time::timeout(Duration::from_secs(10), pending.join_all()).await;
    if finished.is_err() {
        tracing::error!("the record store did not confirm the last records within 10 s; run `benchctl verify` to see what it holds");
    }
    let mut showing = !stopped_showing;
    while let Ok(outcome) = rx.try_recv() {
        match outcome {
            Outcome::Recorded(record, stored) if showing => {
                showing = on_record(&record, stored);
                summary.phones += usize::from(showing);
            }
            Outcome::Recorded(..) => {}
            Outcome::StoreFailed(e) => {
                failure.get_or_insert(RunError::Store(e));
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
    for l in &links {
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
        // Let go of the port before the simulated jigs go away, so their end is not taken for
        // an unplugged jig.
        l.shutdown(Duration::from_secs(1)).await;
    }
    for s in sims {
        s.stop();
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// Checks that a jig is one the plan may run on: its kind, firmware and protocol versions.
fn suits(plan: &crate::plan::Plan, link: &Link) -> Result<(), LinkError> {
    let Some(h) = link.hello() else { return Ok(()) };
    let kind = h.jig_kind.as_str();
    let firmware = crate::plan::parse_version(&h.firmware_version).unwrap_or((0, 0, 0));
    let problem = if !plan.jig_kinds.iter().any(|k| k == kind) {
        Some(format!("it is a {kind} jig and plan {} needs a {} jig; use a plan for this jig or move the phones to a matching bench", plan.id, plan.jig_kinds.join(" or ")))
    } else if firmware < plan.min_firmware {
        let (a, b, c) = plan.min_firmware;
        Some(format!(
            "it runs firmware {} and plan {} needs {a}.{b}.{c} or newer; update the jig's firmware",
            h.firmware_version, plan.id
        ))
    } else if h.protocol_version < plan.min_protocol {
        Some(format!(
            "it speaks protocol {} and plan {} needs {} or newer; update the jig's firmware",
            h.protocol_version, plan.id, plan.min_protocol
        ))
    } else {
        None
    };
    match problem {
        Some(detail) => {
            link.close();
            Err(LinkError::Unsuitable {
                port: link.port().to_string(),
                detail,
            })
        }
        None => Ok(()),
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
