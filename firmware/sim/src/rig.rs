//! The simulated jig's wiring on the host: the rig of `benchline_models` on the simulator's
//! [`SimClock`], shared by the bus, the pins and the simulator loop through `Rc<RefCell<Rig>>`
//! (one jig runs on one thread), and the busy-wait delay that moves jig time forward.

use std::cell::RefCell;
use std::rc::Rc;

pub use benchline_models::rig::{PinId, SlotRig, Wiring, BUS_HZ};

use crate::clock::SimClock;

/// The whole simulated jig hardware on the simulator's clock. `Rig::new(slots, clock, seed)`
/// gives the shared `Rc<RefCell<Rig>>`.
pub type Rig = benchline_models::Rig<SimClock>;

/// A digital pin of the simulated jig: `SimPin::new(&rig, slot, PinId)`.
pub type SimPin = benchline_models::RigPin<Rc<RefCell<Rig>>>;

/// All the pins of one simulated slot as the jig's `SlotIo`: `SimSlotIo::new(&rig, slot)`.
pub type SimSlotIo = benchline_models::RigSlot<Rc<RefCell<Rig>>>;

/// Busy-wait delay: moves jig time forward instead of sleeping.
pub struct SimDelay {
    clock: SimClock,
}

impl SimDelay {
    /// A delay on `clock`.
    pub fn new(clock: SimClock) -> Self {
        SimDelay { clock }
    }
}

impl embedded_hal::delay::DelayNs for SimDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.clock.advance(u64::from(ns).div_ceil(1000));
    }
}
