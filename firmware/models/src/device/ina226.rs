//! INA226 current / voltage monitor. Which path it watches depends on its address: battery
//! (0x40, 10 mOhm), VBUS (0x44, 10 mOhm) or backlight (0x45, 100 mOhm).

use super::{be_word, noise, Device, Env, Nack};

/// VBUS source voltage, V, and cable + relay resistance, ohm.
const VBUS_SOURCE_V: f64 = 5.05;
const VBUS_PATH_OHM: f64 = 0.12;
/// Current a phone draws before it has negotiated (USB default), A; and how long that lasts, us.
const PRE_NEGOTIATION_A: f64 = 0.1;
const NEGOTIATION_US: u64 = 250_000;
/// Compliance voltage of the backlight driver on an open string, V.
const BACKLIGHT_COMPLIANCE_V: f64 = 24.0;

/// INA226 model.
#[derive(Default)]
pub struct Ina226 {
    ptr: u8,
    config: u16,
    calibration: u16,
}

impl Ina226 {
    fn path(&self, env: &mut Env<'_>, index: usize) -> (f64, f64, f64) {
        let Some(p) = env.phone else {
            return (0.0, 0.0, 0.010);
        };
        match index {
            0 => {
                // The pack behind the load (`crate::cell`): a tripped protection delivers
                // nothing, and the load pulls the bus to 0 V; no noise on an open path.
                let out = crate::cell::under_load(p, env.wiring.load_a);
                if out.tripped {
                    return (0.0, 0.0, 0.010);
                }
                (
                    out.volts + noise(env.rng, 0.000_5),
                    out.amps + noise(env.rng, 0.000_2),
                    0.010,
                )
            }
            1 => {
                let Some(since) = env.wiring.vbus_on_since else {
                    return (0.0, 0.0, 0.010);
                };
                let connected = p.pin_ohm(0).is_some() && p.pin_ohm(1).is_some();
                let i = if !connected {
                    0.0
                } else if env.now_us.saturating_sub(since) < NEGOTIATION_US {
                    PRE_NEGOTIATION_A
                } else {
                    p.port.charge_ma / 1000.0
                };
                let i = if i > 0.0 {
                    i + noise(env.rng, 0.002)
                } else {
                    0.0
                };
                (VBUS_SOURCE_V - i * VBUS_PATH_OHM, i, 0.010)
            }
            _ => {
                if !env.wiring.backlight_en {
                    return (0.0, 0.0, 0.100);
                }
                if p.screen.backlight_ma <= 0.0 {
                    return (BACKLIGHT_COMPLIANCE_V, 0.0, 0.100);
                }
                let i = p.screen.backlight_ma / 1000.0 + noise(env.rng, 0.000_05);
                (p.screen.backlight_v, i, 0.100)
            }
        }
    }

    fn register(&self, env: &mut Env<'_>, index: usize) -> u16 {
        let (volts, amps, shunt) = self.path(env, index);
        let shunt_reg = libm::round(amps * shunt / 2.5e-6) as i64;
        match self.ptr {
            0x00 => self.config,
            0x01 => shunt_reg.clamp(-32768, 32767) as i16 as u16,
            0x02 => libm::round(volts / 0.001_25).clamp(0.0, 32767.0) as u16,
            0x04 => ((shunt_reg * i64::from(self.calibration)) / 2048).clamp(-32768, 32767) as i16
                as u16,
            0x05 => self.calibration,
            0xFE => 0x5449,
            0xFF => 0x2260,
            _ => 0,
        }
    }
}

impl Device for Ina226 {
    fn write(&mut self, _env: &mut Env<'_>, data: &[u8]) -> Result<(), Nack> {
        let (&ptr, rest) = data.split_first().ok_or(Nack)?;
        self.ptr = ptr;
        if let [hi, lo] = rest {
            let v = u16::from_be_bytes([*hi, *lo]);
            match ptr {
                0x00 => self.config = v,
                0x05 => self.calibration = v & 0x7FFF,
                _ => {}
            }
        }
        Ok(())
    }

    fn read(&mut self, _env: &mut Env<'_>, _buf: &mut [u8]) -> Result<(), Nack> {
        // Reads go through `read_path`, which knows which path this monitor watches.
        Err(Nack)
    }
}

impl Ina226 {
    /// Reads the pointed register of the monitor on path `index`.
    pub fn read_path(&mut self, env: &mut Env<'_>, index: usize, buf: &mut [u8]) {
        let v = self.register(env, index);
        be_word(buf, v);
    }
}
