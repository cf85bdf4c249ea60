//! `benchctl plan check --against DIR`: a dry run of a plan on a simulated line against every
//! phone of a library, compared with the outcome each phone expects.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annotate_snippets::{Level, Renderer};
use benchline_sim::{Library, Phone, PhoneError};

use crate::grade::{Disposition, Verdict};
use crate::plan::{Diagnostic, Plan};
use crate::run::record::{PhoneRecord, StepStatus};
use crate::run::RunOptions;
use crate::sim::{self, LineError, LineOptions};

/// A phone library that cannot be used, rendered as plan errors are: every problem at
/// file:line:col with its source line and a hint (see [`render_library_error`]).
/// Its `Display` is the whole rendering, so it has no `source` to print again.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_library_error(.0))]
pub struct LibraryError(pub PhoneError);

impl From<PhoneError> for LibraryError {
    fn from(e: PhoneError) -> Self {
        LibraryError(e)
    }
}

/// Loads a phone library (a file or a directory of `*.toml`), every problem rendered.
pub fn load_library(path: &Path) -> Result<Library, LibraryError> {
    Library::load(path).map_err(LibraryError)
}

/// Renders a phone library's problems like plan diagnostics: located ones with the plan's
/// [`Diagnostic`] rendering, whole-file ones (not a regular file, too large, unreadable) as a
/// titled error with its hint, then how many there were.
pub fn render_library_error(e: &PhoneError) -> String {
    let PhoneError::Invalid(p) = e else {
        return format!("error: {e}");
    };
    let mut out = String::new();
    for problem in &p.problems {
        let origin = problem.path.display().to_string();
        let located = problem
            .at
            .as_ref()
            .and_then(|at| Some((at, p.source(&problem.path)?)));
        match located {
            Some((at, source)) => {
                let d = Diagnostic::new(problem.message.clone(), at.span.clone())
                    .hint(problem.hint.clone());
                let _ = writeln!(out, "{}", d.render(&origin, source));
            }
            None => {
                let title = format!("{origin}: {}", problem.message);
                let msg = Level::Error
                    .title(&title)
                    .footer(Level::Help.title(&problem.hint));
                let _ = writeln!(out, "{}", Renderer::plain().render(msg));
            }
        }
    }
    let _ = write!(
        out,
        "phone library: {} error(s); nothing was run",
        p.problems.len()
    );
    out
}

/// Result of a dry run.
#[derive(Debug, Default)]
pub struct Report {
    /// Phones in the library.
    pub phones: usize,
    /// Records produced.
    pub graded: usize,
    /// Phones whose outcome differs from the expected one (or that state none), with why.
    pub mismatches: Vec<String>,
    /// Counts by disposition.
    pub dispositions: BTreeMap<String, usize>,
    /// Counts by CTIA functional grade.
    pub functional: BTreeMap<u8, usize>,
    /// Counts by marketplace grade.
    pub marketplace: BTreeMap<String, usize>,
    /// Per step id: (measured, passed, failed limits, not measured, skipped).
    pub steps: BTreeMap<String, [usize; 5]>,
    /// Expected disposition -> actual disposition -> count.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Compares a record's grade (cosmetic, functional, disposition, repairs, marketplace and the
/// R2v3 categories, which the phone must state) with the outcome the library expects for the
/// phone; the error says what differs and why.
pub fn outcome_matches(p: &Phone, r: &PhoneRecord) -> Result<(), String> {
    let Some(e) = &p.expected else {
        return Err("the phone states no expected outcome".into());
    };
    let g = &r.grade;
    let repair: Vec<String> = g.repair.iter().map(|x| x.as_str().to_string()).collect();
    let actual = Outcome {
        cosmetic: g.cosmetic.as_deref().unwrap_or_default().to_string(),
        functional: g.functional,
        disposition: g.disposition.as_str().to_string(),
        repair,
        marketplace: g.marketplace.as_deref().map(str::to_string),
        // Every plan maps R2v3 categories: a phone that does not state them is a mismatch
        // (it would otherwise hide a wrong category).
        r2_functional: Some(g.r2_functional.to_string()),
        r2_cosmetic: Some(g.r2_cosmetic.as_deref().unwrap_or("-").to_string()),
    };
    let expected = Outcome {
        cosmetic: e.cosmetic.clone(),
        functional: e.functional,
        disposition: e.disposition.clone(),
        repair: e.repair.clone(),
        marketplace: e.marketplace.clone(),
        r2_functional: e.r2_functional.clone(),
        r2_cosmetic: e.r2_cosmetic.clone(),
    };
    if actual == expected {
        return Ok(());
    }
    Err(format!(
        "expected {expected}; got {actual} because: {}",
        if g.reasons.is_empty() {
            "no rule fired".into()
        } else {
            g.reasons.join("; ")
        }
    ))
}

/// The parts of a grade a phone's expectation is compared on (`None` R2v3: not stated).
#[derive(PartialEq)]
struct Outcome {
    cosmetic: String,
    functional: u8,
    disposition: String,
    repair: Vec<String>,
    marketplace: Option<String>,
    r2_functional: Option<String>,
    r2_cosmetic: Option<String>,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let repair = if self.repair.is_empty() {
            String::new()
        } else {
            format!(" {}", self.repair.join("+"))
        };
        write!(
            f,
            "cosmetic {} functional {} {}{repair}, marketplace {}",
            self.cosmetic,
            self.functional,
            self.disposition,
            self.marketplace.as_deref().unwrap_or("-")
        )?;
        let stated = |c: &Option<String>| c.clone().unwrap_or_else(|| "not stated".into());
        write!(
            f,
            ", R2 functional {}, R2 cosmetic {}",
            stated(&self.r2_functional),
            stated(&self.r2_cosmetic)
        )?;
        Ok(())
    }
}

