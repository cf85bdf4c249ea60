//! The stream of phones the simulated operators seat: the library shuffled by a seed, repeated.

use std::sync::{Arc, Mutex};

use benchline_sim::Phone;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Shared by every simulated jig of a line.
#[derive(Clone)]
pub struct Feeder {
    inner: Arc<Mutex<State>>,
}

struct State {
    phones: Vec<Phone>,
    order: Vec<usize>,
    next: usize,
    rng: ChaCha8Rng,
    limit: Option<usize>,
    handed: usize,
}

impl Feeder {
    /// Phones from `phones` in an order fixed by `seed`; at most `limit` phones in all.
    pub fn new(phones: Vec<Phone>, seed: u64, limit: Option<usize>) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        Feeder {
            inner: Arc::new(Mutex::new(State {
                order: Vec::new(),
                next: 0,
                phones,
                rng,
                limit,
                handed: 0,
            })),
        }
    }

    /// The next phone, or `None` when the limit is reached or the library is empty.
    pub fn next_phone(&self) -> Option<Phone> {
        // A poisoned lock only means another jig's thread panicked mid-update; the state is a
        // queue of phones and stays usable.
        let mut s = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.phones.is_empty() || s.limit.is_some_and(|l| s.handed >= l) {
            return None;
        }
        if s.next >= s.order.len() {
            let mut order: Vec<usize> = (0..s.phones.len()).collect();
            order.shuffle(&mut s.rng);
            s.order = order;
            s.next = 0;
        }
        let i = s.order[s.next];
        s.next += 1;
        s.handed += 1;
        s.phones.get(i).cloned()
    }
}
