//! The run as a library: a simulated line driven through the seams (an operator who answers,
//! a sink, the event stream), as a front end drives it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::operator::Answering;
use super::*;
use crate::sim::{LineOptions, SimLine};

/// An operator who answers every question with its first choice, as `id`, and remembers the
/// questions; or never answers.
struct Clerk {
    id: String,
    answers: bool,
    asked: Mutex<Vec<Question>>,
}

impl Operator for Clerk {
    fn ask(&self, q: Question) -> Answering {
        let answer = Answer {
            choice: q.choices[0].clone(),
            by: self.id.clone(),
        };
        self.asked.lock().unwrap().push(q);
        if self.answers {
            Box::pin(std::future::ready(Some(answer)))
        } else {
            Box::pin(std::future::pending())
        }
    }

    fn signed_in(&self) -> String {
        self.id.clone()
    }
}

async fn line(count: usize, clerk: Arc<Clerk>, within: Duration) -> (Summary, Vec<LineEvent>) {
    let plan = Arc::new(crate::plan::Plan::standard().unwrap());
    let sim = SimLine::start(&LineOptions::new(
        crate::sim::builtin_phones().unwrap(),
        1,
        2,
    ))
    .unwrap();
    let opts = RunOptions {
        count: Some(count),
        answer_within: within,
        ..RunOptions::new(plan, sim.ports.clone())
    };
    let (events, mut rx) = Events::channel(100_000);
    let seams = Seams {
        operator: clerk,
        sink: Arc::new(NoStore),
        events,
    };
    let summary = run(opts, seams).await.unwrap();
    sim.stop();
    let mut seen = Vec::new();
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }
    (summary, seen)
}

#[tokio::test]
async fn the_operator_answers_each_prompt_and_the_record_names_who() {
    let clerk = Arc::new(Clerk {
        id: "op-7".into(),
        answers: true,
        asked: Mutex::default(),
    });
    let (summary, events) = line(3, clerk.clone(), ANSWER_WITHIN).await;
    assert_eq!(summary.phones, 3);
    let graded: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            LineEvent::Graded {
                record,
                bin,
                disposition,
                ..
            } => Some((record.clone(), bin.clone(), *disposition)),
            _ => None,
        })
        .collect();
    assert_eq!(graded.len(), 3);
    let prompts = crate::plan::Plan::standard().unwrap().prompts;
    for (record, bin, disposition) in &graded {
        assert_eq!(record.operator, "op-7");
        assert_eq!(record.bin.as_deref(), Some(bin.as_str()));
        assert_eq!(bin, &disposition.as_str().to_ascii_uppercase());
        for p in &prompts {
            assert_eq!(record.answers[p.id.as_str()], p.choices[0], "{}", p.id);
            assert_eq!(record.answered_by[p.id.as_str()], "op-7");
        }
    }
    // Every question named the phone it was about.
    let asked = clerk.asked.lock().unwrap();
    assert!(asked.len() >= 3 * prompts.len());
    assert!(asked
        .iter()
        .all(|q| !q.imei.is_empty() && !q.choices.is_empty()));
}

