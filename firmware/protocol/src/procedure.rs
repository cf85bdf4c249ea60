//! The table of procedures a plan can name: for each its name, the channel it occupies, its
//! parameters, the measurements it produces, how its request is built and how its reply becomes
//! measurements. The plan catalogue, the run, the export columns, the simulator's faults and
//! the jig's channel bookkeeping all read it; adding a procedure means adding a row here (and
//! its implementation in the jig and its device model in the simulator).
//!
//! Not part of the wire format: the wire carries [`Request`] and [`Reply`] variants.

use crate::message::{Channel, PortPin, Reply, Request};
use crate::range::{BACKLIGHT_SETTLE_MS, CHARGE_SETTLE_MS, DCIR_HIGH_MS, DCIR_LOW_MS};

/// A procedure a plan can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Procedure {
    /// `battery.gauge`: the smart-battery gauge's registers.
    BatteryGauge,
    /// `battery.dcir`: IEC 61960 DC internal resistance under two load steps.
    BatteryDcir,
    /// `port.cc`: CC pin voltages with the jig's pull-up.
    PortCc,
    /// `port.continuity`: resistance and leakage of every port pin.
    PortContinuity,
    /// `port.charge`: the charge current drawn from 5 V VBUS.
    PortCharge,
    /// `screen.touch`: a factory-mode scan of every touch node.
    ScreenTouch,
    /// `screen.backlight`: the backlight's voltage and current.
    ScreenBacklight,
}

/// A parameter of a procedure, as a plan sets it (`params = { .. }`).
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// A numeric measurement a procedure produces, which a plan may limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// Name within the step (`state_of_health`); for a per-pin measurement the part after the
    /// pin's name (`resistance` in `dplus.resistance`).
    pub name: &'static str,
    /// Unit (`V`, `A`, `ohm`, `K`, `mAh`, `%`, `count`).
    pub unit: &'static str,
    /// True when the procedure produces it once for each pin of [`crate::CONTINUITY_PINS`].
    pub per_pin: bool,
}

/// A value a reply carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A number in the measurement's unit (`+inf` for an open circuit).
    Num(f64),
    /// A text (the gauge's manufacturer and device names); never limited by plans.
    Text(&'a str),
}

/// One measurement read from a reply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading<'a> {
    /// Name within the step (see [`Measure::name`]).
    pub name: &'static str,
    /// The pin, for a per-pin measurement: its full name is `PIN.name`.
    pub pin: Option<PortPin>,
    /// The value.
    pub value: Value<'a>,
    /// Unit; [`TEXT_UNIT`] for a text.
    pub unit: &'static str,
}

/// Unit of a text reading.
pub const TEXT_UNIT: &str = "text";
/// The `battery.gauge` measurement that `battery.dcir` sizes its load steps from, mAh.
pub const DESIGN_CAPACITY: &str = "design_capacity";
/// The `screen.touch` record entry holding the scan's raw counts, row by row (read with
/// [`Request::TouchRow`]; not a number, so never limited).
pub const TOUCH_RAW: &str = "raw";

const fn p(name: &'static str, default: f64, min: f64, max: f64) -> Param {
    Param {
        name,
        default,
        min,
        max,
    }
}

const fn m(name: &'static str, unit: &'static str) -> Measure {
    Measure {
        name,
        unit,
        per_pin: false,
    }
}

const fn per_pin(name: &'static str, unit: &'static str) -> Measure {
    Measure {
        name,
        unit,
        per_pin: true,
    }
}

// The rows of the table.

// `low_c` and `high_c` are fractions of the design capacity (C rates): the request's currents
// in mA are these times the gauge's design capacity.
const DCIR_PARAMS: &[Param] = &[
    p("low_c", 0.2, 0.01, 2.0),
    p(
        "low_ms",
        10_000.0,
        *DCIR_LOW_MS.start() as f64,
        *DCIR_LOW_MS.end() as f64,
    ),
    p("high_c", 1.0, 0.05, 3.0),
    p(
        "high_ms",
        1_000.0,
        *DCIR_HIGH_MS.start() as f64,
        *DCIR_HIGH_MS.end() as f64,
    ),
];
const CHARGE_PARAMS: &[Param] = &[p(
    "settle_ms",
    1_000.0,
    *CHARGE_SETTLE_MS.start() as f64,
    *CHARGE_SETTLE_MS.end() as f64,
)];
const TOUCH_PARAMS: &[Param] = &[
    p("node_min", 2_000.0, 0.0, 65_535.0),
    p("node_max", 9_000.0, 0.0, 65_535.0),
];
const BACKLIGHT_PARAMS: &[Param] = &[p(
    "settle_ms",
    50.0,
    *BACKLIGHT_SETTLE_MS.start() as f64,
    *BACKLIGHT_SETTLE_MS.end() as f64,
)];

