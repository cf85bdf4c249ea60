//! The operator's terminal UI (ratatui + crossterm): the line at a glance, the prompts
//! answered with one key, alarms, shift metrics, device lookup and slot detail.
//!
//! Built like ratatui's own apps: one state ([`App`]), one closed event enum ([`AppEvent`]),
//! one `tokio::select!` loop here that turns keys, line events, lookup results and ticks into
//! `App::update` calls and carries out the [`Effect`]s it returns, and rendering
//! ([`render`]) as a pure function of `&App`. The run talks to the UI through the [`Seams`]:
//! its [`LineEvent`] stream in, a [`Person`] for the prompts, a stop watch out.
//!
//! Files: `app.rs` (the state and `update`), `state.rs` (its parts), `follow.rs` (line events
//! applied to the state), `input.rs` (keys and typing), `event.rs`, `keys.rs` (the one key table: dispatch
//! and help), `person.rs` (the `Operator`), `metrics.rs` (shift arithmetic), `demo.rs` (a line in every state, for tests and benches), `terminal.rs`
//! (take and give back the terminal, panic hook), `view/` (one file per part of the screen),
//! `snapshots.rs` (screens as insta snapshots on `TestBackend`).
//!
//! When the line ends on its own (its count reached, or a failure), the UI shows a "line
//! stopped" screen until a key, so the operator reads the last results; when the operator
//! stopped it, the UI returns as soon as the run's event stream closes.

pub mod app;
pub mod demo;
pub mod event;
mod follow;
mod input;
pub mod keys;
pub mod metrics;
pub mod person;
pub mod state;
pub mod terminal;
pub mod view;

#[cfg(test)]
mod snapshots;
#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use futures::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::Terminal;
use tokio::sync::{mpsc, watch};

pub use app::{App, Effect, Quit};
pub use event::AppEvent;
pub use person::Person;
pub use view::render;

use crate::grade::bin::Bins;
use crate::run::event::LineEvent;
use crate::run::Stop;

/// How often the clock of the screen moves (elapsed times, progress by time).
const TICK: Duration = Duration::from_millis(250);
/// Line events applied at most between two frames.
const BATCH: usize = 256;
/// The shortest time between two frames drawn for line events (a key is drawn at once): a busy
/// line redraws at most about 60 times a second.
const FRAME: Duration = Duration::from_millis(16);

/// Looks a device up: the IMEI typed, the history as `benchctl history` prints it. Blocking;
/// run off the loop.
pub type LookupFn = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// What the UI is given by the command that runs the line.
pub struct Seams {
    /// The run's live event stream; its closing means the run is over.
    pub events: mpsc::Receiver<LineEvent>,
    /// Who answers the prompts (the run holds it as its `Operator`).
    pub person: Arc<Person>,
    /// Device lookup (blocking: run in `spawn_blocking`).
    pub lookup: LookupFn,
    /// Asks the run to stop: `Stop::Drain` first, `Stop::Now` on a second confirmation.
    pub stop: watch::Sender<Stop>,
    /// Bin labels.
    pub bins: Bins,
    /// Station and plan, for the header.
    pub title: String,
    /// The log file, shown in the help.
    pub log_file: PathBuf,
}

impl std::fmt::Debug for Seams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seams")
            .field("title", &self.title)
            .field("log_file", &self.log_file)
            .finish_non_exhaustive()
    }
}

/// Why the UI could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal failed.
    #[error(
        "the terminal failed: {0}; run `benchctl run --headless` when there is no usable terminal"
    )]
    Terminal(#[from] io::Error),
    /// The keyboard input ended.
    #[error(
        "the terminal's input closed, so nobody can answer the line; the line was asked to \
         drain: run `benchctl run --headless` for a line without a terminal"
    )]
    InputClosed,
}

/// A diagnostic: when this environment variable is set (not empty), [`run`] panics right after
/// it has taken the terminal and drawn its first frame, to check that the panic hook gives the
/// terminal back (raw mode off, main screen, cursor shown) and that the message is readable
/// (the end-to-end tests do; an operator never needs it).
pub const PANIC_VAR: &str = "BENCHCTL_TUI_PANIC";

