//! A simulated line: jigs on PTYs fed with phones from a library, and the simulated operator
//! who knows each phone's answers. It plugs into the run's seams like real jigs and a person:
//! the run is given the jigs' ports and, when the simulated operator may answer, its
//! [`SimulatedOperator`].

use std::sync::Arc;

use super::operator::{LibraryAnswers, SimulatedOperator};
use super::{spawn, Fault, Feeder, Noise, SimError, SimJigHandle, SimJigOptions};
use crate::run::Operator;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct LineOptions {
    /// Jigs (one bench each).
    pub jigs: usize,
    /// Slots per jig.
    pub slots: usize,
    /// Faults injected into every jig.
    pub faults: Vec<Fault>,
    /// Noise on every jig's line.
    pub noise: Option<Noise>,
    /// The phones fed to the jigs, and their answers.
    pub library: benchline_sim::Library,
    /// Seed (phone order, measurement and line noise).
    pub seed: u64,
    /// Real seconds per jig second.
    pub time_scale: f64,
    /// Hand each phone out at most once (a dry run), instead of cycling through the library.
    pub once: bool,
}

impl LineOptions {
    /// `jigs` jigs of `slots` slots fed from `library`, as fast as they go, no faults.
    pub fn new(library: benchline_sim::Library, jigs: usize, slots: usize) -> LineOptions {
        LineOptions {
            jigs,
            slots,
            faults: Vec::new(),
            noise: None,
            library,
            seed: 1,
            time_scale: 0.0,
            once: false,
        }
    }
}

/// Running simulated jigs; they stop when [`SimLine::stop`] is called (or the line is dropped).
pub struct SimLine {
    /// The jigs' serial ports, in bench order.
    pub ports: Vec<String>,
    jigs: Vec<SimJigHandle>,
    answers: Arc<LibraryAnswers>,
}

impl SimLine {
    /// Starts the jigs.
    pub fn start(o: &LineOptions) -> Result<SimLine, SimError> {
        let limit = o.once.then_some(o.library.phones.len());
        let feeder = Feeder::new(o.library.phones.clone(), o.seed, limit);
        let mut jigs = Vec::new();
        for i in 0..o.jigs {
            jigs.push(spawn(SimJigOptions {
                serial: format!("SIM-{:04}", i + 1),
                slots: o.slots,
                seed: o.seed.wrapping_mul(1000).wrapping_add(i as u64),
                time_scale: o.time_scale,
                protocol_version: benchline_protocol::PROTOCOL_VERSION,
                faults: o.faults.clone(),
                link: None,
                feeder: feeder.clone(),
                handling_ms: 2_000,
                babble: false,
                noise: o.noise.clone(),
            })?);
        }
        Ok(SimLine {
            ports: jigs
                .iter()
                .map(|h| h.path.to_string_lossy().into_owned())
                .collect(),
            jigs,
            answers: Arc::new(LibraryAnswers::new(&o.library)),
        })
    }

    /// The simulated operator of this line, signing records as `signed_in` does. Its jigs must
    /// be the line's first benches (their ports first); `signed_in` answers for any others.
    pub fn operator(&self, signed_in: Arc<dyn Operator>) -> SimulatedOperator {
        SimulatedOperator {
            answers: self.answers.clone(),
            signed_in,
            benches: self.ports.len(),
        }
    }

    /// Stops every jig.
    pub fn stop(self) {
        for j in self.jigs {
            j.stop();
        }
    }
}

/// The phone library files built into the binary.
const BUILTIN_PHONES: [(&str, &str); 8] = [
    (
        "fixtures/phones/a54.toml",
        include_str!("../../../fixtures/phones/a54.toml"),
    ),
    (
        "fixtures/phones/gs21.toml",
        include_str!("../../../fixtures/phones/gs21.toml"),
    ),
    (
        "fixtures/phones/ip12.toml",
        include_str!("../../../fixtures/phones/ip12.toml"),
    ),
    (
        "fixtures/phones/ipse2.toml",
        include_str!("../../../fixtures/phones/ipse2.toml"),
    ),
    (
        "fixtures/phones/mg5.toml",
        include_str!("../../../fixtures/phones/mg5.toml"),
    ),
    (
        "fixtures/phones/op9.toml",
        include_str!("../../../fixtures/phones/op9.toml"),
    ),
    (
        "fixtures/phones/px7.toml",
        include_str!("../../../fixtures/phones/px7.toml"),
    ),
    (
        "fixtures/phones/zf9.toml",
        include_str!("../../../fixtures/phones/zf9.toml"),
    ),
];

/// The phone library built into the binary (the files of `fixtures/phones/`).
pub fn builtin_phones() -> Result<benchline_sim::Library, benchline_sim::PhoneError> {
    // One library: ids and IMEIs are checked across the files, as for a directory.
    benchline_sim::Library::parse_files(
        BUILTIN_PHONES
            .iter()
            .map(|(name, text)| (std::path::Path::new(*name), *text)),
    )
}

/// Why a simulated line could not run.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// A simulated jig did not start.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The run failed.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
}

/// Runs `opts` on a simulated line started from `line` (its ports replace `opts.ports`), the
/// simulated operator answering the prompts and `who` signing the records, with nothing
/// stored; each graded record goes to `on_record` (false stops the run). For dry runs and
/// benchmarks.
pub async fn run_simulated(
    line: &LineOptions,
    opts: crate::run::RunOptions,
    who: &str,
    on_record: impl FnMut(&crate::run::PhoneRecord, Option<crate::store::Stored>) -> bool,
) -> Result<crate::run::Summary, LineError> {
    let sim = SimLine::start(line)?;
    let operator = Arc::new(sim.operator(Arc::new(crate::run::Nobody(who.to_string()))));
    let opts = crate::run::RunOptions {
        ports: sim.ports.clone(),
        time_scale: line.time_scale,
        ..opts
    };
    let summary =
        crate::run::run_to_records(opts, operator, Arc::new(crate::run::NoStore), on_record).await;
    sim.stop();
    Ok(summary?)
}
