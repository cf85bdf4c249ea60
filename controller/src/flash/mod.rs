//! Jig firmware onto a real board through a debug probe (the probe-rs library): what
//! `benchctl flash ELF --board DIR` does.
//!
//! - [`board`]: the board package's metadata (chip, target, USB identity, the version the
//!   image carries).
//! - [`elf`]: the ELF checked against the board's target (machine, float ABI) and its chip's
//!   flash (every loadable segment).
//! - [`probe`]: the probe seam ([`Probes`], [`Attached`]), the choice of a probe, the chip
//!   comparison and the probe listing.
//! - [`hardware`]: that seam on probe-rs (and its target registry).
//! - [`confirm`]: the board's jigs greeted before flashing, the wait for the flashed jig's
//!   `Hello` after the reset, the restart and version checks.
//!
//! Order, and its invariant: everything that can be checked without hardware (board metadata,
//! the chip name, the ELF's machine, float ABI and addresses) is checked before a probe is
//! touched; the board's jigs are greeted before anything is written, and several of them with
//! none named is refused then; a probe is chosen only when it is unambiguous; nothing is
//! written unless the chip on the probe's wires is the board's chip (when the probe can tell);
//! an image counts as flashed only when it was verified and a jig that restarted (a new boot
//! id, or a jig that was not there before) answered with the version the board package
//! carries.

pub mod board;
pub mod confirm;
pub mod elf;
pub mod hardware;
pub mod probe;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use board::{Board, BoardError};
pub use confirm::{Confirmed, JigFinder, Wait};
pub use elf::ElfError;
pub use probe::{Attached, ChipInfo, ProbeInfo, Probes};

