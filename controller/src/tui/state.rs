//! The parts of the UI's state: benches, slots and their phones, alarms, the overlays, and
//! what `App::update` asks the loop to do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use benchline_protocol::Sample;

use crate::grade::Disposition;
use crate::run::event::{Alarm, Question};
use crate::run::record::{PhoneRecord, StepRecord};
use crate::run::Stop;

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
    /// The station file lists its jig and none answered with that serial.
    Missing,
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

impl Phone {
    /// A phone just identified (or first heard of) at `started`: nothing measured yet.
    pub fn new(imei: String, model: String, started: Instant) -> Phone {
        Phone {
            imei,
            model,
            started,
            steps: Vec::new(),
            running: Vec::new(),
            samples: Vec::new(),
            answers: BTreeMap::new(),
            removed: false,
            graded: None,
            finished: None,
        }
    }
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
