//! The jig's serial port as two byte queues, fed and drained by the simulator loop.
//!
//! By default the link takes every byte the jig writes. A test can make it a slow link that
//! takes at most N bytes between two calls of [`MemLink::take_output`] (one poll of the
//! simulator loop), to exercise the jig's transmit queue.

use std::collections::VecDeque;
use std::convert::Infallible;

/// In-memory serial link: the simulator pushes what the host sent with [`MemLink::feed`] and
/// takes what the jig wrote with [`MemLink::take_output`].
#[derive(Default)]
pub struct MemLink {
    inbound: VecDeque<u8>,
    outbound: Vec<u8>,
    /// Bytes the link takes per poll; `None`: all of them.
    per_poll: Option<usize>,
    /// Bytes it still takes before the next [`MemLink::take_output`].
    room: usize,
}

impl MemLink {
    /// Bytes from the host.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.inbound.extend(bytes);
    }

    /// A link that takes at most `bytes` per poll (counted between two calls of
    /// [`MemLink::take_output`]); `None` takes everything, as by default.
    pub fn set_bytes_per_poll(&mut self, bytes: Option<usize>) {
        self.per_poll = bytes;
        self.room = bytes.unwrap_or(0);
    }

    /// Everything the jig wrote since the last call; a slow link then takes its next poll's
    /// bytes.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.room = self.per_poll.unwrap_or(0);
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
        let n = match self.per_poll {
            None => buf.len(),
            Some(_) => buf.len().min(self.room),
        };
        self.room -= n.min(self.room);
        self.outbound.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl embedded_io::WriteReady for MemLink {
    fn write_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.per_poll.is_none() || self.room > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_io::{Write, WriteReady};

    #[test]
    fn a_slow_link_takes_its_bytes_per_poll_and_then_is_not_ready() {
        let mut link = MemLink::default();
        assert_eq!(link.write_ready(), Ok(true));
        assert_eq!(
            link.write(&[1; 100]),
            Ok(100),
            "takes everything by default"
        );
        link.set_bytes_per_poll(Some(3));
        assert_eq!(link.write(&[2, 3]), Ok(2));
        assert_eq!(link.write(&[4, 5]), Ok(1));
        assert_eq!(link.write_ready(), Ok(false), "3 bytes taken this poll");
        let out = link.take_output();
        assert_eq!(out.len(), 103);
        assert_eq!(&out[100..], [2, 3, 4]);
        assert_eq!(link.write_ready(), Ok(true), "the next poll's bytes");
        assert_eq!(link.write(&[6; 9]), Ok(3));
        link.set_bytes_per_poll(None);
        assert_eq!(link.write(&[7; 9]), Ok(9));
    }
}
