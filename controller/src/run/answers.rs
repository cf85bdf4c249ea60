//! Answers to the plan's operator prompts. At a real bench the operator answers in the terminal
//! UI; on a simulated line the simulated operator answers what the phone's library entry says.

use std::collections::{BTreeMap, HashMap};

use crate::plan::Prompt;

/// Who answers the prompts.
pub trait Answerer: Send + Sync {
    /// The answer for the phone with this IMEI, or `None` when nobody answered.
    fn answer(&self, imei: &str, prompt: &Prompt) -> Option<String>;
}

/// The simulated operator: answers from the phone library.
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
}

impl Answerer for LibraryAnswers {
    fn answer(&self, imei: &str, prompt: &Prompt) -> Option<String> {
        let a = self.by_imei.get(imei)?.get(&prompt.id)?;
        prompt.choices.contains(a).then(|| a.clone())
    }
}
