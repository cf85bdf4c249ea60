//! `export`, `verify` and `history`: what auditors read from the store.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use benchctl::export::{self, filter, history, verify, Filter, Format};
use benchctl::store::{self, Reader, Store, StoreError, Stored};

use crate::{bad_input, DataArg, Failure};

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum FormatArg {
    Csv,
    Json,
    Jsonl,
}

#[derive(clap::Args)]
pub(crate) struct ExportArgs {
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
    /// Read the plant's database (every station's records) instead of a data directory:
    /// postgresql://USER@HOST/DB (TLS with ?sslmode=require|verify-full).
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    plant: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    data: DataArg,
    /// Also check the chain still holds this head, as an earlier export stated it (SEQ:HASH).
    #[arg(long, value_name = "SEQ:HASH", conflicts_with = "plant")]
    head: Option<String>,
    /// Verify every station's chain in the plant's database; with --data, also that this
    /// station's store holds what the plant holds of it, and how far the plant is behind.
    #[arg(long, value_name = "URL")]
    plant: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct HistoryArgs {
    /// The device's IMEI.
    imei: String,
    #[command(flatten)]
    data: DataArg,
    /// Print the full records as JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Read the plant's database (every station's records) instead of a data directory:
    /// postgresql://USER@HOST/DB (TLS with ?sslmode=require|verify-full).
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    plant: Option<String>,
}

/// An audit command, checked and ready to run on a store: here, or in the `benchctl run` that
/// holds the data directory ([`crate::serve`]).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum Query {
    /// `export`.
    Export { filter: Filter, format: Format },
    /// `verify`.
    Verify { expect: Option<Stored> },
    /// `history`.
    History { imei: String, json: bool },
}

/// Runs a query on a store: what it prints to `out`, what it says to `note` (standard error).
pub(crate) fn execute(
    query: &Query,
    store: &Reader,
    out: &mut dyn Write,
    note: &mut dyn Write,
) -> Result<(), Failure> {
    execute_with(query, store, out, note, &export::Progress::default())
}

