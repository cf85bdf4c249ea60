//! `port.charge`: close the VBUS relay, give the phone `settle_ms` to negotiate and ramp up,
//! then read VBUS voltage and current on the VBUS monitor and open the relay.

use benchline_protocol::{Charge as Reading, Instrument, JigError, Reply};
use embedded_hal::{delay::DelayNs, digital::InputPin, digital::OutputPin, i2c::I2c};

use super::{after_ms, OrFault, Step};
use crate::board::Board;
use crate::driver::ina226;

/// State of a charge measurement.
#[derive(Debug)]
pub struct Charge;

impl Charge {
    /// Applies VBUS.
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
        pins.vbus_en.set_high().or_fault(Instrument::PowerMonitor)?;
        Ok((Charge, after_ms(now_us, settle_ms)))
    }

    /// Measures and removes VBUS.
    pub fn step<B: I2c, O: OutputPin, I: InputPin, D: DelayNs>(
        &mut self,
        board: &mut Board<B, O, I, D>,
        slot: u8,
        _now_us: u64,
    ) -> Result<Step, JigError> {
        let vbus_v = ina226::bus_voltage(&mut board.i2c, ina226::Fit::VBUS)
            .or_fault(Instrument::PowerMonitor);
        let current_a =
            ina226::current(&mut board.i2c, ina226::Fit::VBUS).or_fault(Instrument::PowerMonitor);
        if let Some(p) = board.slots.get_mut(usize::from(slot)) {
            p.vbus_en.set_low().or_fault(Instrument::PowerMonitor)?;
        }
        Ok(Step::Done(Reply::Charge(Reading {
            vbus_v: vbus_v?,
            current_a: current_a?,
        })))
    }
}
