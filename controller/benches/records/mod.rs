//! What the benchmarks share: real records from a simulated line to use as templates, a
//! template made the i-th device, and this process's peak memory.

use std::sync::Arc;
use std::time::Duration;

use benchctl::run::RunOptions;
use serde_json::Value;

/// This process's peak resident memory so far (VmHWM).
pub fn peak_memory() -> anyhow::Result<String> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    Ok(status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map_or("?", |l| l.trim_start_matches("VmHWM:").trim())
        .to_string())
}

/// Real records from a simulated line (time scale 0, no store).
pub fn real_records(count: usize) -> anyhow::Result<Vec<Arc<Value>>> {
    let opts = RunOptions {
        count: Some(count),
        ..RunOptions::new(Arc::new(benchctl::plan::Plan::standard()?), Vec::new())
    };
    let line = benchctl::sim::LineOptions::new(benchctl::sim::builtin_phones()?, 4, 4);
    let mut out = Vec::new();
    tokio::runtime::Runtime::new()?.block_on(benchctl::sim::run_simulated(
        &line,
        opts,
        "bench",
        |r, _| match serde_json::to_value(r) {
            Ok(v) => {
                out.push(Arc::new(v));
                true
            }
            Err(e) => {
                eprintln!("cannot serialize a record: {e}");
                false
            }
        },
    ))?;
    Ok(out)
}

/// A template record as the i-th device, finishing i seconds after a fixed start.
pub fn body(template: &Value, i: u64) -> Vec<u8> {
    let mut v = template.clone();
    v["phone"]["imei"] = format!("35{i:013}").into();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_790_000_000 + i);
    v["finished"] = humantime::format_rfc3339_millis(t).to_string().into();
    serde_json::to_vec(&v).unwrap_or_default()
}
