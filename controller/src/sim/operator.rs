//! The simulated operator: answers the plan's prompts from the phone library, the way the
//! person at the bench would for that phone. It answers only on simulated lines (`--sim N`
//! with `--auto-answer`, or headless), and every answer it gives is recorded as its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::run::operator::Answering;
use crate::run::{Answer, Operator, Question};

/// The name written in a record for each answer the simulated operator gave.
pub const SIMULATED_OPERATOR: &str = "simulated-operator";

/// What each phone of a library answers to each prompt, by IMEI.
#[derive(Debug, Default, Clone)]
pub struct LibraryAnswers {
    by_imei: HashMap<String, BTreeMap<String, String>>,
}

impl LibraryAnswers {
    /// Answers for every phone of `library`.
    pub fn new(library: &benchline_sim::Library) -> Self {
        LibraryAnswers {
            by_imei: library
                .phones
                .iter()
                .map(|p| (p.imei.clone(), p.answers.clone()))
                .collect(),
        }
    }

    /// The library's answer for the phone with `imei` to `question`, if it is one of the
    /// question's choices.
    pub fn answer(&self, imei: &str, question: &Question) -> Option<String> {
        let a = self.by_imei.get(imei)?.get(&question.prompt)?;
        question.choices.contains(a).then(|| a.clone())
    }
}

/// The simulated operator: answers at once from the library; records are signed by whoever
/// is signed in at the bench (`signed_in`).
#[derive(Clone)]
pub struct SimulatedOperator {
    /// The library's answers.
    pub answers: Arc<LibraryAnswers>,
    /// Who is signed in (a person at the TUI, or a fixed id on a headless line).
    pub signed_in: Arc<dyn Operator>,
}

impl Operator for SimulatedOperator {
    fn ask(&self, question: Question) -> Answering {
        let answer = self
            .answers
            .answer(&question.imei, &question)
            .map(|choice| Answer {
                choice,
                by: SIMULATED_OPERATOR.into(),
            });
        Box::pin(std::future::ready(answer))
    }

    fn signed_in(&self) -> String {
        self.signed_in.signed_in()
    }
}
