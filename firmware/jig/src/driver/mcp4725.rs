//! MCP4725 12-bit DAC that sets the electronic load current (2 mA per LSB, full scale 8.19 A).

use embedded_hal::i2c::I2c;

/// Bus address.
pub const ADDR: u8 = 0x60;
/// Load current per DAC code, A.
pub const AMPS_PER_LSB: f32 = 0.002;

/// Sets the load to `ma` milliamperes (rounded to the DAC step, clamped to full scale) with a
/// fast-mode write: `[0 0 PD1 PD0 D11..D8] [D7..D0]`.
pub fn set_load_ma<B: I2c>(bus: &mut B, ma: u32) -> Result<(), B::Error> {
    let code = (ma.div_ceil(2)).min(0x0FFF) as u16;
    let [hi, lo] = code.to_be_bytes();
    bus.write(ADDR, &[hi & 0x0F, lo])
}
