//! The CSV columns: one row per run, in this order, forever (new columns are only ever added at
//! the end). `export/README`-style documentation of each column lives in `COLUMNS` itself and is
//! printed into the README table by a test, so the two cannot drift.

use std::borrow::Cow;
use std::io::Write;

use benchline_protocol::Procedure as P;

use super::view::Outline;
use crate::store::Hash;

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
    ("station", "the station file's id, else the host's name; empty for schema 1 records"),
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

/// One CSV row being written into a buffer, field by field, by the `csv` crate (its defaults:
/// `,` between fields, `\n` after the row, a field quoted only when it needs it). Each field is
/// first made in a scratch buffer, so numbers and lists need no `String` of their own.
struct Cells<'o> {
    csv: csv::Writer<&'o mut Vec<u8>>,
    scratch: Vec<u8>,
}

impl<'o> Cells<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        Cells {
            csv: csv::WriterBuilder::new()
                .has_headers(false)
                .buffer_capacity(4096)
                .from_writer(out),
            scratch: Vec::with_capacity(256),
        }
    }

    /// Writes one field with `write`.
    fn field(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        self.scratch.clear();
        write(&mut self.scratch);
        // Writing into a Vec does not fail.
        let _ = self.csv.write_field(&self.scratch);
    }

    fn text(&mut self, s: &str) {
        self.field(|out| out.extend_from_slice(s.as_bytes()));
    }

    fn opt(&mut self, s: Option<&str>) {
        self.text(s.unwrap_or_default());
    }

    fn shown(&mut self, v: impl std::fmt::Display) {
        self.field(|out| {
            // Writing into a Vec does not fail.
            let _ = write!(out, "{v}");
        });
    }

    fn num(&mut self, v: Option<f64>) {
        match v {
            Some(v) => self.shown(v),
            None => self.text(""),
        }
    }

    fn joined<'s>(&mut self, items: impl Iterator<Item = &'s str>, sep: &str) {
        self.field(|out| {
            for (i, item) in items.enumerate() {
                if i > 0 {
                    out.extend_from_slice(sep.as_bytes());
                }
                out.extend_from_slice(item.as_bytes());
            }
        });
    }

    /// `key=value` pairs, `;`-separated.
    fn pairs(&mut self, map: &std::collections::BTreeMap<Cow<'_, str>, Cow<'_, str>>) {
        self.field(|out| {
            for (i, (k, a)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b';');
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                out.extend_from_slice(a.as_bytes());
            }
        });
    }

    fn end(mut self) {
        // Writing into a Vec does not fail; the row is in `out` once flushed.
        let _ = self.csv.write_record(None::<&[u8]>);
        let _ = self.csv.flush();
    }
}

/// Writes the header row (the column names) into `out`.
pub fn write_header(out: &mut Vec<u8>) {
    let mut cells = Cells::new(out);
    for (name, _) in COLUMNS {
        cells.text(name);
    }
    cells.end();
}

/// Writes the row of one record into `out`, in [`COLUMNS`] order, its line end included.
/// Procedures are named by the protocol's table.
pub fn write_row(out: &mut Vec<u8>, seq: u64, hash: &Hash, head: &str, v: &Outline<'_>) {
    let g = &v.grade;
    let mut c = Cells::new(out);
    c.shown(seq);
    c.field(|out| {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for b in hash {
            out.push(DIGITS[usize::from(b >> 4)]);
            out.push(DIGITS[usize::from(b & 15)]);
        }
    });
    c.text(head);
    c.shown(v.schema);
    c.text(&v.phone.imei);
    c.text(&v.phone.serial);
    c.text(&v.phone.model);
    c.opt(v.station.as_deref());
    c.opt(v.bench.as_deref());
    c.text(&v.jig.serial);
    c.text(&v.jig.firmware);
    c.text(&v.jig.port);
    c.shown(v.slot);
    c.text(&v.operator);
    c.text(&v.started);
    c.text(&v.finished);
    c.text(v.status);
    c.text(&v.plan.id);
    c.text(&v.plan.version);
    c.text(&v.plan.hash);
    c.text(g.disposition.as_str());
    c.opt(v.bin.as_deref());
    c.joined(g.repair.iter().map(AsRef::as_ref), ";");
    c.opt(g.cosmetic.as_deref());
    c.shown(g.functional);
    c.text(&g.r2_functional);
    c.opt(g.r2_cosmetic.as_deref());
    c.opt(g.marketplace.as_deref());
    c.joined(g.reasons.iter().map(AsRef::as_ref), "; ");
    c.pairs(&v.answers);
    c.pairs(&v.answered_by);
    c.joined(
        v.steps
            .iter()
            .filter(|s| s.status == "failed")
            .map(|s| s.id.as_ref()),
        ";",
    );
    c.joined(
        v.steps
            .iter()
            .filter(|s| s.attempts > 1)
            .map(|s| s.id.as_ref()),
        ";",
    );
    c.num(v.value(P::BatteryGauge.name(), "state_of_health"));
    c.num(v.value(P::BatteryGauge.name(), "cycle_count"));
    c.num(v.value(P::BatteryGauge.name(), "full_charge_capacity"));
    c.num(v.value(P::BatteryGauge.name(), "design_capacity"));
    c.num(v.value(P::BatteryGauge.name(), "temperature"));
    c.num(v.value(P::BatteryDcir.name(), "resistance"));
    c.num(v.value(P::PortCc.name(), "cc1"));
    c.num(v.value(P::PortCc.name(), "cc2"));
    c.num(v.worst(P::PortContinuity.name(), ".resistance"));
    c.num(v.worst(P::PortContinuity.name(), ".leakage"));
    c.num(v.value(P::PortCharge.name(), "current"));
    c.num(v.value(P::ScreenTouch.name(), "bad_nodes"));
    c.num(v.value(P::ScreenBacklight.name(), "current"));
    c.shown(v.jig.simulated);
    c.end();
}