const GAUGE_MEASURES: &[Measure] = &[
    m("voltage", "V"),
    m("current", "A"),
    m("temperature", "K"),
    m("state_of_charge", "%"),
    m("remaining_capacity", "mAh"),
    m("full_charge_capacity", "mAh"),
    m(DESIGN_CAPACITY, "mAh"),
    m("state_of_health", "%"),
    m("cycle_count", "count"),
];
const DCIR_MEASURES: &[Measure] = &[
    m("v1", "V"),
    m("i1", "A"),
    m("v2", "V"),
    m("i2", "A"),
    m("resistance", "ohm"),
    m("collapsed", "count"),
    m("v_min", "V"),
];
const CC_MEASURES: &[Measure] = &[m("cc1", "V"), m("cc2", "V")];
const CONTINUITY_MEASURES: &[Measure] = &[per_pin("resistance", "ohm"), per_pin("leakage", "A")];
const CHARGE_MEASURES: &[Measure] = &[m("vbus", "V"), m("current", "A")];
const TOUCH_MEASURES: &[Measure] = &[
    m("rows", "count"),
    m("cols", "count"),
    m("raw_min", "count"),
    m("raw_max", "count"),
    m("raw_mean", "count"),
    m("bad_nodes", "count"),
];
const BACKLIGHT_MEASURES: &[Measure] = &[m("voltage", "V"), m("current", "A")];

impl Procedure {
    /// Every procedure, in the order plans and documentation list them.
    pub const ALL: [Procedure; 7] = [
        Procedure::BatteryGauge,
        Procedure::BatteryDcir,
        Procedure::PortCc,
        Procedure::PortContinuity,
        Procedure::PortCharge,
        Procedure::ScreenTouch,
        Procedure::ScreenBacklight,
    ];

