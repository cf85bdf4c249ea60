//! A phone's physical model: the truth the device models answer from. The host simulator loads
//! it from the TOML files of the phone library (`fixtures/phones/*.toml`, one `[[phone]]` table
//! per phone; `benchline_sim::Library`), the control channel of a firmware image carries it in
//! postcard ([`crate::control`]). Every field is always serialized (postcard has no field names
//! and cannot skip one); `#[serde(default)]` fields may be left out of a TOML table.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// CTIA cosmetic grades an `expected.cosmetic` may name.
pub const COSMETIC_GRADES: [&str; 5] = ["A", "B", "C", "D", "E"];
/// Dispositions an `expected.disposition` may name (`retest`: a phone whose record is left
/// incomplete, e.g. a prompt unanswered, goes back through the line).
pub const DISPOSITIONS: [&str; 5] = ["resale", "repair", "parts", "recycle", "retest"];
/// Parts an `expected.repair` may name.
pub const REPAIR_PARTS: [&str; 3] = ["battery", "port", "screen"];
/// Marketplace grades an `expected.marketplace` may name.
pub const MARKETPLACE_GRADES: [&str; 4] = ["Premium", "Excellent", "Good", "Fair"];

/// Connector of the phone: the protocol crate's one connector type.
pub use benchline_protocol::Connector;

/// One simulated phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    /// Library id of this phone.
    pub id: String,
    /// Model code as its diagnostic EEPROM reports it.
    pub model: String,
    /// IMEI, 15 digits.
    pub imei: String,
    /// Device serial number.
    pub serial: String,
    /// Connector.
    pub connector: Connector,
    /// Battery pack.
    pub battery: Battery,
    /// Port.
    #[serde(default)]
    pub port: Port,
    /// Screen.
    pub screen: Screen,
    /// What an operator answers to the plan's visual prompts for this phone (prompt id to choice),
    /// e.g. `cosmetic = "B"`, `pixels = "pass"`, `burn_in = "none"`.
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
    /// The outcome this phone must get under the shipped standard plan, written from its
    /// condition and the plan's documented policy (never by the grading code).
    #[serde(default)]
    pub expected: Option<Expected>,
}

/// Expected outcome of a phone under the standard plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// CTIA cosmetic grade A-E.
    pub cosmetic: String,
    /// CTIA functional grade 0-9.
    pub functional: u8,
    /// `resale`, `repair`, `parts` or `recycle`.
    pub disposition: String,
    /// Parts the rules sent to repair (`battery`, `port`, `screen`), sorted; kept for every
    /// disposition, also `parts` and `recycle`.
    #[serde(default)]
    pub repair: Vec<String>,
    /// Marketplace grade (Premium, Excellent, Good, Fair), absent when not sellable as is.
    #[serde(default)]
    pub marketplace: Option<String>,
    /// R2v3 functional category (`F1`-`F6`, or `controlled` for an R2 controlled stream);
    /// compared with the record's only when given.
    #[serde(default)]
    pub r2_functional: Option<String>,
    /// R2v3 cosmetic category (`C0`-`C9`); compared with the record's only when given.
    #[serde(default)]
    pub r2_cosmetic: Option<String>,
}

/// The battery pack and its gauge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Battery {
    /// DesignCapacity, mAh.
    pub design_mah: u16,
    /// State of health, % (FullChargeCapacity / DesignCapacity).
    pub health_pct: f64,
    /// CycleCount.
    pub cycles: u16,
    /// DC internal resistance (IEC 61960), mOhm.
    pub dcir_mohm: f64,
    /// State of charge, %.
    #[serde(default = "default_soc")]
    pub soc_pct: f64,
    /// Temperature, degrees C.
    #[serde(default = "default_temp")]
    pub temperature_c: f64,
    /// ManufacturerName.
    #[serde(default = "default_maker")]
    pub manufacturer: String,
    /// DeviceName.
    #[serde(default = "default_device")]
    pub device: String,
    /// SerialNumber.
    #[serde(default)]
    pub serial: u16,
}

