//! Replication to the plant database. Run with `cargo bench -p benchctl --bench plant`
//! (needs Debian's `postgresql` package; the bench starts its own cluster on a Unix socket in
//! a temporary directory, [`pgtest`]).
//!
//! 1. Records replicated per second: a store of N real records (from a simulated line, with
//!    fresh IMEIs and times) pushed to an empty plant by `benchctl sync`'s code, in batches of
//!    100, 500 (the default) and 2,000; each from an empty plant database of its own.
//! 2. The lag while 64 simulated jigs run with the replicator on: a line of 64 jigs (1 slot
//!    each) grading phones into a store as `run --sim 64 --plant URL` does; for every record,
//!    the time from its commit to the plant confirming it, and the largest backlog seen.
//!
//! `--records N` (or `BENCH_RECORDS=N`) sets N (default 20,000); `--phones N` the phones the
//! line grades (default 640); `--time-scale X` the line's speed (default 0.05).

#[path = "pgtest/mod.rs"]
mod pgtest;

#[path = "records/mod.rs"]
#[allow(dead_code)] // each bench uses a part of the shared helpers
mod records;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use benchctl::plant::replicate;
use benchctl::run::RunOptions;
use benchctl::store::{Pending, Store, Use, Writer};

fn arg(name: &str, env: &str, default: f64) -> anyhow::Result<f64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args.get(i + 1).context("a value")?.parse()?),
        None => match std::env::var(env) {
            Ok(v) => Ok(v.parse()?),
            Err(_) => Ok(default),
        },
    }
}

fn main() -> anyhow::Result<()> {
    let n = arg("--records", "BENCH_RECORDS", 20_000.0)? as u64;
    let phones = arg("--phones", "BENCH_PHONES", 640.0)? as usize;
    let scale = arg("--time-scale", "BENCH_TIME_SCALE", 0.05)?;
    let rt = tokio::runtime::Runtime::new()?;
    let scratch = tempfile::Builder::new()
        .prefix("plant-bench")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;

    let templates = records::real_records(64)?;
    let avg = templates.iter().map(|t| t.to_string().len()).sum::<usize>() / templates.len();
    println!(
        "plant replication benchmark ({} real records as templates, {avg} bytes of JSON each on average)",
        templates.len()
    );
    let dir = scratch.path().join("store");
    {
        let mut store = Store::open(&dir, Use::Write)?;
        store.make_training()?;
        store.claim_station("bench-station")?;
        let mut i = 0u64;
        while i < n {
            let batch: Vec<Pending> = (i..(i + 256).min(n))
                .map(|k| Pending::new(records::body(&templates[(k as usize) % templates.len()], k)))
                .collect::<Result<_, _>>()?;
            i += batch.len() as u64;
            store.append(batch)?;
        }
    }
    println!("  a store of {n} records");
    for batch in [100usize, 500, 2000] {
        let pg = pgtest::Pg::start()?;
        let url = rt.block_on(pg.plant(&["bench-station"]))?.remove(0);
        let store = Store::open(&dir, Use::Read)?;
        // Each run pushes to a new plant: the watermark of the last one names another.
        let started = Instant::now();
        let synced = rt.block_on(replicate::sync(
            &url,
            "bench-station",
            store.shared_reader(),
            batch,
        ))?;
        let took = started.elapsed();
        anyhow::ensure!(
            synced.plant_head == n,
            "the plant holds {} of {n}",
            synced.plant_head
        );
        println!(
            "  records replicated, batches of {batch:>4}: {n} in {:.2} s = {:.0} records/s ({:.1} MB/s of JSON)",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            (n as f64 * avg as f64) / took.as_secs_f64() / 1e6
        );
    }

    // 2. The lag while 64 jigs run.
    let pg = pgtest::Pg::start()?;
    let url = rt.block_on(pg.plant(&["line-64"]))?.remove(0);
    let dir = scratch.path().join("line");
    let mut store = Store::open(&dir, Use::Write)?;
    store.make_training()?;
    store.claim_station("line-64")?;
    let reader = store.shared_reader();
    let (writer, finished) = Writer::start(store)?;
    let line = benchctl::sim::LineOptions {
        time_scale: scale,
        ..benchctl::sim::LineOptions::new(benchctl::sim::builtin_phones()?, 64, 1)
    };
    let (graded, took, lags, most_backlog, end) = rt.block_on(async {
        let replicator = replicate::Replicator::start(replicate::Config {
            commits: Some(writer.commits()),
            ..replicate::Config::new(&url, "line-64", reader)
        });
        let sim = benchctl::sim::SimLine::start(&line)?;
        let operator = Arc::new(sim.operator(Arc::new(benchctl::run::Nobody("bench".into()))));
        let opts = RunOptions {
            count: Some(phones),
            time_scale: scale,
            station: "line-64".into(),
            plant: Some(replicator.status()),
            ..RunOptions::new(
                Arc::new(benchctl::plan::Plan::standard()?),
                sim.ports.clone(),
            )
        };
        // Commit time of each record, and the time the plant confirmed it.
        let committed: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let lags: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let most_backlog = Arc::new(Mutex::new(0u64));
        let watch = {
            let (mut commits, mut status) = (writer.commits(), replicator.status());
            let (committed, lags, most) = (committed.clone(), lags.clone(), most_backlog.clone());
            tokio::spawn(async move {
                let mut confirmed = 0u64;
                loop {
                    tokio::select! {
                        c = commits.changed() => {
                            if c.is_err() { return; }
                            let seq = commits.borrow_and_update().map_or(0, |h| h.seq);
                            let mut v = committed.lock().unwrap_or_else(|p| p.into_inner());
                            while (v.len() as u64) < seq { v.push(Instant::now()); }
                        }
                        s = status.changed() => {
                            if s.is_err() { return; }
                            let now = status.borrow_and_update().clone();
                            let mut m = most.lock().unwrap_or_else(|p| p.into_inner());
                            *m = (*m).max(now.backlog);
                            let v = committed.lock().unwrap_or_else(|p| p.into_inner());
                            let mut l = lags.lock().unwrap_or_else(|p| p.into_inner());
                            while confirmed < now.confirmed.min(v.len() as u64) {
                                l.push(v[confirmed as usize].elapsed());
                                confirmed += 1;
                            }
                        }
                    }
                }
            })
        };
        let started = Instant::now();
        let summary =
            benchctl::run::run_to_records(opts, operator, Arc::new(writer), |_, _| true).await?;
        let took = started.elapsed();
        sim.stop();
        let end = replicator.finish(Duration::from_secs(30)).await;
        watch.abort();
        let lags = std::mem::take(&mut *lags.lock().unwrap_or_else(|p| p.into_inner()));
        let most = *most_backlog.lock().unwrap_or_else(|p| p.into_inner());
        anyhow::Ok((summary.phones, took, lags, most, end))
    })?;
    finished.wait();
    let mut ms: Vec<f64> = lags.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        ms.get(((ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "  64 simulated jigs (time scale {scale}): {graded} phones graded in {:.1} s ({:.1}/s); commit to plant confirmation for {} records: median {:.0} ms, p95 {:.0} ms, max {:.0} ms; largest backlog {most_backlog}; at the end the outbox holds {} (plant head {})",
        took.as_secs_f64(),
        graded as f64 / took.as_secs_f64(),
        ms.len(),
        pct(0.5),
        pct(0.95),
        pct(1.0),
        end.backlog,
        end.confirmed
    );
    Ok(())
}
