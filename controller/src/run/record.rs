//! The record of one tested phone, printed as one JSON line.

use serde::Serialize;
use serde_json::Value;

pub use crate::link::LinkCounters;

/// One measured quantity.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Measurement {
    /// Name within the step, e.g. `state_of_health`.
    pub name: String,
    /// Number, text, `"open"` for an open circuit, or an array of raw values.
    pub value: Value,
    /// SI unit or count (`V`, `A`, `ohm`, `K`, `mAh`, `%`, `count`, `text`).
    pub unit: &'static str,
    /// Lower limit from the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper limit from the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Verdict against the limits, when the plan limits this measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<crate::grade::Verdict>,
}

impl Measurement {
    /// A numeric measurement.
    pub fn num(name: &str, value: f64, unit: &'static str) -> Self {
        let value = if value.is_finite() {
            serde_json::json!(round6(value))
        } else {
            Value::String("open".into())
        };
        Measurement {
            name: name.into(),
            value,
            unit,
            min: None,
            max: None,
            verdict: None,
        }
    }

    /// The value as a number (`open` is infinite), if it is one.
    pub fn number(&self) -> Option<f64> {
        match &self.value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s == "open" => Some(f64::INFINITY),
            _ => None,
        }
    }

    /// A text measurement.
    pub fn text(name: &str, value: &str) -> Self {
        Measurement {
            name: name.into(),
            value: Value::String(value.into()),
            unit: "text",
            min: None,
            max: None,
            verdict: None,
        }
    }
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Outcome of a step.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Measured.
    Measured,
    /// Could not be measured; see `errors`.
    Failed,
    /// Not run: the plan does not apply it to this phone, or an earlier step failed its limits.
    Skipped,
}

/// One procedure on one phone.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// Step id in the plan.
    pub id: String,
    /// Procedure name.
    pub procedure: &'static str,
    /// Channel it ran on.
    pub channel: &'static str,
    /// Outcome.
    pub status: StepStatus,
    /// Attempts made (more than 1 after a link failure).
    pub attempts: u32,
    /// Why the step failed, or what went wrong in earlier attempts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Measurements.
    pub measurements: Vec<Measurement>,
    /// Wall-clock time the step took on the host, s.
    pub duration_s: f64,
}

/// Identity of the phone.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PhoneIdentity {
    /// IMEI.
    pub imei: String,
    /// Model code.
    pub model: String,
    /// Serial number.
    pub serial: String,
}

/// The jig that tested the phone.
#[derive(Debug, Clone, Serialize)]
pub struct JigIdentity {
    /// Serial port.
    pub port: String,
    /// Jig serial number.
    pub serial: String,
    /// Firmware version.
    pub firmware: String,
    /// Boot id during the test.
    pub boot_id: u32,
}

/// One tested phone.
#[derive(Debug, Clone, Serialize)]
pub struct PhoneRecord {
    /// Layout version of this record ([`crate::store::SCHEMA`]).
    pub schema: u16,
    /// Phone identity.
    pub phone: PhoneIdentity,
    /// The station (host) that ran the line.
    pub station: String,
    /// The bench the jig stands on.
    pub bench: String,
    /// Jig.
    pub jig: JigIdentity,
    /// Slot on the jig.
    pub slot: u8,
    /// Operator id.
    pub operator: String,
    /// Start, RFC 3339 UTC.
    pub started: String,
    /// End, RFC 3339 UTC.
    pub finished: String,
    /// `complete` when every step measured, else `incomplete`.
    pub status: &'static str,
    /// The plan that ran.
    pub plan: PlanIdentity,
    /// Steps: identify, then battery, port and screen steps in plan order.
    pub steps: Vec<StepRecord>,
    /// Operator answers to the plan's prompts.
    pub answers: std::collections::BTreeMap<String, String>,
    /// Who gave each answer (an operator id, or the simulated operator), by prompt id.
    pub answered_by: std::collections::BTreeMap<String, String>,
    /// The bin label the phone was sent to.
    pub bin: String,
    /// The grade, disposition and reasons.
    pub grade: crate::grade::Grade,
    /// The jig link's counters since the run opened it (frames dropped, requests resent after a
    /// timeout, resets, reconnections), so an auditor sees faults the link absorbed.
    pub link: LinkCounters,
}

/// Identity of the plan: id, version and the SHA-256 of its file.
#[derive(Debug, Clone, Serialize)]
pub struct PlanIdentity {
    /// Plan id.
    pub id: String,
    /// Plan version.
    pub version: String,
    /// SHA-256 of the plan file, hex.
    pub hash: String,
}
