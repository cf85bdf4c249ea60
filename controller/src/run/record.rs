//! The record of one tested phone, printed as one JSON line: the one record type of benchctl.
//!
//! The run writes it ([`PhoneRecord`], owning its text, measurement values as JSON values), and
//! the store, exports, filters and history read it back from a record body with the same types
//! borrowed from the body ([`crate::export::View`]: text borrowed where the JSON has no escapes,
//! measurement values kept as raw JSON, so a raw touch matrix is skipped, never built). Fields
//! that older schemas lack read as their defaults (see [`crate::store::schema`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

pub use crate::link::LinkCounters;

/// A measured value as a record holds it: a [`Value`] when written, raw JSON when read.
pub trait MeasuredValue {
    /// The value as a number (`"open"`, an open circuit, is infinite), if it is one.
    fn number(&self) -> Option<f64>;
}

impl MeasuredValue for Value {
    fn number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s == "open" => Some(f64::INFINITY),
            _ => None,
        }
    }
}

impl MeasuredValue for &RawValue {
    fn number(&self) -> Option<f64> {
        let raw = self.get();
        if raw == "\"open\"" {
            return Some(f64::INFINITY);
        }
        raw.parse().ok()
    }
}

impl MeasuredValue for serde::de::IgnoredAny {
    fn number(&self) -> Option<f64> {
        None
    }
}

/// One measured quantity; `V` is how its value is held ([`MeasuredValue`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reading<'a, V = Value> {
    /// Name within the step, e.g. `state_of_health`.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// Number, text, `"open"` for an open circuit, or an array of raw values.
    pub value: V,
    /// SI unit or count (`V`, `A`, `ohm`, `K`, `mAh`, `%`, `count`, `text`).
    #[serde(default)]
    pub unit: &'a str,
    /// Lower limit from the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper limit from the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Verdict against the limits, when the plan limits this measurement: judged once, by the
    /// run, and read by grading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<crate::grade::Verdict>,
}

/// A measurement as the run writes it.
pub type Measurement = Reading<'static>;

impl Measurement {
    /// A numeric measurement.
    pub fn num(name: &str, value: f64, unit: &'static str) -> Self {
        let value = if value.is_finite() {
            serde_json::json!(round6(value))
        } else {
            Value::String("open".into())
        };
        Reading {
            name: Cow::Owned(name.to_string()),
            value,
            unit,
            min: None,
            max: None,
            verdict: None,
        }
    }

    /// A text measurement.
    pub fn text(name: &str, value: &str) -> Self {
        Reading {
            name: Cow::Owned(name.to_string()),
            value: Value::String(value.into()),
            unit: "text",
            min: None,
            max: None,
            verdict: None,
        }
    }
}

impl<V: MeasuredValue> Reading<'_, V> {
    /// The value as a number (`open` is infinite), if it is one.
    pub fn number(&self) -> Option<f64> {
        self.value.number()
    }
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Outcome of a step.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Measured.
    Measured,
    /// Could not be measured; see `errors`.
    Failed,
    /// Not run: the plan does not apply it to this phone, or an earlier step failed its limits.
    Skipped,
}

impl StepStatus {
    /// The name records use.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Measured => "measured",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

impl PartialEq<&str> for StepStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One procedure on one phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step<'a, V = Value> {
    /// Step id in the plan.
    pub id: String,
    /// Procedure name.
    pub procedure: &'a str,
    /// Channel it ran on.
    #[serde(default)]
    pub channel: &'a str,
    /// Outcome.
    pub status: StepStatus,
    /// Attempts made (more than 1 after a link failure).
    pub attempts: u32,
    /// Why the step failed, or what went wrong in earlier attempts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Measurements.
    #[serde(borrow)]
    pub measurements: Vec<Reading<'a, V>>,
    /// Wall-clock time the step took on the host, s.
    #[serde(default)]
    pub duration_s: f64,
}

/// A step as the run writes it.
pub type StepRecord = Step<'static>;

/// Identity of the phone.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Phone<'a> {
    /// IMEI.
    #[serde(borrow)]
    pub imei: Cow<'a, str>,
    /// Model code.
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    /// Serial number.
    #[serde(borrow)]
    pub serial: Cow<'a, str>,
}

/// The phone's identity as the run writes it.
pub type PhoneIdentity = Phone<'static>;

/// The jig that tested the phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jig<'a> {
    /// Serial port.
    #[serde(borrow)]
    pub port: Cow<'a, str>,
    /// Jig serial number.
    #[serde(borrow)]
    pub serial: Cow<'a, str>,
    /// Firmware version.
    #[serde(borrow)]
    pub firmware: Cow<'a, str>,
    /// Boot id during the test.
    #[serde(default)]
    pub boot_id: u32,
    /// The jig said in its handshake that it is the host simulator (protocol 5): the phone
    /// and every measurement are simulated. Absent before schema 4, where it reads as false
    /// (no jig of protocol 4 or older was ever simulated in a store: see the README).
    #[serde(default)]
    pub simulated: bool,
}

