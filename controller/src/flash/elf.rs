//! The ELF checks done before any probe is touched: an image built for another target (the
//! host's own `benchctl`, another board's firmware) is refused with what it is built for.
//!
//! Three things are read from the file: the ELF header's machine, class and byte order (the
//! architecture), its ARM float ABI (`e_flags`: an `*eabihf` target needs the hard-float ABI,
//! any other the soft one), and its program headers: every loadable segment that carries bytes
//! must lie, by its load (physical) address, inside the chip's non-volatile memory as the
//! probe-rs target registry describes it. A `thumbv7em-none-eabihf` image linked for address 0
//! is thereby refused for an RP2040, whose flash starts at `0x10000000`.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
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

/// `e_flags` bit of an ARM image built for the hard-float ABI (`EF_ARM_ABI_FLOAT_HARD`).
pub const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;

/// `e_machine` of ARM.
const EM_ARM: u16 = 40;

/// `p_type` of a loadable segment.
const PT_LOAD: u32 = 1;

/// True when an image for `target` must use the hard-float ABI (`thumbv7em-none-eabihf`).
pub fn hard_float(target: &str) -> bool {
    target.ends_with("eabihf")
}

fn float_name(hard: bool) -> &'static str {
    if hard {
        "hard-float"
    } else {
        "soft-float"
    }
}

/// A loadable segment that carries bytes: what a probe writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Its place in the program header table (from 0).
    pub index: usize,
    /// Its load (physical) address, `p_paddr`.
    pub address: u64,
    /// Its size in the file, `p_filesz`.
    pub size: u64,
}

impl Segment {
    /// The addresses it is written to.
    pub fn range(&self) -> Range<u64> {
        self.address..self.address.saturating_add(self.size)
    }
}

/// What an ELF file says about the image it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The machine it runs on.
    pub machine: Machine,
    /// `e_type` (2 for an executable).
    pub kind: u16,
    /// `e_flags` (the ARM float ABI, among others).
    pub flags: u32,
    /// Its loadable segments with bytes, in program header order.
    pub segments: Vec<Segment>,
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
    /// Built for the other ARM float ABI.
    #[error("{path} is built for the {} ABI (e_flags {flags:#x}), but board {board} runs {target}, which uses the {} ABI: it was built for another target; build the image in the board's directory (cargo build --release there) and flash that ELF, or name the board it was built for with --board", float_name(*found_hard), float_name(hard_float(target)))]
    FloatAbi {
        /// The file.
        path: String,
        /// True when the image uses the hard-float ABI.
        found_hard: bool,
        /// Its `e_flags`.
        flags: u32,
        /// The board's target triple.
        target: String,
        /// The board's name.
        board: String,
    },
    /// Nothing in the image would be written.
    #[error("{path} has no loadable segment with bytes: there is nothing to flash; give the linked firmware (cargo build --release in the board's directory)")]
    Empty {
        /// The file.
        path: String,
    },
    /// A segment lies outside the chip's flash.
    #[error("{path}: loadable segment {} ({:#010x}..{:#010x}, {} bytes) lies outside the flash of the {chip} ({flash}): the image is linked for another chip; build the image in the board's directory (cargo build --release there; its memory.x places the image in the {chip}'s flash) and flash that ELF, or name the board it was built for with --board", segment.index, segment.address, segment.range().end, segment.size)]
    OutsideFlash {
        /// The file.
        path: String,
        /// The segment.
        segment: Segment,
        /// The board's chip.
        chip: String,
        /// The chip's non-volatile memory, as shown.
        flash: String,
    },
}

/// Reads the ELF at `path` and checks it is an executable for `expected` (machine, class, byte
/// order) and, on ARM, for the float ABI of `target`. Returns what it holds.
pub fn check(path: &Path, expected: Machine, target: &str, board: &str) -> Result<Image, ElfError> {
    let shown = path.display().to_string();
    let image = read(path, expected, target, board)?;
    if image.machine.machine == EM_ARM {
        let found_hard = image.flags & EF_ARM_ABI_FLOAT_HARD != 0;
        if found_hard != hard_float(target) {
            return Err(ElfError::FloatAbi {
                path: shown,
                found_hard,
                flags: image.flags,
                target: target.to_string(),
                board: board.to_string(),
            });
        }
    }
    Ok(image)
}

/// Checks that every segment of `image` lies inside `flash` (the chip's non-volatile memory;
/// adjacent or overlapping ranges count as one).
pub fn check_flash(
    path: &Path,
    image: &Image,
    flash: &[Range<u64>],
    chip: &str,
) -> Result<(), ElfError> {
    let shown = path.display().to_string();
    if image.segments.is_empty() {
        return Err(ElfError::Empty { path: shown });
    }
    let merged = merge(flash);
    for segment in &image.segments {
        let r = segment.range();
        // A segment whose end overflows the address space lies nowhere.
        let inside = segment.address.checked_add(segment.size).is_some()
            && merged.iter().any(|m| m.start <= r.start && r.end <= m.end);
        if !inside {
            return Err(ElfError::OutsideFlash {
                path: shown,
                segment: *segment,
                chip: chip.to_string(),
                flash: show_ranges(&merged),
            });
        }
    }
    Ok(())
}

/// The ranges sorted, with the adjacent and overlapping ones joined.
fn merge(ranges: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.start < r.end).cloned().collect();
    sorted.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::new();
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

