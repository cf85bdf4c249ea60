//! The Benchline jig application: `no_std`, generic over embedded-hal 1.0 (`I2c`, `OutputPin`,
//! `InputPin`, `DelayNs`) and embedded-io (the serial link: `Read + ReadReady + Write +
//! WriteReady`). Board crates only wire pins and buses into a [`Board`] (each slot's pins as a
//! [`SlotPins`] of embedded-hal pins of any types, or their own [`SlotIo`]) and call
//! [`Jig::poll`] in their main loop. A poll never waits for the link: frames go through a
//! bounded transmit queue ([`transmit`]) and are written only while the link is ready; a frame
//! that does not fit is dropped whole and counted ([`Jig::tx_dropped`]).
//!
//! - [`driver`]: register-level drivers (I2C slot multiplexer, SBS gauge, INA226 monitors,
//!   MCP4725 load DAC, FUSB302 CC front end, ADS1115 continuity ADC, FT5x06 touch IC, 24C02
//!   identity EEPROM).
//! - [`procedure`]: the long procedures as state machines driven by a monotonic [`Clock`], so that
//!   procedures on different channels run at the same time and the link is served between steps
//!   (a ping is answered within one `poll`, well under 10 ms of jig time).
//! - [`board`]: what a board hands over: bus, delay, [`Clock`], the pins of each slot.
//! - [`jig`]: framing, dispatch, slot state and events; [`replies`] keeps the last replies for
//!   `Resend`, [`running`] tracks each running procedure's wake-ups and progress, [`transmit`]
//!   holds the encoded frames waiting for the link.
//!
//! Invariant: the jig measures, the controller judges. Nothing here compares a value with a limit.
#![cfg_attr(not(test), no_std)]

pub mod board;
pub mod driver;
pub mod jig;
pub mod procedure;
pub mod replies;
pub mod running;
pub mod transmit;

pub use board::{Board, Clock, PinFault, SlotIo, SlotOutput, SlotPins, MAX_SLOTS};
pub use jig::{Jig, JigConfig};

/// Version of this library, announced in `Hello` unless the board sets its own
/// (`JigConfig::firmware_version`).
pub const FIRMWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
