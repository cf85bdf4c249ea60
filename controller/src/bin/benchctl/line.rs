//! `run`, `sim-jig` and `plan check`: lines of jigs, one simulated jig, dry runs.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use std::io::IsTerminal;

use benchctl::export::history;
use benchctl::plant::replicate;
use benchctl::run::{self, RunOptions};
use benchctl::sim::{self, Fault, Feeder, SimJigOptions};
use benchctl::store::{self, Store};
use benchctl::tui::{self, Person};

use crate::{bad_input, DataArg, Failure};

#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// The plan file.
    file: PathBuf,
    /// Phone library (a directory of TOML files, or one file) to dry-run against.
    #[arg(long, value_name = "DIR")]
    against: Option<PathBuf>,
    /// Simulated jigs for the dry run (1-64).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=64))]
    jigs: u8,
    /// Slots per simulated jig (1-4).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=4))]
    slots: u8,
    /// Seed of the simulated line.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
}

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Start N simulated jigs on PTYs, fed with phones from the built-in library. Their
    /// records go to a training store: without --data, a data directory of its own (the
    /// production default with `-training` after its name); a new --data directory becomes a
    /// training store; a production store with records is refused.
    #[arg(long, value_name = "N", default_value_t = 0)]
    sim: usize,
    /// Make the data directory a training store, for good: it then admits records of
    /// simulated jigs (e.g. `benchctl sim-jig` on --port), each marked simulated. Only a
    /// directory holding no record yet can become one; a production store refuses simulated
    /// jigs at the start of the run.
    #[arg(long)]
    training_store: bool,
    /// Serial port of a jig (repeatable), e.g. /dev/ttyACM0 or the path `benchctl sim-jig` printed.
    #[arg(long = "port", value_name = "PATH")]
    ports: Vec<String>,
    /// The station file: the station's id (written in every record), its benches with their
    /// jigs by serial number and the slots in use, where to look for the jigs' ports, and the
    /// bin labels (see fixtures/stations/README.md). Jigs are placed by the serial they
    /// announce, whatever port they are on; --port and --sim jigs are placed the same way.
    #[arg(long, value_name = "FILE")]
    station: Option<PathBuf>,
    /// The test plan (default: the standard plan built in, test-plans/standard-refurb.toml).
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Replicate the records to the plant's PostgreSQL database at this URL while the line
    /// runs, e.g. postgresql://line3@plant-db/plant?sslmode=verify-full (default: the station
    /// file's `plant`). The line never waits on it: an outage only grows the outbox, pushed
    /// when the plant is back or by `benchctl sync`.
    #[arg(long, value_name = "URL")]
    plant: Option<String>,
    /// Print one JSON line per graded phone instead of opening the terminal UI (also when
    /// standard output is not a terminal). On a simulated line the simulated operator answers
    /// the prompts; on real jigs nobody does, and phones grade retest.
    #[arg(long)]
    headless: bool,
    /// Let the simulated operator answer the prompts from the phone library (--phones, or the
    /// built-in one), for an unattended demo: on the jigs of --sim N and on --port jigs that
    /// announce simulated phones (`benchctl sim-jig`, the QEMU board). It never answers for a
    /// real jig: those prompts go to the person at the bench (headless: nobody, they grade
    /// retest).
    #[arg(long)]
    auto_answer: bool,
    /// Stop after N phones (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Seed of the simulated line (phone order, measurement and line noise; boot ids are random).
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Real seconds per second of procedure time: 1 real time, 0.01 a hundred times faster, 0 as fast as possible.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    time_scale: f64,
    /// Operator id recorded with every phone; the terminal UI then starts signed in (default:
    /// the UI asks who signs in; headless, the login name $USER).
    #[arg(long, value_name = "ID")]
    operator: Option<String>,
    /// Slots per simulated jig (1-4).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
    slots: u8,
    /// Phone library (a TOML file or a directory of them) for the simulated jigs.
    #[arg(long, value_name = "DIR")]
    phones: Option<PathBuf>,
    /// Inject a fault into every simulated jig (repeatable); see `benchctl sim-jig --help`.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<Fault>,
    /// Damage this fraction of the bytes on every simulated jig's line, both ways, at random
    /// (seeded by --seed): a bit flipped, a byte dropped, doubled or followed by a random byte.
    /// A fraction from 0 to 1: 0.001 = 0.1 % of bytes.
    #[arg(long, value_name = "RATE", value_parser = sim::parse_rate)]
    noise: Option<f64>,
    /// Probability per byte that a simulated jig's line falls silent for 50-300 ms (the bytes
    /// are held, not lost); a fraction from 0 to 1.
    #[arg(long, value_name = "RATE", value_parser = sim::parse_rate)]
    noise_stall: Option<f64>,
    /// How long a jig gets to answer beyond a procedure's physical duration, ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    timeout_margin: u64,
    /// On SIGINT or SIGTERM, how long the phones under test get to finish before they are
    /// abandoned (and named for a retest), s. A second signal stops at once.
    #[arg(long, value_name = "S", default_value_t = 60)]
    stop_grace: u64,
    #[command(flatten)]
    data: DataArg,
}

