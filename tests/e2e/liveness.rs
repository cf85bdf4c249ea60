//! Slots that always move on: a noisy line (bytes dropped, corrupted, duplicated, inserted, the
//! line stalled) never freezes a slot or changes a grade; a lost release is repeated; a link
//! that is practically unusable takes its jig out of service with an alarm; SIGTERM stops a
//! line gracefully.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use wait_timeout::ChildExt;

/// A headless line of one 4-slot simulated jig (add `--time-scale`).
const LINE: [&str; 6] = ["run", "--sim", "1", "--slots", "4", "--headless"];

/// [`LINE`] as fast as it goes.
const FAST: [&str; 2] = ["--time-scale", "0"];

use crate::harness::{benchctl, cli, finish, fresh_dir, library, records, run_sim_fast, stderr};

/// Every record is graded as its phone's truth says, or sent to retest; never another grade.
fn assert_graded_or_retest(recs: &[Value]) -> usize {
    let lib = library();
    let mut retests = 0;
    for r in recs {
        let imei = r["phone"]["imei"].as_str().unwrap();
        let phone = lib
            .get(imei)
            .unwrap_or_else(|| panic!("a record for an unknown IMEI {imei:?}: {r}"));
        let got = r["grade"]["disposition"].as_str().unwrap();
        if got == "retest" {
            retests += 1;
            continue;
        }
        let expected = phone.expected.as_ref().unwrap();
        assert_eq!(got, expected.disposition, "{imei}: {r}");
        assert_eq!(
            r["grade"]["functional"].as_u64().unwrap(),
            u64::from(expected.functional),
            "{imei}: {r}"
        );
    }
    retests
}

#[test]
fn a_noisy_line_never_freezes_a_slot_or_changes_a_grade() {
    for seed in [1u64, 2, 3] {
        let mut c = benchctl();
        c.args(LINE)
            .args(FAST)
            .args([
                "--count",
                "60",
                "--noise",
                "0.001",
                "--noise-stall",
                "0.00002",
            ])
            .args(["--seed", &seed.to_string()]);
        let out = finish(c);
        assert!(out.status.success(), "seed {seed}: {}", stderr(&out));
        let recs = records(&out);
        assert_eq!(recs.len(), 60, "seed {seed}");
        let retests = assert_graded_or_retest(&recs);
        assert!(retests <= 6, "seed {seed}: {retests} retests of 60");
        // The noise was there, and each record counts only what its own phone absorbed.
        let absorbed: u64 = recs
            .iter()
            .map(|r| {
                r["link"]["retries"].as_u64().unwrap() + r["link"]["resends"].as_u64().unwrap()
            })
            .sum();
        assert!(absorbed > 0, "seed {seed}: no recovery at all under noise");
    }
}

#[test]
fn a_lost_release_is_recovered_and_the_slot_goes_on() {
    for fault in ["drop@release", "corrupt@release#2", "truncate@release#3"] {
        let out = run_sim_fast(4, &["--fault", fault]);
        assert!(out.status.success(), "{fault}: {}", stderr(&out));
        assert_eq!(records(&out).len(), 4, "{fault}");
    }
}

#[test]
fn an_unusable_link_takes_the_jig_out_of_service_with_an_alarm() {
    let mut child = benchctl()
        .args(LINE)
        .args(FAST)
        .args(["--noise", "0.03"])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = Lines::of(&mut child);
    err.until("taken out of service");
    let _ = child.kill();
    let _ = child.wait();
    let seen = err.rest();
    let alarm = seen
        .lines()
        .find(|l| l.contains("taken out of service"))
        .unwrap();
    // It names the port and what to check.
    assert!(alarm.contains("/dev/pts/"), "{alarm}");
    assert!(alarm.contains("USB cable"), "{alarm}");
}

/// When the first signal goes: after the first record, or once a phone is under test.
#[derive(Clone, Copy, PartialEq)]
enum Moment {
    FirstRecord,
    Testing,
}

/// A headless line on `data` where a phone takes a while (`scale`); stdout and stderr piped.
fn spawn_slow_line(data: &Path, scale: &str) -> Child {
    benchctl()
        .args(LINE)
        .args(["--stop-grace", "20", "--time-scale", scale])
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Standard error, a line at a time, with a deadline on each wait.
struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    seen: String,
}

