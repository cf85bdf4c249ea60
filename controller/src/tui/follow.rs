//! How the UI follows the line: each [`LineEvent`] applied to the state of its bench and slot.

use super::app::{App, Effect, Fault, FaultKind, Graded, Phase, Phone, Raised, Running, Slot};
use crate::run::event::LineEvent;

/// Battery samples kept per phone (a DCIR pulse sends far fewer).
const MAX_SAMPLES: usize = 4096;

impl App {
    /// Follows one event of the line.
    pub(super) fn line(&mut self, event: LineEvent) -> Vec<Effect> {
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
            LineEvent::JigMissing {
                bench,
                name,
                serial,
            } => {
                let b = self.bench_mut(bench);
                b.name = name;
                b.serial = serial.clone();
                b.fault = Some(Fault {
                    kind: FaultKind::Missing,
                    why: format!("jig {serial} is missing: plug it in and restart the line"),
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
                slot.phone = Some(Phone::new(imei, model, now));
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
                if procedure == benchline_protocol::Procedure::BatteryDcir.name() {
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
                    phone.imei = record.phone.imei.to_string();
                    phone.model = record.phone.model.to_string();
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
            LineEvent::Plant { status, .. } => self.plant = Some(status),
        }
        Vec::new()
    }
}