/// Why flashing failed; each says what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// The board package cannot be read.
    #[error(transparent)]
    Board(#[from] BoardError),
    /// The board runs in QEMU.
    #[error("board {board} runs in QEMU ({chip}): there is no chip to flash; its image is started by qemu-system-arm (see the board's README)")]
    Emulated {
        /// Board name.
        board: String,
        /// Its chip field.
        chip: String,
    },
    /// The board's target triple is not one whose ELF machine this check knows.
    #[error("board {board} names target {target}, whose ELF machine benchctl does not know; give package.metadata.benchline.target as a Rust target triple (thumbv6m-none-eabi, thumbv7em-none-eabihf, riscv32imac-unknown-none-elf)")]
    UnknownTarget {
        /// Board name.
        board: String,
        /// Its target.
        target: String,
    },
    /// The ELF is not for this board.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// probe-rs does not know the board's chip.
    #[error("board {board} names chip {chip:?}, which probe-rs does not know ({alike}); fix package.metadata.benchline.chip (probe-rs chip list shows the names)")]
    UnknownChip {
        /// Board name.
        board: String,
        /// Its chip.
        chip: String,
        /// What probe-rs knows that looks alike.
        alike: String,
    },
    /// No probe is attached.
    #[error("no debug probe is attached{}{}: plug the probe (a Raspberry Pi Debug Probe, a CMSIS-DAP probe, an ST-Link or a J-Link) into this machine's USB, check that this user may open it (the probe-rs udev rules), then run again", serial.as_ref().map(|s| format!(" (looking for serial number {s})")).unwrap_or_default(), why.as_ref().map(|w| format!("; {w}")).unwrap_or_default())]
    NoProbe {
        /// The serial number asked for, if any.
        serial: Option<String>,
        /// Why none may be seen, when the machine says so.
        why: Option<String>,
    },
    /// Several probes and none chosen.
    #[error("several debug probes are attached and none was chosen; name one with --probe SERIAL:\n{probes}")]
    SeveralProbes {
        /// The probes, one per line.
        probes: String,
    },
    /// The probe asked for is not attached.
    #[error("no attached debug probe has serial number {serial}; the attached ones are:\n{probes}\nname one of them with --probe SERIAL")]
    ProbeNotFound {
        /// The serial number asked for.
        serial: String,
        /// The probes, one per line.
        probes: String,
    },
    /// The probe could not be opened.
    #[error("cannot open the debug probe {probe}: {detail}; check its USB cable, that no other program (probe-rs, openocd, a debugger) holds it, and that this user may open it")]
    ProbeGone {
        /// The probe.
        probe: String,
        /// What happened.
        detail: String,
    },
    /// The probe could not attach to the chip.
    #[error("the debug probe {probe} cannot reach a {chip}: {detail}; check the SWD wires (SWDIO, SWCLK, GND) between the probe and the jig, and that the jig is powered")]
    Attach {
        /// The probe.
        probe: String,
        /// The board's chip.
        chip: String,
        /// What probe-rs said.
        detail: String,
    },
    /// The probe sees another chip.
    #[error("the debug probe {probe} is wired to a {detected}, but board {board} is a {chip}; nothing was written. Check which jig the probe's SWD cable goes to, or name that jig's board package with --board")]
    ChipMismatch {
        /// The probe.
        probe: String,
        /// Board name.
        board: String,
        /// The board's chip.
        chip: String,
        /// The chip the probe identified.
        detected: String,
    },
    /// Writing or verifying the image failed.
    #[error("flashing the {chip} failed: {detail}; run again (a verify error after a good write points to the probe's wiring or the jig's power)")]
    Download {
        /// The chip.
        chip: String,
        /// What probe-rs said.
        detail: String,
    },
    /// The reset after flashing failed.
    #[error("the image was written and verified, but resetting the {chip} failed: {detail}; power-cycle the jig, then check it with `benchctl jigs`")]
    Reset {
        /// The chip.
        chip: String,
        /// What probe-rs said.
        detail: String,
    },
    /// The flashed firmware never answered.
    #[error("the image was written and verified, but the jig did not answer within {} s of the reset ({detail}); the firmware may stop at start (check the jig's power and its USB cable to this machine, and that the ELF is the board's firmware), or its port is elsewhere: name it with --port; `benchctl jigs` shows the jigs it can see", within.as_secs())]
    NeverAnswered {
        /// How long it was given.
        within: Duration,
        /// The last problem seen.
        detail: String,
    },
    /// Several jigs of the board and nothing says which one the probe is wired to.
    #[error("{}several jigs of this board are attached and nothing says which one the probe is wired to; name it with --port PATH or --jig SERIAL (`benchctl jigs` lists them):\n{ports}", if *written { "the image was written and verified, but " } else { "nothing was written: " })]
    SeveralJigs {
        /// True when this was found after the image was written.
        written: bool,
        /// The ports, one per line.
        ports: String,
    },
    /// The jig answering after the reset is the one that answered before: it did not restart.
    #[error("the jig did not restart after flashing: the jig on {port} still answers with {boot_id} (firmware {firmware}), as it did before the image was written, {} s after the reset; the probe is likely wired to another jig: check the probe is wired to this jig (follow its SWD cable), or name the jig it is wired to with --port or --jig", within.as_secs())]
    NotRestarted {
        /// The jig's port.
        port: String,
        /// Its firmware version.
        firmware: String,
        /// Its boot id, as shown.
        boot_id: String,
        /// How long it was given.
        within: Duration,
    },
    /// The jig answered with another version.
    #[error("the jig on {port} answers with firmware {running}, but the image carries {flashed}; the chip may still run the old image (power-cycle the jig and check with `benchctl jigs`), or the ELF was built from another version of the board package (rebuild it in the board's directory and flash again)")]
    WrongVersion {
        /// The jig's port.
        port: String,
        /// The version it runs.
        running: String,
        /// The version flashed.
        flashed: String,
    },
}

impl FlashError {
    /// True for bad usage or bad input files (exit code 2), false for a failure (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            FlashError::Board(_)
                | FlashError::Emulated { .. }
                | FlashError::UnknownTarget { .. }
                | FlashError::Elf(_)
                | FlashError::UnknownChip { .. }
                | FlashError::SeveralProbes { .. }
                | FlashError::SeveralJigs { .. }
        )
    }
}

/// What to flash.
#[derive(Debug, Clone)]
pub struct Job {
    /// The ELF image.
    pub elf: PathBuf,
    /// The board it is for.
    pub board: Board,
    /// The probe's serial number, when one was named.
    pub probe: Option<String>,
}

