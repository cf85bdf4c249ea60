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

/// The simulated operator: answers at once from the library for the simulated benches (the
/// first `benches` of the line) whose jig announces simulated phones (`Question::simulated`);
/// questions about phones on other benches or on a jig that does not announce simulated
/// (a real jig) go to whoever is signed in (`signed_in`), who also signs the records.
#[derive(Clone)]
pub struct SimulatedOperator {
    /// The library's answers.
    pub answers: Arc<LibraryAnswers>,
    /// Who is signed in (a person at the TUI, or a fixed id on a headless line).
    pub signed_in: Arc<dyn Operator>,
    /// The simulated benches: bench indexes below this (`usize::MAX`: any bench whose jig
    /// announces simulated phones, e.g. `--port` jigs with `--auto-answer`).
    pub benches: usize,
}

impl Operator for SimulatedOperator {
    fn ask(&self, question: Question) -> Answering {
        if question.at.bench >= self.benches || !question.simulated {
            return self.signed_in.ask(question);
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::run::{Nobody, SlotId};

    #[tokio::test]
    async fn it_answers_for_simulated_benches_only() {
        let library = crate::sim::builtin_phones().unwrap();
        let phone = &library.phones[0];
        let (prompt, choice) = phone.answers.iter().next().unwrap();
        let operator = SimulatedOperator {
            answers: Arc::new(LibraryAnswers::new(&library)),
            signed_in: Arc::new(Nobody("op-3".into())),
            benches: 1,
        };
        let question = |bench, simulated| Question {
            at: SlotId { bench, slot: 0 },
            imei: phone.imei.clone(),
            model: phone.model.clone(),
            prompt: prompt.clone(),
            text: String::new(),
            choices: vec![choice.clone()],
            simulated,
        };
        let simulated = operator.ask(question(0, true)).await.unwrap();
        assert_eq!(simulated.choice, *choice);
        assert_eq!(simulated.by, SIMULATED_OPERATOR);
        // A real jig on the same line: its phone's questions go to the person (here nobody).
        assert_eq!(operator.ask(question(1, true)).await, None);
        // A jig that does not announce simulated phones, even on a simulated bench.
        assert_eq!(operator.ask(question(0, false)).await, None);
        // Any bench (`--port` jigs with `--auto-answer`): still only simulated jigs.
        let any = SimulatedOperator {
            benches: usize::MAX,
            ..operator.clone()
        };
        assert_eq!(any.ask(question(7, true)).await.unwrap().choice, *choice);
        assert_eq!(any.ask(question(7, false)).await, None);
        assert_eq!(operator.signed_in(), "op-3");
    }
}
