//! Plant-wide reads: `export --plant` equals the union of the stations' own exports,
//! `history IMEI --plant` finds a phone tested at two stations, `verify --plant` recomputes
//! every station's chain in the database (and catches a record changed behind the triggers'
//! back), and `verify --plant --data DIR` catches a station that no longer holds what the plant
//! holds.
//!
//! The stations are real simulated lines (`benchctl run --sim 1 --station FILE`), their records
//! pushed to the plant with [`Plant::push`], straight from their stores.

use std::path::{Path, PathBuf};
use std::process::Output;

use benchctl::plant::{Outgoing, Plant};
use benchctl::store::{Store, Use};

use crate::harness::{benchctl, csv_rows, finish, fresh_dir, stderr};
use crate::postgres::{Postgres, DATABASE, OWNER};

/// The test plant: a migrated cluster of the shared harness ([`Postgres`]).
struct Db(Postgres);

impl Db {
    fn start() -> Db {
        Db(Postgres::migrated())
    }

    fn owner_url(&self) -> String {
        self.0.owner_url()
    }

    /// SQL run by the database owner (a superuser).
    fn sql(&self, sql: &str) -> String {
        self.0.psql_ok(OWNER, DATABASE, sql)
    }

    /// An auditor's login role; its URL.
    fn auditor(&self, role: &str) -> String {
        self.0.auditor_role(role);
        self.0.url(role)
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// A station `id`'s store: `count` phones from the library `phones` (`None`: the PX7 fixture)
/// tested on a simulated line whose station file names `id`.
fn station(id: &str, count: usize, seed: u64, phones: Option<&Path>) -> PathBuf {
    let dir = fresh_dir();
    let file = dir.join("station.toml");
    std::fs::write(
        &file,
        format!(
            "[station]\nid = \"{id}\"\nports = []\n\n[[bench]]\nname = \"bench-{id}\"\n[[bench.jig]]\nserial = \"SIM-0001\"\n"
        ),
    )
    .unwrap();
    let data = dir.join("data");
    let fixture = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/phones/px7.toml"
    ));
    let mut c = benchctl();
    c.args([
        "run",
        "--sim",
        "1",
        "--training-store",
        "--headless",
        "--time-scale",
        "0",
        "--count",
        &count.to_string(),
        "--seed",
        &seed.to_string(),
        "--station",
    ])
    .arg(&file)
    .arg("--phones")
    .arg(phones.unwrap_or(&fixture))
    .arg("--data")
    .arg(&data);
    let out = finish(c);
    assert!(out.status.success(), "{}", stderr(&out));
    data
}

/// Pushes everything the store in `data` holds to the plant, as station `id`.
fn push(url: &str, id: &str, data: &Path) {
    let store = Store::open(data, Use::Read).unwrap();
    let head = store.current_head().unwrap().map_or(0, |h| h.seq);
    let batch: Vec<Outgoing> = (1..=head)
        .map(|seq| {
            let e = store.get(seq).unwrap().unwrap();
            Outgoing {
                seq,
                prev: e.prev,
                hash: e.hash,
                body: e.body,
            }
        })
        .collect();
    drop(store);
    block_on(async {
        let plant = Plant::connect(url).await.unwrap();
        let pushed = plant.push(id, &batch).await.unwrap();
        assert_eq!(pushed.head_seq, head);
    });
}

fn run(args: &[&str]) -> Output {
    let mut c = benchctl();
    c.args(args);
    finish(c)
}

/// A CSV row keyed by (station, seq), its cells as (column, value) pairs in column-name order.
type Keyed = ((String, u64), Vec<(String, String)>);

