//! The jig's serial link: two byte pipes between the jig task and the USB task, and the
//! embedded-io adapter the jig reads and writes through.
//!
//! Nothing here waits: the adapter only moves what the pipes hold or have room for, so a slow
//! host or an unplugged cable never holds the jig's poll loop (the jig keeps its own bounded
//! transmit queue and writes only what [`WriteReady`] allows). The USB task wakes the jig task
//! through [`ACTIVITY`] whenever it moved bytes in either direction.

use core::convert::Infallible;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::pipe::Pipe;
use embassy_sync::signal::Signal;
use embedded_io::{ErrorType, Read, ReadReady, Write, WriteReady};

/// Bytes received from the host and not yet read by the jig (a few request frames).
pub const RX_BYTES: usize = 512;
/// Bytes written by the jig and not yet sent to the host (a few reply frames; the jig's own
/// transmit queue holds the rest).
pub const TX_BYTES: usize = 1024;

/// A byte pipe shared by the two tasks.
pub type LinkPipe<const N: usize> = Pipe<CriticalSectionRawMutex, N>;

/// Host to jig.
pub static RX: LinkPipe<RX_BYTES> = Pipe::new();
/// Jig to host.
pub static TX: LinkPipe<TX_BYTES> = Pipe::new();
/// Raised by the USB task when bytes arrived in [`RX`] or left [`TX`]: the jig has work.
pub static ACTIVITY: Signal<CriticalSectionRawMutex, ()> = Signal::new();

/// True when the jig-to-host pipe has no room: the jig cannot send until the USB task has
/// passed bytes to the host (it then raises [`ACTIVITY`]).
pub fn transmit_full() -> bool {
    TX.is_full()
}

/// The jig's end of the two pipes.
pub struct PipeLink {
    rx: &'static LinkPipe<RX_BYTES>,
    tx: &'static LinkPipe<TX_BYTES>,
}

impl PipeLink {
    /// The link over the board's pipes [`RX`] and [`TX`].
    pub fn new() -> Self {
        PipeLink { rx: &RX, tx: &TX }
    }
}

impl ErrorType for PipeLink {
    type Error = Infallible;
}

impl Read for PipeLink {
    /// Copies what the receive pipe holds, at most `buf.len()` bytes. Never waits: with nothing
    /// received it returns 0, so the jig reads only after [`ReadReady::read_ready`] said yes.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        Ok(self.rx.try_read(buf).unwrap_or(0))
    }
}

impl ReadReady for PipeLink {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.rx.is_empty())
    }
}

impl Write for PipeLink {
    /// Copies as much of `buf` as the transmit pipe has room for; never waits (0 when full).
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        Ok(self.tx.try_write(buf).unwrap_or(0))
    }

    /// Nothing to do: the USB task sends what the pipe holds as soon as the host takes it.
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl WriteReady for PipeLink {
    fn write_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.tx.is_full())
    }
}
