//! The TCA9555 16-bit I2C GPIO expander that drives the continuity selectors' address lines
//! (`cont_sel0..2` of the four slots): the Pico has 26 usable GPIOs and four slots need 32 pins,
//! so the 12 address lines move to the expander (README, "Pin table").
//!
//! The expander sits on I2C0 upstream of the slot multiplexer, at 0x20 (A2..A0 tied low), an
//! address no slot device uses. Slot `s`'s line `n` is expander bit `4 * s + n` (P0.0-P0.2 for
//! slot 0, P0.4-P0.6 slot 1, P1.0-P1.2 slot 2, P1.4-P1.6 slot 3); bits 3, 7, 11 and 15 are
//! unused and driven low. The expander keeps a shadow of its output registers, so driving one
//! line writes one port register (one 2-byte I2C write, about 70 us at 400 kHz).

use core::cell::{Cell, RefCell};

use embedded_hal::digital::{Error, ErrorKind, ErrorType, OutputPin};
use embedded_hal::i2c::I2c;

/// 7-bit I2C address (A2..A0 low).
pub const ADDR: u8 = 0x20;

/// Registers (the pair of ports auto-increments within a pair).
mod reg {
    /// Output port 0; output port 1 follows.
    pub const OUTPUT0: u8 = 0x02;
    /// Configuration port 0 (1 = input, the power-on state); port 1 follows.
    pub const CONFIG0: u8 = 0x06;
}

/// The expander did not answer, or the bus is in use (a write from inside another bus
/// transaction, which the jig never does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpanderFault;

impl Error for ExpanderFault {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// The expander on a bus it shares with the jig's devices.
pub struct Expander<'a, B> {
    bus: &'a RefCell<B>,
    /// Levels of the 16 outputs as last asked for.
    shadow: Cell<u16>,
    /// All pins were made outputs (after a power-up the expander's pins are inputs).
    configured: Cell<bool>,
}

impl<'a, B: I2c> Expander<'a, B> {
    /// The expander on `bus`; nothing is sent until [`Expander::configure`] or the first write.
    pub fn new(bus: &'a RefCell<B>) -> Self {
        Expander {
            bus,
            shadow: Cell::new(0),
            configured: Cell::new(false),
        }
    }

    /// Drives every output low, then makes every pin an output. An expander that does not
    /// answer now is configured again by the next write to one of its lines.
    pub fn configure(&self) -> Result<(), ExpanderFault> {
        let [lo, hi] = self.shadow.get().to_le_bytes();
        self.write(&[reg::OUTPUT0, lo, hi])?;
        self.write(&[reg::CONFIG0, 0x00, 0x00])?;
        self.configured.set(true);
        Ok(())
    }

    /// One output line of the expander, `bit` 0..16.
    pub fn line(&'a self, bit: u8) -> Line<'a, B> {
        Line {
            expander: self,
            bit: bit & 0x0F,
        }
    }

    fn drive(&self, bit: u8, high: bool) -> Result<(), ExpanderFault> {
        let mask = 1u16 << bit;
        let levels = if high {
            self.shadow.get() | mask
        } else {
            self.shadow.get() & !mask
        };
        self.shadow.set(levels);
        if !self.configured.get() {
            // Writes the whole shadow, this line included.
            return self.configure();
        }
        let port = bit / 8;
        let [lo, hi] = levels.to_le_bytes();
        self.write(&[reg::OUTPUT0 + port, if port == 0 { lo } else { hi }])
    }

    fn write(&self, bytes: &[u8]) -> Result<(), ExpanderFault> {
        let mut bus = self.bus.try_borrow_mut().map_err(|_| ExpanderFault)?;
        bus.write(ADDR, bytes).map_err(|_| ExpanderFault)
    }
}

/// One output line of the expander, an embedded-hal [`OutputPin`].
pub struct Line<'a, B> {
    expander: &'a Expander<'a, B>,
    bit: u8,
}

impl<B> ErrorType for Line<'_, B> {
    type Error = ExpanderFault;
}

impl<B: I2c> OutputPin for Line<'_, B> {
    fn set_low(&mut self) -> Result<(), ExpanderFault> {
        self.expander.drive(self.bit, false)
    }

    fn set_high(&mut self) -> Result<(), ExpanderFault> {
        self.expander.drive(self.bit, true)
    }
}
