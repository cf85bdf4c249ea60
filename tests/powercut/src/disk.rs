//! The real directories on either side of a run: the contents the filesystem starts with
//! (all durable, as if read from the drive at boot) and the durable state written out after
//! a power cut (what the drive holds when the machine comes back).

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};
use fuser::{Errno, FileType};
use nix::sys::stat::{mknod, Mode, SFlag};

use crate::node::{Content, Node};
use crate::tree::{Tree, ROOT};

fn errno(e: Errno) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

/// Copies the contents of directory `from` into `tree`, durable.
pub fn load(tree: &mut Tree, from: &Path) -> Result<()> {
    load_dir(tree, ROOT, from)
}

fn load_dir(tree: &mut Tree, dir: u64, from: &Path) -> Result<()> {
    let entries = fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let path = entry.path();
        let meta =
            fs::symlink_metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        let perm = (meta.mode() & 0o7777) as u16;
        let (uid, gid) = (meta.uid(), meta.gid());
        let kind = meta.file_type();
        let node = if kind.is_dir() {
            Node::dir(dir, perm, uid, gid)
        } else if kind.is_file() {
            let data = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let content = Content::File {
                durable: data.clone(),
                data,
            };
            Node::new(content, perm, uid, gid)
        } else if kind.is_socket() {
            let content = Content::Special {
                kind: FileType::Socket,
            };
            Node::new(content, perm, uid, gid)
        } else if kind.is_fifo() {
            let content = Content::Special {
                kind: FileType::NamedPipe,
            };
            Node::new(content, perm, uid, gid)
        } else {
            bail!(
                "{}: only files, directories, sockets and FIFOs are supported",
                path.display()
            );
        };
        let ino = tree
            .restore(dir, &entry.file_name(), node)
            .map_err(errno)
            .with_context(|| format!("adding {}", path.display()))?;
        if kind.is_dir() {
            load_dir(tree, ino, &path)?;
        }
    }
    Ok(())
}

/// What [`dump`] wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dumped {
    /// Regular files.
    pub files: usize,
    /// Directories, the root not counted.
    pub dirs: usize,
    /// Bytes in the files.
    pub bytes: u64,
}

/// Writes what survives a power cut into the new directory `to`: the nodes reachable from
/// the root through durable names, each with its durable contents.
pub fn dump(tree: &Tree, to: &Path) -> Result<Dumped> {
    fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
    let mut dumped = Dumped::default();
    let mut seen = HashSet::from([ROOT]);
    dump_dir(tree, ROOT, to, &mut seen, &mut dumped)?;
    Ok(dumped)
}

fn dump_dir(
    tree: &Tree,
    dir: u64,
    to: &Path,
    seen: &mut HashSet<u64>,
    dumped: &mut Dumped,
) -> Result<()> {
    for (name, ino) in tree.durable_entries(dir) {
        let path = to.join(&name);
        let node = tree.node(ino).map_err(errno)?;
        let mode = u32::from(node.perm);
        match &node.content {
            Content::File { durable, .. } => {
                fs::write(&path, durable).with_context(|| format!("writing {}", path.display()))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
                dumped.files += 1;
                dumped.bytes += durable.len() as u64;
            }
            Content::Dir { .. } => {
                // Names from different moments can form a loop; a directory is written once.
                if !seen.insert(ino) {
                    continue;
                }
                fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
                dump_dir(tree, ino, &path, seen, dumped)?;
                fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
                dumped.dirs += 1;
            }
            Content::Special { kind } => {
                let flag = match kind {
                    FileType::Socket => SFlag::S_IFSOCK,
                    _ => SFlag::S_IFIFO,
                };
                mknod(&path, flag, Mode::from_bits_truncate(mode), 0)
                    .with_context(|| format!("creating {}", path.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn a_dump_loads_back_as_it_was() {
        let scratch = std::env::temp_dir().join(format!("powercut-disk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&scratch);
        fs::create_dir_all(&scratch).unwrap();
        let mut tree = Tree::new(0o755, 0, 0);
        let d = tree
            .add(ROOT, OsStr::new("d"), Node::dir(ROOT, 0o700, 0, 0))
            .unwrap();
        let f = tree
            .add(d, OsStr::new("f"), Node::file(0o600, 0, 0))
            .unwrap();
        tree.write(f, 0, b"kept").unwrap();
        for ino in [f, d, ROOT] {
            tree.sync(ino).unwrap();
        }
        tree.write(f, 4, b" lost").unwrap();
        let first = scratch.join("first");
        let dumped = dump(&tree, &first).unwrap();
        assert_eq!((dumped.files, dumped.dirs, dumped.bytes), (1, 1, 4));
        assert_eq!(fs::read(first.join("d/f")).unwrap(), b"kept");
        let mut again = Tree::new(0o755, 0, 0);
        load(&mut again, &first).unwrap();
        let d = again.lookup(ROOT, OsStr::new("d")).unwrap();
        assert_eq!(again.node(d).unwrap().perm, 0o700);
        let f = again.lookup(d, OsStr::new("f")).unwrap();
        assert_eq!(again.read(f, 0, 100).unwrap(), b"kept");
        fs::remove_dir_all(&scratch).unwrap();
    }
}