#[derive(clap::Args)]
pub(crate) struct SimJigArgs {
    /// Slots (1-4).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
    slots: u8,
    /// Phone library (a TOML file or a directory of them); default: the built-in one.
    #[arg(long, value_name = "DIR")]
    phones: Option<PathBuf>,
    /// Seed (phone order, measurement and line noise; boot ids are random).
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Real seconds per second of procedure time (0 = as fast as possible).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    time_scale: f64,
    /// Jig serial number.
    #[arg(long, value_name = "SERIAL", default_value = "SIM-0001")]
    serial: String,
    /// Also create this symlink to the device, kept across unplug / replug (like /dev/serial/by-id).
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,
    /// Stop seating phones after N.
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// Fault on the n-th request of a procedure (repeatable): KIND@PROCEDURE[#N], KIND one of
    /// drop, corrupt, truncate, garbage, reset, hang=MS, unplug=MS.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<Fault>,
    /// Damage this fraction of the bytes on the line, both ways, at random (seeded by --seed):
    /// a bit flipped, a byte dropped, doubled or followed by a random byte. A fraction from 0
    /// to 1: 0.001 = 0.1 % of bytes.
    #[arg(long, value_name = "RATE", value_parser = sim::parse_rate)]
    noise: Option<f64>,
    /// Probability per byte that the line falls silent for 50-300 ms of real time (nothing read
    /// or written; the bytes are held, not lost); a fraction from 0 to 1.
    #[arg(long, value_name = "RATE", value_parser = sim::parse_rate)]
    noise_stall: Option<f64>,
    /// Announce this protocol version (to test how hosts refuse incompatible firmware).
    #[arg(long, value_name = "V", default_value_t = benchline_protocol::PROTOCOL_VERSION)]
    protocol_version: u16,
    /// Be a broken device that only writes noise (to test how hosts refuse a non-jig).
    #[arg(long)]
    babble: bool,
}

/// A record as printed by `run --headless`: the stored record, and where it landed.
#[derive(serde::Serialize)]
struct Printed<'a> {
    #[serde(flatten)]
    record: &'a run::PhoneRecord,
    store: Option<store::Stored>,
}

/// The line noise that `--noise` and `--noise-stall` ask for, if any.
fn line_noise(rate: Option<f64>, stall: Option<f64>, seed: u64) -> Option<sim::Noise> {
    if rate.is_none() && stall.is_none() {
        return None;
    }
    let mut noise = sim::Noise::new(rate.unwrap_or(0.0), seed);
    noise.stall_rate = stall.unwrap_or(0.0);
    Some(noise)
}

fn load_phones(path: &Option<PathBuf>) -> Result<benchline_sim::Library, Failure> {
    match path {
        Some(p) => benchctl::dryrun::load_library(p).map_err(bad_input),
        None => sim::builtin_phones().map_err(|e| bad_input(benchctl::dryrun::LibraryError(e))),
    }
}

