//! Keeps `README.md` true: the constants, the variant tables, the channel, range and duration
//! tables and the worked example frames it shows are checked here against the code, byte for
//! byte. (The behaviour of section 9 is checked against the firmware in `firmware/sim/tests`.)
//!
//! When a message layout changes on purpose, run
//! `cargo run -p benchline-protocol --example wire_examples` and update the README and the
//! expected bytes below together.

use benchline_protocol::{
    decode_frame, duration, frame::crc32, range, schema_hash, Channel, Event, Hello, Instrument,
    JigError, JigKind, JigMsg, LogLevel, Packet, PhoneState, PortPin, Reply, Request, RpLevel,
    Sample, KEPT_REPLIES, MAX_ENCODED_FRAME, MAX_FRAME_PAYLOAD, MAX_INSTRUMENTS, MAX_TEXT,
    MAX_TOUCH_COLS, PROTOCOL_VERSION,
};
use serde::{de::DeserializeOwned, Serialize};

mod common {
    pub mod worked;
}
use common::worked::{dcir_progress, hello_reply, hex, port_progress, released_status, stages};

const README: &str = include_str!("../README.md");

/// The schema hash published in the README. Changing any message layout changes it; the README
/// (constants table, handshake section, example (c)) must then be updated with it.
const SCHEMA_HASH: u64 = 0x9202_2259_CC4E_E194;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn readme_has(needle: &str) -> TestResult {
    if README.contains(needle) {
        Ok(())
    } else {
        Err(format!("README.md does not contain {needle:?}").into())
    }
}

/// The stages of one worked example, as the README shows them.
struct Expected {
    postcard: &'static str,
    crc: u32,
    cobs: &'static str,
    frame: &'static str,
}

fn check_example<T>(packet: &Packet<T>, expected: &Expected) -> TestResult
where
    T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug,
{
    let got = stages(packet)?;
    assert_eq!(
        hex(&got.postcard),
        expected.postcard,
        "postcard bytes of {packet:?}"
    );
    assert_eq!(got.crc, expected.crc, "CRC of {packet:?}");
    assert_eq!(hex(&got.cobs), expected.cobs, "COBS of {packet:?}");
    assert_eq!(hex(&got.frame), expected.frame, "frame of {packet:?}");
    assert_eq!(&decode_frame::<T>(&got.frame)?, packet);

    readme_has(&format!("postcard  {}", expected.postcard))?;
    readme_has(&format!(
        "crc32     0x{:08X} -> little-endian {}",
        expected.crc,
        hex(&got.crc.to_le_bytes())
    ))?;
    readme_has(&format!("frame     {}", expected.frame))?;
    Ok(())
}

