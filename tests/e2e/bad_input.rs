//! A path that is not a jig, an incompatible jig, garbage on the line: a clear error that names
//! the port and says what to do, while other jigs keep running.

use crate::harness::*;

#[test]
fn a_path_that_is_not_a_serial_port_is_refused_with_its_name() {
    let out = run_ports(&["/nonexistent/ttyACM9"], 1, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cannot open /nonexistent/ttyACM9 as a serial port"),
        "{err}"
    );
    assert!(err.contains("check the path"), "{err}");
}

#[test]
fn a_device_that_only_sends_garbage_is_not_taken_for_a_jig() {
    let noise = SimJig::start(&["--babble"]);
    let out = run_ports(&[&noise.path], 1, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} is not a Benchline jig", noise.path)),
        "{err}"
    );
    assert!(err.contains("garbled frame"), "{err}");
}

#[test]
fn a_jig_with_another_protocol_version_is_refused_with_what_to_do() {
    let old = SimJig::start(&["--protocol-version", "99"]);
    let out = run_ports(&[&old.path], 1, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&old.path)
            && err.contains("protocol 99")
            && err.contains(&format!(
                "update the jig to firmware that speaks protocol {}",
                benchline_protocol::PROTOCOL_VERSION
            )),
        "{err}"
    );
}

#[test]
fn other_jigs_keep_running_when_one_port_is_bad() {
    let good = SimJig::start(&[]);
    let noise = SimJig::start(&["--babble"]);
    let old = SimJig::start(&["--protocol-version", "1"]);
    let out = run_ports(&[&noise.path, &good.path, &old.path, "/dev/null"], 2, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r["jig"]["port"] == good.path.as_str()));
    let err = stderr(&out);
    for p in [noise.path.as_str(), old.path.as_str(), "/dev/null"] {
        assert!(err.contains(p), "warning names {p}: {err}");
    }
}

#[test]
fn bad_usage_and_bad_phone_libraries_exit_2() {
    let out = finish({
        let mut c = benchctl();
        c.args(["run", "--headless"]);
        c
    });
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run_sim_one(&["--operator", " "]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--operator is empty"),
        "{}",
        stderr(&out)
    );
    let out = run_with_file("--phones", "[[phone]]\nid = 3\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.toml"), "{}", stderr(&out));
}

#[test]
fn a_jig_the_plan_cannot_run_on_is_refused_with_what_to_do() {
    let plans = concat!(env!("CARGO_MANIFEST_DIR"), "/../test-plans/");
    let standard = std::fs::read_to_string(format!("{plans}standard-refurb.toml")).unwrap();
    let battery = std::fs::read_to_string(format!("{plans}battery-only.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, text, expect) in [
        (
            "newer.toml",
            standard.replace(
                "min_protocol = 4",
                "min_firmware = \"9.0.0\"\nmin_protocol = 4",
            ),
            // min_firmware is the same range check as firmware: both apply.
            "runs firmware 0.1.0; plan standard-refurb 2.1.0 accepts >=0.1, <0.2, >=9.0.0: flash it with `benchctl flash",
        ),
        (
            "battery.toml",
            battery.replace(
                "jig_kinds = [\"battery\", \"combo\"]",
                "jig_kinds = [\"battery\"]",
            ),
            "it is a combo jig and plan",
        ),
    ] {
        let plan = dir.path().join(name);
        std::fs::write(&plan, text).unwrap();
        let jig = SimJig::start(&[]);
        let out = run_ports(&[&jig.path], 1, &["--plan", plan.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("the jig on {} cannot run this plan", jig.path))
                && err.contains(expect),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_run_whose_output_is_closed_stops_instead_of_losing_records() {
    use std::io::BufRead;
    use wait_timeout::ChildExt;
    let mut child = benchctl()
        .args(["run", "--sim", "1", "--headless", "--time-scale", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with('{'), "{first}");
    // The reader is gone now: the next record cannot be written.
    let status = child
        .wait_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    let Some(status) = status else {
        let _ = child.kill();
        panic!("benchctl went on testing phones it could not record");
    };
    assert_eq!(status.code(), Some(1));
    let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(
        err.contains("cannot write records to standard output"),
        "{err}"
    );
}