/// True when `run` opens the terminal UI: not asked for --headless, and standard output is a
/// terminal.
pub(crate) fn uses_tui(a: &RunArgs) -> bool {
    !a.headless && std::io::stdout().is_terminal()
}

/// Where the terminal UI's log goes: a file in the data directory.
pub(crate) fn log_file(a: &RunArgs) -> PathBuf {
    data_dir(a).join("benchctl.log")
}

/// The run's data directory: --data, else a training store of its own for a line with
/// simulated jigs (never the production one), else the production default.
fn data_dir(a: &RunArgs) -> PathBuf {
    match (&a.data.data, a.sim) {
        (Some(dir), _) => dir.clone(),
        (None, 0) => store::default_dir(),
        (None, _) => store::policy::training_dir(),
    }
}

/// Opens the run's store and checks, before any phone is tested, that it may keep this run's
/// records: a line with simulated jigs needs a training store (a new directory becomes one),
/// and the plan's id and version must mean the file they were recorded with.
fn open_store(a: &RunArgs, plan: &benchctl::plan::Plan) -> Result<Store, Failure> {
    // Opening for writing checks the whole chain first: on a large store that takes a while,
    // said on standard error (before the terminal UI takes the terminal).
    let checking = crate::progress::Bar::before_append();
    let opened = Store::open(&data_dir(a), store::Use::Write);
    drop(checking);
    let mut store = opened?;
    let was_training = store.training()?;
    if a.sim > 0
        && !a.training_store
        && !was_training
        && same_dir(store.dir(), &store::default_dir())
    {
        return Err(bad_input(anyhow::anyhow!(
            "--sim would make {} a training store for good, and it is the production data directory: run --sim without --data (its records go to {}), or give --training-store if this station is a training station",
            store.dir().display(),
            store::policy::training_dir().display()
        )));
    }
    if a.sim > 0 || a.training_store {
        store.make_training().map_err(|e| {
            let why = if a.sim > 0 {
                "--sim records simulated jigs"
            } else {
                "--training-store"
            };
            bad_input(anyhow::anyhow!("{why}: {e}"))
        })?;
    }
    if store.training()? && !was_training {
        crate::say(&format!(
            "benchctl: {} is now a training store, for good: it admits simulated jigs, and their records say so",
            store.dir().display()
        ));
    } else if was_training {
        tracing::info!(
            "data directory {} is a training store: it admits simulated jigs, and their records say so",
            store.dir().display()
        );
    }
    store
        .admits_plan(&plan.id, &plan.version, &plan.hash)
        .map_err(bad_input)?;
    Ok(store)
}

/// Whether two paths name the same directory (as the file system resolves them, or as
/// written when one cannot be resolved).
fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

