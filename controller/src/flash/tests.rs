//! The flashing logic with a fake probe: board metadata, the ELF check, probe choice, chip
//! check and the version confirmed after the reset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::confirm::{confirm, JigFinder, Waited};
use super::elf::{machine_of, parse_header, Machine};
use super::probe::{same_chip, select};
use super::*;
use crate::discovery::hello::JigHello;
use crate::discovery::known::{UsbId, KNOWN};

const RP2040_TOML: &str = r#"
[package]
name = "benchline-board-rp2040"
version = "0.3.1"
edition = "2021"

[package.metadata.benchline]
chip = "RP2040"
target = "thumbv6m-none-eabi"
usb = { vid = 0x1209, pid = 0x0001 }

[workspace]
"#;

fn board() -> Board {
    Board::parse(Path::new("firmware/boards/rp2040"), RP2040_TOML).unwrap()
}

#[test]
fn board_metadata_is_read_from_the_package() {
    let b = board();
    assert_eq!(b.name, "benchline-board-rp2040");
    assert_eq!(b.version, "0.3.1");
    assert_eq!(b.chip, "RP2040");
    assert_eq!(b.target, "thumbv6m-none-eabi");
    assert_eq!(
        b.usb,
        Some(UsbId {
            vid: 0x1209,
            pid: 0x0001
        })
    );
    assert!(!b.is_emulated());
}

#[test]
fn board_metadata_problems_are_named() {
    let check = |text: &str, expected: &str| {
        let e = Board::parse(Path::new("b"), text).unwrap_err();
        assert!(e.contains(expected), "{e:?} should mention {expected:?}");
    };
    check(
        "[package]\nname = \"b\"\nversion = \"1.0.0\"\n",
        "[package.metadata.benchline]",
    );
    check(
        "[package]\nname = \"b\"\nversion.workspace = true\n[package.metadata.benchline]\nchip = \"RP2040\"\ntarget = \"thumbv6m-none-eabi\"\n",
        "written out",
    );
    check(
        "[package]\nname = \"b\"\nversion = \"1.0.0\"\n[package.metadata.benchline]\ntarget = \"thumbv6m-none-eabi\"\n",
        "benchline.chip",
    );
    check(
        "[package]\nname = \"b\"\nversion = \"1.0.0\"\n[package.metadata.benchline]\nchip = \"RP2040\"\ntarget = \"t\"\nusb = { vid = 70000, pid = 1 }\n",
        "usb.vid",
    );
    check("not toml [", "not valid TOML");
}

#[test]
fn a_qemu_board_has_nothing_to_flash() {
    let text = RP2040_TOML.replace("chip = \"RP2040\"", "chip = \"qemu:mps2-an386\"");
    let b = Board::parse(Path::new("b"), &text).unwrap();
    assert!(b.is_emulated());
    let (elf, _dir) = elf_file(&arm32());
    let job = Job {
        elf,
        board: b,
        probe: None,
    };
    assert!(matches!(
        check(&job, &FakeProbes::default()),
        Err(FlashError::Emulated { .. })
    ));
}

/// Every board in the tree that declares a USB identity is in the host's list of known jigs.
#[test]
fn known_usb_identities_match_the_board_packages() {
    let boards = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/boards");
    let Ok(entries) = std::fs::read_dir(&boards) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(b) = Board::read(&entry.path()) else {
            continue;
        };
        if let Some(usb) = b.usb {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                KNOWN.iter().any(|k| k.usb == usb && k.board == name),
                "board {name} declares {usb}; add it to discovery::known::KNOWN"
            );
        }
    }
}

/// The first 20 bytes of an ELF header.
fn header(class: u8, data: u8, kind: u16, machine: u16) -> Vec<u8> {
    let mut h = vec![0x7f, b'E', b'L', b'F', class, data, 1, 0];
    h.extend_from_slice(&[0; 8]);
    let (k, m) = if data == 2 {
        (kind.to_be_bytes(), machine.to_be_bytes())
    } else {
        (kind.to_le_bytes(), machine.to_le_bytes())
    };
    h.extend_from_slice(&k);
    h.extend_from_slice(&m);
    h
}

