//! Station files: parsing, located errors, positions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::grade::Disposition;

const GOOD: &str = r#"[station]
id = "line2-station-a"
ports = ["/dev/serial/by-id/*"]

[bins]
resale = "A1 RESALE"
recycle = "E-WASTE"

[[bench]]
name = "bench-1"
[[bench.jig]]
serial = "BL-0001"
slots = [0, 1]
[[bench.jig]]
serial = "BL-0002"

[[bench]]
name = "bench-2"
jig = [{ serial = "BL-0003" }]
"#;

fn errors(text: &str) -> StationErrors {
    Station::parse(text, "station.toml").unwrap_err()
}

/// Each problem as `line:col: message`.
fn located(text: &str) -> Vec<String> {
    let e = errors(text);
    e.diagnostics
        .iter()
        .map(|d| {
            let (l, c) = d.line_col(&e.source);
            format!("{l}:{c}: {}", d.message)
        })
        .collect()
}

#[test]
fn a_station_file_names_its_benches_jigs_slots_and_bins() {
    let s = Station::parse(GOOD, "station.toml").unwrap();
    assert_eq!(s.id, "line2-station-a");
    assert_eq!(s.ports, Some(vec!["/dev/serial/by-id/*".to_string()]));
    assert_eq!(s.bins.label(Disposition::Resale), "A1 RESALE");
    assert_eq!(s.bins.label(Disposition::Recycle), "E-WASTE");
    assert_eq!(s.bins.label(Disposition::Repair), "REPAIR", "the default");
    let p = s.positions();
    assert_eq!(
        p.iter()
            .map(|p| (p.bench.as_str(), p.serial.as_str(), p.slots.clone()))
            .collect::<Vec<_>>(),
        vec![
            ("bench-1", "BL-0001", Some(vec![0, 1])),
            ("bench-1", "BL-0002", None),
            ("bench-2", "BL-0003", None),
        ]
    );
}

#[test]
fn without_ports_the_station_looks_at_usb_serial_devices() {
    let s = Station::parse(
        "[station]\nid = \"s1\"\n[[bench]]\nname = \"b\"\njig = [{ serial = \"J1\" }]\n",
        "s.toml",
    )
    .unwrap();
    assert_eq!(s.ports, None);
    assert_eq!(s.port_patterns(), DEFAULT_PORTS.map(String::from).to_vec());
    let none = Station::parse(
        "[station]\nid = \"s1\"\nports = []\n[[bench]]\nname = \"b\"\njig = [{ serial = \"J1\" }]\n",
        "s.toml",
    )
    .unwrap();
    assert!(
        none.port_patterns().is_empty(),
        "only --port and --sim jigs"
    );
}

#[test]
fn every_problem_is_reported_at_its_place() {
    let text = r#"[station]
id = "line 2"
portz = ["/dev/ttyACM*"]

[bins]
resale = ""
scrap = "X"

[[bench]]
name = "bench-1"
[[bench.jig]]
serial = "BL-0001"
slots = [0, 0, 9999]

[[bench]]
name = "bench-1"
[[bench.jig]]
serial = "BL-0001"
"#;
    assert_eq!(
        located(text),
        vec![
            "2:6: id `line 2` in [station] is not a plain name",
            "3:1: unknown key `portz` in [station]",
            "6:10: the bin label of resale is empty",
            "7:1: unknown key `scrap` in [bins]",
            "13:13: slot 0 is listed twice",
            "13:16: a slot must be a number from 0 to 254, found `9999`",
            "16:8: bench name `bench-1` is used twice",
            "18:10: jig BL-0001 is listed twice (first on bench bench-1)",
        ]
    );
    let e = errors(text);
    let shown = e.to_string();
    assert!(
        shown.contains("station.toml:3:1: unknown key `portz` in [station]"),
        "{shown}"
    );
    assert!(shown.contains("did you mean `ports`?"), "{shown}");
    assert!(shown.contains("3 | portz = "), "the source line: {shown}");
    assert!(shown.ends_with("8 error(s) in the station file; nothing was run"));
}

#[test]
fn missing_parts_are_named() {
    assert_eq!(
        located("[[bench]]\nname = \"b\"\n"),
        vec!["1:1: missing [station] table", "1:1: bench b has no jigs",]
    );
    assert_eq!(
        located("[station]\nid = \"s\"\n"),
        vec!["1:1: the station has no benches"]
    );
    assert_eq!(
        located("[station]\nid = \"s\"\nports = [\"ttyACM0\", \"/dev/*/x\"]\n[[bench]]\nname = \"b\"\njig = []\n"),
        vec![
            "3:10: port `ttyACM0` is not an absolute path",
            "3:21: port `/dev/*/x` has a pattern in a directory name",
            "6:7: bench b has no jigs",
        ]
    );
}

#[test]
fn broken_toml_is_located() {
    let e = located("[station]\nid = line\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("2:6: invalid TOML"), "{e:?}");
}

#[test]
fn a_station_file_is_read_only_from_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = Station::load(dir.path()).unwrap_err();
    assert!(
        e.to_string().contains("is a directory, not a regular file"),
        "{e}"
    );
    let file = dir.path().join("station.toml");
    std::fs::write(&file, GOOD).unwrap();
    assert_eq!(Station::load(&file).unwrap().id, "line2-station-a");
    let e = Station::load(&dir.path().join("nope.toml")).unwrap_err();
    assert!(e.to_string().contains("cannot read station file"), "{e}");
}
