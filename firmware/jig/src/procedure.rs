//! Long procedures as state machines. A job is started by a request, then stepped by
//! [`crate::Jig::poll`] whenever its wake-up time has passed; each step does a few register
//! transactions and either asks to be woken again later or finishes with the reply.
//!
//! Short procedures (`identify`, `battery.gauge`, `port.cc`, touch row reads) are answered inline
//! by [`crate::jig`]; they take at most a few milliseconds of bus time.

pub mod continuity;
pub mod dcir;
pub mod powered;
pub mod touch;

use benchline_protocol::{Channel, Instrument, JigError, Reply};
use embedded_hal::{delay::DelayNs, digital::InputPin, digital::OutputPin, i2c::I2c};

use crate::board::Board;
use crate::driver::tca9548a;

/// What a step asks for next.
#[derive(Debug)]
pub enum Step {
    /// Wake me again at this time (us since boot).
    WakeAt(u64),
    /// Finished with this reply.
    Done(Reply),
}

/// A running procedure.
#[derive(Debug)]
pub enum Job {
    /// `battery.dcir`.
    Dcir(dcir::Dcir),
    /// `port.continuity`.
    Continuity(continuity::Continuity),
    /// `port.charge` or `screen.backlight`.
    Powered(powered::Powered),
    /// `screen.touch`.
    Touch(touch::Touch),
}

impl Job {
    /// The channel the job occupies.
    pub fn channel(&self) -> Channel {
        match self {
            Job::Dcir(_) => Channel::Battery,
            Job::Continuity(_) => Channel::Port,
            Job::Powered(p) => match p.supply() {
                powered::Supply::Vbus => Channel::Port,
                powered::Supply::Backlight => Channel::Screen,
            },
            Job::Touch(_) => Channel::Screen,
        }
    }

    /// Performs the next step.
    pub fn step<B: I2c, O: OutputPin, I: InputPin, D: DelayNs>(
        &mut self,
        board: &mut Board<B, O, I, D>,
        slot: u8,
        now_us: u64,
    ) -> Result<Step, JigError> {
        select(board, slot)?;
        match self {
            Job::Dcir(j) => j.step(board, now_us),
            Job::Continuity(j) => j.step(board, slot, now_us),
            Job::Powered(j) => j.step(board, slot, now_us),
            Job::Touch(j) => j.step(board, now_us),
        }
    }

    /// Puts the outputs the job drives back in their safe state.
    pub fn stop<B: I2c, O: OutputPin, I: InputPin, D: DelayNs>(
        &mut self,
        board: &mut Board<B, O, I, D>,
        slot: u8,
    ) {
        if let Job::Dcir(_) = self {
            if select(board, slot).is_ok() {
                // If the DAC does not answer the load is already unpowered or faulty; the next
                // procedure on the channel reports the fault.
                let _ = crate::driver::mcp4725::set_load_ma(&mut board.i2c, 0);
            }
        }
        board.slot_safe(usize::from(slot));
    }
}

/// Maps a bus or pin error to the instrument that failed.
pub trait OrFault<T> {
    /// `HardwareFault(instrument)` on error.
    fn or_fault(self, instrument: Instrument) -> Result<T, JigError>;
}

impl<T, E> OrFault<T> for Result<T, E> {
    fn or_fault(self, instrument: Instrument) -> Result<T, JigError> {
        self.map_err(|_| JigError::HardwareFault(instrument))
    }
}

/// Connects the slot's devices to the bus.
pub fn select<B: I2c, O, I, D>(board: &mut Board<B, O, I, D>, slot: u8) -> Result<(), JigError> {
    tca9548a::select(&mut board.i2c, slot).or_fault(Instrument::SlotMux)
}

/// `now + ms`, in microseconds.
pub fn after_ms(now_us: u64, ms: u32) -> u64 {
    now_us.saturating_add(u64::from(ms) * 1000)
}
