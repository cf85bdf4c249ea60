//! The operator's keys: dispatched through the key table ([`super::keys`]) to actions on the
//! state, and typing into the sign-in and lookup fields.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, Confirm, Effect, Lookup, Overlay, Quit, SignIn};
use super::keys::{self, Action, Context};
use crate::run::event::SlotId;
use crate::run::Stop;

/// Benches moved by a page key on the line view.
const PAGE: usize = 8;

impl App {
    /// Handles one key.
    pub(super) fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == crossterm::event::KeyEventKind::Release {
            return Vec::new();
        }
        if self.ended && self.stopping.is_none() {
            return vec![Effect::Quit(Quit::LineEnded)];
        }
        match &self.overlay {
            Overlay::SignIn(_) | Overlay::Lookup(_) => self.typing(key),
            Overlay::Confirm(c) => {
                let c = *c;
                match keys::action(Context::Confirm, &key) {
                    Some(Action::Yes) => {
                        self.overlay = Overlay::None;
                        self.stop(match c {
                            Confirm::Drain => Stop::Drain,
                            Confirm::Now => Stop::Now,
                        })
                    }
                    Some(Action::No) => {
                        self.overlay = Overlay::None;
                        Vec::new()
                    }
                    _ => Vec::new(),
                }
            }
            _ => match keys::action(Context::Line, &key) {
                Some(action) => self.act(action, key),
                None => Vec::new(),
            },
        }
    }

    fn stop(&mut self, level: Stop) -> Vec<Effect> {
        if self.stopping.is_some_and(|s| s >= level) {
            return Vec::new();
        }
        self.stopping = Some(level);
        let mut effects = vec![Effect::Stop(level)];
        if self.ended {
            effects.push(Effect::Quit(match level {
                Stop::Now => Quit::Now,
                _ => Quit::Drained,
            }));
        }
        effects
    }

    fn toggle(&mut self, overlay: Overlay) {
        self.overlay = if std::mem::discriminant(&self.overlay) == std::mem::discriminant(&overlay)
        {
            Overlay::None
        } else {
            overlay
        };
    }

    fn act(&mut self, action: Action, key: KeyEvent) -> Vec<Effect> {
        let detail = matches!(self.overlay, Overlay::Detail(_) | Overlay::Help(_));
        match action {
            Action::Answer => self.answer(key),
            Action::Help => self.toggle(Overlay::Help(0)),
            Action::Metrics => self.toggle(Overlay::Metrics),
            Action::Lookup => self.overlay = Overlay::Lookup(Lookup::default()),
            Action::Detail => self.toggle(Overlay::Detail(0)),
            Action::SignIn => self.overlay = Overlay::SignIn(SignIn::default()),
            Action::Back => self.overlay = Overlay::None,
            Action::Acknowledge => {
                for r in &mut self.alarms {
                    r.acked = true;
                }
            }
            Action::NextWaiting => self.cycle(true),
            Action::PrevWaiting => self.cycle(false),
            Action::Up | Action::PageUp if detail => {
                let by = if action == Action::Up { 1 } else { 10 };
                if let Overlay::Detail(s) | Overlay::Help(s) = &mut self.overlay {
                    *s = s.saturating_sub(by);
                }
            }
            Action::Down | Action::PageDown if detail => {
                let by = if action == Action::Down { 1 } else { 10 };
                if let Overlay::Detail(s) | Overlay::Help(s) = &mut self.overlay {
                    *s = s.saturating_add(by);
                }
            }
            Action::Up => self.move_bench(-1),
            Action::Down => self.move_bench(1),
            Action::PageUp => self.move_bench(-(PAGE as isize)),
            Action::PageDown => self.move_bench(PAGE as isize),
            Action::Left => self.move_slot(false),
            Action::Right => self.move_slot(true),
            Action::Quit => match self.stopping {
                None if self.under_test() > 0 && !self.ended => {
                    self.overlay = Overlay::Confirm(Confirm::Drain);
                }
                None => return self.stop(Stop::Drain),
                Some(Stop::Drain) | Some(Stop::Run) => {
                    self.overlay = Overlay::Confirm(Confirm::Now);
                }
                Some(Stop::Now) => {}
            },
            Action::QuitNow => match self.stopping {
                Some(Stop::Drain) => return self.stop(Stop::Now),
                _ if self.under_test() > 0 && !self.ended => {
                    self.overlay = Overlay::Confirm(Confirm::Now);
                }
                _ => return self.stop(Stop::Now),
            },
            Action::Yes | Action::No | Action::Submit | Action::Erase => {}
        }
        Vec::new()
    }

    fn answer(&mut self, key: KeyEvent) {
        let KeyCode::Char(c) = key.code else {
            return;
        };
        let Some(n) = c.to_digit(10).filter(|n| *n >= 1) else {
            return;
        };
        let Some(q) = self.focused_question().cloned() else {
            self.say("no question waits for an answer");
            return;
        };
        let Some(choice) = q.choices.get(n as usize - 1) else {
            self.say(format!(
                "{} has {} choices: press 1 to {}",
                q.prompt,
                q.choices.len(),
                q.choices.len()
            ));
            return;
        };
        if self.person.answer(q.at, &q.prompt, choice) {
            let slot = self.slot_mut(q.at);
            slot.question = None;
            self.phone_mut(q.at)
                .answers
                .insert(q.prompt.clone(), choice.clone());
            let name = self.bench_name(q.at.bench);
            self.say(format!("{name}/{}: {} = {choice}", q.at.slot, q.prompt));
        } else {
            self.say("that question is no longer asked (the phone was taken out?)");
            let slot = self.slot_mut(q.at);
            slot.question = None;
        }
    }

    fn cycle(&mut self, forward: bool) {
        let asking = self.asking();
        let ring = if asking.is_empty() {
            self.slots()
        } else {
            asking
        };
        if ring.is_empty() {
            return;
        }
        let next = if forward {
            ring.iter().find(|at| **at > self.selected).or(ring.first())
        } else {
            ring.iter()
                .rev()
                .find(|at| **at < self.selected)
                .or(ring.last())
        };
        if let Some(at) = next {
            self.selected = *at;
        }
    }

    fn move_slot(&mut self, forward: bool) {
        let all = self.slots();
        let i = all.iter().position(|at| *at == self.selected);
        let next = match (i, forward) {
            (None, _) => all.first(),
            (Some(i), true) => all.get(i + 1),
            (Some(i), false) => i.checked_sub(1).and_then(|i| all.get(i)),
        };
        if let Some(at) = next {
            self.selected = *at;
        }
    }

    fn move_bench(&mut self, by: isize) {
        if self.benches.is_empty() {
            return;
        }
        let last = self.benches.len() - 1;
        let bench = self.selected.bench.saturating_add_signed(by).min(last);
        let bench = if by < 0 && self.selected.bench < by.unsigned_abs() {
            0
        } else {
            bench
        };
        let slots = self.benches[bench].slots.len();
        let slot = usize::from(self.selected.slot).min(slots.saturating_sub(1));
        self.selected = SlotId {
            bench,
            slot: u8::try_from(slot).unwrap_or(0),
        };
    }

    fn typing(&mut self, key: KeyEvent) -> Vec<Effect> {
        let action = keys::action(Context::Typing, &key);
        let printable = match key.code {
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    && !c.is_control() =>
            {
                Some(c)
            }
            _ => None,
        };
        let first = self.operator.is_none();
        match &mut self.overlay {
            Overlay::SignIn(s) => match (action, printable) {
                (Some(Action::Submit), _) => {
                    let id = s.input.trim().to_string();
                    if id.is_empty() {
                        s.error = Some(
                            "an operator ID cannot be empty: scan your badge or type your ID"
                                .into(),
                        );
                    } else {
                        self.person.sign_in(&id);
                        self.operator = Some(id.clone());
                        self.overlay = Overlay::None;
                        self.say(format!("signed in: {id}"));
                    }
                }
                (Some(Action::Erase), _) => {
                    s.input.pop();
                    s.error = None;
                }
                (Some(Action::Back), _) if !first => self.overlay = Overlay::None,
                (_, Some(c)) => {
                    s.input.push(c);
                    s.error = None;
                }
                _ => {}
            },
            Overlay::Lookup(l) => match (action, printable) {
                (Some(Action::Submit), _) => {
                    let typed = l.input.trim().to_string();
                    match crate::export::history::parse_imei(&typed) {
                        Some(imei) => {
                            l.error = None;
                            l.input.clear();
                            l.pending = Some(imei.clone());
                            return vec![Effect::Lookup(imei)];
                        }
                        None => {
                            l.error = Some(if typed.is_empty() {
                                "type or scan an IMEI first".to_string()
                            } else {
                                format!(
                                    "'{typed}' is not an IMEI: digits only, up to 17 (dashes and spaces are ignored)"
                                )
                            });
                        }
                    }
                }
                (Some(Action::Erase), _) => {
                    l.input.pop();
                    l.error = None;
                }
                (Some(Action::Back), _) => self.overlay = Overlay::None,
                (Some(Action::PageUp), _) => {
                    let by = if key.code == KeyCode::Up { 1 } else { 10 };
                    l.scroll = l.scroll.saturating_sub(by);
                }
                (Some(Action::PageDown), _) => {
                    let by = if key.code == KeyCode::Down { 1 } else { 10 };
                    l.scroll = l.scroll.saturating_add(by);
                }
                (_, Some(c)) => {
                    l.input.push(c);
                    l.error = None;
                }
                _ => {}
            },
            _ => {}
        }
        Vec::new()
    }
}