impl Lines {
    fn of(child: &mut Child) -> Lines {
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: String::new(),
        }
    }

    /// Reads until a line contains `needle`.
    fn until(&mut self, needle: &str) {
        let end = Instant::now() + Duration::from_secs(20);
        while !self.seen.contains(needle) {
            let line = self
                .rx
                .recv_timeout(end.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no {needle:?} on standard error: {}", self.seen));
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
    }

    /// Everything left, once the process has ended.
    fn rest(mut self) -> String {
        while let Ok(line) = self.rx.recv_timeout(Duration::from_secs(5)) {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        self.seen
    }
}

/// Sends `signals` at `moment`, one after the other, each once the line has said it took the
/// one before (signals sent together arrive as one); the exit code, every printed line, and
/// standard error.
fn stop_with(
    data: &Path,
    scale: &str,
    moment: Moment,
    signals: &[Signal],
) -> (Option<i32>, Vec<Value>, String) {
    let mut child = spawn_slow_line(data, scale);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut err = Lines::of(&mut child);
    let mut first = String::new();
    match moment {
        Moment::FirstRecord => {
            out.read_line(&mut first).unwrap();
            assert!(!first.is_empty(), "the line printed no record");
        }
        Moment::Testing => err.until("testing the phone"),
    }
    let pid = Pid::from_raw(child.id() as i32);
    for (i, &s) in signals.iter().enumerate() {
        if i > 0 {
            err.until("no new phones");
        }
        kill(pid, s).unwrap();
    }
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child
        .wait_timeout(Duration::from_secs(60))
        .unwrap()
        .unwrap_or_else(|| panic!("benchctl did not stop after {signals:?}"));
    let printed = std::iter::once(first.as_str())
        .chain(rest.lines())
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (status.code(), printed, err.rest())
}

fn assert_intact(data: &Path, printed: &[Value]) {
    assert!(
        !data.join("benchctl.sock").exists(),
        "the audit socket was left behind"
    );
    let store = benchctl::store::Store::open(data, benchctl::store::Use::Read).unwrap();
    // Every stored record was shown: nothing committed was left unprinted by the stop.
    assert_eq!(
        store.head().map_or(0, |h| h.seq),
        printed.len() as u64,
        "stored and printed records differ"
    );
    for line in printed {
        let seq = line["store"]["seq"].as_u64().unwrap();
        let entry = store.get(seq).unwrap().expect("printed but not stored");
        assert_eq!(benchctl::store::hex(&entry.hash), line["store"]["hash"]);
    }
    drop(store);
    let v = cli(&["verify"], data);
    assert!(v.status.success(), "{}", stderr(&v));
}

#[test]
fn sigterm_or_sighup_finishes_the_phones_under_test_and_exits_0() {
    // SIGHUP: the terminal or the service manager went away; the line stops as for SIGTERM.
    for signal in [Signal::SIGTERM, Signal::SIGHUP] {
        let data = fresh_dir();
        let (code, printed, err) = stop_with(&data, "0.02", Moment::FirstRecord, &[signal]);
        assert_eq!(code, Some(0), "{signal}: {err}");
        assert_intact(&data, &printed);
        assert!(err.contains("no new phones"), "{signal}: {err}");
        // Nothing was abandoned: the phones under test finished and were recorded.
        assert!(!err.contains("was not finished"), "{signal}: {err}");
        assert!(err.contains("phone(s) recorded in"), "{signal}: {err}");
    }
}

#[test]
fn a_second_signal_stops_at_once_and_names_the_phones_to_retest() {
    let data = fresh_dir();
    // A phone takes about 6 s here: all four are under test when the signals come.
    let (code, printed, err) = stop_with(
        &data,
        "0.5",
        Moment::Testing,
        &[Signal::SIGINT, Signal::SIGINT],
    );
    assert_eq!(code, Some(0), "{err}");
    // Nothing was drained to the end: the phones were cut short, and named.
    assert!(printed.is_empty(), "{printed:?}");
    assert_intact(&data, &printed);
    assert!(err.contains("second signal: stopping at once"), "{err}");
    assert!(
        err.contains("the phone under test was not finished; test it again"),
        "{err}"
    );
}

#[test]
fn a_phone_whose_identity_cannot_be_read_is_never_recorded_without_one() {
    // The jig stops answering for 4 s when asked who the phone is: every identify attempt
    // times out. The slot raises an alarm and tries again; the record comes once the phone is
    // identified, never with an empty IMEI.
    let out = run_sim_fast(
        2,
        &["--timeout-margin", "200", "--fault", "hang=4000@identify"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    let lib = library();
    for r in &recs {
        let imei = r["phone"]["imei"].as_str().unwrap();
        assert!(
            lib.contains_key(imei),
            "a record without the phone's identity: {r}"
        );
    }
    let err = stderr(&out);
    assert!(
        err.contains("could not read the phone's identity: reseat it")
            || err.contains("taken out of service"),
        "no alarm: {err}"
    );
}
