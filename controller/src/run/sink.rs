//! Where records go: the [`RecordSink`] seam. The product commits to the sled store
//! ([`crate::store::Writer`]); a dry run keeps nothing ([`NoStore`]).

use std::future::Future;
use std::pin::Pin;

use super::record::PhoneRecord;
use crate::store::{Pending, StoreError, Stored, Writer};

/// A commit on its way.
pub type Committing = Pin<Box<dyn Future<Output = Result<Option<Stored>, StoreError>> + Send>>;

/// Free and total bytes of the file system a sink writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged writer may still use.
    pub free: u64,
    /// Size of the file system.
    pub total: u64,
}

/// Where a run's records are committed before anyone hears of them.
pub trait RecordSink: Send + Sync {
    /// Commits `record`; `Some` where it landed, `None` when the sink keeps nothing.
    fn commit(&self, record: &PhoneRecord) -> Committing;

    /// The space left where records are written, if the sink writes anywhere.
    fn space(&self) -> Option<Space> {
        None
    }

    /// Whether records of the simulated jig `jig` (its serial number) may be committed here:
    /// `Err` says why not and what to do. A sink that keeps nothing admits them.
    fn admits_simulated(&self, _jig: &str) -> Result<(), String> {
        Ok(())
    }
}

/// A sink that keeps nothing (dry runs): every record is "committed" at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStore;

impl RecordSink for NoStore {
    fn commit(&self, _record: &PhoneRecord) -> Committing {
        Box::pin(std::future::ready(Ok(None)))
    }
}

impl RecordSink for Writer {
    fn commit(&self, record: &PhoneRecord) -> Committing {
        let pending = serde_json::to_vec(record)
            .map_err(|e| StoreError::BadRecord(e.to_string()))
            .and_then(Pending::new);
        let writer = self.clone();
        Box::pin(async move { writer.commit(pending?).await.map(Some) })
    }

    fn admits_simulated(&self, jig: &str) -> Result<(), String> {
        Writer::admits_simulated(self, jig).map_err(|e| e.to_string())
    }

    fn space(&self) -> Option<Space> {
        let s = nix::sys::statvfs::statvfs(self.dir()).ok()?;
        let block = s.fragment_size() as u64;
        Some(Space {
            free: (s.blocks_available() as u64).saturating_mul(block),
            total: (s.blocks() as u64).saturating_mul(block),
        })
    }
}
