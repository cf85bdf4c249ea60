//! Counters of a link: for the whole run (logged at the end) and per phone (kept in its record).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of a link or of one slot's requests, updated as faults are absorbed.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Frames dropped because they failed to decode.
    pub bad_frames: AtomicU64,
    /// Requests sent again after their reply did not come in time (idempotent ones).
    pub retries: AtomicU64,
    /// Lost replies asked for again with `Resend` (requests that must not run twice).
    pub resends: AtomicU64,
    /// Requests that got no answer before their deadline, after every recovery.
    pub timeouts: AtomicU64,
    /// Reconnections after the port went away.
    pub reconnects: AtomicU64,
    /// Resets detected by a new boot id.
    pub resets: AtomicU64,
}

/// A snapshot of [`LinkStats`]: in a record, what the link absorbed while that phone was tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct LinkCounters {
    /// Frames dropped on the jig's link because they failed to decode (CRC, COBS, size). A bad
    /// frame cannot be told apart by slot, so this counts every slot of the jig.
    pub bad_frames: u64,
    /// This phone's requests sent again after their reply did not come in time.
    pub retries: u64,
    /// This phone's lost replies asked for again with `Resend`.
    pub resends: u64,
    /// This phone's requests that got no answer before their deadline.
    pub timeouts: u64,
    /// Jig resets during the test.
    pub resets: u64,
    /// Reconnections of the jig during the test.
    pub reconnects: u64,
}

impl LinkStats {
    /// The counters as they are now.
    pub fn snapshot(&self) -> LinkCounters {
        LinkCounters {
            bad_frames: self.bad_frames.load(Relaxed),
            retries: self.retries.load(Relaxed),
            resends: self.resends.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            resets: self.resets.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
        }
    }

    pub(super) fn bump(&self, which: fn(&LinkStats) -> &AtomicU64) {
        which(self).fetch_add(1, Relaxed);
    }
}

impl LinkCounters {
    /// What happened between `earlier` and `self` (counters only grow).
    pub fn since(&self, earlier: &LinkCounters) -> LinkCounters {
        LinkCounters {
            bad_frames: self.bad_frames.saturating_sub(earlier.bad_frames),
            retries: self.retries.saturating_sub(earlier.retries),
            resends: self.resends.saturating_sub(earlier.resends),
            timeouts: self.timeouts.saturating_sub(earlier.timeouts),
            resets: self.resets.saturating_sub(earlier.resets),
            reconnects: self.reconnects.saturating_sub(earlier.reconnects),
        }
    }
}