    /// The name used in plans, records, logs and fault specifications.
    pub const fn name(self) -> &'static str {
        match self {
            Procedure::BatteryGauge => "battery.gauge",
            Procedure::BatteryDcir => "battery.dcir",
            Procedure::PortCc => "port.cc",
            Procedure::PortContinuity => "port.continuity",
            Procedure::PortCharge => "port.charge",
            Procedure::ScreenTouch => "screen.touch",
            Procedure::ScreenBacklight => "screen.backlight",
        }
    }

    /// The procedure called `name`.
    pub fn from_name(name: &str) -> Option<Procedure> {
        Procedure::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The channel it occupies on its slot while it runs.
    pub const fn channel(self) -> Channel {
        match self {
            Procedure::BatteryGauge | Procedure::BatteryDcir => Channel::Battery,
            Procedure::PortCc | Procedure::PortContinuity | Procedure::PortCharge => Channel::Port,
            Procedure::ScreenTouch | Procedure::ScreenBacklight => Channel::Screen,
        }
    }

    /// Its parameters as plans set them. The ranges lie within the jig's (`crate::range`).
    pub const fn params(self) -> &'static [Param] {
        match self {
            Procedure::BatteryDcir => DCIR_PARAMS,
            Procedure::PortCharge => CHARGE_PARAMS,
            Procedure::ScreenTouch => TOUCH_PARAMS,
            Procedure::ScreenBacklight => BACKLIGHT_PARAMS,
            Procedure::BatteryGauge | Procedure::PortCc | Procedure::PortContinuity => &[],
        }
    }

    /// The numeric measurements it produces, in the order a record lists them.
    pub const fn measurements(self) -> &'static [Measure] {
        match self {
            Procedure::BatteryGauge => GAUGE_MEASURES,
            Procedure::BatteryDcir => DCIR_MEASURES,
            Procedure::PortCc => CC_MEASURES,
            Procedure::PortContinuity => CONTINUITY_MEASURES,
            Procedure::PortCharge => CHARGE_MEASURES,
            Procedure::ScreenTouch => TOUCH_MEASURES,
            Procedure::ScreenBacklight => BACKLIGHT_MEASURES,
        }
    }

    /// The measurement called `name` (without a pin), if the procedure produces it.
    pub fn measure(self, name: &str) -> Option<&'static Measure> {
        self.measurements().iter().find(|m| m.name == name)
    }

    /// The procedure a request runs; `None` for requests that are not procedures a plan can
    /// name (state requests, `identify`, touch row reads).
    pub fn of(req: &Request) -> Option<Procedure> {
        match req {
            Request::BatteryGauge { .. } => Some(Procedure::BatteryGauge),
            Request::BatteryDcir { .. } => Some(Procedure::BatteryDcir),
            Request::PortCc { .. } => Some(Procedure::PortCc),
            Request::PortContinuity { .. } => Some(Procedure::PortContinuity),
            Request::PortCharge { .. } => Some(Procedure::PortCharge),
            Request::ScreenTouch { .. } => Some(Procedure::ScreenTouch),
            Request::ScreenBacklight { .. } => Some(Procedure::ScreenBacklight),
            Request::Hello
            | Request::Ping { .. }
            | Request::SlotStatus { .. }
            | Request::Identify { .. }
            | Request::TouchRow { .. }
            | Request::Abort { .. }
            | Request::Release { .. }
            | Request::Resend { .. } => None,
        }
    }

    /// The request that runs the procedure on `slot` with the plan's parameters (`param` gives
    /// each by name, defaults filled in). `design_mah` is the battery's design capacity, from
    /// which `battery.dcir` sizes its load steps (`low_c`, `high_c`); the others ignore it.
    pub fn request(self, slot: u8, param: &impl Fn(&str) -> f64, design_mah: u16) -> Request {
        let ms = |name: &str| param(name).max(0.0) as u32;
        // The jig refuses currents outside `DCIR_MA`; the request says what the plan asked.
        let ma = |c: f64| {
            round((f64::from(design_mah) * c).clamp(0.0, f64::from(u16::MAX))).max(1.0) as u16
        };
        match self {
            Procedure::BatteryGauge => Request::BatteryGauge { slot },
            Procedure::BatteryDcir => Request::BatteryDcir {
                slot,
                low_ma: ma(param("low_c")),
                low_ms: ms("low_ms"),
                high_ma: ma(param("high_c")),
                high_ms: ms("high_ms"),
            },
            Procedure::PortCc => Request::PortCc { slot },
            Procedure::PortContinuity => Request::PortContinuity { slot },
            Procedure::PortCharge => Request::PortCharge {
                slot,
                settle_ms: ms("settle_ms"),
            },
            Procedure::ScreenTouch => Request::ScreenTouch { slot },
            Procedure::ScreenBacklight => Request::ScreenBacklight {
                slot,
                settle_ms: ms("settle_ms"),
            },
        }
    }

    /// Turns the procedure's reply into readings, in record order, and says whether the reply
    /// was one of this procedure's (false: nothing emitted). `screen.touch`'s reply gives only
    /// the scan's size; its node statistics come from the rows, through [`touch_readings`].
    pub fn readings<'r>(self, reply: &'r Reply, emit: &mut impl FnMut(Reading<'r>)) -> bool {
        match (self, reply) {
            (Procedure::BatteryGauge, Reply::Gauge(g)) => {
                let health = if g.design_mah > 0 {
                    f64::from(g.full_charge_mah) / f64::from(g.design_mah) * 100.0
                } else {
                    0.0
                };
                num(emit, "voltage", "V", g.voltage_v.into());
                num(emit, "current", "A", g.current_a.into());
                num(emit, "temperature", "K", g.temperature_k.into());
                num(emit, "state_of_charge", "%", g.state_of_charge_pct.into());
                num(emit, "remaining_capacity", "mAh", g.remaining_mah.into());
                num(
                    emit,
                    "full_charge_capacity",
                    "mAh",
                    g.full_charge_mah.into(),
                );
                num(emit, DESIGN_CAPACITY, "mAh", g.design_mah.into());
                num(emit, "state_of_health", "%", health);
                num(emit, "cycle_count", "count", g.cycle_count.into());
                for (name, text) in [("manufacturer", &g.manufacturer), ("device", &g.device)] {
                    emit(Reading {
                        name,
                        pin: None,
                        value: Value::Text(text.as_str()),
                        unit: TEXT_UNIT,
                    });
                }
            }
            (Procedure::BatteryDcir, Reply::Dcir(d)) => {
                // A battery that could not hold the load (protocol README 9.12) has no finite
                // resistance: infinite, which fails any upper limit.
                let resistance = if d.collapsed {
                    f64::INFINITY
                } else {
                    d.resistance_ohm.into()
                };
                num(emit, "v1", "V", d.v1_v.into());
                num(emit, "i1", "A", d.i1_a.into());
                num(emit, "v2", "V", d.v2_v.into());
                num(emit, "i2", "A", d.i2_a.into());
                num(emit, "resistance", "ohm", resistance);
                num(emit, "collapsed", "count", f64::from(u8::from(d.collapsed)));
                num(emit, "v_min", "V", d.v_min_v.into());
            }
            (Procedure::PortCc, Reply::Cc(c)) => {
                num(emit, "cc1", "V", c.cc1_v.into());
                num(emit, "cc2", "V", c.cc2_v.into());
            }
            (Procedure::PortContinuity, Reply::Continuity(c)) => {
                for r in &c.pins {
                    for (name, unit, v) in [
                        ("resistance", "ohm", r.resistance_ohm),
                        ("leakage", "A", r.leakage_a),
                    ] {
                        emit(Reading {
                            name,
                            pin: Some(r.pin),
                            value: Value::Num(v.into()),
                            unit,
                        });
                    }
                }
            }
            (Procedure::PortCharge, Reply::Charge(c)) => {
                num(emit, "vbus", "V", c.vbus_v.into());
                num(emit, "current", "A", c.current_a.into());
            }
            (Procedure::ScreenTouch, Reply::TouchScan(s)) => {
                num(emit, "rows", "count", s.rows.into());
                num(emit, "cols", "count", s.cols.into());
            }
            (Procedure::ScreenBacklight, Reply::Backlight(b)) => {
                num(emit, "voltage", "V", b.voltage_v.into());
                num(emit, "current", "A", b.current_a.into());
            }
            _ => return false,
        }
        true
    }
}

