//! The simulated I2C bus on the host: the models' [`benchline_models::RigBus`] on the shared
//! `Rc<RefCell<Rig>>`. Every transaction advances the simulator's clock by its bus time
//! ([`transfer_us`] at [`Rig::bus_hz`], through `RigClock::bus_time`), so the firmware's bus
//! work counts in its procedures' durations.

use std::cell::RefCell;
use std::rc::Rc;

pub use benchline_models::rig::transfer_us;

use crate::rig::Rig;

/// The jig's I2C bus: `SimBus::new(&rig)`.
pub type SimBus = benchline_models::RigBus<Rc<RefCell<Rig>>>;