#[test]
fn constants_match_readme() -> TestResult {
    assert_eq!(PROTOCOL_VERSION, 5);
    assert_eq!(
        schema_hash(),
        SCHEMA_HASH,
        "the schema hash changed: a message layout changed. Bump PROTOCOL_VERSION if an existing \
         message changed, then update README.md and SCHEMA_HASH"
    );
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    readme_has("check value, CRC of ASCII `\"123456789\"` | `0xCBF43926`")?;
    for (name, value) in [
        ("PROTOCOL_VERSION", u64::from(PROTOCOL_VERSION)),
        ("MAX_FRAME_PAYLOAD", MAX_FRAME_PAYLOAD as u64),
        ("MAX_ENCODED_FRAME", MAX_ENCODED_FRAME as u64),
        ("MAX_TEXT", MAX_TEXT as u64),
        ("MAX_TOUCH_COLS", MAX_TOUCH_COLS as u64),
        ("MAX_INSTRUMENTS", MAX_INSTRUMENTS as u64),
        ("KEPT_REPLIES", KEPT_REPLIES as u64),
        ("CONTENTION_MS", duration::CONTENTION_MS.into()),
        ("PROGRESS_MIN_MS", duration::PROGRESS_MIN_MS.into()),
        ("PROGRESS_STEP_PCT", duration::PROGRESS_STEP_PCT.into()),
        (
            "DCIR_SAMPLES_PER_STEP",
            duration::DCIR_SAMPLES_PER_STEP.into(),
        ),
        (
            "DCIR_SAMPLE_SETTLE_MS",
            duration::DCIR_SAMPLE_SETTLE_MS.into(),
        ),
        ("DCIR_CUTOFF_MV", range::DCIR_CUTOFF_MV.into()),
        ("DCIR_HELD_MV", range::DCIR_HELD_MV.into()),
    ] {
        readme_has(&format!("| `{name}` | `{value}` |"))?;
    }
    readme_has(&format!("`KEPT_REPLIES` (**{KEPT_REPLIES}**)"))?;
    readme_has(&format!(
        "`CONTENTION_MS` (**{}** ms)",
        duration::CONTENTION_MS
    ))?;
    readme_has(&format!(
        "`PROGRESS_MIN_MS` (**{}** ms)",
        duration::PROGRESS_MIN_MS
    ))?;
    readme_has(&format!(
        "`PROGRESS_STEP_PCT` (**{}**)",
        duration::PROGRESS_STEP_PCT
    ))?;
    readme_has(&format!(
        "`DCIR_SAMPLES_PER_STEP` (**{}**)",
        duration::DCIR_SAMPLES_PER_STEP
    ))?;
    readme_has(&format!(
        "`DCIR_SAMPLE_SETTLE_MS` (**{}** ms)",
        duration::DCIR_SAMPLE_SETTLE_MS
    ))?;
    readme_has(&format!("`PROTOCOL_VERSION` (**{PROTOCOL_VERSION}**)"))?;
    readme_has(&format!(
        "`DCIR_CUTOFF_MV`, **{}** mV",
        range::DCIR_CUTOFF_MV
    ))?;
    readme_has(&format!("`DCIR_HELD_MV` (**{}** mV)", range::DCIR_HELD_MV))?;
    readme_has(&format!("| `schema_hash()` | `0x{:016X}` |", schema_hash()))?;
    readme_has(&format!("its own **`0x{:016X}`**", schema_hash()))?;
    readme_has(&format!("`MAX_FRAME_PAYLOAD` = **{MAX_FRAME_PAYLOAD}**"))?;
    readme_has(&format!("`MAX_ENCODED_FRAME` = **{MAX_ENCODED_FRAME}**"))?;
    Ok(())
}

#[test]
fn example_a_battery_gauge_request() -> TestResult {
    check_example(
        &Packet {
            seq: 7,
            msg: Request::BatteryGauge { slot: 0 },
        },
        &Expected {
            postcard: "07 04 00",
            crc: 0x9E62_0A93,
            cobs: "03 07 04 05 93 0A 62 9E",
            frame: "03 07 04 05 93 0A 62 9E 00",
        },
    )?;
    readme_has("cobs      03 07 04 05 93 0A 62 9E\n")
}

#[test]
fn example_b_pong_reply() -> TestResult {
    check_example(
        &Packet {
            seq: 7,
            msg: JigMsg::Reply(Reply::Pong { nonce: 0xDEAD_BEEF }),
        },
        &Expected {
            postcard: "07 00 01 EF FD B6 F5 0D",
            crc: 0xAC9A_7046,
            cobs: "02 07 0B 01 EF FD B6 F5 0D 46 70 9A AC",
            frame: "02 07 0B 01 EF FD B6 F5 0D 46 70 9A AC 00",
        },
    )?;
    readme_has("cobs      02 07 0B 01 EF FD B6 F5 0D 46 70 9A AC\n")
}

#[test]
fn example_c_handshake() -> TestResult {
    check_example(
        &Packet {
            seq: 0,
            msg: Request::Hello,
        },
        &Expected {
            postcard: "00 00",
            crc: 0x41D9_12FF,
            cobs: "01 01 05 FF 12 D9 41",
            frame: "01 01 05 FF 12 D9 41 00",
        },
    )?;

    check_example(
        &hello_reply()?,
        &Expected {
            postcard:
                "00 00 00 05 94 C3 BB E2 9C CB 88 81 92 01 05 30 2E 31 2E 30 00 07 42 4C 2D 30 \
                       30 30 31 04 02 00 01 F8 AC D1 91 01 00",
            crc: 0xD7D0_6F4D,
            cobs: "01 01 01 12 05 94 C3 BB E2 9C CB 88 81 92 01 05 30 2E 31 2E 30 0B 07 42 4C 2D \
                   30 30 30 31 04 02 07 01 F8 AC D1 91 01 05 4D 6F D0 D7",
            frame: "01 01 01 12 05 94 C3 BB E2 9C CB 88 81 92 01 05 30 2E 31 2E 30 0B 07 42 4C \
                    2D 30 30 30 31 04 02 07 01 F8 AC D1 91 01 05 4D 6F D0 D7 00",
        },
    )?;
    readme_has(&format!(
        "94 C3 BB E2 9C CB 88 81 92 01 schema_hash = 0x{:016X} (varint, 10 bytes)",
        schema_hash()
    ))?;
    readme_has(&format!(
        "          {PROTOCOL_VERSION:02X}                            protocol_version = \
         {PROTOCOL_VERSION}"
    ))?;

    check_example(
        &Packet {
            seq: 0,
            msg: JigMsg::Event(Event::Booted {
                boot_id: 0x1234_5678,
            }),
        },
        &Expected {
            postcard: "00 01 00 F8 AC D1 91 01",
            crc: 0x2FBA_BD36,
            cobs: "01 02 01 0A F8 AC D1 91 01 36 BD BA 2F",
            frame: "01 02 01 0A F8 AC D1 91 01 36 BD BA 2F 00",
        },
    )
}

