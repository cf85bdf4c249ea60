//! The simulated jig's wiring: per slot the seated phone, the state of every pin and the load
//! setpoint, and the device models behind the slot multiplexer. Shared by the bus, the pins and
//! the simulator loop through `Rc<RefCell<Rig>>` (one jig runs on one thread).

use std::cell::RefCell;
use std::convert::Infallible;
use std::rc::Rc;

use benchline_jig::Clock;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::clock::SimClock;
use crate::device::Devices;
use crate::phone::Phone;

/// What the jig's outputs and analog setpoints are doing in one slot.
#[derive(Debug, Default, Clone)]
pub struct Wiring {
    /// VBUS relay closed, and since when (jig us).
    pub vbus_on_since: Option<u64>,
    /// Backlight driver enabled.
    pub backlight_en: bool,
    /// Clamp released.
    pub release: bool,
    /// Continuity current source enabled.
    pub cont_en: bool,
    /// Continuity selector address bits.
    pub cont_sel: [bool; 3],
    /// Load setpoint, A.
    pub load_a: f64,
}

impl Wiring {
    /// Pin index selected on the continuity selector.
    pub fn cont_pin(&self) -> usize {
        self.cont_sel
            .iter()
            .enumerate()
            .map(|(i, &b)| usize::from(b) << i)
            .sum()
    }
}

/// One slot.
pub struct SlotRig {
    /// The phone seated, if any.
    pub phone: Option<Phone>,
    /// Outputs and setpoints.
    pub wiring: Wiring,
    /// Device models behind this slot's multiplexer channel.
    pub devices: Devices,
}

/// The whole simulated jig hardware.
pub struct Rig {
    /// Slots.
    pub slots: Vec<SlotRig>,
    /// Channel the slot multiplexer connects (`None` when no channel or several).
    pub mux: Option<usize>,
    /// Jig time.
    pub clock: SimClock,
    /// Measurement noise.
    pub rng: ChaCha8Rng,
    /// I2C clock, Hz: every transaction takes the jig time it would take on a real bus at this
    /// speed. [`Rig::new`] sets the standard-mode 100 kHz of the SMBus gauge; 0 makes
    /// transactions take no time.
    pub bus_hz: u32,
}

/// I2C clock of the jig's bus, Hz (SMBus and standard mode).
pub const BUS_HZ: u32 = 100_000;

impl Rig {
    /// A jig with `slots` empty slots.
    pub fn new(slots: usize, clock: SimClock, seed: u64) -> Rc<RefCell<Rig>> {
        let slots = (0..slots)
            .map(|_| SlotRig {
                phone: None,
                wiring: Wiring::default(),
                devices: Devices::default(),
            })
            .collect();
        Rc::new(RefCell::new(Rig {
            slots,
            mux: None,
            clock,
            rng: ChaCha8Rng::seed_from_u64(seed),
            bus_hz: BUS_HZ,
        }))
    }

    /// Seats a phone (the presence switch closes). Returns the phone already there, if any.
    pub fn insert(&mut self, slot: usize, phone: Phone) -> Option<Phone> {
        let s = self.slots.get_mut(slot)?;
        // The phone brings its own gauge, touch IC and EEPROM; the jig's parts keep their state.
        s.devices.gauge = Default::default();
        s.devices.touch = Default::default();
        s.devices.eeprom = Default::default();
        s.phone.replace(phone)
    }

    /// Takes the phone out.
    pub fn remove(&mut self, slot: usize) -> Option<Phone> {
        self.slots.get_mut(slot)?.phone.take()
    }

    /// True while the jig holds the slot's clamp released (testing is over).
    pub fn released(&self, slot: usize) -> bool {
        self.slots.get(slot).is_some_and(|s| s.wiring.release)
    }

    /// True when the slot is empty.
    pub fn is_empty(&self, slot: usize) -> bool {
        self.slots.get(slot).is_none_or(|s| s.phone.is_none())
    }
}

/// Which pin of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinId {
    /// Presence switch (input).
    Presence,
    /// VBUS relay.
    VbusEn,
    /// Backlight enable.
    BacklightEn,
    /// Clamp release.
    Release,
    /// Continuity current source.
    ContEn,
    /// Continuity selector bit.
    ContSel(u8),
}

/// A digital pin of the simulated jig.
pub struct SimPin {
    rig: Rc<RefCell<Rig>>,
    slot: usize,
    id: PinId,
}

impl SimPin {
    /// The pin `id` of `slot`.
    pub fn new(rig: &Rc<RefCell<Rig>>, slot: usize, id: PinId) -> Self {
        SimPin {
            rig: rig.clone(),
            slot,
            id,
        }
    }

    fn set(&mut self, high: bool) {
        let mut rig = self.rig.borrow_mut();
        let now = rig.clock.now_us();
        let Some(s) = rig.slots.get_mut(self.slot) else {
            return;
        };
        let w = &mut s.wiring;
        match self.id {
            PinId::Presence => {}
            PinId::VbusEn => {
                if !high {
                    w.vbus_on_since = None;
                } else if w.vbus_on_since.is_none() {
                    w.vbus_on_since = Some(now);
                }
            }
            PinId::BacklightEn => w.backlight_en = high,
            PinId::Release => w.release = high,
            PinId::ContEn => w.cont_en = high,
            PinId::ContSel(b) => {
                if let Some(bit) = w.cont_sel.get_mut(usize::from(b)) {
                    *bit = high;
                }
            }
        }
    }
}

impl embedded_hal::digital::ErrorType for SimPin {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for SimPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.set(false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.set(true);
        Ok(())
    }
}

impl embedded_hal::digital::InputPin for SimPin {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.id == PinId::Presence && !self.rig.borrow().is_empty(self.slot))
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        self.is_high().map(|h| !h)
    }
}

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