/// The node statistics of a `screen.touch` scan from its raw counts (every row, in order):
/// `raw_min`, `raw_max`, `raw_mean` and `bad_nodes`, the nodes outside
/// `node_min..=node_max` (the procedure's parameters).
pub fn touch_readings(
    raw: impl Iterator<Item = u16> + Clone,
    node_min: f64,
    node_max: f64,
    emit: &mut impl FnMut(Reading<'static>),
) {
    let all = raw.map(f64::from);
    let count = all.clone().count();
    let bad = all
        .clone()
        .filter(|&v| v < node_min || v > node_max)
        .count();
    let min = all.clone().fold(f64::INFINITY, f64::min);
    let max = all.clone().fold(0.0, f64::max);
    let mean = all.sum::<f64>() / count.max(1) as f64;
    for (name, v) in [
        ("raw_min", if count == 0 { 0.0 } else { min }),
        ("raw_max", max),
        ("raw_mean", mean),
        ("bad_nodes", bad as f64),
    ] {
        emit(Reading {
            name,
            pin: None,
            value: Value::Num(v),
            unit: "count",
        });
    }
}

/// Emits a number without a pin.
fn num<'r>(emit: &mut impl FnMut(Reading<'r>), name: &'static str, unit: &'static str, v: f64) {
    emit(Reading {
        name,
        pin: None,
        value: Value::Num(v),
        unit,
    });
}

