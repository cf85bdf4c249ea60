//! The key map: one table that both dispatches keys and lists them in the help overlay.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Quit: asks first when phones are under test, then drains the line.
    Quit,
    /// Stop now: phones under test are abandoned (they go to retest).
    QuitNow,
    /// Show or hide the help overlay.
    Help,
    /// Show or hide the shift's line metrics.
    Metrics,
    /// Look a device up by IMEI.
    Lookup,
    /// Show the selected slot's steps, measurements and battery chart.
    Detail,
    /// Sign another operator in (shift change); the line goes on.
    SignIn,
    /// Acknowledge the alarms shown.
    Acknowledge,
    /// Next slot waiting for an answer (the next slot when none waits).
    NextWaiting,
    /// Previous slot waiting for an answer.
    PrevWaiting,
    /// Move the selection (or scroll) up.
    Up,
    /// Move the selection (or scroll) down.
    Down,
    /// Move the selection left.
    Left,
    /// Move the selection right.
    Right,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Answer the focused question with the choice of this number.
    Answer,
    /// Close the overlay; cancel.
    Back,
    /// Confirm (in a confirmation).
    Yes,
    /// Do not confirm.
    No,
    /// Submit what was typed.
    Submit,
    /// Delete the last character typed.
    Erase,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// The line view and its overlays.
    Line,
    /// A question asking to confirm.
    Confirm,
    /// Typing an ID or an IMEI (other printable keys are typed).
    Typing,
}

impl Context {
    /// The heading of this context in the help overlay.
    pub fn heading(self) -> &'static str {
        match self {
            Context::Line => "On the line",
            Context::Confirm => "When asked to confirm",
            Context::Typing => "When typing an ID or an IMEI",
        }
    }
}

/// One line of the key map.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Where it applies.
    pub context: Context,
    /// The keys (code and the Ctrl modifier; Shift is part of a character's code).
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// The keys as the help shows them.
    pub label: &'static str,
    /// What they do.
    pub action: Action,
    /// What the help says.
    pub help: &'static str,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

const fn ch(c: char) -> (KeyCode, KeyModifiers) {
    (KeyCode::Char(c), NONE)
}

