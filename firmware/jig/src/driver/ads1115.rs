//! ADS1115 16-bit ADC, single-shot on one single-ended input, +-4.096 V range (125 uV / LSB).
//!
//! The continuity tester feeds it: AIN0 is the voltage across the selected pin's path with a
//! 10 mA test current (R = V / 10 mA, saturates at 409 ohm = open); AIN1 is the leakage sense,
//! the selected pin biased at 3.3 V with its leakage to the neighbouring pins flowing through
//! a 100 kOhm sense resistor (I = V / 100 kOhm).

use embedded_hal::{delay::DelayNs, i2c::I2c};

/// Bus address.
pub const ADDR: u8 = 0x48;
/// Volts per LSB at the +-4.096 V range.
pub const VOLTS_PER_LSB: f32 = 0.000_125;
/// Continuity test current, A.
pub const TEST_CURRENT_A: f32 = 0.010;
/// Leakage sense resistor, ohm.
pub const SENSE_OHM: f32 = 100_000.0;

/// Register addresses.
pub mod reg {
    /// Conversion result, signed big-endian.
    pub const CONVERSION: u8 = 0x00;
    /// Configuration.
    pub const CONFIG: u8 = 0x01;
}

/// Config word: OS=1, MUX=1xx (AINx vs GND), PGA=001 (4.096 V), MODE=1 (single shot),
/// DR=111 (860 SPS), comparator disabled (11).
pub fn config_word(input: u8) -> u16 {
    0x8000 | (u16::from(0b100 | (input & 3)) << 12) | (0b001 << 9) | (1 << 8) | (0b111 << 5) | 0b11
}

/// Starts a conversion on `input`, waits for it (1.2 ms at 860 SPS), returns the raw code.
pub fn convert<B: I2c, D: DelayNs>(bus: &mut B, delay: &mut D, input: u8) -> Result<i16, B::Error> {
    let [hi, lo] = config_word(input).to_be_bytes();
    bus.write(ADDR, &[reg::CONFIG, hi, lo])?;
    delay.delay_us(1_200);
    let mut buf = [0u8; 2];
    bus.write_read(ADDR, &[reg::CONVERSION], &mut buf)?;
    Ok(i16::from_be_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_word_matches_datasheet() {
        assert_eq!(config_word(0), 0xC3E3);
        assert_eq!(config_word(1), 0xD3E3);
    }
}
