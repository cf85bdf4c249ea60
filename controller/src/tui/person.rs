//! The person at the bench: the terminal UI's [`Operator`].
//!
//! The run asks a question with [`Operator::ask`] (after sending `LineEvent::Asking`), which
//! registers a one-shot answer keyed by (slot, prompt id); the UI completes it with
//! [`Person::answer`] when the operator presses a choice's key. The run withdraws a question by
//! dropping the future: the entry goes with it, so nothing is kept for a question nobody
//! waits for. Who is signed in is a watch, so a shift change never stops the line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{oneshot, watch};

use crate::run::event::{Answer, Question, SlotId};
use crate::run::operator::{Answering, Operator};

/// A pending question: its token (so a withdrawn future never removes a newer entry for the
/// same key) and where its answer goes.
type Pending = HashMap<(SlotId, String), (u64, oneshot::Sender<Answer>)>;

/// The operator signed in at the terminal, and the questions waiting for them.
#[derive(Debug)]
pub struct Person {
    signed_in: watch::Sender<Option<String>>,
    pending: Arc<Mutex<Pending>>,
    next: AtomicU64,
}

impl Person {
    /// A person, signed in as `signed_in` (e.g. `--operator ID`) or nobody yet.
    pub fn new(signed_in: Option<String>) -> Arc<Person> {
        let signed_in = signed_in.filter(|id| !id.trim().is_empty());
        Arc::new(Person {
            signed_in: watch::Sender::new(signed_in),
            pending: Arc::new(Mutex::new(HashMap::new())),
            next: AtomicU64::new(0),
        })
    }

    /// Signs `id` in (the first operator, or the next one at a shift change). An empty id is
    /// ignored.
    pub fn sign_in(&self, id: &str) {
        let id = id.trim();
        if !id.is_empty() {
            self.signed_in.send_replace(Some(id.to_string()));
        }
    }

    /// The operator signed in now, if anyone is.
    pub fn current(&self) -> Option<String> {
        self.signed_in.borrow().clone()
    }

    /// Waits until someone is signed in (at once if someone already is).
    pub async fn wait_signed_in(&self) {
        let mut rx = self.signed_in.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }

    /// Answers the question asked for `at` with id `prompt`: completes the run's pending
    /// [`Operator::ask`] with `choice`, given by the operator signed in. False when no such
    /// question waits (already answered or withdrawn) or nobody is signed in.
    pub fn answer(&self, at: SlotId, prompt: &str, choice: &str) -> bool {
        let Some(by) = self.current() else {
            return false;
        };
        let entry = lock(&self.pending).remove(&(at, prompt.to_string()));
        match entry {
            Some((_, tx)) => tx
                .send(Answer {
                    choice: choice.to_string(),
                    by,
                })
                .is_ok(),
            None => false,
        }
    }

    /// How many questions wait for an answer (for tests and diagnostics).
    pub fn waiting(&self) -> usize {
        lock(&self.pending).len()
    }
}

fn lock(pending: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes a question's entry when its future goes (answered, withdrawn or dropped).
struct Withdraw {
    pending: Arc<Mutex<Pending>>,
    key: (SlotId, String),
    token: u64,
}

impl Drop for Withdraw {
    fn drop(&mut self) {
        let mut pending = lock(&self.pending);
        if pending
            .get(&self.key)
            .is_some_and(|(t, _)| *t == self.token)
        {
            pending.remove(&self.key);
        }
    }
}

impl Operator for Person {
    fn ask(&self, question: Question) -> Answering {
        let (tx, rx) = oneshot::channel();
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let key = (question.at, question.prompt);
        {
            let mut pending = lock(&self.pending);
            pending.retain(|_, (_, tx)| !tx.is_closed());
            pending.insert(key.clone(), (token, tx));
        }
        let guard = Withdraw {
            pending: Arc::clone(&self.pending),
            key,
            token,
        };
        Box::pin(async move {
            let answer = rx.await.ok();
            drop(guard);
            answer
        })
    }

    /// The operator id signed in now; empty while nobody is (the UI asks for a sign-in first).
    fn signed_in(&self) -> String {
        self.current().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn question(slot: u8, prompt: &str) -> Question {
        Question {
            at: SlotId { bench: 0, slot },
            imei: "356938035643809".into(),
            model: "X1".into(),
            prompt: prompt.into(),
            text: "Cosmetic grade?".into(),
            choices: vec!["A".into(), "B".into()],
            simulated: false,
        }
    }

    #[tokio::test]
    async fn an_answer_completes_the_question_with_who_answered() {
        let person = Person::new(None);
        let asked = person.ask(question(1, "cosmetic"));
        let at = SlotId { bench: 0, slot: 1 };
        assert!(!person.answer(at, "cosmetic", "A"), "nobody signed in");
        person.sign_in("alice");
        assert_eq!(person.signed_in(), "alice");
        assert!(person.answer(at, "cosmetic", "B"));
        let answer = asked.await.unwrap();
        assert_eq!(answer.choice, "B");
        assert_eq!(answer.by, "alice");
        assert_eq!(person.waiting(), 0);
        assert!(!person.answer(at, "cosmetic", "B"), "already answered");
    }

    #[tokio::test]
    async fn a_withdrawn_question_leaves_nothing_behind() {
        let person = Person::new(Some("bob".into()));
        let asked = person.ask(question(0, "cosmetic"));
        assert_eq!(person.waiting(), 1);
        drop(asked);
        assert_eq!(person.waiting(), 0);
        assert!(!person.answer(SlotId { bench: 0, slot: 0 }, "cosmetic", "A"));
        // A newer question for the same key survives the older one's withdrawal.
        let old = person.ask(question(0, "cosmetic"));
        let new = person.ask(question(0, "cosmetic"));
        drop(old);
        assert_eq!(person.waiting(), 1);
        assert!(person.answer(SlotId { bench: 0, slot: 0 }, "cosmetic", "A"));
        assert_eq!(new.await.unwrap().choice, "A");
    }

    #[tokio::test]
    async fn waiting_for_a_sign_in_ends_when_someone_signs_in() {
        let person = Person::new(Some("  ".into()));
        assert_eq!(person.current(), None);
        let p = Arc::clone(&person);
        let waiter = tokio::spawn(async move { p.wait_signed_in().await });
        person.sign_in("");
        person.sign_in("carol");
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
