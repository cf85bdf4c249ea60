//! TCA9548A I2C multiplexer: one control register, a bit mask of enabled channels.

use embedded_hal::i2c::I2c;

/// Bus address.
pub const ADDR: u8 = 0x70;

/// Connects channel `slot` (and only it) to the bus.
pub fn select<B: I2c>(bus: &mut B, slot: u8) -> Result<(), B::Error> {
    bus.write(ADDR, &[1u8 << (slot & 7)])
}