/// Runs the UI on this process's terminal until the line ends: takes the terminal (raw mode,
/// alternate screen) and gives it back on return, error or panic. Panics after the first frame
/// when [`PANIC_VAR`] is set.
///
/// Returns when the run's event stream has closed after the operator asked to stop, or after
/// the "line stopped" screen when the line ended on its own.
pub async fn run(seams: Seams) -> Result<Quit, TuiError> {
    let (mut terminal, guard) = terminal::init()?;
    let app = App::new(
        Arc::clone(&seams.person),
        seams.bins.clone(),
        seams.title.clone(),
        seams.log_file.clone(),
        App::color_from_env(),
        Instant::now(),
    );
    if std::env::var_os(PANIC_VAR).is_some_and(|v| !v.is_empty()) {
        terminal.draw(|frame| render(frame, &app))?;
        panic_as_asked();
    }
    let out = drive(
        &mut terminal,
        app,
        seams,
        EventStream::new(),
        terminal::bell,
    )
    .await;
    let restored = guard.restore();
    let quit = out?;
    restored?;
    Ok(quit)
}

/// The loop: draws, waits for the next event, updates, carries out the effects. Generic over
/// the backend and the key stream so tests drive it on a `TestBackend`.
pub async fn drive<B, K>(
    terminal: &mut Terminal<B>,
    mut app: App,
    seams: Seams,
    mut keys: K,
    ring: fn(&mut B) -> io::Result<()>,
) -> Result<Quit, TuiError>
where
    B: Backend,
    K: Stream<Item = io::Result<Event>> + Unpin,
{
    let Seams {
        mut events,
        lookup,
        stop,
        ..
    } = seams;
    let (looked_tx, mut looked_rx) = mpsc::channel::<AppEvent>(8);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut line_open = true;
    // Something changed since the last frame; a key or a resize is drawn at once.
    let (mut dirty, mut urgent) = (true, true);
    let mut drawn = tokio::time::Instant::now();
    loop {
        if dirty && (urgent || drawn.elapsed() >= FRAME) {
            terminal.draw(|frame| render(frame, &app))?;
            drawn = tokio::time::Instant::now();
            (dirty, urgent) = (false, false);
        }
        let mut batch = Vec::new();
        tokio::select! {
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) => {
                    urgent = true;
                    batch.push(AppEvent::Key(k));
                }
                Some(Ok(Event::Resize(w, h))) => {
                    urgent = true;
                    batch.push(AppEvent::Resize(w, h));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    stop.send_if_modified(|s| s.raise(Stop::Drain));
                    return Err(e.into());
                }
                None => {
                    stop.send_if_modified(|s| s.raise(Stop::Drain));
                    return Err(TuiError::InputClosed);
                }
            },
            e = events.recv(), if line_open => match e {
                Some(e) => {
                    batch.push(AppEvent::Line(Box::new(e)));
                    while batch.len() < BATCH {
                        match events.try_recv() {
                            Ok(e) => batch.push(AppEvent::Line(Box::new(e))),
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => {
                                line_open = false;
                                batch.push(AppEvent::LineEnded);
                                break;
                            }
                        }
                    }
                }
                None => {
                    line_open = false;
                    batch.push(AppEvent::LineEnded);
                }
            },
            Some(ev) = looked_rx.recv() => {
                urgent = true;
                batch.push(ev);
            }
            _ = tick.tick() => {}
            // Line events came too soon after the last frame: draw them now.
            _ = tokio::time::sleep_until(drawn + FRAME), if dirty => {}
        }
        dirty = true;
        app.update(AppEvent::Tick(Instant::now()));
        for ev in batch {
            if matches!(ev, AppEvent::LineEnded) && app.stopping.is_none() {
                // Stopped from outside (SIGTERM): leave once the line has ended.
                let level = *stop.borrow();
                if level != Stop::Run {
                    app.stopping = Some(level);
                }
            }
            for effect in app.update(ev) {
                match effect {
                    Effect::Bell => {
                        // A bell that cannot ring is no reason to stop the line.
                        let _ = ring(terminal.backend_mut());
                    }
                    Effect::Lookup(imei) => {
                        let lookup = Arc::clone(&lookup);
                        let tx = looked_tx.clone();
                        tokio::spawn(async move {
                            let asked = imei.clone();
                            let text = tokio::task::spawn_blocking(move || lookup(&asked))
                                .await
                                .unwrap_or_else(|e| {
                                    format!("the lookup failed ({e}); see the log and try again")
                                });
                            let _ = tx.send(AppEvent::Looked { imei, text }).await;
                        });
                    }
                    Effect::Stop(level) => {
                        stop.send_if_modified(|s| s.raise(level));
                    }
                    Effect::Quit(q) => return Ok(q),
                }
            }
        }
    }
}

/// The panic [`PANIC_VAR`] asks for.
#[allow(clippy::panic)]
fn panic_as_asked() -> ! {
    panic!("{PANIC_VAR} is set: the terminal UI panics after its first frame, as asked");
}
