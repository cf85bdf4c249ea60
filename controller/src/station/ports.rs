//! Where a station's jigs may be: the serial ports to open and ask for their `Hello`.
//!
//! [`PortSource`] is the seam: it turns the station's port patterns into candidate device
//! paths. [`DevPorts`] reads the file system (`/dev/serial/by-id/*`, `/dev/ttyACM*`, a
//! simulated jig's `--link` path); USB discovery can stand in its place (listing the CDC-ACM
//! interfaces of jigs by VID/PID). Which jig is which is never decided here: the run asks each
//! candidate for its `Hello` and [`super::mapping`] places it by the serial it announces.
//!
//! Asking is not harmless: it sends protocol frames to the device. So a port found by a
//! pattern is a candidate only when its USB identity is a known jig's VID/PID
//! ([`crate::discovery::known`]) or when it is not a USB device at all (a PTY, a simulated
//! jig's link); a modem, a debug probe's UART or a barcode scanner that a pattern matches is
//! left alone. A port named by its full path (no wildcard) is always a candidate.

use std::path::{Path, PathBuf};

use crate::discovery::known::board_for;
use crate::discovery::sysfs::{SerialPorts, Sysfs};

/// Lists candidate serial ports for a station's port patterns.
pub trait PortSource: Send + Sync {
    /// The device paths matching `patterns` (paths, or `*` / `?` in the file name), in pattern
    /// order; a device reached by several paths is listed once, by the first path found.
    fn candidates(&self, patterns: &[String]) -> Vec<String>;
}

/// Candidate ports from the file system: each pattern's directory is listed and the names
/// matching its file-name pattern kept, sorted, when they may be jigs (see the module's
/// overview; USB identities read from `/sys`); a plain path is kept when it exists.
#[derive(Debug, Clone, Copy, Default)]
pub struct DevPorts;

impl PortSource for DevPorts {
    fn candidates(&self, patterns: &[String]) -> Vec<String> {
        find(patterns, &Sysfs::default())
    }
}

/// The candidate ports for `patterns`, the USB identity of each port a pattern finds read from
/// `usb`.
pub fn find(patterns: &[String], usb: &dyn SerialPorts) -> Vec<String> {
    let mut out = Vec::new();
    for pattern in patterns {
        out.extend(expand(Path::new(pattern), usb));
    }
    dedupe(out, |p| std::fs::canonicalize(p).ok())
}

/// True when a port a pattern found may be a jig: a known jig on USB, or not on USB at all.
fn may_be_jig(path: &Path, usb: &dyn SerialPorts) -> bool {
    let Some(info) = usb.describe(path).and_then(|port| port.usb) else {
        return true;
    };
    if board_for(info.id).is_some() {
        return true;
    }
    tracing::info!(
        "{} is USB device {}, not a Benchline jig: not opened (name its path in the station file's ports to use it anyway)",
        path.display(),
        info.id
    );
    false
}

/// The existing paths a pattern names.
fn expand(pattern: &Path, usb: &dyn SerialPorts) -> Vec<String> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        // A plain path: kept when it exists (a dangling by-id link is a jig unplugged).
        return if pattern.exists() {
            vec![pattern.display().to_string()]
        } else {
            Vec::new()
        };
    }
    let dir = pattern.parent().unwrap_or(Path::new("/"));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let wild = wildmatch::WildMatch::new(&name);
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| wild.matches(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| p.exists() && may_be_jig(p, usb))
        .collect();
    found.sort();
    found.into_iter().map(|p| p.display().to_string()).collect()
}

