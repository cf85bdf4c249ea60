//! The plan's view of the protocol's procedure table (`benchline_protocol::procedure`): every
//! procedure a plan may name, its channel, parameters and measurements come from there. This
//! file only spells the table out for validation and the run: measurement names with their
//! pins expanded, the physical duration a step's timeout is sized from, and the list of names
//! for hints.

use std::collections::BTreeMap;

pub use benchline_protocol::procedure::{Measure, Param};
use benchline_protocol::{PortPin, Procedure, CONTINUITY_PINS};

/// A measurement's name within its step: `name`, or `PIN.name` for a per-pin measurement
/// (`dplus.resistance`).
pub fn measurement_name(pin: Option<PortPin>, name: &str) -> String {
    match pin {
        Some(pin) => format!("{}.{name}", pin.name()),
        None => name.to_string(),
    }
}

/// What plans and the run read from the table beyond the protocol's own fields.
pub trait Catalogue {
    /// Every measurement name with its unit, pins expanded, in record order.
    fn measurement_names(&self) -> Vec<(String, &'static str)>;

    /// The jig time the procedure takes with these parameters, ms: the protocol's nominal
    /// duration of its request (for timeouts and the time a step is expected to take).
    fn duration_ms(&self, params: &BTreeMap<String, f64>) -> u32;
}

impl Catalogue for Procedure {
    fn measurement_names(&self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        for m in self.measurements() {
            if m.per_pin {
                out.extend(
                    CONTINUITY_PINS
                        .iter()
                        .map(|&pin| (measurement_name(Some(pin), m.name), m.unit)),
                );
            } else {
                out.push((m.name.to_string(), m.unit));
            }
        }
        out
    }

    fn duration_ms(&self, params: &BTreeMap<String, f64>) -> u32 {
        // The jig's own nominal duration of the request the step sends (protocol `duration.rs`,
        // checked against the firmware): one figure for the jig's progress and the host's
        // deadlines. The pack's capacity only sizes the DCIR currents, not the time.
        let get = |k: &str| {
            params.get(k).copied().unwrap_or_else(|| {
                self.params()
                    .iter()
                    .find(|p| p.name == k)
                    .map_or(0.0, |p| p.default)
            })
        };
        self.request(0, &get, 0).nominal_ms()
    }
}

/// Names of all procedures, for hints.
pub fn procedure_names() -> String {
    Procedure::ALL
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The procedure catalogue as a Markdown table (the one in `test-plans/README.md`), rendered
/// from the protocol's table: names, channels, parameters with default and range, and
/// measurements with units.
pub fn markdown() -> String {
    let mut out = String::from(
        "| procedure | channel | params (default, range) | measurements (unit) |\n|---|---|---|---|\n",
    );
    for proc in Procedure::ALL {
        let params = if proc.params().is_empty() {
            "none".to_string()
        } else {
            proc.params()
                .iter()
                .map(|p| {
                    format!(
                        "`{}` ({}, {}-{})",
                        p.name,
                        number(p.name, p.default),
                        number(p.name, p.min),
                        number(p.name, p.max)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (plain, pinned): (Vec<&Measure>, Vec<&Measure>) =
            proc.measurements().iter().partition(|m| !m.per_pin);
        let mut measures: Vec<String> = plain
            .iter()
            .map(|m| format!("`{}` ({})", m.name, m.unit))
            .collect();
        if !pinned.is_empty() {
            let each = pinned
                .iter()
                .map(|m| format!("`PIN.{}` ({})", m.name, m.unit))
                .collect::<Vec<_>>()
                .join(", ");
            let pins = CONTINUITY_PINS
                .iter()
                .map(|p| format!("`{}`", p.name()))
                .collect::<Vec<_>>()
                .join(", ");
            measures.push(format!("{each} for each PIN of {pins}"));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            proc.name(),
            proc.channel().as_str(),
            params,
            measures.join(", ")
        ));
    }
    out
}

/// A parameter value as the catalogue writes it: C-rates (`*_c`) with a decimal point, others
/// as plain numbers.
fn number(param: &str, v: f64) -> String {
    if param.ends_with("_c") {
        format!("{v:?}")
    } else {
        format!("{v}")
    }
}
