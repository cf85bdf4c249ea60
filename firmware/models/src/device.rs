//! Register-level models of the parts behind one slot's multiplexer channel. Each model keeps its
//! own register pointer and registers and answers from the phone's physical model.

pub mod ads1115;
pub mod eeprom;
pub mod fusb302;
pub mod gauge;
pub mod ina226;
pub mod mcp4725;
pub mod touch;

use rand_chacha::ChaCha8Rng;

use crate::phone::Phone;
use crate::rig::Wiring;

/// What a device sees of the world during one transaction.
pub struct Env<'a> {
    /// The phone in the slot.
    pub phone: Option<&'a Phone>,
    /// The slot's outputs and setpoints.
    pub wiring: &'a mut Wiring,
    /// Jig time, us.
    pub now_us: u64,
    /// Noise source.
    pub rng: &'a mut ChaCha8Rng,
}

/// The device did not acknowledge (absent, or no phone behind it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack;

/// A device on the I2C bus.
pub trait Device {
    /// The master wrote `data` (register pointer first, for register devices).
    fn write(&mut self, env: &mut Env<'_>, data: &[u8]) -> Result<(), Nack>;
    /// The master reads `buf.len()` bytes.
    fn read(&mut self, env: &mut Env<'_>, buf: &mut [u8]) -> Result<(), Nack>;
}

/// Every device of one slot.
#[derive(Default)]
pub struct Devices {
    /// SBS gauge of the phone, 0x0B.
    pub gauge: gauge::Gauge,
    /// INA226 monitors at 0x40, 0x44, 0x45.
    pub monitors: [ina226::Ina226; 3],
    /// Load DAC, 0x60.
    pub dac: mcp4725::Mcp4725,
    /// USB-C front end, 0x22.
    pub front_end: fusb302::Fusb302,
    /// Continuity ADC, 0x48.
    pub adc: ads1115::Ads1115,
    /// Touch IC, 0x38.
    pub touch: touch::Touch,
    /// Identity EEPROM, 0x50.
    pub eeprom: eeprom::Eeprom,
}

impl Devices {
    /// The device at `addr`, if one is fitted there.
    pub fn at(&mut self, addr: u8) -> Option<&mut dyn Device> {
        Some(match addr {
            0x0B => &mut self.gauge,
            0x22 => &mut self.front_end,
            0x38 => &mut self.touch,
            0x40 => &mut self.monitors[0],
            0x44 => &mut self.monitors[1],
            0x45 => &mut self.monitors[2],
            0x48 => &mut self.adc,
            0x50 => &mut self.eeprom,
            0x60 => &mut self.dac,
            _ => return None,
        })
    }
}

/// Uniform noise in `[-amp, amp]`.
pub fn noise(rng: &mut ChaCha8Rng, amp: f64) -> f64 {
    use rand::Rng;
    if amp <= 0.0 {
        return 0.0;
    }
    rng.gen_range(-amp..=amp)
}

/// Big-endian register file helper: the pointer is the first written byte.
pub fn be_word(buf: &mut [u8], value: u16) {
    let b = value.to_be_bytes();
    for (i, out) in buf.iter_mut().enumerate() {
        *out = b[i % 2];
    }
}
