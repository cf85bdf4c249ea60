//! The record store under load. Run with `cargo bench -p benchctl --bench store`
//! (`-- --records N` for the size of the export and verify store; default 1,000,000).
//!
//! 1. Durable commits: 16 slots finishing together through the group-commit writer, against one
//!    slot at a time (a flush per record); records per second and records per flush.
//! 2. A store of N records (real records from a simulated line, with fresh IMEIs and times).
//! 3. `export --format csv` of all N records, and 4. `verify` over them: wall time and peak
//!    memory, each in a child process of its own so the peak is theirs alone.
//! 5. The raw baseline over the same entries: read in key order, decompress and hash each
//!    record body on one thread, nothing else (what `verify` is measured against; `verify`
//!    and `export` decompress and hash on every core).
//!
//! `--records N` (or `BENCH_RECORDS=N`) sets N, e.g. 100000 or 1000000; `--keep DIR` keeps the
//! big store in DIR and reuses it.

#[path = "records/mod.rs"]
#[allow(dead_code)] // each bench uses a part of the shared helpers
mod records;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use benchctl::export::{self, Filter, Format};
use benchctl::store::{Pending, Store, Use, Writer};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "__child") {
        return child(&args[i + 1], Path::new(&args[i + 2]));
    }
    let n: u64 = match args.iter().position(|a| a == "--records") {
        Some(i) => args.get(i + 1).context("--records N")?.parse()?,
        None => match std::env::var("BENCH_RECORDS") {
            Ok(v) => v.parse().context("BENCH_RECORDS=N")?,
            Err(_) => 1_000_000,
        },
    };
    let templates = records::real_records(64)?;
    let avg = templates.iter().map(|t| t.to_string().len()).sum::<usize>() / templates.len();
    println!("record store benchmark ({} real records as templates, {avg} bytes of JSON each on average)", templates.len());
    let scratch = tempfile::Builder::new()
        .prefix("store-bench")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;

    for (slots, rounds) in [(16usize, 100usize), (1, 300)] {
        let dir = scratch.path().join(format!("commit-{slots}"));
        // The templates come from simulated jigs: only a training store admits them.
        let mut store = Store::open(&dir, Use::Write)?;
        store.make_training()?;
        let (writer, finished) = Writer::start(store)?;
        let rt = tokio::runtime::Runtime::new()?;
        let started = Instant::now();
        rt.block_on(async {
            let tasks: Vec<_> = (0..slots)
                .map(|s| {
                    let (w, t) = (writer.clone(), templates.clone());
                    tokio::spawn(async move {
                        for r in 0..rounds {
                            let body =
                                records::body(&t[(s + r) % t.len()], (s * rounds + r) as u64);
                            w.commit(Pending::new(body)?).await?;
                        }
                        Ok::<_, benchctl::store::StoreError>(())
                    })
                })
                .collect();
            for t in tasks {
                t.await??;
            }
            anyhow::Ok(())
        })?;
        let elapsed = started.elapsed();
        drop(writer);
        let stats = finished.wait();
        println!(
            "  durable commits, {slots:>2} slot(s) finishing together: {} records in {:.2} s = {:.0} records/s, {:.1} records per flush",
            stats.records,
            elapsed.as_secs_f64(),
            stats.records as f64 / elapsed.as_secs_f64(),
            stats.records as f64 / stats.batches.max(1) as f64
        );
    }

    // `--keep DIR` builds the big store there once and reuses it on later runs.
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1));
    let big = keep.map_or_else(|| scratch.path().join("big"), std::path::PathBuf::from);
    let mut appending = Duration::ZERO;
    if !big.join("records").exists() {
        let mut store = Store::open(&big, Use::Write)?;
        store.make_training()?;
        let mut next = 0u64;
        while next < n {
            let batch: Vec<Pending> = (next..(next + 1000).min(n))
                .map(|i| Pending::new(records::body(&templates[i as usize % templates.len()], i)))
                .collect::<Result<_, _>>()?;
            next += batch.len() as u64;
            let started = Instant::now();
            store.append(batch)?;
            appending += started.elapsed();
        }
    }
    if appending.is_zero() {
        println!(
            "  reused the store in {} (--keep; --records does not change it): {} on disk",
            big.display(),
            size(&big.join("records"))
        );
    } else {
        println!(
            "  built a store of {n} records: {:.1} s appending ({:.0} records/s in batches of 1000); {} on disk",
            appending.as_secs_f64(),
            n as f64 / appending.as_secs_f64(),
            size(&big.join("records"))
        );
    }
    for what in ["export", "verify", "raw"] {
        let started = Instant::now();
        let out = std::process::Command::new(std::env::current_exe()?)
            .args(["__child", what])
            .arg(&big)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "  {what} over {n} records: {:.1} s, {}",
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(())
}

/// The export or verify step, in a process of its own; prints its result and peak memory.
/// (`__child open DIR MB`: only opens the store's sled database with a page cache of MB and
/// reads the first and last record, to measure what opening costs.)
fn child(what: &str, dir: &Path) -> anyhow::Result<()> {
    if what == "open" {
        let mb: u64 = std::env::args()
            .next_back()
            .and_then(|a| a.parse().ok())
            .unwrap_or(8);
        let db = sled::Config::new()
            .path(dir.join("records"))
            .cache_capacity(mb << 20)
            .flush_every_ms(None)
            .open()?;
        let opened = records::peak_memory()?;
        let records = db.open_tree("records")?;
        let (first, last) = (records.first()?.is_some(), records.last()?.is_some());
        println!(
            "cache {mb} MB: peak memory {opened} once open, {} after reading the first and last record ({first}, {last})",
            records::peak_memory()?
        );
        return Ok(());
    }
    let store = Store::open(dir, Use::Read)?;
    let opened = records::peak_memory()?;
    let result = match what {
        "export" => {
            let out = dir.join("export.csv");
            let file = std::fs::File::create(&out)?;
            let s = export::export(&store, &Filter::default(), Format::Csv, file)?;
            format!("{} rows, {} of CSV", s.records, size(&out))
        }
        "raw" => {
            drop(store);
            raw(dir)?
        }
        _ => {
            let r = export::verify::verify(&store, None)?;
            anyhow::ensure!(r.ok(), "{r}");
            format!("{} records verified", r.records)
        }
    };
    println!(
        "{result}, peak memory {} ({opened} once the store was open)",
        records::peak_memory()?
    );
    Ok(())
}

/// The raw baseline: every entry of the records tree in key order, decoded (its body
/// decompressed) and hashed, on this one thread; nothing checked, nothing else read.
fn raw(dir: &Path) -> anyhow::Result<String> {
    let store = Store::open(dir, Use::Read)?;
    let mut count = 0u64;
    let mut bytes = 0u64;
    let mut x = 0u8;
    for kv in store.raw_records() {
        let (seq, v) = kv?;
        let e = benchctl::store::Entry::decode(&v)?;
        x ^= benchctl::store::entry::chain_hash(&e.prev, seq, &e.body)[0];
        bytes += e.body.len() as u64;
        count += 1;
    }
    Ok(format!(
        "{count} entries decompressed and hashed ({:.1} GB of JSON, {x:02x})",
        bytes as f64 / 1e9
    ))
}

fn size(path: &Path) -> String {
    fn total(p: &Path) -> u64 {
        match std::fs::read_dir(p) {
            Ok(rd) => rd.flatten().map(|e| total(&e.path())).sum(),
            Err(_) => std::fs::metadata(p).map_or(0, |m| m.len()),
        }
    }
    format!("{:.1} MB", total(path) as f64 / 1e6)
}
