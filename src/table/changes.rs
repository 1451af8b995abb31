//! The change counter of the tables that can be edited ([`MapTable`](crate::table::MapTable),
//! [`BTreeTable`](crate::table::BTreeTable)): a generation bumped by every edit, and the tasks
//! waiting for it to move.

use core::cell::Cell;
use core::task::{Context, Poll};

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;

use crate::ctx::WAITER_SLOTS;
use crate::waitqueue::WakerSet;

/// A generation counter behind `M`, with the wakers of the tasks waiting for it to change.
pub(crate) struct Changes<M: RawMutex> {
    generation: Mutex<M, Cell<u32>>,
    waiters: WakerSet<M, WAITER_SLOTS>,
}

impl<M: RawMutex> Changes<M> {
    pub(crate) const fn new() -> Self {
        Self { generation: Mutex::const_new(M::INIT, Cell::new(0)), waiters: WakerSet::new() }
    }

    pub(crate) fn get(&self) -> u32 {
        self.generation.lock(Cell::get)
    }

    /// Counts one edit and wakes every waiter. Call after the edit is visible.
    pub(crate) fn bump(&self) {
        self.generation.lock(|g| g.set(g.get().wrapping_add(1)));
        self.waiters.wake();
    }

    /// Ready with the current generation once it differs from `seen`.
    pub(crate) fn poll_changed(&self, seen: u32, cx: &Context<'_>) -> Poll<u32> {
        let now = self.get();
        if now != seen {
            return Poll::Ready(now);
        }
        if !self.waiters.register(cx.waker()) {
            // Neither a slot nor the spill table had room: wake everyone (this task included)
            // rather than lose a wakeup; each re-checks the generation.
            self.waiters.wake();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // An edit between the first read and the registration bumped the counter before waking,
        // so it is visible now.
        let now = self.get();
        if now == seen { Poll::Pending } else { Poll::Ready(now) }
    }
}

impl<M: RawMutex> core::fmt::Debug for Changes<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Changes").field("generation", &self.get()).finish_non_exhaustive()
    }
}
