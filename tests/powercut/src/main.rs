//! `powercut-fs`: a FUSE filesystem for tests that loses, on a power cut, everything that was
//! not made durable (in the style of LazyFS).
//!
//! ```text
//! powercut-fs MOUNTPOINT --dump DIR [--from DIR]
//! ```
//!
//! An in-memory filesystem. Every file has a volatile state (what reads see) and a durable
//! state (what the drive holds):
//! - writes, truncates, creates, `mknod` (files, Unix sockets, FIFOs), `mkdir`, unlinks and
//!   renames change only the volatile state;
//! - `fsync`/`fdatasync` of a file makes its current bytes and size durable;
//! - `fsyncdir` of a directory makes its current names durable. A new file's name survives
//!   only once its directory has been synced (a strict reading of POSIX, as on ext4 without
//!   the journal's ordering to help); a synced file whose name was never synced is lost.
//! - Nothing else makes anything durable: not `close`, not `sync_file_range` (no FUSE
//!   request; every write reaches the filesystem because files are opened with direct I/O
//!   and the kernel's write-back cache is off), not time. Attributes other than the size
//!   (mode, owner, times) are kept as they are: the model is about data and names.
//!
//! The test drives it through standard input (see [`control`]): `cut N` cuts the power once
//! N more operations that change state have run (`cut 0`: at once), so a cut can fall at any
//! point inside a sequence of writes and syncs. At the cut, the volatile state is thrown
//! away and every later operation fails with `EIO` (the machine is off); the durable state
//! reachable from the root through durable names is written to `--dump DIR` (a new
//! directory) and then `off` is printed. `mounted` is printed once the mount is live. When
//! standard input closes, the filesystem unmounts and exits. `--from DIR` gives the contents
//! it starts with, all durable: the dump of an earlier cut, to cut again.
//!
//! Inodes are never freed (an unlinked file may still be named by a durable entry); the
//! filesystem lives as long as one test.

mod control;
mod disk;
mod fs;
mod node;
mod tree;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use clap::Parser;
use fuser::{Config, MountOption};

use crate::control::Event;
use crate::fs::PowercutFs;
use crate::tree::{Power, Tree};

/// A FUSE filesystem that loses everything not fsynced when the test cuts the power.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where to mount it (an existing directory).
    mountpoint: PathBuf,
    /// Where to write what survived the cut: a directory that does not exist yet.
    #[arg(long)]
    dump: PathBuf,
    /// A directory whose contents the filesystem starts with, all of it durable.
    #[arg(long)]
    from: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("powercut-fs: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let mut tree = Tree::new(
        0o755,
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    if let Some(from) = &args.from {
        disk::load(&mut tree, from).with_context(|| format!("loading {}", from.display()))?;
    }
    let tree = Arc::new(Mutex::new(tree));
    let (events, rx) = mpsc::channel();
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("powercut".into()),
        MountOption::Subtype("powercut".into()),
    ];
    let fs = PowercutFs::new(Arc::clone(&tree), events.clone());
    let session = fuser::spawn_mount(fs, &args.mountpoint, &config).with_context(|| {
        format!(
            "mounting on {} (needs /dev/fuse, and fusermount3 from Debian's fuse3 package when not root)",
            args.mountpoint.display()
        )
    })?;
    control::listen(events);
    say("mounted")?;
    let mut dumped = false;
    while let Ok(event) = rx.recv() {
        let off = match event {
            Event::Cut(after) => {
                let mut tree = tree.lock().unwrap_or_else(PoisonError::into_inner);
                tree.arm(after);
                tree.power() == Power::Off
            }
            Event::PowerOff => true,
            Event::Closed => break,
        };
        if off && !dumped {
            let tree = tree.lock().unwrap_or_else(PoisonError::into_inner);
            let changes = tree.changes();
            let d = disk::dump(&tree, &args.dump)
                .with_context(|| format!("writing the durable state to {}", args.dump.display()))?;
            dumped = true;
            say(&format!(
                "off after {changes} changing operations; kept {} files, {} directories, {} bytes",
                d.files, d.dirs, d.bytes
            ))?;
        }
    }
    session
        .umount_and_join()
        .with_context(|| format!("unmounting {}", args.mountpoint.display()))
}

/// One line on standard output, flushed at once (the test waits on it).
fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