fn arm32() -> Vec<u8> {
    header(1, 1, 2, 40)
}

fn elf_file(bytes: &[u8]) -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.elf");
    std::fs::write(&path, bytes).unwrap();
    (path, dir)
}

#[test]
fn elf_headers_are_read() {
    let arm = Machine {
        machine: 40,
        bits: 32,
        little_endian: true,
    };
    assert_eq!(parse_header(&arm32()).unwrap(), (arm, 2));
    let (m, _) = parse_header(&header(2, 1, 3, 62)).unwrap();
    assert_eq!(m.to_string(), "x86-64, 64-bit");
    let (m, t) = parse_header(&header(1, 2, 2, 8)).unwrap();
    assert_eq!((m.machine, m.little_endian, t), (8, false, 2));
    assert!(parse_header(b"\x7fELF").unwrap_err().contains("cut short"));
    assert!(parse_header(b":10000000").unwrap_err().contains("magic"));
    assert!(parse_header(&header(3, 1, 2, 40))
        .unwrap_err()
        .contains("class"));
}

#[test]
fn targets_map_to_elf_machines() {
    let m = |t: &str| machine_of(t).map(|m| (m.machine, m.bits, m.little_endian));
    assert_eq!(m("thumbv6m-none-eabi"), Some((40, 32, true)));
    assert_eq!(m("thumbv7em-none-eabihf"), Some((40, 32, true)));
    assert_eq!(m("armebv7r-none-eabi"), Some((40, 32, false)));
    assert_eq!(m("riscv32imac-unknown-none-elf"), Some((243, 32, true)));
    assert_eq!(m("x86_64-unknown-linux-gnu"), Some((62, 64, true)));
    assert_eq!(m("wasm32-unknown-unknown"), None);
}

#[test]
fn an_elf_for_another_target_is_refused_before_any_probe_is_touched() {
    let probes = FakeProbes::default();
    let run = |bytes: Vec<u8>| {
        let (elf, _dir) = elf_file(&bytes);
        let job = Job {
            elf,
            board: board(),
            probe: None,
        };
        let mut fake = probes.clone();
        let r = program(&job, &mut fake, &mut |_| {});
        assert!(
            fake.log.borrow().is_empty(),
            "no probe may be listed or opened"
        );
        r.unwrap_err()
    };
    let e = run(header(2, 1, 3, 62));
    assert!(
        matches!(e, FlashError::Elf(ElfError::OtherTarget { .. })),
        "{e}"
    );
    let text = e.to_string();
    assert!(text.contains("x86-64, 64-bit"), "{text}");
    assert!(text.contains("ARM, 32-bit (thumbv6m-none-eabi)"), "{text}");
    assert!(e.is_usage());
    assert!(matches!(
        run(header(1, 1, 1, 40)),
        FlashError::Elf(ElfError::NotExecutable { kind: 1, .. })
    ));
    assert!(matches!(
        run(b"PK\x03\x04 not an elf".to_vec()),
        FlashError::Elf(ElfError::NotElf { .. })
    ));
    let job = Job {
        elf: PathBuf::from("/nonexistent/image.elf"),
        board: board(),
        probe: None,
    };
    assert!(matches!(
        program(&job, &mut probes.clone(), &mut |_| {}),
        Err(FlashError::Elf(ElfError::Read { .. }))
    ));
}

fn probe(serial: Option<&str>) -> ProbeInfo {
    ProbeInfo {
        name: "CMSIS-DAP".into(),
        vid: 0x2e8a,
        pid: 0x000c,
        serial: serial.map(str::to_string),
    }
}

