//! One file, directory or special file, with what reads see now and what a power cut keeps.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::SystemTime;

use fuser::{FileAttr, FileType, INodeNo};

/// Names in a directory, each naming an inode.
pub type Entries = BTreeMap<OsString, u64>;

/// What a node holds: its volatile state (what reads see) beside its durable state (what
/// survives a power cut).
#[derive(Debug, Clone)]
pub enum Content {
    /// A regular file: its bytes (the size is their length).
    File {
        /// What reads see.
        data: Vec<u8>,
        /// The bytes and size as of the last `fsync`/`fdatasync`.
        durable: Vec<u8>,
    },
    /// A directory: its names.
    Dir {
        /// The directory that holds it now (itself for the root).
        parent: u64,
        /// What `readdir` and lookups see.
        entries: Entries,
        /// The names as of the last `fsyncdir`.
        durable: Entries,
    },
    /// A Unix socket or a FIFO: nothing but its name and attributes.
    Special {
        /// `Socket` or `NamedPipe`.
        kind: FileType,
    },
}

/// An inode.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its bytes, names or kind.
    pub content: Content,
    /// Permission bits (`mode & 0o7777`).
    pub perm: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Names that refer to it (for a directory, 2).
    pub nlink: u32,
    /// Last access.
    pub atime: SystemTime,
    /// Last change of its contents.
    pub mtime: SystemTime,
    /// Last change of its contents or attributes.
    pub ctime: SystemTime,
}

impl Node {
    /// A node with `content`, owned by `uid`/`gid`, created now.
    pub fn new(content: Content, perm: u16, uid: u32, gid: u32) -> Node {
        let now = SystemTime::now();
        let nlink = match content {
            Content::Dir { .. } => 2,
            _ => 0,
        };
        Node {
            content,
            perm,
            uid,
            gid,
            nlink,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    /// An empty regular file.
    pub fn file(perm: u16, uid: u32, gid: u32) -> Node {
        Node::new(
            Content::File {
                data: Vec::new(),
                durable: Vec::new(),
            },
            perm,
            uid,
            gid,
        )
    }

    /// An empty directory held by `parent`.
    pub fn dir(parent: u64, perm: u16, uid: u32, gid: u32) -> Node {
        Node::new(
            Content::Dir {
                parent,
                entries: Entries::new(),
                durable: Entries::new(),
            },
            perm,
            uid,
            gid,
        )
    }

    /// What `stat` says of it now.
    pub fn kind(&self) -> FileType {
        match &self.content {
            Content::File { .. } => FileType::RegularFile,
            Content::Dir { .. } => FileType::Directory,
            Content::Special { kind } => *kind,
        }
    }

    /// Its size as reads see it.
    pub fn size(&self) -> u64 {
        match &self.content {
            Content::File { data, .. } => data.len() as u64,
            Content::Dir { entries, .. } => entries.len() as u64,
            Content::Special { .. } => 0,
        }
    }

    /// Its attributes for the kernel, as inode `ino`.
    pub fn attr(&self, ino: u64) -> FileAttr {
        let size = self.size();
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            crtime: self.ctime,
            kind: self.kind(),
            perm: self.perm,
            nlink: self.nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// Makes what reads see durable (`fsync`, `fdatasync`, `fsyncdir`).
    pub fn sync(&mut self) {
        match &mut self.content {
            Content::File { data, durable } => durable.clone_from(data),
            Content::Dir {
                entries, durable, ..
            } => durable.clone_from(entries),
            Content::Special { .. } => {}
        }
    }

    /// Marks a change of its contents.
    pub fn touch(&mut self) {
        let now = SystemTime::now();
        self.mtime = now;
        self.ctime = now;
    }
}
