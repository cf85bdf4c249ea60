//! A progress bar on standard error for an export, a verify or the check of the chain before a
//! run appends, when it takes a while: shown only when standard error is a terminal and only
//! once the work has gone on for about 2 seconds, so short commands, tests and pipes never see
//! it. Fed by the library's [`Progress`] counter. The check before a run also says in one line
//! what it is doing when the store is large, terminal or not.

use std::io::IsTerminal;
use std::ops::Deref;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use benchctl::export::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work goes on before a bar is shown.
const SHOW_AFTER: Duration = Duration::from_secs(2);
/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(150);
/// Records from which the check before a run says what it is doing (a few seconds of it).
const NOTE_FROM: u64 = 100_000;

/// Watches a [`Progress`] and draws it; the bar is cleared when this is dropped.
pub(crate) struct Bar {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bar {
    /// Starts watching `progress` for `what` ("verified", "exported"), if standard error is a
    /// terminal.
    pub(crate) fn start<P>(progress: P, what: &'static str) -> Bar
    where
        P: Deref<Target = Progress> + Send + 'static,
    {
        if !std::io::stderr().is_terminal() {
            return Bar {
                stop: None,
                thread: None,
            };
        }
        Bar::spawn(move |stopped| draw(&progress, what, None, stopped))
    }

    /// Watches the check of the chain before a run appends (the store's
    /// [`benchctl::store::chain::BEFORE_APPEND`]): says what it is doing when the store is
    /// large, and draws the bar as [`Bar::start`] does.
    pub(crate) fn before_append() -> Bar {
        let progress = &benchctl::store::chain::BEFORE_APPEND;
        let bar = std::io::stderr().is_terminal();
        Bar::spawn(move |stopped| {
            // The total is known once the store has read its head.
            let started = Instant::now();
            while progress.total() == 0 {
                match stopped.recv_timeout(TICK) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
            let total = progress.total();
            if total >= NOTE_FROM {
                crate::say(&format!(
                    "benchctl: checking the chain of {total} records before appending (every record's hash and link)"
                ));
            }
            if bar {
                draw(progress, "checked", Some(started), stopped);
            }
        })
    }

    fn spawn(body: impl FnOnce(&mpsc::Receiver<()>) + Send + 'static) -> Bar {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || body(&stopped))
            .ok();
        Bar {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // Closing the channel wakes the drawing thread, which clears the bar.
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The drawing thread: waits until [`SHOW_AFTER`] from `started` (default: now), then draws
/// until told to stop.
fn draw(
    progress: &Progress,
    what: &'static str,
    started: Option<Instant>,
    stopped: &mpsc::Receiver<()>,
) {
    let waited = started.map_or(Duration::ZERO, |s| s.elapsed());
    match stopped.recv_timeout(SHOW_AFTER.saturating_sub(waited)) {
        Err(RecvTimeoutError::Timeout) => {}
        _ => return,
    }
    let total = progress.total();
    let bar = if total > 0 {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{wide_bar} {human_pos}/{human_len} records {msg} ({elapsed}, about {eta} left)",
        );
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar
    } else {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {human_pos} records {msg} ({elapsed})")
        {
            bar.set_style(style);
        }
        bar
    };
    bar.set_message(what);
    loop {
        bar.set_position(progress.done());
        match stopped.recv_timeout(TICK) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    bar.finish_and_clear();
}
