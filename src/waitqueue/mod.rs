//! The one implementation of waker storage that every primitive of the crate uses.
//!
//! Everything here is generic over the blocking mutex of the primitive that holds it, or is
//! plain data that lives inside that primitive's own lock, so a handle built on `NoopRawMutex`
//! takes no critical section while its waiters fit in its slots:
//!
//! - [`WaitList`]: the wakers of up to `N` distinct tasks waiting on a handle, kept next to the
//!   handle's state in its `Mutex<M, RefCell<..>>`, so that a change of state and the
//!   registrations it concerns happen under one lock (embassy-sync's `MultiWakerRegistration`,
//!   without its early wake when full). [`Woken`] carries what a change takes out of it, to be
//!   woken once the lock is released.
//! - [`Slot`]: the waker of the one future that waits for a thing (a driver, a callback): a
//!   new waker replaces the old one without waking it (embassy-sync's `WakerRegistration`,
//!   without its wake of the replaced waker, which is the same future's).
//! - [`Event`]: a sticky one-shot event with a cause, state and wakers under one lock of `M`.
//! - [`WakerCell`] and [`WakerSet`]: waker slots behind a mutex of their own, for a [`Ctx`],
//!   whose state is atomic.
//!
//! What does not fit goes to the [`spill`] table: one table for the whole program, keyed by the
//! address of a [`Ctx`]'s root or by the id a [`WaitList`] got at its first spill, holding
//! wakers until that primitive wakes them. Without `alloc` it
//! has [`SPILL_SLOTS`] entries; with `alloc` it grows on the heap. It has a critical section of
//! its own, the only one a primitive on `NoopRawMutex` can enter, and only for a waiter beyond
//! its slots. A waiter is therefore never woken early because another one arrived: nothing here
//! ever wakes a waker except the change its owner waits for.
//!
//! Only when the spill table is full too (without `alloc`) can a waiter not be kept:
//! [`WaitList::register`] then fails with [`Full`] and stores nothing, and the primitive reports
//! it (a [`Ctx`] cancels itself with [`Cause::Overflow`](crate::Cause::Overflow), an [`Event`]
//! sets itself with it, a handle completes the wait at once and reports the overflow where the
//! method returns a result).
//!
//! [`Ctx`]: crate::Ctx

mod event;
mod list;
pub(crate) mod spill;
#[cfg(test)]
mod test_support;

#[cfg(not(feature = "std"))]
use core::cell::Cell;
use core::task::Waker;

#[cfg(not(feature = "std"))]
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use crate::sync::{AtomicBool, Ordering};

pub(crate) use event::Event;
pub(crate) use list::{Full, Slot, WaitList, Woken};
pub use spill::SPILL_SLOTS;

/// How many distinct tasks the waiter lists of the handles (the `shot` types, the supervisor's
/// control) hold inline; further ones go to the spill table.
pub const WAITER_SLOTS: usize = 4;

/// Whether `a` and `b` wake the same task: [`Waker::will_wake`], or the same data with a vtable
/// of the same functions.
///
/// `will_wake` compares the vtable's address, and the same vtable can have several addresses (a
/// `const` promoted in more than one codegen unit): tokio's `block_on` polls with a waker whose
/// vtable is a copy of its clone's, so that `will_wake` says no to the very waker it stored.
/// Taken for another task, it would go to the spill table on every poll. Two wakers with the same
/// data and the same functions do the same thing when woken, so treating them as one loses
/// nothing.
pub(crate) fn same_task(a: &Waker, b: &Waker) -> bool {
    a.will_wake(b) || (a.data() == b.data() && a.vtable() == b.vtable())
}

/// Wakes every waker `wakers` yields. A waker may panic (it runs the executor's code): the
/// wakers after it are then still woken while the panic unwinds, so that one waker's panic never
/// loses the other tasks' wakeups.
pub(crate) fn wake_each<I: Iterator<Item = Waker>>(wakers: I) {
    /// The wakers not woken yet; dropping it wakes them (the unwind path).
    struct Rest<I: Iterator<Item = Waker>>(I);

    impl<I: Iterator<Item = Waker>> Drop for Rest<I> {
        fn drop(&mut self) {
            self.0.by_ref().for_each(Waker::wake);
        }
    }

    let mut rest = Rest(wakers);
    for waker in rest.0.by_ref() {
        waker.wake();
    }
}

