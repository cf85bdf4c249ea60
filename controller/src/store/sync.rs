//! What makes a committed batch survive a power cut, not only a killed process.
//!
//! sled's `flush` writes its log with `pwrite` and then calls `sync_file_range`, which starts
//! and waits for the write-back of those pages but writes back neither the file's metadata
//! (its new size) nor the drive's volatile cache (sled issue #1452). A killed process loses
//! nothing (the kernel's page cache survives it), a power cut can. So after sled's flush the
//! store calls `fdatasync` itself on every file that can hold the batch:
//! - `records/db`, sled's log, where every record and index entry is written;
//! - every file in `records/blobs/` that was not synced yet (sled writes a value or node of
//!   over a quarter of a segment, 128 KiB, as a blob file of its own), then the `blobs`
//!   directory, so the new names survive too.
//!
//! Once, when the store is opened: `records/conf`, the `records` directory and the data
//! directory, so that a store just created is found again after a cut.
//!
//! `fdatasync` on another descriptor of the same file writes back the same pages: Linux keeps
//! a file's dirty pages per inode, not per descriptor.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// sled's log file, blob directory and configuration file in its directory.
const LOG: &str = "db";
const BLOBS: &str = "blobs";
const CONF: &str = "conf";

/// The files of one sled database, synced after each of its flushes.
#[derive(Debug)]
pub struct Durable {
    /// sled's directory (`DATA/records`).
    dir: PathBuf,
    /// The log, kept open.
    log: File,
    /// Blob files already synced, by name.
    synced_blobs: HashSet<OsString>,
}

/// `fsync` of a directory, so that names created in it survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Durable {
    /// Opens sled's files in `dir` (its directory, after sled opened it) and syncs what a new
    /// store has just created: its configuration, its log, the blobs so far and the
    /// directories up to `data` (the data directory that holds `dir`).
    pub fn open(dir: &Path, data: &Path) -> io::Result<Durable> {
        let log = File::open(dir.join(LOG))?;
        let mut durable = Durable {
            dir: dir.to_path_buf(),
            log,
            synced_blobs: HashSet::new(),
        };
        let conf = dir.join(CONF);
        if conf.exists() {
            File::open(conf)?.sync_all()?;
        }
        durable.sync()?;
        sync_dir(dir)?;
        sync_dir(data)?;
        Ok(durable)
    }

    /// Called after sled's `flush`: writes back the log's data and size, and every new blob
    /// with its name. Returns once the drive has said it holds them.
    pub fn sync(&mut self) -> io::Result<()> {
        self.log.sync_data()?;
        let blobs = self.dir.join(BLOBS);
        let entries = match std::fs::read_dir(&blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut fresh = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if self.synced_blobs.contains(&name) {
                continue;
            }
            match File::open(entry.path()) {
                Ok(f) => f.sync_data()?,
                // sled removes blobs it no longer needs; one gone is not one to keep.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            self.synced_blobs.insert(name);
            fresh = true;
        }
        if fresh {
            sync_dir(&blobs)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn syncs_the_log_and_remembers_each_blob_once() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("records");
        std::fs::create_dir_all(dir.join(BLOBS)).unwrap();
        std::fs::write(dir.join(LOG), b"log").unwrap();
        std::fs::write(dir.join(BLOBS).join("7"), b"blob").unwrap();
        let mut d = Durable::open(&dir, data.path()).unwrap();
        assert_eq!(d.synced_blobs.len(), 1);
        std::fs::write(dir.join(BLOBS).join("9"), b"blob").unwrap();
        d.sync().unwrap();
        assert_eq!(d.synced_blobs.len(), 2);
    }

    #[test]
    fn a_store_without_its_log_is_an_error_not_a_panic() {
        let data = tempfile::tempdir().unwrap();
        assert!(Durable::open(&data.path().join("records"), data.path()).is_err());
    }
}