/// Every key of the terminal UI.
pub const KEYS: &[Binding] = &[
    Binding {
        context: Context::Line,
        keys: &[
            ch('1'),
            ch('2'),
            ch('3'),
            ch('4'),
            ch('5'),
            ch('6'),
            ch('7'),
            ch('8'),
            ch('9'),
        ],
        label: "1-9",
        action: Action::Answer,
        help: "answer the highlighted question with that choice",
    },
    Binding {
        context: Context::Line,
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab",
        action: Action::NextWaiting,
        help: "next slot waiting for you (next slot if none waits)",
    },
    Binding {
        context: Context::Line,
        keys: &[
            (KeyCode::BackTab, NONE),
            (KeyCode::BackTab, KeyModifiers::SHIFT),
        ],
        label: "Shift-Tab",
        action: Action::PrevWaiting,
        help: "previous slot waiting for you",
    },
    Binding {
        context: Context::Line,
        keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)],
        label: "↑ k",
        action: Action::Up,
        help: "select the slot above; scroll up",
    },
    Binding {
        context: Context::Line,
        keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)],
        label: "↓ j",
        action: Action::Down,
        help: "select the slot below; scroll down",
    },
    Binding {
        context: Context::Line,
        keys: &[(KeyCode::Left, NONE)],
        label: "←",
        action: Action::Left,
        help: "select the slot on the left",
    },
    Binding {
        context: Context::Line,
        keys: &[(KeyCode::Right, NONE)],
        label: "→",
        action: Action::Right,
        help: "select the slot on the right",
    },
    Binding {
        context: Context::Line,
        keys: &[(KeyCode::PageUp, NONE)],
        label: "PgUp",
        action: Action::PageUp,
        help: "page up",
    },
    Binding {
        context: Context::Line,
        keys: &[(KeyCode::PageDown, NONE)],
        label: "PgDn",
        action: Action::PageDown,
        help: "page down",
    },
    Binding {
        context: Context::Line,
        keys: &[ch('d'), (KeyCode::Enter, NONE)],
        label: "d Enter",
        action: Action::Detail,
        help: "slot detail: steps, measurements, limits, battery chart",
    },
    Binding {
        context: Context::Line,
        keys: &[ch('a')],
        label: "a",
        action: Action::Acknowledge,
        help: "acknowledge the alarms shown",
    },
    Binding {
        context: Context::Line,
        keys: &[ch('m')],
        label: "m",
        action: Action::Metrics,
        help: "line metrics for the shift",
    },
    Binding {
        context: Context::Line,
        keys: &[ch('l'), ch('/')],
        label: "l /",
        action: Action::Lookup,
        help: "look a device up by IMEI (type or scan)",
    },
    Binding {
        context: Context::Line,
        keys: &[ch('o')],
        label: "o",
        action: Action::SignIn,
        help: "sign another operator in (the line goes on)",
    },
    Binding {
        context: Context::Line,
        keys: &[ch('?'), (KeyCode::F(1), NONE)],
        label: "? F1",
        action: Action::Help,
        help: "this help",
    },
    Binding {
        context: Context::Line,
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::Back,
        help: "close the overlay",
    },
    Binding {
        context: Context::Line,
        keys: &[ch('q'), (KeyCode::Char('c'), CTRL)],
        label: "q Ctrl-C",
        action: Action::Quit,
        help: "stop the line: no new phones, the phones under test finish",
    },
    Binding {
        context: Context::Line,
        keys: &[ch('Q')],
        label: "Q",
        action: Action::QuitNow,
        help: "stop now: phones under test are abandoned (retest them)",
    },
    Binding {
        context: Context::Confirm,
        keys: &[ch('y'), (KeyCode::Enter, NONE)],
        label: "y Enter",
        action: Action::Yes,
        help: "yes",
    },
    Binding {
        context: Context::Confirm,
        keys: &[ch('n'), (KeyCode::Esc, NONE)],
        label: "n Esc",
        action: Action::No,
        help: "no",
    },
    Binding {
        context: Context::Typing,
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Submit,
        help: "submit (a scanner sends it after the code)",
    },
    Binding {
        context: Context::Typing,
        keys: &[(KeyCode::Backspace, NONE)],
        label: "Backspace",
        action: Action::Erase,
        help: "delete the last character",
    },
    Binding {
        context: Context::Typing,
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::Back,
        help: "cancel (not at the first sign-in)",
    },
    Binding {
        context: Context::Typing,
        keys: &[(KeyCode::Up, NONE), (KeyCode::PageUp, NONE)],
        label: "↑ PgUp",
        action: Action::PageUp,
        help: "scroll a lookup's result up",
    },
    Binding {
        context: Context::Typing,
        keys: &[(KeyCode::Down, NONE), (KeyCode::PageDown, NONE)],
        label: "↓ PgDn",
        action: Action::PageDown,
        help: "scroll a lookup's result down",
    },
];

/// The action of `key` in `context`, if it has one.
pub fn action(context: Context, key: &KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers & KeyModifiers::CONTROL;
    KEYS.iter()
        .filter(|b| b.context == context)
        .find(|b| {
            b.keys
                .iter()
                .any(|(code, mods)| *code == key.code && (*mods & KeyModifiers::CONTROL) == ctrl)
        })
        .map(|b| b.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn keys_dispatch_from_the_table() {
        assert_eq!(
            action(Context::Line, &key(KeyCode::Char('q'), NONE)),
            Some(Action::Quit)
        );
        assert_eq!(
            action(Context::Line, &key(KeyCode::Char('Q'), KeyModifiers::SHIFT)),
            Some(Action::QuitNow)
        );
        assert_eq!(
            action(Context::Line, &key(KeyCode::Char('c'), CTRL)),
            Some(Action::Quit)
        );
        assert_eq!(action(Context::Line, &key(KeyCode::Char('c'), NONE)), None);
        assert_eq!(
            action(Context::Line, &key(KeyCode::Char('7'), NONE)),
            Some(Action::Answer)
        );
        assert_eq!(
            action(Context::Typing, &key(KeyCode::Char('q'), NONE)),
            None
        );
    }

    #[test]
    fn no_key_means_two_things_in_one_context() {
        for (i, a) in KEYS.iter().enumerate() {
            for b in &KEYS[i + 1..] {
                if a.context == b.context {
                    for k in a.keys {
                        assert!(!b.keys.contains(k), "{:?} bound twice", k);
                    }
                }
            }
        }
    }
}