#[test]
fn a_probe_is_chosen_only_when_unambiguous() {
    assert!(matches!(
        select(&[], None),
        Err(FlashError::NoProbe {
            serial: None,
            why: None
        })
    ));
    let one = [probe(Some("E6614C"))];
    assert_eq!(select(&one, None).unwrap(), &one[0]);
    assert_eq!(select(&one, Some("e6614c")).unwrap(), &one[0]);
    let two = [probe(Some("E6614C")), probe(None)];
    let e = select(&two, None).unwrap_err();
    assert!(matches!(e, FlashError::SeveralProbes { .. }));
    let text = e.to_string();
    assert!(text.contains("--probe SERIAL"), "{text}");
    assert!(
        text.contains("serial E6614C") && text.contains("no serial number"),
        "{text}"
    );
    assert_eq!(select(&two, Some("E6614C")).unwrap(), &two[0]);
    let e = select(&two, Some("NOPE")).unwrap_err();
    assert!(matches!(e, FlashError::ProbeNotFound { .. }), "{e}");
    assert!(e.to_string().contains("serial E6614C"));
}

#[test]
fn chip_names_match_by_variant() {
    assert!(same_chip("RP2040", "RP2040"));
    assert!(same_chip("rp2040", "RP2040"));
    assert!(same_chip("STM32F411RE", "STM32F411RETx"));
    assert!(!same_chip("RP2040", "STM32F411RETx"));
    assert!(!same_chip("RP2040", "RP2350"));
}

/// A fake probe seam: what it has, and a log of what was done to it.
#[derive(Clone, Default)]
struct FakeProbes {
    probes: Vec<ProbeInfo>,
    detected: Option<String>,
    log: Rc<RefCell<Vec<String>>>,
}

struct FakeSession {
    detected: Option<String>,
    log: Rc<RefCell<Vec<String>>>,
}

impl Probes for FakeProbes {
    type Attached = FakeSession;
    fn knows_chip(&self, chip: &str) -> Result<(), String> {
        if chip == "RP2040" {
            Ok(())
        } else {
            Err("probe-rs knows RP2040".into())
        }
    }
    fn list(&mut self) -> Vec<ProbeInfo> {
        self.log.borrow_mut().push("list".into());
        self.probes.clone()
    }
    fn attach(&mut self, probe: &ProbeInfo, chip: &str) -> Result<FakeSession, FlashError> {
        self.log.borrow_mut().push(format!(
            "attach {} {chip}",
            probe.serial.as_deref().unwrap_or("-")
        ));
        Ok(FakeSession {
            detected: self.detected.clone(),
            log: self.log.clone(),
        })
    }
}

impl Attached for FakeSession {
    fn detected(&self) -> Option<&str> {
        self.detected.as_deref()
    }
    fn download(&mut self, elf: &Path) -> Result<(), FlashError> {
        let name = elf.file_name().unwrap().to_string_lossy().into_owned();
        self.log.borrow_mut().push(format!("download {name}"));
        Ok(())
    }
    fn reset(&mut self) -> Result<(), FlashError> {
        self.log.borrow_mut().push("reset".into());
        Ok(())
    }
}

#[test]
fn flashing_writes_verifies_and_resets_the_chosen_probe() {
    let (elf, _dir) = elf_file(&arm32());
    let mut probes = FakeProbes {
        probes: vec![probe(Some("A1")), probe(Some("B2"))],
        detected: Some("RP2040".into()),
        ..FakeProbes::default()
    };
    let job = Job {
        elf,
        board: board(),
        probe: Some("B2".into()),
    };
    let mut said = Vec::new();
    let used = program(&job, &mut probes, &mut |s| said.push(s.to_string())).unwrap();
    assert_eq!(used.serial.as_deref(), Some("B2"));
    assert_eq!(
        *probes.log.borrow(),
        ["list", "attach B2 RP2040", "download image.elf", "reset"]
    );
    assert!(said.iter().any(|s| s.contains("verified")), "{said:?}");
}

