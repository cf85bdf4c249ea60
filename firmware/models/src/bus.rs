//! The simulated I2C bus as an `embedded_hal::i2c::I2c`: the TCA9548A slot multiplexer at 0x70,
//! and behind the selected channel the device models of that slot ([`Rig::transaction`]).
//!
//! A transaction takes jig time as on a real bus at [`Rig::bus_hz`]: nine clocks per byte (eight
//! bits and the acknowledge), the address byte of every operation included, plus a start and a
//! stop ([`transfer_us`]). The bus tells the rig's clock first ([`RigClock::bus_time`]), then
//! runs the transaction at the clock's time, so the firmware's bus work counts in its
//! procedures' durations wherever the clock advances by it.

use benchline_jig::Clock;
use embedded_hal::i2c::{ErrorKind, I2c, Operation};

use crate::handle::RigHandle;
use crate::rig::{transaction_bytes, transfer_us, Rig, RigClock};

/// The jig's I2C bus on the rig behind handle `H`.
pub struct RigBus<H> {
    rig: H,
}

impl<H: RigHandle> RigBus<H> {
    /// The bus of `rig`.
    pub fn new(rig: &H) -> Self {
        RigBus { rig: rig.clone() }
    }
}

impl<H> embedded_hal::i2c::ErrorType for RigBus<H> {
    type Error = ErrorKind;
}

impl<H: RigHandle> I2c for RigBus<H> {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), ErrorKind> {
        let mut rig = self.rig.rig().borrow_mut();
        let bus_us = transfer_us(transaction_bytes(operations), rig.bus_hz);
        rig.clock.bus_time(bus_us);
        let now_us = rig.clock.now_us();
        Rig::transaction(&mut rig, now_us, address, operations)
    }
}

#[cfg(test)]
mod tests {
    use core::cell::{Cell, RefCell};

    use benchline_jig::{SlotIo, SlotOutput};
    use embedded_hal::digital::{InputPin, OutputPin};
    use embedded_hal::i2c::{ErrorKind, I2c, NoAcknowledgeSource};

    use super::*;
    use crate::pin::{RigPin, RigSlot};
    use crate::rig::{PinId, BUS_HZ};

    /// An image's clock: time moves only when the test says so; bus time is counted.
    #[derive(Default)]
    struct Ticks {
        now: Cell<u64>,
        bus: Cell<u64>,
    }

    impl Clock for &Ticks {
        fn now_us(&self) -> u64 {
            self.now.get()
        }
    }

    impl RigClock for &Ticks {
        fn bus_time(&self, us: u64) {
            self.bus.set(self.bus.get() + us);
        }
    }

    #[test]
    fn the_bus_routes_through_the_mux_and_charges_bus_time() -> Result<(), ErrorKind> {
        let ticks = Ticks::default();
        let cell = RefCell::new(Rig::build(2, &ticks, 7));
        let rig = &cell;
        let mut bus = RigBus::new(&rig);
        // No channel selected: the gauge does not answer.
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        assert_eq!(bus.write(0x0B, &[0x10]), Err(nack));
        bus.write(0x70, &[0b10])?;
        let mut mask = [0u8];
        bus.read(0x70, &mut mask)?;
        assert_eq!(mask, [0b10]);
        // Slot 1 is empty: the phone's gauge is absent, the jig's monitors answer.
        assert_eq!(bus.write(0x0B, &[0x10]), Err(nack));
        let mut id = [0u8; 2];
        bus.write_read(0x40, &[0xFE], &mut id)?;
        assert_eq!(id, [0x54, 0x49]);
        rig.borrow_mut().insert(1, crate::phone::tests::sample());
        let mut full = [0u8; 2];
        bus.write_read(0x0B, &[0x10], &mut full)?;
        assert_eq!(u16::from_le_bytes(full), 3600);
        // Every transaction so far (address bytes included), at 100 kHz: 9 clocks a byte + start and stop.
        let expect: u64 = [2, 2, 2, 2, 5, 5]
            .iter()
            .map(|&b| transfer_us(b, BUS_HZ))
            .sum();
        assert_eq!(ticks.bus.get(), expect);
        Ok(())
    }

    #[test]
    fn pins_and_slot_io_drive_the_same_wiring() -> Result<(), Box<dyn std::error::Error>> {
        let ticks = Ticks::default();
        let cell = RefCell::new(Rig::build(1, &ticks, 7));
        let rig = &cell;
        let mut presence = RigPin::new(&rig, 0, PinId::Presence);
        assert!(presence.is_low()?);
        rig.borrow_mut().insert(0, crate::phone::tests::sample());
        assert!(presence.is_high()?);
        ticks.now.set(1_000);
        let mut vbus = RigPin::new(&rig, 0, PinId::VbusEn);
        vbus.set_high()?;
        ticks.now.set(2_000);
        vbus.set_high()?;
        assert_eq!(rig.borrow().slots[0].wiring.vbus_on_since, Some(1_000));
        let mut io = RigSlot::new(&rig, 0);
        assert_eq!(io.phone_present(), Ok(true));
        io.set(SlotOutput::ContSel(1), true).map_err(|_| "pin")?;
        io.set(SlotOutput::ContSel(2), true).map_err(|_| "pin")?;
        assert_eq!(rig.borrow().slots[0].wiring.cont_pin(), 6);
        assert!(io.set(SlotOutput::ContSel(3), true).is_err());
        io.set(SlotOutput::Release, true).map_err(|_| "pin")?;
        assert!(rig.borrow().released(0));
        io.set(SlotOutput::VbusEn, false).map_err(|_| "pin")?;
        assert_eq!(rig.borrow().slots[0].wiring.vbus_on_since, None);
        Ok(())
    }
}
