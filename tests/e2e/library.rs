//! The phone library: every refusal located at file:line:col with the offending text and a
//! hint, rendered as plan errors are, all problems at once; only regular files of a sane size
//! are read; `plan check` and `run` exit 2 on a bad library and name the file, never the jig.
//!
//! Each case mutates one valid phone; its rendered errors are an insta snapshot in
//! `snapshots/`. Review a changed message by eye before accepting it (`INSTA_UPDATE=always`).

use std::path::{Path, PathBuf};

use benchctl::dryrun::render_library_error;
use benchline_sim::{Library, PhoneError};

use crate::harness::*;
use crate::plans::located;

/// A valid phone.
const PHONE: &str = r#"[[phone]]
id = "t-001"
model = "T1"
imei = "350886726689274"
serial = "SER001"
connector = "usb-c"
battery = { design_mah = 4000, health_pct = 95.0, cycles = 100, dcir_mohm = 120.0, soc_pct = 60.0, temperature_c = 24.0 }
port = { pin_ohm = 0.1, charge_ma = 1500.0 }
screen = { rows = 10, cols = 20, backlight_ma = 60.0, backlight_v = 19.0 }
answers = { cosmetic = "A", pixels = "pass", burn_in = "none" }
expected = { cosmetic = "A", functional = 0, disposition = "resale", repair = [], marketplace = "Premium" }
"#;

/// `PHONE` with each `(from, to)` replaced; every `from` must occur exactly once.
fn mutate(edits: &[(&str, &str)]) -> String {
    let mut text = PHONE.to_string();
    for (from, to) in edits {
        assert_eq!(text.matches(from).count(), 1, "`{from}` must occur once");
        text = text.replacen(from, to, 1);
    }
    text
}

/// The library `text` (file `phones.toml`) must be refused; its rendered errors are the
/// snapshot `name`, every problem located.
fn check(name: &str, text: &str) -> String {
    let err = match Library::parse(text, Path::new("phones.toml")) {
        Ok(l) => panic!("case {name}: accepted {} phone(s)", l.phones.len()),
        Err(e) => e,
    };
    let PhoneError::Invalid(problems) = &err else {
        panic!("case {name}: {err}")
    };
    assert!(problems.problems.iter().all(|p| p.at.is_some()), "{err}");
    let rendered = render_library_error(&err);
    assert!(
        located(&rendered, "phones.toml"),
        "case {name}: no file:line:col in\n{rendered}"
    );
    insta::assert_snapshot!(name, rendered);
    rendered
}

#[test]
fn the_valid_phone_and_the_shipped_library_load() {
    Library::parse(PHONE, Path::new("phones.toml")).unwrap_or_else(|e| panic!("{e}"));
    let lib = Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/phones"))
        .unwrap_or_else(|e| panic!("{}", render_library_error(&e)));
    assert!(!lib.phones.is_empty());
}

#[test]
fn duplicate_imei() {
    let second = PHONE.replace("t-001", "t-002").replace("SER001", "SER002");
    let out = check("duplicate_imei", &format!("{PHONE}\n{second}"));
    assert!(out.contains("phones.toml:4:8"), "{out}");
}

#[test]
fn duplicate_id() {
    let second = PHONE.replace("350886726689274", "490154203237518");
    check("duplicate_id", &format!("{PHONE}\n{second}"));
}

#[test]
fn nan_value() {
    check("nan_value", &mutate(&[("pin_ohm = 0.1", "pin_ohm = nan")]));
}

#[test]
fn infinite_value() {
    check(
        "infinite_value",
        &mutate(&[("soc_pct = 60.0", "soc_pct = inf")]),
    );
}

#[test]
fn negative_value() {
    check(
        "negative_value",
        &mutate(&[("temperature_c = 24.0", "temperature_c = -40.0")]),
    );
}

#[test]
fn node_outside_grid() {
    check(
        "node_outside_grid",
        &mutate(&[("cols = 20,", "cols = 20, dead_nodes = [[3, 4], [3, 20]],")]),
    );
}

#[test]
fn grid_without_columns() {
    // Used to end in "instrument TouchIc did not answer ... service the jig".
    let out = check(
        "grid_without_columns",
        &mutate(&[("cols = 20", "cols = 0")]),
    );
    assert!(!out.contains("jig did"), "{out}");
}

#[test]
fn pack_the_jig_cannot_test() {
    // Used to end in "the jig refused the request as malformed".
    let out = check(
        "pack_the_jig_cannot_test",
        &mutate(&[("design_mah = 4000", "design_mah = 1")]),
    );
    assert!(out.contains("benchline_protocol::range"), "{out}");
}

#[test]
fn bad_luhn() {
    check(
        "bad_luhn",
        &mutate(&[("350886726689274", "350886726689270")]),
    );
}

#[test]
fn empty_and_non_digit_imei() {
    check("empty_imei", &mutate(&[("\"350886726689274\"", "\"\"")]));
    check(
        "non_digit_imei",
        &mutate(&[("350886726689274", "3508867266892-4")]),
    );
}

#[test]
fn empty_model() {
    check(
        "empty_model",
        &mutate(&[("model = \"T1\"", "model = \"\"")]),
    );
}

#[test]
fn bad_expected_value() {
    check(
        "bad_expected_value",
        &mutate(&[
            (
                "cosmetic = \"A\", functional = 0",
                "cosmetic = \"F\", functional = 12",
            ),
            ("disposition = \"resale\"", "disposition = \"sale\""),
            (
                "marketplace = \"Premium\"",
                "marketplace = \"Mint\", r2_functional = \"F9\"",
            ),
        ]),
    );
}

