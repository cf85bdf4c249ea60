//! Simulated jig hardware without std (`no_std` + `alloc`), the same code in the host simulator
//! (`benchline-sim`) and in a firmware image that simulates its phones (the QEMU board): a
//! phone's physical model ([`phone::Phone`], serde: TOML on the host, postcard on the control
//! channel), the battery cell under load ([`cell`]), the register-level device models
//! ([`device`]), the rig ([`rig::Rig`]: slots, wiring, the I2C transaction logic of the slot
//! multiplexer and its devices), and the handles a jig is built on, generic over how the rig is
//! shared ([`handle::RigHandle`]: `Rc<RefCell<Rig<C>>>` on the host, `&'static RefCell<Rig<C>>`
//! in an image): [`bus::RigBus`] (`embedded_hal::i2c::I2c`), [`pin::RigPin`] (embedded-hal
//! pins) and [`pin::RigSlot`] (the jig's `SlotIo`). [`control`] holds the messages of the
//! image's second channel.
//!
//! The rig keeps no clock of its own: its clock `C` ([`rig::RigClock`]) gives jig time and is
//! told the bus time of every I2C transaction, so the host simulator advances its clock by it
//! while an image may do nothing. Float math goes through `libm`, and the noise through
//! `ChaCha8Rng`, so that host and image give the same readings for the same seed.
//!
//! This crate never depends on the controller or on std.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod bus;
pub mod cell;
pub mod control;
pub mod device;
pub mod handle;
pub mod phone;
pub mod pin;
pub mod rig;

pub use bus::RigBus;
pub use handle::RigHandle;
pub use phone::{Battery, Connector, Expected, Phone, Port, Screen};
pub use pin::{RigPin, RigSlot};
pub use rig::{PinId, Rig, RigClock, SlotRig, Wiring, BUS_HZ};
