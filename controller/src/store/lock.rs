//! The data directory's lock: one `benchctl` at a time per data directory.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::StoreError;

/// Name of the lock file in the data directory; it holds the pid of the holder.
pub const LOCK_FILE: &str = "benchctl.lock";

/// An exclusive lock on a data directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    _lock: Flock<File>,
}

impl DirLock {
    /// Takes the lock, or says which process holds it.
    pub fn take(dir: &Path) -> Result<DirLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            // Only this user may open it: whoever can open it can take the lock.
            .mode(super::private::FILE_MODE)
            .open(&path)
            .map_err(|e| StoreError::io(dir, "cannot create its lock file", &e))?;
        let mine = file
            .metadata()
            .is_ok_and(|m| m.uid() == nix::unistd::Uid::effective().as_raw());
        if mine {
            // A lock file left by an older benchctl may be readable (and lockable) by others.
            file.set_permissions(std::fs::Permissions::from_mode(super::private::FILE_MODE))
                .map_err(|e| StoreError::io(dir, "cannot make its lock file private", &e))?;
        }
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((file, _)) => {
                let mut pid = String::new();
                let _ = (&file).take(64).read_to_string(&mut pid);
                return Err(StoreError::Busy {
                    dir: dir.display().to_string(),
                    pid: pid.trim().to_string(),
                });
            }
        };
        // Best effort: the pid only makes the "in use" message more helpful.
        let _ = lock
            .set_len(0)
            .and_then(|_| lock.rewind())
            .and_then(|_| write!(lock, "{}", std::process::id()))
            .and_then(|_| lock.flush());
        Ok(DirLock { _lock: lock })
    }
}

/// The pid the holder of `dir`'s lock wrote in the lock file, if it names one.
pub fn holder(dir: &Path) -> Option<u32> {
    let mut text = String::new();
    File::open(dir.join(LOCK_FILE))
        .ok()?
        .take(64)
        .read_to_string(&mut text)
        .ok()?;
    text.trim().parse().ok()
}
