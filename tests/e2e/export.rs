//! What auditors take out: CSV, JSON and JSONL exports with their filters, and a device's
//! history with retests.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::harness::{
    benchctl, cli, csv_rows, fill, finish, fresh_dir, records, stderr, step, value,
};

/// A store with `count` phones drawn from a 24-phone library, so devices come back for retests.
fn line(count: usize) -> (std::path::PathBuf, Vec<Value>) {
    let data = fresh_dir();
    let phones = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/phones/px7.toml");
    let printed = fill(&data, count, 11, &["--slots", "4", "--phones", phones]);
    (data, printed)
}

fn export(data: &Path, args: &[&str]) -> Output {
    cli(&[&["export"], args].concat(), data)
}

fn measured(record: &Value, procedure: &str, name: &str) -> f64 {
    value(step(record, procedure), name)
}

#[test]
fn csv_has_one_row_per_run_with_the_key_measurements_and_the_chain_head() {
    let (data, printed) = line(30);
    let out = export(&data, &["--format", "csv"]);
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 30);
    let head = format!(
        "30:{}",
        printed.iter().find(|r| r["store"]["seq"] == 30).unwrap()["store"]["hash"]
            .as_str()
            .unwrap()
    );
    assert!(
        stderr(&out).contains(&format!("from chain head {head}")),
        "{}",
        stderr(&out)
    );
    for row in &rows {
        let r = printed
            .iter()
            .find(|p| p["store"]["seq"].as_u64() == row["seq"].parse::<u64>().ok())
            .unwrap();
        assert_eq!(row["chain_head"], head);
        assert_eq!(row["record_hash"], r["store"]["hash"].as_str().unwrap());
        assert_eq!(row["imei"], r["phone"]["imei"].as_str().unwrap());
        assert_eq!(
            row["disposition"],
            r["grade"]["disposition"].as_str().unwrap()
        );
        assert_eq!(row["station"], r["station"].as_str().unwrap());
        assert_eq!(row["plan_hash"], r["plan"]["hash"].as_str().unwrap());
        let health: f64 = row["battery_health_pct"].parse().unwrap();
        assert_eq!(health, measured(r, "battery.gauge", "state_of_health"));
        let dcir: f64 = row["battery_dcir_ohm"].parse().unwrap();
        assert_eq!(dcir, measured(r, "battery.dcir", "resistance"));
        let pin: f64 = row["port_pin_resistance_max_ohm"].parse().unwrap();
        assert!(pin > 0.0);
        assert_eq!(
            row["reasons"],
            r["grade"]["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

#[test]
fn filters_select_by_grade_model_station_and_period() {
    let (data, printed) = line(24);
    let count = |f: &dyn Fn(&Value) -> bool| printed.iter().filter(|r| f(r)).count();
    let rows = csv_rows(&export(&data, &["--format", "csv", "--grade", "repair"]));
    assert_eq!(
        rows.len(),
        count(&|r| r["grade"]["disposition"] == "repair")
    );
    assert!(rows.iter().all(|r| r["disposition"] == "repair"));
    let rows = csv_rows(&export(
        &data,
        &[
            "--format", "csv", "--grade", "premium", "--grade", "recycle",
        ],
    ));
    assert_eq!(
        rows.len(),
        count(&|r| r["grade"]["marketplace"] == "Premium" || r["grade"]["disposition"] == "recycle")
    );
    assert_eq!(
        csv_rows(&export(&data, &["--format", "csv", "--model", "px7"])).len(),
        24
    );
    assert_eq!(
        csv_rows(&export(&data, &["--format", "csv", "--model", "GS21"])).len(),
        0
    );
    let station = printed[0]["station"].as_str().unwrap();
    assert_eq!(
        csv_rows(&export(&data, &["--format", "csv", "--station", station])).len(),
        24
    );
    assert_eq!(
        csv_rows(&export(
            &data,
            &["--format", "csv", "--station", "elsewhere"]
        ))
        .len(),
        0
    );
    // The period: from the median finish time on, and before it.
    let mut finished: Vec<&str> = printed
        .iter()
        .map(|r| r["finished"].as_str().unwrap())
        .collect();
    finished.sort_unstable();
    let mid = finished[12];
    let after = csv_rows(&export(&data, &["--format", "csv", "--since", mid]));
    let before = csv_rows(&export(&data, &["--format", "csv", "--until", mid]));
    assert_eq!(after.len(), finished.iter().filter(|f| **f >= mid).count());
    assert_eq!(after.len() + before.len(), 24);
    assert!(after.iter().all(|r| r["finished"].as_str() >= mid));
    assert_eq!(
        csv_rows(&export(&data, &["--format", "csv", "--since", "1h"])).len(),
        24
    );
    assert_eq!(
        csv_rows(&export(
            &data,
            &["--format", "csv", "--until", "2000-01-01"]
        ))
        .len(),
        0
    );
}

#[test]
fn json_and_jsonl_carry_full_records_and_the_chain_head() {
    let (data, printed) = line(6);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.json");
    let out = export(
        &data,
        &[
            "--format",
            "json",
            "--grade",
            "resale",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(!dir.path().join("audit.json.partial").exists());
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    // Slots print their records as their commits return, not always in chain order.
    let mut resale: Vec<&Value> = printed
        .iter()
        .filter(|r| r["grade"]["disposition"] == "resale")
        .collect();
    resale.sort_by_key(|r| r["store"]["seq"].as_u64());
    assert_eq!(doc["count"], resale.len());
    assert_eq!(doc["export"]["grades"][0], "resale");
    assert!(doc["export"]["chain_head"]
        .as_str()
        .unwrap()
        .starts_with("6:"));
    for (got, want) in doc["records"].as_array().unwrap().iter().zip(&resale) {
        assert_eq!(got["seq"], want["store"]["seq"]);
        assert_eq!(got["hash"], want["store"]["hash"]);
        let mut want = (*want).clone();
        want.as_object_mut().unwrap().remove("store");
        assert_eq!(got["record"], want);
    }
    let out = export(&data, &["--format", "jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = records(&out);
    assert_eq!(lines.len(), 6);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["seq"], i + 1);
        assert_eq!(l["chain_head"], doc["export"]["chain_head"]);
        assert_eq!(l["record"]["schema"], benchctl::store::SCHEMA);
        if i > 0 {
            assert_eq!(l["prev"], lines[i - 1]["hash"]);
        }
    }
}

#[test]
fn history_lists_every_run_of_a_device_newest_first() {
    let (data, printed) = line(40);
    // With 24 phones and 40 runs, some device was tested more than once.
    let imei = printed
        .iter()
        .map(|r| r["phone"]["imei"].as_str().unwrap())
        .find(|i| printed.iter().filter(|r| r["phone"]["imei"] == *i).count() > 1)
        .unwrap();
    let mut seqs: Vec<u64> = printed
        .iter()
        .filter(|r| r["phone"]["imei"] == imei)
        .map(|r| r["store"]["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable_by(|a, b| b.cmp(a));
    let mut c = benchctl();
    c.args(["history", imei, "--data"]).arg(&data);
    let out = finish(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("IMEI {imei}: {} runs, newest first", seqs.len())),
        "{text}"
    );
    let shown: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(shown, seqs);
    let first = printed
        .iter()
        .find(|r| r["store"]["seq"] == seqs[0])
        .unwrap();
    assert!(text.contains(
        &first["grade"]["disposition"]
            .as_str()
            .unwrap()
            .to_uppercase()
    ));
    for reason in first["grade"]["reasons"].as_array().unwrap() {
        assert!(text.contains(reason.as_str().unwrap()), "{text}");
    }
    let mut c = benchctl();
    c.args(["history", imei, "--json", "--data"]).arg(&data);
    assert_eq!(records(&finish(c)).len(), seqs.len());
}

#[test]
fn bad_export_arguments_are_usage_errors() {
    let (data, _) = line(1);
    for (args, says) in [
        (
            &["--format", "csv", "--grade", "shiny"][..],
            "is not a grade",
        ),
        (
            &["--format", "csv", "--since", "last tuesday"],
            "is not a time",
        ),
        (&["--format", "xml"], "invalid value 'xml'"),
    ] {
        let out = export(&data, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    let out = export(&fresh_dir().join("nothing-here"), &["--format", "csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no record store in"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_readme_documents_every_csv_column() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let table = benchctl::export::columns::markdown();
    assert!(
        readme.contains(&table),
        "README.md must carry the CSV column table exactly as:\n{table}"
    );
}

#[test]
fn export_out_is_checked_first_and_written_whole() {
    let (data, _) = line(3);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/x.csv");
    let out = export(
        &data,
        &["--format", "csv", "--out", missing.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("does not exist; create it first"),
        "{}",
        stderr(&out)
    );
    let out = export(
        &data,
        &["--format", "csv", "--out", dir.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));
    // A symlink is written through, not replaced.
    let target = dir.path().join("target.csv");
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = export(&data, &["--format", "csv", "--out", link.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap().lines().count(), 4);
    // A regular file is replaced whole, and nothing else is left in the directory.
    let file = dir.path().join("plain.csv");
    std::fs::write(&file, "old").unwrap();
    let out = export(&data, &["--format", "csv", "--out", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 4);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    // With the permissions of any file the user creates.
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
    };
    let created = dir.path().join("new.csv");
    let out = export(
        &data,
        &["--format", "csv", "--out", created.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let plain = dir.path().join("plain.txt");
    std::fs::File::create(&plain).unwrap();
    assert_eq!(mode(&created), mode(&plain));
    let out = export(&data, &["--format", "csv", "--out", "-"]);
    assert_eq!(csv_rows(&out).len(), 3);
}

#[test]
fn history_takes_an_imei_as_printed_on_the_label_and_refuses_anything_else() {
    let (data, printed) = line(2);
    let imei = printed[0]["phone"]["imei"].as_str().unwrap();
    let label = format!("{}-{}-{}", &imei[..2], &imei[2..8], &imei[8..]);
    let mut c = benchctl();
    c.args(["history", &label, "--data"]).arg(&data);
    let out = finish(c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("IMEI {imei}: ")));
    for (imei, code, says) in [
        ("abc", 2, "is not an IMEI"),
        ("", 2, "is not an IMEI"),
        ("000000000000000", 1, "no run of IMEI 000000000000000"),
    ] {
        let mut c = benchctl();
        c.args(["history", imei, "--data"]).arg(&data);
        let out = finish(c);
        assert_eq!(out.status.code(), Some(code), "{imei:?}");
        assert!(out.stdout.is_empty(), "{imei:?}");
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
}

#[test]
fn an_empty_store_exports_nothing_and_its_head_verifies() {
    let data = fresh_dir();
    drop(benchctl::store::Store::open(&data, benchctl::store::Use::Write).unwrap());
    let out = export(&data, &["--format", "jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let head = format!("0:{}", "0".repeat(64));
    assert!(stderr(&out).contains(&head), "{}", stderr(&out));
    let mut c = benchctl();
    c.args(["verify", "--head", &head, "--data"]).arg(&data);
    let out = finish(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_csv_r2v3_columns_follow_the_rec_like_new_reads_f6_c7() {
    // The whole built-in library once: like-new, locked, unerased, dead-cell phones among them.
    let data = fresh_dir();
    fill(&data, 160, 1, &["--slots", "4"]);
    let rows = csv_rows(&export(&data, &["--format", "csv"]));
    let like_new: Vec<_> = rows
        .iter()
        .filter(|r| r["cosmetic"] == "A" && r["functional"] == "0" && r["disposition"] == "resale")
        .collect();
    assert!(!like_new.is_empty(), "the library has like-new phones");
    for r in &like_new {
        assert_eq!(
            (r["r2_functional"].as_str(), r["r2_cosmetic"].as_str()),
            ("F6", "C7"),
            "{r:?}"
        );
    }
    // A locked or unerased phone never carries a functioning category or a marketplace grade.
    let unmet: Vec<_> = rows
        .iter()
        .filter(|r| {
            r["answers"].contains("lock=locked") || r["answers"].contains("sanitized=failed")
        })
        .collect();
    assert!(
        !unmet.is_empty(),
        "the library has locked or unerased phones"
    );
    for r in unmet {
        assert_eq!(r["r2_functional"], "controlled", "{r:?}");
        assert_eq!(r["marketplace"], "", "{r:?}");
        assert_ne!(r["disposition"], "resale", "{r:?}");
    }
}
