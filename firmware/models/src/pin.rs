//! The digital pins of a simulated slot, on the rig behind a handle: [`RigPin`] is one
//! embedded-hal pin (input and output alike), [`RigSlot`] all the pins of one slot as the jig's
//! [`SlotIo`].

use core::convert::Infallible;

use benchline_jig::{Clock, PinFault, SlotIo, SlotOutput};

use crate::handle::RigHandle;
use crate::rig::PinId;

/// One digital pin of the simulated jig.
pub struct RigPin<H> {
    rig: H,
    slot: usize,
    id: PinId,
}

impl<H: RigHandle> RigPin<H> {
    /// The pin `id` of `slot`.
    pub fn new(rig: &H, slot: usize, id: PinId) -> Self {
        RigPin {
            rig: rig.clone(),
            slot,
            id,
        }
    }

    fn set(&mut self, high: bool) {
        let mut rig = self.rig.rig().borrow_mut();
        let now = rig.clock.now_us();
        rig.set_pin(self.slot, self.id, high, now);
    }
}

impl<H> embedded_hal::digital::ErrorType for RigPin<H> {
    type Error = Infallible;
}

impl<H: RigHandle> embedded_hal::digital::OutputPin for RigPin<H> {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.set(false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.set(true);
        Ok(())
    }
}

impl<H: RigHandle> embedded_hal::digital::InputPin for RigPin<H> {
    /// The presence switch reads high while a phone is seated; outputs read low.
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.id == PinId::Presence && self.rig.rig().borrow().pin(self.slot, self.id))
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        self.is_high().map(|h| !h)
    }
}

/// Every pin of one simulated slot, as the jig's [`SlotIo`].
pub struct RigSlot<H> {
    rig: H,
    slot: usize,
}

impl<H: RigHandle> RigSlot<H> {
    /// The pins of `slot`.
    pub fn new(rig: &H, slot: usize) -> Self {
        RigSlot {
            rig: rig.clone(),
            slot,
        }
    }
}

impl<H: RigHandle> SlotIo for RigSlot<H> {
    fn phone_present(&mut self) -> Result<bool, PinFault> {
        Ok(self.rig.rig().borrow().pin(self.slot, PinId::Presence))
    }

    fn set(&mut self, output: SlotOutput, high: bool) -> Result<(), PinFault> {
        let id = match output {
            SlotOutput::VbusEn => PinId::VbusEn,
            SlotOutput::BacklightEn => PinId::BacklightEn,
            SlotOutput::Release => PinId::Release,
            SlotOutput::ContEn => PinId::ContEn,
            SlotOutput::ContSel(b @ 0..=2) => PinId::ContSel(b),
            SlotOutput::ContSel(_) => return Err(PinFault),
        };
        let mut rig = self.rig.rig().borrow_mut();
        let now = rig.clock.now_us();
        rig.set_pin(self.slot, id, high, now);
        Ok(())
    }
}
