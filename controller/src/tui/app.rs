//! [`App`]: the whole state of the terminal UI, and [`App::update`], the one place it changes.
//!
//! `update` takes an [`AppEvent`] and returns the [`Effect`]s the loop carries out (the bell,
//! a lookup, a stop request, leaving). Answers and sign-ins go straight to the [`Person`], the
//! in-memory seam the run waits on. Rendering reads `&App` only; the clock is `now`, set by
//! each tick, so a screen is a pure function of the state.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use benchline_protocol::Sample;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::event::AppEvent;
use super::keys::{self, Action, Context};
use super::metrics::Shift;
use super::person::Person;
use crate::grade::bin::Bins;
use crate::grade::Disposition;
use crate::run::event::{Alarm, LineEvent, Question, SlotId};
use crate::run::record::{PhoneRecord, StepRecord};
use crate::run::Stop;

/// Battery samples kept per phone (a DCIR pulse sends far fewer).
const MAX_SAMPLES: usize = 4096;
/// How long a notice stays in the footer.
const NOTICE_FOR: Duration = Duration::from_secs(5);
/// Benches moved by a page key on the line view.
const PAGE: usize = 8;

/// How the UI ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quit {
    /// The operator stopped the line; the phones under test finished first.
    Drained,
    /// The operator stopped the line at once; phones under test were abandoned (retest them).
    Now,
    /// The line ended on its own (its phone count reached, or a failure it logged).
    LineEnded,
}

/// Something `update` asks the loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Ring the terminal bell (a new alarm).
    Bell,
    /// Look this IMEI up (blocking, off the loop).
    Lookup(String),
    /// Ask the run to stop.
    Stop(Stop),
    /// Leave the UI.
    Quit(Quit),
}

/// Why a bench cannot test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Unplugged or out of service.
    Lost,
    /// The jig restarted; its steps are repeated.
    Reset,
    /// Not taken into the line.
    Refused,
}

/// A bench's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What kind.
    pub kind: FaultKind,
    /// Why, as the line said.
    pub why: String,
}

/// A bench: its jig and slots.
#[derive(Debug, Clone, Default)]
pub struct Bench {
    /// Name (`bench-1`, ...), empty until the jig connects.
    pub name: String,
    /// Serial port.
    pub port: String,
    /// Jig serial number.
    pub serial: String,
    /// Firmware version.
    pub firmware: String,
    /// Whether its jig ever connected.
    pub connected: bool,
    /// Its fault, if it cannot test now.
    pub fault: Option<Fault>,
    /// Its slots.
    pub slots: Vec<Slot>,
}

/// Where a slot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Nothing heard yet (no jig, or the run has not started the slot).
    #[default]
    Idle,
    /// Empty, waiting for a phone.
    Waiting,
    /// A phone is under test.
    Testing,
    /// The phone was graded: it goes to its bin.
    Done,
}

/// A step running on a phone.
#[derive(Debug, Clone)]
pub struct Running {
    /// Step id.
    pub step: String,
    /// Procedure.
    pub procedure: &'static str,
    /// Channel.
    pub channel: &'static str,
    /// When it started.
    pub started: Instant,
    /// How long it should take, s.
    pub expected_s: f64,
    /// Progress reported, percent.
    pub percent: u8,
}

/// A graded phone's outcome.
#[derive(Debug, Clone)]
pub struct Graded {
    /// The committed record.
    pub record: Arc<PhoneRecord>,
    /// Its disposition.
    pub disposition: Disposition,
    /// Its bin label.
    pub bin: String,
}

/// The phone in a slot now, or the last one.
#[derive(Debug, Clone)]
pub struct Phone {
    /// IMEI.
    pub imei: String,
    /// Model.
    pub model: String,
    /// When its test started.
    pub started: Instant,
    /// Steps finished.
    pub steps: Vec<StepRecord>,
    /// Steps running.
    pub running: Vec<Running>,
    /// Battery readings of its DCIR step.
    pub samples: Vec<Sample>,
    /// Answers given: prompt id, choice.
    pub answers: BTreeMap<String, String>,
    /// Taken out during its test.
    pub removed: bool,
    /// Its outcome, once graded.
    pub graded: Option<Graded>,
    /// When it was graded.
    pub finished: Option<Instant>,
}

/// A slot's state.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// Where it is.
    pub phase: Phase,
    /// The phone in it, or the last one.
    pub phone: Option<Phone>,
    /// The question waiting for the operator.
    pub question: Option<Question>,
}

