//! Discovery and flashing on this machine, without hardware: `benchctl jigs` runs the real
//! libusb path and lists simulated jigs by their link path; `benchctl flash` runs the real
//! probe-rs path (its target registry included) and says clearly that no probe is attached.

use std::path::Path;

use serde_json::Value;

use crate::harness::{benchctl, finish, stderr, SimJig};

/// A board package like `firmware/boards/rp2040`, in `dir`.
fn board(dir: &Path) {
    std::fs::write(
        dir.join("Cargo.toml"),
        r#"[package]
name = "benchline-board-test"
version = "0.4.2"
edition = "2021"

[package.metadata.benchline]
chip = "RP2040"
target = "thumbv6m-none-eabi"
usb = { vid = 0x1209, pid = 0x0001 }

[workspace]
"#,
    )
    .unwrap();
}

/// A small ARM executable: an ELF32 little-endian header with `e_flags`, and one loadable
/// segment of 256 bytes at `address` (its bytes follow the program header).
fn arm_elf(path: &Path, flags: u32, address: u32) {
    let mut e = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
    e.extend_from_slice(&[0; 8]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&40u16.to_le_bytes()); // ARM
    for word in [1, address + 1, 52, 0, flags] {
        e.extend_from_slice(&u32::to_le_bytes(word));
    }
    for half in [52u16, 32, 1, 0, 0, 0] {
        e.extend_from_slice(&half.to_le_bytes());
    }
    // PT_LOAD, p_offset 84, p_vaddr, p_paddr, p_filesz, p_memsz, flags R+X, align 4.
    for word in [1, 84, address, address, 256, 256, 5, 4] {
        e.extend_from_slice(&u32::to_le_bytes(word));
    }
    e.resize(84 + 256, 0);
    std::fs::write(path, e).unwrap();
}

/// Soft-float EABI 5 `e_flags`, as for thumbv6m-none-eabi.
const SOFT: u32 = 0x0500_0200;
/// Hard-float EABI 5 `e_flags`, as for thumbv7em-none-eabihf.
const HARD: u32 = 0x0500_0400;

#[test]
fn flash_without_a_probe_says_so_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    board(dir.path());
    let elf = dir.path().join("jig.elf");
    arm_elf(&elf, SOFT, 0x1000_0000);
    let mut c = benchctl();
    c.arg("flash").arg(&elf).arg("--board").arg(dir.path());
    let out = finish(c);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error: no debug probe is attached"), "{err}");
    assert!(err.contains("then run again"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn flash_refuses_an_elf_for_another_target_before_looking_for_a_probe() {
    let dir = tempfile::tempdir().unwrap();
    board(dir.path());
    let mut c = benchctl();
    // benchctl itself: an ELF for this host, not for the board.
    c.arg("flash")
        .arg(env!("CARGO_BIN_EXE_benchctl"))
        .arg("--board")
        .arg(dir.path());
    let out = finish(c);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("but board benchline-board-test runs ARM, 32-bit (thumbv6m-none-eabi)"),
        "{err}"
    );
    assert!(!err.contains("probe"), "no probe is looked for: {err}");
}

#[test]
fn jigs_runs_the_usb_path_and_does_not_fail_without_usb() {
    let out = finish({
        let mut c = benchctl();
        c.arg("jigs");
        c
    });
    let (text, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(out.status.success(), "{err}");
    if !Path::new("/dev/bus/usb").exists() {
        assert!(err.contains("note: USB cannot be opened here"), "{err}");
        assert!(
            err.contains("jigs on serial ports are still listed"),
            "{err}"
        );
        assert!(text.contains("0 USB devices"), "{text}");
    } else {
        assert!(text.contains("USB device"), "{text}");
    }
}

#[test]
fn jigs_lists_a_simulated_jig_by_its_link_path() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("jig-link");
    let link = link.to_str().unwrap();
    let _jig = SimJig::start(&["--link", link, "--serial", "SIM-0077", "--slots", "2"]);

    let mut c = benchctl();
    c.args(["jigs", "--json", "--port", link]);
    let out = finish(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let jig = &lines[0];
    assert_eq!(jig["port"], link);
    assert_eq!(jig["problem"], Value::Null);
    let hello = &jig["hello"];
    assert_eq!(hello["serial"], "SIM-0077");
    assert_eq!(hello["firmware"], benchline_jig::FIRMWARE_VERSION);
    assert_eq!(hello["protocol"], benchline_protocol::PROTOCOL_VERSION);
    assert_eq!(hello["slots"], 2);
    assert_eq!(hello["simulated"], true);

    // The table for people says the same.
    let mut c = benchctl();
    c.args(["jigs", "--port", link]);
    let out = finish(c);
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .find(|l| l.starts_with(link))
        .unwrap_or_default();
    for cell in ["SIM-0077", benchline_jig::FIRMWARE_VERSION, "simulated"] {
        assert!(row.contains(cell), "{cell} missing from {row:?} in\n{text}");
    }
    assert!(text.contains("1 jig;"), "{text}");
}

/// An image linked like the QEMU board's (thumbv7em-none-eabihf at address 0) is refused for
/// the RP2040 board with what is wrong, before any probe is looked for: its float ABI, and,
/// built soft-float, its address outside the RP2040's flash (from probe-rs' target registry).
#[test]
fn flash_refuses_an_image_for_another_chip_before_looking_for_a_probe() {
    let dir = tempfile::tempdir().unwrap();
    board(dir.path());
    let elf = dir.path().join("mps2.elf");
    for (flags, expected) in [
        (HARD, "is built for the hard-float ABI"),
        (
            SOFT,
            "loadable segment 0 (0x00000000..0x00000100, 256 bytes) lies outside the flash of the RP2040 (0x10000000..0x18000000)",
        ),
    ] {
        arm_elf(&elf, flags, 0);
        let mut c = benchctl();
        c.arg("flash").arg(&elf).arg("--board").arg(dir.path());
        let out = finish(c);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(expected), "{err}");
        assert!(err.contains("build the image in the board's directory"), "{err}");
        assert!(!err.contains("debug probe"), "no probe is looked for: {err}");
    }
}

#[test]
fn flash_lists_probes_and_says_when_there_is_none() {
    let mut c = benchctl();
    c.args(["flash", "--list-probes"]);
    let out = finish(c);
    let (text, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty(), "{text}");
    if lines[0].starts_with("no debug probe is attached") {
        assert_eq!(lines.len(), 1, "{text}");
    } else {
        // A machine with probes: each line has a VID:PID.
        for l in &lines {
            assert!(
                l.split("  ")
                    .nth(1)
                    .is_some_and(|id| id.len() == 9 && id.as_bytes()[4] == b':'),
                "{l}"
            );
        }
    }
    // Listing takes no ELF and no board; giving them with it is a usage error.
    let mut c = benchctl();
    c.args(["flash", "--list-probes", "--board", "x"]);
    assert_eq!(finish(c).status.code(), Some(2));
}