#[tokio::test]
async fn each_slot_tells_its_phone_s_story_in_order() {
    let clerk = Arc::new(Clerk {
        id: "op-1".into(),
        answers: true,
        asked: Mutex::default(),
    });
    let (_, events) = line(2, clerk, ANSWER_WITHIN).await;
    assert!(matches!(
        events[0],
        LineEvent::JigConnected {
            bench: 0,
            slots: 2,
            ..
        }
    ));
    // Follow the phone graded first through its slot's events.
    let Some(at) = events.iter().find_map(|e| match e {
        LineEvent::Graded { at, .. } => Some(*at),
        _ => None,
    }) else {
        panic!("no phone graded: {events:?}")
    };
    let story: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            LineEvent::SlotWaiting { at: a } if *a == at => Some("waiting"),
            LineEvent::PhoneIdentified { at: a, .. } if *a == at => Some("identified"),
            LineEvent::StepStarted { at: a, .. } if *a == at => Some("started"),
            LineEvent::StepFinished { at: a, .. } if *a == at => Some("finished"),
            LineEvent::Asking(q) if q.at == at => Some("asking"),
            LineEvent::Answered { at: a, .. } if *a == at => Some("answered"),
            LineEvent::Graded { at: a, .. } if *a == at => Some("graded"),
            _ => None,
        })
        .collect();
    // The first phone's part of it (the slot then waits for the next one).
    let end = story.iter().position(|x| *x == "graded").unwrap();
    let story = &story[..=end];
    let first = |s: &str| story.iter().position(|x| *x == s).unwrap();
    assert_eq!(story[0], "waiting", "{story:?}");
    assert!(first("identified") < first("started"), "{story:?}");
    assert!(first("started") < first("finished"), "{story:?}");
    let last_finished = story.iter().rposition(|x| *x == "finished").unwrap();
    assert!(last_finished < first("asking"), "{story:?}");
    assert!(first("asking") < first("answered"), "{story:?}");
    assert!(first("answered") < first("graded"), "{story:?}");
    // Every finished step carries the verdicts of its limited measurements.
    assert!(events.iter().any(|e| matches!(e,
        LineEvent::StepFinished { step, .. } if step.measurements.iter().any(|m| m.verdict.is_some()))));
}

#[tokio::test]
async fn a_question_nobody_answers_in_time_is_withdrawn_and_the_phone_retested() {
    let clerk = Arc::new(Clerk {
        id: "op-2".into(),
        answers: false,
        asked: Mutex::default(),
    });
    let (_, events) = line(1, clerk, Duration::from_millis(20)).await;
    assert!(events
        .iter()
        .any(|e| matches!(e, LineEvent::Withdrawn { .. })));
    let record = events
        .iter()
        .find_map(|e| match e {
            LineEvent::Graded { record, .. } => Some(record.clone()),
            _ => None,
        })
        .unwrap();
    assert!(record.answers.is_empty());
    assert_eq!(record.grade.disposition, crate::grade::Disposition::Retest);
    assert!(
        record
            .grade
            .reasons
            .iter()
            .any(|r| r.contains("not answered")),
        "{:?}",
        record.grade.reasons
    );
}

#[test]
fn a_disk_is_nearly_full_under_2_percent_or_512_mib_free() {
    let gib = 1u64 << 30;
    let space = |free, total| sink::Space { free, total };
    assert!(!nearly_full(space(10 * gib, 100 * gib)));
    assert!(nearly_full(space(gib, 100 * gib)));
    assert!(nearly_full(space(256 << 20, 2 * gib)));
    assert!(!nearly_full(space(gib, 2 * gib)));
}

