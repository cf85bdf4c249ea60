//! The phone library's refusals: each rule, located at its value, every problem at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use super::*;

/// A valid phone; `id`, `imei` and `extra` lines vary it.
const PHONE: &str = r#"[[phone]]
id = "t-001"
model = "T1"
imei = "350886726689274"
serial = "SER001"
connector = "usb-c"
battery = { design_mah = 4000, health_pct = 95.0, cycles = 100, dcir_mohm = 120.0, soc_pct = 60.0, temperature_c = 24.0 }
port = { pin_ohm = 0.1, charge_ma = 1500.0 }
screen = { rows = 10, cols = 20, backlight_ma = 60.0, backlight_v = 19.0 }
answers = { cosmetic = "A" }
expected = { cosmetic = "A", functional = 0, disposition = "resale", repair = [], marketplace = "Premium" }
"#;

fn path() -> PathBuf {
    PathBuf::from("lib.toml")
}

/// The problems of `text`, which must be refused.
fn problems(text: &str) -> Vec<Problem> {
    match Library::parse(text, &path()) {
        Ok(l) => panic!("accepted {} phone(s):\n{text}", l.phones.len()),
        Err(PhoneError::Invalid(p)) => p.problems,
        Err(e) => panic!("{e}"),
    }
}

/// `PHONE` with `from` replaced by `to` (exactly once).
fn with(from: &str, to: &str) -> String {
    assert_eq!(PHONE.matches(from).count(), 1, "{from}");
    PHONE.replacen(from, to, 1)
}

/// The one problem of `text`: its message contains `says`, and it points at `at`.
fn refused(text: &str, says: &str, at: &str) -> Problem {
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:#?}");
    let p = p.into_iter().next().unwrap_or_else(|| unreachable!());
    assert!(p.message.contains(says), "{p:#?}");
    assert!(!p.hint.is_empty());
    let loc =
        p.at.clone()
            .unwrap_or_else(|| panic!("not located: {p:#?}"));
    assert_eq!(&text[loc.span.clone()], at, "{p:#?}");
    assert_eq!((loc.line, loc.column), line_col(text, loc.span.start));
    p
}

#[test]
fn the_valid_phone_loads() {
    let lib = Library::parse(PHONE, &path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lib.phones.len(), 1);
}

#[test]
fn the_shipped_library_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/phones");
    let lib = Library::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(lib.phones.len() > 100);
}

#[test]
fn every_shipped_phone_round_trips_through_postcard_and_the_control_channel() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/phones");
    let lib = Library::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut reader = crate::control::ControlReader::new();
    for (slot, phone) in lib.phones.iter().enumerate() {
        let bytes = postcard::to_allocvec(phone).unwrap();
        let back: Phone = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(&back, phone);
        let seat = crate::control::Command::Seat {
            slot: (slot % 4) as u8,
            phone: Box::new(phone.clone()),
        };
        let frame = crate::control::encode_vec(&seat).unwrap();
        let got: Vec<_> = frame
            .iter()
            .filter_map(|&b| reader.push::<crate::control::Command>(b))
            .collect();
        assert_eq!(got, [Ok(seat)], "{}", phone.id);
    }
}

