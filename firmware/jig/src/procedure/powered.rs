//! `port.charge` and `screen.backlight`: switch a supply on (the VBUS relay, or the backlight
//! driver), let the load settle for `settle_ms`, read voltage and current on the INA226 that
//! watches that supply, switch it off.

use benchline_protocol::{Backlight, Charge, Instrument, JigError, Reply};
use embedded_hal::{delay::DelayNs, i2c::I2c};

use super::{OrFault, Step};
use crate::board::{Board, SlotIo, SlotOutput};
use crate::driver::ina226;

/// Which supply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supply {
    /// 5 V VBUS into the phone's port; the phone's charge current.
    Vbus,
    /// The backlight LED string.
    Backlight,
}

impl Supply {
    fn output(self) -> SlotOutput {
        match self {
            Supply::Vbus => SlotOutput::VbusEn,
            Supply::Backlight => SlotOutput::BacklightEn,
        }
    }

    fn fit(self) -> ina226::Fit {
        match self {
            Supply::Vbus => ina226::Fit::VBUS,
            Supply::Backlight => ina226::Fit::BACKLIGHT,
        }
    }
}

/// State of a powered measurement.
#[derive(Debug)]
pub struct Powered {
    supply: Supply,
}

impl Powered {
    /// The supply this measurement drives.
    pub fn supply(&self) -> Supply {
        self.supply
    }

    /// Switches the supply on; the job then waits `settle_ms`.
    pub fn start<B, S: SlotIo, D>(
        board: &mut Board<B, S, D>,
        slot: u8,
        supply: Supply,
        settle_ms: u32,
    ) -> Result<(Self, u32), JigError> {
        let pins = board
            .slots
            .get_mut(usize::from(slot))
            .ok_or(JigError::BadRequest)?;
        pins.set(supply.output(), true)
            .or_fault(Instrument::PowerMonitor)?;
        Ok((Powered { supply }, settle_ms))
    }

    /// Measures and switches the supply off (also when the monitor fails).
    pub fn step<B: I2c, S: SlotIo, D: DelayNs>(
        &mut self,
        board: &mut Board<B, S, D>,
        slot: u8,
    ) -> Result<Step, JigError> {
        let fit = self.supply.fit();
        let volts = ina226::bus_voltage(&mut board.i2c, fit).or_fault(Instrument::PowerMonitor);
        let amps = ina226::current(&mut board.i2c, fit).or_fault(Instrument::PowerMonitor);
        if let Some(p) = board.slots.get_mut(usize::from(slot)) {
            p.set(self.supply.output(), false)
                .or_fault(Instrument::PowerMonitor)?;
        }
        let (volts, amps) = (volts?, amps?);
        Ok(Step::Done(match self.supply {
            Supply::Vbus => Reply::Charge(Charge {
                vbus_v: volts,
                current_a: amps,
            }),
            Supply::Backlight => Reply::Backlight(Backlight {
                voltage_v: volts,
                current_a: amps,
            }),
        }))
    }
}
