//! A line in every state, made of plain [`LineEvent`]s: what the snapshot tests and the render
//! benchmark draw, and a way to look at the screens without jigs.
//!
//! Everything is deterministic: times are offsets from a given instant.

use std::sync::Arc;
use std::time::{Duration, Instant};

use benchline_protocol::Sample;

use super::event::AppEvent;
use crate::grade::{Disposition, Grade, Verdict};
use crate::run::event::{Alarm, LineEvent, Question, SlotId};
use crate::run::record::{
    JigIdentity, LinkCounters, Measurement, PhoneIdentity, PhoneRecord, PlanIdentity, StepRecord,
    StepStatus,
};

/// A measurement with limits and its verdict.
pub fn measured(
    name: &str,
    value: f64,
    unit: &'static str,
    min: Option<f64>,
    max: Option<f64>,
    verdict: Verdict,
) -> Measurement {
    Measurement {
        min,
        max,
        verdict: Some(verdict),
        ..Measurement::num(name, value, unit)
    }
}

/// A measured step.
pub fn step(
    id: &str,
    procedure: &'static str,
    channel: &'static str,
    measurements: Vec<Measurement>,
) -> StepRecord {
    StepRecord {
        id: id.into(),
        procedure,
        channel,
        status: StepStatus::Measured,
        attempts: 1,
        errors: Vec::new(),
        measurements,
        duration_s: 2.0,
    }
}

/// A record of `imei` graded `disposition`; each step named in `failing` fails (the first by
/// its status, the others by a measurement's verdict).
pub fn record(
    imei: &str,
    disposition: Disposition,
    marketplace: Option<&str>,
    failing: &[&str],
) -> PhoneRecord {
    let mut steps = vec![step(
        "gauge",
        "battery.gauge",
        "battery",
        vec![measured(
            "state_of_health",
            91.0,
            "%",
            Some(80.0),
            None,
            Verdict::Pass,
        )],
    )];
    for (i, id) in failing.iter().enumerate() {
        let mut s = step(
            id,
            "battery.dcir",
            "battery",
            vec![measured(
                "dcir",
                0.35,
                "ohm",
                None,
                Some(0.2),
                Verdict::Fail,
            )],
        );
        if i == 0 {
            s.status = StepStatus::Failed;
            s.errors = vec!["the jig did not answer in time".into()];
        }
        steps.push(s);
    }
    PhoneRecord {
        schema: crate::store::SCHEMA,
        phone: PhoneIdentity {
            imei: imei.to_string().into(),
            model: "X1".into(),
            serial: "S1".into(),
        },
        station: Some("station-1".into()),
        bench: Some("bench-1".into()),
        jig: JigIdentity {
            port: "/dev/ttyACM0".into(),
            serial: "J1".into(),
            firmware: "1.0.0".into(),
            boot_id: 7,
            simulated: false,
        },
        slot: 0,
        operator: "alice".into(),
        started: "2025-01-01T08:00:00Z".into(),
        finished: "2025-01-01T08:01:00Z".into(),
        status: if failing.is_empty() {
            "complete"
        } else {
            "incomplete"
        },
        plan: PlanIdentity {
            id: "standard".into(),
            version: "1".into(),
            hash: "5d1e0c7a9b3f24e8a6c1d0f9e2b7a4c35d1e0c7a9b3f24e8a6c1d0f9e2b7a4c3".into(),
        },
        steps,
        answers: Default::default(),
        answered_by: Default::default(),
        bin: Some(disposition.as_str().to_ascii_uppercase().into()),
        grade: Grade {
            cosmetic: Some("B".into()),
            functional: 9,
            r2_functional: "F9".into(),
            r2_cosmetic: Some("C3".into()),
            marketplace: marketplace.map(|m| m.to_string().into()),
            disposition,
            repair: Vec::new(),
            reasons: Vec::new(),
        },
        link: LinkCounters::default(),
    }
}

/// A DCIR pulse as the battery monitor reads it: rest, a 1 A load for a second, rest.
pub fn samples(n: u32) -> Vec<Sample> {
    (0..n)
        .map(|i| {
            let t_ms = i * 2000 / n.max(1);
            let load = (500..1500).contains(&t_ms);
            let current_a = if load { 1.0 } else { 0.0 };
            Sample {
                t_ms,
                voltage_v: 3.85 - 0.12 * current_a - 0.0001 * t_ms as f32 * current_a,
                current_a,
            }
        })
        .collect()
}

/// A question for the slot `at`.
pub fn question(at: SlotId, prompt: &str, text: &str, choices: &[&str]) -> Question {
    Question {
        at,
        imei: format!("35693803564{:04}", at.bench * 10 + usize::from(at.slot)),
        model: "X1".into(),
        prompt: prompt.into(),
        text: text.into(),
        choices: choices.iter().map(|c| (*c).to_string()).collect(),
        simulated: false,
    }
}