#[test]
fn example_d_resend_pending_and_released() -> TestResult {
    check_example(
        &Packet {
            seq: 8,
            msg: Request::Resend { seq: 7 },
        },
        &Expected {
            postcard: "08 0E 07",
            crc: 0xF1B5_3087,
            cobs: "08 08 0E 07 87 30 B5 F1",
            frame: "08 08 0E 07 87 30 B5 F1 00",
        },
    )?;
    check_example(
        &Packet {
            seq: 8,
            msg: JigMsg::Reply(Reply::Pending { remaining_ms: 8050 }),
        },
        &Expected {
            postcard: "08 00 0E F2 3E",
            crc: 0x1B27_0F42,
            cobs: "02 08 08 0E F2 3E 42 0F 27 1B",
            frame: "02 08 08 0E F2 3E 42 0F 27 1B 00",
        },
    )?;
    check_example(
        &released_status(),
        &Expected {
            postcard: "09 00 02 02 00",
            crc: 0xFA80_2380,
            cobs: "02 09 03 02 02 05 80 23 80 FA",
            frame: "02 09 03 02 02 05 80 23 80 FA 00",
        },
    )
}

#[test]
fn example_e_progress_with_and_without_a_sample() -> TestResult {
    check_example(
        &dcir_progress(),
        &Expected {
            postcard: "0C 01 03 00 00 5A 01 8A 50 00 00 70 40 00 00 80 40",
            crc: 0x69DB_5B44,
            cobs: "04 0C 01 03 01 05 5A 01 8A 50 01 03 70 40 01 07 80 40 44 5B DB 69",
            frame: "04 0C 01 03 01 05 5A 01 8A 50 01 03 70 40 01 07 80 40 44 5B DB 69 00",
        },
    )?;
    readme_has("cobs      04 0C 01 03 01 05 5A 01 8A 50 01 03 70 40 01 07 80 40 44 5B DB 69\n")?;
    // The annotated encoding of the sample: Option tag, varint, two little-endian floats.
    readme_has("          01        sample: Option tag 01 = Some, a Sample follows\n")?;
    readme_has("          8A 50     t_ms = 10250 (varint)\n")?;
    readme_has(&format!(
        "          {}   voltage_v = 3.75 (f32 0x{:08X}, little-endian)\n",
        hex(&3.75f32.to_le_bytes()),
        3.75f32.to_bits()
    ))?;
    readme_has(&format!(
        "          {}   current_a = 4.0 (f32 0x{:08X}, little-endian)\n",
        hex(&4.0f32.to_le_bytes()),
        4.0f32.to_bits()
    ))?;
    check_example(
        &port_progress(),
        &Expected {
            postcard: "0D 01 03 01 01 28 00",
            crc: 0x9464_B433,
            cobs: "07 0D 01 03 01 01 28 05 33 B4 64 94",
            frame: "07 0D 01 03 01 01 28 05 33 B4 64 94 00",
        },
    )?;
    readme_has("          00        sample: Option tag 00 = None, nothing follows\n")
}

/// The README text under the heading that starts with `heading`, up to the next heading.
fn section(heading: &str) -> Result<&'static str, String> {
    let start = README
        .find(&format!("\n{heading}"))
        .ok_or_else(|| format!("README.md has no heading {heading:?}"))?
        + 1;
    let body_start = start + README[start..].find('\n').unwrap_or(0);
    let end = README[body_start..]
        .find("\n#")
        .map_or(README.len(), |i| body_start + i);
    Ok(&README[body_start..end])
}

