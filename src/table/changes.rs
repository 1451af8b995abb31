//! The change counter of the tables that can be edited ([`MapTable`](crate::table::MapTable),
//! [`BTreeTable`](crate::table::BTreeTable)): a generation bumped by every edit, and the tasks
//! waiting for it to move.

use core::cell::RefCell;
use core::task::{Context, Poll};

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;

use crate::waitqueue::{WAITER_SLOTS, WaitList, Woken};

/// The generation and the tasks waiting for it to move, under one lock.
struct State {
    generation: u32,
    waiters: WaitList<WAITER_SLOTS>,
}

/// A generation counter behind `M`, with the wakers of the tasks waiting for it to change.
pub(crate) struct Changes<M: RawMutex> {
    state: Mutex<M, RefCell<State>>,
}

impl<M: RawMutex> Changes<M> {
    pub(crate) const fn new() -> Self {
        Self { state: Mutex::const_new(M::INIT, RefCell::new(State { generation: 0, waiters: WaitList::new() })) }
    }

    pub(crate) fn get(&self) -> u32 {
        self.state.lock(|state| state.borrow().generation)
    }

    /// Counts one edit and wakes every waiter. Call after the edit is visible.
    pub(crate) fn bump(&self) {
        let woken: Woken<WAITER_SLOTS> = self.state.lock(|state| {
            let mut state = state.borrow_mut();
            state.generation = state.generation.wrapping_add(1);
            state.waiters.take()
        });
        woken.wake();
    }

    /// Ready with the current generation once it differs from `seen`.
    ///
    /// A waiter that fits nowhere (the spill table full, without `alloc`) is ready at once with
    /// the current generation, which may still be `seen`: the caller checks the table and waits
    /// again, as after any wakeup; nobody else is woken early.
    pub(crate) fn poll_changed(&self, seen: u32, cx: &Context<'_>) -> Poll<u32> {
        self.state.lock(|state| {
            let mut state = state.borrow_mut();
            if state.generation != seen {
                return Poll::Ready(state.generation);
            }
            match state.waiters.register(cx.waker()) {
                Ok(()) => Poll::Pending,
                Err(_full) => Poll::Ready(state.generation),
            }
        })
    }
}

impl<M: RawMutex> Drop for Changes<M> {
    fn drop(&mut self) {
        self.state.lock(|state| state.borrow_mut().waiters.forget_spilled());
    }
}

impl<M: RawMutex> core::fmt::Debug for Changes<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Changes").field("generation", &self.get()).finish_non_exhaustive()
    }
}