/// A CSV export's rows, keyed and sorted.
fn keyed(out: &Output) -> Vec<Keyed> {
    let mut rows: Vec<_> = csv_rows(out)
        .into_iter()
        .map(|r| {
            let key = (r["station"].clone(), r["seq"].parse().unwrap());
            let mut row: Vec<_> = r.into_iter().collect();
            row.sort();
            (key, row)
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_plant_export_is_the_union_of_the_stations_own_exports() {
    let db = Db::start();
    let owner = db.owner_url();
    let mut own = Vec::new();
    for (i, id) in ["line1", "line2", "line3"].iter().enumerate() {
        let data = station(id, 4 + i, 20 + i as u64, None);
        push(&owner, id, &data);
        let out = run(&[
            "export",
            "--format",
            "csv",
            "--data",
            data.to_str().unwrap(),
        ]);
        own.extend(keyed(&out));
    }
    own.sort();
    // An auditor's login reads every station (row-level security lets it).
    let auditor = db.auditor("audit1");
    let out = run(&["export", "--plant", &auditor, "--format", "csv"]);
    let plant = keyed(&out);
    assert_eq!(plant.len(), 4 + 5 + 6);
    assert_eq!(
        plant, own,
        "the plant export is the union of the stations' exports"
    );
    // Rows come in (station, seq) order, as written.
    let order: Vec<(String, u64)> = csv_rows(&out)
        .into_iter()
        .map(|r| (r["station"].clone(), r["seq"].parse().unwrap()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    let note = stderr(&out);
    assert!(note.contains("exported 15 record(s)"), "{note}");
    for (id, n) in [("line1", 4), ("line2", 5), ("line3", 6)] {
        assert!(note.contains(&format!("{id} {n}:")), "{note}");
    }
    // --station picks; JSON states each picked station's head; JSONL names each record's station.
    let out = run(&[
        "export",
        "--plant",
        &auditor,
        "--format",
        "json",
        "--station",
        "line2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["count"], 5);
    let heads = doc["export"]["station_heads"].as_object().unwrap();
    assert_eq!(heads.keys().collect::<Vec<_>>(), ["line2"]);
    assert!(heads["line2"].as_str().unwrap().starts_with("5:"));
    let out = run(&["export", "--plant", &auditor, "--format", "jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 15);
    assert!(lines.iter().all(|l| l["station"] == l["record"]["station"]));
    let out = run(&[
        "export",
        "--plant",
        &auditor,
        "--format",
        "csv",
        "--station",
        "line9",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no station \"line9\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn history_across_the_plant_finds_a_phone_tested_at_two_stations() {
    let db = Db::start();
    let owner = db.owner_url();
    // One phone in the library: each station tests that same phone.
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/phones/px7.toml"
    ))
    .unwrap();
    let first: String = fixture
        .split("\n[[phone]]")
        .nth(1)
        .map(|p| format!("[[phone]]{p}"))
        .unwrap();
    let lib = fresh_dir().join("one.toml");
    std::fs::write(&lib, &first).unwrap();
    let imei = first
        .lines()
        .find_map(|l| l.strip_prefix("imei = \""))
        .and_then(|l| l.split('"').next())
        .unwrap()
        .to_string();
    let a = station("east", 1, 1, Some(&lib));
    push(&owner, "east", &a);
    let b = station("west", 1, 2, Some(&lib));
    push(&owner, "west", &b);
    let out = run(&["history", &imei, "--plant", &owner]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("IMEI {imei}: 2 runs, newest first")),
        "{text}"
    );
    // Newest first: west tested it after east.
    let (east, west) = (text.find("east #1").unwrap(), text.find("west #1").unwrap());
    assert!(west < east, "{text}");
    let out = run(&["history", &imei, "--plant", &owner, "--json"]);
    let runs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stations: Vec<_> = runs
        .iter()
        .map(|r| r["station"].as_str().unwrap())
        .collect();
    assert_eq!(stations, ["west", "east"]);
    assert!(runs
        .iter()
        .all(|r| r["record"]["phone"]["imei"] == imei.as_str()));
}

#[test]
fn verify_plant_recomputes_every_chain_and_compares_a_station_store() {
    let db = Db::start();
    let owner = db.owner_url();
    let one = station("line1", 5, 7, None);
    push(&owner, "line1", &one);
    let two = station("line2", 4, 8, None);
    push(&owner, "line2", &two);
    let out = run(&["verify", "--plant", &owner]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 station(s), 9 records verified"), "{text}");

    // The station still holds what the plant holds; it then records more than it pushed.
    let out = run(&["verify", "--plant", &owner, "--data", one.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("holds the 5 record(s) the plant holds of station line1"),
        "{text}"
    );
    assert!(text.contains("0 record(s) behind"), "{text}");
    // The station tests two more phones that it has not pushed yet: the plant is behind.
    let mut c = benchctl();
    c.args([
        "run",
        "--sim",
        "1",
        "--training-store",
        "--headless",
        "--time-scale",
        "0",
        "--count",
        "2",
        "--station",
    ])
    .arg(one.parent().unwrap().join("station.toml"))
    .arg("--data")
    .arg(&one);
    let more = finish(c);
    assert!(more.status.success(), "{}", stderr(&more));
    let out = run(&["verify", "--plant", &owner, "--data", one.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("store head 7:"), "{text}");
    assert!(text.contains("the plant is 2 record(s) behind"), "{text}");

    // A store that no longer holds what the plant holds: record 3 changed, the chain re-hashed
    // from there to its head (the store's own verify cannot tell; the plant can).
    let forged = crate::harness::tampered(&one, |db| {
        let records = db.open_tree("records").unwrap();
        let mut prev = benchctl::store::GENESIS;
        let mut seq = 0u64;
        while let Some(raw) = records.get((seq + 1).to_be_bytes()).unwrap() {
            seq += 1;
            let mut e = benchctl::store::Entry::decode(&raw).unwrap();
            if seq == 3 {
                e.body = String::from_utf8(e.body)
                    .unwrap()
                    .replacen("\"operator\":\"", "\"operator\":\"x", 1)
                    .into_bytes();
            }
            e.prev = prev;
            e.hash = benchctl::store::entry::chain_hash(&prev, seq, &e.body);
            prev = e.hash;
            records
                .insert(seq.to_be_bytes(), e.encode().unwrap())
                .unwrap();
        }
        let meta = db.open_tree("meta").unwrap();
        let mut head = seq.to_be_bytes().to_vec();
        head.extend_from_slice(&prev);
        meta.insert("head", head).unwrap();
    });
    let out = run(&[
        "verify",
        "--plant",
        &owner,
        "--data",
        forged.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NOT THE SAME as the plant"), "{text}");
    assert!(text.contains("record 3 of station line1 differs"), "{text}");

    // A record changed in the database by its owner, behind the triggers' back.
    db.sql(
        "ALTER TABLE benchline.records DISABLE TRIGGER USER; \
         UPDATE benchline.records SET body = convert_to(replace(convert_from(body, 'UTF8'), \
           '\"operator\":\"', '\"operator\":\"x'), 'UTF8') WHERE station = 'line2' AND seq = 2; \
         ALTER TABLE benchline.records ENABLE TRIGGER USER",
    );
    let out = run(&["verify", "--plant", &owner]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("record 2 of station line2 was changed after it was written"),
        "{text}"
    );
    assert!(text.contains("line1: 5 records"), "{text}");
    // Reads stop at it, naming it; the export never writes it.
    let out = run(&[
        "export",
        "--plant",
        &owner,
        "--format",
        "jsonl",
        "--station",
        "line2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("record 2 of station line2 in the plant was changed"),
        "{}",
        stderr(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"seq\":2,"));
}