/// The table row of `name` at `index` in the section under `heading`.
fn row(heading: &str, index: usize, name: &str) -> Result<&'static str, String> {
    let prefix = format!("| {index} | `{name}` |");
    section(heading)?
        .lines()
        .find(|line| line.starts_with(&prefix))
        .ok_or_else(|| format!("README.md, {heading:?}: no row {prefix:?}"))
}

/// Checks that each value encodes with the variant index of its position, and that the README
/// table under `heading` has that index and name, and no other rows.
fn check_table<T: Serialize + core::fmt::Debug>(
    heading: &str,
    variants: &[(&str, T)],
) -> TestResult {
    for (index, (name, value)) in variants.iter().enumerate() {
        let bytes = postcard::to_allocvec(value)?;
        assert_eq!(
            bytes.first().copied(),
            Some(u8::try_from(index)?),
            "{value:?} should have variant index {index}"
        );
        assert!(
            format!("{value:?}").starts_with(name),
            "{value:?} is not variant {name}"
        );
        row(heading, index, name)?;
    }
    let rows = section(heading)?
        .lines()
        .filter(|line| {
            line.starts_with("| ") && line[2..].starts_with(|c: char| c.is_ascii_digit())
        })
        .count();
    assert_eq!(rows, variants.len(), "README.md, {heading:?}: row count");
    Ok(())
}

#[test]
fn request_table_matches_code() -> TestResult {
    let channel = Channel::Battery;
    let requests = [
        ("Hello", Request::Hello),
        ("Ping", Request::Ping { nonce: 0 }),
        ("SlotStatus", Request::SlotStatus { slot: 0 }),
        ("Identify", Request::Identify { slot: 0 }),
        ("BatteryGauge", Request::BatteryGauge { slot: 0 }),
        (
            "BatteryDcir",
            Request::BatteryDcir {
                slot: 0,
                low_ma: 0,
                low_ms: 0,
                high_ma: 0,
                high_ms: 0,
            },
        ),
        ("PortCc", Request::PortCc { slot: 0 }),
        ("PortContinuity", Request::PortContinuity { slot: 0 }),
        (
            "PortCharge",
            Request::PortCharge {
                slot: 0,
                settle_ms: 0,
            },
        ),
        ("ScreenTouch", Request::ScreenTouch { slot: 0 }),
        ("TouchRow", Request::TouchRow { slot: 0, row: 0 }),
        (
            "ScreenBacklight",
            Request::ScreenBacklight {
                slot: 0,
                settle_ms: 0,
            },
        ),
        ("Abort", Request::Abort { slot: 0, channel }),
        ("Release", Request::Release { slot: 0 }),
        ("Resend", Request::Resend { seq: 0 }),
    ];
    let heading = "### `Request`";
    check_table(heading, &requests)?;
    for (index, (name, request)) in requests.iter().enumerate() {
        let line = row(heading, index, name)?;
        let idempotent = if request.is_idempotent() {
            "| yes |"
        } else {
            "| no |"
        };
        assert!(
            line.contains(idempotent),
            "{name}: idempotency column, want {idempotent}"
        );
        let procedure = format!("| `{}` |", request.procedure());
        assert!(
            line.contains(&procedure),
            "{name}: procedure column, want {procedure}"
        );
    }
    // The list the host checks fault specs against names every request, in order.
    let names: Vec<&str> = requests.iter().map(|(_, r)| r.procedure()).collect();
    assert_eq!(names, Request::PROCEDURES);

    // Section 9.2: the procedure-to-channel table, one row per request and no other.
    let channels = section("### 9.2 ")?;
    for (name, request) in &requests {
        let channel = request
            .channel()
            .map_or("none".to_string(), |c| format!("`{}`", c.as_str()));
        let want = format!("| `{name}` | `{}` | {channel} |", request.procedure());
        assert!(
            channels.lines().any(|l| l == want),
            "README.md section 9.2 has no row {want:?}"
        );
    }
    let rows = channels.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(rows, requests.len(), "README.md section 9.2: row count");
    Ok(())
}

