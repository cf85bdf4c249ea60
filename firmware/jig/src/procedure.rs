//! Long procedures as state machines. A job is started by a request, then stepped by
//! [`crate::Jig::poll`] whenever its wake-up time has passed; each step does a few register
//! transactions and either asks to be woken again a number of milliseconds after the step, or
//! finishes with the reply.
//!
//! Short procedures (`identify`, `battery.gauge`, `port.cc`, touch row reads) are answered
//! inline ([`inline`]); they take at most a few milliseconds of bus time.

pub mod cc;
pub mod continuity;
pub mod dcir;
pub mod inline;
pub mod powered;
pub mod touch;

use benchline_protocol::{Channel, Instrument, JigError, Reply, Sample};
use embedded_hal::{delay::DelayNs, i2c::I2c};

use crate::board::{Board, SlotIo, SlotOutput};
use crate::driver::tca9548a;

/// What a step asks for next.
#[derive(Debug)]
pub enum Step {
    /// Wake me again this many milliseconds after the end of this step (settling and
    /// conversion times count from the moment the step left the hardware in its new state).
    Wait(u32),
    /// Finished with this reply.
    Done(Reply),
}

/// A running procedure.
#[derive(Debug)]
pub enum Job {
    /// `battery.dcir`.
    Dcir(dcir::Dcir),
    /// `port.cc`.
    Cc(cc::Cc),
    /// `port.continuity`.
    Continuity(continuity::Continuity),
    /// `port.charge` or `screen.backlight`.
    Powered(powered::Powered),
    /// `screen.touch`.
    Touch(touch::Touch),
}

impl Job {
    /// Performs the next step; `now_us` is the jig time at its start.
    pub fn step<B: I2c, S: SlotIo, D: DelayNs>(
        &mut self,
        board: &mut Board<B, S, D>,
        slot: u8,
        now_us: u64,
    ) -> Result<Step, JigError> {
        select(board, slot)?;
        match self {
            Job::Dcir(j) => j.step(board, now_us),
            Job::Cc(j) => j.step(board),
            Job::Continuity(j) => j.step(board, slot),
            Job::Powered(j) => j.step(board, slot),
            Job::Touch(j) => j.step(board, now_us),
        }
    }

    /// When the job next wants to send a sample to the host, jig us, given the end of its
    /// current wait (`step_end_us`); `None` when it has none to send (only `battery.dcir` that
    /// reports progress takes samples).
    pub fn next_sample_at(&self, step_end_us: u64) -> Option<u64> {
        match self {
            Job::Dcir(j) => j.next_sample_at(step_end_us),
            Job::Cc(_) | Job::Continuity(_) | Job::Powered(_) | Job::Touch(_) => None,
        }
    }

    /// The sample a `Progress` event of the job carries now: a reading of the battery monitor
    /// for `battery.dcir` (taken at `now_us` unless the job took one in this poll), `None` for
    /// the other procedures. `step_end_us` is the end of the job's current wait.
    pub fn sample<B: I2c, S, D>(
        &mut self,
        board: &mut Board<B, S, D>,
        slot: u8,
        now_us: u64,
        step_end_us: u64,
    ) -> Result<Option<Sample>, JigError> {
        match self {
            Job::Dcir(j) => j.sample(board, slot, now_us, step_end_us),
            Job::Cc(_) | Job::Continuity(_) | Job::Powered(_) | Job::Touch(_) => Ok(None),
        }
    }

    /// Puts the outputs of the job's `channel` (the one its request occupies, from the
    /// protocol's procedure table) back in their safe state, and only those: procedures on the
    /// slot's other channels go on.
    pub fn stop<B: I2c, S: SlotIo, D: DelayNs>(
        &mut self,
        board: &mut Board<B, S, D>,
        slot: u8,
        channel: Channel,
    ) {
        channel_safe(board, slot, channel);
    }
}

/// Drives the outputs of one channel of a slot to their safe state: the load to 0 mA (battery),
/// VBUS and the continuity current source off (port), the backlight off (screen).
pub fn channel_safe<B: I2c, S: SlotIo, D>(board: &mut Board<B, S, D>, slot: u8, channel: Channel) {
    // A pin or DAC that cannot be driven is reported by the next procedure that needs it.
    match channel {
        Channel::Battery => {
            if select(board, slot).is_ok() {
                let _ = crate::driver::mcp4725::set_load_ma(&mut board.i2c, 0);
            }
        }
        Channel::Port => {
            let _ = board.set(slot, SlotOutput::VbusEn, false);
            let _ = board.set(slot, SlotOutput::ContEn, false);
        }
        Channel::Screen => {
            let _ = board.set(slot, SlotOutput::BacklightEn, false);
        }
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
pub fn select<B: I2c, S, D>(board: &mut Board<B, S, D>, slot: u8) -> Result<(), JigError> {
    tca9548a::select(&mut board.i2c, slot).or_fault(Instrument::SlotMux)
}

/// `now + ms`, in microseconds.
pub fn after_ms(now_us: u64, ms: u32) -> u64 {
    now_us.saturating_add(u64::from(ms) * 1000)
}
