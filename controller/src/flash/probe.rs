//! Debug probes as `benchctl flash` sees them: a small trait ([`Probes`], [`Attached`]) with
//! the probe-rs library behind it in the product ([`super::hardware`]) and a fake in tests, and
//! the choice of a probe ([`select`]).

use std::fmt;
use std::ops::Range;
use std::path::Path;

use super::FlashError;

/// A probe found on USB.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProbeInfo {
    /// What probe-rs calls it (`CMSIS-DAP`, `ST-Link V2`...).
    pub name: String,
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
    /// Its serial number, if it has one.
    pub serial: Option<String>,
}

impl fmt::Display for ProbeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:04x}:{:04x}", self.name, self.vid, self.pid)?;
        match &self.serial {
            Some(s) => write!(f, ", serial {s})"),
            None => write!(f, ", no serial number)"),
        }
    }
}

/// What the probe-rs target registry says about a chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipInfo {
    /// The registry's name for the chip it is (`RP2040`; `STM32F411RE` for `STM32F411RETx`,
    /// one of its packages): two names with the same `name` are the same target.
    pub name: String,
    /// Its non-volatile memory (flash), address ranges.
    pub flash: Vec<Range<u64>>,
}

/// The probes on this machine.
pub trait Probes {
    /// A probe attached to its chip.
    type Attached: Attached;
    /// What probe-rs knows of this chip name (asked before any probe is touched); `Err` says
    /// what it knows that looks alike.
    fn chip(&self, chip: &str) -> Result<ChipInfo, String>;
    /// The probes attached to this machine.
    fn list(&mut self) -> Vec<ProbeInfo>;
    /// Why the last [`Probes::list`] may have found nothing, when something on this machine
    /// says so (no USB at all).
    fn why_none(&self) -> Option<String> {
        None
    }
    /// Opens `probe` and attaches to the chip on its wires: the chip it identifies by itself
    /// when it can (see [`Attached::detected`]), else `chip`.
    fn attach(&mut self, probe: &ProbeInfo, chip: &str) -> Result<Self::Attached, FlashError>;
}

/// A probe attached to a chip.
pub trait Attached {
    /// The chip the probe identified on its wires, when it could.
    fn detected(&self) -> Option<&str>;
    /// Writes the ELF image to flash and reads it back to verify it.
    fn download(&mut self, elf: &Path) -> Result<(), FlashError>;
    /// Resets the chip so that it runs the new image.
    fn reset(&mut self) -> Result<(), FlashError>;
}

/// The probe to use: the one with serial number `serial`, or the only one attached.
pub fn select<'a>(
    probes: &'a [ProbeInfo],
    serial: Option<&str>,
) -> Result<&'a ProbeInfo, FlashError> {
    if probes.is_empty() {
        return Err(FlashError::NoProbe {
            serial: serial.map(str::to_string),
            why: None,
        });
    }
    match serial {
        Some(s) => probes
            .iter()
            .find(|p| {
                p.serial
                    .as_deref()
                    .is_some_and(|ps| ps.eq_ignore_ascii_case(s))
            })
            .ok_or_else(|| FlashError::ProbeNotFound {
                serial: s.to_string(),
                probes: listing(probes),
            }),
        None => match probes {
            [one] => Ok(one),
            _ => Err(FlashError::SeveralProbes {
                probes: listing(probes),
            }),
        },
    }
}

/// The probes, one per line, as the errors show them.
fn listing(probes: &[ProbeInfo]) -> String {
    probes
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The attached probes, one line each (identifier, VID:PID, serial number), as
/// `benchctl flash --list-probes` prints them; a line saying there is none when there is none.
pub fn list_lines<P: Probes>(probes: &mut P) -> Vec<String> {
    let found = probes.list();
    if found.is_empty() {
        let why = probes
            .why_none()
            .map(|w| format!("; {w}"))
            .unwrap_or_default();
        return vec![format!(
            "no debug probe is attached{why}: plug one into this machine's USB and check that this user may open it (the probe-rs udev rules)"
        )];
    }
    found
        .iter()
        .map(|p| {
            format!(
                "{}  {:04x}:{:04x}  {}",
                p.name,
                p.vid,
                p.pid,
                p.serial
                    .as_deref()
                    .map_or_else(|| "no serial number".to_string(), |s| format!("serial {s}"))
            )
        })
        .collect()
}

/// True when the chip a probe identified (`detected`) is the board's chip: the same name,
/// ignoring case, or two names that the target registry resolves to the same target
/// (`registry` gives the registry's name for a chip name, `None` when it knows none or several).
/// A name that is only a prefix of the other (`STM32F4` and `STM32F411RE`) is another chip
/// unless the registry says otherwise.
pub fn same_chip(board: &str, detected: &str, registry: impl Fn(&str) -> Option<String>) -> bool {
    if board.eq_ignore_ascii_case(detected) {
        return true;
    }
    match (registry(board), registry(detected)) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(&b),
        _ => false,
    }
}
