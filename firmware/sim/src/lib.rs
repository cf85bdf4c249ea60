//! Simulated jig hardware. Each device model answers at register level, exactly as the part on
//! a real jig would, from the physical model of the phone seated in the slot ([`phone::Phone`]).
//! The jig application ([`benchline_jig`]) runs unmodified on top: [`bus::SimBus`] implements
//! `embedded_hal::i2c::I2c`, [`rig::SimPin`] the digital pins, [`rig::SimDelay`] `DelayNs`,
//! [`clock::SimClock`] the monotonic clock and [`link::MemLink`] the embedded-io serial link.
//!
//! Time is physical (a DCIR pulse takes 11 s of jig time) and scaled by a time-scale factor:
//! 1 runs in real time, 0.01 a hundred times faster, 0 as fast as possible (virtual time that
//! jumps to the next deadline whenever the jig is idle). Busy-wait delays and I2C transactions
//! (at [`rig::BUS_HZ`]) take the jig time they take on real hardware, so the procedures'
//! durations can be checked against `Request::nominal_ms`.
//!
//! Stated tolerances of the measurements against a phone's truth (tested in `tests/truth.rs`):
//! state of health +-0.1 % (integer mAh registers), cycle count exact, DCIR +-(1 mOhm + 2 %),
//! CC voltage +-42 mV (one comparator step), pin resistance +-7 mOhm (half of one 12.5 mOhm ADC step), touch faults exact.
//! A cell that cannot hold a DCIR step above its discharge cut-off ([`cell`]) is reported
//! collapsed, never with a resistance.

pub mod bus;
pub mod clock;
pub mod jig;
pub mod link;
pub mod phone;
pub mod rig;

pub use benchline_models::{cell, control, device};

pub use clock::SimClock;
pub use jig::{build_jig, SimJig};
pub use link::MemLink;
pub use phone::{Expected, Library, Phone, PhoneError};
pub use rig::Rig;
