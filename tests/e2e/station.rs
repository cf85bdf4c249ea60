//! Station files (`run --station`), the plan's firmware range, and the simulated operator on
//! `--port` jigs that announce simulated phones.

use crate::harness::*;

#[test]
fn auto_answer_on_a_port_grades_a_simulated_jig_as_its_library_expects() {
    let jig = SimJig::start(&["--serial", "SIM-AA01"]);
    let out = run_ports(&[&jig.path], 2, &["--auto-answer"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 2, "{}", stderr(&out));
    for r in &recs {
        assert!(
            !r["answers"].as_object().unwrap().is_empty(),
            "the simulated operator answered: {r}"
        );
        assert!(
            r["answered_by"]
                .as_object()
                .unwrap()
                .values()
                .all(|by| by == "simulated-operator"),
            "{r}"
        );
        // Measurements and the grade agree with the phone's truth in the library.
        assert_truth(r);
    }
}

/// `benchctl run --station FILE --training-store --headless --time-scale 0 --count N` with
/// `extra` arguments.
fn run_station(station: &std::path::Path, count: usize, extra: &[&str]) -> std::process::Output {
    let station = station.to_str().unwrap();
    let args: Vec<&str> = ["--station", station]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    run_ports(&[], count, &args)
}

/// The records among a headless run's JSON lines (the other lines are notices with an `event`).
fn graded(out: &std::process::Output) -> Vec<serde_json::Value> {
    records(out)
        .into_iter()
        .filter(|v| v.get("event").is_none())
        .collect()
}

/// The notices among a headless run's JSON lines.
fn notices(out: &std::process::Output) -> Vec<serde_json::Value> {
    records(out)
        .into_iter()
        .filter(|v| v.get("event").is_some())
        .collect()
}

/// A station file in `dir` whose jigs are looked for at `dir/port-*`: bench `alpha` has jig
/// J-A, bench `beta` jig J-B.
fn two_benches(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("station.toml");
    std::fs::write(
        &file,
        format!(
            r#"[station]
id = "e2e-station-7"
ports = ["{}/port-*"]

[bins]
resale = "SHELF A"
repair = "CART R"
parts = "BOX P"
recycle = "BIN E"
retest = "AGAIN"

[[bench]]
name = "alpha"
[[bench.jig]]
serial = "J-A"

[[bench]]
name = "beta"
[[bench.jig]]
serial = "J-B"
"#,
            dir.display()
        ),
    )
    .unwrap();
    file
}

fn link(dir: &std::path::Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn the_simulated_station_example_records_its_id_benches_and_bins() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/stations/sim-line.toml"
    );
    let mut c = benchctl();
    c.args([
        "run",
        "--sim",
        "2",
        "--headless",
        "--time-scale",
        "0",
        "--count",
        "4",
        "--station",
        example,
    ]);
    let out = finish(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = graded(&out);
    assert_eq!(recs.len(), 4);
    let bins = [
        ("resale", "A1 RESALE"),
        ("repair", "B2 REPAIR"),
        ("parts", "C3 PARTS"),
        ("recycle", "D4 E-WASTE"),
        ("retest", "R RETEST"),
    ];
    for r in &recs {
        assert_eq!(r["station"], "demo-line1-station-a", "{r}");
        let bench = match r["jig"]["serial"].as_str().unwrap() {
            "SIM-0001" => "grading-bench",
            "SIM-0002" => "repair-bench",
            other => panic!("jig {other} is not on the station"),
        };
        assert_eq!(r["bench"], bench, "{r}");
        let disposition = r["grade"]["disposition"].as_str().unwrap();
        let label = bins.iter().find(|(d, _)| *d == disposition).unwrap().1;
        assert_eq!(r["bin"], label, "{r}");
    }
    assert!(notices(&out).is_empty(), "no bench is missing");
}

#[test]
fn a_jig_restarted_on_another_port_keeps_its_bench_and_a_missing_one_is_reported() {
    let dir = fresh_dir();
    let station = two_benches(&dir);
    let (a_port, b_port) = (link(&dir, "port-1"), link(&dir, "port-2"));
    {
        let _a = SimJig::start(&["--serial", "J-A", "--link", &a_port]);
        let _b = SimJig::start(&["--serial", "J-B", "--link", &b_port]);
        let out = run_station(&station, 4, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        for r in graded(&out) {
            let (bench, port) = match r["jig"]["serial"].as_str().unwrap() {
                "J-A" => ("alpha", &a_port),
                "J-B" => ("beta", &b_port),
                other => panic!("jig {other}"),
            };
            assert_eq!(
                (
                    r["bench"].as_str().unwrap(),
                    r["jig"]["port"].as_str().unwrap()
                ),
                (bench, port.as_str())
            );
            assert_eq!(r["station"], "e2e-station-7");
        }
    }
    // Unplugged: their links go, as udev removes a device's by-id link (a stale link could name
    // the PTY number that the next jig is given).
    for p in [&a_port, &b_port] {
        let _ = std::fs::remove_file(p);
    }
    // J-A comes back on the other port (a new PTY behind another path); J-B stays away.
    let _a = SimJig::start(&["--serial", "J-A", "--link", &b_port]);
    let out = run_station(&station, 2, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = graded(&out);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r["jig"]["serial"], "J-A");
        assert_eq!(r["jig"]["port"], b_port.as_str());
        assert_eq!(
            r["bench"], "alpha",
            "the bench follows the jig's serial: {r}"
        );
    }
    // The missing bench: a JSON notice on standard output, and its alarm on standard error.
    let missing = notices(&out);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["event"], "jig_missing");
    assert_eq!(missing[0]["name"], "beta");
    assert_eq!(missing[0]["serial"], "J-B");
    let err = stderr(&out);
    assert!(err.contains("beta: jig J-B is missing"), "{err}");
    assert!(
        err.contains("beta (jig J-B): missing"),
        "the summary names it: {err}"
    );
}

