//! Key-to-screen latency of the operator's terminal UI while a line runs: the real UI loop
//! (`benchctl::tui::drive`) on a `TestBackend` of 160x48, fed with the events of a real
//! simulated line (`SimLine`: 32 jigs on PTYs, one bench each, time scale 0.05, the simulated
//! operator answering the prompts, nothing stored), and keys injected through the loop's key
//! stream at random intervals: `m` opens the metrics overlay, `Esc` closes it.
//!
//! Each latency runs from sending the key to the flush of the first frame that shows its
//! effect (a backend wrapper timestamps every flush and looks at the buffer for the
//! overlay's title), so it counts the wait in the loop's `select!` behind line events, the
//! update and the render. Prints p50, p99 and max.
//!
//! Run with `cargo bench -p benchctl --bench keys` (`-- --keys N --jigs N --slots N
//! --time-scale X`).

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use benchctl::grade::bin::Bins;
use benchctl::plan::Plan;
use benchctl::run::{self, RunOptions, Stop};
use benchctl::sim::{builtin_phones, LineOptions, SimLine};
use benchctl::tui::{self, App, Person};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use rand::{Rng, SeedableRng};
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::{Position, Size};
use ratatui::Terminal;
use tokio::sync::{watch, Notify};

/// The metrics overlay's title, as drawn.
const METRICS: &str = "Line metrics for the shift";
/// How long the line may take to grade its first phones before measuring.
const WARM_UP: Duration = Duration::from_secs(120);
/// How long one key may take to show before the benchmark gives up.
const KEY_LIMIT: Duration = Duration::from_secs(10);

/// What the probe saw.
#[derive(Default)]
struct Seen {
    /// The key waiting to show: when it was sent, and whether the overlay should then show.
    pending: Option<(Instant, bool)>,
    /// Latencies measured.
    latencies: Vec<Duration>,
    /// Frames flushed.
    frames: u64,
    /// Phones graded, from the header of the last frame.
    graded: u64,
}

struct Shared {
    seen: Mutex<Seen>,
    shown: Notify,
}

/// A `TestBackend` that timestamps each flush and checks whether a pending key shows.
struct Probe {
    inner: TestBackend,
    shared: Arc<Shared>,
}

fn row(buffer: &Buffer, y: u16) -> String {
    let area = buffer.area;
    (area.x..area.right())
        .filter_map(|x| buffer.cell((x, y)).map(Cell::symbol))
        .collect()
}

fn shows_metrics(buffer: &Buffer) -> bool {
    let area = buffer.area;
    (area.y..area.bottom()).any(|y| row(buffer, y).contains(METRICS))
}