/// The column table as Markdown (for the README).
pub fn markdown() -> String {
    let mut out = String::from("| column | what it holds |\n|---|---|\n");
    for (name, what) in COLUMNS {
        out.push_str(&format!("| `{name}` | {what} |\n"));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_written_as_the_csv_crate_writes_them() {
        let fields = [
            "plain",
            "",
            "a,b",
            "say \"hi\"",
            "\"",
            "line\nbreak",
            "cr\rhere",
            "semi;colon",
            "ünïcode",
            " spaced ",
            "'quote'",
            "#hash",
        ];
        let mut mine = Vec::new();
        let mut cells = Cells::new(&mut mine);
        for f in fields {
            cells.text(f);
        }
        cells.end();
        let mut theirs = csv::Writer::from_writer(Vec::new());
        theirs.write_record(fields).unwrap();
        assert_eq!(
            String::from_utf8(mine).unwrap(),
            String::from_utf8(theirs.into_inner().unwrap()).unwrap()
        );
    }

    #[test]
    fn a_row_has_every_column_and_reads_back() {
        let body = br#"{"schema":4,"phone":{"imei":"350000000000001","model":"PX7","serial":"S,1"},"station":"st","bench":"b","jig":{"port":"/dev/ttyACM0","serial":"J1","firmware":"1.0.0","simulated":true},"slot":2,"operator":"al\"ice","started":"2026-11-23T10:00:00Z","finished":"2026-11-23T10:01:00Z","status":"complete","plan":{"id":"standard","version":"1","hash":"00"},"steps":[{"id":"gauge","procedure":"battery.gauge","status":"measured","attempts":2,"measurements":[{"name":"state_of_health","unit":"%","value":86.5,"min":80.0,"verdict":"pass"},{"name":"cycle_count","value":309.0}]},{"id":"continuity","procedure":"port.continuity","status":"failed","attempts":1,"errors":["x"],"measurements":[{"name":"vbus.resistance","value":0.1},{"name":"gnd.resistance","value":"open"},{"name":"vbus.leakage","value":1e-7}]}],"answers":{"cosmetic":"B","lock":"no, really"},"answered_by":{"cosmetic":"al"},"bin":"R","grade":{"cosmetic":"B","functional":3,"r2_functional":"F4","disposition":"repair","repair":["battery","port"],"reasons":["one; two","three"]}}"#;
        let v = Outline::parse(body).unwrap();
        let mut out = Vec::new();
        write_row(&mut out, 7, &[0xab; 32], "7:ff", &v);
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(out.as_slice());
        let row = r.records().next().unwrap().unwrap();
        assert_eq!(row.len(), COLUMNS.len());
        let col = |name: &str| {
            let i = COLUMNS.iter().position(|(n, _)| *n == name).unwrap();
            row[i].to_string()
        };
        assert_eq!(col("seq"), "7");
        assert_eq!(col("record_hash"), "ab".repeat(32));
        assert_eq!(col("serial"), "S,1");
        assert_eq!(col("operator"), "al\"ice");
        assert_eq!(col("repair"), "battery;port");
        assert_eq!(col("reasons"), "one; two; three");
        assert_eq!(col("answers"), "cosmetic=B;lock=no, really");
        assert_eq!(col("failed_steps"), "continuity");
        assert_eq!(col("retried_steps"), "gauge");
        assert_eq!(col("battery_health_pct"), "86.5");
        assert_eq!(col("battery_cycles"), "309");
        assert_eq!(col("battery_full_mah"), "");
        assert_eq!(col("port_pin_resistance_max_ohm"), "inf");
        assert_eq!(col("port_leakage_max_a"), "0.0000001");
        assert_eq!(col("jig_simulated"), "true");
        let mut header = Vec::new();
        write_header(&mut header);
        assert!(header.starts_with(b"seq,record_hash,chain_head,"));
        assert!(header.ends_with(b",jig_simulated\n"));
    }
}
