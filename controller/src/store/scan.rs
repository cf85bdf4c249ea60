//! Long scans in bounded memory.
//!
//! A sled iterator pins its epoch for as long as it lives, so pages evicted meanwhile cannot be
//! freed: one iterator over a million records holds on to most of them. A [`Scan`] starts a
//! fresh range iterator every [`CHUNK`] items, after the last key it returned.

use std::ops::Bound;

use sled::{IVec, Tree};

/// Items read from one sled iterator before it is replaced.
pub const CHUNK: usize = 1024;

/// An in-order scan of `[from, to)` over a tree, restarted every [`CHUNK`] items.
pub struct Scan {
    tree: Tree,
    to: Option<Vec<u8>>,
    next_from: Bound<IVec>,
    iter: Option<sled::Iter>,
    taken: usize,
}

impl Scan {
    /// Scans keys in `[from, to)` (`to = None`: to the end).
    pub fn new(tree: &Tree, from: &[u8], to: Option<&[u8]>) -> Scan {
        Scan {
            tree: tree.clone(),
            to: to.map(<[u8]>::to_vec),
            next_from: Bound::Included(IVec::from(from)),
            iter: None,
            taken: 0,
        }
    }
}

impl Iterator for Scan {
    type Item = sled::Result<(IVec, IVec)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.iter.is_none() || self.taken >= CHUNK {
            let end = match &self.to {
                Some(t) => Bound::Excluded(IVec::from(t.as_slice())),
                None => Bound::Unbounded,
            };
            self.iter = Some(self.tree.range::<IVec, _>((self.next_from.clone(), end)));
            self.taken = 0;
        }
        let item = self.iter.as_mut()?.next()?;
        if let Ok((k, _)) = &item {
            self.next_from = Bound::Excluded(k.clone());
            self.taken += 1;
        }
        Some(item)
    }
}
