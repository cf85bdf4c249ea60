//! The flashing logic with a fake probe and a fake jig finder: board metadata, the ELF checks
//! (machine, float ABI, segments in the chip's flash), probe choice and listing, chip check, the
//! jigs greeted before flashing and the restart and version confirmed after the reset.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::single_range_in_vec_init
)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::confirm::{before, confirm, Before, JigFinder, Seen, Wait};
use super::elf::{machine_of, parse_header, Machine, Segment, EF_ARM_ABI_FLOAT_HARD};
use super::probe::{list_lines, same_chip, select};
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
    let (elf, _dir) = elf_file(&rp2040_image());
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

/// The value of `pub const NAME: u16 = <literal>;` in Rust source text (hex, binary or
/// decimal, `_` allowed); `None` when no such line is there.
fn const_u16(source: &str, name: &str) -> Option<u16> {
    let prefix = format!("pub const {name}: u16 =");
    let line = source
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&prefix))?;
    let literal = line[prefix.len()..]
        .trim()
        .strip_suffix(';')?
        .trim()
        .replace('_', "");
    let literal = literal.strip_suffix("u16").unwrap_or(&literal);
    if let Some(hex) = literal.strip_prefix("0x") {
        u16::from_str_radix(hex, 16).ok()
    } else if let Some(bin) = literal.strip_prefix("0b") {
        u16::from_str_radix(bin, 2).ok()
    } else {
        literal.parse().ok()
    }
}

#[test]
fn usb_constants_are_read_from_source_text() {
    let src = "/// doc\npub const VID: u16 = 0x1209;\n    pub const PID: u16 = 0x0_0A1;\nconst X: u16 = 3;\n";
    assert_eq!(const_u16(src, "VID"), Some(0x1209));
    assert_eq!(const_u16(src, "PID"), Some(0xa1));
    assert_eq!(const_u16(src, "X"), None);
    assert_eq!(
        const_u16("pub const VID: u16 = 4660u16;", "VID"),
        Some(4660)
    );
    assert_eq!(const_u16("pub const VID: u16 = OTHER;", "VID"), None);
}