#[test]
fn a_probe_wired_to_another_chip_writes_nothing() {
    let (elf, _dir) = elf_file(&arm32());
    let mut probes = FakeProbes {
        probes: vec![probe(Some("A1"))],
        detected: Some("STM32F411RETx".into()),
        ..FakeProbes::default()
    };
    let job = Job {
        elf,
        board: board(),
        probe: None,
    };
    let e = program(&job, &mut probes, &mut |_| {}).unwrap_err();
    assert!(matches!(e, FlashError::ChipMismatch { .. }), "{e}");
    assert!(e.to_string().contains("wired to a STM32F411RETx"), "{e}");
    assert!(!e.is_usage());
    assert_eq!(*probes.log.borrow(), ["list", "attach A1 RP2040"]);

    // A probe that cannot identify the chip attaches by the board's name and flashes.
    probes.detected = None;
    probes.log.borrow_mut().clear();
    program(&job, &mut probes, &mut |_| {}).unwrap();
    assert!(probes
        .log
        .borrow()
        .contains(&"download image.elf".to_string()));
}

#[test]
fn no_probe_and_unknown_chips_are_explained() {
    let (elf, _dir) = elf_file(&arm32());
    let mut job = Job {
        elf,
        board: board(),
        probe: None,
    };
    let e = program(&job, &mut FakeProbes::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, FlashError::NoProbe { .. }));
    assert!(
        e.to_string().starts_with("no debug probe is attached"),
        "{e}"
    );
    assert!(!e.is_usage());
    job.board.chip = "RP2041".into();
    let e = program(&job, &mut FakeProbes::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, FlashError::UnknownChip { .. }), "{e}");
    assert!(e.to_string().contains("probe-rs knows RP2040"), "{e}");
}

/// A finder that returns what it was given.
struct Finds(Waited);

impl JigFinder for Finds {
    fn wait(&self, _within: Duration) -> impl std::future::Future<Output = Waited> + Send {
        let w = self.0.clone();
        async move { w }
    }
}

fn hello(firmware: &str) -> JigHello {
    JigHello {
        serial: Some("JIG-7".into()),
        firmware: firmware.into(),
        protocol: benchline_protocol::PROTOCOL_VERSION,
        slots: Some(4),
        simulated: false,
    }
}

#[tokio::test]
async fn the_jig_must_answer_with_the_version_just_flashed() {
    let within = Duration::from_secs(5);
    let port = PathBuf::from("/dev/ttyACM0");
    let ok = Finds(Waited::Answered(port.clone(), hello("0.3.1")));
    let c = confirm(&ok, "0.3.1", within).await.unwrap();
    assert_eq!((c.port, c.hello.firmware.as_str()), (port.clone(), "0.3.1"));

    let old = Finds(Waited::Answered(port, hello("0.3.0")));
    let e = confirm(&old, "0.3.1", within).await.unwrap_err();
    assert!(matches!(e, FlashError::WrongVersion { .. }));
    assert!(
        e.to_string()
            .contains("answers with firmware 0.3.0, but the image carries 0.3.1"),
        "{e}"
    );

    let silent = Finds(Waited::Silent(Some("not a Benchline jig".into())));
    let e = confirm(&silent, "0.3.1", within).await.unwrap_err();
    assert!(matches!(e, FlashError::NeverAnswered { .. }));
    assert!(e.to_string().contains("did not answer within 5 s"), "{e}");
    assert!(e.to_string().contains("not a Benchline jig"), "{e}");

    let several = Finds(Waited::Several(vec![
        "/dev/ttyACM0".into(),
        "/dev/ttyACM1".into(),
    ]));
    let e = confirm(&several, "0.3.1", within).await.unwrap_err();
    assert!(
        e.to_string().contains("/dev/ttyACM1") && e.is_usage(),
        "{e}"
    );
}
