//! The simulated jig's hardware: per slot the seated phone, the state of every pin and the load
//! setpoint, the device models behind the slot multiplexer, and the I2C transaction logic that
//! routes a transaction to them. No clock of its own: the operations that depend on time take
//! `now_us`, and the rig's [`RigClock`] (`Rig::clock`) says what time it is for the shared
//! handles ([`crate::bus::RigBus`], [`crate::pin::RigPin`], [`crate::pin::RigSlot`]).

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use benchline_jig::Clock;
use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource, Operation};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::device::{Device, Devices, Env, Nack};
use crate::phone::Phone;

/// Address of the TCA9548A slot multiplexer.
pub const MUX_ADDR: u8 = 0x70;
/// Addresses of the INA226 monitors (battery, VBUS, backlight paths), in path order.
pub const INA226: [u8; 3] = [0x40, 0x44, 0x45];
/// I2C clock of the jig's bus, Hz (SMBus and standard mode).
pub const BUS_HZ: u32 = 100_000;

/// The rig's time: jig time for the device models and the pins, and the hook that is told how
/// long each I2C transaction kept the bus busy (the host simulator advances its clock by it; a
/// firmware image may busy-wait or do nothing).
pub trait RigClock: Clock {
    /// An I2C transaction kept the bus busy for `us` microseconds (see [`transfer_us`]).
    fn bus_time(&self, us: u64);
}

/// Jig time a transaction of `bytes` bytes (address bytes included) takes at `hz`, us: nine
/// clocks per byte (eight bits and the acknowledge) plus a start and a stop; zero when `hz` is
/// zero (bus time not modelled).
pub fn transfer_us(bytes: usize, hz: u32) -> u64 {
    if hz == 0 {
        return 0;
    }
    let clocks = bytes as u64 * 9 + 2;
    (clocks * 1_000_000).div_ceil(u64::from(hz))
}

/// Bytes on the bus for `operations`: every operation's address byte and its data.
pub fn transaction_bytes(operations: &[Operation<'_>]) -> usize {
    operations
        .iter()
        .map(|op| {
            1 + match op {
                Operation::Write(data) => data.len(),
                Operation::Read(buf) => buf.len(),
            }
        })
        .sum()
}

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

/// One slot.
pub struct SlotRig {
    /// The phone seated, if any.
    pub phone: Option<Phone>,
    /// Outputs and setpoints.
    pub wiring: Wiring,
    /// Device models behind this slot's multiplexer channel.
    pub devices: Devices,
}

/// The whole simulated jig hardware, with the clock `C` its handles read.
pub struct Rig<C> {
    /// Slots.
    pub slots: Vec<SlotRig>,
    /// Channel the slot multiplexer connects (`None` when no channel or several).
    pub mux: Option<usize>,
    /// Jig time (and the bus-time hook).
    pub clock: C,
    /// Measurement noise.
    pub rng: ChaCha8Rng,
    /// I2C clock, Hz: every transaction takes the jig time it would take on a real bus at this
    /// speed. [`Rig::build`] sets the standard-mode 100 kHz of the SMBus gauge ([`BUS_HZ`]); 0
    /// makes transactions take no time.
    pub bus_hz: u32,
}

impl<C> Rig<C> {
    /// A jig with `slots` empty slots, its noise seeded with `seed`.
    pub fn build(slots: usize, clock: C, seed: u64) -> Self {
        let slots = (0..slots)
            .map(|_| SlotRig {
                phone: None,
                wiring: Wiring::default(),
                devices: Devices::default(),
            })
            .collect();
        Rig {
            slots,
            mux: None,
            clock,
            rng: ChaCha8Rng::seed_from_u64(seed),
            bus_hz: BUS_HZ,
        }
    }

    /// [`Rig::build`], shared by the bus, the pins and the simulator loop of one thread.
    pub fn new(slots: usize, clock: C, seed: u64) -> Rc<RefCell<Self>> {
        Rc::new(RefCell::new(Rig::build(slots, clock, seed)))
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

    /// Level of pin `id` of `slot`: the presence switch is high while a phone is seated; an
    /// output reads back what it was driven to. A slot that does not exist reads low.
    pub fn pin(&self, slot: usize, id: PinId) -> bool {
        let Some(s) = self.slots.get(slot) else {
            return false;
        };
        let w = &s.wiring;
        match id {
            PinId::Presence => s.phone.is_some(),
            PinId::VbusEn => w.vbus_on_since.is_some(),
            PinId::BacklightEn => w.backlight_en,
            PinId::Release => w.release,
            PinId::ContEn => w.cont_en,
            PinId::ContSel(b) => w.cont_sel.get(usize::from(b)).copied().unwrap_or(false),
        }
    }

    /// Drives output `id` of `slot` at jig time `now_us` (the VBUS relay remembers when it
    /// closed). Driving the presence switch, or a pin of a slot that does not exist, does
    /// nothing.
    pub fn set_pin(&mut self, slot: usize, id: PinId, high: bool, now_us: u64) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        let w = &mut s.wiring;
        match id {
            PinId::Presence => {}
            PinId::VbusEn => {
                if !high {
                    w.vbus_on_since = None;
                } else if w.vbus_on_since.is_none() {
                    w.vbus_on_since = Some(now_us);
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

    /// One I2C transaction at jig time `now_us`: the multiplexer at [`MUX_ADDR`] (a write
    /// selects the channel of a one-bit mask, a read returns the mask), else the device at
    /// `address` behind the selected channel. An address nobody answers gets a NACK, as on a
    /// real bus. Takes no bus time: the handles charge [`transfer_us`] to the clock first.
    pub fn transaction(
        &mut self,
        now_us: u64,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), ErrorKind> {
        if address == MUX_ADDR {
            for op in operations {
                match op {
                    Operation::Write(data) => {
                        let mask = *data.first().ok_or(ErrorKind::Other)?;
                        self.mux = (mask.count_ones() == 1).then(|| mask.trailing_zeros() as usize);
                    }
                    Operation::Read(buf) => {
                        let mask = self.mux.map_or(0, |s| 1u8 << s);
                        buf.iter_mut().for_each(|b| *b = mask);
                    }
                }
            }
            return Ok(());
        }
        let Rig {
            slots, mux, rng, ..
        } = self;
        let slot = mux
            .and_then(|s| slots.get_mut(s))
            .ok_or(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))?;
        let mut env = Env {
            phone: slot.phone.as_ref(),
            wiring: &mut slot.wiring,
            now_us,
            rng,
        };
        if let Some(index) = INA226.iter().position(|&a| a == address) {
            let dev = &mut slot.devices.monitors[index];
            for op in operations {
                match op {
                    Operation::Write(data) => dev.write(&mut env, data).map_err(nack)?,
                    Operation::Read(buf) => dev.read_path(&mut env, index, buf),
                }
            }
            return Ok(());
        }
        let dev: &mut dyn Device = slot
            .devices
            .at(address)
            .ok_or(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))?;
        for op in operations {
            match op {
                Operation::Write(data) => dev.write(&mut env, data).map_err(nack)?,
                Operation::Read(buf) => dev.read(&mut env, buf).map_err(nack)?,
            }
        }
        Ok(())
    }
}

fn nack(_: Nack) -> ErrorKind {
    ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
}
