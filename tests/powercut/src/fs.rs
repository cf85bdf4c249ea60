//! The FUSE side: each kernel request becomes one operation on the [`Tree`], under one lock,
//! after the power [`Gate`] let it in.
//!
//! Files are opened with `FOPEN_DIRECT_IO` and the session never asks for the kernel's
//! write-back cache, so every `write` reaches the tree when it is made and nothing sits in a
//! kernel page cache that the model would not see; `sync_file_range` therefore never reaches
//! the filesystem (FUSE has no such request) and makes nothing durable.

use std::ffi::OsStr;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use nix::libc;

use crate::control::Event;
use crate::node::{Content, Node};
use crate::tree::{Gate, Power, Tree};

/// How long the kernel may keep names and attributes: the tree changes only through it.
const TTL: Duration = Duration::from_secs(1);
/// Block size reported by `statfs`.
const BLOCK: u64 = 4096;
/// Capacity reported by `statfs`: 4 GiB, far more than a test writes.
const BLOCKS: u64 = 1 << 20;
/// Inodes reported by `statfs`.
const FILES: u64 = 1 << 20;

/// The filesystem the kernel talks to.
#[derive(Debug)]
pub struct PowercutFs {
    tree: Arc<Mutex<Tree>>,
    events: Sender<Event>,
}

impl PowercutFs {
    /// Serves `tree`; tells `events` when an armed cut falls due.
    pub fn new(tree: Arc<Mutex<Tree>>, events: Sender<Event>) -> PowercutFs {
        PowercutFs { tree, events }
    }

    fn lock(&self) -> MutexGuard<'_, Tree> {
        self.tree.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `op` if the power lets it (`changes`: it changes state, so counts towards an
    /// armed cut); `EIO` once the power is off.
    fn run<T>(
        &self,
        changes: bool,
        op: impl FnOnce(&mut Tree) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let mut tree = self.lock();
        match tree.enter(changes) {
            Gate::Open => op(&mut tree),
            Gate::CutNow => {
                let _ = self.events.send(Event::PowerOff);
                Err(Errno::EIO)
            }
            Gate::Off => Err(Errno::EIO),
        }
    }

    /// Adds `node` as `name` in `parent`; its inode number and attributes.
    fn add(&self, parent: INodeNo, name: &OsStr, node: Node) -> Result<fuser::FileAttr, Errno> {
        self.run(true, |tree| {
            let ino = tree.add(parent.0, name, node)?;
            Ok(tree.node(ino)?.attr(ino))
        })
    }
}

/// `mode & !umask`, the permission bits a new node gets.
fn perm(mode: u32, umask: u32) -> u16 {
    // Masked to 12 bits, so it fits.
    (mode & !umask & 0o7777) as u16
}

fn entry(reply: ReplyEntry, result: Result<fuser::FileAttr, Errno>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn empty(reply: ReplyEmpty, result: Result<(), Errno>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Filesystem for PowercutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        entry(
            reply,
            self.run(false, |tree| {
                let ino = tree.lookup(parent.0, name)?;
                Ok(tree.node(ino)?.attr(ino))
            }),
        );
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.run(false, |tree| Ok(tree.node(ino.0)?.attr(ino.0))) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = self.run(true, |tree| {
            if let Some(size) = size {
                tree.truncate(ino.0, size)?;
            }
            let node = tree.node_mut(ino.0)?;
            if let Some(mode) = mode {
                node.perm = perm(mode, 0);
            }
            if let Some(uid) = uid {
                node.uid = uid;
            }
            if let Some(gid) = gid {
                node.gid = gid;
            }
            if let Some(t) = atime {
                node.atime = time(t);
            }
            if let Some(t) = mtime {
                node.mtime = time(t);
            }
            node.ctime = SystemTime::now();
            Ok(node.attr(ino.0))
        });
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let content = match mode & libc::S_IFMT {
            libc::S_IFREG => Content::File {
                data: Vec::new(),
                durable: Vec::new(),
            },
            libc::S_IFSOCK => Content::Special {
                kind: FileType::Socket,
            },
            libc::S_IFIFO => Content::Special {
                kind: FileType::NamedPipe,
            },
            _ => return reply.error(Errno::EPERM),
        };
        let node = Node::new(content, perm(mode, umask), req.uid(), req.gid());
        entry(reply, self.add(parent, name, node));
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let node = Node::dir(parent.0, perm(mode, umask), req.uid(), req.gid());
        entry(reply, self.add(parent, name, node));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.run(true, |tree| tree.unlink(parent.0, name)));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.run(true, |tree| tree.rmdir(parent.0, name)));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if !(flags - RenameFlags::RENAME_NOREPLACE).is_empty() {
            return reply.error(Errno::EINVAL);
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        empty(
            reply,
            self.run(true, |tree| {
                tree.rename(parent.0, name, newparent.0, newname, no_replace)
            }),
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.run(false, |tree| tree.node(ino.0).map(|_| ())) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        // Reads change nothing, so they never count towards a cut; the reply borrows from
        // the tree, hence the lock held here rather than through `run`.
        let tree = self.lock();
        if tree.power() == Power::Off {
            return reply.error(Errno::EIO);
        }
        match tree.read(ino.0, offset, size) {
            Ok(bytes) => reply.data(bytes),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let Ok(len) = u32::try_from(data.len()) else {
            return reply.error(Errno::EFBIG);
        };
        match self.run(true, |tree| tree.write(ino.0, offset, data)) {
            Ok(()) => reply.written(len),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.run(false, |_| Ok(())));
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.run(true, |tree| tree.sync(ino.0)));
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let list = match self.run(false, |tree| tree.list(ino.0)) {
            Ok(list) => list,
            Err(e) => return reply.error(e),
        };
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (child, kind, name)) in list.into_iter().enumerate().skip(skip) {
            if reply.add(INodeNo(child), i as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.run(true, |tree| tree.sync(ino.0)));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.run(false, |tree| Ok(tree.usage())) {
            Ok((bytes, files)) => {
                let free = BLOCKS.saturating_sub(bytes.div_ceil(BLOCK));
                let ffree = FILES.saturating_sub(files);
                reply.statfs(
                    BLOCKS,
                    free,
                    free,
                    FILES,
                    ffree,
                    BLOCK as u32,
                    255,
                    BLOCK as u32,
                );
            }
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        empty(reply, self.run(false, |_| Ok(())));
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let node = Node::file(perm(mode, umask), req.uid(), req.gid());
        match self.add(parent, name, node) {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let result = self.run(true, |tree| match mode {
            0 => {
                let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
                if end > tree.node(ino.0)?.size() {
                    tree.truncate(ino.0, end)?;
                }
                Ok(())
            }
            libc::FALLOC_FL_KEEP_SIZE => Ok(()),
            _ => Err(Errno::EOPNOTSUPP),
        });
        empty(reply, result);
    }
}