#[test]
fn several_problems_at_once() {
    let first = mutate(&[
        ("soc_pct = 60.0", "soc_pct = nan"),
        ("charge_ma = 1500.0", "charge_ma = -2.0"),
        ("model = \"T1\"", "model = \"\""),
    ]);
    let second = PHONE
        .replace("t-001", "t-002")
        .replace("rows = 10", "rows = \"ten\"");
    let out = check("several_problems_at_once", &format!("{first}\n{second}"));
    assert!(out.contains("4 error(s)"), "{out}");
}

/// A directory with `files`; `None` contents make a FIFO.
fn dir_with(files: &[(&str, Option<&str>)]) -> PathBuf {
    let dir = fresh_dir();
    for (name, text) in files {
        let path = dir.join(name);
        match text {
            Some(t) => std::fs::write(&path, t).unwrap(),
            None => {
                let ok = std::process::Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        }
    }
    dir
}

/// The rendered errors of loading `path`, with the directory `dir` written as `<dir>`.
fn load_rendered(path: &Path, dir: &Path) -> String {
    let err = match Library::load(path) {
        Ok(l) => panic!("accepted {} phone(s)", l.phones.len()),
        Err(e) => e,
    };
    render_library_error(&err).replace(&dir.display().to_string(), "<dir>")
}

#[test]
fn a_fifo() {
    let dir = dir_with(&[("fifo.toml", None), ("good.toml", Some(PHONE))]);
    insta::assert_snapshot!("a_fifo", load_rendered(&dir, &dir));
}

#[test]
fn an_oversized_file_and_an_endless_device() {
    let dir = dir_with(&[("good.toml", Some(PHONE))]);
    let big = std::fs::File::create(dir.join("big.toml")).unwrap();
    big.set_len(benchline_sim::phone::MAX_FILE_BYTES + 1)
        .unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.toml")).unwrap();
    insta::assert_snapshot!("an_oversized_file", load_rendered(&dir, &dir));
}

/// A library file `bad.toml` holding `text`, in a directory of its own.
fn library_file(text: &str) -> (PathBuf, PathBuf) {
    let dir = dir_with(&[("bad.toml", Some(text))]);
    (dir.join("bad.toml"), dir)
}

fn standard_plan() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-plans/standard-refurb.toml"
    )
    .to_string()
}

#[test]
fn plan_check_against_a_bad_library_exits_2_naming_the_file() {
    for (text, says) in [
        (
            mutate(&[("disposition = \"resale\"", "disposition = \"sale\"")]),
            "expected.disposition \"sale\"",
        ),
        (
            mutate(&[(
                "cosmetic = \"A\", functional",
                "cosmetic = \"F\", functional",
            )]),
            "expected.cosmetic \"F\"",
        ),
        (
            mutate(&[("functional = 0", "functional = 12")]),
            "expected.functional 12",
        ),
        (mutate(&[("cols = 20", "cols = 0")]), "screen.cols 0"),
        (
            mutate(&[("design_mah = 4000", "design_mah = 1")]),
            "battery.design_mah 1",
        ),
    ] {
        let (file, _dir) = library_file(&text);
        let mut c = benchctl();
        c.args(["plan", "check", &standard_plan(), "--against"])
            .arg(&file);
        let out = finish(c);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{says}: {err}");
        assert!(err.contains(says), "{err}");
        assert!(located(&err, &file.display().to_string()), "{err}");
        assert!(!err.contains("service the jig"), "{err}");
    }
}

#[test]
fn a_phone_that_does_not_state_its_r2_categories_is_a_mismatch() {
    // A like-new phone of the shipped library with its R2v3 categories left out: the dry run
    // compares them all the same (a missing one would hide a wrong category).
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/phones/px7.toml"
    ))
    .unwrap();
    let stated = ", r2_functional = \"F6\", r2_cosmetic = \"C7\"";
    let phone = shipped
        .split("[[phone]]")
        .find(|p| p.contains(stated))
        .expect("a like-new phone in px7.toml");
    let text = format!("[[phone]]{}", phone.replace(stated, ""));
    let (file, _dir) = library_file(&text);
    let mut c = benchctl();
    c.args(["plan", "check", &standard_plan(), "--against"])
        .arg(&file);
    let out = finish(c);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("R2 functional not stated"), "{all}");
    assert!(all.contains("R2 functional F6"), "{all}");
}

#[test]
fn plan_check_against_a_fifo_does_not_hang() {
    let dir = dir_with(&[("fifo.toml", None)]);
    let mut c = benchctl();
    c.args(["plan", "check", &standard_plan(), "--against"])
        .arg(dir.join("fifo.toml"));
    let out = finish(c);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("fifo.toml: is not a regular file but a FIFO"),
        "{err}"
    );
}

#[test]
fn run_with_a_bad_library_exits_2_naming_the_file_not_the_jig() {
    let out = run_with_file("--phones", &mutate(&[("cols = 20", "cols = 0")]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.toml:9:") && err.contains("screen.cols 0"),
        "{err}"
    );
    assert!(!err.contains("TouchIc"), "{err}");
}

#[test]
fn plan_check_jigs_and_slots_are_ranged_as_run_has_them() {
    for args in [
        ["--jigs", "0"],
        ["--slots", "0"],
        ["--slots", "5"],
        ["--jigs", "65"],
    ] {
        let mut c = benchctl();
        c.args(["plan", "check", &standard_plan()]).args(args);
        let out = finish(c);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(args[0]), "{}", stderr(&out));
    }
}
