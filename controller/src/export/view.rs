//! A borrowed, read-only view of a stored record: the record type the run writes
//! ([`crate::run::record::Record`]), read for every schema this `benchctl` knows (fields a
//! schema lacks read as their defaults), its text borrowed from the body where it can be and
//! its measurement values kept as raw JSON, so raw touch arrays are skipped without being built.

use std::borrow::Cow;

use serde_json::value::RawValue;

pub use crate::grade::Grade;
use crate::run::record::MeasuredValue;
pub use crate::run::record::{Jig, Phone, PlanId as Plan, Reading, Step, StepStatus};

/// A record as exports see it.
pub type View<'a> = crate::run::record::Record<'a, Step<'a, &'a RawValue>>;

/// One measurement as exports see it; its value is kept as raw JSON until asked for.
pub type Measurement<'a> = Reading<'a, &'a RawValue>;

impl<'a> View<'a> {
    /// Parses a record body.
    pub fn parse(body: &'a [u8]) -> Result<View<'a>, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

/// What a CSV row and the export filters read of a record, borrowed from its body: the one
/// record type with its steps read as [`OutlineStep`]s, so what no column shows (units, limits,
/// verdicts, errors, durations) is skipped unread, never built.
pub type Outline<'a> = crate::run::record::Record<'a, OutlineStep<'a>>;

impl crate::run::record::Measured for OutlineStep<'_> {
    fn procedure(&self) -> &str {
        self.procedure
    }

    fn numbers(&self) -> impl Iterator<Item = (&str, Option<f64>)> {
        self.measurements
            .iter()
            .map(|m| (m.name.as_ref(), m.value.number()))
    }
}

/// A step as [`Outline`] reads it.
#[derive(Debug, serde::Deserialize)]
pub struct OutlineStep<'a> {
    /// Step id in the plan.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Procedure name.
    pub procedure: &'a str,
    /// Outcome.
    pub status: StepStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Measurements: names and raw values.
    #[serde(borrow)]
    pub measurements: Vec<OutlineReading<'a>>,
}

/// A measurement as [`Outline`] reads it: its name and its value as raw JSON.
#[derive(Debug, serde::Deserialize)]
pub struct OutlineReading<'a> {
    /// Name within the step.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// The value, unparsed until asked for.
    #[serde(borrow)]
    pub value: &'a RawValue,
}

impl<'a> Outline<'a> {
    /// Parses a record body. The body is checked to be UTF-8 once, as a whole, rather than
    /// string by string (a body that is not gives the error reading it as bytes gives).
    pub fn parse(body: &'a [u8]) -> Result<Outline<'a>, serde_json::Error> {
        match std::str::from_utf8(body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(body),
        }
    }
}