/// [`execute`], counting the records read in `progress` (for a progress bar).
pub(crate) fn execute_with(
    query: &Query,
    store: &Reader,
    out: &mut dyn Write,
    note: &mut dyn Write,
    progress: &export::Progress,
) -> Result<(), Failure> {
    let dir = store.dir().display().to_string();
    match query {
        Query::Export { filter, format } => {
            let summary = export::export_with(store, filter, *format, &mut *out, progress)?;
            let head = export::head_text(summary.head);
            // A note that cannot be shown (standard error closed) does not undo the export.
            let _ = writeln!(
                note,
                "benchctl: exported {} record(s) from chain head {head}; check it later with `benchctl verify --head {head}`",
                summary.records
            );
        }
        Query::Verify { expect } => {
            let report = verify::verify_with(store, *expect, progress)?;
            writeln!(out, "{dir}: {report}")?;
            if store.training()? {
                writeln!(
                    out,
                    "{dir} is a training store: it admits records of simulated jigs (each says so in jig.simulated)"
                )?;
            }
            if !report.ok() {
                return Err(
                    anyhow::anyhow!("the records in {dir} are not complete and unchanged").into(),
                );
            }
        }
        Query::History { imei, json } => {
            let runs = history::runs(store, imei)?;
            if runs.is_empty() {
                return Err(anyhow::anyhow!(
                    "no run of IMEI {imei} in {dir}; check the number or the --data directory"
                )
                .into());
            }
            if *json {
                for r in &runs {
                    export::write_full(out, r.seq, &r.entry, None)?;
                    out.write_all(b"\n")?;
                }
            } else {
                out.write_all(history::text(imei, &runs).as_bytes())?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Runs a query on the store in `data`: opened here, or, while a `benchctl run` holds it, asked
/// of that run. Output goes to `out` (a file) or standard output.
fn answer(data: &DataArg, query: Query, out: Option<Out>) -> Result<(), Failure> {
    let dir = data.dir();
    if dir.exists() && !dir.is_dir() {
        return Err(anyhow::anyhow!(
            "--data {} is a file, not a directory: give the directory `benchctl run` wrote to",
            dir.display()
        )
        .into());
    }
    if !dir.join("records").exists() {
        let training = store::policy::training_dir();
        let hint = if training != dir && training.join("records").exists() {
            format!(
                " (a simulated line given no --data keeps its records in {}: `--data {}`)",
                training.display(),
                training.display()
            )
        } else {
            String::new()
        };
        return Err(anyhow::anyhow!(
            "no record store in {}: give --data the directory `benchctl run` wrote to, as its summary names it{hint}",
            dir.display()
        )
        .into());
    }
    let run = |w: &mut dyn Write| match Store::open(&dir, store::Use::Read) {
        Ok(store) => {
            let progress = std::sync::Arc::new(export::Progress::default());
            let what = match query {
                Query::Verify { .. } => "verified",
                _ => "read",
            };
            let bar = crate::progress::Bar::start(progress.clone(), what);
            if let Query::Verify { .. } = query {
                // The report is short: it is printed once the bar is gone, not beside it.
                let mut report = Vec::new();
                let result = execute_with(
                    &query,
                    &store,
                    &mut report,
                    &mut std::io::stderr(),
                    &progress,
                );
                drop(bar);
                w.write_all(&report)?;
                w.flush()?;
                return result;
            }
            execute_with(&query, &store, w, &mut std::io::stderr(), &progress)
        }
        Err(busy @ StoreError::Busy { .. }) => {
            crate::serve::ask(&dir, &query, w).unwrap_or(Err(busy.into()))
        }
        Err(e) => Err(e.into()),
    };
    match out {
        Some(out) => out.write(run),
        None => match run(&mut std::io::stdout().lock()) {
            // The reader stopped reading (`| head`): nothing is wrong here.
            Err(f) if is_broken_pipe(&f.error) => Ok(()),
            r => r,
        },
    }
}

pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(c.downcast_ref::<export::ExportError>(), Some(export::ExportError::Write(io)) if io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub(crate) fn cmd_export(a: ExportArgs) -> Result<(), Failure> {
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
    filter::check_period(
        a.since.as_deref().zip(filter.since_ms),
        a.until.as_deref().zip(filter.until_ms),
    )
    .map_err(bad_input)?;
    let format = match a.format {
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
        FormatArg::Jsonl => Format::Jsonl,
    };
    let out = match a.out.as_deref() {
        None => None,
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(Out::check(p)?),
    };
    if out.as_ref().is_some_and(|o| !o.through) {
        // SIGINT, SIGTERM, SIGHUP remove the temporary file (before any thread starts).
        crate::tidy::watch_signals();
    }
    if let Some(url) = &a.plant {
        return crate::plantwide::export(url, &filter, format, out);
    }
    answer(&a.data, Query::Export { filter, format }, out)
}

pub(crate) fn cmd_verify(a: VerifyArgs) -> Result<(), Failure> {
    let expect = match &a.head {
        None => None,
        Some(h) => Some(verify::parse_head(h).ok_or_else(|| {
            bad_input(anyhow::anyhow!(
                "--head {h:?} is not SEQ:HASH (a sequence number, a colon and 64 hex digits, as an export states it)"
            ))
        })?),
    };
    if let Some(url) = &a.plant {
        return crate::plantwide::verify(url, a.data.data.as_deref());
    }
    answer(&a.data, Query::Verify { expect }, None)
}

pub(crate) fn cmd_history(a: HistoryArgs) -> Result<(), Failure> {
    let imei = history::parse_imei(&a.imei).ok_or_else(|| {
        bad_input(anyhow::anyhow!(
            "{:?} is not an IMEI: give its digits (15, as on the label; dashes and spaces are fine)",
            a.imei
        ))
    })?;
    if let Some(url) = &a.plant {
        return crate::plantwide::history(url, &imei, a.json);
    }
    answer(&a.data, Query::History { imei, json: a.json }, None)
}

/// Where `export --out` writes: a regular file (new or replaced) is written beside it and moved
/// into place when complete; anything else (a device, a FIFO, a symlink) is written through.
pub(crate) struct Out {
    path: PathBuf,
    through: bool,
}

impl Out {
    /// Checks the path before any work is done.
    pub(crate) fn check(path: &std::path::Path) -> Result<Out, Failure> {
        if path.is_dir() {
            return Err(bad_input(anyhow::anyhow!(
                "--out {} is a directory; give a file name",
                path.display()
            )));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(bad_input(anyhow::anyhow!(
                "--out {}: the directory {} does not exist; create it first",
                path.display(),
                parent.display()
            )));
        }
        let through = std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file());
        Ok(Out {
            path: path.to_path_buf(),
            through,
        })
    }

    /// Runs `export` on the file; the file is complete (synced, in place) or not there at all.
    pub(crate) fn write<T>(
        self,
        export: impl FnOnce(&mut dyn Write) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let shown = self.path.display().to_string();
        if self.through {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&self.path)
                .with_context(|| format!("cannot open {shown}"))?;
            return export(&mut &file);
        }
        let parent = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        // Temporary files of exports that were killed (SIGKILL, power cut).
        crate::tidy::sweep(parent);
        // Readable like any file the user creates (the umask applies), not 0600; named with
        // the pid, so that the sweep knows when it is left over.
        let temp = crate::tidy::create_temp(|| {
            tempfile::Builder::new()
                .prefix(&format!(
                    "{}{}-",
                    crate::tidy::TEMP_PREFIX,
                    std::process::id()
                ))
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
                .tempfile_in(parent)
        })
        .with_context(|| format!("cannot create a file in {}", parent.display()))?;
        let written = export(&mut temp.as_file()).and_then(|result| {
            temp.as_file()
                .sync_all()
                .with_context(|| format!("cannot write {shown}"))?;
            Ok(result)
        });
        // In place or removed (on error, by dropping it), never half-way because of a signal.
        crate::tidy::done_with_temp(|| -> Result<T, Failure> {
            let result = written?;
            temp.persist(&self.path)
                .with_context(|| format!("cannot put the export at {shown}"))?;
            Ok(result)
        })
    }
}
