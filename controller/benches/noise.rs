//! A noisy line: 200 phones through one simulated 4-slot jig at time scale 0 with no noise and
//! with 0.01 %, 0.1 % and 1 % of the bytes damaged in both directions (`sim::Noise`), then the
//! clean throughput of one jig over a few runs. Prints wall time, the ratio to the clean run,
//! records, wrong grades (a record whose outcome differs from what the phone library expects;
//! a `retest` is not wrong and is counted apart), retests and what the link absorbed.
//!
//! Each run is bounded: after `--limit S` seconds (120 by default) it is stopped and reported
//! as stuck. Run with `cargo bench -p benchctl --bench noise` (`-- --phones N --limit S`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use benchctl::dryrun::outcome_matches;
use benchctl::grade::Disposition;
use benchctl::run::{PhoneRecord, RunOptions, Stop};
use benchctl::sim::{LineOptions, Noise};
use benchline_sim::Phone;

/// Byte damage rates of the table; 0 is the clean line.
const RATES: [f64; 4] = [0.0, 0.0001, 0.001, 0.01];
/// Clean runs for the phones/s figure.
const CLEAN_RUNS: usize = 10;
/// A gap between two records this long means the loop of the jig or the host sat idle.
const LONG_GAP: Duration = Duration::from_millis(15);

/// How one run went.
struct Outcome {
    wall: Duration,
    records: Vec<PhoneRecord>,
    /// Time between consecutive records (from the start for the first).
    gaps: Vec<Duration>,
    /// The run did not finish within the limit.
    stuck: bool,
    /// The run did not even stop when told to (it was dropped).
    hung: bool,
    error: Option<String>,
    abandoned: usize,
    /// Times the jig was taken out of service.
    out_of_service: u64,
}

fn options(
    phones: usize,
    seed: u64,
    noise: Option<Noise>,
) -> anyhow::Result<(LineOptions, RunOptions)> {
    let line = LineOptions {
        noise,
        seed,
        ..LineOptions::new(benchctl::sim::builtin_phones()?, 1, 4)
    };
    let opts = RunOptions {
        count: Some(phones),
        ..RunOptions::new(Arc::new(benchctl::plan::Plan::standard()?), Vec::new())
    };
    Ok((line, opts))
}

/// One run, stopped after `limit` (and dropped if it does not stop within 10 s more).
fn one_run(
    (line, mut opts): (LineOptions, RunOptions),
    limit: Duration,
) -> anyhow::Result<Outcome> {
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(Stop::Run);
    opts.stop = Some(stop_rx);
    let mut records = Vec::new();
    let mut gaps = Vec::new();
    let started = Instant::now();
    let mut last = started;
    let (result, stuck) = rt.block_on(async {
        let run = benchctl::sim::run_simulated(&line, opts, "bench", |r, _| {
            records.push(r.clone());
            gaps.push(last.elapsed());
            last = Instant::now();
            true
        });
        tokio::pin!(run);
        tokio::select! {
            r = &mut run => (Some(r), false),
            _ = tokio::time::sleep(limit) => {
                let _ = stop_tx.send(Stop::Now);
                (tokio::time::timeout(Duration::from_secs(10), &mut run).await.ok(), true)
            }
        }
    });
    let wall = started.elapsed();
    rt.shutdown_timeout(Duration::from_secs(1));
    let (error, abandoned, out_of_service) = match &result {
        Some(Ok(s)) => (
            None,
            s.abandoned.len(),
            s.out_of_service.iter().map(|(_, n)| n).sum(),
        ),
        Some(Err(e)) => (Some(e.to_string()), 0, 0),
        None => (None, 0, 0),
    };
    Ok(Outcome {
        wall,
        records,
        gaps,
        stuck,
        hung: result.is_none(),
        error,
        abandoned,
        out_of_service,
    })
}

/// Wrong grades (with the first few reasons) and retests, against the library's expectations.
fn judge(records: &[PhoneRecord], by_imei: &HashMap<String, Phone>) -> (usize, usize, Vec<String>) {
    let (mut wrong, mut retests, mut why) = (0, 0, Vec::new());
    for r in records {
        if r.grade.disposition == Disposition::Retest {
            retests += 1;
            continue;
        }
        let verdict = match by_imei.get(&*r.phone.imei) {
            Some(p) => outcome_matches(p, r).map_err(|e| format!("{} ({}): {e}", p.id, p.imei)),
            None => Err(format!(
                "{}: not in the library (identity read wrong?)",
                r.phone.imei
            )),
        };
        if let Err(e) = verdict {
            wrong += 1;
            if why.len() < 3 {
                why.push(e);
            }
        }
    }
    (wrong, retests, why)
}

