//! A progress bar on standard error for an export or a verify that takes a while: shown only
//! when standard error is a terminal and only once the work has gone on for about 2 seconds,
//! so short commands, tests and pipes never see it. Fed by the library's [`Progress`] counter.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use benchctl::export::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work goes on before a bar is shown.
const SHOW_AFTER: Duration = Duration::from_secs(2);
/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(150);

/// Watches a [`Progress`] and draws it; the bar is cleared when this is dropped.
pub(crate) struct Bar {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bar {
    /// Starts watching `progress` for `what` ("verified", "exported"), if standard error is a
    /// terminal.
    pub(crate) fn start(progress: Arc<Progress>, what: &'static str) -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar {
                stop: None,
                thread: None,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || draw(&progress, what, &stopped))
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

/// The drawing thread: waits [`SHOW_AFTER`], then draws until told to stop.
fn draw(progress: &Progress, what: &'static str, stopped: &mpsc::Receiver<()>) {
    match stopped.recv_timeout(SHOW_AFTER) {
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
