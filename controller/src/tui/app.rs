//! [`App`]: the whole state of the terminal UI, and [`App::update`], the one place it changes.
//!
//! `update` takes an [`AppEvent`] and returns the [`Effect`]s the loop carries out (the bell,
//! a lookup, a stop request, leaving). Answers and sign-ins go straight to the [`Person`], the
//! in-memory seam the run waits on. Rendering reads `&App` only; the clock is `now`, set by
//! each tick, so a screen is a pure function of the state.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::AppEvent;
use super::metrics::Shift;
use super::person::Person;
use crate::grade::bin::Bins;
use crate::run::event::{Question, SlotId};
use crate::run::Stop;

/// How long a notice stays in the footer.
const NOTICE_FOR: Duration = Duration::from_secs(5);

pub use super::state::*;

/// The terminal UI's state.
#[derive(Debug)]
pub struct App {
    /// Station and plan, for the header.
    pub title: String,
    /// Bin labels.
    pub bins: Bins,
    /// The log file, shown in the help.
    pub log_file: PathBuf,
    /// Draw in colour (false when `NO_COLOR` is set).
    pub color: bool,
    /// The clock: the last tick.
    pub now: Instant,
    /// Who answers.
    pub person: Arc<Person>,
    /// The operator signed in.
    pub operator: Option<String>,
    /// Benches by index.
    pub benches: Vec<Bench>,
    /// Alarms active, oldest first.
    pub alarms: Vec<Raised>,
    /// The selected slot.
    pub selected: SlotId,
    /// The overlay.
    pub overlay: Overlay,
    /// The shift's metrics.
    pub shift: Shift,
    /// How far a stop was asked.
    pub stopping: Option<Stop>,
    /// The line's event stream has closed.
    pub ended: bool,
    /// A short message for the footer, and until when.
    pub notice: Option<(String, Instant)>,
    /// The replication to the plant database, when the line replicates.
    pub plant: Option<crate::run::event::Replication>,
}

impl App {
    /// A fresh UI state at `now`: the sign-in screen first when nobody is signed in.
    pub fn new(
        person: Arc<Person>,
        bins: Bins,
        title: String,
        log_file: PathBuf,
        color: bool,
        now: Instant,
    ) -> App {
        let operator = person.current();
        App {
            title,
            bins,
            log_file,
            color,
            now,
            overlay: if operator.is_none() {
                Overlay::SignIn(SignIn::default())
            } else {
                Overlay::None
            },
            person,
            operator,
            benches: Vec::new(),
            alarms: Vec::new(),
            selected: SlotId { bench: 0, slot: 0 },
            shift: Shift::new(now),
            stopping: None,
            ended: false,
            notice: None,
            plant: None,
        }
    }

    /// Whether colours are allowed by the environment (`NO_COLOR` unset or empty).
    pub fn color_from_env() -> bool {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }

    /// The slot at `at`, if known.
    pub fn slot(&self, at: SlotId) -> Option<&Slot> {
        self.benches.get(at.bench)?.slots.get(usize::from(at.slot))
    }

    /// What the slot at `at` shows.
    pub fn shown(&self, at: SlotId) -> Shown {
        let Some(bench) = self.benches.get(at.bench) else {
            return Shown::Idle;
        };
        if let Some(f) = &bench.fault {
            return Shown::Fault(f.kind);
        }
        let Some(slot) = bench.slots.get(usize::from(at.slot)) else {
            return Shown::Idle;
        };
        match slot.phase {
            Phase::Testing if slot.question.is_some() => Shown::Asking,
            Phase::Idle => Shown::Idle,
            Phase::Waiting => Shown::Waiting,
            Phase::Testing => Shown::Testing,
            Phase::Done => Shown::Done,
        }
    }

    /// The name of bench `bench`.
    pub fn bench_name(&self, bench: usize) -> String {
        match self.benches.get(bench) {
            Some(b) if !b.name.is_empty() => b.name.clone(),
            _ => format!("bench-{}", bench + 1),
        }
    }

    /// Every slot, bench by bench.
    pub fn slots(&self) -> Vec<SlotId> {
        self.benches
            .iter()
            .enumerate()
            .flat_map(|(bench, b)| {
                (0..b.slots.len()).map(move |s| SlotId {
                    bench,
                    slot: u8::try_from(s).unwrap_or(u8::MAX),
                })
            })
            .collect()
    }

