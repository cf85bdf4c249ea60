//! The rules a library phone must follow: every physical value finite and within what the
//! phone and the jig's instruments can be, the identity readable by the jig, the touch faults on
//! the grid, the expected outcome in the plan's vocabulary. Each rule gives the place of the
//! value (a path of keys into the phone's table), what is wrong and what to do.

use std::sync::OnceLock;

use benchline_protocol::range::{DCIR_MA, DCIR_MIN_STEP_MA};
use benchline_protocol::{MAX_TEXT, MAX_TOUCH_COLS};

use super::{Phone, COSMETIC_GRADES, DISPOSITIONS, MARKETPLACE_GRADES, PIN_NAMES, REPAIR_PARTS};

/// The C-rates of the IEC 61960 DCIR test the standard plan runs (first step, second step):
/// the jig is asked for `design_mah` times each, in mA.
pub const DCIR_TEST_C: (f64, f64) = (0.2, 1.0);

/// Bytes of each identity field (model, IMEI, serial) in the phone's identity EEPROM.
pub const IDENTITY_BYTES: usize = 16;

/// Battery temperature a phone on the bench can have, degrees C.
pub const TEMPERATURE_C: (f64, f64) = (0.0, 80.0);

/// Most current a phone can draw from 5 V VBUS, mA (USB Type-C at 5 V: 3 A).
pub const CHARGE_MA_MAX: f64 = 3_000.0;

/// Full scale of the jig's backlight current monitor, mA (INA226, 100 mOhm shunt).
pub const BACKLIGHT_MA_MAX: f64 = 819.0;

/// Compliance voltage of the jig's backlight driver, V: a string needing more does not light.
pub const BACKLIGHT_V_MAX: f64 = 24.0;

