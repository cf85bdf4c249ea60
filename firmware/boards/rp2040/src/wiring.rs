//! The pin table in code: which RP2040 pin does what (the README's "Pin table" says the same).
//!
//! - I2C0: SDA on GP0, SCL on GP1, 400 kHz, to the TCA9548A slot multiplexer (0x70) and the
//!   TCA9555 expander (0x20).
//! - Slot `s` (0..4) on five consecutive pins from GP`2 + 5 * s`: presence, vbus_en,
//!   backlight_en, release, cont_en.
//! - The continuity selector address lines `cont_sel0..2` of slot `s` on expander bits
//!   `4 * s .. 4 * s + 3` ([`crate::expander`]).

use benchline_jig::SlotPins;
use embassy_rp::gpio::{Input, Level, Output, Pin, Pull};
use embassy_rp::i2c::{Blocking, I2c};
use embassy_rp::peripherals::I2C0;
use embassy_rp::Peri;

use crate::expander::{Expander, Line};

/// The board's I2C bus.
pub type Bus = I2c<'static, I2C0, Blocking>;

/// The pins of one slot: five GPIOs and three expander lines.
pub type Slot<'a> = SlotPins<
    Input<'static>,
    Output<'static>,
    Output<'static>,
    Output<'static>,
    Output<'static>,
    Line<'a, Bus>,
    Line<'a, Bus>,
    Line<'a, Bus>,
>;

/// Bus clock: the INA226, ADS1115, TCA9548A and TCA9555 all take 400 kHz.
pub const I2C_HZ: u32 = 400_000;

/// The five GPIOs of one slot, in the order of the pin table.
pub struct SlotGpios<P: Pin, V: Pin, B: Pin, R: Pin, C: Pin> {
    /// Presence switch: closes to 3V3 when a phone is seated (internal pull-down).
    pub presence: Peri<'static, P>,
    /// Relay driver for VBUS (high = on).
    pub vbus_en: Peri<'static, V>,
    /// Backlight driver enable (high = on).
    pub backlight_en: Peri<'static, B>,
    /// Clamp solenoid driver (high = release).
    pub release: Peri<'static, R>,
    /// Continuity current source enable (high = on).
    pub cont_en: Peri<'static, C>,
}

impl<P: Pin, V: Pin, B: Pin, R: Pin, C: Pin> SlotGpios<P, V, B, R, C> {
    /// Slot `index`'s pins, every output low (its safe state) from the first instant.
    pub fn into_slot<'a>(self, expander: &'a Expander<'a, Bus>, index: u8) -> Slot<'a> {
        let base = 4 * index;
        SlotPins {
            presence: Input::new(self.presence, Pull::Down),
            vbus_en: Output::new(self.vbus_en, Level::Low),
            backlight_en: Output::new(self.backlight_en, Level::Low),
            release: Output::new(self.release, Level::Low),
            cont_en: Output::new(self.cont_en, Level::Low),
            cont_sel: (
                expander.line(base),
                expander.line(base + 1),
                expander.line(base + 2),
            ),
        }
    }
}