fn graded(header: &str) -> Option<u64> {
    let before = &header[..header.find(" graded")?];
    before
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

impl Backend for Probe {
    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> io::Result<()> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> io::Result<()> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> io::Result<Size> {
        self.inner.size()
    }
    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> io::Result<()> {
        let at = Instant::now();
        self.inner.flush()?;
        let buffer = self.inner.buffer();
        let mut seen = self
            .shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.frames += 1;
        if let Some(n) = graded(&row(buffer, buffer.area.y)) {
            seen.graded = n;
        }
        if let Some((sent, want)) = seen.pending {
            if shows_metrics(buffer) == want {
                seen.pending = None;
                seen.latencies.push(at.saturating_duration_since(sent));
                self.shared.shown.notify_one();
            }
        }
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> anyhow::Result<T> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

fn key(code: KeyCode) -> io::Result<Event> {
    Ok(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let keys: usize = flag(&args, "--keys", 500)?;
    let jigs: usize = flag(&args, "--jigs", 32)?;
    let slots: usize = flag(&args, "--slots", 1)?;
    let time_scale: f64 = flag(&args, "--time-scale", 0.05)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(bench(keys.max(1), jigs, slots, time_scale))
}

async fn bench(keys: usize, jigs: usize, slots: usize, time_scale: f64) -> anyhow::Result<()> {
    let line = SimLine::start(&LineOptions {
        time_scale,
        seed: 1,
        ..LineOptions::new(builtin_phones()?, jigs, slots)
    })?;
    let person = Person::new(Some("bench-operator".into()));
    let operator: Arc<dyn run::Operator> = Arc::new(line.operator(person.clone()));
    let plan = Arc::new(Plan::standard()?);
    let (events, rx) = run::Events::channel(4096);
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    let opts = RunOptions {
        time_scale,
        stop: Some(stop_rx),
        ..RunOptions::new(plan, line.ports.clone())
    };
    let running = tokio::spawn(run::run(
        opts,
        run::Seams {
            operator,
            sink: Arc::new(run::NoStore),
            events,
        },
    ));

    let title = format!("bench · {jigs} simulated jigs");
    let log_file = PathBuf::from("keys-bench.log");
    let seams = tui::Seams {
        events: rx,
        person: person.clone(),
        lookup: Arc::new(|_: &str| String::new()),
        stop: stop_tx,
        bins: Bins::default(),
        title: title.clone(),
        log_file: log_file.clone(),
    };
    let app = App::new(
        person,
        Bins::default(),
        title,
        log_file,
        true,
        Instant::now(),
    );
    let shared = Arc::new(Shared {
        seen: Mutex::new(Seen::default()),
        shown: Notify::new(),
    });
    let probe = Probe {
        inner: TestBackend::new(160, 48),
        shared: Arc::clone(&shared),
    };
    let (key_tx, key_rx) = futures::channel::mpsc::unbounded::<io::Result<Event>>();
    let ui = tokio::spawn(async move {
        let mut terminal = Terminal::new(probe)?;
        tui::drive(&mut terminal, app, seams, key_rx, |_| Ok(())).await
    });

    // Measure on a busy line: every bench has graded about one phone.
    let started = Instant::now();
    loop {
        let graded = shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .graded;
        if graded >= jigs as u64 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < WARM_UP,
            "the line graded {graded} phones in {WARM_UP:?}; is it running?"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warm = Instant::now();
    let (frames_before, graded_before) = {
        let s = shared.seen.lock().unwrap_or_else(PoisonError::into_inner);
        (s.frames, s.graded)
    };

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for i in 0..keys {
        // A person's pace, at random: 10-100 ms between a key showing and the next.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(10..=100))).await;
        let open = i % 2 == 0;
        let shown = shared.shown.notified();
        tokio::pin!(shown);
        shown.as_mut().enable();
        shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pending = Some((Instant::now(), open));
        key_tx
            .unbounded_send(key(if open {
                KeyCode::Char('m')
            } else {
                KeyCode::Esc
            }))
            .context("the UI stopped")?;
        tokio::time::timeout(KEY_LIMIT, shown)
            .await
            .with_context(|| format!("key {i} did not show within {KEY_LIMIT:?}"))?;
    }
    let measured = warm.elapsed();
    let (mut latencies, frames, graded) = {
        let s = shared.seen.lock().unwrap_or_else(PoisonError::into_inner);
        (
            s.latencies.clone(),
            s.frames - frames_before,
            s.graded - graded_before,
        )
    };

    // Closing the key stream makes the UI ask the run to drain (no grace: at once).
    drop(key_tx);
    let _ = ui.await;
    let _ = tokio::time::timeout(Duration::from_secs(30), running).await;
    line.stop();

    latencies.sort();
    println!(
        "key to screen, {jigs} simulated jigs x {slots} slot(s) at time scale {time_scale}, 160x48, {} keys (m / Esc) over {measured:.1?}: {frames} frames drawn, {graded} phones graded meanwhile",
        latencies.len()
    );
    println!("{:>10} {:>10} {:>10}", "p50", "p99", "max");
    println!(
        "{:>10.2?} {:>10.2?} {:>10.2?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    Ok(())
}