/// Runs its function when dropped: on the normal path and while a panic unwinds alike (the
/// spill entries of a primitive are woken even if one of its inline wakers panics).
pub(crate) struct Finally<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Finally<F> {
    pub(crate) const fn new(f: F) -> Self {
        Self(Some(f))
    }
}

impl<F: FnOnce()> Drop for Finally<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// One waker slot behind the mutex `M`.
///
/// With the `std` feature the slot has a lock of its own instead (a `std::sync::Mutex`, whose
/// uncontended lock is one atomic operation): the `critical-section` implementation for `std` is
/// one mutex for the whole program, taken twice with a thread-local check each time, so every
/// context of every task on every core would otherwise queue on it. `M` then only names the
/// slot's type.
pub(crate) struct WakerCell<M: RawMutex = CriticalSectionRawMutex> {
    #[cfg(not(feature = "std"))]
    waker: Mutex<M, Cell<Option<Waker>>>,
    #[cfg(feature = "std")]
    waker: std::sync::Mutex<Option<Waker>>,
    #[cfg(feature = "std")]
    _mutex: core::marker::PhantomData<M>,
}

impl<M: RawMutex> WakerCell<M> {
    #[cfg(not(feature = "std"))]
    pub(crate) const fn new() -> Self {
        Self { waker: Mutex::const_new(M::INIT, Cell::new(None)) }
    }

    #[cfg(feature = "std")]
    pub(crate) const fn new() -> Self {
        Self { waker: std::sync::Mutex::new(None), _mutex: core::marker::PhantomData }
    }

    /// Runs `f` on the slot under its lock.
    #[cfg(not(feature = "std"))]
    fn with<R>(&self, f: impl FnOnce(&mut Option<Waker>) -> R) -> R {
        self.waker.lock(|cell| {
            let mut slot = cell.take();
            let out = f(&mut slot);
            cell.set(slot);
            out
        })
    }

    /// Runs `f` on the slot under its lock. A panic never happens while it is held (`f` only
    /// moves and compares wakers), so a poisoned lock still holds a consistent slot.
    #[cfg(feature = "std")]
    fn with<R>(&self, f: impl FnOnce(&mut Option<Waker>) -> R) -> R {
        f(&mut self.waker.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Stores `waker` if the cell is empty or already holds a waker of the same task (kept as it
    /// is: no clone); returns `false` (and changes nothing) if it holds another task's waker.
    ///
    /// After storing, sets `armed`: the owner's flag that some cell may hold a waker, read
    /// without a lock before a wake (see [`Armed`]).
    pub(crate) fn try_register(&self, waker: &Waker, armed: &AtomicBool) -> bool {
        self.with(|slot| match slot {
            None => {
                *slot = Some(waker.clone());
                armed.store(true, Ordering::SeqCst);
                true
            }
            Some(held) => same_task(held, waker),
        })
    }

    /// Takes the waker out; the caller wakes it after the lock is released.
    pub(crate) fn take(&self) -> Option<Waker> {
        self.with(Option::take)
    }
}

/// The flag beside a group of [`WakerCell`]s that says some cell may hold a waker, so that
/// waking cells that hold none (the common case: a context cancelled that nobody waits on) takes
/// no lock.
///
/// No wakeup is lost: a waiter stores its waker and then sets the flag, then checks its
/// condition again; a waker changes the condition, reads the flag, and if it is set clears it
/// *before* it takes the cells. All of these are sequentially consistent, so either the waker
/// sees the flag set (and takes every waker stored before it cleared it, or leaves the flag set
/// for the next wake), or the waiter sees the changed condition.
pub(crate) struct Armed;

impl Armed {
    /// Whether some cell may hold a waker; if so, clears the flag: the caller then takes the
    /// cells.
    pub(crate) fn disarm(armed: &AtomicBool) -> bool {
        armed.load(Ordering::SeqCst) && {
            armed.store(false, Ordering::SeqCst);
            true
        }
    }
}

impl<M: RawMutex> core::fmt::Debug for WakerCell<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakerCell").finish_non_exhaustive()
    }
}
