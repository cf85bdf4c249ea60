//! What a board hands to the application: the shared I2C bus, a delay, a monotonic clock and
//! the pins of every slot.
//!
//! A real HAL gives every pin its own type, so the application reaches a slot's pins through
//! the [`SlotIo`] trait. [`SlotPins`] implements it for any set of embedded-hal pins, each of
//! its own type and error type; a board (or a simulator) with other pins implements
//! [`SlotIo`] itself.

use embedded_hal::digital::{InputPin, OutputPin, PinState};
use heapless::Vec;

/// Most slots one jig drives (the slot multiplexer has this many channels in use).
pub const MAX_SLOTS: usize = 4;

/// A monotonic clock in microseconds since boot. On a board this is a hardware timer; in the
/// simulator it is scaled or virtual time.
pub trait Clock {
    /// Microseconds since boot; never goes backwards.
    fn now_us(&self) -> u64;
}

/// A digital output of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotOutput {
    /// `vbus_en`: relay that applies 5 V to the phone's VBUS.
    VbusEn,
    /// `backlight_en`: backlight driver enable on the display flex connector.
    BacklightEn,
    /// `release`: clamp solenoid; high releases the phone to the operator.
    Release,
    /// `cont_en`: continuity test current source enable.
    ContEn,
    /// `cont_sel[n]`: address line A`n` (0..3) of the continuity tester's analog selector.
    ContSel(u8),
}

/// A pin that could not be read or driven (or an output the slot does not have). The
/// procedure that needed the pin answers `HardwareFault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinFault;

/// The pins of one slot, whatever their types.
pub trait SlotIo {
    /// The presence switch under the phone: true when a phone is seated.
    fn phone_present(&mut self) -> Result<bool, PinFault>;
    /// Drives one output high or low.
    fn set(&mut self, output: SlotOutput, high: bool) -> Result<(), PinFault>;
}

/// Ready-made [`SlotIo`] for a board whose pins are embedded-hal pins, each of its own type.
pub struct SlotPins<P, V, B, R, C, S0, S1, S2> {
    /// Presence switch under the phone: high when a phone is seated.
    pub presence: P,
    /// Relay that applies 5 V to the phone's VBUS.
    pub vbus_en: V,
    /// Backlight driver enable on the display flex connector.
    pub backlight_en: B,
    /// Clamp solenoid: high releases the phone to the operator.
    pub release: R,
    /// Continuity test current source enable.
    pub cont_en: C,
    /// Analog pin selector address (A0, A1, A2) of the continuity tester.
    pub cont_sel: (S0, S1, S2),
}

fn drive(pin: &mut impl OutputPin, high: bool) -> Result<(), PinFault> {
    pin.set_state(PinState::from(high)).map_err(|_| PinFault)
}

impl<P, V, B, R, C, S0, S1, S2> SlotIo for SlotPins<P, V, B, R, C, S0, S1, S2>
where
    P: InputPin,
    V: OutputPin,
    B: OutputPin,
    R: OutputPin,
    C: OutputPin,
    S0: OutputPin,
    S1: OutputPin,
    S2: OutputPin,
{
    fn phone_present(&mut self) -> Result<bool, PinFault> {
        self.presence.is_high().map_err(|_| PinFault)
    }

    fn set(&mut self, output: SlotOutput, high: bool) -> Result<(), PinFault> {
        match output {
            SlotOutput::VbusEn => drive(&mut self.vbus_en, high),
            SlotOutput::BacklightEn => drive(&mut self.backlight_en, high),
            SlotOutput::Release => drive(&mut self.release, high),
            SlotOutput::ContEn => drive(&mut self.cont_en, high),
            SlotOutput::ContSel(0) => drive(&mut self.cont_sel.0, high),
            SlotOutput::ContSel(1) => drive(&mut self.cont_sel.1, high),
            SlotOutput::ContSel(2) => drive(&mut self.cont_sel.2, high),
            SlotOutput::ContSel(_) => Err(PinFault),
        }
    }
}

/// Everything the application drives.
pub struct Board<I2C, S, D> {
    /// The I2C bus; every slot sits behind one channel of the slot multiplexer.
    pub i2c: I2C,
    /// Short busy-wait delays (conversions, settling), never longer than a few milliseconds.
    pub delay: D,
    /// One entry per slot.
    pub slots: Vec<S, MAX_SLOTS>,
}

