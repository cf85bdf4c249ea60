//! The line's live stream: one closed enum of everything a front end shows.
//!
//! A run sends [`LineEvent`]s in the order things happen on each slot. Front ends (the terminal
//! UI, the headless JSON lines, a test) consume them; none of them is needed for the run to go
//! on, and a consumer that goes away only stops the run hearing about itself.

use std::sync::Arc;

use benchline_protocol::Sample;

use super::record::{PhoneRecord, StepRecord};
use crate::grade::Disposition;
use crate::store::Stored;

/// A slot on the line: the bench (numbered from 0 in the order the run was given its jigs) and
/// the slot on that bench's jig.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct SlotId {
    /// Bench index.
    pub bench: usize,
    /// Slot on the bench's jig.
    pub slot: u8,
}

/// A question the plan asks the person at the bench about the phone in a slot.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Question {
    /// The slot whose phone it is about.
    pub at: SlotId,
    /// The phone's IMEI.
    pub imei: String,
    /// The phone's model.
    pub model: String,
    /// The prompt's id in the plan (the key of its answer in the record).
    pub prompt: String,
    /// The question as the plan words it.
    pub text: String,
    /// The choices, best first; each is answered with one key (`1` for the first, ...).
    pub choices: Vec<String>,
    /// The jig holding the phone announces simulated phones (`Hello::simulated`): only then
    /// may a simulated operator answer; a real jig's questions go to the person at the bench.
    pub simulated: bool,
}

/// An answer to a [`Question`], and who gave it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Answer {
    /// One of the question's choices.
    pub choice: String,
    /// The operator id of whoever answered (the simulated operator is named as such).
    pub by: String,
}

/// An alarm: something the operator must see and do something about. The line goes on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Alarm {
    /// What the alarm is about, stable while the condition lasts (a repeat of the same alarm
    /// carries the same key, so a front end shows it once).
    pub key: String,
    /// The bench it concerns, if one.
    pub bench: Option<usize>,
    /// What went wrong, naming the bench, jig or store.
    pub what: String,
    /// What to do about it.
    pub fix: String,
}

/// Everything that happens on the line, in the order it happens on each slot.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LineEvent {
    /// A jig answered its handshake (first connection, or back after an unplug).
    JigConnected {
        /// Bench index.
        bench: usize,
        /// Bench name (`bench-1`, ...), as written in records.
        name: String,
        /// Serial port.
        port: String,
        /// Jig serial number.
        serial: String,
        /// Firmware version.
        firmware: String,
        /// Slots on the jig.
        slots: u8,
    },
    /// A jig cannot be used for now: unplugged, or taken out of service by its link.
    JigLost {
        /// Bench index.
        bench: usize,
        /// Serial port.
        port: String,
        /// Why.
        why: String,
    },
    /// A jig that was lost is usable again.
    JigBack {
        /// Bench index.
        bench: usize,
    },
    /// A jig restarted: what it was doing is lost and its phones' steps are repeated.
    JigReset {
        /// Bench index.
        bench: usize,
        /// Serial port.
        port: String,
    },
    /// A jig was not taken into the line (no answer, wrong kind, firmware the plan refuses).
    JigRefused {
        /// Bench index.
        bench: usize,
        /// Serial port.
        port: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A bench of the station file has no jig: none of the ports looked at answered with the
    /// serial it lists. Its bench shows it missing.
    JigMissing {
        /// Bench index.
        bench: usize,
        /// Bench name, as the station file names it.
        name: String,
        /// The serial of the jig the station file lists for it.
        serial: String,
    },
    /// A slot is empty and waits for a phone.
    SlotWaiting {
        /// The slot.
        at: SlotId,
    },
    /// The phone in a slot was identified; its test starts.
    PhoneIdentified {
        /// The slot.
        at: SlotId,
        /// IMEI.
        imei: String,
        /// Model code.
        model: String,
    },
    /// A step of the plan started on a slot's phone.
    StepStarted {
        /// The slot.
        at: SlotId,
        /// Step id in the plan.
        step: String,
        /// Procedure.
        procedure: &'static str,
        /// Channel (battery, port, screen).
        channel: &'static str,
        /// How long the step should take on the jig, real seconds (scaled), if known.
        expected_s: f64,
    },
    /// A long step's progress, as the jig reports it.
    Progress {
        /// The slot.
        at: SlotId,
        /// Channel.
        channel: &'static str,
        /// Percent of the step's nominal time, 0-99.
        percent: u8,
        /// A reading of the battery monitor (the DCIR pulse), when the jig sent one.
        sample: Option<Sample>,
    },
    /// A step finished: its measurements with limits and verdicts.
    StepFinished {
        /// The slot.
        at: SlotId,
        /// The step as recorded.
        step: Box<StepRecord>,
    },
    /// The plan asks the person at the bench; the slot waits for the answer.
    Asking(Question),
    /// A question is no longer asked (the phone was taken out, or the run stops).
    Withdrawn {
        /// The slot.
        at: SlotId,
        /// The prompt's id.
        prompt: String,
    },
    /// A question was answered.
    Answered {
        /// The slot.
        at: SlotId,
        /// The prompt's id.
        prompt: String,
        /// The answer.
        answer: Answer,
    },
    /// A phone was graded and its record committed (on disk when there is a store): it may
    /// go to its bin.
    Graded {
        /// The slot.
        at: SlotId,
        /// The record.
        record: Arc<PhoneRecord>,
        /// Where it landed in the store.
        stored: Option<Stored>,
        /// The disposition.
        disposition: Disposition,
        /// The bin the phone goes to.
        bin: String,
    },
    /// The phone was taken out of a slot.
    PhoneRemoved {
        /// The slot.
        at: SlotId,
    },
    /// Something the operator must see.
    Alarm(Alarm),
    /// The condition behind an alarm is over.
    AlarmCleared {
        /// The alarm's key.
        key: String,
    },
    /// The replication of this station's records to the plant database: its backlog changed,
    /// an outage began or ended, or the plant refused the station. The line never waits on it.
    Plant {
        /// What changed.
        change: PlantChange,
        /// How the replication stands now.
        status: Replication,
    },
}

