//! `port.continuity`: for each port pin in [`CONTINUITY_PINS`] order, select it on the analog
//! selector, enable the test current, let it settle 2 ms, then convert the resistance sense
//! (AIN0) and the leakage sense (AIN1).

use benchline_protocol::{
    Continuity as Reading, Instrument, JigError, PinReading, Reply, CONTINUITY_PINS,
};
use embedded_hal::{delay::DelayNs, i2c::I2c};
use heapless::Vec;

use super::{OrFault, Step};
use crate::board::{Board, SlotIo, SlotOutput};
use crate::driver::ads1115;

/// Settling time after switching the selector, ms.
pub const SETTLE_MS: u32 = 2;

/// State of a continuity sweep.
#[derive(Debug)]
pub struct Continuity {
    next_pin: usize,
    readings: Vec<PinReading, 8>,
}

impl Continuity {
    /// Selects the first pin and returns the job with its first wait, ms.
    pub fn start<B, S: SlotIo, D>(
        board: &mut Board<B, S, D>,
        slot: u8,
    ) -> Result<(Self, u32), JigError> {
        select_pin(board, slot, 0)?;
        Ok((
            Continuity {
                next_pin: 0,
                readings: Vec::new(),
            },
            SETTLE_MS,
        ))
    }

    /// Measures the selected pin and moves to the next.
    pub fn step<B: I2c, S: SlotIo, D: DelayNs>(
        &mut self,
        board: &mut Board<B, S, D>,
        slot: u8,
    ) -> Result<Step, JigError> {
        let pin = CONTINUITY_PINS
            .get(self.next_pin)
            .copied()
            .ok_or(JigError::BadRequest)?;
        let r_code = ads1115::convert(&mut board.i2c, &mut board.delay, 0)
            .or_fault(Instrument::Continuity)?;
        let l_code = ads1115::convert(&mut board.i2c, &mut board.delay, 1)
            .or_fault(Instrument::Continuity)?;
        let resistance_ohm = if r_code == i16::MAX {
            f32::INFINITY
        } else {
            f32::from(r_code.max(0)) * ads1115::VOLTS_PER_LSB / ads1115::TEST_CURRENT_A
        };
        let leakage_a = f32::from(l_code.max(0)) * ads1115::VOLTS_PER_LSB / ads1115::SENSE_OHM;
        let _ = self.readings.push(PinReading {
            pin,
            resistance_ohm,
            leakage_a,
        });
        self.next_pin += 1;
        if self.next_pin < CONTINUITY_PINS.len() {
            select_pin(board, slot, self.next_pin)?;
            return Ok(Step::Wait(SETTLE_MS));
        }
        if let Some(p) = board.slots.get_mut(usize::from(slot)) {
            p.set(SlotOutput::ContEn, false)
                .or_fault(Instrument::Continuity)?;
        }
        Ok(Step::Done(Reply::Continuity(Reading {
            pins: core::mem::take(&mut self.readings),
        })))
    }
}

fn select_pin<B, S: SlotIo, D>(
    board: &mut Board<B, S, D>,
    slot: u8,
    index: usize,
) -> Result<(), JigError> {
    let pins = board
        .slots
        .get_mut(usize::from(slot))
        .ok_or(JigError::BadRequest)?;
    for bit in 0..3u8 {
        pins.set(SlotOutput::ContSel(bit), (index >> bit) & 1 == 1)
            .or_fault(Instrument::Continuity)?;
    }
    pins.set(SlotOutput::ContEn, true)
        .or_fault(Instrument::Continuity)
}
