//! The ELF header check done before any probe is touched: an image built for another target
//! (the host's own `benchctl`, another board's firmware) is refused with what it is built for.

use std::io::Read;
use std::path::Path;

/// What an ELF header says about the machine an image runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// `e_machine` (40 ARM, 243 RISC-V, 62 x86-64, ...).
    pub machine: u16,
    /// 32 or 64 (bits).
    pub bits: u8,
    /// True for little-endian.
    pub little_endian: bool,
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.machine {
            3 => "x86",
            8 => "MIPS",
            40 => "ARM",
            62 => "x86-64",
            94 => "Xtensa",
            183 => "AArch64",
            243 => "RISC-V",
            n => return write!(f, "machine {n}, {}-bit", self.bits),
        };
        let order = if self.little_endian {
            ""
        } else {
            ", big-endian"
        };
        write!(f, "{name}, {}-bit{order}", self.bits)
    }
}

/// The machine a Rust target triple builds for; `None` for a triple this check does not know.
pub fn machine_of(target: &str) -> Option<Machine> {
    let arch = target.split('-').next().unwrap_or(target);
    let (machine, bits) = if arch.starts_with("thumb") || arch.starts_with("arm") {
        (40, 32)
    } else if arch.starts_with("riscv32") {
        (243, 32)
    } else if arch.starts_with("riscv64") {
        (243, 64)
    } else if arch == "aarch64" {
        (183, 64)
    } else if arch == "x86_64" {
        (62, 64)
    } else if arch.starts_with("xtensa") {
        (94, 32)
    } else {
        return None;
    };
    let little_endian =
        !(arch.starts_with("armeb") || arch.starts_with("thumbeb") || arch.ends_with("_be"));
    Some(Machine {
        machine,
        bits,
        little_endian,
    })
}

/// Why an image may not be flashed to the board.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The file could not be read.
    #[error("cannot read {path}: {detail}; give the path of the firmware ELF (cargo build --release in the board's directory puts it under target/<target>/release/)")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        detail: String,
    },
    /// Not an ELF file (a .bin, .hex or .uf2, or something else).
    #[error("{path} is not an ELF file ({detail}); benchctl flash takes the ELF that cargo builds (not a .bin, .hex or .uf2)")]
    NotElf {
        /// The file.
        path: String,
        /// What was seen.
        detail: String,
    },
    /// An ELF, but not an executable image.
    #[error("{path} is an ELF file but not an executable image (type {kind}); give the linked firmware, not an object file or library")]
    NotExecutable {
        /// The file.
        path: String,
        /// `e_type`.
        kind: u16,
    },
    /// Built for another machine.
    #[error("{path} is built for {found}, but board {board} runs {expected} ({target}); build the image in the board's directory (cargo build --release there) and flash that ELF, or name the board it was built for with --board")]
    OtherTarget {
        /// The file.
        path: String,
        /// What the ELF header says.
        found: Machine,
        /// What the board's target needs.
        expected: Machine,
        /// The board's target triple.
        target: String,
        /// The board's name.
        board: String,
    },
}

/// Reads the machine of the ELF at `path` and checks it is an executable for `expected`.
pub fn check(path: &Path, expected: Machine, target: &str, board: &str) -> Result<(), ElfError> {
    let shown = path.display().to_string();
    let mut header = [0u8; 20];
    let read = std::fs::File::open(path)
        .and_then(|f| {
            let mut n = 0;
            let mut f = f.take(header.len() as u64);
            while n < header.len() {
                let got = f.read(&mut header[n..])?;
                if got == 0 {
                    break;
                }
                n += got;
            }
            Ok(n)
        })
        .map_err(|e| ElfError::Read {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
    let found = parse_header(&header[..read]).map_err(|detail| ElfError::NotElf {
        path: shown.clone(),
        detail,
    })?;
    let (found, kind) = found;
    if found != expected {
        return Err(ElfError::OtherTarget {
            path: shown,
            found,
            expected,
            target: target.to_string(),
            board: board.to_string(),
        });
    }
    // ET_EXEC; a position-independent image (ET_DYN) is not what a board's linker script makes.
    if kind != 2 {
        return Err(ElfError::NotExecutable { path: shown, kind });
    }
    Ok(())
}

/// The machine and `e_type` of an ELF header (its first 20 bytes).
pub fn parse_header(bytes: &[u8]) -> Result<(Machine, u16), String> {
    if bytes.len() < 4 || bytes[..4] != *b"\x7fELF" {
        return Err("no ELF magic number at its start".into());
    }
    let (Some(&class), Some(&data), Some(t), Some(m)) = (
        bytes.get(4),
        bytes.get(5),
        bytes.get(16..18),
        bytes.get(18..20),
    ) else {
        return Err("its ELF header is cut short".into());
    };
    let bits = match class {
        1 => 32,
        2 => 64,
        c => return Err(format!("unknown ELF class {c}")),
    };
    let little_endian = match data {
        1 => true,
        2 => false,
        d => return Err(format!("unknown ELF byte order {d}")),
    };
    let word = |b: &[u8]| {
        let pair = [b[0], b[1]];
        if little_endian {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    };
    Ok((
        Machine {
            machine: word(m),
            bits,
            little_endian,
        },
        word(t),
    ))
}