/// An alarm about bench `bench`.
pub fn alarm(bench: usize, what: &str, fix: &str) -> Alarm {
    Alarm {
        key: format!("jig {bench}"),
        bench: Some(bench),
        what: what.into(),
        fix: fix.into(),
    }
}

fn line(e: LineEvent) -> AppEvent {
    AppEvent::Line(Box::new(e))
}

/// The events of a line of `benches` benches of `slots` slots, from `base`: slot `n` (counted
/// over the line) is in the state `n % 8` of: idle, waiting, testing the DCIR step (with
/// samples), waiting for the operator, graded resale, graded repair, waiting after a graded
/// phone was taken out, identifying. Benches `b % 8 == 3` are lost, `4` refused, `5` reset.
/// The clock ends at `base + 95 s`.
pub fn events(base: Instant, benches: usize, slots: u8) -> Vec<AppEvent> {
    let at_s = |s: u64| AppEvent::Tick(base + Duration::from_secs(s));
    let mut out = vec![at_s(0)];
    for bench in 0..benches {
        out.push(line(LineEvent::JigConnected {
            bench,
            name: format!("bench-{}", bench + 1),
            port: format!("/dev/ttyACM{bench}"),
            serial: format!("JIG-{:04}", bench + 1),
            firmware: "1.2.0".into(),
            slots,
        }));
    }
    out.push(at_s(10));
    for bench in 0..benches {
        for slot in 0..slots {
            let at = SlotId { bench, slot };
            let n = bench * usize::from(slots) + usize::from(slot);
            let imei = format!("35693803564{:04}", n);
            let identified = LineEvent::PhoneIdentified {
                at,
                imei: imei.clone(),
                model: "X1".into(),
            };
            let graded = |d: Disposition, m: Option<&str>, failing: &[&str]| {
                let mut r = record(&imei, d, m, failing);
                r.slot = slot;
                LineEvent::Graded {
                    at,
                    record: Arc::new(r),
                    stored: None,
                    disposition: d,
                    bin: d.as_str().to_ascii_uppercase(),
                }
            };
            let state = n % 8;
            if state == 0 {
                continue;
            }
            out.push(line(LineEvent::SlotWaiting { at }));
            match state {
                2 | 3 => {
                    out.push(line(identified));
                    out.push(line(LineEvent::StepStarted {
                        at,
                        step: "gauge".into(),
                        procedure: "battery.gauge",
                        channel: "battery",
                        expected_s: 1.0,
                    }));
                    out.push(line(LineEvent::StepFinished {
                        at,
                        step: Box::new(
                            record(&imei, Disposition::Resale, None, &[]).steps[0].clone(),
                        ),
                    }));
                    out.push(line(LineEvent::StepStarted {
                        at,
                        step: "dcir".into(),
                        procedure: "battery.dcir",
                        channel: "battery",
                        expected_s: 200.0,
                    }));
                    for (i, s) in samples(60).into_iter().enumerate() {
                        out.push(line(LineEvent::Progress {
                            at,
                            channel: "battery",
                            percent: u8::try_from(i * 45 / 60).unwrap_or(45),
                            sample: Some(s),
                        }));
                    }
                    if state == 3 {
                        out.push(line(LineEvent::Asking(question(
                            at,
                            "cosmetic",
                            "Cosmetic grade of the housing?",
                            &["A like new", "B light wear", "C visible wear", "D damaged"],
                        ))));
                    }
                }
                4 => {
                    out.push(line(identified));
                    out.push(line(graded(Disposition::Resale, Some("Premium"), &[])));
                }
                5 => {
                    out.push(line(identified));
                    out.push(line(graded(Disposition::Repair, None, &["dcir"])));
                }
                6 => {
                    out.push(line(identified));
                    out.push(line(graded(Disposition::Parts, None, &[])));
                    out.push(line(LineEvent::SlotWaiting { at }));
                    out.push(line(LineEvent::PhoneRemoved { at }));
                }
                7 => out.push(line(identified)),
                _ => {}
            }
        }
    }
    for bench in 0..benches {
        let port = format!("/dev/ttyACM{bench}");
        match bench % 8 {
            3 => out.push(line(LineEvent::JigLost {
                bench,
                port,
                why: "unplugged".into(),
            })),
            4 => out.push(line(LineEvent::JigRefused {
                bench,
                port,
                reason: "firmware 0.9.0 is older than the plan needs (1.2.0): flash it".into(),
            })),
            5 => out.push(line(LineEvent::JigReset { bench, port })),
            _ => {}
        }
    }
    out.push(at_s(95));
    out
}
