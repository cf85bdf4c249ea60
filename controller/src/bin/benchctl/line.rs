//! `run`, `sim-jig` and `plan check`: lines of jigs, one simulated jig, dry runs.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use benchctl::link::LinkConfig;
use benchctl::run::{self, RunOptions};
use benchctl::sim::{self, Fault, Feeder, SimJigOptions};
use benchctl::store::{self, Store};

use crate::{bad_input, DataArg, Failure};

#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// The plan file.
    file: PathBuf,
    /// Phone library (a directory of TOML files, or one file) to dry-run against.
    #[arg(long, value_name = "DIR")]
    against: Option<PathBuf>,
    /// Simulated jigs for the dry run.
    #[arg(long, value_name = "N", default_value_t = 4)]
    jigs: usize,
    /// Slots per simulated jig.
    #[arg(long, value_name = "N", default_value_t = 4)]
    slots: usize,
    /// Seed of the simulated line.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
}

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Start N simulated jigs on PTYs, fed with phones from the built-in library.
    #[arg(long, value_name = "N", default_value_t = 0)]
    sim: usize,
    /// Serial port of a jig (repeatable), e.g. /dev/ttyACM0 or the path `benchctl sim-jig` printed.
    #[arg(long = "port", value_name = "PATH")]
    ports: Vec<String>,
    /// The test plan (default: the standard plan built in, test-plans/standard-refurb.toml).
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Print one JSON line per tested phone (no terminal UI).
    #[arg(long)]
    headless: bool,
    /// Stop after N phones (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Seed of the simulated line (phone order, measurement and line noise; boot ids are random).
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Real seconds per second of procedure time: 1 real time, 0.01 a hundred times faster, 0 as fast as possible.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    time_scale: f64,
    /// Operator id recorded with every phone (default: the login name, $USER).
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
        Some(p) => benchline_sim::Library::load(p).map_err(bad_input),
        None => run::builtin_phones().map_err(bad_input),
    }
}

pub(crate) fn cmd_run(a: RunArgs) -> Result<(), Failure> {
    if a.sim == 0 && a.ports.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "nothing to run: give --sim N for a simulated line or --port PATH for each jig"
        )));
    }
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
    let library = load_phones(&a.phones)?;
    let plan = load_plan(&a.plan)?;
    let store = Store::open(&a.data.dir(), store::Use::Write)?;
    if let Some(head) = store.head() {
        tracing::info!(
            "record store {}: {} records",
            store.dir().display(),
            head.seq
        );
    }
    // Auditors are answered by this run while it holds the store.
    let _serving = crate::serve::start(store.shared_reader());
    let (writer, writer_done) = store::Writer::start(store)?;
    if !a.headless {
        eprintln!(
            "benchctl: the terminal UI is not available yet; printing one JSON line per phone"
        );
    }
    let opts = RunOptions {
        ports: a.ports,
        sim: a.sim,
        sim_slots: usize::from(a.slots),
        sim_faults: a.faults,
        sim_noise: line_noise(a.noise, a.noise_stall, a.seed),
        library,
        count: a.count.map(|c| c as usize),
        seed: a.seed,
        time_scale: a.time_scale,
        operator: match a.operator {
            Some(id) if !id.trim().is_empty() => id,
            Some(_) => {
                return Err(bad_input(anyhow::anyhow!(
                    "--operator is empty; give the operator's id as the plant knows it"
                )))
            }
            None => login_name(),
        },
        margin: Duration::from_millis(a.timeout_margin),
        link: LinkConfig::default(),
        plan: std::sync::Arc::new(plan),
        sim_once: false,
        station: run::station_name(),
        store: Some(writer),
        stop: None,
        grace: Duration::from_secs(a.stop_grace),
    };
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    // SIGINT / SIGTERM: take no new phones and let the ones under test finish; a second
    // signal stops at once. Either way, everything committed stays committed.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(run::Stop::Run);
    let opts = RunOptions {
        stop: Some(stop_rx),
        ..opts
    };
    rt.spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("cannot watch for SIGINT/SIGTERM; they will stop benchctl at once");
            return;
        };
        for level in [run::Stop::Drain, run::Stop::Now] {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if level == run::Stop::Now {
                tracing::warn!("second signal: stopping at once");
            }
            if stop_tx.send(level).is_err() {
                return;
            }
        }
    });
    let stdout = std::io::stdout();
    let mut write_error = None;
    let summary = rt.block_on(run::run(opts, |record, stored| {
        let mut out = stdout.lock();
        let printed = Printed {
            record,
            store: stored,
        };
        let line = serde_json::to_string(&printed).map_err(anyhow::Error::from);
        match line.and_then(|l| {
            writeln!(out, "{l}")
                .and_then(|_| out.flush())
                .map_err(anyhow::Error::from)
        }) {
            Ok(()) => true,
            Err(e) => {
                // Stop testing: a record that cannot be written would be lost.
                write_error.get_or_insert(e);
                false
            }
        }
    }));
    rt.shutdown_timeout(Duration::from_millis(200));
    // Every record handed to the store is written (or refused) before the lock goes.
    writer_done.wait();
    report(&summary?);
    if let Some(e) = write_error {
        return Err(e
            .context("cannot write records to standard output (they are in the record store)")
            .into());
    }
    Ok(())
}

/// What the run did, on standard error: phones recorded, what each jig's link absorbed, jigs
/// taken out of service, and the phones left in their slots.
fn report(s: &run::Summary) {
    eprintln!("benchctl: {} phone(s) recorded", s.phones);
    for (port, c) in &s.links {
        eprintln!(
            "  link {port}: {} bad frame(s), {} request(s) sent again, {} reply(ies) asked for again, {} timeout(s), {} reset(s), {} reconnection(s)",
            c.bad_frames, c.retries, c.resends, c.timeouts, c.resets, c.reconnects
        );
    }
    for (port, times) in &s.out_of_service {
        eprintln!("  the jig on {port} was taken out of service {times} time(s): check its USB cable, hub and power");
    }
    let (what, todo) = if s.counted {
        ("left untested at --count", "test it in the next run")
    } else {
        ("not finished", "test it again")
    };
    for name in &s.abandoned {
        eprintln!("  {name}: {what}; {todo}");
    }
    for name in &s.unreleased {
        eprintln!("  {name}: recorded, release not confirmed; open the clamp by hand");
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
    let plan = load_plan(&Some(a.file.clone()))?;
    println!(
        "{}: plan {} version {} is valid: {} steps, {} prompts, {} grading rules (sha256 {})",
        a.file.display(),
        plan.id,
        plan.version,
        plan.steps.len(),
        plan.prompts.len(),
        plan.grading.rules.len(),
        plan.hash
    );
    let Some(dir) = a.against else { return Ok(()) };
    let library = benchline_sim::Library::load(&dir).map_err(bad_input)?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = rt.block_on(benchctl::dryrun::dry_run(
        std::sync::Arc::new(plan),
        library,
        a.jigs,
        a.slots,
        a.seed,
    ))?;
    rt.shutdown_timeout(Duration::from_millis(200));
    println!("{report}");
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