#[test]
fn an_unknown_jig_raises_an_alarm_and_is_not_used() {
    let dir = fresh_dir();
    let station = two_benches(&dir);
    let _a = SimJig::start(&["--serial", "J-A", "--link", &link(&dir, "port-1")]);
    let _x = SimJig::start(&["--serial", "J-X", "--link", &link(&dir, "port-9")]);
    let out = run_station(&station, 2, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    for r in graded(&out) {
        assert_eq!(r["jig"]["serial"], "J-A", "the unknown jig is not used");
    }
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "unknown jig J-X on {}: station e2e-station-7 does not list it, so it is not used",
            link(&dir, "port-9")
        )),
        "{err}"
    );
}

#[test]
fn a_station_file_with_errors_is_refused_at_its_place() {
    let dir = fresh_dir();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "[station]\nid = \"s\"\n[[bench]]\nname = \"b\"\n[[bench.jig]]\nserial = \"J1\"\nslot = [0]\n",
    )
    .unwrap();
    let out = run_station(&file, 1, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml:7:1: unknown key `slot` in [[bench.jig]]")
            && err.contains("did you mean `slots`?"),
        "{err}"
    );
}

#[test]
fn a_plan_pinning_other_firmware_refuses_the_jig_naming_benchctl_flash() {
    let dir = fresh_dir();
    let plan = dir.join("pinned.toml");
    let standard = include_str!("../../test-plans/standard-refurb.toml");
    std::fs::write(
        &plan,
        standard
            .replace("firmware = \">=0.1, <0.2\"", "firmware = \">=0.3, <0.4\"")
            .replace("version = \"2.1.0\"", "version = \"9.9.9\""),
    )
    .unwrap();
    let jig = SimJig::start(&["--serial", "J-OLD"]);
    let out = run_ports(&[&jig.path], 1, &["--plan", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(records(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("jig J-OLD runs firmware 0.1.0; plan standard-refurb 9.9.9 accepts >=0.3, <0.4: flash it with `benchctl flash <ELF> --board firmware/boards/<board> --jig J-OLD`"),
        "{err}"
    );
}

#[test]
fn a_jig_replaced_on_its_port_mid_run_is_refused_and_none_of_its_records_carry_the_bench() {
    use std::io::BufRead;
    use wait_timeout::ChildExt;

    let dir = fresh_dir();
    let station = two_benches(&dir);
    let port = link(&dir, "port-1");
    let first = SimJig::start(&["--serial", "J-A", "--slots", "1", "--link", &port]);
    let mut run = benchctl()
        .args([
            "run",
            "--training-store",
            "--headless",
            "--time-scale",
            "0",
            // Enough that J-A does not reach it before it is replaced; J-B would, if used.
            "--count",
            "30",
            "--station",
        ])
        .arg(&station)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = run.stderr.take().unwrap();
    let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
    let mut out = std::io::BufReader::new(run.stdout.take().unwrap());
    // Once J-A has graded a phone, J-B takes its place on the same path (as another board
    // plugged into the socket of /dev/ttyACM0 would).
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the run ended before J-A graded a phone: {}",
            err.join().unwrap()
        );
        let graded = serde_json::from_str::<serde_json::Value>(&line)
            .unwrap()
            .get("event")
            .is_none();
        lines.push(line);
        if graded {
            break;
        }
    }
    drop(first);
    let _second = SimJig::start(&["--serial", "J-B", "--slots", "1", "--link", &port]);
    let rest = std::thread::spawn(move || std::io::read_to_string(out).unwrap_or_default());
    let status = run
        .wait_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    if status.is_none() {
        let _ = run.kill();
        panic!(
            "the run went on after its only jig was refused: {}",
            err.join().unwrap()
        );
    }
    let err = err.join().unwrap();
    assert!(status.unwrap().success(), "{err}");
    lines.push(rest.join().unwrap());
    let records: Vec<serde_json::Value> = lines
        .concat()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v.get("event").is_none())
        .collect();
    assert!(records.iter().any(|r| r["jig"]["serial"] == "J-A"));
    for r in &records {
        assert_eq!(r["bench"], "alpha", "{r}");
        let serial = r["jig"]["serial"].as_str().unwrap();
        assert_ne!(serial, "J-B", "J-B is not adopted by bench alpha: {r}");
        // A phone J-A was testing when it went is recorded for a retest, without a jig.
        assert!(
            serial == "J-A"
                || (r["status"] == "incomplete" && r["grade"]["disposition"] == "retest"),
            "{r}"
        );
    }
    assert!(
        err.contains(&format!(
            "alpha: the jig on {port} came back changed and is no longer used: jig J-A became jig J-B (another jig answers on this port): put jig J-A back"
        )),
        "the alarm names the bench, the change and what to do: {err}"
    );
}
