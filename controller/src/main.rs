//! `benchctl`: the command line of the Benchline bench controller.
//!
//! Exit codes: 0 success, 1 a failure the message explains, 2 bad usage or bad input files.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use benchctl::link::LinkConfig;
use benchctl::run::{self, RunOptions};
use benchctl::sim::{self, Fault, Feeder, SimJigOptions};
use benchctl::store::{self, Store};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "benchctl",
    version,
    about = "Benchline bench controller: drives phone test jigs and records every measurement"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Test phones on a line of jigs: simulated (--sim N) or real (--port PATH).
    Run(RunArgs),
    /// Start one simulated jig on a PTY and print its device path.
    SimJig(SimJigArgs),
    /// Work with test plans.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Export graded records as CSV, JSON or JSONL, streamed; states the chain head it was taken from.
    Export(ExportArgs),
    /// Prove the records are complete and unchanged (exit 1 naming the first bad record if not).
    Verify(VerifyArgs),
    /// Every run of one device, newest first, with grade and reasons.
    History(HistoryArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Csv,
    Json,
    Jsonl,
}

#[derive(clap::Args)]
struct ExportArgs {
    #[command(flatten)]
    data: DataArg,
    /// Output format: csv (one row per run, documented columns), json or jsonl (full records).
    #[arg(long, value_enum)]
    format: FormatArg,
    /// Write here (atomically: FILE appears only when complete) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Runs finished at or after T: RFC 3339, a date (midnight UTC) or an age such as 7d.
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Runs finished before T (same forms as --since).
    #[arg(long, value_name = "T")]
    until: Option<String>,
    /// Only these grades (repeatable): a disposition, a marketplace grade, CTIA cosmetic A-E or an R2v3 code.
    #[arg(long, value_name = "G")]
    grade: Vec<String>,
    /// Only these model codes (repeatable).
    #[arg(long, value_name = "M")]
    model: Vec<String>,
    /// Only these stations (repeatable).
    #[arg(long, value_name = "S")]
    station: Vec<String>,
}

#[derive(clap::Args)]
struct VerifyArgs {
    #[command(flatten)]
    data: DataArg,
    /// Also check the chain still holds this head, as an earlier export stated it (SEQ:HASH).
    #[arg(long, value_name = "SEQ:HASH")]
    head: Option<String>,
}

#[derive(clap::Args)]
struct HistoryArgs {
    /// The device's IMEI.
    imei: String,
    #[command(flatten)]
    data: DataArg,
    /// Print the full records as JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Validate a plan; with --against, dry-run it on simulated jigs against a phone library and
    /// compare every grade with the phone's expected outcome (exit 1 on any mismatch).
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
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
struct RunArgs {
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
    /// Seed of the simulated line (phone order, noise, boot ids).
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
    /// How long a jig gets to answer beyond a procedure's physical duration, ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    timeout_margin: u64,
    #[command(flatten)]
    data: DataArg,
}

#[derive(clap::Args)]
struct DataArg {
    /// Data directory holding the record store (default: $BENCHCTL_DATA, else
    /// $XDG_DATA_HOME/benchline, else ~/.local/share/benchline).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

impl DataArg {
    fn dir(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(store::default_dir)
    }
}

/// A record as printed by `run --headless`: the stored record, and where it landed.
#[derive(serde::Serialize)]
struct Printed<'a> {
    #[serde(flatten)]
    record: &'a run::PhoneRecord,
    store: Option<StoreRef>,
}

#[derive(serde::Serialize)]
struct StoreRef {
    seq: u64,
    hash: String,
}

#[derive(clap::Args)]
struct SimJigArgs {
    /// Slots (1-4).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
    slots: u8,
    /// Phone library (a TOML file or a directory of them); default: the built-in one.
    #[arg(long, value_name = "DIR")]
    phones: Option<PathBuf>,
    /// Seed (phone order, noise, boot ids).
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
    /// Announce this protocol version (to test how hosts refuse incompatible firmware).
    #[arg(long, value_name = "V", default_value_t = benchline_protocol::PROTOCOL_VERSION)]
    protocol_version: u16,
    /// Be a broken device that only writes noise (to test how hosts refuse a non-jig).
    #[arg(long)]
    babble: bool,
}

/// An error with its exit code.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            code: 1,
            error: e.into(),
        }
    }
}

fn bad_input(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        error: error.into(),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,sled=off".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd_run(a),
        Command::SimJig(a) => cmd_sim_jig(a),
        Command::Plan(PlanCommand::Check(a)) => cmd_plan_check(a),
        Command::Export(a) => cmd_export(a),
        Command::Verify(a) => cmd_verify(a),
        Command::History(a) => cmd_history(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let text = format!("{:#}", f.error);
            // Plan diagnostics are already rendered with their own `error:` headings.
            if text.starts_with("error") {
                eprintln!("{text}");
            } else {
                eprintln!("error: {text}");
            }
            ExitCode::from(f.code)
        }
    }
}

fn load_phones(path: &Option<PathBuf>) -> Result<benchline_sim::Library, Failure> {
    match path {
        Some(p) => benchline_sim::Library::load(p).map_err(bad_input),
        None => run::builtin_phones().map_err(bad_input),
    }
}