#[test]
fn parameter_ranges_match_readme() -> TestResult {
    let table = section("### 9.3 ")?;
    let ranges: [(&str, u64, u64); 5] = [
        (
            "DCIR_MA",
            (*range::DCIR_MA.start()).into(),
            (*range::DCIR_MA.end()).into(),
        ),
        (
            "DCIR_LOW_MS",
            (*range::DCIR_LOW_MS.start()).into(),
            (*range::DCIR_LOW_MS.end()).into(),
        ),
        (
            "DCIR_HIGH_MS",
            (*range::DCIR_HIGH_MS.start()).into(),
            (*range::DCIR_HIGH_MS.end()).into(),
        ),
        (
            "CHARGE_SETTLE_MS",
            (*range::CHARGE_SETTLE_MS.start()).into(),
            (*range::CHARGE_SETTLE_MS.end()).into(),
        ),
        (
            "BACKLIGHT_SETTLE_MS",
            (*range::BACKLIGHT_SETTLE_MS.start()).into(),
            (*range::BACKLIGHT_SETTLE_MS.end()).into(),
        ),
    ];
    for (name, min, max) in ranges {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .ok_or_else(|| format!("README.md section 9.3 has no row for {name}"))?;
        assert!(
            line.contains(&format!("| {min} | {max} |")),
            "README.md section 9.3, {name}: want {min}..={max} in {line:?}"
        );
    }
    let rows = table.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(rows, ranges.len(), "README.md section 9.3: row count");
    readme_has(&format!(
        "a step of at least `DCIR_MIN_STEP_MA` (**{}** mA)",
        range::DCIR_MIN_STEP_MA
    ))?;
    Ok(())
}

#[test]
fn durations_match_readme() -> TestResult {
    let table = section("### 9.7 ")?;
    let row = |start: &str| -> Result<&str, String> {
        table
            .lines()
            .find(|l| l.starts_with(start))
            .ok_or_else(|| format!("README.md section 9.7 has no row {start:?}"))
    };
    let state = [
        Request::Hello,
        Request::Ping { nonce: 0 },
        Request::SlotStatus { slot: 0 },
        Request::Abort {
            slot: 0,
            channel: Channel::Port,
        },
        Request::Release { slot: 0 },
        Request::Resend { seq: 0 },
    ];
    for r in &state {
        assert_eq!(r.nominal_ms(), duration::STATE_MS, "{r:?}");
    }
    row(&format!(
        "| `Hello`, `Ping`, `SlotStatus`, `Abort`, `Release`, `Resend` | {} |",
        duration::STATE_MS
    ))?;
    for (name, request) in [
        ("Identify", Request::Identify { slot: 0 }),
        ("BatteryGauge", Request::BatteryGauge { slot: 0 }),
        ("PortCc", Request::PortCc { slot: 0 }),
        ("PortContinuity", Request::PortContinuity { slot: 0 }),
        ("ScreenTouch", Request::ScreenTouch { slot: 0 }),
        ("TouchRow", Request::TouchRow { slot: 0, row: 0 }),
    ] {
        row(&format!("| `{name}` | {} |", request.nominal_ms()))?;
    }
    let dcir = Request::BatteryDcir {
        slot: 0,
        low_ma: 800,
        low_ms: 10_000,
        high_ma: 4000,
        high_ms: 1_000,
    };
    assert_eq!(dcir.nominal_ms(), 11_000 + duration::DCIR_OVERHEAD_MS);
    row(&format!(
        "| `BatteryDcir` | `low_ms + high_ms + {}` |",
        duration::DCIR_OVERHEAD_MS
    ))?;
    for (name, request) in [
        (
            "PortCharge",
            Request::PortCharge {
                slot: 0,
                settle_ms: 1_000,
            },
        ),
        (
            "ScreenBacklight",
            Request::ScreenBacklight {
                slot: 0,
                settle_ms: 1_000,
            },
        ),
    ] {
        assert_eq!(
            request.nominal_ms(),
            1_000 + duration::SETTLE_OVERHEAD_MS,
            "{name}"
        );
        row(&format!(
            "| `{name}` | `settle_ms + {}` |",
            duration::SETTLE_OVERHEAD_MS
        ))?;
    }
    let rows = table.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(rows, 10, "README.md section 9.7: row count");
    Ok(())
}