pub(crate) fn cmd_run(a: RunArgs) -> Result<(), Failure> {
    if a.sim == 0 && a.ports.is_empty() && a.station.is_none() {
        return Err(bad_input(anyhow::anyhow!(
            "nothing to run: give --sim N for a simulated line, --station FILE for the station's benches or --port PATH for each jig"
        )));
    }
    let station = a
        .station
        .as_ref()
        .map(|f| benchctl::station::Station::load(f).map(std::sync::Arc::new))
        .transpose()
        .map_err(bad_input)?;
    if a.sim == 0 && (a.noise.is_some() || a.noise_stall.is_some()) {
        return Err(bad_input(anyhow::anyhow!(
            "--noise and --noise-stall act on simulated jigs only: add --sim N"
        )));
    }
    if !(a.time_scale >= 0.0 && a.time_scale.is_finite()) {
        return Err(bad_input(anyhow::anyhow!(
            "--time-scale must be a number >= 0 (1 = real time, 0 = as fast as possible)"
        )));
    }
    let operator_id = match &a.operator {
        Some(id) if id.trim().is_empty() => {
            return Err(bad_input(anyhow::anyhow!(
                "--operator is empty; give the operator's id as the plant knows it"
            )))
        }
        other => other.clone(),
    };
    let tui = uses_tui(&a);
    if !tui && !a.headless {
        crate::say("benchctl: standard output is not a terminal; printing one JSON line per graded phone (--headless)");
    }
    let library = load_phones(&a.phones)?;
    // What the simulated operator answers, for the jigs that announce simulated phones.
    let answers = std::sync::Arc::new(sim::LibraryAnswers::new(&library));
    let plan = std::sync::Arc::new(load_plan(&a.plan)?);
    let mut store = open_store(&a, &plan)?;
    // One data directory keeps one station's chain: the first run that writes names it.
    let station_id = station
        .as_ref()
        .map_or_else(run::station_name, |s| s.id.clone());
    store.claim_station(&station_id).map_err(bad_input)?;
    let plant_url = a
        .plant
        .clone()
        .or_else(|| station.as_ref().and_then(|s| s.plant.clone()));
    if let Some(head) = store.head() {
        tracing::info!(
            "record store {}: {} records",
            store.dir().display(),
            head.seq
        );
    }
    let reader = store.shared_reader();
    // Auditors are answered by this run while it holds the store.
    let _serving = crate::serve::start(store.shared_reader());
    let replica = store.shared_reader();
    let (writer, writer_done) = store::Writer::start(store)?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let replicator = plant_url.as_ref().map(|url| {
        let _in = rt.enter();
        replicate::Replicator::start(replicate::Config {
            commits: Some(writer.commits()),
            ..replicate::Config::new(url, &station_id, replica)
        })
    });
    let sim_line = if a.sim > 0 {
        let line = sim::LineOptions {
            faults: a.faults.clone(),
            noise: line_noise(a.noise, a.noise_stall, a.seed),
            seed: a.seed,
            time_scale: a.time_scale,
            ..sim::LineOptions::new(library, a.sim, usize::from(a.slots))
        };
        Some(sim::SimLine::start(&line)?)
    } else {
        None
    };
    let mut ports = sim_line
        .as_ref()
        .map(|l| l.ports.clone())
        .unwrap_or_default();
    ports.extend(a.ports.iter().cloned());
    if let Some(station) = &station {
        // Where the station's jigs may be; USB discovery can stand in for the file system here.
        use benchctl::station::ports::PortSource;
        ports.extend(benchctl::station::ports::DevPorts.candidates(&station.port_patterns()));
        ports = benchctl::station::ports::dedupe(ports, |p| std::fs::canonicalize(p).ok());
        tracing::info!(
            "station {}: looking for its {} jig(s) on {}",
            station.id,
            station.positions().len(),
            if ports.is_empty() {
                "no port".to_string()
            } else {
                ports.join(", ")
            }
        );
    }
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(run::Stop::Run);
    let mut opts = RunOptions {
        count: a.count.map(|c| c as usize),
        time_scale: a.time_scale,
        margin: Duration::from_millis(a.timeout_margin),
        grace: Duration::from_secs(a.stop_grace),
        ..RunOptions::new(plan.clone(), ports)
    };
    opts.plant = replicator.as_ref().map(replicate::Replicator::status);
    if let Some(station) = station {
        opts.station = station.id.clone();
        opts.bins = station.bins.clone();
        opts.station_file = Some(station);
    }
    // SIGINT / SIGTERM: take no new phones and let the ones under test finish; a second
    // signal stops at once. Either way, everything committed stays committed.
    rt.spawn(watch_signals(signal_tx));
    let sink: std::sync::Arc<dyn run::RecordSink> = std::sync::Arc::new(writer);
    let outcome = if tui {
        let person = Person::new(operator_id);
        let operator = answering(&answers, a.auto_answer, person.clone());
        let lookup = move |imei: &str| -> String {
            match history::runs(&reader, imei) {
                Ok(runs) => history::text(imei, &runs),
                Err(e) => format!("cannot read the history of {imei}: {e}"),
            }
        };
        let title = format!(
            "{} · plan {} {} ({})",
            opts.station,
            plan.id,
            plan.version,
            store::policy::short_hash(&plan.hash)
        );
        let log_file = log_file(&a);
        rt.block_on(line_with_tui(
            opts, signal_rx, person, operator, sink, lookup, title, log_file,
        ))
    } else {
        let who = operator_id.unwrap_or_else(login_name);
        let signed_in = std::sync::Arc::new(run::Nobody(who));
        // Headless, the simulated operator answers on a simulated line without being asked.
        let auto = a.auto_answer || sim_line.is_some();
        // Jigs that may be real: --port, or the ports a station file looks at.
        let real = !a.ports.is_empty()
            || opts
                .station_file
                .as_ref()
                .is_some_and(|s| !s.port_patterns().is_empty());
        if real && !plan.prompts.is_empty() {
            let simulated = if auto {
                " (the simulated operator answers for the jigs that announce simulated phones)"
            } else {
                ""
            };
            crate::say(&format!("benchctl: --headless: on real jigs nobody answers the plan's {} prompt(s), so their phones grade retest{simulated}; run the terminal UI to answer them", plan.prompts.len()));
        }
        let operator = answering(&answers, auto, signed_in);
        let opts = RunOptions {
            stop: Some(signal_rx),
            ..opts
        };
        Ok(rt.block_on(headless(opts, operator, sink)))
    };
    if let (Some(r), Some(url)) = (replicator, &plant_url) {
        let end = rt.block_on(r.finish(LAST_PUSH));
        say_outbox(&end, url, &data_dir(&a), tui);
    }
    rt.shutdown_timeout(Duration::from_millis(200));
    if let Some(line) = sim_line {
        line.stop();
    }
    // Every record handed to the store is written (or refused) before the lock goes.
    writer_done.wait();
    let (summary, write_error) = outcome?;
    report(&summary?, &data_dir(&a));
    if let Some(e) = write_error {
        return Err(e
            .context("cannot write records to standard output (they are in the record store)")
            .into());
    }
    Ok(())
}

