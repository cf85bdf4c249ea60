//! Test plans: parse, validate and compile a plan file (TOML) into a [`Plan`] that the run and
//! the grading obey. Validation reports every problem at once, each at file:line:col with the
//! offending text and a hint ([`PlanErrors`]); nothing runs from a plan with errors.
//!
//! The format is documented for test engineers in `test-plans/README.md`.

pub mod catalogue;
pub mod checker;
mod diagnostic;
pub mod node;
mod parse;

use std::collections::BTreeMap;
use std::path::Path;

use crate::grade::vocab::{CtiaCosmetic, Marketplace, R2Cosmetic, R2Functional};
pub use benchline_protocol::{Connector, Procedure};
pub use catalogue::Catalogue;
pub use diagnostic::{Diagnostic, PlanErrors};

/// The standard plan, built into the binary.
pub const STANDARD: &str = include_str!("../../../test-plans/standard-refurb.toml");
/// Its name in messages.
pub const STANDARD_ORIGIN: &str = "test-plans/standard-refurb.toml";

/// A compiled plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Plan id.
    pub id: String,
    /// Plan version.
    pub version: String,
    /// What the plan is for.
    pub description: String,
    /// SHA-256 of the file's bytes, hex: part of the plan's identity in every record.
    pub hash: String,
    /// Jig kinds the plan needs (`combo`, `battery`, `port`, `screen`).
    pub jig_kinds: Vec<String>,
    /// The jig firmware versions the plan accepts: `[plan] firmware` (a semver range such as
    /// `>=0.1, <0.2`) and `min_firmware = "X.Y.Z"` compiled into it as `>=X.Y.Z`, one range
    /// checked in one place; `None` (neither given): any version, even one that is not semver.
    pub firmware: Option<semver::VersionReq>,
    /// Oldest protocol version.
    pub min_protocol: u16,
    /// Known models and their connector.
    pub models: BTreeMap<String, Connector>,
    /// Steps in file order.
    pub steps: Vec<Step>,
    /// Operator prompts.
    pub prompts: Vec<Prompt>,
    /// Grading policy.
    pub grading: Policy,
}

/// What to do with the rest of the channel when a step's limits fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFail {
    /// Run the next steps anyway.
    Continue,
    /// Skip the remaining steps of the same channel.
    SkipChannel,
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Id used in rules (`gauge.state_of_health`).
    pub id: String,
    /// The procedure.
    pub procedure: Procedure,
    /// Parameters with defaults filled in.
    pub params: BTreeMap<String, f64>,
    /// Timeout beyond the physical duration, ms (`None`: the run's default).
    pub timeout_ms: Option<u64>,
    /// Attempts after a link fault, beyond the first.
    pub retries: u32,
    /// What a failed limit does to the rest of the channel.
    pub on_fail: OnFail,
    /// Connectors the step applies to (`None`: all).
    pub connectors: Option<Vec<Connector>>,
    /// Limits.
    pub limits: Vec<Limit>,
}

/// Limits on the measurements whose name matches `pattern` (`*` matches any text).
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// Measurement name or pattern.
    pub pattern: String,
    /// Unit, as the procedure measures it.
    pub unit: &'static str,
    /// Bounds for every model.
    pub bounds: Bounds,
    /// Bounds for particular models.
    pub models: BTreeMap<String, Bounds>,
}

/// Pass band of a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bounds {
    /// Fails below.
    pub min: Option<f64>,
    /// Fails above.
    pub max: Option<f64>,
    /// Width of the band inside the limits that passes as marginal.
    pub marginal: f64,
}

/// An operator prompt with fixed choices.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// Id used in rules.
    pub id: String,
    /// The question.
    pub question: String,
    /// The choices, best first.
    pub choices: Vec<String>,
}

