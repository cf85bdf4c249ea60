//! The CSV columns: one row per run, in this order, forever (new columns are only ever added at
//! the end). `export/README`-style documentation of each column lives in `COLUMNS` itself and is
//! printed into the README table by a test, so the two cannot drift.

use benchline_protocol::Procedure as P;

use super::view::View;

/// Column name and what it holds.
pub const COLUMNS: [(&str, &str); 47] = [
    (
        "seq",
        "record sequence number in the station's chain, from 1",
    ),
    ("record_hash", "SHA-256 chain hash of the record (hex)"),
    (
        "chain_head",
        "`SEQ:HASH` of the chain head the export was taken from",
    ),
    ("schema", "record schema version"),
    ("imei", "IMEI"),
    ("serial", "phone serial number"),
    ("model", "model code"),
    ("station", "station (host) name; empty for schema 1 records"),
    ("bench", "bench name; empty for schema 1 records"),
    ("jig_serial", "jig serial number"),
    ("jig_firmware", "jig firmware version"),
    ("jig_port", "serial port of the jig"),
    ("slot", "slot on the jig, from 0"),
    ("operator", "operator id"),
    ("started", "test start, RFC 3339 UTC"),
    ("finished", "test end, RFC 3339 UTC"),
    ("status", "`complete` or `incomplete`"),
    ("plan_id", "test plan id"),
    ("plan_version", "test plan version"),
    ("plan_hash", "SHA-256 of the plan file"),
    ("disposition", "resale, repair, parts, recycle or retest"),
    (
        "bin",
        "bin label the phone was sent to; empty before schema 3",
    ),
    ("repair", "parts to repair, `;`-separated"),
    ("cosmetic", "CTIA cosmetic grade A-E"),
    ("functional", "CTIA functional grade 0-9"),
    (
        "r2_functional",
        "R2v3 functional category F1-F6 (F6 best), or `controlled` (an R2 controlled stream); records graded under standard-refurb before 2.0.0 used an inverted scale (F1 best)",
    ),
    ("r2_cosmetic", "R2v3 cosmetic category C0-C9"),
    (
        "marketplace",
        "marketplace grade (Premium, Excellent, Good, Fair), resale only",
    ),
    ("reasons", "what decided the grade, `; `-separated"),
    ("answers", "operator answers, `prompt=choice` `;`-separated"),
    (
        "answered_by",
        "who gave each answer, `prompt=operator` `;`-separated; empty before schema 3",
    ),
    (
        "failed_steps",
        "steps that could not be measured, `;`-separated",
    ),
    (
        "retried_steps",
        "steps that needed more than one attempt, `;`-separated",
    ),
    (
        "battery_health_pct",
        "state of health, % (full charge / design capacity)",
    ),
    ("battery_cycles", "cycle count"),
    ("battery_full_mah", "full charge capacity, mAh"),
    ("battery_design_mah", "design capacity, mAh"),
    ("battery_temperature_k", "pack temperature, K"),
    (
        "battery_dcir_ohm",
        "DC internal resistance (IEC 61960), ohm; `inf` when the cell collapsed under the load (a dead cell)",
    ),
    ("port_cc1_v", "CC1 voltage at the sink, V"),
    ("port_cc2_v", "CC2 voltage at the sink, V"),
    (
        "port_pin_resistance_max_ohm",
        "worst pin resistance, ohm (`inf` = open circuit)",
    ),
    ("port_leakage_max_a", "worst leakage between pins, A"),
    ("port_charge_current_a", "charge current drawn, A"),
    ("screen_bad_touch_nodes", "touch nodes outside limits"),
    ("screen_backlight_current_a", "backlight current, A"),
    (
        "jig_simulated",
        "`true` when the jig said it is simulated (the host simulator: the phone and its measurements are not real), else `false`; `false` before schema 4",
    ),
];

fn num(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn joined<'s>(items: impl Iterator<Item = &'s str>, sep: &str) -> String {
    items.collect::<Vec<_>>().join(sep)
}

/// The row of one record, in [`COLUMNS`] order. Procedures are named by the protocol's table.
pub fn row(seq: u64, hash: &str, head: &str, v: &View<'_>) -> [String; COLUMNS.len()] {
    let g = &v.grade;
    let opt = |s: &Option<std::borrow::Cow<'_, str>>| s.as_deref().unwrap_or_default().to_string();
    [
        seq.to_string(),
        hash.to_string(),
        head.to_string(),
        v.schema.to_string(),
        v.phone.imei.to_string(),
        v.phone.serial.to_string(),
        v.phone.model.to_string(),
        opt(&v.station),
        opt(&v.bench),
        v.jig.serial.to_string(),
        v.jig.firmware.to_string(),
        v.jig.port.to_string(),
        v.slot.to_string(),
        v.operator.to_string(),
        v.started.to_string(),
        v.finished.to_string(),
        v.status.to_string(),
        v.plan.id.to_string(),
        v.plan.version.to_string(),
        v.plan.hash.to_string(),
        g.disposition.to_string(),
        opt(&v.bin),
        joined(g.repair.iter().map(AsRef::as_ref), ";"),
        opt(&g.cosmetic),
        g.functional.to_string(),
        g.r2_functional.to_string(),
        opt(&g.r2_cosmetic),
        opt(&g.marketplace),
        joined(g.reasons.iter().map(AsRef::as_ref), "; "),
        pairs(&v.answers),
        pairs(&v.answered_by),
        joined(
            v.steps
                .iter()
                .filter(|s| s.status == "failed")
                .map(|s| s.id.as_ref()),
            ";",
        ),
        joined(
            v.steps
                .iter()
                .filter(|s| s.attempts > 1)
                .map(|s| s.id.as_ref()),
            ";",
        ),
        num(v.value(P::BatteryGauge.name(), "state_of_health")),
        num(v.value(P::BatteryGauge.name(), "cycle_count")),
        num(v.value(P::BatteryGauge.name(), "full_charge_capacity")),
        num(v.value(P::BatteryGauge.name(), "design_capacity")),
        num(v.value(P::BatteryGauge.name(), "temperature")),
        num(v.value(P::BatteryDcir.name(), "resistance")),
        num(v.value(P::PortCc.name(), "cc1")),
        num(v.value(P::PortCc.name(), "cc2")),
        num(v.worst(P::PortContinuity.name(), ".resistance")),
        num(v.worst(P::PortContinuity.name(), ".leakage")),
        num(v.value(P::PortCharge.name(), "current")),
        num(v.value(P::ScreenTouch.name(), "bad_nodes")),
        num(v.value(P::ScreenBacklight.name(), "current")),
        v.jig.simulated.to_string(),
    ]
}

/// `key=value` pairs, `;`-separated.
fn pairs(
    map: &std::collections::BTreeMap<std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>>,
) -> String {
    map.iter()
        .map(|(k, a)| format!("{k}={a}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The column table as Markdown (for the README).
pub fn markdown() -> String {
    let mut out = String::from("| column | what it holds |\n|---|---|\n");
    for (name, what) in COLUMNS {
        out.push_str(&format!("| `{name}` | {what} |\n"));
    }
    out
}