/// Sums of what the link absorbed for the phones of a run (the per-phone counters of the
/// records' `link` object).
fn absorbed(records: &[PhoneRecord]) -> String {
    let mut sums: Vec<(String, u64)> = Vec::new();
    for r in records {
        let Ok(v) = serde_json::to_value(r.link) else {
            continue;
        };
        let Some(fields) = v.as_object() else {
            continue;
        };
        for (k, v) in fields {
            // bad_frames counts the whole jig, not one phone: summing would count it per slot.
            if k == "bad_frames" {
                continue;
            }
            let n = v.as_u64().unwrap_or(0);
            match sums.iter_mut().find(|(name, _)| name == k) {
                Some((_, total)) => *total += n,
                None => sums.push((k.clone(), n)),
            }
        }
    }
    sums.iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| -> anyhow::Result<Option<u64>> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(Some(
                args.get(i + 1)
                    .with_context(|| format!("{name} needs a number"))?
                    .parse()
                    .with_context(|| format!("{name} needs a number"))?,
            )),
            None => Ok(None),
        }
    };
    let phones = arg("--phones")?.unwrap_or(200) as usize;
    let limit = Duration::from_secs(arg("--limit")?.unwrap_or(120));
    let by_imei: HashMap<String, Phone> = benchctl::sim::builtin_phones()?
        .phones
        .into_iter()
        .map(|p| (p.imei.clone(), p))
        .collect();

    println!(
        "{phones} phones through one simulated 4-slot jig at time scale 0, line noise in both directions (seed 1, at most {} s a run):",
        limit.as_secs()
    );
    println!(
        "  {:>8}  {:>8}  {:>7}  {:>7}  {:>5}  {:>6}  {:>8}  {:>9}  {:>14}  link absorbed",
        "noise",
        "wall s",
        "x clean",
        "records",
        "wrong",
        "retest",
        "phones/s",
        "abandoned",
        "out of service"
    );
    let mut clean = None;
    let mut notes = Vec::new();
    for rate in RATES {
        let noise = (rate > 0.0).then(|| Noise::new(rate, 1));
        let o = one_run(options(phones, 1, noise)?, limit)?;
        let (wrong, retests, why) = judge(&o.records, &by_imei);
        let wall = o.wall.as_secs_f64();
        let base = *clean.get_or_insert(wall);
        let label = format!("{}%", rate * 100.0);
        println!(
            "  {label:>8}  {wall:>8.2}  {:>7.1}  {:>7}  {wrong:>5}  {retests:>6}  {:>8.1}  {:>9}  {:>14}  {}{}",
            wall / base,
            o.records.len(),
            o.records.len() as f64 / wall.max(1e-9),
            o.abandoned,
            o.out_of_service,
            absorbed(&o.records),
            match (o.hung, o.stuck, &o.error) {
                (true, _, _) => "  STUCK: did not finish, and did not stop when told to".to_string(),
                (_, true, _) => format!("  STUCK: stopped after {} s", limit.as_secs()),
                (_, _, Some(e)) => format!("  FAILED: {e}"),
                _ => String::new(),
            }
        );
        notes.extend(why.into_iter().map(|w| format!("{label}: {w}")));
    }
    if !notes.is_empty() {
        println!("  wrong grades (first few per rate):");
        for n in notes {
            println!("    {n}");
        }
    }

    let mut rates = Vec::new();
    let (mut gaps, mut long) = (0, 0);
    for seed in 1..=CLEAN_RUNS as u64 {
        let o = one_run(options(phones, seed, None)?, limit)?;
        if o.stuck || o.error.is_some() {
            println!("  clean run with seed {seed} did not finish: {:?}", o.error);
            continue;
        }
        rates.push(o.records.len() as f64 / o.wall.as_secs_f64().max(1e-9));
        gaps += o.gaps.len();
        long += o.gaps.iter().filter(|g| **g >= LONG_GAP).count();
    }
    rates.sort_by(f64::total_cmp);
    if let (Some(lo), Some(hi)) = (rates.first(), rates.last()) {
        println!(
            "one 4-slot jig at time scale 0, no noise: median {:.0} phones/s over {} runs of {phones} phones (seeds 1-{CLEAN_RUNS}; {lo:.0}-{hi:.0}); {long} of {gaps} gaps between records >= {} ms",
            rates[rates.len() / 2],
            rates.len(),
            LONG_GAP.as_millis(),
        );
    }
    Ok(())
}
