//! The filesystem's state: every inode, the power, and the operations the kernel asks for.
//!
//! Operations change only what reads see (the volatile state). `sync` of a node makes its
//! volatile state durable: a file's bytes and size, or a directory's names. Nothing else
//! does: no write, `close`, `sync_file_range` (which never reaches a FUSE filesystem) or
//! lapse of time. A power cut keeps the durable state of the nodes reachable from the root
//! through durable names and throws the rest away; from then on every operation fails.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};

use fuser::{Errno, FileType};

use crate::node::{Content, Entries, Node};

/// The root directory's inode number, as FUSE fixes it.
pub const ROOT: u64 = 1;

/// The power supply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// Operations run; after `cut_after` more operations that change state, the power goes.
    On {
        /// Changing operations still allowed before the cut, when one is armed.
        cut_after: Option<u64>,
    },
    /// The machine is off: every operation fails with `EIO`.
    Off,
}

/// Whether an operation may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Run it.
    Open,
    /// The power went just now, before this operation.
    CutNow,
    /// The power is off.
    Off,
}

/// All inodes and the power.
#[derive(Debug)]
pub struct Tree {
    nodes: HashMap<u64, Node>,
    next: u64,
    power: Power,
    changes: u64,
}

impl Tree {
    /// An empty filesystem whose root has `perm` and belongs to `uid`/`gid`.
    pub fn new(perm: u16, uid: u32, gid: u32) -> Tree {
        let mut nodes = HashMap::new();
        nodes.insert(ROOT, Node::dir(ROOT, perm, uid, gid));
        Tree {
            nodes,
            next: ROOT + 1,
            power: Power::On { cut_after: None },
            changes: 0,
        }
    }

    /// Operations that changed state (or could have) so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The power now.
    pub fn power(&self) -> Power {
        self.power
    }

    /// Cuts the power once `after` more changing operations have run (at once when 0): the
    /// next one finds it off.
    pub fn arm(&mut self, after: u64) {
        if after == 0 {
            self.cut();
        } else if self.power != Power::Off {
            self.power = Power::On {
                cut_after: Some(after),
            };
        }
    }

    /// Cuts the power: the volatile state of every node becomes its durable state (what the
    /// drive holds), and every later operation fails.
    pub fn cut(&mut self) {
        self.power = Power::Off;
        for node in self.nodes.values_mut() {
            match &mut node.content {
                Content::File { data, durable } => data.clone_from(durable),
                Content::Dir {
                    entries, durable, ..
                } => entries.clone_from(durable),
                Content::Special { .. } => {}
            }
        }
    }

    /// Lets an operation in; `changes` says whether it changes state (and so counts towards
    /// an armed cut). A cut that falls due happens here, before the operation.
    pub fn enter(&mut self, changes: bool) -> Gate {
        let gate = self.gate(changes);
        if changes && gate == Gate::Open {
            self.changes += 1;
        }
        gate
    }

    fn gate(&mut self, changes: bool) -> Gate {
        match self.power {
            Power::Off => Gate::Off,
            Power::On {
                cut_after: Some(left),
            } if changes => {
                if left == 0 {
                    self.cut();
                    Gate::CutNow
                } else {
                    self.power = Power::On {
                        cut_after: Some(left - 1),
                    };
                    Gate::Open
                }
            }
            Power::On { .. } => Gate::Open,
        }
    }

