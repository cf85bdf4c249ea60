//! Discovery with fakes: a sysfs tree in a temporary directory, a fake USB bus and a greeter
//! that answers from a table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::follow::{changes, present, Change};
use super::hello::{Greeter, Greeting, JigHello};
use super::known::{board_for, UsbId, KNOWN, PID_CODES_VID};
use super::sysfs::{SerialPorts, Sysfs};
use super::usb::{UsbBus, UsbDevice, UsbUnavailable};
use super::*;
use crate::flash::confirm::{confirm, Before, JigFinder, PortFinder, Wait, Whereabouts};
use crate::flash::FlashError;

fn jig_id() -> UsbId {
    KNOWN[0].usb
}

/// A sysfs tree and a /dev directory under a temporary directory.
struct Tree {
    _tmp: tempfile::TempDir,
    sys: PathBuf,
    dev: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let (sys, dev) = (root.join("sys"), root.join("dev"));
        std::fs::create_dir_all(sys.join("class/tty")).unwrap();
        std::fs::create_dir_all(dev.join("serial/by-id")).unwrap();
        Tree {
            _tmp: tmp,
            sys,
            dev,
        }
    }

    /// A USB serial port `name` on the device at `bus_path` (`1-1.4`), as the kernel lays it
    /// out: the tty's `device` link points at the interface, whose parent is the device.
    fn usb_tty(&self, name: &str, bus_path: &str, id: UsbId, serial: Option<&str>) {
        let (bus, devpath) = bus_path.split_once('-').unwrap();
        let device = self
            .sys
            .join(format!("devices/pci0000:00/0000:00:14.0/usb{bus}/{bus}-1"))
            .join(bus_path);
        let interface = device.join(format!("{bus_path}:1.0"));
        std::fs::create_dir_all(interface.join("tty").join(name)).unwrap();
        let attr = |n: &str, v: &str| std::fs::write(device.join(n), format!("{v}\n")).unwrap();
        attr("idVendor", &format!("{:04x}", id.vid));
        attr("idProduct", &format!("{:04x}", id.pid));
        attr("busnum", bus);
        attr("devpath", devpath);
        if let Some(s) = serial {
            attr("serial", s);
        }
        let class = self.sys.join("class/tty").join(name);
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(&interface, class.join("device")).unwrap();
        std::fs::write(self.dev.join(name), b"").unwrap();
    }

    /// A tty that is not on USB (a motherboard UART).
    fn plain_tty(&self, name: &str) {
        let class = self.sys.join("class/tty").join(name);
        let device = self.sys.join("devices/platform/serial8250");
        std::fs::create_dir_all(&device).unwrap();
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(&device, class.join("device")).unwrap();
        std::fs::write(self.dev.join(name), b"").unwrap();
    }

    fn sysfs(&self) -> Sysfs {
        Sysfs::new(&self.sys, &self.dev)
    }
}

#[test]
fn serial_ports_carry_their_usb_device() {
    let t = Tree::new();
    t.usb_tty("ttyACM0", "1-1.4", jig_id(), Some("JIG-0042"));
    t.usb_tty(
        "ttyUSB0",
        "3-2",
        UsbId {
            vid: 0x0403,
            pid: 0x6001,
        },
        None,
    );
    t.plain_tty("ttyS0");
    let ports = t.sysfs().usb_ports();
    assert_eq!(ports.len(), 2, "{ports:?}");
    let acm = &ports[0];
    assert_eq!(acm.device, t.dev.join("ttyACM0"));
    let usb = acm.usb.as_ref().unwrap();
    assert_eq!(usb.id, jig_id());
    assert_eq!(usb.serial.as_deref(), Some("JIG-0042"));
    assert_eq!(usb.bus_path, "1-1.4");
    let ftdi = ports[1].usb.as_ref().unwrap();
    assert_eq!(
        (ftdi.id.vid, ftdi.id.pid, ftdi.serial.as_deref()),
        (0x0403, 0x6001, None)
    );
    assert_eq!(ftdi.bus_path, "3-2");
}

