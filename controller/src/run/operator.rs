//! Who answers the plan's prompts: the [`Operator`] seam.
//!
//! At a real bench the person signed in at the terminal answers (the terminal UI implements
//! this trait); on a simulated line the simulated operator may answer from the phone library
//! (`crate::sim::SimulatedOperator`). The run asks one question per slot at a time, waits as long
//! as the person needs (up to `RunOptions::answer_within`), and withdraws the question by
//! dropping the future when the phone is taken out or the run stops.

use std::future::Future;
use std::pin::Pin;

use super::event::{Answer, Question};

/// An answer on its way: `None` when nobody will answer (the operator left, the UI closed).
pub type Answering = Pin<Box<dyn Future<Output = Option<Answer>> + Send>>;

/// Whoever answers the prompts at the bench.
pub trait Operator: Send + Sync {
    /// Asks `question`; the answer comes when it comes. Dropping the future withdraws it.
    fn ask(&self, question: Question) -> Answering;

    /// The operator id signed in now, written in each record as the phone is graded.
    fn signed_in(&self) -> String;
}

/// An operator who answers nothing (a line whose plan has no prompts, or a test): every prompt
/// is recorded unanswered and the phone grades `retest`.
#[derive(Debug, Clone)]
pub struct Nobody(pub String);

impl Operator for Nobody {
    fn ask(&self, _question: Question) -> Answering {
        Box::pin(std::future::ready(None))
    }

    fn signed_in(&self) -> String {
        self.0.clone()
    }
}
