//! The CMSDK APB UART (ARM DDI0479C, QEMU's `cmsdk-apb-uart`): one byte of transmit buffer,
//! one byte of receive buffer, polled. Implements the embedded-io traits the jig's link needs;
//! `write_ready` is true when the transmit buffer is free, so a `write` after it never blocks.
#![allow(unsafe_code)]

use core::convert::Infallible;
use core::ptr::{read_volatile, write_volatile};

use embedded_io::{ErrorType, Read, ReadReady, Write, WriteReady};

/// UART0 on mps2-an386: the jig's link to the controller.
pub const UART0: usize = 0x4000_4000;
/// UART1 on mps2-an386: the control channel of the simulated rig.
pub const UART1: usize = 0x4000_5000;

/// APB clock of the UARTs (QEMU's SYSCLK_FRQ).
const PCLK_HZ: u32 = 25_000_000;
/// Line rate. Under QEMU it only has to be a valid divider (at least 16): bytes move as fast
/// as the host passes them.
const BAUD: u32 = 115_200;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const STATE_OVERRUNS: u32 = (1 << 2) | (1 << 3);
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

/// One CMSDK APB UART. Create one value per UART: it is the only user of its registers.
pub struct Uart {
    base: usize,
}

impl Uart {
    /// Programs the divider and enables transmit and receive (8N1, no interrupts).
    pub fn new(base: usize) -> Self {
        let uart = Uart { base };
        uart.write_reg(CTRL, 0);
        uart.write_reg(BAUDDIV, PCLK_HZ / BAUD);
        uart.write_reg(STATE, STATE_OVERRUNS);
        uart.write_reg(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        uart
    }

    fn read_reg(&self, offset: usize) -> u32 {
        // SAFETY: `base` is one of the CMSDK UARTs of the memory map above and `offset` one of
        // its registers; a volatile 32-bit access is how the peripheral is read.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write_reg(&self, offset: usize, value: u32) {
        // SAFETY: as in `read_reg`; this value is the only user of these registers.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn state(&self) -> u32 {
        self.read_reg(STATE)
    }

    /// The received byte, if one is waiting.
    pub fn try_read_byte(&mut self) -> Option<u8> {
        (self.state() & STATE_RX_FULL != 0).then(|| self.read_reg(DATA) as u8)
    }

    /// Queues a byte if the transmit buffer is free; false when it is not.
    pub fn try_write_byte(&mut self, byte: u8) -> bool {
        if self.state() & STATE_TX_FULL != 0 {
            return false;
        }
        self.write_reg(DATA, u32::from(byte));
        true
    }

    /// Writes every byte, waiting for the transmit buffer (for the panic report and the
    /// control channel, whose peer is the test harness).
    pub fn write_blocking(&mut self, bytes: &[u8]) {
        for &b in bytes {
            while !self.try_write_byte(b) {
                core::hint::spin_loop();
            }
        }
    }
}

impl ErrorType for Uart {
    type Error = Infallible;
}

impl ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.state() & STATE_RX_FULL != 0)
    }
}

impl Read for Uart {
    /// Waits for the first byte (embedded-io's contract), then takes what is waiting.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        let first = loop {
            if let Some(b) = self.try_read_byte() {
                break b;
            }
            core::hint::spin_loop();
        };
        buf[0] = first;
        let mut n = 1;
        while n < buf.len() {
            match self.try_read_byte() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }
}

impl WriteReady for Uart {
    fn write_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.state() & STATE_TX_FULL == 0)
    }
}

impl Write for Uart {
    /// Waits until the transmit buffer takes the first byte (embedded-io's contract), then
    /// queues what it takes without waiting. After `write_ready() == true` it never waits.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        let Some((&first, rest)) = buf.split_first() else {
            return Ok(0);
        };
        while !self.try_write_byte(first) {
            core::hint::spin_loop();
        }
        let mut n = 1;
        for &b in rest {
            if !self.try_write_byte(b) {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        while self.state() & STATE_TX_FULL != 0 {
            core::hint::spin_loop();
        }
        Ok(())
    }
}
