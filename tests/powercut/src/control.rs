//! The control channel: commands on standard input, and what the main loop waits for.
//!
//! One command a line: `cut N`, cut the power once N more operations that change state have
//! run (`cut 0`: now). Standard input closing means: unmount and exit.

use std::io::BufRead;
use std::sync::mpsc::Sender;

/// What the main loop acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The test asked for a cut after this many changing operations.
    Cut(u64),
    /// The power went (an armed cut fell due inside an operation).
    PowerOff,
    /// Standard input closed: the test is done with the filesystem.
    Closed,
}

/// Reads commands from standard input on a thread of its own, sending them as events.
pub fn listen(events: Sender<Event>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match parse(&line) {
                Some(event) => {
                    if events.send(event).is_err() {
                        return;
                    }
                }
                None => eprintln!("powercut-fs: unknown command {line:?} (expected `cut N`)"),
            }
        }
        let _ = events.send(Event::Closed);
    });
}

/// A command line as an event.
fn parse(line: &str) -> Option<Event> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("cut"), Some(n), None) => n.parse().ok().map(Event::Cut),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cut_commands_and_refuses_anything_else() {
        assert_eq!(parse("cut 12"), Some(Event::Cut(12)));
        assert_eq!(parse(" cut 0 "), Some(Event::Cut(0)));
        assert_eq!(parse("cut"), None);
        assert_eq!(parse("cut -1"), None);
        assert_eq!(parse("halt"), None);
    }
}
