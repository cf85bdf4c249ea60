//! A borrowed, read-only view of a stored record: the fields exports, filters and history read,
//! for every schema this `benchctl` knows (fields a schema lacks read as absent). Everything else
//! in the body, such as raw touch arrays, is skipped without being built.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

/// A record as exports see it.
#[derive(Debug, Deserialize)]
pub struct View<'a> {
    /// Record schema (1 when absent).
    #[serde(default = "one")]
    pub schema: u16,
    /// The phone.
    #[serde(borrow)]
    pub phone: Phone<'a>,
    /// Station; absent in schema 1.
    #[serde(borrow, default)]
    pub station: Option<Cow<'a, str>>,
    /// Bench; absent in schema 1.
    #[serde(borrow, default)]
    pub bench: Option<Cow<'a, str>>,
    /// The jig.
    #[serde(borrow)]
    pub jig: Jig<'a>,
    /// Slot on the jig.
    pub slot: u8,
    /// Operator id.
    #[serde(borrow)]
    pub operator: Cow<'a, str>,
    /// Start, RFC 3339.
    #[serde(borrow)]
    pub started: Cow<'a, str>,
    /// End, RFC 3339.
    #[serde(borrow)]
    pub finished: Cow<'a, str>,
    /// `complete` or `incomplete`.
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    /// The plan.
    #[serde(borrow)]
    pub plan: Plan<'a>,
    /// Steps.
    #[serde(borrow)]
    pub steps: Vec<Step<'a>>,
    /// Prompt answers.
    #[serde(borrow, default)]
    pub answers: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    /// Who gave each answer; absent before schema 3.
    #[serde(borrow, default)]
    pub answered_by: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    /// The bin the phone went to; absent before schema 3.
    #[serde(borrow, default)]
    pub bin: Option<Cow<'a, str>>,
    /// Grade.
    #[serde(borrow)]
    pub grade: Grade<'a>,
}

fn one() -> u16 {
    1
}

/// Phone identity.
#[derive(Debug, Deserialize)]
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

/// Jig identity.
#[derive(Debug, Deserialize)]
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
}

/// Plan identity.
#[derive(Debug, Deserialize)]
pub struct Plan<'a> {
    /// Plan id.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Version.
    #[serde(borrow)]
    pub version: Cow<'a, str>,
    /// SHA-256 of the plan file.
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
}

/// One step.
#[derive(Debug, Deserialize)]
pub struct Step<'a> {
    /// Step id.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Procedure.
    #[serde(borrow)]
    pub procedure: Cow<'a, str>,
    /// `measured`, `failed` or `skipped`.
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    /// Attempts.
    pub attempts: u32,
    /// Measurements.
    #[serde(borrow)]
    pub measurements: Vec<Measurement<'a>>,
}

/// One measurement; its value is kept as raw JSON until asked for.
#[derive(Debug, Deserialize)]
pub struct Measurement<'a> {
    /// Name.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// Raw JSON value.
    #[serde(borrow)]
    pub value: &'a RawValue,
}

impl Measurement<'_> {
    /// The value as a number; an open circuit (`"open"`) is infinite.
    pub fn number(&self) -> Option<f64> {
        let raw = self.value.get();
        if raw == "\"open\"" {
            return Some(f64::INFINITY);
        }
        raw.parse().ok()
    }
}

/// The grade.
#[derive(Debug, Deserialize)]
pub struct Grade<'a> {
    /// CTIA cosmetic.
    #[serde(borrow, default)]
    pub cosmetic: Option<Cow<'a, str>>,
    /// CTIA functional.
    pub functional: u8,
    /// R2v3 functional.
    #[serde(borrow)]
    pub r2_functional: Cow<'a, str>,
    /// R2v3 cosmetic.
    #[serde(borrow, default)]
    pub r2_cosmetic: Option<Cow<'a, str>>,
    /// Marketplace grade.
    #[serde(borrow, default)]
    pub marketplace: Option<Cow<'a, str>>,
    /// Disposition.
    #[serde(borrow)]
    pub disposition: Cow<'a, str>,
    /// Parts to repair.
    #[serde(borrow, default)]
    pub repair: Vec<Cow<'a, str>>,
    /// Reasons.
    #[serde(borrow, default)]
    pub reasons: Vec<Cow<'a, str>>,
}

impl<'a> View<'a> {
    /// Parses a record body.
    pub fn parse(body: &'a [u8]) -> Result<View<'a>, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// Every measurement of every step running `procedure`.
    pub fn measurements<'s>(
        &'s self,
        procedure: &'s str,
    ) -> impl Iterator<Item = &'s Measurement<'a>> + 's {
        self.steps
            .iter()
            .filter(move |s| s.procedure == procedure)
            .flat_map(|s| s.measurements.iter())
    }

    /// The first value of `name` measured by `procedure`.
    pub fn value(&self, procedure: &str, name: &str) -> Option<f64> {
        self.measurements(procedure)
            .find(|m| m.name == name)
            .and_then(Measurement::number)
    }

    /// The largest value among the measurements of `procedure` whose names end in `suffix`.
    pub fn worst(&self, procedure: &str, suffix: &str) -> Option<f64> {
        self.measurements(procedure)
            .filter(|m| m.name.ends_with(suffix))
            .filter_map(Measurement::number)
            .reduce(f64::max)
    }
}
