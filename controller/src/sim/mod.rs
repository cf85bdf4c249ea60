//! Simulated jigs on PTYs. Each jig runs the real jig application ([`benchline_jig`]) on
//! simulated hardware ([`benchline_sim`]) in a thread of its own; the host side of the PTY is an
//! ordinary serial device that `benchctl run`, `screen` or any other serial program can open.
//!
//! A simulated operator seats phones taken from a shared [`Feeder`], and takes a phone out once
//! the controller releases its slot. Faults ([`Fault`]) can be injected on chosen requests, and
//! random damage ([`Noise`]) on every byte of the line.

mod fault;
mod feeder;
pub mod line;
mod noise;
pub mod operator;
mod pty;
mod runner;

pub use fault::{Fault, FaultKind, FaultParseError};
pub use feeder::Feeder;
pub use line::{builtin_phones, run_simulated, LineError, LineOptions, SimLine};
pub use noise::{parse_rate, Noise, RateError, STALL_MAX, STALL_MIN};
pub use operator::{LibraryAnswers, SimulatedOperator, SIMULATED_OPERATOR};
pub use pty::Pty;
pub use runner::{spawn, SimJigHandle, SimJigOptions};

/// Why a simulated jig could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The PTY could not be created.
    #[error("cannot create a PTY for the simulated jig: {0}; check that /dev/ptmx is available")]
    Pty(#[from] nix::Error),
    /// The device link could not be created.
    #[error("cannot create the device link {path}: {cause}; check that its directory exists and is writable")]
    Link {
        /// Link path.
        path: std::path::PathBuf,
        /// Cause.
        cause: std::io::Error,
    },
    /// The thread could not start.
    #[error("cannot start the simulated jig thread: {0}")]
    Thread(std::io::Error),
}
