//! A simulated line and several jigs at once.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use benchctl::plan::Catalogue;
use benchline_protocol::{
    decode_frame, encode_frame, JigMsg, Packet, Reply, Request, MAX_ENCODED_FRAME,
};

use crate::harness::*;

#[test]
fn a_simulated_line_of_four_jigs_measures_every_phone_truthfully() {
    let mut c = benchctl();
    c.args([
        "run",
        "--sim",
        "4",
        "--headless",
        "--count",
        "8",
        "--time-scale",
        "0",
        "--seed",
        "3",
    ]);
    let out = finish(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 8);
    let jigs: BTreeSet<_> = recs
        .iter()
        .map(|r| r["jig"]["serial"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(jigs.len(), 4, "every jig tested phones: {jigs:?}");
    for r in &recs {
        assert_truth(r);
        for s in r["steps"].as_array().unwrap() {
            let expected = if s["status"] == "skipped" { 0 } else { 1 };
            assert_eq!(s["attempts"], expected, "no retries without faults: {s}");
        }
    }
}

#[test]
fn three_separate_jig_processes_run_at_once() {
    let jigs: Vec<SimJig> = (0..3)
        .map(|i| SimJig::start(&["--serial", &format!("JIG-{i}"), "--slots", "2"]))
        .collect();
    let ports: Vec<&str> = jigs.iter().map(|j| j.path.as_str()).collect();
    let out = run_ports(&ports, 9, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 9);
    let slots: BTreeSet<_> = recs
        .iter()
        .map(|r| {
            (
                r["jig"]["serial"].as_str().unwrap().to_string(),
                r["slot"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        slots.len() >= 5,
        "phones were tested on most of the 6 slots: {slots:?}"
    );
    recs.iter().for_each(assert_truth);
}

#[test]
fn any_serial_program_can_talk_to_a_simulated_jig() {
    let jig = SimJig::start(&[]);
    let mut port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&jig.path)
        .unwrap();
    let mut buf = [0u8; MAX_ENCODED_FRAME];
    let n = encode_frame(
        &Packet {
            seq: 4242,
            msg: Request::Ping { nonce: 99 },
        },
        &mut buf,
    )
    .unwrap();
    port.write_all(&buf[..n]).unwrap();
    let mut acc = Vec::new();
    let mut byte = [0u8];
    loop {
        port.read_exact(&mut byte).unwrap();
        if byte[0] != 0 {
            acc.push(byte[0]);
            continue;
        }
        if let Ok(Packet {
            seq: 4242,
            msg: JigMsg::Reply(r),
        }) = decode_frame::<JigMsg>(&acc)
        {
            assert_eq!(r, Reply::Pong { nonce: 99 });
            break;
        }
        acc.clear();
    }
}

#[test]
fn plan_check_grades_every_library_phone_as_expected() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = finish({
        let mut c = benchctl();
        c.current_dir(root).args([
            "plan",
            "check",
            "test-plans/standard-refurb.toml",
            "--against",
            "fixtures/phones",
        ]);
        c
    });
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("graded 160 of 160 phones"), "{text}");
    assert!(text.contains("every phone graded as expected"), "{text}");
    assert!(
        text.contains("expected \\ actual"),
        "confusion matrix: {text}"
    );
}

#[test]
fn plan_check_exits_1_when_a_plan_grades_phones_differently() {
    let dir = tempfile::tempdir().unwrap();
    let strict = dir.path().join("strict.toml");
    let standard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-plans/standard-refurb.toml"
    ))
    .unwrap();
    // A stricter battery limit than the policy the library's expectations were written for.
    std::fs::write(&strict, standard.replace("min = 80.0 ", "min = 90.0 ")).unwrap();
    let out = finish({
        let mut c = benchctl();
        c.args([
            "plan",
            "check",
            strict.to_str().unwrap(),
            "--against",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/phones"),
        ]);
        c
    });
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("mismatch(es)") && text.contains("battery health below 80 %"),
        "{text}"
    );
}

#[test]
fn a_run_with_a_malformed_plan_exits_2_before_touching_a_jig() {
    let out = run_with_file("--plan", "[plan]\nid = \"x\"\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.toml:"), "{}", stderr(&out));
}

#[test]
fn records_carry_the_plan_the_grade_and_the_reasons() {
    for r in fill(&fresh_dir(), 4, 1, &[]) {
        assert_eq!(r["plan"]["id"], "standard-refurb");
        assert!(
            !r["operator"].as_str().unwrap().is_empty(),
            "the operator is recorded"
        );
        assert_eq!(r["plan"]["hash"].as_str().unwrap().len(), 64);
        assert!(r["grade"]["disposition"].is_string());
        assert!(r["grade"]["reasons"].is_array());
        let prompts = benchctl::plan::Plan::standard().unwrap().prompts.len();
        assert_eq!(r["answers"].as_object().unwrap().len(), prompts);
        assert_truth(&r);
    }
}

#[test]
fn the_built_in_phone_library_is_the_fixtures_directory() {
    let built_in = benchctl::sim::builtin_phones().unwrap();
    let dir = benchline_sim::Library::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/phones"
    )))
    .unwrap();
    let ids = |l: &benchline_sim::Library| {
        l.phones
            .iter()
            .map(|p| p.id.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        ids(&built_in),
        ids(&dir),
        "add new fixture files to BUILTIN_PHONES in controller/src/run/mod.rs"
    );
}

#[test]
fn every_number_a_run_records_is_one_the_plan_catalogue_knows() {
    for r in fill(&fresh_dir(), 4, 1, &[]) {
        for s in r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "measured" && s["procedure"] != "identify")
        {
            let procedure =
                benchctl::plan::Procedure::from_name(s["procedure"].as_str().unwrap()).unwrap();
            let known: BTreeSet<(String, &str)> =
                procedure.measurement_names().into_iter().collect();
            for m in s["measurements"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["unit"] != "text" && m["name"] != "raw")
            {
                let key = (
                    m["name"].as_str().unwrap().to_string(),
                    m["unit"].as_str().unwrap(),
                );
                assert!(
                    known.contains(&key),
                    "{} records {key:?}, which plans cannot name",
                    procedure.name()
                );
            }
        }
    }
}
