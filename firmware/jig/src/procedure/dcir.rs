//! `battery.dcir`: IEC 61960 DC internal resistance. The load draws `low_ma` (0.2 C) for
//! `low_ms` (10 s), the jig samples V1 and I1 on the battery monitor, then `high_ma` (1 C) for
//! `high_ms` (1 s) and samples V2 and I2. R = (V1 - V2) / (I2 - I1).

use benchline_protocol::{Instrument, JigError, Reply};
use embedded_hal::{delay::DelayNs, digital::InputPin, digital::OutputPin, i2c::I2c};

use super::{OrFault, Step};
use crate::board::Board;
use crate::driver::{ina226, mcp4725};

/// Smallest current step that gives a meaningful resistance, A (the request's own step is
/// checked against the same bound before anything runs).
const MIN_DELTA_A: f32 = benchline_protocol::range::DCIR_MIN_STEP_MA as f32 / 1000.0;

/// State of a DCIR measurement.
#[derive(Debug)]
pub struct Dcir {
    phase: Phase,
    high_ma: u16,
    high_ms: u32,
}

#[derive(Debug)]
enum Phase {
    Low,
    High { v1: f32, i1: f32 },
}

impl Dcir {
    /// Applies the low step and returns the job with its first wait (the low step), ms. The
    /// jig checks the parameters against `benchline_protocol::range` before; a second step that
    /// is not above the first is refused here too.
    pub fn start<B: I2c, O, I, D>(
        board: &mut Board<B, O, I, D>,
        low_ma: u16,
        low_ms: u32,
        high_ma: u16,
        high_ms: u32,
    ) -> Result<(Self, u32), JigError> {
        if low_ma >= high_ma {
            return Err(JigError::BadRequest);
        }
        mcp4725::set_load_ma(&mut board.i2c, u32::from(low_ma)).or_fault(Instrument::Load)?;
        Ok((
            Dcir {
                phase: Phase::Low,
                high_ma,
                high_ms,
            },
            low_ms,
        ))
    }

    /// Samples at the end of a step.
    pub fn step<B: I2c, O: OutputPin, I: InputPin, D: DelayNs>(
        &mut self,
        board: &mut Board<B, O, I, D>,
    ) -> Result<Step, JigError> {
        let v = ina226::bus_voltage(&mut board.i2c, ina226::Fit::BATTERY)
            .or_fault(Instrument::PowerMonitor)?;
        let i = ina226::current(&mut board.i2c, ina226::Fit::BATTERY)
            .or_fault(Instrument::PowerMonitor)?;
        match self.phase {
            Phase::Low => {
                mcp4725::set_load_ma(&mut board.i2c, u32::from(self.high_ma))
                    .or_fault(Instrument::Load)?;
                self.phase = Phase::High { v1: v, i1: i };
                Ok(Step::Wait(self.high_ms))
            }
            Phase::High { v1, i1 } => {
                mcp4725::set_load_ma(&mut board.i2c, 0).or_fault(Instrument::Load)?;
                if i - i1 < MIN_DELTA_A {
                    // The load did not draw the second step: the load or its wiring is faulty.
                    return Err(JigError::HardwareFault(Instrument::Load));
                }
                Ok(Step::Done(Reply::Dcir(benchline_protocol::Dcir {
                    v1_v: v1,
                    i1_a: i1,
                    v2_v: v,
                    i2_a: i,
                    resistance_ohm: (v1 - v) / (i - i1),
                })))
            }
        }
    }
}
