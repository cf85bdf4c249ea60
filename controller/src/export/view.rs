//! A borrowed, read-only view of a stored record: the record type the run writes
//! ([`crate::run::record::Record`]), read for every schema this `benchctl` knows (fields a
//! schema lacks read as their defaults), its text borrowed from the body where it can be and
//! its measurement values kept as raw JSON, so raw touch arrays are skipped without being built.

use serde_json::value::RawValue;

pub use crate::run::record::{Jig, Phone, PlanId as Plan, Reading, Step};

/// A record as exports see it.
pub type View<'a> = crate::run::record::Record<'a, &'a RawValue>;

/// One measurement as exports see it; its value is kept as raw JSON until asked for.
pub type Measurement<'a> = Reading<'a, &'a RawValue>;

impl<'a> View<'a> {
    /// Parses a record body.
    pub fn parse(body: &'a [u8]) -> Result<View<'a>, serde_json::Error> {
        serde_json::from_slice(body)
    }
}
