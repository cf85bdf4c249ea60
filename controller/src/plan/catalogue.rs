//! What the jig can do: every procedure a plan may name, the channel it runs on, its parameters
//! and the measurements it produces with their units. The run and the validator share it.

use benchline_protocol::Channel;

/// A procedure parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Name in `params = { .. }`.
    pub name: &'static str,
    /// Value when the plan does not set it.
    pub default: f64,
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
}

/// A procedure.
#[derive(Debug, Clone, Copy)]
pub struct Procedure {
    /// Name used in plans.
    pub name: &'static str,
    /// Channel it occupies.
    pub channel: Channel,
    /// Parameters.
    pub params: &'static [Param],
    /// Measurements (name, unit). A name with `{pin}` stands for each port pin.
    pub measurements: &'static [(&'static str, &'static str)],
}

const fn p(name: &'static str, default: f64, min: f64, max: f64) -> Param {
    Param {
        name,
        default,
        min,
        max,
    }
}

/// Port pins as they appear in measurement names.
pub const PINS: [&str; 8] = [
    "vbus", "gnd", "dplus", "dminus", "cc1", "cc2", "sbu1", "sbu2",
];

/// The name of a port pin in measurement names (`vbus.resistance`).
pub fn pin_name(pin: benchline_protocol::PortPin) -> &'static str {
    use benchline_protocol::PortPin::*;
    match pin {
        Vbus => PINS[0],
        Gnd => PINS[1],
        DPlus => PINS[2],
        DMinus => PINS[3],
        Cc1 => PINS[4],
        Cc2 => PINS[5],
        Sbu1 => PINS[6],
        Sbu2 => PINS[7],
    }
}

/// Every procedure.
pub const PROCEDURES: &[Procedure] = &[
    Procedure {
        name: "battery.gauge",
        channel: Channel::Battery,
        params: &[],
        measurements: &[
            ("voltage", "V"),
            ("current", "A"),
            ("temperature", "K"),
            ("state_of_charge", "%"),
            ("remaining_capacity", "mAh"),
            ("full_charge_capacity", "mAh"),
            ("design_capacity", "mAh"),
            ("state_of_health", "%"),
            ("cycle_count", "count"),
        ],
    },
    Procedure {
        name: "battery.dcir",
        channel: Channel::Battery,
        params: &[
            p("low_c", 0.2, 0.01, 2.0),
            p("low_ms", 10_000.0, 1.0, 60_000.0),
            p("high_c", 1.0, 0.05, 3.0),
            p("high_ms", 1_000.0, 1.0, 10_000.0),
        ],
        measurements: &[
            ("v1", "V"),
            ("i1", "A"),
            ("v2", "V"),
            ("i2", "A"),
            ("resistance", "ohm"),
            ("collapsed", "count"),
            ("v_min", "V"),
        ],
    },
    Procedure {
        name: "port.cc",
        channel: Channel::Port,
        params: &[],
        measurements: &[("cc1", "V"), ("cc2", "V")],
    },
    Procedure {
        name: "port.continuity",
        channel: Channel::Port,
        params: &[],
        measurements: &[("{pin}.resistance", "ohm"), ("{pin}.leakage", "A")],
    },
    Procedure {
        name: "port.charge",
        channel: Channel::Port,
        params: &[p("settle_ms", 1_000.0, 0.0, 30_000.0)],
        measurements: &[("vbus", "V"), ("current", "A")],
    },
    Procedure {
        name: "screen.touch",
        channel: Channel::Screen,
        params: &[
            p("node_min", 2_000.0, 0.0, 65_535.0),
            p("node_max", 9_000.0, 0.0, 65_535.0),
        ],
        measurements: &[
            ("rows", "count"),
            ("cols", "count"),
            ("raw_min", "count"),
            ("raw_max", "count"),
            ("raw_mean", "count"),
            ("bad_nodes", "count"),
        ],
    },
    Procedure {
        name: "screen.backlight",
        channel: Channel::Screen,
        params: &[p("settle_ms", 50.0, 0.0, 10_000.0)],
        measurements: &[("voltage", "V"), ("current", "A")],
    },
];

impl Procedure {
    /// Looks a procedure up by name.
    pub fn find(name: &str) -> Option<&'static Procedure> {
        PROCEDURES.iter().find(|p| p.name == name)
    }

    /// Every measurement name with its unit, pins expanded.
    pub fn measurement_names(&self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        for (name, unit) in self.measurements {
            if name.contains("{pin}") {
                out.extend(PINS.iter().map(|pin| (name.replace("{pin}", pin), *unit)));
            } else {
                out.push((name.to_string(), *unit));
            }
        }
        out
    }

    /// Physical duration of the procedure with these parameters, ms (for timeouts).
    pub fn duration_ms(&self, params: &std::collections::BTreeMap<String, f64>) -> u32 {
        let get = |k: &str| params.get(k).copied().unwrap_or(0.0);
        let ms = match self.name {
            "battery.dcir" => get("low_ms") + get("high_ms"),
            "port.charge" | "screen.backlight" => get("settle_ms"),
            "port.continuity" => 60.0,
            "screen.touch" => 500.0,
            _ => 10.0,
        };
        ms.max(0.0) as u32
    }
}

/// Names of all procedures, for hints.
pub fn procedure_names() -> String {
    PROCEDURES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}