/// What a slot shows, all things considered (a bench fault wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// No jig, or nothing heard yet.
    Idle,
    /// Waiting for a phone.
    Waiting,
    /// Testing.
    Testing,
    /// Waiting for the operator's answer.
    Asking,
    /// Graded.
    Done,
    /// The bench's jig is faulty.
    Fault(FaultKind),
}

/// An alarm on screen.
#[derive(Debug, Clone)]
pub struct Raised {
    /// The alarm.
    pub alarm: Alarm,
    /// Acknowledged by the operator (still active, no longer in the banner).
    pub acked: bool,
}

/// Typing an operator ID.
#[derive(Debug, Clone, Default)]
pub struct SignIn {
    /// What was typed.
    pub input: String,
    /// Why the last submission was refused.
    pub error: Option<String>,
}

/// The device lookup.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// What was typed.
    pub input: String,
    /// Why the last submission was refused.
    pub error: Option<String>,
    /// The IMEI being looked up.
    pub pending: Option<String>,
    /// The last result: IMEI and history text.
    pub result: Option<(String, String)>,
    /// Lines scrolled.
    pub scroll: u16,
}

/// What is asked to be confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Stop the line, letting the phones under test finish.
    Drain,
    /// Stop at once, abandoning the phones under test.
    Now,
}