/// `body` with its Luhn check digit appended (an IMEI from its first 14 digits).
fn luhn(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let d2 = d * 2;
                d2 / 10 + d2 % 10
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// Dead cells (protocol README 9.12): an A54 whose cell collapses under the 1 C DCIR load
/// (true DCIR 2.5-5 ohm at 10-90 % charge) once measured 0.333 ohm and went to resale. On the
/// standard plan every one of them now grades as a battery to repair, never resale, with the
/// DCIR named in the reasons; the same phone with its own healthy cell does not collapse.
#[tokio::test(flavor = "multi_thread")]
async fn a_collapsing_cell_grades_battery_repair_never_resale() {
    let library = crate::sim::builtin_phones().unwrap();
    let healthy = library
        .phones
        .iter()
        .find(|p| {
            p.model == "A54"
                && p.ocv() - f64::from(p.battery.design_mah) / 1000.0 * p.battery.dcir_mohm / 1000.0
                    > 3.1
        })
        .unwrap()
        .clone();
    let mut phones = vec![healthy.clone()];
    for (i, ohm) in [2.5, 3.0, 4.0, 5.0].into_iter().enumerate() {
        for (j, soc) in [10.0, 50.0, 90.0].into_iter().enumerate() {
            let mut p = healthy.clone();
            p.id = format!("dead-{ohm}-{soc}");
            p.imei = luhn(&format!("3508867200{i}{j}00"));
            p.battery.dcir_mohm = ohm * 1000.0;
            p.battery.soc_pct = soc;
            p.expected = None;
            phones.push(p);
        }
    }
    let count = phones.len();
    let line = LineOptions {
        once: true,
        ..LineOptions::new(benchline_sim::Library { phones }, 1, 4)
    };
    let opts = RunOptions {
        count: Some(count),
        ..RunOptions::new(Arc::new(crate::plan::Plan::standard().unwrap()), Vec::new())
    };
    let mut records = Vec::new();
    crate::sim::run_simulated(&line, opts, "dead-cells", |r, _| {
        records.push(r.clone());
        true
    })
    .await
    .unwrap();
    assert_eq!(records.len(), count);

    let dcir = |r: &PhoneRecord| {
        let step = r
            .steps
            .iter()
            .find(|s| s.procedure == "battery.dcir")
            .unwrap_or_else(|| panic!("{}: no DCIR step", r.phone.imei));
        let value = |name: &str| {
            step.measurements
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("{}: no {name}", r.phone.imei))
                .value
                .clone()
        };
        (value("resistance"), value("collapsed"), value("v_min"))
    };
    for r in &records {
        let (resistance, collapsed, v_min) = dcir(r);
        let grade = serde_json::to_value(&r.grade).unwrap();
        if r.phone.imei == healthy.imei {
            assert_eq!(collapsed.as_f64(), Some(0.0), "{grade}");
            assert!(
                resistance.as_f64().is_some_and(|ohm| ohm < 0.35),
                "{resistance}"
            );
            continue;
        }
        let what = format!("{}: {grade}", r.phone.imei);
        assert_eq!(resistance, serde_json::json!("open"), "{what}");
        assert_eq!(collapsed.as_f64(), Some(1.0), "{what}");
        assert!(
            v_min.as_f64().is_some_and(|v| v < 3.0),
            "{what}: v_min {v_min}"
        );
        assert_ne!(
            r.grade.disposition,
            crate::grade::Disposition::Resale,
            "{what}"
        );
        assert_eq!(r.grade.marketplace, None, "{what}");
        assert!(
            grade["repair"]
                .as_array()
                .is_some_and(|parts| parts.iter().any(|p| p == "battery")),
            "{what}"
        );
        assert!(
            r.grade
                .reasons
                .iter()
                .any(|reason| reason.to_lowercase().contains("dcir")
                    || reason.to_lowercase().contains("internal resistance")),
            "{what}"
        );
    }
}

/// Runs `plan` for `count` phones on two simulated jigs of two slots (SIM-0001, SIM-0002)
/// placed by `station`, the events it sent.
async fn station_line(
    plan: crate::plan::Plan,
    station: &str,
    count: usize,
) -> (Result<Summary, RunError>, Vec<LineEvent>) {
    let station = Arc::new(crate::station::Station::parse(station, "station.toml").unwrap());
    let sim = SimLine::start(&LineOptions::new(
        crate::sim::builtin_phones().unwrap(),
        2,
        2,
    ))
    .unwrap();
    let opts = RunOptions {
        count: Some(count),
        station: station.id.clone(),
        bins: station.bins.clone(),
        station_file: Some(station),
        ..RunOptions::new(Arc::new(plan), sim.ports.clone())
    };
    let (events, mut rx) = Events::channel(100_000);
    let clerk = Arc::new(Clerk {
        id: "op-2".into(),
        answers: true,
        asked: Mutex::default(),
    });
    let seams = Seams {
        operator: clerk.clone(),
        sink: Arc::new(NoStore),
        events,
    };
    let summary = run(opts, seams).await;
    sim.stop();
    let mut seen = Vec::new();
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }
    // The simulated jigs announce simulated phones: every question says so.
    assert!(clerk.asked.lock().unwrap().iter().all(|q| q.simulated));
    (summary, seen)
}

