//! Finding jigs: on USB by VID/PID, on serial ports with their USB information, and by what
//! each says in its `Hello`; what `benchctl jigs` shows.
//!
//! - [`known`]: the USB identities of Benchline boards (the one list).
//! - [`usb`]: USB devices through libusb (rusb) with a context of our own, and hot-plug.
//! - [`sysfs`]: serial ports and the USB device each belongs to (Linux sysfs).
//! - [`hello`]: a port's `Hello`, through the controller's link.
//! - [`follow`]: arrivals and departures between two scans.
//!
//! A jig is a serial port whose USB identity is a known board, or a port named by the user
//! (a simulated jig's link path, a board on a plain UART), that answers the handshake. A known
//! USB device without a serial port is listed too, with what to check. Invariants: each port is
//! opened by one handshake at most per scan, bounded by the greeter's deadline; USB that cannot
//! be opened is a note, never a failure; nothing here keeps a port open.

pub mod follow;
pub mod hello;
pub mod known;
pub mod sysfs;
pub mod usb;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hello::{Greeter, JigHello};
use known::{board_for, UsbId};
use sysfs::{SerialPorts, TtyPort, UsbPortInfo};
use usb::{UsbBus, UsbUnavailable};

/// A jig found by a scan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Jig {
    /// Its serial port (`None` for a USB jig whose port did not appear).
    pub port: Option<PathBuf>,
    /// Its USB device, when it is on USB.
    pub usb: Option<UsbPortInfo>,
    /// The board its USB identity names, when it is a known one.
    pub board: Option<&'static str>,
    /// What it said in its `Hello`.
    pub hello: Option<JigHello>,
    /// What is wrong with it, and what to do.
    pub problem: Option<String>,
}

impl Jig {
    /// What identifies this jig between two scans: its port, else its place on USB.
    pub fn key(&self) -> String {
        match (&self.port, &self.usb) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(u)) => format!("usb:{}", u.bus_path),
            (None, None) => String::new(),
        }
    }
}

/// The result of one scan.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The jigs, in port order.
    pub jigs: Vec<Jig>,
    /// USB devices seen on the bus (any kind); `None` when USB could not be opened.
    pub usb_devices: Option<usize>,
    /// Why USB could not be opened, if it could not.
    pub usb_problem: Option<UsbUnavailable>,
}

/// Where a scan looks.
pub struct Sources<'a, U, S, G> {
    /// The USB bus, or why it could not be opened.
    pub usb: Result<&'a U, &'a UsbUnavailable>,
    /// Serial ports and their USB information.
    pub ports: &'a S,
    /// Asks a port for its `Hello`.
    pub greeter: &'a G,
}

/// Looks for jigs: known USB devices, serial ports of known USB devices, and the ports named
/// in `named` (each is greeted once, all at the same time). A port found answering in
/// `known_jigs` (the last scan, by [`Jig::key`]) is not greeted again.
pub async fn scan<U: UsbBus, S: SerialPorts, G: Greeter>(
    sources: &Sources<'_, U, S, G>,
    named: &[PathBuf],
    known_jigs: &BTreeMap<String, Jig>,
) -> Scan {
    let (usb_list, usb_problem) = match sources.usb {
        Ok(bus) => match bus.devices() {
            Ok(list) => (Some(list), None),
            Err(e) => (None, Some(e)),
        },
        Err(e) => (None, Some(e.clone())),
    };
    let usb_devices = usb_list.as_ref().map(Vec::len);

    // Serial ports: those of known boards, then those named, once each.
    let mut candidates: BTreeMap<PathBuf, TtyPort> = BTreeMap::new();
    for port in sources.ports.usb_ports() {
        if port.usb.as_ref().is_some_and(|u| board_for(u.id).is_some()) {
            candidates.insert(port.device.clone(), port);
        }
    }
    for path in named {
        let port = sources.ports.describe(path).unwrap_or_else(|| TtyPort {
            device: path.clone(),
            usb: None,
        });
        candidates.entry(port.device.clone()).or_insert(port);
    }

    let greetings = futures::future::join_all(candidates.values().map(|port| async {
        let key = port.device.display().to_string();
        match known_jigs.get(&key) {
            Some(j) if j.hello.is_some() && j.problem.is_none() => (j.hello.clone(), None),
            _ => {
                if !exists(&port.device) {
                    return (None, Some(missing(&port.device)));
                }
                let g = sources.greeter.greet(&port.device).await;
                (g.hello, g.problem)
            }
        }
    }))
    .await;

    let mut jigs: Vec<Jig> = candidates
        .into_values()
        .zip(greetings)
        .map(|(port, (hello, problem))| Jig {
            board: port.usb.as_ref().and_then(|u| board_for(u.id)),
            port: Some(port.device),
            usb: port.usb,
            hello,
            problem,
        })
        .collect();

    // Known USB devices that no serial port belongs to.
    for device in usb_list.iter().flatten() {
        let Some(board) = board_for(device.id) else {
            continue;
        };
        let has_port = jigs.iter().any(|j| {
            j.usb
                .as_ref()
                .is_some_and(|u| u.bus_path == device.bus_path)
        });
        if !has_port {
            jigs.push(Jig {
                port: None,
                usb: Some(UsbPortInfo {
                    id: device.id,
                    serial: device.serial.clone(),
                    bus_path: device.bus_path.clone(),
                }),
                board: Some(board),
                hello: None,
                problem: Some(no_port(device.id)),
            });
        }
    }
    Scan {
        jigs,
        usb_devices,
        usb_problem,
    }
}

/// True when something is at `path` (a symlink is followed: a dangling one is nothing).
fn exists(path: &Path) -> bool {
    path.metadata().is_ok()
}

fn missing(path: &Path) -> String {
    format!(
        "nothing at {}: the jig was unplugged or its simulator stopped; plug it in (or start it) and scan again",
        path.display()
    )
}

fn no_port(id: UsbId) -> String {
    format!(
        "a jig ({id}) is on USB but has no serial port: check that the kernel's cdc_acm driver is loaded (lsmod | grep cdc_acm) and that the jig's firmware starts its USB serial class; flash it again with `benchctl flash` if it does not"
    )
}

#[cfg(test)]
mod tests;