/// The grading policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Prompt whose answer is the CTIA cosmetic grade.
    pub cosmetic_prompt: String,
    /// Number of parts to repair from which the phone goes to parts harvest.
    pub parts_when_repairs: usize,
    /// CTIA functional grade (index 0-9) to R2v3 functional category, or `controlled` (an R2
    /// controlled stream). Never maps a better CTIA grade to a worse category.
    pub r2_functional: Vec<R2Functional>,
    /// CTIA cosmetic grade to R2v3 cosmetic category. Never maps a better CTIA grade to a worse
    /// category.
    pub r2_cosmetic: BTreeMap<CtiaCosmetic, R2Cosmetic>,
    /// The best cosmetic category a functional category may go with (SERI's cross-reference:
    /// F5 and F3 at best C6); a functional category not listed is not capped.
    pub r2_cosmetic_max: BTreeMap<R2Functional, R2Cosmetic>,
    /// CTIA cosmetic grade to marketplace grade, for phones sold as is. Never maps a better CTIA
    /// grade to a worse marketplace grade.
    pub marketplace: BTreeMap<CtiaCosmetic, Marketplace>,
    /// What R2v3 requires before a phone carries a functioning category (F1-F6) or a
    /// marketplace grade; `None` when the plan awards neither.
    pub r2_prerequisites: Option<Prerequisites>,
    /// Rules.
    pub rules: Vec<Rule>,
}

/// R2v3's prerequisites of a functioning category: logical data sanitization (Appendix B), no
/// lock or encumbrance (activation lock, FRP) and enough battery life. Each is plan data: the
/// prompt answers that count as met, and the battery measurements that must be measured and
/// pass their limits.
#[derive(Debug, Clone, Default)]
pub struct Prerequisites {
    /// Data sanitization verified: prompt id to the answers that mean verified.
    pub sanitized: BTreeMap<String, Vec<String>>,
    /// No lock or encumbrance: prompt id to the answers that mean unlocked.
    pub unlocked: BTreeMap<String, Vec<String>>,
    /// Battery life: measurement patterns (`step.measurement`) that must be measured and must
    /// not fail.
    pub battery: Vec<String>,
}

/// A part the repair bench can replace.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Battery.
    Battery,
    /// Charging port.
    Port,
    /// Screen assembly.
    Screen,
}

impl Part {
    /// Every part.
    pub const ALL: [Part; 3] = [Part::Battery, Part::Port, Part::Screen];

    /// The name used in plans and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Battery => "battery",
            Part::Port => "port",
            Part::Screen => "screen",
        }
    }
}

impl AsRef<str> for Part {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A grading rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Name; becomes the reason in records.
    pub name: String,
    /// When it fires: every condition given must hold.
    pub when: Condition,
    /// CTIA functional grade it sets at least.
    pub functional: u8,
    /// Part it sends to repair.
    pub repair: Option<Part>,
    /// Sends the phone to recycling or parts harvest (`None`: no disposition of its own).
    pub disposition: Option<RuleDisposition>,
}

/// The dispositions a rule may decide by itself (the others follow from repairs and
/// completeness).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleDisposition {
    /// Harvest for parts (e.g. an activation-locked phone that cannot be resold).
    Parts,
    /// Recycle.
    Recycle,
}

/// Conditions of a rule; each list holds when any of its items holds.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    /// Measurement patterns (`step.measurement`) of which one failed.
    pub fail: Vec<String>,
    /// Measurement patterns of which one is marginal or failed.
    pub marginal: Vec<String>,
    /// Prompt answers.
    pub answer: BTreeMap<String, Vec<String>>,
    /// Some measurement failed.
    pub any_fail: bool,
}

impl Plan {
    /// Parses and validates plan text; `origin` names it in errors.
    pub fn parse(source: &str, origin: &str) -> Result<Plan, PlanErrors> {
        parse::parse(source).map_err(|diagnostics| PlanErrors {
            origin: origin.into(),
            source: source.into(),
            diagnostics,
        })
    }

    /// Reads and parses a plan file.
    ///
    /// Only a regular file of at most [`MAX_PLAN_BYTES`] of UTF-8 text is read (a symbolic link
    /// is followed to what it names): a FIFO, a device or an endless file is refused before
    /// anything is read, so `plan check` never hangs or grows without bound.
    pub fn load(path: &Path) -> Result<Plan, PlanLoadError> {
        let text = read_plan_file(path)?;
        Ok(Plan::parse(&text, &path.display().to_string())?)
    }

    /// The standard plan built into the binary.
    pub fn standard() -> Result<Plan, PlanErrors> {
        Plan::parse(STANDARD, STANDARD_ORIGIN)
    }

    /// The connector of a model, when the plan knows the model.
    pub fn connector(&self, model: &str) -> Option<Connector> {
        self.models.get(model).copied()
    }
}

/// The largest plan file [`Plan::load`] reads (1 MiB; the standard plan is a few KiB).
pub const MAX_PLAN_BYTES: u64 = 1024 * 1024;