#[test]
fn a_by_id_link_resolves_to_its_tty() {
    let t = Tree::new();
    t.usb_tty("ttyACM0", "1-1.4", jig_id(), Some("JIG-0042"));
    t.plain_tty("ttyS0");
    let link = t.dev.join("serial/by-id/usb-Benchline_Jig_JIG-0042-if00");
    std::os::unix::fs::symlink("../../ttyACM0", &link).unwrap();
    let port = t.sysfs().describe(&link).unwrap();
    assert_eq!(port.device, t.dev.join("ttyACM0"));
    assert_eq!(port.usb.unwrap().serial.as_deref(), Some("JIG-0042"));

    let uart = t.sysfs().describe(&t.dev.join("ttyS0")).unwrap();
    assert_eq!(uart.usb, None);

    // A simulated jig's link to a PTY is kept as given; a dangling one is nothing.
    let pty = t.dev.join("pts-standin");
    std::fs::write(&pty, b"").unwrap();
    let sim = t.dev.join("jig-link");
    std::os::unix::fs::symlink(&pty, &sim).unwrap();
    let p = t.sysfs().describe(&sim).unwrap();
    assert_eq!((p.device, p.usb), (sim.clone(), None));
    std::fs::remove_file(&pty).unwrap();
    assert_eq!(t.sysfs().describe(&sim), None);
}

#[test]
fn odd_sysfs_attributes_are_skipped_not_trusted() {
    let t = Tree::new();
    t.usb_tty("ttyACM0", "1-1.4", jig_id(), None);
    let device = std::fs::canonicalize(t.sys.join("class/tty/ttyACM0/device"))
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::write(device.join("idVendor"), "zz\n").unwrap();
    assert!(t.sysfs().usb_ports().is_empty());
    // Without busnum/devpath the device directory's own name is the bus path.
    std::fs::write(device.join("idVendor"), "1209\n").unwrap();
    std::fs::remove_file(device.join("busnum")).unwrap();
    assert_eq!(
        t.sysfs().usb_ports()[0].usb.as_ref().unwrap().bus_path,
        "1-1.4"
    );
}

#[test]
fn jigs_are_recognised_by_vid_and_pid() {
    assert_eq!(board_for(jig_id()), Some("rp2040"));
    assert_eq!(jig_id().vid, PID_CODES_VID);
    assert_eq!(
        board_for(UsbId {
            vid: 0x0403,
            pid: 0x6001
        }),
        None
    );
    assert_eq!(
        board_for(UsbId {
            vid: PID_CODES_VID,
            pid: 0xffff
        }),
        None
    );
    assert_eq!(jig_id().to_string(), format!("1209:{:04x}", jig_id().pid));
}

/// A USB bus that lists what it was given.
struct FakeBus(Vec<UsbDevice>);

impl UsbBus for FakeBus {
    fn devices(&self) -> Result<Vec<UsbDevice>, UsbUnavailable> {
        Ok(self.0.clone())
    }
}

/// Answers from a table by port; counts the greetings.
#[derive(Default)]
struct Table {
    answers: HashMap<PathBuf, JigHello>,
    greeted: AtomicUsize,
}

impl Greeter for Table {
    fn greet(&self, port: &Path) -> impl std::future::Future<Output = Greeting> + Send {
        self.greeted.fetch_add(1, Ordering::Relaxed);
        let g = match self.answers.get(port) {
            Some(h) => Greeting {
                hello: Some(h.clone()),
                problem: None,
            },
            None => Greeting {
                hello: None,
                problem: Some(format!("{} is not a Benchline jig", port.display())),
            },
        };
        async move { g }
    }
}

fn hello(serial: &str, simulated: bool) -> JigHello {
    JigHello {
        serial: Some(serial.into()),
        firmware: "0.1.0".into(),
        protocol: benchline_protocol::PROTOCOL_VERSION,
        slots: Some(2),
        simulated,
        boot_id: Some(0x5eed),
    }
}

