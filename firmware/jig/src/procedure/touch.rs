//! `screen.touch`: enter the touch controller's factory mode, start a raw scan and poll every
//! 5 ms until it finishes (at most 500 ms). The rows are then read one by one with
//! `TouchRow` requests.

use benchline_protocol::{Instrument, JigError, Reply, TouchScan, MAX_TOUCH_COLS};
use embedded_hal::{delay::DelayNs, i2c::I2c};

use super::{after_ms, OrFault, Step};
use crate::board::{Board, SlotIo};
use crate::driver::touch;

/// Poll period, ms.
pub const POLL_MS: u32 = 5;
/// Longest scan the jig waits for, ms.
pub const TIMEOUT_MS: u32 = 500;

/// State of a touch scan.
#[derive(Debug)]
pub struct Touch {
    give_up_at: u64,
}

impl Touch {
    /// Starts the scan; the job then polls it every [`POLL_MS`].
    pub fn start<B: I2c, S, D>(
        board: &mut Board<B, S, D>,
        now_us: u64,
    ) -> Result<(Self, u32), JigError> {
        touch::start_scan(&mut board.i2c).or_fault(Instrument::TouchIc)?;
        Ok((
            Touch {
                give_up_at: after_ms(now_us, TIMEOUT_MS),
            },
            POLL_MS,
        ))
    }

    /// Polls the scan.
    pub fn step<B: I2c, S: SlotIo, D: DelayNs>(
        &mut self,
        board: &mut Board<B, S, D>,
        now_us: u64,
    ) -> Result<Step, JigError> {
        if touch::scan_done(&mut board.i2c).or_fault(Instrument::TouchIc)? {
            let (rows, cols) = touch::size(&mut board.i2c).or_fault(Instrument::TouchIc)?;
            // A grid the link cannot carry (or none at all) is a touch IC answering nonsense.
            if rows == 0 || cols == 0 || usize::from(cols) > MAX_TOUCH_COLS {
                return Err(JigError::HardwareFault(Instrument::TouchIc));
            }
            return Ok(Step::Done(Reply::TouchScan(TouchScan { rows, cols })));
        }
        if now_us >= self.give_up_at {
            return Err(JigError::HardwareFault(Instrument::TouchIc));
        }
        Ok(Step::Wait(POLL_MS))
    }
}
