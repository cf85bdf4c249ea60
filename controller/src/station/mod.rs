//! Station files: what a line lead writes once per station (`benchctl run --station FILE`).
//!
//! A station file names the station (a stable id written in every record instead of the host
//! name), its benches, the jigs of each bench by serial number (the serial a jig announces in
//! its `Hello`, which on a real board is also its USB serial string) with the slots in use,
//! where to look for the jigs' serial ports, and the bin label of each disposition.
//!
//! Jigs are placed by the serial they announce, never by the port they are plugged into: a jig
//! moved to another USB port is still the same bench ([`mapping`]). The ports to look at come
//! from a [`ports::PortSource`] (the file system's `/dev/serial/by-id/*` and `/dev/ttyACM*` by
//! default; USB discovery may stand in its place). The format is documented for line leads in
//! `fixtures/stations/README.md`.

pub mod mapping;
mod parse;
pub mod ports;

use std::path::Path;

use crate::grade::bin::Bins;
use crate::plan::Diagnostic;

/// Where a station looks for its jigs when its file names no `ports`: the stable by-id links
/// of USB serial devices, then CDC-ACM devices (a jig found under both is opened once, by its
/// by-id path).
pub const DEFAULT_PORTS: [&str; 2] = ["/dev/serial/by-id/*", "/dev/ttyACM*"];

/// The largest station file read (256 KiB; a station of a hundred benches is a few KiB).
pub const MAX_STATION_BYTES: u64 = 256 * 1024;

/// A station, as its file describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Station {
    /// The station's id, written in every record.
    pub id: String,
    /// Serial ports or patterns (`*`, `?` in the file name) where its jigs may be; `None`: the
    /// [`DEFAULT_PORTS`].
    pub ports: Option<Vec<String>>,
    /// The URL of the plant's database the station's records are replicated to (`run`
    /// replicates to it as `--plant URL` does; `--plant` wins).
    pub plant: Option<String>,
    /// The benches, in file order.
    pub benches: Vec<Bench>,
    /// The bin label of each disposition (the defaults for those the file does not name).
    pub bins: Bins,
}

/// A bench of the station.
#[derive(Debug, Clone, PartialEq)]
pub struct Bench {
    /// Its name, written in records (`bench` field).
    pub name: String,
    /// Its jigs.
    pub jigs: Vec<JigPlace>,
}

/// A jig of a bench.
#[derive(Debug, Clone, PartialEq)]
pub struct JigPlace {
    /// The serial number the jig announces.
    pub serial: String,
    /// The slots in use (`None`: every slot the jig has).
    pub slots: Option<Vec<u8>>,
}

/// One jig's place on the line: the run's bench index is its index in
/// [`Station::positions`].
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// The bench's name.
    pub bench: String,
    /// The jig's serial number.
    pub serial: String,
    /// The slots in use (`None`: all).
    pub slots: Option<Vec<u8>>,
}

impl Station {
    /// Parses and validates station text; `origin` names it in errors.
    pub fn parse(source: &str, origin: &str) -> Result<Station, StationErrors> {
        parse::parse(source).map_err(|diagnostics| StationErrors {
            origin: origin.into(),
            source: source.into(),
            diagnostics,
        })
    }

    /// Reads and parses a station file (a regular file of at most [`MAX_STATION_BYTES`]).
    pub fn load(path: &Path) -> Result<Station, StationLoadError> {
        let text = read(path)?;
        Ok(Station::parse(&text, &path.display().to_string())?)
    }

    /// Every jig's place, bench by bench in file order: the run's bench indexes.
    pub fn positions(&self) -> Vec<Position> {
        self.benches
            .iter()
            .flat_map(|b| {
                b.jigs.iter().map(|j| Position {
                    bench: b.name.clone(),
                    serial: j.serial.clone(),
                    slots: j.slots.clone(),
                })
            })
            .collect()
    }

    /// The port patterns to look at: the file's, or the [`DEFAULT_PORTS`].
    pub fn port_patterns(&self) -> Vec<String> {
        self.ports
            .clone()
            .unwrap_or_else(|| DEFAULT_PORTS.iter().map(|p| (*p).to_string()).collect())
    }
}

/// Every problem found in one station file.
#[derive(Debug, Clone)]
pub struct StationErrors {
    /// File name as given.
    pub origin: String,
    /// File text.
    pub source: String,
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Display for StationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{}", d.render(&self.origin, &self.source))?;
        }
        write!(
            f,
            "{}: {} error(s) in the station file; nothing was run",
            self.origin,
            self.diagnostics.len()
        )
    }
}

impl std::error::Error for StationErrors {}

/// Why a station file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum StationLoadError {
    /// The file could not be read.
    #[error("cannot read station file {path}: {cause}; check the path")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        cause: std::io::Error,
    },
    /// Not a regular file of UTF-8 text of a sensible size.
    #[error("station file {path} {what}; give the path of a station file (*.toml)")]
    NotAStationFile {
        /// Path.
        path: String,
        /// What is wrong with it.
        what: String,
    },
    /// The file has errors.
    #[error(transparent)]
    Invalid(#[from] StationErrors),
}

/// Reads `path` when it is a regular file of at most [`MAX_STATION_BYTES`] of UTF-8 text; a
/// FIFO or a device is refused without blocking.
fn read(path: &Path) -> Result<String, StationLoadError> {
    use crate::plan::checker::{read_text, FileProblem};
    let path_text = path.display().to_string();
    read_text(path, MAX_STATION_BYTES).map_err(|problem| {
        let what = match problem {
            FileProblem::Read(cause) => {
                return StationLoadError::Read {
                    path: path_text.clone(),
                    cause,
                }
            }
            FileProblem::NotAFile(what) => format!("is {what}, not a regular file"),
            FileProblem::TooBig(_) => format!("is larger than {MAX_STATION_BYTES} bytes"),
            FileProblem::NotText(offset) => {
                format!("is not UTF-8 text (invalid byte at offset {offset})")
            }
        };
        StationLoadError::NotAStationFile {
            path: path_text.clone(),
            what,
        }
    })
}

#[cfg(test)]
mod tests;