/// What is drawn over the line view.
#[derive(Debug, Clone, Default)]
pub enum Overlay {
    /// Nothing: the line view.
    #[default]
    None,
    /// The key map, scrolled this many lines.
    Help(u16),
    /// The shift's metrics.
    Metrics,
    /// Device lookup.
    Lookup(Lookup),
    /// The selected slot's detail, scrolled this many rows.
    Detail(u16),
    /// Sign-in (the whole screen while nobody is signed in).
    SignIn(SignIn),
    /// A confirmation.
    Confirm(Confirm),
}

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

    fn say(&mut self, notice: impl Into<String>) {
        self.notice = Some((notice.into(), self.now + NOTICE_FOR));
    }

    fn bench_mut(&mut self, bench: usize) -> &mut Bench {
        if self.benches.len() <= bench {
            self.benches.resize_with(bench + 1, Bench::default);
        }
        &mut self.benches[bench]
    }

    fn slot_mut(&mut self, at: SlotId) -> &mut Slot {
        let bench = self.bench_mut(at.bench);
        let i = usize::from(at.slot);
        if bench.slots.len() <= i {
            bench.slots.resize_with(i + 1, Slot::default);
        }
        &mut bench.slots[i]
    }

    fn phone_mut(&mut self, at: SlotId) -> &mut Phone {
        let now = self.now;
        self.slot_mut(at).phone.get_or_insert_with(|| Phone {
            imei: String::new(),
            model: String::new(),
            started: now,
            steps: Vec::new(),
            running: Vec::new(),
            samples: Vec::new(),
            answers: BTreeMap::new(),
            removed: false,
            graded: None,
            finished: None,
        })
    }

    /// Activity on a bench ends a reset's fault.
    fn active(&mut self, bench: usize) {
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

    fn line(&mut self, event: LineEvent) -> Vec<Effect> {
        let now = self.now;
        match event {
            LineEvent::JigConnected {
                bench,
                name,
                port,
                serial,
                firmware,
                slots,
            } => {
                let b = self.bench_mut(bench);
                b.name = name;
                b.port = port;
                b.serial = serial;
                b.firmware = firmware;
                b.connected = true;
                if b.fault.as_ref().is_some_and(|f| f.kind != FaultKind::Reset) {
                    b.fault = None;
                }
                if b.slots.len() < usize::from(slots) {
                    b.slots.resize_with(usize::from(slots), Slot::default);
                }
            }
            LineEvent::JigLost { bench, port, why } => {
                let b = self.bench_mut(bench);
                if b.port.is_empty() {
                    b.port = port;
                }
                b.fault = Some(Fault {
                    kind: FaultKind::Lost,
                    why,
                });
            }
            LineEvent::JigBack { bench } => self.bench_mut(bench).fault = None,
            LineEvent::JigReset { bench, .. } => {
                self.bench_mut(bench).fault = Some(Fault {
                    kind: FaultKind::Reset,
                    why: "the jig restarted; its steps are repeated".into(),
                });
            }
            LineEvent::JigRefused {
                bench,
                port,
                reason,
            } => {
                let b = self.bench_mut(bench);
                if b.port.is_empty() {
                    b.port = port;
                }
                b.fault = Some(Fault {
                    kind: FaultKind::Refused,
                    why: reason,
                });
            }
            LineEvent::SlotWaiting { at } => {
                self.active(at.bench);
                let slot = self.slot_mut(at);
                slot.question = None;
                // A graded phone keeps showing its result until it is taken out.
                if slot.phase != Phase::Done {
                    slot.phase = Phase::Waiting;
                }
            }
            LineEvent::PhoneIdentified { at, imei, model } => {
                self.active(at.bench);
                let slot = self.slot_mut(at);
                slot.phase = Phase::Testing;
                slot.question = None;
                slot.phone = Some(Phone {
                    imei,
                    model,
                    started: now,
                    steps: Vec::new(),
                    running: Vec::new(),
                    samples: Vec::new(),
                    answers: BTreeMap::new(),
                    removed: false,
                    graded: None,
                    finished: None,
                });
            }
            LineEvent::StepStarted {
                at,
                step,
                procedure,
                channel,
                expected_s,
            } => {
                self.active(at.bench);
                let slot = self.slot_mut(at);
                if slot.phase != Phase::Testing {
                    slot.phase = Phase::Testing;
                }
                let phone = self.phone_mut(at);
                phone.running.retain(|r| r.channel != channel);
                if procedure == "battery.dcir" {
                    phone.samples.clear();
                }
                phone.running.push(Running {
                    step,
                    procedure,
                    channel,
                    started: now,
                    expected_s,
                    percent: 0,
                });
            }
            LineEvent::Progress {
                at,
                channel,
                percent,
                sample,
            } => {
                let phone = self.phone_mut(at);
                if let Some(r) = phone.running.iter_mut().find(|r| r.channel == channel) {
                    r.percent = percent.min(100);
                }
                if let Some(s) = sample {
                    // The rest reading (t = 0) starts a pulse: a repeated step starts a new chart.
                    if s.t_ms == 0 {
                        phone.samples.clear();
                    }
                    if phone.samples.len() < MAX_SAMPLES {
                        phone.samples.push(s);
                    }
                }
            }
            LineEvent::StepFinished { at, step } => {
                let phone = self.phone_mut(at);
                phone.running.retain(|r| r.step != step.id);
                phone.steps.push(*step);
            }
            LineEvent::Asking(q) => {
                let at = q.at;
                let slot = self.slot_mut(at);
                slot.phase = Phase::Testing;
                slot.question = Some(q);
            }
            LineEvent::Withdrawn { at, prompt } => {
                let slot = self.slot_mut(at);
                if slot.question.as_ref().is_some_and(|q| q.prompt == prompt) {
                    slot.question = None;
                }
            }
            LineEvent::Answered { at, prompt, answer } => {
                let slot = self.slot_mut(at);
                if slot.question.as_ref().is_some_and(|q| q.prompt == prompt) {
                    slot.question = None;
                }
                self.phone_mut(at).answers.insert(prompt, answer.choice);
            }
            LineEvent::Graded {
                at,
                record,
                disposition,
                bin,
                ..
            } => {
                self.shift.record(&record, disposition);
                let slot = self.slot_mut(at);
                slot.phase = Phase::Done;
                slot.question = None;
                let phone = self.phone_mut(at);
                if phone.imei.is_empty() {
                    phone.imei = record.phone.imei.clone();
                    phone.model = record.phone.model.clone();
                }
                phone.running.clear();
                if phone.steps.len() < record.steps.len() {
                    phone.steps = record.steps.clone();
                }
                phone.finished = Some(now);
                phone.graded = Some(Graded {
                    record,
                    disposition,
                    bin,
                });
            }
            LineEvent::PhoneRemoved { at } => {
                let slot = self.slot_mut(at);
                // The slot waits for the next phone; the graded phone's result stays in the
                // result panel (the operator reads the bin while putting it there).
                if let Some(p) = &mut slot.phone {
                    p.removed = true;
                }
                if slot.phase == Phase::Done {
                    slot.phase = Phase::Waiting;
                }
            }
            LineEvent::Alarm(alarm) => {
                if let Some(r) = self.alarms.iter_mut().find(|r| r.alarm.key == alarm.key) {
                    r.alarm = alarm;
                } else {
                    self.alarms.push(Raised {
                        alarm,
                        acked: false,
                    });
                    return vec![Effect::Bell];
                }
            }
            LineEvent::AlarmCleared { key } => self.alarms.retain(|r| r.alarm.key != key),
        }
        Vec::new()
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
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