impl<I2C, S: SlotIo, D> Board<I2C, S, D> {
    /// Drives one output of a slot. A slot the board does not have is a [`PinFault`].
    pub fn set(&mut self, slot: u8, output: SlotOutput, high: bool) -> Result<(), PinFault> {
        self.slots
            .get_mut(usize::from(slot))
            .ok_or(PinFault)?
            .set(output, high)
    }

    /// Whether a phone sits in the slot; a presence switch that cannot be read (or a slot the
    /// board does not have) counts as empty.
    pub fn phone_present(&mut self, slot: u8) -> bool {
        self.slots
            .get_mut(usize::from(slot))
            .is_some_and(|p| p.phone_present().unwrap_or(false))
    }

    /// Drives every output of a slot to its safe state (all off).
    pub fn slot_safe(&mut self, slot: usize) {
        if let Some(p) = self.slots.get_mut(slot) {
            // A pin that cannot be driven is reported by the next procedure that needs it.
            for output in [
                SlotOutput::VbusEn,
                SlotOutput::BacklightEn,
                SlotOutput::ContEn,
                SlotOutput::Release,
            ] {
                let _ = p.set(output, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::digital::ErrorType;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};

    use crate::jig::tests::Lamp;

    /// An output pin of another type whose driver always fails.
    struct Broken;

    #[derive(Debug)]
    struct BrokenError;

    impl embedded_hal::digital::Error for BrokenError {
        fn kind(&self) -> embedded_hal::digital::ErrorKind {
            embedded_hal::digital::ErrorKind::Other
        }
    }

    impl ErrorType for Broken {
        type Error = BrokenError;
    }

    impl OutputPin for Broken {
        fn set_low(&mut self) -> Result<(), BrokenError> {
            Err(BrokenError)
        }
        fn set_high(&mut self) -> Result<(), BrokenError> {
            Err(BrokenError)
        }
    }

    #[test]
    fn pins_of_distinct_types_are_driven_through_slot_pins() {
        let presence = Mock::new(&[Transaction::get(State::High), Transaction::get(State::Low)]);
        let vbus = Mock::new(&[Transaction::set(State::High), Transaction::set(State::Low)]);
        let mut pins = SlotPins {
            presence,
            vbus_en: vbus,
            backlight_en: Lamp::default(),
            release: Lamp::default(),
            cont_en: Broken,
            cont_sel: (Lamp::default(), Lamp::default(), Broken),
        };
        assert_eq!(pins.phone_present(), Ok(true));
        assert_eq!(pins.phone_present(), Ok(false));
        assert_eq!(pins.set(SlotOutput::VbusEn, true), Ok(()));
        assert_eq!(pins.set(SlotOutput::VbusEn, false), Ok(()));
        assert_eq!(pins.set(SlotOutput::BacklightEn, true), Ok(()));
        assert!(pins.backlight_en.0);
        assert_eq!(pins.set(SlotOutput::Release, true), Ok(()));
        assert!(pins.release.0 && pins.backlight_en.0);
        assert_eq!(pins.set(SlotOutput::ContSel(1), true), Ok(()));
        assert!(!pins.cont_sel.0 .0 && pins.cont_sel.1 .0);
        assert_eq!(pins.set(SlotOutput::ContEn, true), Err(PinFault));
        assert_eq!(pins.set(SlotOutput::ContSel(2), false), Err(PinFault));
        assert_eq!(
            pins.set(SlotOutput::ContSel(3), true),
            Err(PinFault),
            "a selector line the slot does not have"
        );
        pins.presence.done();
        pins.vbus_en.done();
    }

    #[test]
    fn slot_safe_turns_every_output_off_even_past_a_broken_pin() {
        let mut board: Board<(), _, ()> = Board {
            i2c: (),
            delay: (),
            slots: Vec::new(),
        };
        let pins = SlotPins {
            presence: Mock::new(&[Transaction::get(State::High)]),
            vbus_en: Lamp(true),
            backlight_en: Lamp(true),
            release: Lamp(true),
            cont_en: Broken,
            cont_sel: (Lamp(true), Lamp(false), Lamp(false)),
        };
        assert!(board.slots.push(pins).is_ok());
        board.slot_safe(0);
        let p = &mut board.slots[0];
        assert!(!p.vbus_en.0 && !p.backlight_en.0 && !p.release.0);
        assert!(board.phone_present(0));
        assert!(!board.phone_present(1), "no such slot counts as empty");
        assert_eq!(board.set(1, SlotOutput::VbusEn, true), Err(PinFault));
        board.slots[0].presence.done();
    }
}