/// Reads `path` when it is a regular file of at most [`MAX_PLAN_BYTES`] of UTF-8 text.
///
/// The file is opened without blocking (a FIFO would otherwise block the open until a writer
/// appears) and the open handle is checked, so a file swapped for a FIFO or a device between
/// a check and the read is still refused; the read itself is capped.
fn read_plan_file(path: &Path) -> Result<String, PlanLoadError> {
    use checker::FileProblem;
    let path_text = path.display().to_string();
    checker::read_text(path, MAX_PLAN_BYTES).map_err(|problem| match problem {
        FileProblem::Read(cause) => PlanLoadError::Read {
            path: path_text,
            cause,
        },
        FileProblem::NotAFile(what) => PlanLoadError::NotAFile {
            path: path_text,
            what,
        },
        FileProblem::TooBig(size) => PlanLoadError::TooBig {
            path: path_text,
            size,
        },
        FileProblem::NotText(offset) => PlanLoadError::NotText {
            path: path_text,
            offset,
        },
    })
}

/// Why a plan could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlanLoadError {
    /// The file could not be read.
    #[error("cannot read plan {path}: {cause}; check the path")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        cause: std::io::Error,
    },
    /// The path names something other than a regular file.
    #[error("plan {path} is {what}, not a regular file; give the path of a plan file (*.toml)")]
    NotAFile {
        /// Path.
        path: String,
        /// What the path names.
        what: &'static str,
    },
    /// The file is larger than a plan may be.
    #[error(
        "plan {path} is {size} bytes or more, larger than the {MAX_PLAN_BYTES} bytes (1 MiB) a plan may hold; check that the path names a plan file"
    )]
    TooBig {
        /// Path.
        path: String,
        /// Size in bytes (at least).
        size: u64,
    },
    /// The file is not UTF-8 text.
    #[error(
        "plan {path} is not UTF-8 text (invalid byte at offset {offset}); save it as UTF-8 TOML"
    )]
    NotText {
        /// Path.
        path: String,
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The plan has errors.
    #[error(transparent)]
    Invalid(#[from] PlanErrors),
}

impl Limit {
    /// Bounds for `model`.
    pub fn bounds_for(&self, model: &str) -> Bounds {
        self.models.get(model).copied().unwrap_or(self.bounds)
    }
}

/// Parses `MAJOR.MINOR.PATCH`.
pub fn parse_version(s: &str) -> Option<(u64, u64, u64)> {
    parse::semver(s)
}

/// True when `name` matches `pattern` (`*` matches any text, `?` one character).
pub fn matches(pattern: &str, name: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_shipped_plans_accept_this_build_s_firmware() {
        let plan = Plan::standard().unwrap();
        let range = plan.firmware.unwrap();
        let version = semver::Version::parse(env!("CARGO_PKG_VERSION")).unwrap();
        assert!(range.matches(&version), "{range} vs {version}");
        assert!(!range.matches(&semver::Version::new(0, 2, 0)));
        assert!(!range.matches(&semver::Version::new(0, 0, 9)));
    }

    #[test]
    fn a_plan_without_a_firmware_range_accepts_any_and_a_bad_range_is_located() {
        let without = STANDARD.replace("firmware = \">=0.1, <0.2\"\n", "");
        assert!(Plan::parse(&without, "p.toml").unwrap().firmware.is_none());
        let bad = STANDARD.replace(">=0.1, <0.2", ">=0.1 <<0.2");
        let e = Plan::parse(&bad, "p.toml").unwrap_err();
        assert_eq!(e.diagnostics.len(), 1, "{e}");
        let d = &e.diagnostics[0];
        assert!(
            d.message
                .starts_with("firmware `>=0.1 <<0.2` is not a version range"),
            "{}",
            d.message
        );
        let line = STANDARD
            .lines()
            .position(|l| l.starts_with("firmware ="))
            .unwrap()
            + 1;
        assert_eq!(d.line_col(&bad), (line, 12));
        assert!(d.hint.as_deref().unwrap().contains(">=0.1, <0.2"));
        let number = STANDARD.replace("firmware = \">=0.1, <0.2\"", "firmware = 1");
        let e = Plan::parse(&number, "p.toml").unwrap_err();
        assert!(e.diagnostics[0]
            .message
            .contains("firmware must be a string"));
    }
}
