//! Starting processes and reading their output.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use benchline_sim::{Library, Phone};
use serde_json::Value;
use wait_timeout::ChildExt;

/// Upper bound for any one process in these tests; a run that takes longer has hung.
const LIMIT: Duration = Duration::from_secs(60);

/// One phone on one simulated jig.
pub const RUN_ONE: [&str; 8] = [
    "run",
    "--sim",
    "1",
    "--headless",
    "--count",
    "1",
    "--time-scale",
    "0",
];

/// `benchctl` with its own empty data directory (so tests never share a record store).
pub fn benchctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_benchctl"));
    c.env("RUST_LOG", "warn").env("BENCHCTL_DATA", fresh_dir());
    c
}

/// `benchctl run --sim 2 --headless --time-scale 0` for `count` phones into `data`, with
/// `extra` arguments; the printed records.
pub fn fill(data: &Path, count: usize, seed: u64, extra: &[&str]) -> Vec<Value> {
    let mut c = benchctl();
    c.args([
        "run",
        "--sim",
        "2",
        "--headless",
        "--time-scale",
        "0",
        "--count",
    ])
    .arg(count.to_string())
    .arg("--seed")
    .arg(seed.to_string())
    .args(extra)
    .arg("--data")
    .arg(data);
    let out = finish(c);
    assert!(out.status.success(), "{}", stderr(&out));
    records(&out)
}

/// `benchctl ARGS --data DATA`, run to completion.
pub fn cli(args: &[&str], data: &Path) -> Output {
    let mut c = benchctl();
    c.args(args).arg("--data").arg(data);
    finish(c)
}

