//! Records you can trust: a simulated jig says so in every record and a production store refuses
//! it; simulated lines keep their records out of the production data directory; one plan id and
//! version always mean one file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::{
    benchctl, cli, csv_rows, finish, fresh_dir, records, stderr, SimJig, RUN_ONE,
};

const STANDARD: &str = include_str!("../../test-plans/standard-refurb.toml");

/// `benchctl run --headless --time-scale 0 --count N` against one port into `data`, with
/// `extra` arguments.
fn run_port(port: &str, data: &Path, count: usize, extra: &[&str]) -> Output {
    let mut c = benchctl();
    c.args([
        "run",
        "--headless",
        "--time-scale",
        "0",
        "--operator",
        "op-1",
    ])
    .args(["--count", &count.to_string(), "--port", port])
    .args(extra)
    .arg("--data")
    .arg(data);
    finish(c)
}

/// `benchctl run --sim 1 --headless --time-scale 0 --count 1` into `data` with `extra`.
fn run_sim(data: &Path, extra: &[&str]) -> Output {
    cli(
        &[
            &["run", "--sim", "1", "--headless", "--time-scale", "0"][..],
            &["--count", "1"],
            extra,
        ]
        .concat(),
        data,
    )
}

fn csv(data: &Path) -> Vec<std::collections::HashMap<String, String>> {
    csv_rows(&cli(&["export", "--format", "csv"], data))
}

#[test]
fn a_record_forged_on_a_sim_jig_is_refused_by_a_production_store_before_any_phone_is_tested() {
    // The forger names the simulated jig like a real one and points the run at the station's
    // production data directory.
    let jig = SimJig::start(&["--serial", "BL-0042"]);
    let data = fresh_dir();
    let out = run_port(&jig.path, &data, 1, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(records(&out).is_empty(), "nothing was tested: {err}");
    assert!(
        err.contains(&jig.path)
            && err.contains("BL-0042 says it is simulated")
            && err.contains("production store")
            && err.contains("--training-store"),
        "the refusal says what is wrong and what to do: {err}"
    );
    assert!(csv(&data).is_empty(), "nothing reached the store");
}

#[test]
fn a_training_store_keeps_a_sim_jigs_record_marked_simulated_in_the_record_csv_and_history() {
    let jig = SimJig::start(&["--serial", "BL-0042"]);
    let data = fresh_dir();
    let out = run_port(&jig.path, &data, 1, &["--training-store"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = records(&out);
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0]["jig"]["simulated"], true);
    assert_eq!(printed[0]["schema"], benchctl::store::SCHEMA);
    let rows = csv(&data);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["jig_simulated"], "true");
    let imei = printed[0]["phone"]["imei"].as_str().unwrap();
    let out = cli(&["history", imei], &data);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SIMULATED jig"), "{text}");
    let hash = printed[0]["plan"]["hash"].as_str().unwrap();
    assert!(
        text.contains(&format!("plan standard-refurb 2.1.0 ({})", &hash[..12])),
        "history shows the plan's hash prefix: {text}"
    );
    // Once a training store, always one: the next run needs no option.
    let out = run_port(&jig.path, &data, 1, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(csv(&data).len(), 2);
}

/// `benchctl` with the data directories of a fresh machine under `root`: no `BENCHCTL_DATA`,
/// `XDG_DATA_HOME` and `HOME` inside `root`.
fn on_fresh_machine(root: &Path) -> Command {
    let mut c = benchctl();
    c.env_remove("BENCHCTL_DATA")
        .env("XDG_DATA_HOME", root.join("xdg"))
        .env("HOME", root.join("home"));
    c
}

#[test]
fn a_simulated_line_without_data_never_touches_the_production_directory() {
    let root = fresh_dir();
    let production = root.join("xdg/benchline");
    let training = root.join("xdg/benchline-training");
    let jig = SimJig::start(&[]);
    for extra in [&[][..], &["--port", jig.path.as_str()]] {
        let mut c = on_fresh_machine(&root);
        c.args(["run", "--sim", "1", "--headless", "--time-scale", "0"])
            .args(["--count", "2"])
            .args(extra);
        let out = finish(c);
        assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
        assert_eq!(records(&out).len(), 2);
        assert!(
            !production.exists(),
            "{extra:?}: the production directory {} was created",
            production.display()
        );
    }
    let rows = csv(&training);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["jig_simulated"] == "true"));

    // With $BENCHCTL_DATA, the training store sits beside it.
    let data: PathBuf = root.join("station");
    let mut c = on_fresh_machine(&root);
    c.env("BENCHCTL_DATA", &data)
        .args(["run", "--sim", "1", "--headless", "--time-scale", "0"])
        .args(["--count", "1"]);
    let out = finish(c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!data.exists(), "the production directory was created");
    assert_eq!(csv(&root.join("station-training")).len(), 1);
}

#[test]
fn a_second_plan_file_under_the_same_id_and_version_is_refused_at_the_start() {
    let dir = fresh_dir();
    let data = dir.join("data");
    let plan = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let strict = plan("strict.toml", STANDARD);
    let out = run_sim(&data, &["--plan", &strict]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pinned = records(&out)[0]["plan"]["hash"]
        .as_str()
        .unwrap()
        .to_string();

    // Same id and version, a narrower marginal band for battery health: better grades for
    // the same phones.
    let lenient_text = STANDARD.replacen("marginal = 5.0 ", "marginal = 1.0 ", 1);
    assert_ne!(lenient_text, STANDARD);
    let lenient = plan("lenient.toml", &lenient_text);
    let check = finish({
        let mut c = benchctl();
        c.args(["plan", "check", &lenient]);
        c
    });
    assert!(check.status.success(), "{}", stderr(&check));
    let given = String::from_utf8_lossy(&check.stdout)
        .split("sha256 ")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches(')')
        .to_string();
    assert_ne!(given, pinned);
    let out = run_sim(&data, &["--plan", &lenient]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(records(&out).is_empty(), "{err}");
    assert!(
        err.contains("plan standard-refurb version 2.1.0")
            && err.contains(&pinned[..12])
            && err.contains(&given[..12])
            && err.contains("Raise the plan's version"),
        "the refusal names both files and what to do: {err}"
    );
    assert_eq!(csv(&data).len(), 1);

    // Under a version of its own, the changed plan runs.
    let renamed = plan(
        "lenient-2.1.toml",
        &lenient_text.replace("version = \"2.1.0\"", "version = \"2.2.0\""),
    );
    let out = run_sim(&data, &["--plan", &renamed]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(csv(&data).len(), 2);
}

#[test]
fn a_simulated_line_never_makes_the_production_directory_a_training_store_unasked() {
    let production = fresh_dir().join("benchline");
    let mut c = benchctl();
    c.env("BENCHCTL_DATA", &production)
        .args(RUN_ONE)
        .arg("--data")
        .arg(&production);
    let out = finish(c);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("it is the production data directory")
            && stderr(&out).contains("--training-store"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    // Another new directory becomes a training store, and says so.
    let training = fresh_dir().join("demo");
    let out = run_sim(&training, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is now a training store, for good")
            && stderr(&out).contains(&format!("recorded in {}", training.display())),
        "{}",
        stderr(&out)
    );
    let out = cli(&["verify"], &training);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is a training store"));
}