#[test]
fn defaults_fill_what_a_table_leaves_out() {
    let lib = Library::parse(
        r#"[[phone]]
id = "d"
model = "D"
imei = "350886726689274"
serial = "S"
connector = "lightning"
battery = { design_mah = 3000, health_pct = 90.0, cycles = 5, dcir_mohm = 100.0 }
screen = { rows = 4, cols = 4 }
"#,
        &path(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let p = &lib.phones[0];
    assert_eq!(p.port, Port::default());
    assert_eq!(p.port.cc1_rd_ohm, Some(5100.0));
    assert_eq!((p.battery.soc_pct, p.battery.temperature_c), (55.0, 24.0));
    assert_eq!(p.battery.manufacturer, "SIMCELL");
    assert_eq!((p.screen.backlight_ma, p.screen.backlight_v), (60.0, 19.0));
    assert!(p.answers.is_empty() && p.expected.is_none());
}

#[test]
fn nan_infinite_and_negative_values_are_refused() {
    refused(
        &with("soc_pct = 60.0", "soc_pct = nan"),
        "battery.soc_pct is not a number",
        "nan",
    );
    refused(
        &with("temperature_c = 24.0", "temperature_c = inf"),
        "infinite",
        "inf",
    );
    refused(
        &with("temperature_c = 24.0", "temperature_c = -5.0"),
        "temperature_c -5 is negative",
        "-5.0",
    );
    refused(
        &with("charge_ma = 1500.0", "charge_ma = -1.0"),
        "port.charge_ma -1 is negative",
        "-1.0",
    );
    refused(
        &with("charge_ma = 1500.0", "charge_ma = nan"),
        "charge_ma is not a number",
        "nan",
    );
    refused(
        &with("backlight_ma = 60.0", "backlight_ma = -inf"),
        "infinite",
        "-inf",
    );
    refused(
        &with("backlight_v = 19.0", "backlight_v = nan"),
        "backlight_v",
        "nan",
    );
    refused(
        &with("pin_ohm = 0.1", "pin_ohm = nan"),
        "port.pin_ohm is not a number",
        "nan",
    );
    refused(
        &with(
            "pin_ohm = 0.1,",
            "pin_ohm = 0.1, pin_ohm_override = { gnd = -0.5 },",
        ),
        "pin_ohm_override.gnd -0.5 is negative",
        "-0.5",
    );
    refused(
        &with(
            "pin_ohm = 0.1,",
            "pin_ohm = 0.1, leakage_ua = { cc1 = nan },",
        ),
        "leakage_ua.cc1 is not a number",
        "nan",
    );
    refused(
        &with("pin_ohm = 0.1,", "pin_ohm = 0.1, cc1_rd_ohm = -5100.0,"),
        "port.cc1_rd_ohm -5100 is negative",
        "-5100.0",
    );
    refused(
        &with("dcir_mohm = 120.0", "dcir_mohm = nan"),
        "dcir_mohm is not a number",
        "nan",
    );
    refused(
        &with("health_pct = 95.0", "health_pct = inf"),
        "health_pct is infinite",
        "inf",
    );
    refused(
        &with("soc_pct = 60.0", "soc_pct = 101.0"),
        "outside 0-100 %",
        "101.0",
    );
}

#[test]
fn negative_integers_are_refused_where_they_stand() {
    let p = problems(&with("cycles = 100", "cycles = -3"));
    assert_eq!(p.len(), 1, "{p:#?}");
    let at = p[0].at.clone().unwrap_or_else(|| unreachable!());
    assert_eq!(&with("cycles = 100", "cycles = -3")[at.span], "-3");
}

#[test]
fn a_pack_the_jig_cannot_test_is_refused_naming_the_protocol_range() {
    let p = refused(
        &with("design_mah = 4000", "design_mah = 1"),
        "battery.design_mah 1 is outside",
        "1",
    );
    assert!(p.hint.contains("benchline_protocol::range"), "{}", p.hint);
    refused(
        &with("design_mah = 4000", "design_mah = 9000"),
        "the packs the jig can test",
        "9000",
    );
    let (lo, hi) = testable_design_mah();
    for d in [lo, hi] {
        let text = with("design_mah = 4000", &format!("design_mah = {d}"));
        Library::parse(&text, &path()).unwrap_or_else(|e| panic!("{d}: {e}"));
    }
}

#[test]
fn touch_grids_and_nodes_outside_them_are_refused() {
    refused(
        &with("cols = 20", "cols = 0"),
        "screen.cols 0 is outside 1-48",
        "0",
    );
    refused(&with("cols = 20", "cols = 49"), "screen.cols 49", "49");
    refused(&with("rows = 10", "rows = 0"), "screen.rows is 0", "0");
    refused(
        &with("cols = 20,", "cols = 20, dead_nodes = [[1, 2], [10, 3]],"),
        "screen.dead_nodes [10, 3] is outside the 10x20 grid",
        "[10, 3]",
    );
    refused(
        &with("cols = 20,", "cols = 20, shorted_nodes = [[0, 20]],"),
        "shorted_nodes [0, 20]",
        "[0, 20]",
    );
}

#[test]
fn bad_imeis_are_refused() {
    refused(
        &with("350886726689274", "350886726689275"),
        "fails the Luhn check: its last digit would be 4",
        "\"350886726689275\"",
    );
    refused(
        &with("\"350886726689274\"", "\"\""),
        "imei is empty",
        "\"\"",
    );
    refused(
        &with("350886726689274", "35088672668927A"),
        "other than digits",
        "\"35088672668927A\"",
    );
    refused(
        &with("350886726689274", "35088672668927"),
        "has 14 digits",
        "\"35088672668927\"",
    );
}

#[test]
fn empty_and_unreadable_identities_are_refused() {
    refused(
        &with("model = \"T1\"", "model = \"\""),
        "model is empty",
        "\"\"",
    );
    refused(
        &with("model = \"T1\"", "model = \"Galaxy A54\""),
        "printable ASCII",
        "\"Galaxy A54\"",
    );
    refused(
        &with("serial = \"SER001\"", "serial = \"\""),
        "serial is empty",
        "\"\"",
    );
    refused(
        &with("id = \"t-001\"", "id = \" \""),
        "id is empty",
        "\" \"",
    );
}

#[test]
fn unknown_pins_are_refused_at_their_key() {
    refused(
        &with(
            "pin_ohm = 0.1,",
            "pin_ohm = 0.1, leakage_ua = { \"d+\" = 3.0 },",
        ),
        "unknown port pin \"d+\"",
        "\"d+\"",
    );
    refused(
        &with(
            "pin_ohm = 0.1,",
            "pin_ohm = 0.1, open_pins = [\"vbus\", \"usb\"],",
        ),
        "unknown port pin \"usb\"",
        "\"usb\"",
    );
}

#[test]
fn invalid_expected_values_are_refused() {
    refused(
        &with("disposition = \"resale\"", "disposition = \"sale\""),
        "expected.disposition \"sale\"",
        "\"sale\"",
    );
    refused(
        &with(
            "cosmetic = \"A\", functional",
            "cosmetic = \"F\", functional",
        ),
        "expected.cosmetic \"F\"",
        "\"F\"",
    );
    refused(
        &with("functional = 0", "functional = 12"),
        "expected.functional 12",
        "12",
    );
    refused(
        &with("marketplace = \"Premium\"", "marketplace = \"Mint\""),
        "expected.marketplace \"Mint\"",
        "\"Mint\"",
    );
    refused(
        &with("repair = []", "repair = [\"battery\", \"glass\"]"),
        "expected.repair part \"glass\"",
        "\"glass\"",
    );
    refused(
        &with("repair = []", "repair = [], r2_functional = \"F7\""),
        "r2_functional \"F7\"",
        "\"F7\"",
    );
    refused(
        &with("repair = []", "repair = [], r2_cosmetic = \"B\""),
        "r2_cosmetic \"B\"",
        "\"B\"",
    );
    for ok in [
        "r2_functional = \"F6\", r2_cosmetic = \"C7\"",
        "r2_functional = \"controlled\", r2_cosmetic = \"C0\"",
    ] {
        let text = with("repair = []", &format!("repair = [], {ok}"));
        let lib = Library::parse(&text, &path()).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(lib.phones[0]
            .expected
            .as_ref()
            .is_some_and(|e| e.r2_functional.is_some()));
    }
}

#[test]
fn duplicate_ids_and_imeis_name_both_places() {
    let second = PHONE.replace("[[phone]]\n", "[[phone]]\n# again\n");
    let text = format!("{PHONE}\n{second}");
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p[0].message
            .contains("id `t-001` is already the id of the phone at lib.toml:2:6"),
        "{p:#?}"
    );
    assert!(
        p[1].message
            .contains("IMEI 350886726689274 is already the IMEI of phone `t-001` at lib.toml:4:8"),
        "{p:#?}"
    );
    assert_eq!(p[1].at.as_ref().map(|a| a.line), Some(17));
    // Across files.
    let a = PathBuf::from("a.toml");
    let b = PathBuf::from("b.toml");
    let other = PHONE.replace("t-001", "t-002");
    let err = Library::parse_files([(a.as_path(), PHONE), (b.as_path(), other.as_str())]);
    let Err(PhoneError::Invalid(p)) = err else {
        panic!("accepted a duplicate IMEI across files")
    };
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].path, b);
    assert!(
        p.problems[0].message.contains("at a.toml:4:8"),
        "{:?}",
        p.problems[0]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = with("soc_pct = 60.0", "soc_pct = nan")
        .replace("cols = 20", "cols = 0")
        .replace("model = \"T1\"", "model = \"\"")
        .replace("functional = 0", "functional = 12");
    let bad_type = PHONE
        .replace("t-001", "t-002")
        .replace("rows = 10", "rows = \"ten\"");
    let p = problems(&format!("{text}\n{bad_type}"));
    assert_eq!(p.len(), 5, "{p:#?}");
    assert!(p.iter().all(|p| p.at.is_some()));
}

