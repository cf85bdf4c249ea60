//! The record store as auditors rely on it: crash safety under SIGKILL, tamper evidence, bad
//! data directories, newer and older schemas.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use benchctl::export::verify;
use benchctl::store::entry::{chain_hash, device_key, seq_key, time_key};
use benchctl::store::{Entry, Store, Use};
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::harness::{
    self, benchctl, cli, close_raw, csv_rows, finish, fresh_dir, records, stderr, tampered, RUN_ONE,
};

/// A line of 2 jigs with 2 slots each: `count` phones into `data`.
fn fill(data: &Path, count: usize, seed: u64) -> Vec<Value> {
    harness::fill(data, count, seed, &["--slots", "2"])
}

/// A headless `benchctl run --time-scale 0` on `data` that goes on until killed; stdout piped.
fn spawn_line(data: &Path, args: &[&str]) -> std::process::Child {
    benchctl()
        .args(["run", "--headless", "--time-scale", "0"])
        .args(args)
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Every printed line is stored byte for byte (bar the `store` field it gained when printed).
fn assert_stored(store: &Store, printed: &[Value]) {
    for line in printed {
        let seq = line["store"]["seq"].as_u64().unwrap();
        let entry = store
            .get(seq)
            .unwrap()
            .unwrap_or_else(|| panic!("record {seq} was printed but is not stored"));
        assert_eq!(benchctl::store::hex(&entry.hash), line["store"]["hash"]);
        let mut line = line.clone();
        line.as_object_mut().unwrap().remove("store");
        let stored: Value = serde_json::from_slice(&entry.body).unwrap();
        assert_eq!(stored, line, "record {seq} differs from what was printed");
    }
}

#[test]
fn sigkill_at_random_moments_never_loses_a_printed_record() {
    let data = fresh_dir();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let mut printed: Vec<Value> = Vec::new();
    for round in 0..24u64 {
        let mut child = spawn_line(
            &data,
            &["--sim", "4", "--slots", "4", "--seed", &round.to_string()],
        );
        // Kill after a random number of records: with 16 slots committing in batches, the
        // moment falls anywhere in a commit (before, during or after a flush).
        let wanted = rng.gen_range(0..24);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < wanted {
            match lines.next() {
                Some(Ok(l)) => {
                    printed.push(serde_json::from_str(&l).unwrap());
                    seen += 1;
                }
                _ => break,
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Whatever complete lines were printed before the kill count too.
        for l in lines.map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&l) {
                printed.push(v);
            }
        }
        let store = Store::open(&data, Use::Read).unwrap();
        assert_stored(&store, &printed);
        let report = verify::verify(&store, None).unwrap();
        assert!(report.ok(), "round {round}: {report}");
        let head = store.head().map_or(0, |h| h.seq);
        assert!(head >= printed.len() as u64);
    }
    assert!(
        printed.len() > 100,
        "only {} records printed",
        printed.len()
    );
    let out = cli(&["verify"], &data);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn entry(db: &sled::Db, seq: u64) -> Entry {
    let v = db
        .open_tree("records")
        .unwrap()
        .get(seq_key(seq))
        .unwrap()
        .unwrap();
    Entry::decode(&v).unwrap()
}

fn put(db: &sled::Db, seq: u64, e: &Entry) {
    db.open_tree("records")
        .unwrap()
        .insert(seq_key(seq), e.encode().unwrap())
        .unwrap();
}

/// Removes a record and its index entries, as someone hiding it would.
fn remove(db: &sled::Db, seq: u64) {
    let e = entry(db, seq);
    let v: Value = serde_json::from_slice(&e.body).unwrap();
    let ms = benchctl::store::schema::parse_time_ms(v["finished"].as_str().unwrap()).unwrap();
    db.open_tree("records")
        .unwrap()
        .remove(seq_key(seq))
        .unwrap();
    db.open_tree("by_device")
        .unwrap()
        .remove(device_key(v["phone"]["imei"].as_str().unwrap(), seq))
        .unwrap();
    db.open_tree("by_time")
        .unwrap()
        .remove(time_key(ms, seq))
        .unwrap();
}

fn regrade(e: &Entry) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&e.body).unwrap();
    v["grade"]["disposition"] = "resale".into();
    v["grade"]["marketplace"] = "Premium".into();
    serde_json::to_vec(&v).unwrap()
}

/// `verify` fails (exit 1) and names `seq` as the first bad record, saying `what`.
fn assert_caught(dir: &Path, seq: u64, what: &str) {
    let out = cli(&["verify"], dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!("first bad record: record {seq} {what}")),
        "expected record {seq} {what:?}:\n{text}"
    );
}