#[tokio::test]
async fn a_station_file_places_jigs_by_serial_with_its_slots_bins_and_id() {
    let station = r#"[station]
id = "st-9"
ports = []
[bins]
resale = "SHELF 1"
[[bench]]
name = "front"
[[bench.jig]]
serial = "SIM-0002"
slots = [1]
[[bench]]
name = "back"
[[bench.jig]]
serial = "SIM-0001"
[[bench.jig]]
serial = "SIM-0077"
"#;
    let plan = crate::plan::Plan::standard().unwrap();
    let (summary, events) = station_line(plan, station, 6).await;
    let summary = summary.unwrap();
    assert_eq!(summary.missing, vec!["back (jig SIM-0077)".to_string()]);
    let missing: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            LineEvent::JigMissing {
                bench,
                name,
                serial,
            } => Some((*bench, name.as_str(), serial.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(missing, vec![(2, "back", "SIM-0077")]);
    for e in &events {
        match e {
            LineEvent::JigConnected {
                bench,
                name,
                serial,
                ..
            } => match serial.as_str() {
                "SIM-0002" => assert_eq!((*bench, name.as_str()), (0, "front")),
                "SIM-0001" => assert_eq!((*bench, name.as_str()), (1, "back")),
                other => panic!("jig {other} was not listed"),
            },
            LineEvent::Graded {
                at,
                record,
                bin,
                disposition,
                ..
            } => {
                assert_eq!(record.station.as_deref(), Some("st-9"));
                let serial = record.jig.serial.as_ref();
                match at.bench {
                    0 => {
                        assert_eq!(
                            (record.bench.as_deref(), serial),
                            (Some("front"), "SIM-0002")
                        );
                        assert_eq!(at.slot, 1, "only the slot in use");
                    }
                    1 => assert_eq!(
                        (record.bench.as_deref(), serial),
                        (Some("back"), "SIM-0001")
                    ),
                    b => panic!("bench {b}"),
                }
                if *disposition == crate::grade::Disposition::Resale {
                    assert_eq!(bin, "SHELF 1");
                } else {
                    assert_eq!(bin, &disposition.as_str().to_ascii_uppercase());
                }
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn unknown_jigs_are_not_used_and_a_firmware_range_refusal_names_benchctl_flash() {
    // SIM-0002 is not on the station: alarmed, not used.
    let station = "[station]\nid = \"st-1\"\nports = []\n[[bench]]\nname = \"only\"\njig = [{ serial = \"SIM-0001\" }]\n";
    let plan = crate::plan::Plan::standard().unwrap();
    let (summary, events) = station_line(plan, station, 2).await;
    assert_eq!(summary.unwrap().phones, 2);
    let alarm = events
        .iter()
        .find_map(|e| match e {
            LineEvent::Alarm(a) if a.key == "unknown jig SIM-0002" => Some(a.clone()),
            _ => None,
        })
        .expect("an alarm names the unknown jig");
    assert!(
        alarm.what.contains("st-1 does not list it"),
        "{}",
        alarm.what
    );
    for e in &events {
        if let LineEvent::Graded { record, .. } = e {
            assert_eq!(record.jig.serial.as_ref(), "SIM-0001");
        }
    }
    // A plan that accepts only firmware 9.x refuses the jig, saying what to flash.
    let text = crate::plan::STANDARD.replace("firmware = \">=0.1, <0.2\"", "firmware = \"^9\"");
    let plan = crate::plan::Plan::parse(&text, "nine.toml").unwrap();
    let (summary, events) = station_line(plan, station, 1).await;
    assert!(matches!(summary, Err(RunError::NoJig(_))), "{summary:?}");
    let refused = events
        .iter()
        .find_map(|e| match e {
            LineEvent::JigRefused {
                bench: 0, reason, ..
            } => Some(reason.clone()),
            _ => None,
        })
        .expect("the jig is refused");
    assert!(
        refused.contains("jig SIM-0001 runs firmware 0.1.0; plan standard-refurb 2.1.0 accepts ^9")
            && refused
                .contains("`benchctl flash <ELF> --board firmware/boards/<board> --jig SIM-0001`"),
        "{refused}"
    );
}
