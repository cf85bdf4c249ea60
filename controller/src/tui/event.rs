//! [`AppEvent`]: everything the terminal UI reacts to, one closed enum.

use std::time::Instant;

use crossterm::event::KeyEvent;

use crate::run::event::LineEvent;

/// Something that happened: a key, the terminal, the line, a lookup, or time.
#[derive(Debug, Clone)]
pub enum AppEvent {
    /// A key was pressed (a barcode scanner types keys too).
    Key(KeyEvent),
    /// The terminal changed size (columns, rows).
    Resize(u16, u16),
    /// The line said something.
    Line(Box<LineEvent>),
    /// The line's event stream closed: the run is over.
    LineEnded,
    /// A device lookup finished: the IMEI asked and the history text.
    Looked {
        /// The IMEI looked up.
        imei: String,
        /// The history as `benchctl history` prints it.
        text: String,
    },
    /// Time passed; the state's clock becomes this instant.
    Tick(Instant),
}