#[test]
fn verify_reports_changed_deleted_and_reordered_records() {
    let source = fresh_dir();
    fill(&source, 6, 3);
    let out = cli(&["verify"], &source);
    assert!(out.status.success(), "{}", stderr(&out));

    // A grade changed in place.
    let dir = tampered(&source, |db| {
        let mut e = entry(db, 3);
        e.body = regrade(&e);
        put(db, 3, &e);
    });
    assert_caught(&dir, 3, "was changed after it was written");

    // Changed and re-hashed: the next record no longer follows it.
    let dir = tampered(&source, |db| {
        let mut e = entry(db, 3);
        e.body = regrade(&e);
        e.hash = chain_hash(&e.prev, 3, &e.body);
        put(db, 3, &e);
    });
    assert_caught(&dir, 4, "does not follow record 3");

    // Deleted, indexes and all.
    let dir = tampered(&source, |db| remove(db, 2));
    assert_caught(&dir, 2, "is missing (record 3 follows 1)");

    // The last one deleted: the head still names it.
    let dir = tampered(&source, |db| remove(db, 6));
    assert_caught(&dir, 6, "is missing at the end");

    // Two records swapped.
    let dir = tampered(&source, |db| {
        let (a, b) = (entry(db, 2), entry(db, 3));
        put(db, 2, &b);
        put(db, 3, &a);
    });
    assert_caught(&dir, 2, "does not follow record 1");

    // Hidden from the device history only.
    let dir = tampered(&source, |db| {
        let v: Value = serde_json::from_slice(&entry(db, 5).body).unwrap();
        db.open_tree("by_device")
            .unwrap()
            .remove(device_key(v["phone"]["imei"].as_str().unwrap(), 5))
            .unwrap();
    });
    assert_caught(&dir, 5, "is missing from the device index");
}

#[test]
fn an_export_head_catches_a_truncated_and_rewritten_chain() {
    let source = fresh_dir();
    fill(&source, 5, 4);
    let out = cli(&["export", "--format", "jsonl"], &source);
    assert!(out.status.success(), "{}", stderr(&out));
    let first: Value =
        serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    let head = first["chain_head"].as_str().unwrap().to_string();
    assert!(head.starts_with("5:"), "{head}");
    assert!(stderr(&out).contains(&head));
    // Drop the last record and rewrite the head to match: the chain alone looks whole...
    let dir = tampered(&source, |db| {
        let prev = entry(db, 4).hash;
        remove(db, 5);
        let mut h = seq_key(4).to_vec();
        h.extend_from_slice(&prev);
        db.open_tree("meta").unwrap().insert("head", h).unwrap();
    });
    assert!(cli(&["verify"], &dir).status.success());
    // ...but not against the head the export stated.
    let out = cli(&["verify", "--head", &head], &dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "first bad record: record 5 does not match the head given (--head): it is missing"
        ),
        "{text}"
    );
    assert!(cli(&["verify", "--head", &head], &source).status.success());
    let out = cli(&["verify", "--head", "5:nothex"], &source);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_second_run_is_refused_and_auditors_are_answered_by_the_running_line() {
    let data = fresh_dir();
    let mut first = spawn_line(&data, &["--sim", "2", "--slots", "2"]);
    // Once it printed records, it holds the store and goes on appending.
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let printed: Vec<Value> = (0..5)
        .map(|_| serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap())
        .collect();
    let out = cli(&RUN_ONE, &data);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("is in use by another benchctl (pid"), "{err}");
    assert!(err.contains(&first.id().to_string()), "{err}");

    // verify checks the chain up to the head it finds, while records keep coming.
    let out = cli(&["verify"], &data);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("records verified: complete and unchanged"),
        "{text}"
    );
    // An export holds every record printed before it, each as stored.
    let out = cli(&["export", "--format", "jsonl"], &data);
    assert!(out.status.success(), "{}", stderr(&out));
    let exported = records(&out);
    assert!(exported.len() >= printed.len());
    for p in &printed {
        let e = exported
            .iter()
            .find(|e| e["seq"] == p["store"]["seq"])
            .unwrap();
        assert_eq!(e["hash"], p["store"]["hash"]);
    }
    assert!(stderr(&out).contains("exported"), "{}", stderr(&out));
    let imei = printed[0]["phone"]["imei"].as_str().unwrap();
    let out = cli(&["history", imei], &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("IMEI {imei}: ")));
    // Errors keep their exit codes across the socket.
    let out = cli(&["history", "000000000000000"], &data);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no run of IMEI"), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.csv");
    let out = cli(
        &["export", "--format", "csv", "--out", file.to_str().unwrap()],
        &data,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&file).unwrap().lines().count() > printed.len());

    first.kill().unwrap();
    first.wait().unwrap();
    // The socket it left is stale: the store opens here again.
    let out = cli(&["verify"], &data);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Runs `benchctl` as an unprivileged user when this test runs as root (root writes anywhere).
fn as_user(args: &[&str], data: &Path) -> Output {
    let exe = env!("CARGO_BIN_EXE_benchctl");
    let mut c = if nix::unistd::Uid::effective().is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", exe]);
        c
    } else {
        Command::new(exe)
    };
    c.env("RUST_LOG", "warn").args(args).arg("--data").arg(data);
    finish(c)
}