/// How long the end of a run waits for a last push to the plant.
const LAST_PUSH: Duration = Duration::from_secs(5);

/// Says on standard error (and in the log file, behind the terminal UI) what the plant holds
/// at the end of a run and how many records remain in the outbox.
fn say_outbox(
    end: &benchctl::run::event::Replication,
    url: &str,
    dir: &std::path::Path,
    tui: bool,
) {
    let shown =
        benchctl::plant::url::PlantUrl::parse(url).map_or_else(|_| url.to_string(), |u| u.shown);
    let text = if end.backlog == 0 {
        format!(
            "benchctl: plant {shown}: holds every record of this store (up to record {}); {} pushed by this run",
            end.confirmed, end.pushed
        )
    } else {
        let why = end
            .error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        format!(
            "benchctl: plant {shown}: {} record(s) remain in the outbox{why}; `benchctl sync --plant URL --data {}` pushes them",
            end.backlog,
            dir.display()
        )
    };
    if tui {
        tracing::warn!("{text}");
    }
    crate::say(&text);
}

/// Who answers the prompts: the simulated operator (from the phone library's `answers`), when
/// `auto` lets it, for every jig that announces simulated phones (the jigs of `--sim N`,
/// `benchctl sim-jig` and the QEMU board on `--port`, wherever a station file places them);
/// the signed-in person (`signed_in`) for every other jig, and for all of them when `auto` is
/// false. The simulated operator never answers for a jig that does not announce simulated
/// phones (`Question::simulated`).
fn answering(
    answers: &std::sync::Arc<sim::LibraryAnswers>,
    auto: bool,
    signed_in: std::sync::Arc<dyn run::Operator>,
) -> std::sync::Arc<dyn run::Operator> {
    if auto {
        std::sync::Arc::new(sim::SimulatedOperator {
            answers: answers.clone(),
            signed_in,
            benches: usize::MAX,
        })
    } else {
        signed_in
    }
}

/// Signals ask the run to stop: the first drains, the second stops at once. SIGHUP (the
/// terminal or the service manager went away) stops the line as SIGTERM does, with its summary.
async fn watch_signals(stop: tokio::sync::watch::Sender<run::Stop>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!("cannot watch for SIGINT/SIGTERM/SIGHUP; they will stop benchctl at once");
        return;
    };
    for level in [run::Stop::Drain, run::Stop::Now] {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        if level == run::Stop::Now {
            tracing::warn!("second signal: stopping at once");
        }
        if stop.send(level).is_err() {
            return;
        }
    }
}