/// `paths` without the later ones that `same` resolves to a device already listed (a by-id
/// link and the `/dev/ttyACM` it points to).
pub fn dedupe(paths: Vec<String>, same: impl Fn(&str) -> Option<PathBuf>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for p in paths {
        let key = same(&p).unwrap_or_else(|| PathBuf::from(&p));
        if seen.insert(key) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn patterns_list_matching_devices_once_by_the_first_path() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ttyACM0"), "").unwrap();
        std::fs::write(d.join("ttyACM1"), "").unwrap();
        std::fs::write(d.join("ttyS0"), "").unwrap();
        std::fs::create_dir(d.join("by-id")).unwrap();
        std::os::unix::fs::symlink(d.join("ttyACM1"), d.join("by-id/usb-Benchline_J7")).unwrap();
        // Unplugged: its link dangles.
        std::os::unix::fs::symlink(d.join("ttyACM9"), d.join("by-id/usb-Benchline_J9")).unwrap();
        let p = |s: &str| d.join(s).display().to_string();
        let found = DevPorts.candidates(&[p("by-id/*"), p("ttyACM*"), p("missing")]);
        assert_eq!(
            found,
            vec![p("by-id/usb-Benchline_J7"), p("ttyACM0")],
            "the by-id link stands for ttyACM1; ttyS0 does not match"
        );
        assert!(DevPorts.candidates(&[p("nowhere/*")]).is_empty());
    }

    /// A USB serial port `name` of the device `id` in a fake sysfs tree under `root` (laid out
    /// as the kernel does: the tty's `device` link is the interface, whose parent is the
    /// device), with its node in `root/dev`.
    fn usb_tty(root: &Path, name: &str, bus_path: &str, id: crate::discovery::known::UsbId) {
        let device = root.join("sys/devices/usb1").join(bus_path);
        let interface = device.join(format!("{bus_path}:1.0"));
        std::fs::create_dir_all(&interface).unwrap();
        std::fs::write(device.join("idVendor"), format!("{:04x}\n", id.vid)).unwrap();
        std::fs::write(device.join("idProduct"), format!("{:04x}\n", id.pid)).unwrap();
        let class = root.join("sys/class/tty").join(name);
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(&interface, class.join("device")).unwrap();
        std::fs::write(root.join("dev").join(name), "").unwrap();
    }

    #[test]
    fn a_pattern_finds_known_jigs_and_ports_off_usb_and_leaves_other_usb_devices_alone() {
        use crate::discovery::known::{UsbId, KNOWN};
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        for d in ["dev/serial/by-id", "sys/class/tty", "links", "pts"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let jig = KNOWN[0].usb;
        let modem = UsbId {
            vid: 0x1199,
            pid: 0x9071,
        };
        let probe_uart = UsbId {
            vid: 0x2e8a,
            pid: 0x000c,
        };
        usb_tty(&root, "ttyACM0", "1-1.1", jig);
        usb_tty(&root, "ttyACM1", "1-1.2", modem);
        usb_tty(&root, "ttyACM2", "1-1.3", probe_uart);
        let by_id = root.join("dev/serial/by-id");
        std::os::unix::fs::symlink("../../ttyACM0", by_id.join("usb-Benchline_J7-if00")).unwrap();
        std::os::unix::fs::symlink("../../ttyACM1", by_id.join("usb-Sierra_EM7455-if02")).unwrap();
        // A simulated jig: a link to a PTY, which is no USB device.
        std::fs::write(root.join("pts/3"), "").unwrap();
        std::os::unix::fs::symlink(root.join("pts/3"), root.join("links/sim-jig-1")).unwrap();
        let p = |s: &str| root.join(s).display().to_string();
        let sysfs = Sysfs::new(root.join("sys"), root.join("dev"));
        let defaults = [p("dev/serial/by-id/*"), p("dev/ttyACM*"), p("links/*")];
        assert_eq!(
            find(&defaults, &sysfs),
            vec![
                p("dev/serial/by-id/usb-Benchline_J7-if00"),
                p("links/sim-jig-1")
            ],
            "the modem and the probe's UART are not opened"
        );
        // Named by its path, a port is opened whatever it is.
        let named = [p("dev/ttyACM*"), p("dev/ttyACM2")];
        assert_eq!(
            find(&named, &sysfs),
            vec![p("dev/ttyACM0"), p("dev/ttyACM2")]
        );
    }
}