/// One step of the way from a phone's table to a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    /// A key of a table.
    Key(String),
    /// An element of an array.
    Index(usize),
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Issue {
    /// Where the value is, from the phone's table.
    pub path: Vec<Seg>,
    /// Point at the key (a map key that is itself wrong) rather than its value.
    pub on_key: bool,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

#[derive(Default)]
struct Issues(Vec<Issue>);

impl Issues {
    fn at(&mut self, path: &[&str], message: String, hint: impl Into<String>) {
        self.push(keys(path), false, message, hint);
    }

    fn push(&mut self, path: Vec<Seg>, on_key: bool, message: String, hint: impl Into<String>) {
        self.0.push(Issue {
            path,
            on_key,
            message,
            hint: hint.into(),
        });
    }

    /// A physical value: finite and within `lo..=hi`, in `unit`; `why` says where the range
    /// comes from.
    fn number(
        &mut self,
        path: Vec<Seg>,
        name: &str,
        v: f64,
        range: (f64, f64),
        unit: &str,
        why: &str,
    ) {
        let (lo, hi) = range;
        let range = if why.is_empty() {
            format!("{lo}-{hi} {unit}")
        } else {
            format!("{lo}-{hi} {unit} ({why})")
        };
        let hint = format!("write the phone's true value, {range}");
        let message = if v.is_nan() {
            format!("{name} is not a number (nan)")
        } else if v.is_infinite() {
            format!("{name} is infinite")
        } else if v < 0.0 && lo >= 0.0 {
            format!("{name} {v} is negative")
        } else if v < lo || v > hi {
            format!("{name} {v} is outside {range}")
        } else {
            return;
        };
        self.push(path, false, message, hint);
    }
}

fn keys(path: &[&str]) -> Vec<Seg> {
    path.iter().map(|k| Seg::Key((*k).to_string())).collect()
}

fn with(path: &[&str], last: Seg) -> Vec<Seg> {
    let mut p = keys(path);
    p.push(last);
    p
}

/// The design capacities (mAh) whose IEC 61960 DCIR test ([`DCIR_TEST_C`]) the jig accepts:
/// both currents within `benchline_protocol::range::DCIR_MA` and at least
/// `DCIR_MIN_STEP_MA` apart, computed as the controller computes them.
pub fn testable_design_mah() -> (u16, u16) {
    static BOUNDS: OnceLock<(u16, u16)> = OnceLock::new();
    *BOUNDS.get_or_init(|| {
        let amps = |design: u16, c: f64| {
            (f64::from(design) * c)
                .round()
                .clamp(1.0, f64::from(u16::MAX)) as u16
        };
        let ok = |d: u16| {
            let (low, high) = (amps(d, DCIR_TEST_C.0), amps(d, DCIR_TEST_C.1));
            DCIR_MA.contains(&low)
                && DCIR_MA.contains(&high)
                && high.saturating_sub(low) >= DCIR_MIN_STEP_MA
        };
        let lo = (1..=u16::MAX).find(|&d| ok(d)).unwrap_or(u16::MAX);
        let hi = (lo..=u16::MAX).take_while(|&d| ok(d)).last().unwrap_or(lo);
        (lo, hi)
    })
}

/// The Luhn check digit that completes `digits` (ASCII digits).
fn luhn_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// An identity field the jig reads back as written: 1-16 printable ASCII characters, no spaces.
fn identity(issues: &mut Issues, key: &str, v: &str, example: &str) {
    if v.is_empty() {
        issues.at(
            &[key],
            format!("{key} is empty"),
            format!("write the {key} its identity EEPROM holds, e.g. {example}"),
        );
    } else if v.len() > IDENTITY_BYTES || !v.bytes().all(|b| b.is_ascii_graphic()) {
        issues.at(
            &[key],
            format!("{key} {v:?} is not 1-{IDENTITY_BYTES} printable ASCII characters without spaces"),
            format!(
                "the identity EEPROM holds {IDENTITY_BYTES} bytes of ASCII and the jig reads anything else as `?`; write it as the phone reports it, e.g. {example}"
            ),
        );
    }
}

fn imei(issues: &mut Issues, v: &str) {
    let hint = "write the 15 digits the phone shows for *#06#";
    if v.is_empty() {
        issues.at(&["imei"], "imei is empty".into(), hint);
    } else if !v.bytes().all(|b| b.is_ascii_digit()) {
        issues.at(
            &["imei"],
            format!("imei {v:?} holds characters other than digits"),
            hint,
        );
    } else if v.len() != 15 {
        issues.at(
            &["imei"],
            format!("imei {v} has {} digits; an IMEI has 15", v.len()),
            hint,
        );
    } else {
        let (body, last) = v.as_bytes().split_at(14);
        let want = luhn_digit(body);
        if last[0] - b'0' != want {
            issues.at(
                &["imei"],
                format!("imei {v} fails the Luhn check: its last digit would be {want}"),
                "copy the IMEI again from the phone (*#06#); if it was made up, correct its check digit",
            );
        }
    }
}

fn sbs_text(issues: &mut Issues, key: &str, v: &str) {
    if v.len() > MAX_TEXT || !v.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        issues.at(
            &["battery", key],
            format!("battery.{key} {v:?} is not at most {MAX_TEXT} printable ASCII characters"),
            "the jig reports the gauge's text in up to 24 ASCII characters; shorten it",
        );
    }
}

fn one_of(issues: &mut Issues, path: Vec<Seg>, name: &str, v: &str, allowed: &[&str]) {
    if !allowed.contains(&v) {
        issues.push(
            path,
            false,
            format!("{name} {v:?} is not one of {}", allowed.join(", ")),
            "write the outcome the standard plan's policy gives this phone (test-plans/README.md)",
        );
    }
}

