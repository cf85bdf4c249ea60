//! Replication to the plant ([`crate::postgres`]): stations running at once push every record
//! exactly once; the database stopped and started mid-run loses and doubles nothing while the
//! lines go on grading; `benchctl sync` pushes what a run left in the outbox, idempotently,
//! and `sync --status` shows a station's lag; a data directory keeps one station.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wait_timeout::ChildExt;

use crate::harness::{benchctl, fresh_dir, stderr};
use crate::postgres::{Postgres, DATABASE, OWNER};

/// How long any one condition may take to come true.
const WITHIN: Duration = Duration::from_secs(90);

/// A station file for station `id` whose benches are the `--sim 2` jigs.
fn station_file(dir: &Path, id: &str) -> PathBuf {
    let file = dir.join(format!("{id}.toml"));
    std::fs::write(
        &file,
        format!(
            "[station]\nid = \"{id}\"\nports = []\n\n[[bench]]\nname = \"bench-1\"\n[[bench.jig]]\nserial = \"SIM-0001\"\n\n[[bench]]\nname = \"bench-2\"\n[[bench.jig]]\nserial = \"SIM-0002\"\n"
        ),
    )
    .unwrap();
    file
}

/// The role a station logs in as.
fn role(station: &str) -> String {
    station.replace('-', "_")
}

/// A `benchctl run --sim 2 --station FILE --plant URL --headless --auto-answer` process whose
/// standard output is read line by line as it comes.
struct Line {
    child: Child,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    err: std::thread::JoinHandle<String>,
}