#[test]
fn jig_msg_tables_match_code() -> TestResult {
    check_table(
        "### `JigMsg`",
        &[
            ("Reply", JigMsg::Reply(Reply::Done)),
            ("Event", JigMsg::Event(Event::PhoneInserted { slot: 0 })),
        ],
    )?;
    let hello = Hello {
        protocol_version: 0,
        schema_hash: 0,
        firmware_version: heapless::String::new(),
        jig_kind: JigKind::Combo,
        jig_serial: heapless::String::new(),
        slots: 0,
        instruments: heapless::Vec::new(),
        boot_id: 0,
        simulated: false,
    };
    let (f, u) = (0.0f32, heapless::Vec::new());
    check_table(
        "### `Reply`",
        &[
            ("Hello", Reply::Hello(hello)),
            ("Pong", Reply::Pong { nonce: 0 }),
            (
                "Slot",
                Reply::Slot(benchline_protocol::SlotStatus {
                    phone: PhoneState::Empty,
                    busy: heapless::Vec::new(),
                }),
            ),
            (
                "Identity",
                Reply::Identity(benchline_protocol::Identity {
                    model: heapless::String::new(),
                    imei: heapless::String::new(),
                    serial: heapless::String::new(),
                }),
            ),
            (
                "Gauge",
                Reply::Gauge(benchline_protocol::Gauge {
                    voltage_v: f,
                    current_a: f,
                    temperature_k: f,
                    state_of_charge_pct: 0,
                    remaining_mah: 0,
                    full_charge_mah: 0,
                    design_mah: 0,
                    cycle_count: 0,
                    serial: 0,
                    manufacturer: heapless::String::new(),
                    device: heapless::String::new(),
                }),
            ),
            (
                "Dcir",
                Reply::Dcir(benchline_protocol::Dcir {
                    v1_v: f,
                    i1_a: f,
                    v2_v: f,
                    i2_a: f,
                    resistance_ohm: f,
                    collapsed: false,
                    v_min_v: f,
                }),
            ),
            (
                "Cc",
                Reply::Cc(benchline_protocol::Cc {
                    rp: RpLevel::Default,
                    cc1_v: f,
                    cc2_v: f,
                }),
            ),
            (
                "Continuity",
                Reply::Continuity(benchline_protocol::Continuity {
                    pins: heapless::Vec::new(),
                }),
            ),
            (
                "Charge",
                Reply::Charge(benchline_protocol::Charge {
                    vbus_v: f,
                    current_a: f,
                }),
            ),
            (
                "TouchScan",
                Reply::TouchScan(benchline_protocol::TouchScan { rows: 0, cols: 0 }),
            ),
            (
                "TouchRow",
                Reply::TouchRow(benchline_protocol::TouchRow { row: 0, raw: u }),
            ),
            (
                "Backlight",
                Reply::Backlight(benchline_protocol::Backlight {
                    voltage_v: f,
                    current_a: f,
                }),
            ),
            ("Done", Reply::Done),
            ("Error", Reply::Error(JigError::Aborted)),
            ("Pending", Reply::Pending { remaining_ms: 0 }),
        ],
    )?;
    check_table(
        "### `Event`",
        &[
            ("Booted", Event::Booted { boot_id: 0 }),
            ("PhoneInserted", Event::PhoneInserted { slot: 0 }),
            ("PhoneRemoved", Event::PhoneRemoved { slot: 0 }),
            (
                "Progress",
                Event::Progress {
                    slot: 0,
                    channel: Channel::Battery,
                    percent: 0,
                    sample: None,
                },
            ),
            (
                "Log",
                Event::Log {
                    level: LogLevel::Info,
                    text: heapless::String::new(),
                },
            ),
        ],
    )
}

#[test]
fn sample_table_matches_code() -> TestResult {
    let events = section("### `Event`")?;
    assert!(
        events.lines().any(|l| l.starts_with("| 3 | `Progress` |")
            && l.ends_with("`sample: Option<Sample>` (section 9.8) |")),
        "README.md: the Progress row names its sample field last"
    );
    // The fields in declaration order: a varint, then two little-endian floats.
    for row in [
        "| `t_ms` | `u32` | varint, 1–5 bytes |",
        "| `voltage_v` | `f32` | 4 bytes, IEEE 754 little-endian |",
        "| `current_a` | `f32` | 4 bytes, IEEE 754 little-endian |",
    ] {
        assert!(
            events.lines().any(|l| l.starts_with(row)),
            "README.md: no Sample row {row:?}"
        );
    }
    let some = Some(Sample {
        t_ms: 300,
        voltage_v: 1.0,
        current_a: -0.0,
    });
    assert_eq!(
        hex(&postcard::to_allocvec(&some)?),
        "01 AC 02 00 00 80 3F 00 00 00 80"
    );
    assert_eq!(hex(&postcard::to_allocvec(&None::<Sample>)?), "00");
    // Any other tag byte is an error.
    assert!(postcard::from_bytes::<Option<Sample>>(&[0x02]).is_err());
    Ok(())
}