/// Every board in the tree that declares a USB identity is in the host's list of known jigs,
/// and the RP2040 board's firmware enumerates with that identity. Every board package must be
/// readable: a manifest that does not parse fails here rather than being skipped.
#[test]
fn known_usb_identities_match_the_board_packages() {
    let boards = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/boards");
    let entries = std::fs::read_dir(&boards)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", boards.display()));
    let mut declared = Vec::new();
    for entry in entries {
        let entry = entry.unwrap();
        if !entry.path().join("Cargo.toml").is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let b = Board::read(&entry.path()).unwrap_or_else(|e| panic!("board {name}: {e}"));
        if let Some(usb) = b.usb {
            assert!(
                KNOWN.iter().any(|k| k.usb == usb && k.board == name),
                "board {name} declares {usb}; add it to discovery::known::KNOWN"
            );
            declared.push((name, usb));
        }
    }
    let rp2040 = declared
        .iter()
        .find(|(n, _)| n == "rp2040")
        .map(|(_, usb)| *usb)
        .expect("firmware/boards/rp2040 declares its USB identity in package.metadata.benchline");
    for k in KNOWN {
        assert!(
            declared.iter().any(|(n, u)| n == k.board && *u == k.usb),
            "discovery::known::KNOWN names board {} ({}), which no board package declares",
            k.board,
            k.usb
        );
    }
    let usb_rs = boards.join("rp2040/src/usb.rs");
    let source = std::fs::read_to_string(&usb_rs)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", usb_rs.display()));
    let firmware = UsbId {
        vid: const_u16(&source, "VID").unwrap_or_else(|| {
            panic!(
                "{} has no `pub const VID: u16 = <literal>;`",
                usb_rs.display()
            )
        }),
        pid: const_u16(&source, "PID").unwrap_or_else(|| {
            panic!(
                "{} has no `pub const PID: u16 = <literal>;`",
                usb_rs.display()
            )
        }),
    };
    assert_eq!(
        firmware, rp2040,
        "the rp2040 firmware enumerates as {firmware} but its Cargo.toml declares {rp2040}"
    );
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

/// `e_flags` of a soft-float ARM image (EABI version 5, EF_ARM_ABI_FLOAT_SOFT), as LLVM writes
/// for thumbv6m-none-eabi.
const SOFT: u32 = 0x0500_0200;
/// `e_flags` of a hard-float ARM image, as LLVM writes for thumbv7em-none-eabihf.
const HARD: u32 = 0x0500_0400;

/// A whole ELF32 little-endian ARM executable: the header, one program header per segment
/// (`(p_type, p_vaddr, p_paddr, p_filesz)`) and the segments' bytes.
fn arm_image(flags: u32, segments: &[(u32, u32, u32, u32)]) -> Vec<u8> {
    let mut e = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
    e.extend_from_slice(&[0; 8]);
    e.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    e.extend_from_slice(&40u16.to_le_bytes()); // e_machine: ARM
    e.extend_from_slice(&1u32.to_le_bytes()); // e_version
    e.extend_from_slice(&0x1000_0101u32.to_le_bytes()); // e_entry
    e.extend_from_slice(&52u32.to_le_bytes()); // e_phoff
    e.extend_from_slice(&0u32.to_le_bytes()); // e_shoff
    e.extend_from_slice(&flags.to_le_bytes()); // e_flags
    e.extend_from_slice(&52u16.to_le_bytes()); // e_ehsize
    e.extend_from_slice(&32u16.to_le_bytes()); // e_phentsize
    e.extend_from_slice(&(segments.len() as u16).to_le_bytes()); // e_phnum
    e.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
    assert_eq!(e.len(), 52);
    let mut offset = 52 + 32 * segments.len() as u32;
    for &(kind, vaddr, paddr, filesz) in segments {
        for word in [kind, offset, vaddr, paddr, filesz, filesz, 5, 4] {
            e.extend_from_slice(&word.to_le_bytes());
        }
        offset += filesz;
    }
    let data: u32 = segments.iter().map(|s| s.3).sum();
    e.resize(e.len() + data as usize, 0xa5);
    e
}

const PT_LOAD: u32 = 1;

/// An image shaped like firmware/boards/rp2040's: BOOT2 and the program in flash at
/// 0x10000000, .data in RAM loaded from flash, .bss (no file bytes) in RAM.
fn rp2040_image() -> Vec<u8> {
    arm_image(
        SOFT,
        &[
            (PT_LOAD, 0x1000_0100, 0x1000_0100, 0xc0),
            (PT_LOAD, 0x1000_01c0, 0x1000_01c0, 0x400),
            (PT_LOAD, 0x2000_0000, 0x1000_05c0, 0x90),
            (PT_LOAD, 0x2000_0090, 0x2000_0090, 0),
            (PT_LOAD, 0x1000_0000, 0x1000_0000, 0x100),
            (6, 0x0, 0x0, 0x20), // PT_PHDR-like, not loaded
        ],
    )
}

/// An image shaped like firmware/boards/mps2-an386's (thumbv7em-none-eabihf): hard-float, its
/// code at address 0.
fn mps2_image(flags: u32) -> Vec<u8> {
    arm_image(
        flags,
        &[
            (PT_LOAD, 0x0, 0x0, 0x400),
            (PT_LOAD, 0x400, 0x400, 0x800),
            (PT_LOAD, 0x2000_0000, 0x0000_0c00, 0x4),
        ],
    )
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

/// A registry like probe-rs': `STM32F411RE` resolves to its one package `STM32F411RETx`;
/// `STM32F4` names many chips, so it resolves to none.
fn registry(name: &str) -> Option<String> {
    match name.to_ascii_uppercase().as_str() {
        "RP2040" => Some("RP2040".into()),
        "STM32F411RE" | "STM32F411RETX" => Some("STM32F411RETx".into()),
        "STM32F401RE" | "STM32F401RETX" => Some("STM32F401RETx".into()),
        _ => None,
    }
}

#[test]
fn chip_names_match_exactly_or_by_the_registry() {
    assert!(same_chip("RP2040", "RP2040", |_| None));
    assert!(same_chip("rp2040", "RP2040", |_| None));
    assert!(same_chip("STM32F411RE", "STM32F411RETx", registry));
    assert!(same_chip("stm32f411retx", "STM32F411RE", registry));
    // A prefix is not the same chip, in either direction.
    assert!(!same_chip("STM32F4", "STM32F411RETx", registry));
    assert!(!same_chip("STM32F411RETx", "STM32F4", registry));
    assert!(!same_chip("STM32F411RE", "STM32F411RETx", |_| None));
    assert!(!same_chip("STM32F401RE", "STM32F411RETx", registry));
    assert!(!same_chip("RP2040", "STM32F411RETx", registry));
    assert!(!same_chip("RP2040", "RP2350", registry));
    assert!(!same_chip("RP20", "RP2040", registry));
}

#[test]
fn probes_are_listed_with_their_serial_numbers() {
    let mut none = FakeProbes::default();
    let lines = list_lines(&mut none);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("no debug probe is attached"),
        "{lines:?}"
    );
    none.why = Some("this machine shows no USB at all".into());
    let lines = list_lines(&mut none);
    assert!(
        lines[0].contains("attached; this machine shows no USB at all: plug one"),
        "{lines:?}"
    );

    let mut two = FakeProbes {
        probes: vec![probe(Some("E6614C")), probe(None)],
        ..FakeProbes::default()
    };
    assert_eq!(
        list_lines(&mut two),
        [
            "CMSIS-DAP  2e8a:000c  serial E6614C",
            "CMSIS-DAP  2e8a:000c  no serial number"
        ]
    );
    assert_eq!(*two.log.borrow(), ["list"], "listing opens no probe");
}

/// A fake probe seam: what it has, and a log of what was done to it.
#[derive(Clone, Default)]
struct FakeProbes {
    probes: Vec<ProbeInfo>,
    detected: Option<String>,
    why: Option<String>,
    log: Rc<RefCell<Vec<String>>>,
}

struct FakeSession {
    detected: Option<String>,
    log: Rc<RefCell<Vec<String>>>,
}

impl Probes for FakeProbes {
    type Attached = FakeSession;
    fn chip(&self, chip: &str) -> Result<ChipInfo, String> {
        // RP2040 as probe-rs describes it: 128 MiB of XIP flash window from 0x10000000.
        match registry(chip) {
            Some(name) if name == "RP2040" => Ok(ChipInfo {
                name,
                flash: vec![0x1000_0000..0x1800_0000, 0x1000_0000..0x1800_0000],
            }),
            Some(name) => Ok(ChipInfo {
                name,
                flash: vec![0x0800_0000..0x0808_0000],
            }),
            None => Err("probe-rs knows RP2040".into()),
        }
    }
    fn list(&mut self) -> Vec<ProbeInfo> {
        self.log.borrow_mut().push("list".into());
        self.probes.clone()
    }
    fn why_none(&self) -> Option<String> {
        self.why.clone()
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
    let (elf, _dir) = elf_file(&rp2040_image());
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
    let (elf, _dir) = elf_file(&rp2040_image());
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
    let (elf, _dir) = elf_file(&rp2040_image());
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

fn rp2040_job(bytes: &[u8]) -> (Job, tempfile::TempDir) {
    let (elf, dir) = elf_file(bytes);
    (
        Job {
            elf,
            board: board(),
            probe: None,
        },
        dir,
    )
}

/// An eabihf board (like firmware/boards/mps2-an386, but one probe-rs can flash).
fn eabihf_board() -> Board {
    let text = RP2040_TOML
        .replace("chip = \"RP2040\"", "chip = \"STM32F411RE\"")
        .replace("thumbv6m-none-eabi", "thumbv7em-none-eabihf");
    Board::parse(Path::new("b"), &text).unwrap()
}

#[test]
fn a_good_rp2040_image_passes() {
    let (job, _dir) = rp2040_job(&rp2040_image());
    let chip = check(&job, &FakeProbes::default()).unwrap();
    assert_eq!(chip.name, "RP2040");
    let image = elf::check(
        &job.elf,
        machine_of("thumbv6m-none-eabi").unwrap(),
        "thumbv6m-none-eabi",
        "b",
    )
    .unwrap();
    // .bss (no file bytes) and the non-loadable header are not written; .data is written
    // at its load address in flash.
    let addresses: Vec<u64> = image.segments.iter().map(|s| s.address).collect();
    assert_eq!(
        addresses,
        [0x1000_0100, 0x1000_01c0, 0x1000_05c0, 0x1000_0000]
    );
    assert_eq!(image.flags, SOFT);
}

#[test]
fn the_mps2_image_is_refused_for_the_rp2040_board() {
    let probes = FakeProbes::default();
    let (job, _dir) = rp2040_job(&mps2_image(HARD));
    let mut fake = probes.clone();
    let e = program(&job, &mut fake, &mut |_| {}).unwrap_err();
    assert!(fake.log.borrow().is_empty(), "no probe may be touched");
    assert!(e.is_usage());
    match &e {
        FlashError::Elf(ElfError::FloatAbi {
            found_hard: true, ..
        }) => {}
        other => panic!("{other}"),
    }
    let text = e.to_string();
    assert!(text.contains("built for the hard-float ABI"), "{text}");
    assert!(
        text.contains("thumbv6m-none-eabi, which uses the soft-float ABI"),
        "{text}"
    );
    assert!(
        text.contains("build the image in the board's directory"),
        "{text}"
    );

    // The same image built soft-float still lies at address 0: outside the RP2040's flash.
    let (job, _dir) = rp2040_job(&mps2_image(SOFT));
    let mut fake = probes.clone();
    let e = program(&job, &mut fake, &mut |_| {}).unwrap_err();
    assert!(fake.log.borrow().is_empty(), "no probe may be touched");
    match &e {
        FlashError::Elf(ElfError::OutsideFlash { segment, chip, .. }) => {
            assert_eq!(
                (segment.index, segment.address, chip.as_str()),
                (0, 0, "RP2040")
            );
        }
        other => panic!("{other}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("loadable segment 0 (0x00000000..0x00000400, 1024 bytes)"),
        "{text}"
    );
    assert!(
        text.contains("outside the flash of the RP2040 (0x10000000..0x18000000)"),
        "{text}"
    );
    assert!(
        text.contains("build the image in the board's directory"),
        "{text}"
    );
    assert!(e.is_usage());
}

#[test]
fn every_written_segment_must_lie_inside_the_flash() {
    // A .data loaded from RAM addresses (vaddr = paddr in RAM) is refused: p_paddr counts.
    let ram_data = arm_image(
        SOFT,
        &[
            (PT_LOAD, 0x1000_0000, 0x1000_0000, 0x100),
            (PT_LOAD, 0x2000_0000, 0x2000_0000, 0x10),
        ],
    );
    // A segment that starts in flash but runs past its end.
    let past_end = arm_image(SOFT, &[(PT_LOAD, 0x17ff_ff00, 0x17ff_ff00, 0x200)]);
    for (bytes, index) in [(ram_data, 1), (past_end, 0)] {
        let (job, _dir) = rp2040_job(&bytes);
        match check(&job, &FakeProbes::default()) {
            Err(FlashError::Elf(ElfError::OutsideFlash { segment, .. })) => {
                assert_eq!(segment.index, index)
            }
            other => panic!("{other:?}"),
        }
    }
    // Nothing to write at all.
    let empty = arm_image(SOFT, &[(PT_LOAD, 0x2000_0000, 0x2000_0000, 0)]);
    let (job, _dir) = rp2040_job(&empty);
    assert!(matches!(
        check(&job, &FakeProbes::default()),
        Err(FlashError::Elf(ElfError::Empty { .. }))
    ));
    // Program headers or segment bytes past the end of the file: cut short.
    // (The last 0x20 bytes are the non-loadable segment's; one byte more cuts a loaded one.)
    let mut cut = rp2040_image();
    cut.truncate(cut.len() - 0x21);
    let (job, _dir) = rp2040_job(&cut);
    match check(&job, &FakeProbes::default()) {
        Err(FlashError::Elf(ElfError::NotElf { detail, .. })) => {
            assert!(detail.contains("cut short"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    let (job, _dir) = rp2040_job(&rp2040_image()[..60]);
    assert!(matches!(
        check(&job, &FakeProbes::default()),
        Err(FlashError::Elf(ElfError::NotElf { .. }))
    ));
    let segment = Segment {
        index: 0,
        address: u64::MAX - 1,
        size: 4,
    };
    let image = elf::Image {
        machine: machine_of("thumbv6m-none-eabi").unwrap(),
        kind: 2,
        flags: SOFT,
        segments: vec![segment],
    };
    assert!(elf::check_flash(Path::new("x"), &image, &[0..u64::MAX], "C").is_err());
}

#[test]
fn the_float_abi_must_match_the_target() {
    let mut b = eabihf_board();
    let image = |flags| arm_image(flags, &[(PT_LOAD, 0x0800_0000, 0x0800_0000, 0x400)]);
    // A soft-float image for an eabihf target.
    let (elf, _dir) = elf_file(&image(SOFT));
    let job = Job {
        elf,
        board: b.clone(),
        probe: None,
    };
    let e = check(&job, &FakeProbes::default()).unwrap_err();
    match &e {
        FlashError::Elf(ElfError::FloatAbi {
            found_hard: false,
            flags: SOFT,
            ..
        }) => {}
        other => panic!("{other}"),
    }
    assert!(
        e.to_string()
            .contains("thumbv7em-none-eabihf, which uses the hard-float ABI"),
        "{e}"
    );
    // The hard-float one passes, in the STM32's flash.
    let (elf, _dir) = elf_file(&image(HARD));
    let job = Job {
        elf,
        board: b.clone(),
        probe: None,
    };
    assert_eq!(
        check(&job, &FakeProbes::default()).unwrap().name,
        "STM32F411RETx"
    );
    assert_eq!(HARD & EF_ARM_ABI_FLOAT_HARD, EF_ARM_ABI_FLOAT_HARD);
    // Not ARM: no float ABI flag to read (the flags mean something else).
    b.target = "riscv32imac-unknown-none-elf".into();
    assert!(!elf::hard_float(&b.target));
}

/// A probe wired to the STM32F411RETx that a board names as STM32F411RE flashes (the registry
/// says they are the same target); one naming only a prefix does not.
#[test]
fn a_detected_chip_is_compared_through_the_registry() {
    let b = eabihf_board();
    let (elf, _dir) = elf_file(&arm_image(
        HARD,
        &[(PT_LOAD, 0x0800_0000, 0x0800_0000, 0x400)],
    ));
    let job = Job {
        elf,
        board: b,
        probe: None,
    };
    let mut probes = FakeProbes {
        probes: vec![probe(Some("A1"))],
        detected: Some("STM32F411RETx".into()),
        ..FakeProbes::default()
    };
    program(&job, &mut probes, &mut |_| {}).unwrap();
    probes.detected = Some("STM32F401RETx".into());
    let e = program(&job, &mut probes, &mut |_| {}).unwrap_err();
    assert!(matches!(e, FlashError::ChipMismatch { .. }), "{e}");
}

/// A finder that plays a script: each look returns the next list of ports and answers, the
/// last one again once the script is used up.
struct Script {
    named: bool,
    looks: Mutex<VecDeque<Vec<Seen>>>,
    looked: AtomicUsize,
}

impl Script {
    fn new(named: bool, looks: Vec<Vec<Seen>>) -> Script {
        Script {
            named,
            looks: Mutex::new(looks.into()),
            looked: AtomicUsize::new(0),
        }
    }
}

impl JigFinder for Script {
    fn named(&self) -> bool {
        self.named
    }
    fn look(&self) -> impl std::future::Future<Output = Vec<Seen>> + Send {
        self.looked.fetch_add(1, Ordering::Relaxed);
        let mut looks = self.looks.lock().unwrap();
        let seen = if looks.len() > 1 {
            looks.pop_front().unwrap()
        } else {
            looks.front().cloned().unwrap_or_default()
        };
        async move { seen }
    }
}

fn hello(firmware: &str, boot_id: u32) -> JigHello {
    JigHello {
        serial: Some("JIG-7".into()),
        firmware: firmware.into(),
        protocol: benchline_protocol::PROTOCOL_VERSION,
        slots: Some(4),
        simulated: false,
        boot_id: Some(boot_id),
    }
}

fn seen(port: &str, hello: Option<JigHello>) -> Seen {
    Seen {
        port: port.into(),
        hello,
        problem: None,
    }
}

fn wait(ms: u64) -> Wait {
    Wait {
        within: Duration::from_millis(ms),
        tick: Duration::from_millis(1),
    }
}

#[tokio::test]
async fn the_jig_must_restart_and_answer_with_the_version_just_flashed() {
    let port = "/dev/ttyACM0";
    let was = Before {
        seen: vec![seen(port, Some(hello("0.3.0", 7)))],
    };
    // A new boot id and the new version: confirmed, even after the port was gone a while.
    let ok = Script::new(
        false,
        vec![vec![], vec![], vec![seen(port, Some(hello("0.3.1", 8)))]],
    );
    let c = confirm(&ok, &was, "0.3.1", wait(5000)).await.unwrap();
    assert_eq!((c.port, c.hello.firmware.as_str()), (port.into(), "0.3.1"));
    assert_eq!(ok.looked.load(Ordering::Relaxed), 3);

    // Version and boot id unchanged: the probe reset another chip.
    let same = Before {
        seen: vec![seen(port, Some(hello("0.3.1", 7)))],
    };
    let stale = Script::new(false, vec![vec![seen(port, Some(hello("0.3.1", 7)))]]);
    let e = confirm(&stale, &same, "0.3.1", wait(30)).await.unwrap_err();
    assert!(matches!(e, FlashError::NotRestarted { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("the jig did not restart after flashing: "),
        "{text}"
    );
    assert!(text.contains("boot id 0x00000007"), "{text}");
    assert!(
        text.contains("check the probe is wired to this jig"),
        "{text}"
    );
    assert!(!e.is_usage());

    // A new boot id but another version: the old image, or an ELF of another version.
    let old = Script::new(false, vec![vec![seen(port, Some(hello("0.3.0", 9)))]]);
    let e = confirm(&old, &was, "0.3.1", wait(5000)).await.unwrap_err();
    assert!(matches!(e, FlashError::WrongVersion { .. }));
    assert!(
        e.to_string()
            .contains("answers with firmware 0.3.0, but the image carries 0.3.1"),
        "{e}"
    );

    // A blank chip before (nothing answered): the jig that appears is the flashed one.
    let blank = Before {
        seen: vec![seen(port, None)],
    };
    let fresh = Script::new(false, vec![vec![seen(port, Some(hello("0.3.1", 7)))]]);
    confirm(&fresh, &blank, "0.3.1", wait(5000)).await.unwrap();

    // Another jig of the board was there and kept running; a new one (the blank chip just
    // flashed) appears: that one is confirmed, not the other.
    let other = Before {
        seen: vec![seen("/dev/ttyACM0", Some(hello("0.3.1", 7)))],
    };
    let both = Script::new(
        false,
        vec![vec![
            seen("/dev/ttyACM0", Some(hello("0.3.1", 7))),
            seen("/dev/ttyACM1", Some(hello("0.3.1", 99))),
        ]],
    );
    let c = confirm(&both, &other, "0.3.1", wait(5000)).await.unwrap();
    assert_eq!(c.port, PathBuf::from("/dev/ttyACM1"));

    // Nothing answers: the last problem is said.
    let mut quiet = seen(port, None);
    quiet.problem = Some("not a Benchline jig".into());
    let silent = Script::new(false, vec![vec![quiet]]);
    let e = confirm(&silent, &was, "0.3.1", wait(20)).await.unwrap_err();
    assert!(matches!(e, FlashError::NeverAnswered { .. }));
    assert!(e.to_string().contains("not a Benchline jig"), "{e}");
}

#[tokio::test]
async fn several_jigs_without_a_choice_are_refused_before_anything_is_written() {
    let (job, _dir) = rp2040_job(&rp2040_image());
    let two = vec![
        seen("/dev/ttyACM0", Some(hello("0.3.0", 1))),
        seen("/dev/ttyACM1", Some(hello("0.3.0", 2))),
    ];
    let mut probes = FakeProbes {
        probes: vec![probe(Some("A1"))],
        detected: Some("RP2040".into()),
        ..FakeProbes::default()
    };
    let finder = Script::new(false, vec![two.clone()]);
    let e = flash(&job, &mut probes, &finder, wait(50), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(e, FlashError::SeveralJigs { written: false, .. }),
        "{e}"
    );
    assert!(probes.log.borrow().is_empty(), "{:?}", probes.log.borrow());
    let text = e.to_string();
    assert!(
        text.starts_with("nothing was written: several jigs"),
        "{text}"
    );
    assert!(
        text.contains("/dev/ttyACM1") && text.contains("--jig SERIAL"),
        "{text}"
    );
    assert!(e.is_usage());
    assert!(matches!(
        before(&finder).await,
        Err(FlashError::SeveralJigs { .. })
    ));

    // Named (--port or --jig): the finder's candidates are that jig; the flash goes on, and
    // the jig that restarted is confirmed.
    let named = Script::new(
        true,
        vec![
            vec![seen("/dev/ttyACM1", Some(hello("0.3.0", 2)))],
            vec![seen("/dev/ttyACM1", Some(hello("0.3.1", 3)))],
        ],
    );
    let mut said = Vec::new();
    let done = flash(&job, &mut probes, &named, wait(5000), &mut |s| {
        said.push(s.to_string())
    })
    .await
    .unwrap();
    assert_eq!(done.confirmed.hello.boot_id, Some(3));
    assert_eq!(done.probe.serial.as_deref(), Some("A1"));
    assert_eq!(
        *probes.log.borrow(),
        ["list", "attach A1 RP2040", "download image.elf", "reset"]
    );
    assert!(
        said.iter()
            .any(|s| s.contains("before flashing: jig JIG-7 on /dev/ttyACM1 runs firmware 0.3.0")),
        "{said:?}"
    );

    // The probe wired to another jig: the one greeted keeps its boot id.
    let stuck = Script::new(
        true,
        vec![vec![seen("/dev/ttyACM1", Some(hello("0.3.1", 2)))]],
    );
    let e = flash(&job, &mut probes, &stuck, wait(30), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, FlashError::NotRestarted { .. }), "{e}");
}

/// The real target registry (built into probe-rs; no probe needed): the RP2040's flash, and
/// chip names compared through it.
#[test]
fn the_probe_rs_registry_gives_the_flash_and_the_names() {
    let probes = super::hardware::ProbeRs::new();
    let rp = probes.chip("RP2040").unwrap();
    assert_eq!(rp.name, "RP2040");
    assert!(
        rp.flash
            .iter()
            .any(|r| r.start <= 0x1000_0000 && 0x1020_0000 <= r.end),
        "{rp:?}"
    );
    assert!(rp.flash.iter().all(|r| r.start >= 0x1000_0000), "{rp:?}");
    let real = |name: &str| probes.chip(name).ok().map(|c| c.name);
    assert!(same_chip("STM32F411RE", "STM32F411RETx", real));
    assert!(!same_chip("STM32F4", "STM32F411RETx", real));
    assert!(!same_chip("RP2040", "RP2350", real));
    assert_eq!(real("stm32f411retx").as_deref(), Some("STM32F411RE"));
    assert!(probes.chip("RP2041").is_err());
}
