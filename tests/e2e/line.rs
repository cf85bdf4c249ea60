//! A simulated line and several jigs at once.

use std::collections::BTreeSet;
use std::io::{Read, Write};

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
            assert_eq!(s["attempts"], 1, "no retries without faults: {s}");
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
