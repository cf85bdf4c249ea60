//! The jig's serial port as two byte queues, fed and drained by the simulator loop.

use std::collections::VecDeque;
use std::convert::Infallible;

/// In-memory serial link: the simulator pushes what the host sent with [`MemLink::feed`] and
/// takes what the jig wrote with [`MemLink::take_output`].
#[derive(Default)]
pub struct MemLink {
    inbound: VecDeque<u8>,
    outbound: Vec<u8>,
}

impl MemLink {
    /// Bytes from the host.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.inbound.extend(bytes);
    }

    /// Everything the jig wrote since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbound)
    }

    /// Drops unread input (the jig was reset).
    pub fn clear(&mut self) {
        self.inbound.clear();
        self.outbound.clear();
    }
}

impl embedded_io::ErrorType for MemLink {
    type Error = Infallible;
}

impl embedded_io::Read for MemLink {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let n = buf.len().min(self.inbound.len());
        for (dst, src) in buf.iter_mut().zip(self.inbound.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for MemLink {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.inbound.is_empty())
    }
}

impl embedded_io::Write for MemLink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.outbound.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