fn show_ranges(ranges: &[Range<u64>]) -> String {
    if ranges.is_empty() {
        return "probe-rs describes no non-volatile memory for it".into();
    }
    ranges
        .iter()
        .map(|r| format!("{:#010x}..{:#010x}", r.start, r.end))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the header and program headers of the ELF at `path`. The machine is compared with
/// `expected` (the board's `target`) before anything past the first 20 bytes is used, so that
/// a file for another machine is named as such.
fn read(path: &Path, expected: Machine, target: &str, board: &str) -> Result<Image, ElfError> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error| ElfError::Read {
        path: shown.clone(),
        detail: e.to_string(),
    };
    let not_elf = |detail: String| ElfError::NotElf {
        path: shown.clone(),
        detail,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut header = [0u8; 64];
    let got = read_up_to(&mut file, &mut header).map_err(io)?;
    let header = &header[..got];
    let (found, kind) = parse_header(header).map_err(not_elf)?;
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
    let layout = Layout::of(found).map_err(not_elf)?;
    let table = layout.table(header).map_err(not_elf)?;
    let table_len = u64::from(table.count) * u64::from(table.entry_size);
    if table
        .offset
        .checked_add(table_len)
        .is_none_or(|end| end > len)
    {
        return Err(not_elf(
            "its program header table lies past the end of the file: it is cut short".into(),
        ));
    }
    let mut entries = vec![0u8; usize::try_from(table_len).map_err(|e| not_elf(e.to_string()))?];
    file.seek(SeekFrom::Start(table.offset)).map_err(io)?;
    file.read_exact(&mut entries).map_err(io)?;
    let mut segments = Vec::new();
    for (index, entry) in entries
        .chunks_exact(usize::from(table.entry_size))
        .enumerate()
    {
        let p = layout.program_header(entry).map_err(not_elf)?;
        if p.kind != PT_LOAD || p.file_size == 0 {
            continue;
        }
        if p.offset
            .checked_add(p.file_size)
            .is_none_or(|end| end > len)
        {
            return Err(not_elf(format!(
                "loadable segment {index}'s bytes lie past the end of the file: it is cut short"
            )));
        }
        segments.push(Segment {
            index,
            address: p.address,
            size: p.file_size,
        });
    }
    Ok(Image {
        machine: found,
        kind,
        flags: table.flags,
        segments,
    })
}

/// Fills `buf` from `r` as far as it goes; the number of bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let got = r.read(&mut buf[n..])?;
        if got == 0 {
            break;
        }
        n += got;
    }
    Ok(n)
}

/// Where the fields are, for a class and byte order.
struct Layout {
    bits64: bool,
    little_endian: bool,
}

/// The program header table, as the ELF header places it.
struct Table {
    offset: u64,
    entry_size: u16,
    count: u16,
    flags: u32,
}

/// The fields of one program header that the checks use.
struct ProgramHeader {
    kind: u32,
    offset: u64,
    address: u64,
    file_size: u64,
}

impl Layout {
    fn of(m: Machine) -> Result<Layout, String> {
        Ok(Layout {
            bits64: match m.bits {
                32 => false,
                64 => true,
                b => return Err(format!("unknown ELF class ({b}-bit)")),
            },
            little_endian: m.little_endian,
        })
    }

    fn field(&self, bytes: &[u8], at: usize, width: usize) -> Result<u64, String> {
        let b = bytes
            .get(at..at + width)
            .ok_or_else(|| "its ELF header is cut short".to_string())?;
        let mut v: u64 = 0;
        for i in 0..width {
            let byte = if self.little_endian {
                b[width - 1 - i]
            } else {
                b[i]
            };
            v = (v << 8) | u64::from(byte);
        }
        Ok(v)
    }

    fn u16_at(&self, bytes: &[u8], at: usize) -> Result<u16, String> {
        self.field(bytes, at, 2).map(|v| v as u16)
    }

    fn u32_at(&self, bytes: &[u8], at: usize) -> Result<u32, String> {
        self.field(bytes, at, 4).map(|v| v as u32)
    }

    /// An address or offset: 4 bytes in a 32-bit file, 8 in a 64-bit one.
    fn word_at(&self, bytes: &[u8], at: usize) -> Result<u64, String> {
        self.field(bytes, at, if self.bits64 { 8 } else { 4 })
    }

    fn table(&self, header: &[u8]) -> Result<Table, String> {
        let (phoff, flags, phentsize, phnum, min_entry) = if self.bits64 {
            (32, 48, 54, 56, 56)
        } else {
            (28, 36, 42, 44, 32)
        };
        let t = Table {
            offset: self.word_at(header, phoff)?,
            flags: self.u32_at(header, flags)?,
            entry_size: self.u16_at(header, phentsize)?,
            count: self.u16_at(header, phnum)?,
        };
        if t.count == 0xffff {
            return Err("it has more program headers than benchctl reads (PN_XNUM)".into());
        }
        if t.count > 0 && usize::from(t.entry_size) < min_entry {
            return Err(format!(
                "its program headers are {} bytes long, shorter than the {min_entry} of an ELF program header",
                t.entry_size
            ));
        }
        Ok(t)
    }

    fn program_header(&self, entry: &[u8]) -> Result<ProgramHeader, String> {
        let (offset, paddr, filesz) = if self.bits64 {
            (8, 24, 32)
        } else {
            (4, 12, 16)
        };
        Ok(ProgramHeader {
            kind: self.u32_at(entry, 0)?,
            offset: self.word_at(entry, offset)?,
            address: self.word_at(entry, paddr)?,
            file_size: self.word_at(entry, filesz)?,
        })
    }
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
