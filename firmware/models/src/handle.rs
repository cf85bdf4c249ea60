//! How the bus and the pins reach a rig they share: a handle that gives `&RefCell<Rig<C>>`.
//! `Rc<RefCell<Rig<C>>>` (the host simulator, one thread) and `&'static RefCell<Rig<C>>` (a
//! firmware image) are handles as they are; anything else that dereferences to the cell is too.

use core::cell::RefCell;
use core::ops::Deref;

use crate::rig::{Rig, RigClock};

/// A shared rig: cloned into every bus and pin of one jig.
pub trait RigHandle: Clone {
    /// The rig's clock.
    type Clock: RigClock;
    /// The rig's cell.
    fn rig(&self) -> &RefCell<Rig<Self::Clock>>;
}

impl<H, C> RigHandle for H
where
    H: Clone + Deref<Target = RefCell<Rig<C>>>,
    C: RigClock,
{
    type Clock = C;

    fn rig(&self) -> &RefCell<Rig<C>> {
        self
    }
}