/// The jig's identity as the run writes it.
pub type JigIdentity = Jig<'static>;

/// One tested phone, for every schema (1 to [`crate::store::SCHEMA`]); `S` is how its steps are
/// read: whole ([`Step`], its measurement values held as a [`MeasuredValue`]), or only what a
/// reader needs (the CSV's [`crate::export::view::Outline`] skips units, limits and verdicts).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record<'a, S = Step<'a, Value>> {
    /// Layout version of this record ([`crate::store::SCHEMA`]; 1 when absent).
    #[serde(default = "schema_one")]
    pub schema: u16,
    /// Phone identity.
    #[serde(borrow)]
    pub phone: Phone<'a>,
    /// The station (host) that ran the line; absent in schema 1.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub station: Option<Cow<'a, str>>,
    /// The bench the jig stands on; absent in schema 1.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub bench: Option<Cow<'a, str>>,
    /// Jig.
    #[serde(borrow)]
    pub jig: Jig<'a>,
    /// Slot on the jig.
    pub slot: u8,
    /// Operator id.
    #[serde(borrow)]
    pub operator: Cow<'a, str>,
    /// Start, RFC 3339 UTC.
    #[serde(borrow)]
    pub started: Cow<'a, str>,
    /// End, RFC 3339 UTC.
    #[serde(borrow)]
    pub finished: Cow<'a, str>,
    /// `complete` when every step measured, else `incomplete`.
    pub status: &'a str,
    /// The plan that ran.
    #[serde(borrow)]
    pub plan: PlanId<'a>,
    /// Steps: identify, then battery, port and screen steps in plan order.
    pub steps: Vec<S>,
    /// Operator answers to the plan's prompts.
    #[serde(borrow, default)]
    pub answers: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    /// Who gave each answer (an operator id, or the simulated operator), by prompt id; absent
    /// before schema 3.
    #[serde(borrow, default)]
    pub answered_by: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    /// The bin label the phone was sent to; absent before schema 3.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<Cow<'a, str>>,
    /// The grade, disposition and reasons.
    #[serde(borrow)]
    pub grade: crate::grade::Grade<'a>,
    /// The jig link's counters since the run opened it (frames dropped, requests resent after a
    /// timeout, resets, reconnections), so an auditor sees faults the link absorbed.
    #[serde(default)]
    pub link: LinkCounters,
}

/// A record as the run writes it.
pub type PhoneRecord = Record<'static>;

fn schema_one() -> u16 {
    1
}

impl<'a, V: MeasuredValue> Record<'a, Step<'a, V>> {
    /// Every measurement of every step running `procedure`.
    pub fn measurements<'s>(
        &'s self,
        procedure: &'s str,
    ) -> impl Iterator<Item = &'s Reading<'a, V>> + 's {
        self.steps
            .iter()
            .filter(move |s| s.procedure == procedure)
            .flat_map(|s| s.measurements.iter())
    }
}

/// A step as a reader of numbers sees it, whole ([`Step`]) or light (the CSV's
/// [`crate::export::view::OutlineStep`]): its procedure, and its measurements' names and values.
pub trait Measured {
    /// The procedure it ran.
    fn procedure(&self) -> &str;
    /// Each measurement's name and value as a number (if it is one).
    fn numbers(&self) -> impl Iterator<Item = (&str, Option<f64>)>;
}

impl<V: MeasuredValue> Measured for Step<'_, V> {
    fn procedure(&self) -> &str {
        self.procedure
    }

    fn numbers(&self) -> impl Iterator<Item = (&str, Option<f64>)> {
        self.measurements
            .iter()
            .map(|m| (m.name.as_ref(), m.number()))
    }
}

impl<S: Measured> Record<'_, S> {
    /// The measurements of every step running `procedure`: names and numbers.
    fn numbers<'s>(&'s self, procedure: &'s str) -> impl Iterator<Item = (&'s str, Option<f64>)> {
        self.steps
            .iter()
            .filter(move |s| s.procedure() == procedure)
            .flat_map(Measured::numbers)
    }

    /// The first value of `name` measured by `procedure`.
    pub fn value(&self, procedure: &str, name: &str) -> Option<f64> {
        self.numbers(procedure)
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v)
    }

    /// The largest value among the measurements of `procedure` whose names end in `suffix`.
    pub fn worst(&self, procedure: &str, suffix: &str) -> Option<f64> {
        self.numbers(procedure)
            .filter(|(n, _)| n.ends_with(suffix))
            .filter_map(|(_, v)| v)
            .reduce(f64::max)
    }
}

/// Identity of the plan: id, version and the SHA-256 of its file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanId<'a> {
    /// Plan id.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Plan version.
    #[serde(borrow)]
    pub version: Cow<'a, str>,
    /// SHA-256 of the plan file, hex.
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
}

/// The plan's identity as the run writes it.
pub type PlanIdentity = PlanId<'static>;