/// The rows of a successful CSV export, by column name; its header must be the column contract.
pub fn csv_rows(out: &Output) -> Vec<HashMap<String, String>> {
    assert!(out.status.success(), "{}", stderr(out));
    let mut r = csv::Reader::from_reader(&out.stdout[..]);
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let names: Vec<&str> = benchctl::export::columns::COLUMNS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(headers, names, "CSV columns are a contract");
    r.records()
        .map(|row| {
            let row = row.unwrap();
            headers
                .iter()
                .cloned()
                .zip(row.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// A new, empty directory under cargo's per-target temporary directory.
pub fn fresh_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "e2e-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `benchctl sim-jig` process; killed when dropped.
pub struct SimJig {
    child: Child,
    pub path: String,
}

impl SimJig {
    pub fn start(args: &[&str]) -> SimJig {
        let mut child = benchctl()
            .arg("sim-jig")
            .args(["--time-scale", "0", "--seed", "5"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let path = line.trim().to_string();
        assert!(!path.is_empty(), "sim-jig printed no device path");
        SimJig { child, path }
    }
}

impl Drop for SimJig {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to completion (bounded by [`LIMIT`]).
pub fn finish(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err_t = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = match child.wait_timeout(LIMIT).unwrap() {
        Some(s) => s,
        None => {
            let _ = child.kill();
            panic!("benchctl hung for {LIMIT:?}: {}", err_t.join().unwrap());
        }
    };
    Output {
        status,
        stdout: out_t.join().unwrap().into_bytes(),
        stderr: err_t.join().unwrap().into_bytes(),
    }
}

/// `benchctl run --headless --time-scale 0 --count N` against `ports`, into a training store
/// (the jigs of these tests are `benchctl sim-jig`s, which a production store refuses).
pub fn run_ports(ports: &[&str], count: usize, extra: &[&str]) -> Output {
    let mut c = benchctl();
    c.args([
        "run",
        "--training-store",
        "--headless",
        "--time-scale",
        "0",
        "--count",
        &count.to_string(),
    ]);
    for p in ports {
        c.args(["--port", p]);
    }
    c.args(extra);
    finish(c)
}

/// `benchctl run --sim 1 --headless --count 1` with `extra` arguments.
pub fn run_sim_one(extra: &[&str]) -> Output {
    let mut c = benchctl();
    c.args(["run", "--sim", "1", "--headless", "--count", "1"])
        .args(extra);
    finish(c)
}

/// `benchctl run --sim 1 --headless --time-scale 0 --count N` with `extra` arguments.
pub fn run_sim_fast(count: usize, extra: &[&str]) -> Output {
    let mut c = benchctl();
    c.args([
        "run",
        "--sim",
        "1",
        "--headless",
        "--time-scale",
        "0",
        "--count",
    ])
    .arg(count.to_string())
    .args(extra);
    finish(c)
}

/// [`run_sim_one`] with `flag` naming a file holding `contents`.
pub fn run_with_file(flag: &str, contents: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, contents).unwrap();
    run_sim_one(&[flag, file.to_str().unwrap()])
}

pub fn records(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn library() -> HashMap<String, Phone> {
    let lib =
        Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/phones")).unwrap();
    lib.phones
        .into_iter()
        .map(|p| (p.imei.clone(), p))
        .collect()
}

pub fn step<'a>(record: &'a Value, procedure: &str) -> &'a Value {
    record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["procedure"] == procedure)
        .unwrap_or_else(|| panic!("no {procedure} step"))
}

pub fn value(step: &Value, name: &str) -> f64 {
    let m = step["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {name}"));
    m["value"].as_f64().unwrap_or(f64::INFINITY)
}

/// Every measurement of a complete record agrees with the phone's truth.
pub fn assert_truth(record: &Value) {
    let lib = library();
    let imei = record["phone"]["imei"].as_str().unwrap();
    let phone = lib
        .get(imei)
        .unwrap_or_else(|| panic!("unknown phone {imei}"));
    assert_eq!(record["status"], "complete", "{record}");
    let gauge = step(record, "battery.gauge");
    assert!(
        (value(gauge, "state_of_health") - phone.battery.health_pct).abs() <= 0.1,
        "{imei} health"
    );
    assert_eq!(
        value(gauge, "cycle_count") as u16,
        phone.battery.cycles,
        "{imei} cycles"
    );
    let dcir_step = step(record, "battery.dcir");
    let dcir = value(dcir_step, "resistance") * 1000.0;
    let truth = phone.battery.dcir_mohm;
    // A cell that cannot hold the 1 C step above its cut-off is recorded collapsed, with an
    // open resistance (protocol README 9.12); the library keeps its cells clear of the edge.
    let v_1c = phone.ocv() - f64::from(phone.battery.design_mah) / 1000.0 * truth / 1000.0;
    if v_1c < benchline_sim::cell::CUTOFF_V {
        assert!(dcir.is_infinite(), "{imei} DCIR {dcir}: the cell collapses");
        assert_eq!(value(dcir_step, "collapsed"), 1.0, "{imei}");
    } else {
        assert!(
            (dcir - truth).abs() <= 1.0 + truth * 0.02,
            "{imei} DCIR {dcir} vs {truth}"
        );
        assert_eq!(value(dcir_step, "collapsed"), 0.0, "{imei}");
    }
    let cc = step(record, "port.cc");
    if phone.connector == benchline_sim::phone::Connector::UsbC {
        for (n, name) in [(1u8, "cc1"), (2, "cc2")] {
            let expected = phone
                .cc_rd_ohm(n)
                .map_or(2.7, |rd| 5.0 * rd / (22_000.0 + rd));
            assert!((value(cc, name) - expected).abs() <= 0.05, "{imei} {name}");
        }
    } else {
        assert_eq!(
            cc["status"], "skipped",
            "{imei}: port.cc does not apply to Lightning"
        );
    }
    let touch = step(record, "screen.touch");
    let raw = touch["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "raw")
        .unwrap()["value"]
        .clone();
    let dead = raw
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter())
        .filter(|v| v.as_f64().unwrap() < 2000.0)
        .count();
    assert_eq!(
        dead,
        phone.screen.dead_nodes.len(),
        "{imei} dead touch nodes"
    );
    let grade = &record["grade"];
    if record["answers"].as_object().unwrap().is_empty() {
        // On real jigs nobody but a person answers the prompts: without them, retest.
        assert_eq!(grade["disposition"], "retest", "{imei}: {grade}");
        assert!(
            grade["reasons"].to_string().contains("not answered"),
            "{grade}"
        );
        return;
    }
    let expected = phone.expected.as_ref().unwrap();
    assert_eq!(
        grade["disposition"],
        expected.disposition.as_str(),
        "{imei}: {grade}"
    );
    assert_eq!(grade["functional"], expected.functional, "{imei}: {grade}");
    assert_eq!(
        grade["marketplace"].as_str(),
        expected.marketplace.as_deref(),
        "{imei}: {grade}"
    );
}

/// A copy of a filled data directory, changed by `tamper` through sled itself.
pub fn tampered(source: &Path, tamper: impl FnOnce(&sled::Db)) -> std::path::PathBuf {
    let dir = fresh_dir();
    copy_dir(source, &dir);
    let _ = std::fs::remove_file(dir.join("benchctl.lock"));
    let db = benchctl::store::raw_db(&dir).unwrap();
    tamper(&db);
    close_raw(db, &dir);
    dir
}

/// Flushes and closes a store opened with `raw_db`, and waits until sled has let go of its
/// files: its threads may hold the database's file lock a moment after the handle is dropped,
/// and a `benchctl` started meanwhile would find the store in use. The wait is on the lock
/// itself (a blocking `flock` in a thread), within a deadline; every tree of `db` must be
/// dropped first (a tree keeps the database open).
pub fn close_raw(db: sled::Db, dir: &Path) {
    db.flush().unwrap();
    drop(db);
    let file = std::fs::File::open(dir.join("records/db")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let locked = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive);
        let _ = tx.send(locked.is_ok());
    });
    assert_eq!(
        rx.recv_timeout(LIMIT),
        Ok(true),
        "sled did not let go of {} in time",
        dir.display()
    );
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