    /// Inode `ino`.
    pub fn node(&self, ino: u64) -> Result<&Node, Errno> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    /// Inode `ino`, to change.
    pub fn node_mut(&mut self, ino: u64) -> Result<&mut Node, Errno> {
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn entries(&self, dir: u64) -> Result<&Entries, Errno> {
        match &self.node(dir)?.content {
            Content::Dir { entries, .. } => Ok(entries),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn entries_mut(&mut self, dir: u64) -> Result<&mut Entries, Errno> {
        let node = self.node_mut(dir)?;
        node.touch();
        match &mut node.content {
            Content::Dir { entries, .. } => Ok(entries),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The inode that `name` in `dir` names now.
    pub fn lookup(&self, dir: u64, name: &OsStr) -> Result<u64, Errno> {
        self.entries(dir)?.get(name).copied().ok_or(Errno::ENOENT)
    }

    /// Adds `node` to `dir` as `name` (a new name: `EEXIST` if taken); its inode number.
    pub fn add(&mut self, dir: u64, name: &OsStr, mut node: Node) -> Result<u64, Errno> {
        if self.entries(dir)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next;
        self.next += 1;
        if let Content::Dir { parent, .. } = &mut node.content {
            *parent = dir;
        } else {
            node.nlink = 1;
        }
        self.nodes.insert(ino, node);
        self.entries_mut(dir)?.insert(name.to_owned(), ino);
        Ok(ino)
    }

    /// Removes the name `name` of a file from `dir`. The inode stays (an open descriptor or
    /// a durable name may still refer to it).
    pub fn unlink(&mut self, dir: u64, name: &OsStr) -> Result<(), Errno> {
        let ino = self.lookup(dir, name)?;
        if self.node(ino)?.kind() == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        self.entries_mut(dir)?.remove(name);
        let node = self.node_mut(ino)?;
        node.nlink = node.nlink.saturating_sub(1);
        node.ctime = std::time::SystemTime::now();
        Ok(())
    }

    /// Removes the empty directory `name` from `dir`.
    pub fn rmdir(&mut self, dir: u64, name: &OsStr) -> Result<(), Errno> {
        let ino = self.lookup(dir, name)?;
        if !self.entries(ino)?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.entries_mut(dir)?.remove(name);
        Ok(())
    }

    /// Moves `name` in `dir` to `new_name` in `new_dir`, replacing what was there unless
    /// `no_replace`.
    pub fn rename(
        &mut self,
        dir: u64,
        name: &OsStr,
        new_dir: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), Errno> {
        let ino = self.lookup(dir, name)?;
        let moving_dir = self.node(ino)?.kind() == FileType::Directory;
        if moving_dir && self.is_within(new_dir, ino)? {
            return Err(Errno::EINVAL);
        }
        if let Some(&old) = self.entries(new_dir)?.get(new_name) {
            if old == ino {
                return Ok(());
            }
            if no_replace {
                return Err(Errno::EEXIST);
            }
            let old_is_dir = self.node(old)?.kind() == FileType::Directory;
            match (moving_dir, old_is_dir) {
                (true, true) if !self.entries(old)?.is_empty() => return Err(Errno::ENOTEMPTY),
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                _ => {}
            }
            if !old_is_dir {
                let node = self.node_mut(old)?;
                node.nlink = node.nlink.saturating_sub(1);
            }
        }
        self.entries_mut(dir)?.remove(name);
        self.entries_mut(new_dir)?.insert(new_name.to_owned(), ino);
        if let Content::Dir { parent, .. } = &mut self.node_mut(ino)?.content {
            *parent = new_dir;
        }
        Ok(())
    }

    /// Whether `ino` is `dir` or lies under it (a directory cannot move into itself).
    fn is_within(&self, mut ino: u64, dir: u64) -> Result<bool, Errno> {
        loop {
            if ino == dir {
                return Ok(true);
            }
            match &self.node(ino)?.content {
                Content::Dir { parent, .. } if *parent != ino => ino = *parent,
                _ => return Ok(false),
            }
        }
    }

    /// Up to `size` bytes of file `ino` from `offset`.
    pub fn read(&self, ino: u64, offset: u64, size: u32) -> Result<&[u8], Errno> {
        let data = self.data(ino)?;
        let start = usize::try_from(offset).map_or(data.len(), |o| o.min(data.len()));
        let end = start.saturating_add(size as usize).min(data.len());
        Ok(&data[start..end])
    }

    fn data(&self, ino: u64) -> Result<&Vec<u8>, Errno> {
        match &self.node(ino)?.content {
            Content::File { data, .. } => Ok(data),
            Content::Dir { .. } => Err(Errno::EISDIR),
            Content::Special { .. } => Err(Errno::EINVAL),
        }
    }

    fn data_mut(&mut self, ino: u64) -> Result<&mut Vec<u8>, Errno> {
        let node = self.node_mut(ino)?;
        node.touch();
        match &mut node.content {
            Content::File { data, .. } => Ok(data),
            Content::Dir { .. } => Err(Errno::EISDIR),
            Content::Special { .. } => Err(Errno::EINVAL),
        }
    }

    /// Writes `bytes` into file `ino` at `offset` (a hole before it reads as zeros).
    pub fn write(&mut self, ino: u64, offset: u64, bytes: &[u8]) -> Result<(), Errno> {
        let start = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
        let end = start.checked_add(bytes.len()).ok_or(Errno::EFBIG)?;
        let data = self.data_mut(ino)?;
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(bytes);
        Ok(())
    }

    /// Sets the size of file `ino` (cut off, or grown with zeros).
    pub fn truncate(&mut self, ino: u64, size: u64) -> Result<(), Errno> {
        let size = usize::try_from(size).map_err(|_| Errno::EFBIG)?;
        self.data_mut(ino)?.resize(size, 0);
        Ok(())
    }

    /// `fsync`, `fdatasync` or `fsyncdir` of `ino`.
    pub fn sync(&mut self, ino: u64) -> Result<(), Errno> {
        self.node_mut(ino)?.sync();
        Ok(())
    }

    /// What `readdir` lists of `dir`: `.`, `..`, then its names, each with its inode.
    pub fn list(&self, dir: u64) -> Result<Vec<(u64, FileType, OsString)>, Errno> {
        let Content::Dir {
            parent, entries, ..
        } = &self.node(dir)?.content
        else {
            return Err(Errno::ENOTDIR);
        };
        let mut out = vec![
            (dir, FileType::Directory, OsString::from(".")),
            (*parent, FileType::Directory, OsString::from("..")),
        ];
        for (name, ino) in entries {
            out.push((*ino, self.node(*ino)?.kind(), name.clone()));
        }
        Ok(out)
    }

    /// Bytes held in files and the number of inodes, for `statfs`.
    pub fn usage(&self) -> (u64, u64) {
        let bytes = self.nodes.values().map(Node::size).sum();
        (bytes, self.nodes.len() as u64)
    }

    /// The durable names of directory `dir` (empty for anything else).
    pub fn durable_entries(&self, dir: u64) -> Vec<(OsString, u64)> {
        match self.nodes.get(&dir).map(|n| &n.content) {
            Some(Content::Dir { durable, .. }) => {
                durable.iter().map(|(n, i)| (n.clone(), *i)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Adds `node` as `name` in `dir` and makes both durable: contents that were on the drive
    /// before the machine was switched on.
    pub fn restore(&mut self, dir: u64, name: &OsStr, node: Node) -> Result<u64, Errno> {
        let ino = self.add(dir, name, node)?;
        self.sync(ino)?;
        self.sync(dir)?;
        Ok(ino)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file_in(tree: &mut Tree, dir: u64, name: &str) -> u64 {
        tree.add(dir, OsStr::new(name), Node::file(0o644, 0, 0))
            .unwrap()
    }

    #[test]
    fn only_synced_bytes_and_names_survive_a_cut() {
        let mut tree = Tree::new(0o755, 0, 0);
        let kept = file_in(&mut tree, ROOT, "kept");
        tree.write(kept, 0, b"synced").unwrap();
        tree.sync(kept).unwrap();
        tree.sync(ROOT).unwrap();
        tree.write(kept, 6, b" and not").unwrap();
        let lost = file_in(&mut tree, ROOT, "lost");
        tree.write(lost, 0, b"never synced").unwrap();
        tree.sync(lost).unwrap();
        tree.cut();
        assert_eq!(tree.power(), Power::Off);
        let names: Vec<_> = tree.durable_entries(ROOT);
        assert_eq!(names, vec![(OsString::from("kept"), kept)]);
        assert_eq!(tree.read(kept, 0, 100).unwrap(), b"synced");
    }

    #[test]
    fn an_armed_cut_falls_before_the_nth_change_and_then_everything_fails() {
        let mut tree = Tree::new(0o755, 0, 0);
        tree.arm(2);
        assert_eq!(tree.enter(false), Gate::Open);
        assert_eq!(tree.enter(true), Gate::Open);
        assert_eq!(tree.enter(false), Gate::Open);
        assert_eq!(tree.enter(true), Gate::Open);
        assert_eq!(tree.enter(true), Gate::CutNow);
        assert_eq!(tree.enter(false), Gate::Off);
    }

    #[test]
    fn rename_replaces_a_file_and_refuses_a_directory_into_itself() {
        let mut tree = Tree::new(0o755, 0, 0);
        let a = file_in(&mut tree, ROOT, "a");
        let b = file_in(&mut tree, ROOT, "b");
        tree.rename(ROOT, OsStr::new("a"), ROOT, OsStr::new("b"), false)
            .unwrap();
        assert_eq!(tree.lookup(ROOT, OsStr::new("b")).unwrap(), a);
        assert_eq!(tree.node(b).unwrap().nlink, 0);
        let d = tree
            .add(ROOT, OsStr::new("d"), Node::dir(ROOT, 0o755, 0, 0))
            .unwrap();
        let e = tree
            .add(d, OsStr::new("e"), Node::dir(d, 0o755, 0, 0))
            .unwrap();
        assert_eq!(
            tree.rename(ROOT, OsStr::new("d"), e, OsStr::new("x"), false),
            Err(Errno::EINVAL)
        );
        assert_eq!(tree.rmdir(ROOT, OsStr::new("d")), Err(Errno::ENOTEMPTY));
    }
}