/// What a [`LineEvent::Plant`] tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlantChange {
    /// Records were committed or pushed: the backlog changed.
    Backlog,
    /// The plant cannot be reached or refuses the push for now; records wait in the outbox.
    Outage,
    /// The plant takes records again after an outage.
    Recovered,
    /// The plant refused this station for good (its chain forked): nothing more is pushed.
    Refused,
}

/// Where the replication to the plant stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlantState {
    /// Not connected yet.
    #[default]
    Connecting,
    /// Connected; records are pushed as they are committed.
    Live,
    /// The last attempt failed; it is tried again after a backoff.
    Outage,
    /// The plant refused the station; nothing more is pushed until it is resolved.
    Refused,
}

/// How the replication of this station's records to the plant stands: what the plant
/// replicator publishes and front ends show.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Replication {
    /// Where it stands.
    pub state: PlantState,
    /// Records committed here that the plant has not confirmed (the outbox).
    pub backlog: u64,
    /// The last record the plant confirmed (its head for this station, as far as known).
    pub confirmed: u64,
    /// Records pushed by this process.
    pub pushed: u64,
    /// Seconds since the plant last took records while there is a backlog (0 when none).
    pub lag_s: u64,
    /// The last error, in words (what happened and what to do).
    pub error: Option<String>,
}

impl Replication {
    /// What changed from `before` to this status, worth telling a front end (`None`: nothing
    /// it shows).
    pub fn change_from(&self, before: &Replication) -> Option<PlantChange> {
        use PlantState as S;
        match (before.state, self.state) {
            (a, b) if a == b => (self.backlog != before.backlog || self.lag_s != before.lag_s)
                .then_some(PlantChange::Backlog),
            (_, S::Refused) => Some(PlantChange::Refused),
            (_, S::Outage) => Some(PlantChange::Outage),
            (S::Outage, S::Live) => Some(PlantChange::Recovered),
            _ => Some(PlantChange::Backlog),
        }
    }
}

/// Where a run sends its [`LineEvent`]s: a bounded channel, so a stalled consumer slows the
/// line (nothing is lost) rather than growing memory; progress without a battery sample, the
/// only event sent often, is dropped instead when the consumer is behind.
#[derive(Debug, Clone)]
pub struct Events(tokio::sync::mpsc::Sender<LineEvent>);

impl Events {
    /// A stream and its receiving end, holding up to `capacity` events.
    pub fn channel(capacity: usize) -> (Events, tokio::sync::mpsc::Receiver<LineEvent>) {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        (Events(tx), rx)
    }

    /// A stream nobody reads (the events are dropped at once).
    pub fn discard() -> Events {
        let (tx, _) = tokio::sync::mpsc::channel(1);
        Events(tx)
    }

    /// Sends an event; waits while the consumer is behind. A consumer that is gone is ignored.
    pub async fn send(&self, event: LineEvent) {
        if matches!(event, LineEvent::Progress { sample: None, .. }) {
            let _ = self.0.try_send(event);
        } else {
            let _ = self.0.send(event).await;
        }
    }
}
