//! `port.cc` in two steps, one comparator search per CC pin (about 6 ms of settling and bus
//! each), so that the link is served between them and a `Ping` never waits behind both.

use benchline_protocol::{Instrument, JigError, Reply, RpLevel};
use embedded_hal::{delay::DelayNs, i2c::I2c};

use super::{OrFault, Step};
use crate::board::Board;
use crate::driver::fusb302;

/// The pull-up both pins are measured with.
const RP: RpLevel = RpLevel::Current1A5;

/// A `port.cc` between its two pins.
#[derive(Debug)]
pub struct Cc {
    /// CC1, measured when the procedure started.
    cc1_v: f32,
}

impl Cc {
    /// Measures CC1; CC2 follows in the next poll.
    pub fn start<B: I2c, S, D: DelayNs>(board: &mut Board<B, S, D>) -> Result<(Cc, u32), JigError> {
        let cc1_v = fusb302::measure_cc(&mut board.i2c, &mut board.delay, 1, RP)
            .or_fault(Instrument::CcFrontEnd)?;
        Ok((Cc { cc1_v }, 0))
    }

    /// Measures CC2 and answers with both.
    pub fn step<B: I2c, S, D: DelayNs>(
        &mut self,
        board: &mut Board<B, S, D>,
    ) -> Result<Step, JigError> {
        let cc2_v = fusb302::measure_cc(&mut board.i2c, &mut board.delay, 2, RP)
            .or_fault(Instrument::CcFrontEnd)?;
        Ok(Step::Done(Reply::Cc(benchline_protocol::Cc {
            rp: RP,
            cc1_v: self.cc1_v,
            cc2_v,
        })))
    }
}
