//! Plant-wide reads under load. Run with `cargo bench -p benchctl --bench plant_export`
//! (`-- --records N` for the size, default 1,000,000; `--stations S`, default 4; `--plant URL`
//! to use an existing, migrated database that this login owns as a superuser instead of a
//! throwaway cluster).
//!
//! 1. A throwaway PostgreSQL cluster (Debian's package: initdb and pg_ctl, as the `postgres`
//!    user when run as root, on a Unix socket in a temporary directory), migrated by
//!    `benchctl::plant::admin::migrate`.
//! 2. N real records (from a simulated line, with fresh IMEIs and times) spread over S
//!    stations, their hash chains computed here and loaded with `COPY ... (FORMAT binary)`,
//!    the arrival trigger disabled for the load only (the hashes are valid: the export
//!    recomputes every one of them as it reads).
//! 3. `export --plant --format csv` of all N records, and 4. `verify --plant` over them: wall
//!    time and peak memory, each in a child process of its own so the peak is theirs alone.

#[path = "records/mod.rs"]
#[allow(dead_code)] // each bench uses a part of the shared helpers
mod records;

use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use benchctl::export::{self, Filter, Format};
use benchctl::plant::Plant;
use benchctl::store::entry::chain_hash;
use benchctl::store::{Hash, GENESIS};
use futures::SinkExt;
use serde_json::Value;

#[path = "pgtest/mod.rs"]
#[allow(dead_code)] // each bench uses a part of the shared cluster helper
mod pgtest;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "__child") {
        return child(&args[i + 1], &args[i + 2], Path::new(&args[i + 3]));
    }
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let n: u64 = match arg("--records") {
        Some(v) => v.parse().context("--records N")?,
        None => 1_000_000,
    };
    let stations: u64 = match arg("--stations") {
        Some(v) => v.parse().context("--stations S")?,
        None => 4,
    };
    let scratch = tempfile::Builder::new().prefix("plant-bench").tempdir()?;
    let rt = tokio::runtime::Runtime::new()?;
    let (url, _cluster) = match arg("--plant") {
        Some(url) => (url.clone(), None),
        None => {
            // Loading is not what is measured: no fsync for it.
            let pg = pgtest::Pg::start_with(
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_wal_size = 8GB\n",
            )?;
            rt.block_on(pg.sql("postgres", "CREATE DATABASE plant"))?;
            (pg.url("plant", "postgres"), Some(pg))
        }
    };
    rt.block_on(benchctl::plant::admin::migrate(&url))?;
    let templates = records::real_records(64)?;
    let avg = templates.iter().map(|t| t.to_string().len()).sum::<usize>() / templates.len();
    println!(
        "plant export benchmark: {n} records over {stations} stations ({avg} bytes of JSON each on average)"
    );
    let started = Instant::now();
    rt.block_on(load(&url, &templates, n, stations))?;
    println!(
        "  loaded {n} records with COPY (binary) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let out = scratch.path().join("export.csv");
    for what in ["export", "verify"] {
        let started = Instant::now();
        let run = Command::new(std::env::current_exe()?)
            .args(["__child", what, &url])
            .arg(&out)
            .output()?;
        anyhow::ensure!(
            run.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        println!(
            "  {what} --plant over {n} records: {:.1} s, {}",
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&run.stdout).trim()
        );
    }
    Ok(())
}

/// The export or verify step, in a process of its own; prints its result and peak memory.
fn child(what: &str, url: &str, out: &Path) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let plant = rt.block_on(Plant::connect(url))?;
    let connected = records::peak_memory()?;
    let result = if what == "export" {
        let file = std::io::BufWriter::new(std::fs::File::create(out)?);
        let s = export::plant::export(
            rt.handle(),
            plant.client(),
            &Filter::default(),
            Format::Csv,
            file,
            &export::Progress::default(),
        )?;
        format!(
            "{} rows from {} stations, {:.1} MB of CSV",
            s.records,
            s.stations.len(),
            std::fs::metadata(out)?.len() as f64 / 1e6
        )
    } else {
        let r = export::plant::verify::verify(rt.handle(), plant.client(), None)?;
        anyhow::ensure!(r.ok(), "{r}");
        format!("{} records verified", r.records())
    };
    println!(
        "{result}, peak memory {} ({connected} once connected)",
        records::peak_memory()?
    );
    Ok(())
}

/// Loads `n` records over `stations` stations, round robin, each station's chain valid.
async fn load(url: &str, templates: &[Arc<Value>], n: u64, stations: u64) -> anyhow::Result<()> {
    let plant = Plant::connect(url).await?;
    let client = plant.client();
    client
        .batch_execute("ALTER TABLE benchline.records DISABLE TRIGGER USER")
        .await?;
    let ids: Vec<String> = (0..stations).map(|s| format!("line{}", s + 1)).collect();
    let mut heads: Vec<(u64, Hash)> = vec![(0, GENESIS); ids.len()];
    for id in &ids {
        client
            .execute(
                "INSERT INTO benchline.stations (id) VALUES ($1) ON CONFLICT DO NOTHING",
                &[id],
            )
            .await?;
    }
    let sink = client
        .copy_in(
            "COPY benchline.records (station, seq, hash, prev, body, imei, finished) \
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    futures::pin_mut!(sink);
    let mut buf = Vec::with_capacity(4 << 20);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes());
    buf.extend_from_slice(&0i32.to_be_bytes());
    for i in 0..n {
        let s = (i % stations) as usize;
        let (seq, prev) = (heads[s].0 + 1, heads[s].1);
        let finished_s = 1_790_000_000 + i;
        let mut v = (*templates[i as usize % templates.len()]).clone();
        let imei = format!("35{i:013}");
        v["phone"]["imei"] = imei.clone().into();
        v["station"] = ids[s].clone().into();
        let t = std::time::UNIX_EPOCH + Duration::from_secs(finished_s);
        v["finished"] = humantime::format_rfc3339_millis(t).to_string().into();
        let body = serde_json::to_vec(&v)?;
        let hash = chain_hash(&prev, seq, &body);
        heads[s] = (seq, hash);
        buf.extend_from_slice(&7i16.to_be_bytes());
        let field = |buf: &mut Vec<u8>, bytes: &[u8]| {
            buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            buf.extend_from_slice(bytes);
        };
        field(&mut buf, ids[s].as_bytes());
        field(&mut buf, &(seq as i64).to_be_bytes());
        field(&mut buf, &hash);
        field(&mut buf, &prev);
        field(&mut buf, &body);
        field(&mut buf, imei.as_bytes());
        // timestamptz: microseconds since 2000-01-01 UTC.
        let micros = (finished_s as i64 - 946_684_800) * 1_000_000;
        field(&mut buf, &micros.to_be_bytes());
        if buf.len() >= 4 << 20 {
            sink.send(Cursor::new(std::mem::take(&mut buf))).await?;
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    sink.send(Cursor::new(buf)).await?;
    sink.finish().await?;
    for (id, (seq, hash)) in ids.iter().zip(&heads) {
        client
            .execute(
                "UPDATE benchline.stations SET head_seq = $2, head_hash = $3, pushed_at = now() WHERE id = $1",
                &[id, &(*seq as i64), &hash.as_slice()],
            )
            .await?;
    }
    client
        .batch_execute(
            "ALTER TABLE benchline.records ENABLE TRIGGER USER; ANALYZE benchline.records",
        )
        .await?;
    Ok(())
}
