//! The data directory is private to the user that runs benchctl, whatever the umask: it holds
//! IMEIs, serial numbers and operator ids, and whoever can write it can take its lock (locking
//! out `run`, `export` and `verify`) or replace its records.
//!
//! - A data directory benchctl creates is made mode 0700; every file and directory in it that
//!   this user owns is made 0600 / 0700 when the store is opened ([`tighten`]): the lock file,
//!   the socket, sled's files (sled creates them with the umask; `benchctl run` also sets its
//!   umask to 077, so files sled creates while it runs start private).
//! - An existing directory that this user owns but that others may read is made 0700.
//! - A directory that others may write (group or other `w`), or that belongs to another user
//!   (root excepted, as ssh allows), is refused, as ssh and PostgreSQL refuse theirs, with the
//!   command that fixes it. Nothing in it is touched.

use std::fs::{DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::StoreError;

/// Mode of the data directory and of the directories in it.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files in the data directory.
pub const FILE_MODE: u32 = 0o600;

/// The effective uid of this process.
fn euid() -> u32 {
    nix::unistd::Uid::effective().as_raw()
}

/// Creates the data directory (mode 0700) or checks an existing one: refused when others may
/// write it or another user owns it; made 0700 when this user owns it and others may read it.
pub fn prepare(dir: &Path) -> Result<(), StoreError> {
    let shown = || dir.display().to_string();
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(dir)?,
        Err(e) => return Err(StoreError::io(dir, "cannot look at it", &e)),
        Ok(_) => {}
    }
    // Follows a symlink: the directory it names is the one that must be private.
    let meta = std::fs::metadata(dir).map_err(|e| StoreError::io(dir, "cannot look at it", &e))?;
    let me = euid();
    let owner = meta.uid();
    if owner != me && owner != 0 {
        return Err(StoreError::NotPrivate {
            dir: shown(),
            problem: format!(
                "it belongs to another user (uid {owner}; this benchctl runs as uid {me})"
            ),
            fix: format!(
                "run benchctl as the user that owns it, or give --data a directory of your own (or, if it is yours, `chown -R {me} {}`)",
                shown()
            ),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(StoreError::NotPrivate {
            dir: shown(),
            problem: format!(
                "others can write it (mode {mode:04o}): they could take its lock or replace its records"
            ),
            fix: format!(
                "check that nobody else changed it, then `chmod 700 {}`",
                shown()
            ),
        });
    }
    if owner == me && mode & 0o077 != 0 {
        std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
            .map_err(|e| StoreError::io(dir, "cannot make it private (chmod 700)", &e))?;
    }
    Ok(())
}

/// Creates `dir` (mode 0700) and its missing parents (with the umask), syncing the directory
/// that holds each new name, so that a store just created is found again after a power cut.
fn create(dir: &Path) -> Result<(), StoreError> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .take_while(|p| std::fs::symlink_metadata(p).is_err())
        .collect();
    for (i, path) in missing.iter().rev().enumerate() {
        let mut builder = DirBuilder::new();
        if i + 1 == missing.len() {
            builder.mode(DIR_MODE);
        }
        match builder.create(path) {
            Ok(()) => {}
            // Created meanwhile by another process: checked like any other.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io(dir, "cannot create it", &e)),
        }
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        super::sync::sync_dir(parent)
            .map_err(|e| StoreError::io(dir, "cannot sync its new name to disk", &e))?;
    }
    Ok(())
}

/// Makes every file (0600) and directory (0700) under `dir` that this user owns private; a
/// file that vanishes meanwhile is skipped.
pub fn tighten(dir: &Path) -> Result<(), StoreError> {
    let me = euid();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io(dir, "cannot make its files private", &e)),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() || meta.uid() != me {
                continue;
            }
            let want = if meta.is_dir() {
                todo.push(path.clone());
                DIR_MODE
            } else {
                FILE_MODE
            };
            if meta.mode() & 0o7777 != want {
                match std::fs::set_permissions(&path, Permissions::from_mode(want)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io(dir, "cannot make its files private", &e)),
                }
            }
        }
    }
    Ok(())
}

/// The uid that owns `dir`, if it can be looked at.
pub fn owner(dir: &Path) -> Option<u32> {
    std::fs::metadata(dir).ok().map(|m| m.uid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).map(|m| m.mode() & 0o7777).unwrap_or(0)
    }

    #[test]
    fn a_new_directory_is_private_and_an_open_one_is_refused() -> Result<(), StoreError> {
        let Ok(base) = tempfile::tempdir() else {
            return Ok(());
        };
        let dir = base.path().join("a/data");
        prepare(&dir)?;
        assert_eq!(mode(&dir), 0o700);
        // Readable by others: made private.
        let _ = std::fs::set_permissions(&dir, Permissions::from_mode(0o755));
        prepare(&dir)?;
        assert_eq!(mode(&dir), 0o700);
        // Writable by others: refused and left as it is.
        let _ = std::fs::set_permissions(&dir, Permissions::from_mode(0o777));
        let err = prepare(&dir)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("others can write it (mode 0777)"), "{err}");
        assert!(
            err.contains(&format!("chmod 700 {}", dir.display())),
            "{err}"
        );
        assert_eq!(mode(&dir), 0o777);
        let _ = std::fs::set_permissions(&dir, Permissions::from_mode(0o775));
        assert!(prepare(&dir).is_err());
        Ok(())
    }

    #[test]
    fn files_are_made_private() -> Result<(), StoreError> {
        let Ok(base) = tempfile::tempdir() else {
            return Ok(());
        };
        let sub = base.path().join("records/blobs");
        let _ = std::fs::create_dir_all(&sub);
        let file = sub.join("1");
        let _ = std::fs::write(&file, b"x");
        let _ = std::fs::set_permissions(&file, Permissions::from_mode(0o666));
        tighten(base.path())?;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&base.path().join("records")), 0o700);
        Ok(())
    }
}