/// Runs `plan` on `jigs` simulated jigs of `slots` slots against every phone of `library`.
pub async fn dry_run(
    plan: Arc<Plan>,
    library: Library,
    jigs: usize,
    slots: usize,
    seed: u64,
) -> Result<Report, LineError> {
    let mut report = Report {
        phones: library.phones.len(),
        ..Report::default()
    };
    // A loaded library has no IMEI twice; one built by hand might, and its records could not
    // be told apart.
    let mut by_imei: HashMap<String, Phone> = HashMap::new();
    for p in &library.phones {
        match by_imei.get(&p.imei) {
            Some(first) => report.mismatches.push(format!(
                "{} ({}): has the IMEI of {} too; its results cannot be told apart",
                p.id, p.imei, first.id
            )),
            None => {
                by_imei.insert(p.imei.clone(), p.clone());
            }
        }
    }
    let mut records = Vec::new();
    let line = LineOptions {
        seed,
        once: true,
        ..LineOptions::new(library.clone(), jigs.max(1), slots)
    };
    let opts = RunOptions {
        count: Some(library.phones.len()),
        station: "plan-check".into(),
        ..RunOptions::new(plan.clone(), Vec::new())
    };
    let started = Instant::now();
    sim::run_simulated(&line, opts, "plan-check", |r, _| {
        records.push(r.clone());
        true
    })
    .await?;
    report.elapsed = started.elapsed();
    report.graded = records.len();
    let mut seen = std::collections::HashSet::new();
    for r in &records {
        seen.insert(r.phone.imei.clone());
        let g = &r.grade;
        *report
            .dispositions
            .entry(g.disposition.as_str().to_string())
            .or_default() += 1;
        *report.functional.entry(g.functional).or_default() += 1;
        *report
            .marketplace
            .entry(g.marketplace.as_deref().unwrap_or("-").to_string())
            .or_default() += 1;
        for s in &r.steps {
            let e = report.steps.entry(s.id.clone()).or_default();
            match s.status {
                StepStatus::Measured => {
                    e[0] += 1;
                    if s.measurements
                        .iter()
                        .any(|m| m.verdict == Some(Verdict::Fail))
                    {
                        e[2] += 1;
                    } else {
                        e[1] += 1;
                    }
                }
                StepStatus::Failed => e[3] += 1,
                StepStatus::Skipped => e[4] += 1,
            }
        }
        let Some(phone) = by_imei.get(&*r.phone.imei) else {
            report.mismatches.push(format!(
                "{}: not in the library (identity read wrong?)",
                r.phone.imei
            ));
            continue;
        };
        let expected = phone
            .expected
            .as_ref()
            .map_or("-".to_string(), |e| e.disposition.clone());
        *report
            .confusion
            .entry(expected)
            .or_default()
            .entry(g.disposition.as_str().to_string())
            .or_default() += 1;
        if let Err(why) = outcome_matches(phone, r) {
            report
                .mismatches
                .push(format!("{} ({}): {why}", phone.id, phone.imei));
        }
    }
    report.mismatches.sort();
    for p in &library.phones {
        if !seen.contains(p.imei.as_str()) {
            report
                .mismatches
                .push(format!("{} ({}): was not graded", p.id, p.imei));
        }
    }
    Ok(report)
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "graded {} of {} phones in {:.2} s ({:.0} phones/s)",
            self.graded,
            self.phones,
            self.elapsed.as_secs_f64(),
            self.graded as f64 / self.elapsed.as_secs_f64().max(1e-9)
        );
        let _ = writeln!(s, "\ndispositions:");
        for (k, v) in &self.dispositions {
            let _ = writeln!(s, "  {k:<10} {v:>5}");
        }
        let _ = writeln!(s, "\nCTIA functional grades:");
        for (k, v) in &self.functional {
            let _ = writeln!(s, "  {k:<10} {v:>5}");
        }
        let _ = writeln!(s, "\nmarketplace grades:");
        for (k, v) in &self.marketplace {
            let _ = writeln!(s, "  {k:<10} {v:>5}");
        }
        let _ = writeln!(
            s,
            "\nsteps:        measured   pass  fail-limits  not-measured  skipped  pass-rate"
        );
        for (id, [m, p, fl, nm, sk]) in &self.steps {
            let rate = if *m > 0 {
                *p as f64 / *m as f64 * 100.0
            } else {
                0.0
            };
            let _ = writeln!(
                s,
                "  {id:<12} {m:>8} {p:>6} {fl:>12} {nm:>13} {sk:>8} {rate:>9.1}%"
            );
        }
        let cols = Disposition::ALL.map(Disposition::as_str);
        let _ = writeln!(
            s,
            "\nexpected \\ actual {}",
            cols.iter().map(|c| format!("{c:>8}")).collect::<String>()
        );
        for (exp, row) in &self.confusion {
            let _ = writeln!(
                s,
                "  {exp:<15} {}",
                cols.iter()
                    .map(|c| format!("{:>8}", row.get(*c).copied().unwrap_or(0)))
                    .collect::<String>()
            );
        }
        if self.mismatches.is_empty() {
            let _ = write!(s, "\nevery phone graded as expected");
        } else {
            let _ = writeln!(s, "\n{} mismatch(es):", self.mismatches.len());
            for m in &self.mismatches {
                let _ = writeln!(s, "  {m}");
            }
        }
        f.write_str(&s)
    }
}