/// Every rule `p` breaks.
pub(super) fn phone(p: &Phone) -> Vec<Issue> {
    let mut issues = Issues::default();
    let i = &mut issues;
    if p.id.trim().is_empty() {
        i.at(
            &["id"],
            "id is empty".into(),
            "give the phone a library id of its own, e.g. a54-023",
        );
    }
    identity(i, "model", &p.model, "A54");
    imei(i, &p.imei);
    identity(i, "serial", &p.serial, "R5CW108761");

    // Battery.
    let b = &p.battery;
    let (lo, hi) = testable_design_mah();
    if !(lo..=hi).contains(&b.design_mah) {
        i.at(
            &["battery", "design_mah"],
            format!(
                "battery.design_mah {} is outside {lo}-{hi} mAh, the packs the jig can test",
                b.design_mah
            ),
            format!(
                "the DCIR test draws {} C then {} C of the design capacity, and the jig's load accepts {}-{} mA with steps at least {DCIR_MIN_STEP_MA} mA apart (benchline_protocol::range); write the pack's true capacity",
                DCIR_TEST_C.0,
                DCIR_TEST_C.1,
                DCIR_MA.start(),
                DCIR_MA.end()
            ),
        );
    }
    let bat = |k: &str| keys(&["battery", k]);
    i.number(
        bat("health_pct"),
        "battery.health_pct",
        b.health_pct,
        (1.0, 110.0),
        "%",
        "",
    );
    i.number(
        bat("dcir_mohm"),
        "battery.dcir_mohm",
        b.dcir_mohm,
        (1.0, 5000.0),
        "mOhm",
        "",
    );
    i.number(
        bat("soc_pct"),
        "battery.soc_pct",
        b.soc_pct,
        (0.0, 100.0),
        "%",
        "",
    );
    i.number(
        bat("temperature_c"),
        "battery.temperature_c",
        b.temperature_c,
        TEMPERATURE_C,
        "C",
        "a phone on the bench",
    );
    sbs_text(i, "manufacturer", &b.manufacturer);
    sbs_text(i, "device", &b.device);

    // Port.
    let port = |k: &str| keys(&["port", k]);
    for (k, rd) in [
        ("cc1_rd_ohm", p.port.cc1_rd_ohm),
        ("cc2_rd_ohm", p.port.cc2_rd_ohm),
    ] {
        if let Some(rd) = rd {
            i.number(
                port(k),
                &format!("port.{k}"),
                rd,
                (0.0, 10_000_000.0),
                "ohm",
                "",
            );
        }
    }
    i.number(
        port("pin_ohm"),
        "port.pin_ohm",
        p.port.pin_ohm,
        (0.0, 1_000_000.0),
        "ohm",
        "",
    );
    i.number(
        port("charge_ma"),
        "port.charge_ma",
        p.port.charge_ma,
        (0.0, CHARGE_MA_MAX),
        "mA",
        "what USB Type-C gives at 5 V",
    );
    let pins_hint = format!("pins are {}", PIN_NAMES.join(", "));
    for (n, pin) in p.port.open_pins.iter().enumerate() {
        if !PIN_NAMES.contains(&pin.as_str()) {
            i.push(
                with(&["port", "open_pins"], Seg::Index(n)),
                false,
                format!("unknown port pin {pin:?}"),
                pins_hint.clone(),
            );
        }
    }
    for (map, values, lo_hi, unit) in [
        (
            "pin_ohm_override",
            &p.port.pin_ohm_override,
            (0.0, 1_000_000.0),
            "ohm",
        ),
        ("leakage_ua", &p.port.leakage_ua, (0.0, 1_000_000.0), "uA"),
    ] {
        for (pin, v) in values {
            let path = with(&["port", map], Seg::Key(pin.clone()));
            if PIN_NAMES.contains(&pin.as_str()) {
                i.number(path, &format!("port.{map}.{pin}"), *v, lo_hi, unit, "");
            } else {
                i.push(
                    path,
                    true,
                    format!("unknown port pin {pin:?}"),
                    pins_hint.clone(),
                );
            }
        }
    }

    // Screen.
    let s = &p.screen;
    if s.rows == 0 {
        i.at(
            &["screen", "rows"],
            "screen.rows is 0: a touch panel has at least one row".into(),
            "write the panel's TX lines (1-255)",
        );
    }
    if s.cols == 0 || usize::from(s.cols) > MAX_TOUCH_COLS {
        i.at(
            &["screen", "cols"],
            format!("screen.cols {} is outside 1-{MAX_TOUCH_COLS}", s.cols),
            format!(
                "write the panel's RX lines; the jig carries at most {MAX_TOUCH_COLS} columns a row (benchline_protocol::MAX_TOUCH_COLS)"
            ),
        );
    }
    for (key, nodes) in [
        ("dead_nodes", &s.dead_nodes),
        ("shorted_nodes", &s.shorted_nodes),
    ] {
        for (n, [row, col]) in nodes.iter().enumerate() {
            if row >= &s.rows || col >= &s.cols {
                i.push(
                    with(&["screen", key], Seg::Index(n)),
                    false,
                    format!(
                        "screen.{key} [{row}, {col}] is outside the {}x{} grid",
                        s.rows, s.cols
                    ),
                    format!(
                        "nodes are [row, col] counted from 0: rows 0-{}, cols 0-{}",
                        s.rows.saturating_sub(1),
                        s.cols.saturating_sub(1)
                    ),
                );
            }
        }
    }
    let scr = |k: &str| keys(&["screen", k]);
    i.number(
        scr("backlight_ma"),
        "screen.backlight_ma",
        s.backlight_ma,
        (0.0, BACKLIGHT_MA_MAX),
        "mA",
        "the full scale of the jig's backlight monitor",
    );
    i.number(
        scr("backlight_v"),
        "screen.backlight_v",
        s.backlight_v,
        (0.0, BACKLIGHT_V_MAX),
        "V",
        "the compliance of the jig's backlight driver",
    );

    // Expected outcome.
    if let Some(e) = &p.expected {
        let exp = |k: &str| keys(&["expected", k]);
        one_of(
            i,
            exp("cosmetic"),
            "expected.cosmetic",
            &e.cosmetic,
            &COSMETIC_GRADES,
        );
        if e.functional > 9 {
            i.at(
                &["expected", "functional"],
                format!("expected.functional {} is not a CTIA functional grade 0-9", e.functional),
                "write the outcome the standard plan's policy gives this phone (test-plans/README.md)",
            );
        }
        one_of(
            i,
            exp("disposition"),
            "expected.disposition",
            &e.disposition,
            &DISPOSITIONS,
        );
        for (n, part) in e.repair.iter().enumerate() {
            one_of(
                i,
                with(&["expected", "repair"], Seg::Index(n)),
                "expected.repair part",
                part,
                &REPAIR_PARTS,
            );
        }
        if let Some(m) = &e.marketplace {
            one_of(
                i,
                exp("marketplace"),
                "expected.marketplace",
                m,
                &MARKETPLACE_GRADES,
            );
        }
        if let Some(f) = &e.r2_functional {
            let ok = f == "controlled"
                || (f.len() == 2 && f.starts_with('F') && (b'1'..=b'6').contains(&f.as_bytes()[1]));
            if !ok {
                i.at(
                    &["expected", "r2_functional"],
                    format!("expected.r2_functional {f:?} is not an R2v3 functional category F1-F6 or \"controlled\""),
                    "write the category the standard plan's policy gives this phone (test-plans/README.md)",
                );
            }
        }
        if let Some(c) = &e.r2_cosmetic {
            let ok = c.len() == 2 && c.starts_with('C') && c.as_bytes()[1].is_ascii_digit();
            if !ok {
                i.at(
                    &["expected", "r2_cosmetic"],
                    format!("expected.r2_cosmetic {c:?} is not an R2v3 cosmetic category C0-C9"),
                    "write the category the standard plan's policy gives this phone (test-plans/README.md)",
                );
            }
        }
    }
    issues.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_check_digit_of_a_known_imei() {
        // 49015420323751 + check digit 8.
        assert_eq!(luhn_digit(b"49015420323751"), 8);
        assert_eq!(luhn_digit(b"35088672668927"), 4);
    }

    #[test]
    fn testable_packs_follow_the_protocol_ranges() {
        let (lo, hi) = testable_design_mah();
        assert_eq!(hi, *DCIR_MA.end());
        assert!(lo > 1 && lo < 20, "{lo}");
    }
}