impl Line {
    fn start(station: &Path, data: &Path, url: &str, count: usize, time_scale: &str) -> Line {
        let mut child = benchctl()
            .args([
                "run",
                "--sim",
                "2",
                "--headless",
                "--auto-answer",
                "--time-scale",
            ])
            .arg(time_scale)
            .args([
                "--count",
                &count.to_string(),
                "--stop-grace",
                "30",
                "--station",
            ])
            .arg(station)
            .args(["--plant", url, "--data"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        let err = child.stderr.take().unwrap();
        let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
        Line {
            child,
            lines,
            seen: Vec::new(),
            err,
        }
    }

    /// Reads lines until `done` holds for what was printed so far (within [`WITHIN`]).
    fn wait_until(&mut self, what: &str, done: impl Fn(&[Value]) -> bool) {
        let end = Instant::now() + WITHIN;
        while !done(&self.seen) {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => self.seen.push(v),
                Err(_) => panic!(
                    "the line did not get to {what} within {WITHIN:?}; it printed {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Asks the line to stop (SIGTERM: the phones under test finish).
    fn drain(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
    }

    /// Waits for the process to end; its exit success, every line it printed, its stderr.
    fn end(mut self) -> (bool, Vec<Value>, String) {
        let status = match self.child.wait_timeout(WITHIN).unwrap() {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                panic!("the line did not end within {WITHIN:?}");
            }
        };
        let err = self.err.join().unwrap();
        while let Ok(v) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(v);
        }
        (status.success(), self.seen, err)
    }
}

/// The graded records among the printed lines.
fn graded(seen: &[Value]) -> usize {
    seen.iter().filter(|v| v.get("event").is_none()).count()
}

/// Where the plant notice `change` (outage, recovered, refused) was printed, if it was.
fn notice(seen: &[Value], change: &str) -> Option<usize> {
    seen.iter()
        .position(|v| v["event"] == "plant" && v["change"] == change)
}

/// (seq, hash) of every record of `station` the plant holds, in order.
fn plant_chain(pg: &Postgres, station: &str) -> Vec<(u64, String)> {
    let text = pg.psql_ok(
        OWNER,
        DATABASE,
        &format!(
            "SELECT seq || ' ' || encode(hash, 'hex') FROM benchline.records WHERE station = '{station}' ORDER BY seq"
        ),
    );
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (s, h) = l.split_once(' ').unwrap();
            (s.parse().unwrap(), h.to_string())
        })
        .collect()
}

/// (seq, hash) of every record of the store in `data`, in order.
fn local_chain(data: &Path) -> Vec<(u64, String)> {
    let store = benchctl::store::Store::open(data, benchctl::store::Use::Read).unwrap();
    let head = store.head().map_or(0, |h| h.seq);
    (1..=head)
        .map(|seq| {
            let e = store.get(seq).unwrap().unwrap();
            (seq, benchctl::store::hex(&e.hash))
        })
        .collect()
}

/// The plant holds exactly the store's chain: every record once, hashes equal.
fn assert_replicated(pg: &Postgres, station: &str, data: &Path) {
    let local = local_chain(data);
    assert!(!local.is_empty(), "{station}: nothing was recorded");
    let plant = plant_chain(pg, station);
    assert_eq!(
        plant.len(),
        local.len(),
        "{station}: the plant holds {} records, the store {}",
        plant.len(),
        local.len()
    );
    assert_eq!(
        plant, local,
        "{station}: the plant's chain is not the store's"
    );
}

#[test]
fn three_stations_running_at_once_replicate_every_record_exactly_once() {
    let pg = Postgres::migrated();
    let files = tempfile::tempdir().unwrap();
    let stations = ["line-a", "line-b", "line-c"];
    let mut lines = Vec::new();
    for s in stations {
        pg.station_role(&role(s), s);
        let data = fresh_dir().join("data");
        let line = Line::start(
            &station_file(files.path(), s),
            &data,
            &pg.url(&role(s)),
            12,
            "0",
        );
        lines.push((s, data, line));
    }
    for (s, data, line) in lines {
        let (ok, seen, err) = line.end();
        assert!(ok, "{s}: {err}");
        assert_eq!(graded(&seen), 12, "{s}: {err}");
        assert!(err.contains("holds every record"), "{s}: {err}");
        assert_replicated(&pg, s, &data);
    }
    // Each station's records carry its own id.
    let ids = pg.psql_ok(
        OWNER,
        DATABASE,
        "SELECT count(*) FROM benchline.records WHERE convert_from(body, 'UTF8')::jsonb->>'station' <> station",
    );
    assert_eq!(ids, "0");
}

#[test]
fn the_database_stopped_mid_run_loses_and_doubles_nothing_and_the_lines_go_on() {
    let mut pg = Postgres::migrated();
    let files = tempfile::tempdir().unwrap();
    let stations = ["line-d", "line-e"];
    let mut lines = Vec::new();
    for s in stations {
        pg.station_role(&role(s), s);
        let data = fresh_dir().join("data");
        let line = Line::start(
            &station_file(files.path(), s),
            &data,
            &pg.url(&role(s)),
            100_000,
            "0.02",
        );
        lines.push((s, data, line));
    }
    // Replicating: the plant holds records of every station.
    for (s, _, line) in &mut lines {
        line.wait_until("3 graded phones", |seen| graded(seen) >= 3);
        let end = Instant::now() + WITHIN;
        while plant_chain(&pg, s).is_empty() {
            assert!(Instant::now() < end, "{s}: nothing reached the plant");
            line.wait_until("one more graded phone", {
                let n = graded(&line.seen);
                move |seen| graded(seen) > n
            });
        }
    }
    pg.stop();
    // The lines go on grading while the plant is down, and tell the outage.
    let mut at_stop = Vec::new();
    for (_, _, line) in &mut lines {
        let n = graded(&line.seen);
        at_stop.push(n);
        line.wait_until("the plant's outage and 6 more graded phones", |seen| {
            notice(seen, "outage").is_some() && graded(seen) >= n + 6
        });
    }
    pg.start();
    for ((s, _, line), n) in lines.iter_mut().zip(&at_stop) {
        line.wait_until("the plant's recovery", |seen| {
            notice(seen, "recovered").is_some()
        });
        // Phones graded between the stop and the recovery: the line never paused.
        let during = graded(&line.seen[..notice(&line.seen, "recovered").unwrap()]) - n;
        assert!(
            during >= 3,
            "{s}: {during} phone(s) graded during the outage"
        );
        line.drain();
    }
    for (s, data, line) in lines {
        let (ok, seen, err) = line.end();
        assert!(ok, "{s}: {err}");
        assert!(graded(&seen) >= 6, "{s}");
        assert!(
            err.contains("the line goes on and keeps its records"),
            "{s}: {err}"
        );
        assert!(err.contains("reachable again"), "{s}: {err}");
        assert!(err.contains("holds every record"), "{s}: {err}");
        // Every graded phone's record is in the plant, once.
        assert_eq!(local_chain(&data).len(), graded(&seen), "{s}");
        assert_replicated(&pg, s, &data);
    }
}

#[test]
fn sync_pushes_what_a_run_left_in_the_outbox_idempotently_and_status_shows_the_lag() {
    let mut pg = Postgres::migrated();
    pg.station_role("line_s", "line-s");
    let url = pg.url("line_s");
    let files = tempfile::tempdir().unwrap();
    let station = station_file(files.path(), "line-s");
    let data = fresh_dir().join("data");
    // The plant is down for the whole run: the line does not wait on it.
    pg.stop();
    let (ok, seen, err) = Line::start(&station, &data, &url, 5, "0").end();
    assert!(ok, "{err}");
    assert_eq!(graded(&seen), 5, "{err}");
    assert!(notice(&seen, "outage").is_some(), "{seen:?}");
    assert!(err.contains("5 record(s) remain in the outbox"), "{err}");
    assert!(err.contains("benchctl sync"), "{err}");
    pg.start();

    let sync = |extra: &[&str]| {
        let mut c = benchctl();
        c.args(["sync", "--plant", &url, "--data"])
            .arg(&data)
            .args(extra);
        crate::harness::finish(c)
    };
    // --status with the store: the station's heartbeat, then the plant's lag.
    let out = sync(&["--status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lag: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row = lag.iter().find(|r| r["station"] == "line-s").unwrap();
    assert_eq!(row["backlog"], 5, "{lag:?}");
    assert_eq!(row["refused"], false);

    let out = sync(&["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["pushed"], 5);
    assert_eq!(done["plant_head"], 5);
    assert_replicated(&pg, "line-s", &data);

    // Again: nothing to push, nothing changes.
    let out = sync(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 record(s) pushed"), "{text}");
    assert!(text.contains("the plant holds 5 of the 5"), "{text}");
    assert_replicated(&pg, "line-s", &data);

    let out = sync(&["--status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.starts_with("line-s")).unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("0"), "{text}");

    // The plant down: sync fails, naming why, and exits 1.
    pg.stop();
    let out = sync(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach the plant database"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_data_directory_keeps_the_station_that_first_wrote_to_it() {
    let files = tempfile::tempdir().unwrap();
    let data = fresh_dir().join("data");
    let run = |station: &str| {
        let mut c = benchctl();
        c.args([
            "run",
            "--sim",
            "2",
            "--headless",
            "--time-scale",
            "0",
            "--count",
            "1",
        ])
        .arg("--station")
        .arg(station_file(files.path(), station))
        .arg("--data")
        .arg(&data);
        crate::harness::finish(c)
    };
    let out = run("line-x");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run("line-y");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("holds the records of station line-x") && text.contains("line-y"),
        "{text}"
    );
    assert_eq!(local_chain(&data).len(), 1);
}

#[test]
fn a_line_whose_store_was_rewritten_is_refused_as_forked_and_goes_on_recording() {
    let pg = Postgres::migrated();
    pg.station_role("line_f", "line-f");
    let url = pg.url("line_f");
    let files = tempfile::tempdir().unwrap();
    let station = station_file(files.path(), "line-f");
    let first = fresh_dir().join("data");
    let (ok, _, err) = Line::start(&station, &first, &url, 3, "0").end();
    assert!(ok && err.contains("holds every record"), "{err}");
    // Another store under the same station id: its record 3 is not the plant's record 3.
    let second = fresh_dir().join("data");
    let mut line = Line::start(&station, &second, &url, 100_000, "0.02");
    // Refused, and the line goes on grading.
    line.wait_until("the plant's refusal and 2 more graded phones", |seen| {
        notice(seen, "refused").is_some_and(|at| graded(&seen[at..]) >= 2)
    });
    line.drain();
    let (ok, seen, err) = line.end();
    assert!(ok, "{err}");
    let refused = &seen[notice(&seen, "refused").unwrap()];
    let why = refused["status"]["error"].as_str().unwrap();
    assert!(why.contains("station line-f forked"), "{why}");
    assert!(why.contains("record 3"), "{why}");
    // The log names it too.
    assert!(err.contains("station line-f forked"), "{err}");
    assert!(err.contains("record(s) remain in the outbox"), "{err}");
    // The plant kept the first history only.
    assert_eq!(plant_chain(&pg, "line-f"), local_chain(&first));
    let mut c = benchctl();
    c.args(["sync", "--plant", &url, "--data"]).arg(&second);
    let out = crate::harness::finish(c);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("forked"), "{}", stderr(&out));
}