#[tokio::test]
async fn a_scan_lists_usb_jigs_named_ports_and_jigs_without_a_port() {
    let t = Tree::new();
    t.usb_tty("ttyACM0", "1-1.4", jig_id(), Some("JIG-0042"));
    t.usb_tty(
        "ttyUSB0",
        "3-2",
        UsbId {
            vid: 0x0403,
            pid: 0x6001,
        },
        None,
    );
    let sim = t.dev.join("sim-link");
    std::fs::write(&sim, b"").unwrap();
    let bus = FakeBus(vec![
        UsbDevice {
            id: jig_id(),
            bus_path: "1-1.4".into(),
            serial: Some("JIG-0042".into()),
        },
        UsbDevice {
            id: jig_id(),
            bus_path: "1-2".into(),
            serial: Some("JIG-0043".into()),
        },
        UsbDevice {
            id: UsbId {
                vid: 0x0403,
                pid: 0x6001,
            },
            bus_path: "3-2".into(),
            serial: None,
        },
    ]);
    let mut greeter = Table::default();
    greeter
        .answers
        .insert(t.dev.join("ttyACM0"), hello("JIG-0042", false));
    greeter.answers.insert(sim.clone(), hello("SIM-0001", true));
    let ports = t.sysfs();
    let sources = Sources {
        usb: Ok(&bus),
        ports: &ports,
        greeter: &greeter,
    };
    let scan = scan(&sources, std::slice::from_ref(&sim), &BTreeMap::new()).await;
    assert_eq!(scan.usb_devices, Some(3));
    assert!(scan.usb_problem.is_none());
    assert_eq!(scan.jigs.len(), 3, "{:#?}", scan.jigs);

    // Ports in path order, then USB jigs without a port.
    let (simulated, acm) = (&scan.jigs[0], &scan.jigs[1]);
    assert_eq!(acm.port.as_deref(), Some(t.dev.join("ttyACM0").as_path()));
    assert_eq!(acm.board, Some("rp2040"));
    assert_eq!(
        acm.hello.as_ref().unwrap().serial.as_deref(),
        Some("JIG-0042")
    );
    assert_eq!(acm.usb.as_ref().unwrap().bus_path, "1-1.4");

    assert_eq!(simulated.port.as_deref(), Some(sim.as_path()));
    assert!(simulated.usb.is_none() && simulated.hello.as_ref().unwrap().simulated);

    let portless = &scan.jigs[2];
    assert_eq!(portless.port, None);
    assert_eq!(
        portless.usb.as_ref().unwrap().serial.as_deref(),
        Some("JIG-0043")
    );
    assert!(portless.problem.as_ref().unwrap().contains("cdc_acm"));
    assert_eq!(portless.key(), "usb:1-2");
    // The FTDI adapter is neither a known jig nor named: it is not greeted.
    assert_eq!(greeter.greeted.load(Ordering::Relaxed), 2);

    // A rescan greets only what did not answer before.
    let again = super::scan(&sources, std::slice::from_ref(&sim), &present(&scan.jigs)).await;
    assert_eq!(greeter.greeted.load(Ordering::Relaxed), 2);
    assert_eq!(again.jigs, scan.jigs);
}

#[tokio::test]
async fn usb_that_cannot_be_opened_still_lists_named_ports() {
    let t = Tree::new();
    let sim = t.dev.join("sim-link");
    std::fs::write(&sim, b"").unwrap();
    let gone = t.dev.join("gone");
    let mut greeter = Table::default();
    greeter.answers.insert(sim.clone(), hello("SIM-0001", true));
    let unavailable = UsbUnavailable {
        detail: "libusb could not start (Other error)".into(),
    };
    let ports = t.sysfs();
    let sources: Sources<'_, FakeBus, _, _> = Sources {
        usb: Err(&unavailable),
        ports: &ports,
        greeter: &greeter,
    };
    let scan = scan(&sources, &[sim.clone(), gone.clone()], &BTreeMap::new()).await;
    assert_eq!(scan.usb_devices, None);
    let problem = scan.usb_problem.unwrap().to_string();
    assert!(
        problem.starts_with("USB cannot be opened here"),
        "{problem}"
    );
    assert!(
        problem.contains("jigs on serial ports are still listed"),
        "{problem}"
    );
    assert_eq!(scan.jigs.len(), 2);
    assert!(scan.jigs[0]
        .problem
        .as_ref()
        .unwrap()
        .contains("nothing at"));
    assert_eq!(
        scan.jigs[1].hello.as_ref().unwrap().serial.as_deref(),
        Some("SIM-0001")
    );
    // Nothing at a path is not greeted at all.
    assert_eq!(greeter.greeted.load(Ordering::Relaxed), 1);
}