fn cmd_run(a: RunArgs) -> Result<(), Failure> {
    if a.sim == 0 && a.ports.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "nothing to run: give --sim N for a simulated line or --port PATH for each jig"
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
            None => std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "unknown".into()),
        },
        margin: Duration::from_millis(a.timeout_margin),
        link: LinkConfig::default(),
        plan: std::sync::Arc::new(plan),
        sim_once: false,
        station: run::station_name(),
        store: Some(writer),
    };
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let stdout = std::io::stdout();
    let mut write_error = None;
    let summary = rt.block_on(run::run(opts, |record, stored| {
        let mut out = stdout.lock();
        let printed = Printed {
            record,
            store: stored.map(|s| StoreRef {
                seq: s.seq,
                hash: store::hex(&s.hash),
            }),
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
    summary?;
    if let Some(e) = write_error {
        return Err(e
            .context("cannot write records to standard output (they are in the record store)")
            .into());
    }
    Ok(())
}

fn load_plan(path: &Option<PathBuf>) -> Result<benchctl::plan::Plan, Failure> {
    match path {
        Some(p) => benchctl::plan::Plan::load(p).map_err(bad_input),
        None => benchctl::plan::Plan::standard().map_err(bad_input),
    }
}

fn cmd_plan_check(a: CheckArgs) -> Result<(), Failure> {
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

/// Opens an existing store for reading; a missing one is an error, not a new empty store.
fn open_existing(data: &DataArg) -> Result<Store, Failure> {
    let dir = data.dir();
    if !dir.join("records").exists() {
        return Err(anyhow::anyhow!(
            "no record store in {}: give --data the directory `benchctl run` wrote to",
            dir.display()
        )
        .into());
    }
    Ok(Store::open(&dir, store::Use::Read)?)
}

fn cmd_export(a: ExportArgs) -> Result<(), Failure> {
    use benchctl::export::{self, filter, Filter, Format};
    let now = std::time::SystemTime::now();
    let time = |t: &Option<String>| {
        t.as_deref()
            .map(|t| filter::parse_time(t, now))
            .transpose()
            .map_err(bad_input)
    };
    let filter = Filter {
        since_ms: time(&a.since)?,
        until_ms: time(&a.until)?,
        grades: a
            .grade
            .iter()
            .map(|g| filter::parse_grade(g))
            .collect::<Result<_, _>>()
            .map_err(bad_input)?,
        models: a.model,
        stations: a.station,
    };
    let format = match a.format {
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
        FormatArg::Jsonl => Format::Jsonl,
    };
    let store = open_existing(&a.data)?;
    let summary = match &a.out {
        None => export::export(&store, &filter, format, std::io::stdout().lock())?,
        Some(path) => {
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let file = std::fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let result = export::export(&store, &filter, format, &file)
                .map_err(anyhow::Error::from)
                .and_then(|s| file.sync_all().map(|_| s).map_err(anyhow::Error::from))
                .and_then(|s| {
                    std::fs::rename(&partial, path)
                        .map(|_| s)
                        .with_context(|| format!("cannot move the export to {}", path.display()))
                });
            if result.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            result?
        }
    };
    eprintln!(
        "benchctl: exported {} record(s) from chain head {}; check it later with `benchctl verify --head {}`",
        summary.records,
        export::head_text(summary.head),
        export::head_text(summary.head)
    );
    Ok(())
}

fn cmd_verify(a: VerifyArgs) -> Result<(), Failure> {
    let expect = match &a.head {
        None => None,
        Some(h) => Some(benchctl::export::verify::parse_head(h).ok_or_else(|| {
            bad_input(anyhow::anyhow!(
                "--head {h:?} is not SEQ:HASH (a sequence number, a colon and 64 hex digits, as an export states it)"
            ))
        })?),
    };
    let store = open_existing(&a.data)?;
    let report = benchctl::export::verify::verify(&store, expect)?;
    if report.ok() {
        println!("{}: {report}", store.dir().display());
        Ok(())
    } else {
        println!("{}: {report}", store.dir().display());
        Err(anyhow::anyhow!(
            "the records in {} are not complete and unchanged",
            store.dir().display()
        )
        .into())
    }
}

fn cmd_history(a: HistoryArgs) -> Result<(), Failure> {
    use benchctl::export::history;
    let store = open_existing(&a.data)?;
    let runs = history::runs(&store, a.imei.trim())?;
    let mut out = std::io::stdout().lock();
    if a.json {
        for r in &runs {
            out.write_all(&r.body).and_then(|_| out.write_all(b"\n"))?;
        }
    } else {
        out.write_all(history::text(a.imei.trim(), &runs).as_bytes())?;
    }
    out.flush()?;
    if runs.is_empty() {
        return Err(anyhow::anyhow!(
            "no run of IMEI {} in {}; check the number (15 digits) or the --data directory",
            a.imei.trim(),
            store.dir().display()
        )
        .into());
    }
    Ok(())
}

fn cmd_sim_jig(a: SimJigArgs) -> Result<(), Failure> {
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
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", handle.path.display())
        .and_then(|_| out.flush())
        .context("cannot write the device path")?;
    drop(out);
    handle.join();
    Ok(())
}