/// Checks everything that needs no hardware: the board can be flashed, its target and chip are
/// known, and the ELF is built for that target and lies in that chip's flash. Returns what the
/// target registry says about the chip.
pub fn check<P: Probes>(job: &Job, probes: &P) -> Result<ChipInfo, FlashError> {
    let board = &job.board;
    if board.is_emulated() {
        return Err(FlashError::Emulated {
            board: board.name.clone(),
            chip: board.chip.clone(),
        });
    }
    let machine = elf::machine_of(&board.target).ok_or_else(|| FlashError::UnknownTarget {
        board: board.name.clone(),
        target: board.target.clone(),
    })?;
    let image = elf::check(&job.elf, machine, &board.target, &board.name)?;
    let chip = probes
        .chip(&board.chip)
        .map_err(|alike| FlashError::UnknownChip {
            board: board.name.clone(),
            chip: board.chip.clone(),
            alike,
        })?;
    elf::check_flash(&job.elf, &image, &chip.flash, &board.chip)?;
    Ok(chip)
}

/// The whole of `benchctl flash`: checks the job ([`check`]), greets the board's jigs
/// ([`confirm::before`]), writes, verifies and resets ([`program`]'s steps), then waits for
/// the jig that restarted and checks its version ([`confirm::confirm`]). `say` hears each step.
pub async fn flash<P: Probes, F: JigFinder>(
    job: &Job,
    probes: &mut P,
    finder: &F,
    wait: Wait,
    say: &mut dyn FnMut(&str),
) -> Result<Flashed, FlashError> {
    let chip = check(job, probes)?;
    let before = confirm::before(finder).await?;
    say(&format!("before flashing: {}", before.describe()));
    let probe = write(job, &chip, probes, say)?;
    say(&format!(
        "waiting up to {} s for the jig to restart and answer",
        wait.within.as_secs()
    ));
    let confirmed = confirm::confirm(finder, &before, &job.board.version, wait).await?;
    Ok(Flashed { probe, confirmed })
}

/// What [`flash`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flashed {
    /// The probe used.
    pub probe: ProbeInfo,
    /// The flashed jig and what it said.
    pub confirmed: Confirmed,
}

/// Checks the job ([`check`]), chooses the probe, attaches, checks the chip, writes and
/// verifies the image and resets the chip. `say` hears each step. Returns the probe used.
pub fn program<P: Probes>(
    job: &Job,
    probes: &mut P,
    say: &mut dyn FnMut(&str),
) -> Result<ProbeInfo, FlashError> {
    let chip = check(job, probes)?;
    write(job, &chip, probes, say)
}

/// Chooses the probe, attaches, checks the chip, writes, verifies and resets.
fn write<P: Probes>(
    job: &Job,
    chip: &ChipInfo,
    probes: &mut P,
    say: &mut dyn FnMut(&str),
) -> Result<ProbeInfo, FlashError> {
    let board = &job.board;
    let found = probes.list();
    let probe = match probe::select(&found, job.probe.as_deref()) {
        Ok(p) => p.clone(),
        Err(FlashError::NoProbe { serial, .. }) => {
            return Err(FlashError::NoProbe {
                serial,
                why: probes.why_none(),
            })
        }
        Err(e) => return Err(e),
    };
    say(&format!("probe: {probe}"));
    let mut attached = probes.attach(&probe, &board.chip)?;
    if let Some(detected) = attached.detected() {
        let registry = |name: &str| {
            if name.eq_ignore_ascii_case(&board.chip) {
                Some(chip.name.clone())
            } else {
                probes.chip(name).ok().map(|c| c.name)
            }
        };
        if !probe::same_chip(&board.chip, detected, registry) {
            return Err(FlashError::ChipMismatch {
                probe: probe.to_string(),
                board: board.name.clone(),
                chip: board.chip.clone(),
                detected: detected.to_string(),
            });
        }
    }
    say(&format!(
        "flashing {} ({} {}) to the {}",
        display(&job.elf),
        board.name,
        board.version,
        board.chip
    ));
    attached.download(&job.elf)?;
    say("written and verified");
    attached.reset()?;
    say("reset");
    Ok(probe)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests;
