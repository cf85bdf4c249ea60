//! The USB identities of Benchline jigs: the one place that says which VID/PID is a jig.
//!
//! Each real board declares its identity in its package (`firmware/boards/<name>/Cargo.toml`,
//! `[package.metadata.benchline] usb = { vid = ..., pid = ... }`); [`KNOWN`] repeats it for the
//! host, and a test checks that the two agree for every board in the tree.

use std::fmt;

/// A USB vendor and product id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct UsbId {
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
}

impl fmt::Display for UsbId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vid, self.pid)
    }
}

/// A board whose jigs this benchctl recognises on USB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownBoard {
    /// The board package's directory name under `firmware/boards/`.
    pub board: &'static str,
    /// Its USB identity.
    pub usb: UsbId,
}

/// pid.codes, the vendor id shared by open-hardware projects.
pub const PID_CODES_VID: u16 = 0x1209;

/// Every board whose jigs are recognised by VID/PID.
pub const KNOWN: &[KnownBoard] = &[KnownBoard {
    board: "rp2040",
    usb: UsbId {
        vid: PID_CODES_VID,
        pid: 0x0001,
    },
}];

/// The board with this USB identity, if it is a Benchline jig.
pub fn board_for(id: UsbId) -> Option<&'static str> {
    KNOWN.iter().find(|k| k.usb == id).map(|k| k.board)
}