#[test]
fn a_read_only_data_directory_gets_a_clear_error_and_keeps_its_records() {
    use std::os::unix::fs::PermissionsExt;
    let data = fresh_dir();
    let printed = fill(&data, 3, 5);
    let ro = |mode| {
        for p in [data.clone(), data.join("records")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    ro(0o555);
    let out = as_user(&RUN_ONE, &data);
    ro(0o755);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("Permission denied"), "{err}");
    assert!(
        err.contains("give --data a directory this user can write"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let store = Store::open(&data, Use::Read).unwrap();
    assert_stored(&store, &printed);
    assert!(verify::verify(&store, None).unwrap().ok());
    assert_eq!(store.head().unwrap().seq, 3);
}

#[test]
fn a_full_disk_stops_the_run_with_a_clear_error_and_loses_nothing_printed() {
    let data = fresh_dir();
    let mut printed = fill(&data, 2, 6);
    // The file size limit stands in for a full disk: writes past it fail with EFBIG, as they
    // fail with ENOSPC on a full one. (SIGXFSZ is ignored so the write returns the error.)
    let exe = env!("CARGO_BIN_EXE_benchctl");
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 700; exec {exe} run --sim 4 --slots 4 --headless --time-scale 0 --data {}",
            data.display()
        ))
        .env("RUST_LOG", "warn");
    let out = finish(c);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("File too large") || err.contains("file too large"),
        "{err}"
    );
    assert!(
        err.contains("free space on that disk or give --data another directory"),
        "{err}"
    );
    assert!(err.contains("test it again"), "{err}");
    printed.extend(records(&out));
    assert!(printed.len() > 10, "the store filled up too early: {err}");
    let store = Store::open(&data, Use::Read).unwrap();
    assert_stored(&store, &printed);
    assert!(verify::verify(&store, None).unwrap().ok());
}

#[test]
fn a_store_of_a_newer_schema_is_refused_by_every_command_and_left_as_it_was() {
    let data = fresh_dir();
    fill(&data, 2, 7);
    {
        let db = benchctl::store::raw_db(&data).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema", &(benchctl::store::SCHEMA + 1).to_be_bytes()[..])
            .unwrap();
        close_raw(db, &data);
    }
    let imei = "000000000000000";
    for args in [
        &RUN_ONE[..],
        &["verify"],
        &["export", "--format", "csv"],
        &["history", imei],
    ] {
        let out = cli(args, &data);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains(&format!(
                "holds records of schema {}, written by a newer benchctl",
                benchctl::store::SCHEMA + 1
            )),
            "{}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
    }
    let db = benchctl::store::raw_db(&data).unwrap();
    assert_eq!(
        &db.open_tree("meta")
            .unwrap()
            .get("schema")
            .unwrap()
            .unwrap()[..],
        &(benchctl::store::SCHEMA + 1).to_be_bytes()
    );
    assert_eq!(db.open_tree("records").unwrap().len(), 2);
}

#[test]
fn records_of_schema_1_are_read_exported_and_verified_after_migration() {
    // A real record, as schema 1 wrote it: no schema, station or bench.
    let source = fresh_dir();
    let record = fill(&source, 1, 8).remove(0);
    let mut v1 = record.clone();
    for k in ["store", "schema", "station", "bench"] {
        v1.as_object_mut().unwrap().remove(k);
    }
    let imei = v1["phone"]["imei"].as_str().unwrap().to_string();
    let data = fresh_dir();
    {
        let db = benchctl::store::raw_db(&data).unwrap();
        let body = serde_json::to_vec(&v1).unwrap();
        let e = Entry::new(1, benchctl::store::GENESIS, body);
        db.open_tree("records")
            .unwrap()
            .insert(seq_key(1), e.encode().unwrap())
            .unwrap();
        db.open_tree("by_device")
            .unwrap()
            .insert(device_key(&imei, 1), &[][..])
            .unwrap();
        let mut head = seq_key(1).to_vec();
        head.extend_from_slice(&e.hash);
        let meta = db.open_tree("meta").unwrap();
        meta.insert("head", head).unwrap();
        // Its record and the ones added below come from simulated jigs: a training store.
        meta.insert(benchctl::store::policy::META_TRAINING, &[1u8][..])
            .unwrap();
        drop(meta);
        close_raw(db, &data);
    }
    // Opening migrates the store (time index, schema number) without touching the record.
    let out = cli(&["verify"], &data);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let out = cli(
        &["export", "--format", "csv", "--since", "2000-01-01"],
        &data,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = csv_rows(&out);
    let col = |name: &str| rows[0][name].clone();
    assert_eq!(col("schema"), "1");
    assert_eq!(col("station"), "");
    assert_eq!(col("imei"), imei);
    assert_eq!(
        col("disposition"),
        record["grade"]["disposition"].as_str().unwrap()
    );
    let out = cli(&["history", &imei], &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("station ? ?"));
    // New records follow it in the same chain.
    fill(&data, 2, 9);
    let out = cli(&["verify"], &data);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 records verified"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
