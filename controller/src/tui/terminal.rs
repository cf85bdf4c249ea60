//! Taking the terminal and giving it back: raw mode and the alternate screen on the way in;
//! on the way out (quit, error or panic) both undone. The panic hook restores the terminal,
//! then hands the panic to the hook that was there before.

use std::io::{self, Stdout, Write};
use std::panic::PanicHookInfo;
use std::sync::Arc;

use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// The terminal the UI draws on.
pub type Term = Terminal<CrosstermBackend<Stdout>>;

type Hook = dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static;

/// Holds the terminal taken; dropping it gives the terminal back and puts the previous panic
/// hook back.
pub struct Guard {
    previous: Option<Arc<Hook>>,
    restored: bool,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("restored", &self.restored)
            .finish_non_exhaustive()
    }
}

/// Takes the terminal: panic hook, raw mode, alternate screen. The guard gives it back.
pub fn init() -> io::Result<(Term, Guard)> {
    let previous: Arc<Hook> = Arc::from(std::panic::take_hook());
    let chained = Arc::clone(&previous);
    std::panic::set_hook(Box::new(move |info| {
        let _ = restore();
        // The screen behind the UI may scroll the message away: the log keeps it.
        tracing::error!("the terminal UI panicked: {info}");
        chained(info);
    }));
    let mut guard = Guard {
        previous: Some(previous),
        restored: false,
    };
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    guard.restored = false;
    Ok((terminal, guard))
}

/// Gives the terminal back: leaves the alternate screen, shows the cursor, ends raw mode.
pub fn restore() -> io::Result<()> {
    let screen = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    let raw = disable_raw_mode();
    let _ = io::stdout().flush();
    screen.and(raw)
}

/// Rings the terminal bell.
pub fn bell(backend: &mut CrosstermBackend<Stdout>) -> io::Result<()> {
    backend.write_all(b"\x07")?;
    backend.flush()
}

impl Guard {
    /// Gives the terminal back now, reporting a failure.
    pub fn restore(mut self) -> io::Result<()> {
        self.restored = true;
        self.unhook();
        restore()
    }

    fn unhook(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(previous) = self.previous.take() {
            let _ours = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| previous(info)));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.restored {
            let _ = restore();
        }
        self.unhook();
    }
}