/// The port: CC terminations, pin paths and the phone's charge behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Rd on CC1, ohm (default 5.1 kOhm); an open termination is written as `cc1` in `open_pins`.
    #[serde(default = "default_rd")]
    pub cc1_rd_ohm: Option<f64>,
    /// Rd on CC2, ohm.
    #[serde(default = "default_rd")]
    pub cc2_rd_ohm: Option<f64>,
    /// Path resistance of a healthy pin, ohm.
    #[serde(default = "default_pin_ohm")]
    pub pin_ohm: f64,
    /// Pins whose contact is broken (`vbus`, `gnd`, `dplus`, `dminus`, `cc1`, `cc2`, `sbu1`, `sbu2`).
    #[serde(default)]
    pub open_pins: Vec<String>,
    /// Path resistance of corroded pins, ohm.
    #[serde(default)]
    pub pin_ohm_override: BTreeMap<String, f64>,
    /// Leakage of a pin to its neighbours at 3.3 V, uA (moisture, corrosion).
    #[serde(default)]
    pub leakage_ua: BTreeMap<String, f64>,
    /// Current the phone draws from 5 V VBUS once it has negotiated, mA.
    #[serde(default = "default_charge")]
    pub charge_ma: f64,
}

/// Touch panel and backlight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Screen {
    /// Touch rows (TX).
    pub rows: u8,
    /// Touch columns (RX).
    pub cols: u8,
    /// Nodes that read near zero, `[row, col]`.
    #[serde(default)]
    pub dead_nodes: Vec<[u8; 2]>,
    /// Nodes shorted to a neighbour: they read near full scale.
    #[serde(default)]
    pub shorted_nodes: Vec<[u8; 2]>,
    /// Backlight string current at full drive, mA (0 = open string).
    #[serde(default = "default_backlight_ma")]
    pub backlight_ma: f64,
    /// Backlight string forward voltage, V.
    #[serde(default = "default_backlight_v")]
    pub backlight_v: f64,
}

fn default_soc() -> f64 {
    55.0
}
fn default_temp() -> f64 {
    24.0
}
fn default_maker() -> String {
    "SIMCELL".into()
}
fn default_device() -> String {
    "SIM-PACK".into()
}
fn default_rd() -> Option<f64> {
    Some(5100.0)
}
fn default_pin_ohm() -> f64 {
    0.08
}
fn default_charge() -> f64 {
    1500.0
}
fn default_backlight_ma() -> f64 {
    60.0
}
fn default_backlight_v() -> f64 {
    19.0
}

impl Default for Port {
    fn default() -> Self {
        Port {
            cc1_rd_ohm: default_rd(),
            cc2_rd_ohm: default_rd(),
            pin_ohm: default_pin_ohm(),
            open_pins: Vec::new(),
            pin_ohm_override: BTreeMap::new(),
            leakage_ua: BTreeMap::new(),
            charge_ma: default_charge(),
        }
    }
}

/// Names of the port pins in phone files, in the order of `benchline_protocol::CONTINUITY_PINS`:
/// the protocol's one spelling ([`benchline_protocol::PortPin::name`]).
pub const PIN_NAMES: [&str; 8] = {
    let pins = benchline_protocol::CONTINUITY_PINS;
    [
        pins[0].name(),
        pins[1].name(),
        pins[2].name(),
        pins[3].name(),
        pins[4].name(),
        pins[5].name(),
        pins[6].name(),
        pins[7].name(),
    ]
};

/// Open-circuit voltage of a Li-ion cell against state of charge (%, V).
const OCV: [(f64, f64); 9] = [
    (0.0, 3.00),
    (5.0, 3.45),
    (10.0, 3.60),
    (20.0, 3.70),
    (40.0, 3.78),
    (60.0, 3.88),
    (80.0, 4.02),
    (95.0, 4.25),
    (100.0, 4.35),
];

impl Phone {
    /// FullChargeCapacity, mAh.
    pub fn full_charge_mah(&self) -> u16 {
        libm::round(f64::from(self.battery.design_mah) * self.battery.health_pct / 100.0) as u16
    }

    /// Open-circuit voltage at the current state of charge, V.
    pub fn ocv(&self) -> f64 {
        let soc = self.battery.soc_pct.clamp(0.0, 100.0);
        for w in OCV.windows(2) {
            let ((s0, v0), (s1, v1)) = (w[0], w[1]);
            if soc <= s1 {
                return v0 + (v1 - v0) * (soc - s0) / (s1 - s0);
            }
        }
        OCV[OCV.len() - 1].1
    }

