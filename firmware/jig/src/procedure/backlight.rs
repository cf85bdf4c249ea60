//! `screen.backlight`: enable the backlight driver, let the current settle, read the LED string
//! voltage and current on the backlight monitor, switch it off.

use benchline_protocol::{Backlight as Reading, Instrument, JigError, Reply};
use embedded_hal::{delay::DelayNs, digital::InputPin, digital::OutputPin, i2c::I2c};

use super::{after_ms, OrFault, Step};
use crate::board::Board;
use crate::driver::ina226;

/// State of a backlight measurement.
#[derive(Debug)]
pub struct Backlight;

impl Backlight {
    /// Switches the backlight on.
    pub fn start<B, O: OutputPin, I, D>(
        board: &mut Board<B, O, I, D>,
        slot: u8,
        now_us: u64,
        settle_ms: u32,
    ) -> Result<(Self, u64), JigError> {
        let pins = board
            .slots
            .get_mut(usize::from(slot))
            .ok_or(JigError::BadRequest)?;
        pins.backlight_en
            .set_high()
            .or_fault(Instrument::PowerMonitor)?;
        Ok((Backlight, after_ms(now_us, settle_ms)))
    }

    /// Measures and switches the backlight off.
    pub fn step<B: I2c, O: OutputPin, I: InputPin, D: DelayNs>(
        &mut self,
        board: &mut Board<B, O, I, D>,
        slot: u8,
        _now_us: u64,
    ) -> Result<Step, JigError> {
        let voltage_v = ina226::bus_voltage(&mut board.i2c, ina226::Fit::BACKLIGHT)
            .or_fault(Instrument::PowerMonitor);
        let current_a = ina226::current(&mut board.i2c, ina226::Fit::BACKLIGHT)
            .or_fault(Instrument::PowerMonitor);
        if let Some(p) = board.slots.get_mut(usize::from(slot)) {
            p.backlight_en
                .set_low()
                .or_fault(Instrument::PowerMonitor)?;
        }
        Ok(Step::Done(Reply::Backlight(Reading {
            voltage_v: voltage_v?,
            current_a: current_a?,
        })))
    }
}
