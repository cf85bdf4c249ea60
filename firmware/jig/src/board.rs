//! What a board hands to the application: the shared I2C bus, a delay, a monotonic clock and
//! the pins of every slot.

use embedded_hal::digital::{InputPin, OutputPin};
use heapless::Vec;

/// Most slots one jig drives (the slot multiplexer has this many channels in use).
pub const MAX_SLOTS: usize = 4;

/// A monotonic clock in microseconds since boot. On a board this is a hardware timer; in the
/// simulator it is scaled or virtual time.
pub trait Clock {
    /// Microseconds since boot; never goes backwards.
    fn now_us(&self) -> u64;
}

/// The pins of one slot.
pub struct SlotPins<O, I> {
    /// Presence switch under the phone: high when a phone is seated.
    pub presence: I,
    /// Relay that applies 5 V to the phone's VBUS.
    pub vbus_en: O,
    /// Backlight driver enable on the display flex connector.
    pub backlight_en: O,
    /// Clamp solenoid: a pulse releases the phone to the operator.
    pub release: O,
    /// Continuity test current source enable.
    pub cont_en: O,
    /// Analog pin selector address (A0, A1, A2) of the continuity tester.
    pub cont_sel: [O; 3],
}

/// Everything the application drives.
pub struct Board<I2C, O, I, D> {
    /// The I2C bus; every slot sits behind one channel of the slot multiplexer.
    pub i2c: I2C,
    /// Short busy-wait delays (conversions, settling), never longer than a few milliseconds.
    pub delay: D,
    /// One entry per slot.
    pub slots: Vec<SlotPins<O, I>, MAX_SLOTS>,
}

impl<I2C, O: OutputPin, I: InputPin, D> Board<I2C, O, I, D> {
    /// Drives every output of a slot to its safe state (all off).
    pub fn slot_safe(&mut self, slot: usize) {
        if let Some(p) = self.slots.get_mut(slot) {
            // A pin that cannot be driven is reported by the next procedure that needs it.
            let _ = p.vbus_en.set_low();
            let _ = p.backlight_en.set_low();
            let _ = p.cont_en.set_low();
            let _ = p.release.set_low();
        }
    }
}
