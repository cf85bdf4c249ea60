//! The simulated I2C bus: the TCA9548A slot multiplexer at 0x70, and behind the selected channel
//! the device models of that slot. An address nobody answers gets a NACK, as on a real bus.
//!
//! A transaction takes jig time as on a real bus at [`Rig::bus_hz`]: nine clocks per byte (eight
//! bits and the acknowledge), the address byte of every operation included, plus a start and a
//! stop. The firmware's bus work therefore counts in its procedures' durations.

use std::cell::RefCell;
use std::rc::Rc;

use benchline_jig::Clock;
use embedded_hal::i2c::{ErrorKind, I2c, NoAcknowledgeSource, Operation};

use crate::device::{Device, Env, Nack};
use crate::rig::Rig;

const MUX_ADDR: u8 = 0x70;
const INA226: [u8; 3] = [0x40, 0x44, 0x45];

/// The jig's I2C bus.
pub struct SimBus {
    rig: Rc<RefCell<Rig>>,
}

impl SimBus {
    /// The bus of `rig`.
    pub fn new(rig: &Rc<RefCell<Rig>>) -> Self {
        SimBus { rig: rig.clone() }
    }
}

impl embedded_hal::i2c::ErrorType for SimBus {
    type Error = ErrorKind;
}

/// Jig time a transaction of `bytes` bytes (address bytes included) takes at `hz`, us; zero when
/// `hz` is zero (bus time not modelled).
pub fn transfer_us(bytes: usize, hz: u32) -> u64 {
    if hz == 0 {
        return 0;
    }
    let clocks = bytes as u64 * 9 + 2;
    (clocks * 1_000_000).div_ceil(u64::from(hz))
}

fn nack(_: Nack) -> ErrorKind {
    ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
}

impl I2c for SimBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), ErrorKind> {
        let mut rig = self.rig.borrow_mut();
        let bytes: usize = operations
            .iter()
            .map(|op| {
                1 + match op {
                    Operation::Write(data) => data.len(),
                    Operation::Read(buf) => buf.len(),
                }
            })
            .sum();
        let bus_us = transfer_us(bytes, rig.bus_hz);
        rig.clock.advance(bus_us);
        if address == MUX_ADDR {
            for op in operations {
                match op {
                    Operation::Write(data) => {
                        let mask = *data.first().ok_or(ErrorKind::Other)?;
                        rig.mux = (mask.count_ones() == 1).then(|| mask.trailing_zeros() as usize);
                    }
                    Operation::Read(buf) => {
                        let mask = rig.mux.map_or(0, |s| 1u8 << s);
                        buf.iter_mut().for_each(|b| *b = mask);
                    }
                }
            }
            return Ok(());
        }
        let now_us = rig.clock.now_us();
        let Rig {
            slots, mux, rng, ..
        } = &mut *rig;
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