    /// The slots whose question waits for the operator, in order.
    pub fn asking(&self) -> Vec<SlotId> {
        self.slots()
            .into_iter()
            .filter(|at| self.shown(*at) == Shown::Asking)
            .collect()
    }

    /// The question the number keys answer: the selected slot's, else the first waiting.
    pub fn focused_question(&self) -> Option<&Question> {
        let selected = self.slot(self.selected).and_then(|s| s.question.as_ref());
        selected.or_else(|| {
            self.asking()
                .first()
                .and_then(|at| self.slot(*at))
                .and_then(|s| s.question.as_ref())
        })
    }

    /// The slot whose result the large text shows: the selected one if graded, else the one
    /// graded last (even once taken out, until its slot holds the next phone).
    pub fn big_slot(&self) -> Option<SlotId> {
        let graded = |at: SlotId| {
            self.slot(at)
                .and_then(|s| s.phone.as_ref())
                .is_some_and(|p| p.graded.is_some())
        };
        if self.shown(self.selected) == Shown::Done {
            return Some(self.selected);
        }
        // Otherwise the phone graded last, even once taken out (until its slot's next phone).
        self.slots()
            .into_iter()
            .filter(|at| graded(*at))
            .filter_map(|at| Some((at, self.slot(at)?.phone.as_ref()?.finished?)))
            .max_by_key(|(_, finished)| *finished)
            .map(|(at, _)| at)
    }

    /// Phones under test: testing or waiting for the operator.
    pub fn under_test(&self) -> usize {
        self.benches
            .iter()
            .flat_map(|b| &b.slots)
            .filter(|s| s.phase == Phase::Testing)
            .count()
    }

    /// The notice to show now.
    pub fn notice(&self) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(_, until)| *until > self.now)
            .map(|(n, _)| n.as_str())
    }

    pub(super) fn say(&mut self, notice: impl Into<String>) {
        self.notice = Some((notice.into(), self.now + NOTICE_FOR));
    }

    pub(super) fn bench_mut(&mut self, bench: usize) -> &mut Bench {
        if self.benches.len() <= bench {
            self.benches.resize_with(bench + 1, Bench::default);
        }
        &mut self.benches[bench]
    }

    pub(super) fn slot_mut(&mut self, at: SlotId) -> &mut Slot {
        let bench = self.bench_mut(at.bench);
        let i = usize::from(at.slot);
        if bench.slots.len() <= i {
            bench.slots.resize_with(i + 1, Slot::default);
        }
        &mut bench.slots[i]
    }

    pub(super) fn phone_mut(&mut self, at: SlotId) -> &mut Phone {
        let now = self.now;
        self.slot_mut(at)
            .phone
            .get_or_insert_with(|| Phone::new(String::new(), String::new(), now))
    }

    /// Activity on a bench ends a reset's fault.
    pub(super) fn active(&mut self, bench: usize) {
        let b = self.bench_mut(bench);
        if b.fault.as_ref().is_some_and(|f| f.kind == FaultKind::Reset) {
            b.fault = None;
        }
    }

    /// Applies an event; returns what the loop must do.
    pub fn update(&mut self, event: AppEvent) -> Vec<Effect> {
        match event {
            AppEvent::Tick(now) => {
                self.now = now;
                Vec::new()
            }
            AppEvent::Resize(..) => Vec::new(),
            AppEvent::Line(e) => self.line(*e),
            AppEvent::LineEnded => {
                self.ended = true;
                match self.stopping {
                    Some(Stop::Now) => vec![Effect::Quit(Quit::Now)],
                    Some(_) => vec![Effect::Quit(Quit::Drained)],
                    None => Vec::new(),
                }
            }
            AppEvent::Looked { imei, text } => {
                if let Overlay::Lookup(l) = &mut self.overlay {
                    if l.pending.as_deref() == Some(imei.as_str()) {
                        l.pending = None;
                        l.scroll = 0;
                        l.result = Some((imei, text));
                    }
                }
                Vec::new()
            }
            AppEvent::Key(key) => self.key(key),
        }
    }
}
