//! `benchctl`: the command line of the Benchline bench controller. This file holds the command
//! tree and the exit codes; `line.rs` runs lines, simulated jigs and plan checks, `audit.rs`
//! exports, verifies and shows history, `serve.rs` answers those from a running line.
//!
//! Exit codes: 0 success, 1 a failure the message explains, 2 bad usage or bad input files.

mod audit;
mod flash;
mod jigs;
mod line;
mod plant;
mod plantwide;
mod progress;
mod serve;
mod sync;
mod tidy;

use std::path::PathBuf;
use std::process::ExitCode;

use benchctl::store;
use clap::{Parser, Subcommand};

use audit::{ExportArgs, HistoryArgs, VerifyArgs};
use line::{CheckArgs, RunArgs, SimJigArgs};

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
    /// Jigs found on USB and on the serial ports named, with their firmware and protocol versions.
    Jigs(jigs::JigsArgs),
    /// Flash jig firmware through a debug probe (probe-rs) and confirm the jig runs it.
    Flash(flash::FlashArgs),
    /// The plant database, for its owner: migrate the schema, let a login role write a station.
    #[command(subcommand)]
    Plant(plant::PlantCommand),
    /// Push the records the plant database does not hold yet (exit 1 unless it then holds them all); --status: the plant's lag per station.
    Sync(sync::SyncArgs),
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Validate a plan; with --against, dry-run it on simulated jigs against a phone library and
    /// compare every grade with the phone's expected outcome (exit 1 on any mismatch).
    Check(CheckArgs),
}

#[derive(clap::Args)]
pub(crate) struct DataArg {
    /// Data directory holding the record store (default: $BENCHCTL_DATA, else
    /// $XDG_DATA_HOME/benchline, else ~/.local/share/benchline).
    #[arg(long, value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
}

impl DataArg {
    pub(crate) fn dir(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(store::default_dir)
    }
}

/// An error with its exit code.
pub(crate) struct Failure {
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

pub(crate) fn bad_input(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        error: error.into(),
    }
}

/// Sends the log to standard error, or, while the terminal UI owns the terminal, to a file in
/// the data directory (never to the screen behind the UI).
fn start_logging(cli: &Cli) {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| "warn,sled=off".into())
    };
    if let Command::Run(a) = &cli.command {
        if line::uses_tui(a) {
            let file = line::log_file(a);
            let (dir, name) = (file.parent(), file.file_name());
            if let (Some(dir), Some(name)) = (dir, name) {
                if std::fs::create_dir_all(dir).is_ok() {
                    tracing_subscriber::fmt()
                        .with_env_filter(filter())
                        .with_ansi(false)
                        .with_writer(tracing_appender::rolling::never(dir, name))
                        .init();
                    return;
                }
            }
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run(_)) {
        // Whatever `run` creates lives in its data directory (sled's files, the log, the
        // socket) and stays private to this user whatever the umask (store::private).
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    }
    start_logging(&cli);
    let result = match cli.command {
        Command::Run(a) => line::cmd_run(a),
        Command::SimJig(a) => line::cmd_sim_jig(a),
        Command::Plan(PlanCommand::Check(a)) => line::cmd_plan_check(a),
        Command::Export(a) => audit::cmd_export(a),
        Command::Verify(a) => audit::cmd_verify(a),
        Command::History(a) => audit::cmd_history(a),
        Command::Jigs(a) => jigs::cmd_jigs(a),
        Command::Flash(a) => flash::cmd_flash(a),
        Command::Plant(c) => plant::cmd_plant(c),
        Command::Sync(a) => sync::cmd_sync(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let text = bounded(&format!("{:#}", f.error));
            // Plan diagnostics are already rendered with their own `error:` headings.
            if text.starts_with("error") {
                say(&text);
            } else {
                say(&format!("error: {text}"));
            }
            ExitCode::from(f.code)
        }
    }
}

/// Writes a line to standard output. A reader that stopped reading (`| head`) is not an
/// error: the rest is not printed and the exit code says what the command found.
pub(crate) fn print_out(text: &str) -> Result<(), Failure> {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    let mut out = std::io::stdout().lock();
    match std::io::Write::write_all(&mut out, line.as_bytes())
        .and_then(|_| std::io::Write::flush(&mut out))
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::anyhow!(
            "cannot write to standard output: {e}; check where it goes (a full disk, a closed terminal)"
        )
        .into()),
        _ => Ok(()),
    }
}

/// Writes a line to standard error; a closed or broken standard error is no reason to panic
/// (or to fail: the exit code still says what happened).
pub(crate) fn say(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
}

/// A message with every line cut to [`LINE_LIMIT`] bytes: whatever value a message echoes, the
/// error output stays readable (the values themselves are shortened where they are named).
fn bounded(text: &str) -> String {
    const LINE_LIMIT: usize = 4096;
    if text.lines().all(|l| l.len() <= LINE_LIMIT) {
        return text.to_string();
    }
    text.lines()
        .map(|l| {
            if l.len() <= LINE_LIMIT {
                return l.to_string();
            }
            let mut cut = LINE_LIMIT;
            while !l.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}… ({} bytes)", &l[..cut], l.len())
        })
        .collect::<Vec<_>>()
        .join("\n")
}