#[test]
fn schema_errors_are_located() {
    let text = with("cycles = 100", "cycles = 100, cycels = 3");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].message.contains("cycels"), "{p:#?}");
    let text = with(
        "screen = {",
        "[phone.nothing]\nx = 1\n[phone.oops]\nscreen = {",
    );
    assert!(!problems(&text).is_empty());
    let p = problems("[[phone]]\nid = \"x\n");
    assert!(p[0].message.starts_with("not valid TOML"), "{p:#?}");
    let p = problems("title = \"no phones\"\n");
    assert_eq!(p.len(), 2, "{p:#?}");
}

#[cfg(unix)]
#[test]
fn only_regular_files_of_a_sane_size_are_read() {
    let dir = tempfile_dir();
    // A FIFO would block the read forever.
    let fifo = dir.join("fifo.toml");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(status.is_ok_and(|s| s.success()));
    let Err(PhoneError::Invalid(p)) = Library::load(&fifo) else {
        panic!("a FIFO was read")
    };
    assert!(
        p.problems[0]
            .message
            .contains("not a regular file but a FIFO"),
        "{p}"
    );
    // A link to an endless device.
    let zero = dir.join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap_or_else(|e| panic!("{e}"));
    let Err(PhoneError::Invalid(p)) = Library::load(&zero) else {
        panic!("/dev/zero was read")
    };
    assert!(p.problems[0].message.contains("a character device"), "{p}");
    // Too large.
    let big = dir.join("big.toml");
    let file = std::fs::File::create(&big).unwrap_or_else(|e| panic!("{e}"));
    file.set_len(MAX_FILE_BYTES + 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let Err(PhoneError::Invalid(p)) = Library::load(&big) else {
        panic!("an oversized file was read")
    };
    assert!(
        p.problems[0]
            .message
            .contains("more than the 4194304 bytes"),
        "{p}"
    );
    // A directory: all three at once, a good file among them loads, nothing recursive.
    std::fs::write(dir.join("good.toml"), PHONE).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(dir.join("sub")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("sub/dup.toml"), PHONE).unwrap_or_else(|e| panic!("{e}"));
    let Err(PhoneError::Invalid(p)) = Library::load(&dir) else {
        panic!("a directory with special files was read")
    };
    assert_eq!(p.problems.len(), 3, "{p}");
    std::fs::remove_file(&fifo).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(&zero).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(&big).unwrap_or_else(|e| panic!("{e}"));
    let lib = Library::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lib.phones.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "benchline-sim-phone-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}
