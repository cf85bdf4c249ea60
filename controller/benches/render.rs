//! Frame render time of the operator's terminal UI: `benchctl::tui::render` of a line of 64
//! slots (16 benches of 4) in mixed states (idle, waiting, testing with DCIR samples, waiting
//! for the operator, graded, jigs lost, refused and reset) on ratatui's `TestBackend`, at
//! 160x48 and 80x24, with the line view and with the slot detail (table and charts). Prints
//! p50, p99 and max over the frames.
//!
//! Run with `cargo bench -p benchctl --bench render` (`-- --frames N`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use benchctl::grade::bin::Bins;
use benchctl::run::event::SlotId;
use benchctl::tui::app::Overlay;
use benchctl::tui::{demo, render, App, AppEvent, Person};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// Frames drawn per case unless `--frames N` says otherwise.
const FRAMES: usize = 2000;

fn line(base: Instant) -> App {
    let mut app = App::new(
        Person::new(Some("bench".into())),
        Bins::default(),
        "station-1 · plan standard 3".into(),
        PathBuf::from("line.log"),
        true,
        base,
    );
    for e in demo::events(base, 16, 4) {
        let _ = app.update(e);
    }
    app
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let frames = args
        .iter()
        .position(|a| a == "--frames")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse::<usize>().context("--frames takes a number"))
        .transpose()?
        .unwrap_or(FRAMES)
        .max(1);
    println!("render of 64 slots in mixed states, {frames} frames per case");
    println!("{:<24} {:>10} {:>10} {:>10}", "case", "p50", "p99", "max");
    for (w, h) in [(160u16, 48u16), (80, 24)] {
        for detail in [false, true] {
            let base = Instant::now();
            let mut app = line(base);
            if detail {
                app.selected = SlotId { bench: 0, slot: 2 };
                app.overlay = Overlay::Detail(0);
            }
            let mut terminal = Terminal::new(TestBackend::new(w, h))?;
            let mut times = Vec::with_capacity(frames);
            for i in 0..frames {
                // The clock moves as on the line (elapsed times, progress by time).
                let _ = app.update(AppEvent::Tick(
                    base + Duration::from_millis(95_000 + i as u64 * 250),
                ));
                let t = Instant::now();
                terminal.draw(|f| render(f, &app))?;
                times.push(t.elapsed());
            }
            times.sort();
            let case = format!("{w}x{h} {}", if detail { "detail" } else { "line" });
            println!(
                "{case:<24} {:>10.1?} {:>10.1?} {:>10.1?}",
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                times.last().copied().unwrap_or_default()
            );
        }
    }
    Ok(())
}