fn jig_at(port: &Path, serial: &str) -> Jig {
    Jig {
        port: Some(port.to_path_buf()),
        usb: None,
        board: None,
        hello: Some(hello(serial, true)),
        problem: None,
    }
}

#[test]
fn follow_reports_arrivals_departures_and_changes() {
    let t = Tree::new();
    let (a, b) = (t.dev.join("a"), t.dev.join("b"));
    std::fs::write(&a, b"").unwrap();
    std::fs::write(&b, b"").unwrap();
    let before = present(&[jig_at(&a, "A")]);
    let mut b_silent = jig_at(&b, "B");
    b_silent.hello = None;
    b_silent.problem = Some("no answer".into());
    let after = present(&[jig_at(&b, "B")]);
    let c = changes(&before, &after);
    assert_eq!(
        c.iter()
            .map(|(k, j)| (k.clone(), j.key()))
            .collect::<Vec<_>>(),
        [
            (Change::Left, a.display().to_string()),
            (Change::Arrived, b.display().to_string())
        ]
    );
    let c = changes(&present(&[b_silent]), &after);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].0, Change::Changed);
    assert!(changes(&after, &after).is_empty());
    // A named port with nothing behind it any more has left.
    std::fs::remove_file(&b).unwrap();
    let gone = present(&[jig_at(&b, "B")]);
    assert_eq!(changes(&after, &gone)[0].0, Change::Left);
}

/// The flashed jig is found by the board's VID/PID (and USB serial number) once its port is
/// back after the reset; several candidates are not guessed between.
#[tokio::test]
async fn the_flashed_jig_is_found_by_its_usb_identity() {
    let t = Tree::new();
    let mut greeter = Table::default();
    greeter
        .answers
        .insert(t.dev.join("ttyACM0"), hello("JIG-0042", false));
    let finder = |jig: Option<&str>, greeter: Table| PortFinder {
        whereabouts: Whereabouts {
            port: None,
            jig: jig.map(str::to_string),
            usb: Some(jig_id()),
        },
        ports: t.sysfs(),
        greeter,
    };
    let wait = |ms| Wait {
        within: Duration::from_millis(ms),
        tick: Duration::from_millis(1),
    };
    // No port of the board: nothing seen, silent until the deadline.
    let f = finder(None, greeter);
    assert!(!f.named());
    assert!(f.look().await.is_empty());
    let blank = Before::default();
    let e = confirm(&f, &blank, "0.1.0", wait(20)).await.unwrap_err();
    assert!(matches!(e, FlashError::NeverAnswered { .. }), "{e}");
    // Its port appears (a blank chip before): it is the flashed jig.
    t.usb_tty("ttyACM0", "1-1.4", jig_id(), Some("JIG-0042"));
    let c = confirm(&f, &blank, "0.1.0", wait(5000)).await.unwrap();
    assert_eq!(c.port, t.dev.join("ttyACM0"));
    assert_eq!(c.hello.serial.as_deref(), Some("JIG-0042"));
    // Another jig of the board: both are candidates, and both are greeted.
    t.usb_tty("ttyACM1", "1-1.3", jig_id(), Some("JIG-0007"));
    let seen = f.look().await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0].hello.as_ref().unwrap().serial.as_deref(),
        Some("JIG-0042")
    );
    assert!(seen[1].problem.as_deref().unwrap().contains("ttyACM1"));
    // --jig narrows the candidates to that USB serial number.
    let f = finder(Some("JIG-0007"), f.greeter);
    assert!(f.named());
    let seen = f.look().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].port, t.dev.join("ttyACM1"));
    let e = confirm(&f, &blank, "0.1.0", wait(50)).await.unwrap_err();
    assert!(e.to_string().contains("ttyACM1"), "{e}");
}
