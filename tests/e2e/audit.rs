//! Every read checks: `export` and `history` recompute each record's hash and its link to the
//! record before it and stop at the first bad one, naming it; a run refuses to extend a chain
//! that is broken anywhere, not only at its end.

use std::path::{Path, PathBuf};

use benchctl::store::entry::{chain_hash, seq_key};
use benchctl::store::{Entry, Store, Use};
use serde_json::Value;

use crate::harness::{self, cli, close_raw, copy_dir, fresh_dir, stderr, tampered, RUN_ONE};

/// A store of `count` records from a simulated line (2 jigs of 2 slots).
fn filled(count: usize, seed: u64) -> (PathBuf, Vec<Value>) {
    let data = fresh_dir();
    let printed = harness::fill(&data, count, seed, &["--slots", "2"]);
    (data, printed)
}

/// A copy of `source` whose record `seq` got another grade: in place (its hash no longer
/// matches), or with `rehash` its hash recomputed too (the next record no longer follows it).
fn regraded(source: &Path, seq: u64, rehash: bool) -> PathBuf {
    tampered(source, |db| {
        let records = db.open_tree("records").unwrap();
        let mut e = Entry::decode(&records.get(seq_key(seq)).unwrap().unwrap()).unwrap();
        let mut v: Value = serde_json::from_slice(&e.body).unwrap();
        v["grade"]["disposition"] = "resale".into();
        v["grade"]["marketplace"] = "Premium".into();
        e.body = serde_json::to_vec(&v).unwrap();
        if rehash {
            e.hash = chain_hash(&e.prev, seq, &e.body);
        }
        records.insert(seq_key(seq), e.encode().unwrap()).unwrap();
    })
}

/// The command failed (exit 1), naming `seq` with `what`, and saying what to do.
fn assert_refused(out: &std::process::Output, seq: u64, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("record {seq} {what}")), "{err}");
    assert!(
        err.contains("keep the directory unchanged as evidence"),
        "{err}"
    );
    assert!(err.contains("benchctl verify --data"), "{err}");
}