/// `x` rounded half away from zero, for `0 <= x < 2^52` (core has no `f64::round`).
fn round(x: f64) -> f64 {
    let whole = x as u64 as f64;
    if x - whole >= 0.5 {
        whole + 1.0
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_every_request_maps_back() {
        for p in Procedure::ALL {
            assert_eq!(Procedure::from_name(p.name()), Some(p));
            let req = p.request(1, &|_| 1.0, 3000);
            assert_eq!(Procedure::of(&req), Some(p));
            assert_eq!(req.channel(), Some(p.channel()));
            assert_eq!(req.procedure(), p.name());
            for m in p.measurements() {
                assert_eq!(p.measure(m.name), Some(m));
            }
        }
        assert_eq!(Procedure::from_name("identify"), None);
    }

    #[test]
    fn params_lie_within_the_jigs_ranges() {
        for p in Procedure::ALL {
            for param in p.params() {
                assert!(param.min <= param.default && param.default <= param.max);
            }
            let req = p.request(
                0,
                &|n| {
                    p.params()
                        .iter()
                        .find(|q| q.name == n)
                        .map_or(0.0, |q| q.default)
                },
                3000,
            );
            assert!(req.params_in_range(), "{req:?}");
        }
    }

    /// One reply of each procedure, as the jig sends it.
    fn sample_reply(p: Procedure) -> Reply {
        let text = |t: &str| {
            let mut s = crate::Text::new();
            let _ = s.push_str(t);
            s
        };
        match p {
            Procedure::BatteryGauge => Reply::Gauge(crate::Gauge {
                voltage_v: 3.9,
                current_a: 0.0,
                temperature_k: 298.0,
                state_of_charge_pct: 50,
                remaining_mah: 1500,
                full_charge_mah: 2900,
                design_mah: 3000,
                cycle_count: 100,
                serial: 1,
                manufacturer: text("ACME"),
                device: text("CELL"),
            }),
            Procedure::BatteryDcir => Reply::Dcir(crate::Dcir {
                v1_v: 3.8,
                i1_a: 0.6,
                v2_v: 3.5,
                i2_a: 3.0,
                resistance_ohm: 0.125,
                collapsed: false,
                v_min_v: 3.5,
            }),
            Procedure::PortCc => Reply::Cc(crate::Cc {
                rp: crate::RpLevel::Default,
                cc1_v: 0.4,
                cc2_v: 0.4,
            }),
            Procedure::PortContinuity => {
                let mut pins = heapless::Vec::new();
                for pin in crate::CONTINUITY_PINS {
                    let _ = pins.push(crate::PinReading {
                        pin,
                        resistance_ohm: 0.1,
                        leakage_a: 0.0,
                    });
                }
                Reply::Continuity(crate::Continuity { pins })
            }
            Procedure::PortCharge => Reply::Charge(crate::Charge {
                vbus_v: 5.0,
                current_a: 1.0,
            }),
            Procedure::ScreenTouch => Reply::TouchScan(crate::TouchScan { rows: 2, cols: 2 }),
            Procedure::ScreenBacklight => Reply::Backlight(crate::Backlight {
                voltage_v: 18.0,
                current_a: 0.02,
            }),
        }
    }

    /// The table's declared measurements are exactly what each reply turns into: every numeric
    /// reading is declared with its unit, and every declared measurement is read (the touch scan's
    /// node figures come from `touch_readings`).
    #[test]
    fn every_reply_reads_as_the_table_declares() {
        for p in Procedure::ALL {
            let mut read: heapless::Vec<(&str, &str, bool), 64> = heapless::Vec::new();
            assert!(p.readings(&sample_reply(p), &mut |r| {
                let _ = read.push((r.name, r.unit, r.pin.is_some()));
            }));
            if p == Procedure::ScreenTouch {
                touch_readings([1u16, 2, 3, 4].into_iter(), 0.0, 10.0, &mut |r| {
                    let _ = read.push((r.name, r.unit, false));
                });
            }
            // Text readings (the gauge's manufacturer and device) and the raw touch matrix
            // (`TOUCH_RAW`) are recorded, never limited: the table declares what a plan can limit.
            for (name, unit, per_pin) in read.iter().filter(|r| r.1 != TEXT_UNIT) {
                let m = p.measure(name);
                assert!(m.is_some(), "{}: {name} is read but not declared", p.name());
                let m = m.unwrap_or(&p.measurements()[0]);
                assert_eq!(
                    (m.unit, m.per_pin),
                    (*unit, *per_pin),
                    "{}: {name}",
                    p.name()
                );
            }
            for m in p.measurements() {
                assert!(
                    read.iter().any(|(n, _, _)| *n == m.name),
                    "{}: {} is declared but never read",
                    p.name(),
                    m.name
                );
            }
        }
    }

    #[test]
    fn rounds_like_std() {
        for (x, want) in [
            (0.0, 0.0),
            (0.4, 0.0),
            (0.5, 1.0),
            (0.6, 1.0),
            (1.5, 2.0),
            (599.5, 600.0),
            (800.000_000_1, 800.0),
            (65_535.0, 65_535.0),
        ] {
            assert_eq!(round(x), want, "{x}");
        }
    }
}