#[test]
fn small_enum_tables_match_code() -> TestResult {
    check_table(
        "### `JigError`",
        &[
            ("Busy", JigError::Busy(Channel::Battery)),
            ("BadRequest", JigError::BadRequest),
            ("Unsupported", JigError::Unsupported),
            ("NoPhone", JigError::NoPhone),
            ("HardwareFault", JigError::HardwareFault(Instrument::Gauge)),
            ("Aborted", JigError::Aborted),
            ("NoScan", JigError::NoScan),
            ("UnknownSeq", JigError::UnknownSeq),
        ],
    )?;
    check_table(
        "#### `PhoneState`",
        &[
            ("Empty", PhoneState::Empty),
            ("Seated", PhoneState::Seated),
            ("Released", PhoneState::Released),
        ],
    )?;
    check_table(
        "#### `Channel`",
        &[
            ("Battery", Channel::Battery),
            ("Port", Channel::Port),
            ("Screen", Channel::Screen),
        ],
    )?;
    check_table(
        "#### `Instrument`",
        &[
            ("SlotMux", Instrument::SlotMux),
            ("Gauge", Instrument::Gauge),
            ("PowerMonitor", Instrument::PowerMonitor),
            ("Load", Instrument::Load),
            ("CcFrontEnd", Instrument::CcFrontEnd),
            ("Continuity", Instrument::Continuity),
            ("TouchIc", Instrument::TouchIc),
            ("DiagEeprom", Instrument::DiagEeprom),
        ],
    )?;
    check_table(
        "#### `JigKind`",
        &[
            ("Combo", JigKind::Combo),
            ("Battery", JigKind::Battery),
            ("Port", JigKind::Port),
            ("Screen", JigKind::Screen),
        ],
    )?;
    check_table(
        "#### `RpLevel`",
        &[
            ("Default", RpLevel::Default),
            ("Current1A5", RpLevel::Current1A5),
            ("Current3A0", RpLevel::Current3A0),
        ],
    )?;
    check_table(
        "#### `PortPin`",
        &[
            ("Vbus", PortPin::Vbus),
            ("Gnd", PortPin::Gnd),
            ("DPlus", PortPin::DPlus),
            ("DMinus", PortPin::DMinus),
            ("Cc1", PortPin::Cc1),
            ("Cc2", PortPin::Cc2),
            ("Sbu1", PortPin::Sbu1),
            ("Sbu2", PortPin::Sbu2),
        ],
    )?;
    check_table(
        "#### `LogLevel`",
        &[
            ("Error", LogLevel::Error),
            ("Warn", LogLevel::Warn),
            ("Info", LogLevel::Info),
        ],
    )
}

#[test]
fn dcir_reply_fields_match_readme() -> TestResult {
    // The fields in declaration order, and the encoding section 9.12 shows for a collapse.
    readme_has(
        "| `Dcir` | `v1_v: f32`, `i1_a: f32`, `v2_v: f32`, `i2_a: f32`, `resistance_ohm: f32`",
    )?;
    readme_has(
        "`collapsed: bool` (the battery could not hold a load step, section 9.12), `v_min_v: f32`",
    )?;
    let collapsed = benchline_protocol::Dcir {
        v1_v: 3.5,
        i1_a: 1.0,
        v2_v: 0.0,
        i2_a: 0.0,
        resistance_ohm: f32::INFINITY,
        collapsed: true,
        v_min_v: 0.0,
    };
    let bytes = postcard::to_allocvec(&collapsed)?;
    assert_eq!(
        hex(&bytes),
        "00 00 60 40 00 00 80 3F 00 00 00 00 00 00 00 00 00 00 80 7F 01 00 00 00 00"
    );
    readme_has(&format!(
        "`resistance_ohm = +inf` (`{}`)",
        hex(&f32::INFINITY.to_le_bytes())
    ))?;
    readme_has("`collapsed = true` (byte `01`)")?;
    readme_has("`collapsed = false` (byte `00`)")
}