/// Sequence numbers of the records of a JSON-lines output.
fn jsonl_seqs(out: &std::process::Output) -> Vec<u64> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn export_and_history_stop_at_a_record_changed_in_place() {
    let (source, printed) = filled(10, 21);
    let dir = regraded(&source, 4, false);
    let changed = "was changed after it was written";

    // In chain order: records 1 to 3 are served, then the export stops, naming record 4.
    let out = cli(&["export", "--format", "jsonl"], &dir);
    assert_refused(&out, 4, changed);
    // Nothing from record 4 on was written, and every line that was is whole.
    assert!(jsonl_seqs(&out).iter().all(|&s| s < 4));
    assert!(out.stdout.is_empty() || out.stdout.ends_with(b"\n"));
    let out = cli(&["export", "--format", "csv"], &dir);
    assert_refused(&out, 4, changed);
    // By time: records out of chain order, each checked on its own.
    let out = cli(
        &["export", "--format", "json", "--since", "2000-01-01"],
        &dir,
    );
    assert_refused(&out, 4, changed);
    // An export to a file leaves no file behind.
    let file = fresh_dir().join("out.csv");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let out = cli(
        &["export", "--format", "csv", "--out", file.to_str().unwrap()],
        &dir,
    );
    assert_refused(&out, 4, changed);
    assert!(!file.exists());

    // The device's history stops at it too.
    let seq4 = printed
        .iter()
        .find(|r| r["store"]["seq"] == 4)
        .expect("record 4 was printed");
    let imei = seq4["phone"]["imei"].as_str().unwrap();
    for json in [false, true] {
        let mut args = vec!["history", imei];
        if json {
            args.push("--json");
        }
        let out = cli(&args, &dir);
        assert_refused(&out, 4, changed);
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("Premium"),
            "the changed grade was shown"
        );
    }
    // The untouched copy reads as before, with no progress bar on a pipe.
    let out = cli(&["export", "--format", "jsonl"], &source);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(jsonl_seqs(&out), (1..=10).collect::<Vec<_>>());
    assert!(!stderr(&out).contains('\r'), "{}", stderr(&out));
    let out = cli(&["history", imei], &source);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn export_and_history_stop_at_a_record_that_no_longer_follows_a_rehashed_one() {
    let (source, printed) = filled(8, 22);
    // Record 3 changed and re-hashed: it holds on its own, record 4 does not follow it.
    let dir = regraded(&source, 3, true);
    let unlinked = "does not follow record 3";
    // Read on its own, record 3 is checked against the record after it.
    let rewritten = "is not the record that record 4 follows";
    let out = cli(&["export", "--format", "csv"], &dir);
    assert_refused(&out, 4, unlinked);
    // By finish time, record 3 or record 4 may come first: either one stops the export.
    let out = cli(
        &["export", "--format", "jsonl", "--since", "2000-01-01"],
        &dir,
    );
    if stderr(&out).contains("record 3 ") {
        assert_refused(&out, 3, rewritten);
    } else {
        assert_refused(&out, 4, unlinked);
    }
    assert!(
        !jsonl_seqs(&out).contains(&3),
        "the rewritten record was shown"
    );
    let seq4 = printed.iter().find(|r| r["store"]["seq"] == 4).unwrap();
    let out = cli(&["history", seq4["phone"]["imei"].as_str().unwrap()], &dir);
    assert_refused(&out, 4, unlinked);
    // The rewritten record's own history is refused too, and its new grade never shown.
    let seq3 = printed.iter().find(|r| r["store"]["seq"] == 3).unwrap();
    let out = cli(&["history", seq3["phone"]["imei"].as_str().unwrap()], &dir);
    assert_refused(&out, 3, rewritten);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Premium"));
    let out = cli(&["verify"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("first bad record: record 4 does not follow record 3"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_run_refuses_a_store_whose_chain_is_broken_midway_and_appends_nothing() {
    let (source, _) = filled(10, 23);
    let dir = regraded(&source, 4, false);
    let out = cli(&RUN_ONE, &dir);
    assert_refused(&out, 4, "was changed after it was written");
    assert!(stderr(&out).contains("benchctl adds no record to it"));
    assert!(out.stdout.is_empty(), "a record was printed");
    let store = Store::open(&dir, Use::Read).unwrap();
    assert_eq!(store.head().map(|h| h.seq), Some(10));
    assert!(
        store.get_raw(11).unwrap().is_none(),
        "a record was appended"
    );
    drop(store);

    // The untouched store takes more records, and remembers the head it verified.
    let out = cli(&RUN_ONE, &source);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = Store::open(&source, Use::Read).unwrap();
    assert_eq!(store.head().map(|h| h.seq), Some(11));
    assert_eq!(store.verified_head().unwrap().map(|h| h.seq), Some(10));
}

#[test]
fn a_chain_cut_after_its_last_verify_is_refused_by_verify_and_run() {
    let (source, _) = filled(6, 24);
    let out = cli(&["verify"], &source);
    assert!(out.status.success(), "{}", stderr(&out));
    // Cut the last two records and make the head match: the chain alone looks whole...
    let dir = fresh_dir();
    copy_dir(&source, &dir);
    let _ = std::fs::remove_file(dir.join("benchctl.lock"));
    {
        let db = benchctl::store::raw_db(&dir).unwrap();
        let records = db.open_tree("records").unwrap();
        let four = Entry::decode(&records.get(seq_key(4)).unwrap().unwrap())
            .unwrap()
            .hash;
        for seq in [5, 6] {
            records.remove(seq_key(seq)).unwrap();
        }
        let mut h = seq_key(4).to_vec();
        h.extend_from_slice(&four);
        db.open_tree("meta").unwrap().insert("head", h).unwrap();
        drop(records);
        close_raw(db, &dir);
    }
    // ...but the store no longer holds the head verified before.
    let out = cli(&["verify"], &dir);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("record 6 is missing, but it was verified earlier"),
        "{text}"
    );
    let out = cli(&RUN_ONE, &dir);
    assert_refused(&out, 6, "is missing, but it was verified earlier");
}
