//! Every fault the simulated jig can inject, each followed by the controller's correct behaviour:
//! the request or step is retried, the slot goes on to the next phone, no measurement comes from
//! a bad frame, and nothing hangs.

use crate::harness::*;

/// Runs two phones through a jig with `fault`; both records must be complete and truthful.
fn survive(fault: &str, extra_jig: &[&str], extra_run: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["--fault", fault];
    args.extend_from_slice(extra_jig);
    let jig = SimJig::start(&args);
    let mut run_args = vec!["--timeout-margin", "300"];
    run_args.extend_from_slice(extra_run);
    let out = run_ports(&[&jig.path], 2, &run_args);
    assert!(out.status.success(), "{fault}: {}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 2, "{fault}: the slot went on to the next phone");
    recs.iter().for_each(assert_truth);
    recs
}

fn attempts(record: &serde_json::Value, procedure: &str) -> u64 {
    step(record, procedure)["attempts"].as_u64().unwrap()
}

#[test]
fn corrupted_dropped_truncated_or_garbled_replies_to_an_idempotent_request_are_retried_by_the_link()
{
    for kind in ["corrupt", "drop", "truncate", "garbage"] {
        let recs = survive(&format!("{kind}@battery.gauge"), &[], &[]);
        // The link repeated the request; the step itself needed one attempt.
        assert_eq!(attempts(&recs[0], "battery.gauge"), 1, "{kind}");
        // The link absorbed the fault, and the record shows it to the auditor.
        assert!(
            recs[0]["link"]["bad_frames"].as_u64().unwrap() >= 1,
            "{kind}: {}",
            recs[0]["link"]
        );
    }
}

#[test]
fn a_lost_reply_to_a_procedure_that_drives_the_phone_is_asked_for_again_not_rerun() {
    for kind in ["drop", "corrupt", "truncate"] {
        let recs = survive(&format!("{kind}@battery.dcir"), &[], &[]);
        let first = &recs[0];
        // The load ran once: the host asked the jig for the lost reply (Resend).
        assert_eq!(attempts(first, "battery.dcir"), 1, "{kind}: {first}");
        assert!(
            first["link"]["resends"].as_u64().unwrap() >= 1,
            "{kind}: {}",
            first["link"]
        );
    }
}

#[test]
fn a_jig_reset_during_a_procedure_is_detected_and_the_step_repeated() {
    let recs = survive("reset@battery.dcir", &[], &[]);
    let dcir = step(&recs[0], "battery.dcir");
    assert_eq!(dcir["attempts"], 2, "{dcir}");
    assert!(dcir["errors"].to_string().contains("restarted"), "{dcir}");
    assert_ne!(recs[0]["jig"]["boot_id"], serde_json::Value::Null);
}

#[test]
fn a_hanging_jig_is_timed_out_and_retried_without_hanging_the_controller() {
    let recs = survive("hang=500@battery.gauge", &[], &[]);
    assert_eq!(recs[0]["status"], "complete");
    // The hang really happened, and the link timed it out.
    assert!(
        recs[0]["link"]["timeouts"].as_u64().unwrap() >= 1,
        "{}",
        recs[0]["link"]
    );
}

#[test]
fn an_unplugged_jig_is_reopened_when_it_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("jig0");
    let link = link.to_str().unwrap();
    let recs = survive("unplug=400@battery.gauge", &["--link", link], &[]);
    let gauge = step(&recs[0], "battery.gauge");
    assert!(gauge["attempts"].as_u64().unwrap() >= 2, "{gauge}");
    assert!(
        gauge["errors"].to_string().contains("disconnected"),
        "{gauge}"
    );
}
