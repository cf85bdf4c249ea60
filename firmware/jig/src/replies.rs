//! The replies the jig keeps for `Resend`: a fixed ring of the last
//! [`KEPT_REPLIES`] replies it sent, by sequence number.

use benchline_protocol::{Reply, KEPT_REPLIES};
use heapless::Deque;

/// The last [`KEPT_REPLIES`] replies, oldest first. Keeping a new one drops the oldest.
pub struct KeptReplies {
    ring: Deque<(u16, Reply), KEPT_REPLIES>,
}

impl Default for KeptReplies {
    fn default() -> Self {
        Self::new()
    }
}

impl KeptReplies {
    /// An empty ring.
    pub const fn new() -> Self {
        KeptReplies { ring: Deque::new() }
    }

    /// Keeps the reply sent under `seq`.
    pub fn keep(&mut self, seq: u16, reply: &Reply) {
        if self.ring.is_full() {
            self.ring.pop_front();
        }
        // Not full any more, so this cannot fail.
        let _ = self.ring.push_back((seq, reply.clone()));
    }

    /// Forgets every kept reply (a new host session: its sequence numbers mean other requests).
    pub fn clear(&mut self) {
        self.ring.clear();
    }

    /// The newest reply kept under `seq`, if the ring still holds one.
    pub fn get(&self, seq: u16) -> Option<&Reply> {
        self.ring
            .iter()
            .rev()
            .find(|(s, _)| *s == seq)
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_replies_and_finds_the_newest() {
        let mut kept = KeptReplies::new();
        for seq in 0..(KEPT_REPLIES as u16 + 5) {
            kept.keep(seq, &Reply::Pong { nonce: seq.into() });
        }
        assert_eq!(kept.get(0), None, "the oldest were dropped");
        assert_eq!(kept.get(4), None);
        assert_eq!(kept.get(5), Some(&Reply::Pong { nonce: 5 }));
        kept.keep(5, &Reply::Done);
        assert_eq!(
            kept.get(5),
            Some(&Reply::Done),
            "a reused number finds the newest"
        );
    }
}