/// The run's outcome and, in headless mode, why standard output could not be written.
type Ran = (Result<run::Summary, run::RunError>, Option<anyhow::Error>);

/// A headless line: one JSON line per graded phone on standard output, and one per bench of
/// the station file whose jig is missing (`{"event":"jig_missing",...}`: records have no
/// `event` field).
async fn headless(
    opts: RunOptions,
    operator: std::sync::Arc<dyn run::Operator>,
    sink: std::sync::Arc<dyn run::RecordSink>,
) -> Ran {
    let write_error = std::cell::RefCell::new(None);
    let summary = run::run_with_notices(
        opts,
        operator,
        sink,
        |record, stored| {
            if write_error.borrow().is_some() {
                return false;
            }
            let printed = Printed {
                record,
                store: stored,
            };
            match print_json(&printed) {
                Ok(()) => true,
                Err(e) => {
                    // Stop testing: a record that cannot be written would be lost.
                    write_error.borrow_mut().get_or_insert(e);
                    false
                }
            }
        },
        |notice| {
            if let Err(e) = print_json(notice) {
                write_error.borrow_mut().get_or_insert(e);
            }
        },
    )
    .await;
    (summary, write_error.into_inner())
}

/// Writes `value` as one JSON line on standard output.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    // The line and its newline in one buffer, one write: a kill never leaves half a line
    // (stdout's line buffer passes a complete line straight to one write(2)).
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&line)?;
    out.flush()?;
    Ok(())
}

/// A line driven by the operator's terminal UI: the UI starts first (sign-in), the line once
/// someone is signed in, and the UI returns once the line has stopped.
#[allow(clippy::too_many_arguments)]
async fn line_with_tui(
    opts: RunOptions,
    mut signals: tokio::sync::watch::Receiver<run::Stop>,
    person: std::sync::Arc<Person>,
    operator: std::sync::Arc<dyn run::Operator>,
    sink: std::sync::Arc<dyn run::RecordSink>,
    lookup: impl Fn(&str) -> String + Send + Sync + 'static,
    title: String,
    log_file: PathBuf,
) -> Result<Ran, Failure> {
    let (events, rx) = run::Events::channel(4096);
    // One stop for the line: the UI's quit and the signals both raise it (levels only go up).
    let (stop_tx, run_stop_rx) = tokio::sync::watch::channel(run::Stop::Run);
    let seams = tui::Seams {
        events: rx,
        person: person.clone(),
        lookup: std::sync::Arc::new(lookup),
        stop: stop_tx.clone(),
        bins: opts.bins.clone(),
        title,
        log_file,
    };
    let mut screen = tokio::spawn(tui::run(seams));
    tokio::spawn(async move {
        while signals.changed().await.is_ok() {
            let level = *signals.borrow();
            stop_tx.send_if_modified(|s| s.raise(level));
        }
    });
    let mut asked = run_stop_rx.clone();
    let stopped_early = tokio::select! {
        _ = person.wait_signed_in() => false,
        _ = asked.wait_for(|s| *s != run::Stop::Run) => true,
        done = &mut screen => {
            // Quit before anyone signed in: nothing was tested.
            done.context("the terminal UI stopped")?.context("the terminal UI failed")?;
            return Ok((Ok(run::Summary::default()), None));
        }
    };
    if stopped_early {
        // A signal before anyone signed in: the line never started; the UI sees its stream
        // end and leaves.
        drop(events);
        screen
            .await
            .context("the terminal UI stopped")?
            .context("the terminal UI failed")?;
        return Ok((Ok(run::Summary::default()), None));
    }
    let opts = RunOptions {
        stop: Some(run_stop_rx),
        ..opts
    };
    let summary = run::run(
        opts,
        run::Seams {
            operator,
            sink,
            events,
        },
    )
    .await;
    // The run is over and its events sent: the UI shows the end and returns.
    screen
        .await
        .context("the terminal UI stopped")?
        .context("the terminal UI failed")?;
    Ok((summary, None))
}

