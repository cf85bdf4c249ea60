//! The USB information of serial ports, read from Linux sysfs.
//!
//! tokio-serial is built without libudev, so a port's USB identity is read the way udev reads
//! it: `/sys/class/tty/<name>/device` is the USB interface the port belongs to, and its parent
//! directory is the USB device (`idVendor`, `idProduct`, `serial`, `busnum`, `devpath`). A path
//! given by the user (`/dev/serial/by-id/...`, a simulated jig's link) is resolved through its
//! symlinks first. Everything is behind [`SerialPorts`], so the parsing is tested on a fake tree.

use std::fs;
use std::path::{Path, PathBuf};

use super::known::UsbId;

/// The USB device a serial port belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsbPortInfo {
    /// Vendor and product id.
    pub id: UsbId,
    /// The USB serial number string, when the device has one.
    pub serial: Option<String>,
    /// Where the device is plugged: bus number, then the port numbers (`1-1.4`), as the kernel
    /// names it; the same on every boot for the same socket.
    pub bus_path: String,
}

/// A serial port and, when it is a USB device, its USB information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtyPort {
    /// The device path (`/dev/ttyACM0`), or the path as given when it is not a tty in sysfs
    /// (a PTY, a symlink to one).
    pub device: PathBuf,
    /// Its USB device, if any.
    pub usb: Option<UsbPortInfo>,
}

/// Where serial ports and their USB information come from.
pub trait SerialPorts {
    /// Every serial port that belongs to a USB device.
    fn usb_ports(&self) -> Vec<TtyPort>;
    /// The port at `path` (symlinks resolved), with its USB information when it has some;
    /// `None` when nothing is at `path`.
    fn describe(&self, path: &Path) -> Option<TtyPort>;
}

/// The real source: Linux sysfs and `/dev`.
#[derive(Debug, Clone)]
pub struct Sysfs {
    /// Where sysfs is mounted (`/sys`).
    sys: PathBuf,
    /// Where device nodes are (`/dev`).
    dev: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs::new("/sys", "/dev")
    }
}

/// How far above a tty's `device` link the USB device directory may be (the interface is one
/// level down; some drivers add one more).
const MAX_LEVELS: usize = 3;

impl Sysfs {
    /// Sysfs mounted at `sys`, device nodes in `dev` (other roots for tests).
    pub fn new(sys: impl Into<PathBuf>, dev: impl Into<PathBuf>) -> Self {
        Sysfs {
            sys: sys.into(),
            dev: dev.into(),
        }
    }

    /// The USB device that tty `name` belongs to, if any.
    fn usb_of(&self, name: &str) -> Option<UsbPortInfo> {
        let link = self.sys.join("class/tty").join(name).join("device");
        let mut dir = fs::canonicalize(link).ok()?;
        for _ in 0..MAX_LEVELS {
            if dir.join("idVendor").is_file() {
                return read_usb_device(&dir);
            }
            dir = dir.parent()?.to_path_buf();
        }
        None
    }
}

impl SerialPorts for Sysfs {
    fn usb_ports(&self) -> Vec<TtyPort> {
        let Ok(entries) = fs::read_dir(self.sys.join("class/tty")) else {
            return Vec::new();
        };
        let mut ports: Vec<TtyPort> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                let usb = self.usb_of(&name)?;
                Some(TtyPort {
                    device: self.dev.join(&name),
                    usb: Some(usb),
                })
            })
            .collect();
        ports.sort_by(|a, b| a.device.cmp(&b.device));
        ports
    }

    fn describe(&self, path: &Path) -> Option<TtyPort> {
        let real = fs::canonicalize(path).ok()?;
        let usb = real
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| real.parent() == Some(self.dev.as_path()))
            .and_then(|name| self.usb_of(name));
        let device = if usb.is_some() {
            real
        } else {
            path.to_path_buf()
        };
        Some(TtyPort { device, usb })
    }
}

/// Reads a USB device directory (`.../usb1/1-1/1-1.4`).
fn read_usb_device(dir: &Path) -> Option<UsbPortInfo> {
    let vid = hex_attr(dir, "idVendor")?;
    let pid = hex_attr(dir, "idProduct")?;
    let serial = text_attr(dir, "serial").filter(|s| !s.is_empty());
    let bus_path = match (text_attr(dir, "busnum"), text_attr(dir, "devpath")) {
        (Some(bus), Some(path)) => format!("{bus}-{path}"),
        _ => dir.file_name()?.to_str()?.to_string(),
    };
    Some(UsbPortInfo {
        id: UsbId { vid, pid },
        serial,
        bus_path,
    })
}

/// A sysfs attribute as trimmed text (attributes end with a newline).
fn text_attr(dir: &Path, name: &str) -> Option<String> {
    // Attributes are a page at most; a longer file is not an attribute.
    let text = fs::read_to_string(dir.join(name)).ok()?;
    (text.len() <= 4096).then(|| text.trim().to_string())
}

/// A sysfs attribute holding a 16-bit hex number (`idVendor`: `1209`).
fn hex_attr(dir: &Path, name: &str) -> Option<u16> {
    u16::from_str_radix(&text_attr(dir, name)?, 16).ok()
}