    /// Terminal voltage while the jig's load draws `amps`, V.
    pub fn terminal_voltage(&self, amps: f64) -> f64 {
        self.ocv() - amps * self.battery.dcir_mohm / 1000.0
    }

    /// Path resistance of pin `index` (see [`PIN_NAMES`]), ohm; `None` when open.
    pub fn pin_ohm(&self, index: usize) -> Option<f64> {
        let name = PIN_NAMES.get(index)?;
        if self.port.open_pins.iter().any(|p| p == name) {
            return None;
        }
        Some(
            self.port
                .pin_ohm_override
                .get(*name)
                .copied()
                .unwrap_or(self.port.pin_ohm),
        )
    }

    /// Leakage of pin `index`, A.
    pub fn leakage_a(&self, index: usize) -> f64 {
        PIN_NAMES
            .get(index)
            .and_then(|n| self.port.leakage_ua.get(*n))
            .copied()
            .unwrap_or(0.0)
            * 1e-6
    }

    /// Rd seen through CC pin 1 or 2, counting a broken contact as open.
    pub fn cc_rd_ohm(&self, cc: u8) -> Option<f64> {
        let (rd, pin) = if cc == 1 {
            (self.port.cc1_rd_ohm, 4)
        } else {
            (self.port.cc2_rd_ohm, 5)
        };
        self.pin_ohm(pin)?;
        rd
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A healthy phone with every default of the TOML schema.
    pub(crate) fn sample() -> Phone {
        Phone {
            id: "t".into(),
            model: "T".into(),
            imei: "490154203237518".into(),
            serial: "S".into(),
            connector: Connector::UsbC,
            battery: Battery {
                design_mah: 4000,
                health_pct: 90.0,
                cycles: 10,
                dcir_mohm: 150.0,
                soc_pct: default_soc(),
                temperature_c: default_temp(),
                manufacturer: default_maker(),
                device: default_device(),
                serial: 0,
            },
            port: Port::default(),
            screen: Screen {
                rows: 2,
                cols: 2,
                dead_nodes: Vec::new(),
                shorted_nodes: Vec::new(),
                backlight_ma: default_backlight_ma(),
                backlight_v: default_backlight_v(),
            },
            answers: BTreeMap::new(),
            expected: None,
        }
    }

    #[test]
    fn full_charge_rounds_half_away_from_zero() {
        let mut p = sample();
        p.battery.design_mah = 3;
        p.battery.health_pct = 50.0;
        assert_eq!(p.full_charge_mah(), 2);
        p.battery.design_mah = 4000;
        p.battery.health_pct = 87.31;
        assert_eq!(p.full_charge_mah(), 3492);
    }

    #[test]
    fn ocv_interpolates_the_curve_and_clamps() {
        let mut p = sample();
        p.battery.soc_pct = 50.0;
        assert!((p.ocv() - 3.83).abs() < 1e-12);
        p.battery.soc_pct = 150.0;
        assert_eq!(p.ocv(), 4.35);
        p.battery.soc_pct = -5.0;
        assert_eq!(p.ocv(), 3.00);
    }

    #[test]
    fn a_phone_round_trips_through_postcard_with_every_field() -> Result<(), postcard::Error> {
        let mut p = sample();
        p.port.open_pins.push("cc2".into());
        p.port.cc1_rd_ohm = None;
        p.port.pin_ohm_override.insert("gnd".into(), 0.4);
        p.screen.dead_nodes.push([1, 0]);
        p.answers.insert("cosmetic".into(), "B".into());
        p.expected = Some(Expected {
            cosmetic: "B".into(),
            functional: 3,
            disposition: "repair".into(),
            repair: alloc::vec!["port".into()],
            marketplace: None,
            r2_functional: Some("F3".into()),
            r2_cosmetic: None,
        });
        let bytes = postcard::to_allocvec(&p)?;
        let back: Phone = postcard::from_bytes(&bytes)?;
        assert_eq!(back, p);
        Ok(())
    }
}