/// What the run did, on standard error: phones recorded, what each jig's link absorbed, jigs
/// taken out of service, and the phones left in their slots.
fn report(s: &run::Summary, dir: &std::path::Path) {
    crate::say(&format!(
        "benchctl: {} phone(s) recorded in {} (give `--data {}` to export, verify and history)",
        s.phones,
        dir.display(),
        dir.display()
    ));
    for (port, c) in &s.links {
        crate::say(&format!(
            "  link {port}: {} bad frame(s), {} request(s) sent again, {} reply(ies) asked for again, {} timeout(s), {} reset(s), {} reconnection(s)",
            c.bad_frames, c.retries, c.resends, c.timeouts, c.resets, c.reconnects
        ));
    }
    for bench in &s.missing {
        crate::say(&format!(
            "  {bench}: missing; plug its jig in and restart the line"
        ));
    }
    for (port, times) in &s.out_of_service {
        crate::say(&format!("  the jig on {port} was taken out of service {times} time(s): check its USB cable, hub and power"));
    }
    let (what, todo) = if s.counted {
        ("left untested at --count", "test it in the next run")
    } else {
        ("not finished", "test it again")
    };
    for name in &s.abandoned {
        crate::say(&format!("  {name}: {what}; {todo}"));
    }
    for name in &s.unreleased {
        crate::say(&format!(
            "  {name}: recorded, release not confirmed; open the clamp by hand"
        ));
    }
}

/// The login name: `$USER`, `$LOGNAME`, else the user database's name for this uid.
fn login_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "unknown".into())
}

fn load_plan(path: &Option<PathBuf>) -> Result<benchctl::plan::Plan, Failure> {
    match path {
        Some(p) => benchctl::plan::Plan::load(p).map_err(bad_input),
        None => benchctl::plan::Plan::standard().map_err(bad_input),
    }
}

pub(crate) fn cmd_plan_check(a: CheckArgs) -> Result<(), Failure> {
    // The plan and the library are both checked, so that every problem shows at once.
    let plan = load_plan(&Some(a.file.clone()));
    let library = a
        .against
        .as_ref()
        .map(|dir| load_phones(&Some(dir.clone())));
    let plan = match (plan, &library) {
        (Err(p), Some(Err(l))) => {
            return Err(bad_input(anyhow::anyhow!("{:#}\n{:#}", p.error, l.error)))
        }
        (Err(p), _) => return Err(p),
        (Ok(plan), _) => plan,
    };
    crate::print_out(&format!(
        "{}: plan {} version {} is valid: {} steps, {} prompts, {} grading rules (sha256 {})",
        a.file.display(),
        plan.id,
        plan.version,
        plan.steps.len(),
        plan.prompts.len(),
        plan.grading.rules.len(),
        plan.hash
    ))?;
    let Some(library) = library.transpose()? else {
        return Ok(());
    };
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = rt.block_on(benchctl::dryrun::dry_run(
        std::sync::Arc::new(plan),
        library,
        usize::from(a.jigs),
        usize::from(a.slots),
        a.seed,
    ))?;
    rt.shutdown_timeout(Duration::from_millis(200));
    crate::print_out(&report.to_string())?;
    if report.mismatches.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{} phone(s) were not graded as expected",
            report.mismatches.len()
        )
        .into())
    }
}

pub(crate) fn cmd_sim_jig(a: SimJigArgs) -> Result<(), Failure> {
    let library = load_phones(&a.phones)?;
    let handle = sim::spawn(SimJigOptions {
        serial: a.serial,
        slots: usize::from(a.slots),
        seed: a.seed,
        time_scale: a.time_scale,
        protocol_version: a.protocol_version,
        faults: a.faults,
        link: a.link,
        feeder: Feeder::new(library.phones, a.seed, a.count),
        handling_ms: 2_000,
        babble: a.babble,
        noise: line_noise(a.noise, a.noise_stall, a.seed),
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", handle.path.display())
        .and_then(|_| out.flush())
        .context("cannot write the device path")?;
    drop(out);
    handle.join();
    Ok(())
}
