//! Link benchmark: round trip of `Ping` over a real PTY to a simulated jig running the real
//! firmware, one at a time and with several requests in flight. Prints p50 / p99 latency and
//! requests per second. Run with `cargo bench -p benchctl --bench link`.

use std::time::{Duration, Instant};

use benchctl::link::{Link, LinkConfig};
use benchctl::sim::{self, Feeder, SimJigOptions};
use benchline_protocol::{Reply, Request};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

async fn burst(
    link: &Link,
    in_flight: usize,
    per_task: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..in_flight {
        let link = link.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let nonce = (t * per_task + i) as u32;
                let t0 = Instant::now();
                match link
                    .request(Request::Ping { nonce }, Duration::from_secs(2))
                    .await?
                {
                    Reply::Pong { nonce: n } if n == nonce => lat.push(t0.elapsed()),
                    other => anyhow::bail!("unexpected reply {other:?}"),
                }
            }
            Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed();
    all.sort();
    Ok((all, elapsed))
}

fn main() -> anyhow::Result<()> {
    let library = benchctl::sim::builtin_phones()?;
    let jig = sim::spawn(SimJigOptions {
        serial: "BENCH-1".into(),
        slots: 1,
        seed: 1,
        time_scale: 0.0,
        protocol_version: benchline_protocol::PROTOCOL_VERSION,
        faults: Vec::new(),
        link: None,
        feeder: Feeder::new(library.phones, 1, Some(0)),
        handling_ms: 0,
        babble: false,
        noise: None,
    })?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let link = Link::open(&jig.path.to_string_lossy(), LinkConfig::default()).await?;
        burst(&link, 1, 200).await?; // warm-up
        println!("link round trip over a PTY to the simulated jig (Ping):");
        for in_flight in [1usize, 4, 8, 16] {
            let per_task = 4000 / in_flight;
            let (lat, elapsed) = burst(&link, in_flight, per_task).await?;
            println!(
                "  in flight {:>2}: {:>5} requests  p50 {:>7.1} us  p99 {:>7.1} us  {:>8.0} requests/s",
                in_flight,
                lat.len(),
                percentile(&lat, 0.50).as_secs_f64() * 1e6,
                percentile(&lat, 0.99).as_secs_f64() * 1e6,
                lat.len() as f64 / elapsed.as_secs_f64()
            );
        }
        link.close();
        anyhow::Ok(())
    })?;
    jig.stop();
    Ok(())
}
