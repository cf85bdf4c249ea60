//! A pseudo-terminal pair in raw mode: the simulator keeps the master, the host opens the slave
//! path. The simulator also holds the slave open itself so the master never sees a hang-up
//! while no host is connected.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt, PtyMaster};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

/// One PTY.
pub struct Pty {
    /// Simulator side.
    pub master: PtyMaster,
    /// Host side path, e.g. `/dev/pts/7`.
    pub path: PathBuf,
    _slave: File,
}

impl Pty {
    /// Opens a new PTY in raw mode.
    pub fn open() -> Result<Pty, nix::Error> {
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let path = PathBuf::from(ptsname_r(&master)?);
        // Never this process's controlling terminal (it would be, in a session leader such
        // as a service): closing it at the end would send the line a SIGHUP.
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(OFlag::O_NOCTTY.bits())
            .open(&path)
            .map_err(|e| {
                nix::errno::Errno::from_raw(
                    e.raw_os_error().unwrap_or(nix::errno::Errno::EIO as i32),
                )
            })?;
        let mut t = tcgetattr(slave.as_fd())?;
        cfmakeraw(&mut t);
        tcsetattr(slave.as_fd(), SetArg::TCSANOW, &t)?;
        Ok(Pty {
            master,
            path,
            _slave: slave,
        })
    }
}
