//! The jig's transmit queue: encoded frames waiting for the link, oldest first.
//!
//! A frame goes in whole or not at all, so the link only ever carries whole frames; the poll
//! hands the link as many queued bytes as it takes without blocking.

/// Bytes of encoded frames the jig can hold for the link: 2 KiB, about 7 frames of the largest
/// size (`MAX_ENCODED_FRAME`, 260 bytes) or 60 and more of the usual 20–35-byte replies and
/// `Progress` events. One poll writes at most: `Booted`, the replies to the requests read in it,
/// one presence event (and up to 3 `Aborted` replies) per slot, and one frame per running
/// procedure (12 on 4 slots), so a poll's burst fits with room for a backlog, and the queue
/// costs little of a 32 KiB board's RAM.
pub const TX_QUEUE: usize = 2048;

/// A ring of bytes holding whole encoded frames.
pub struct TxQueue<const N: usize = TX_QUEUE> {
    buf: [u8; N],
    /// Index of the oldest byte.
    head: usize,
    /// Bytes held.
    len: usize,
}

impl<const N: usize> Default for TxQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> TxQueue<N> {
    /// An empty queue.
    pub const fn new() -> Self {
        TxQueue {
            buf: [0; N],
            head: 0,
            len: 0,
        }
    }

    /// Bytes waiting for the link.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left, bytes.
    pub fn free(&self) -> usize {
        N - self.len
    }

    /// Queues a whole frame; false (and nothing queued) when it does not fit.
    pub fn push(&mut self, frame: &[u8]) -> bool {
        if frame.len() > self.free() {
            return false;
        }
        let mut at = (self.head + self.len) % N.max(1);
        for &b in frame {
            self.buf[at] = b;
            at = (at + 1) % N;
        }
        self.len += frame.len();
        true
    }

    /// The oldest bytes that lie in one piece in the ring (empty when nothing waits).
    pub fn front(&self) -> &[u8] {
        let end = (self.head + self.len).min(N);
        &self.buf[self.head..end]
    }

    /// Forgets the `n` oldest bytes (the link took them).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % N
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<const N: usize>(q: &mut TxQueue<N>, out: &mut std::vec::Vec<u8>) {
        while !q.is_empty() {
            let piece = q.front();
            assert!(!piece.is_empty());
            let n = piece.len().min(3);
            out.extend_from_slice(&piece[..n]);
            q.consume(n);
        }
    }

    #[test]
    fn frames_go_in_whole_and_come_out_in_order_across_the_wrap() {
        let mut q = TxQueue::<8>::new();
        let mut out = std::vec::Vec::new();
        assert!(q.push(&[1, 2, 3, 4, 5]));
        assert!(!q.push(&[6, 7, 8, 9]), "4 bytes do not fit in 3");
        assert_eq!(
            q.len(),
            5,
            "a frame that does not fit leaves nothing behind"
        );
        assert!(q.push(&[6, 7, 8]));
        assert_eq!(q.free(), 0);
        out.extend_from_slice(&q.front()[..4]);
        q.consume(4);
        assert!(q.push(&[9, 10, 11]), "wraps around the end");
        drain(&mut q, &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(q.front(), &[] as &[u8]);
    }
}
