//! The one implementation of waker storage that every primitive of the crate uses.
//!
//! Two pieces, both generic over the blocking mutex of the primitive that holds them (so a
//! handle built on `NoopRawMutex` takes no critical section):
//!
//! - [`WakerCell`]: one waker, the building block (embassy-sync's `WakerRegistration` inside the
//!   primitive's own lock). `try_register` refuses a second, different waker instead of waking
//!   the first one early, so two waiters can never take turns waking each other.
//! - [`WakerSet`]: a fixed number of distinct wakers, woken together, for the handles that
//!   several tasks wait on.
//!
//! What does not fit goes to the [`spill`] table: one table for the whole program, keyed by the
//! address of the primitive, holding wakers until that primitive wakes them. Without `alloc` it
//! has [`SPILL_SLOTS`] entries; with `alloc` it grows on the heap. A waiter is therefore never
//! woken early because another one arrived: nothing here ever wakes a waker except the change
//! its owner waits for (or the removal of that very waker).

pub(crate) mod spill;

use core::cell::Cell;
use core::task::Waker;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

pub use spill::SPILL_SLOTS;

/// One waker slot behind the mutex `M`.
pub(crate) struct WakerCell<M: RawMutex = CriticalSectionRawMutex> {
    waker: Mutex<M, Cell<Option<Waker>>>,
}

impl<M: RawMutex> WakerCell<M> {
    pub(crate) const fn new() -> Self {
        Self { waker: Mutex::const_new(M::INIT, Cell::new(None)) }
    }

    /// Stores `waker` if the cell is empty or already holds a waker of the same task; returns
    /// `false` (and changes nothing) if it holds another task's waker.
    pub(crate) fn try_register(&self, waker: &Waker) -> bool {
        self.waker.lock(|cell| match cell.take() {
            None => {
                cell.set(Some(waker.clone()));
                true
            }
            Some(held) => {
                let same = held.will_wake(waker);
                cell.set(Some(if same { waker.clone() } else { held }));
                same
            }
        })
    }

    /// Takes the waker out; the caller wakes it after the lock is released.
    pub(crate) fn take(&self) -> Option<Waker> {
        self.waker.lock(Cell::take)
    }

    /// Wakes and forgets the stored waker, if any.
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.take() {
            waker.wake();
        }
    }
}

impl<M: RawMutex> core::fmt::Debug for WakerCell<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakerCell").finish_non_exhaustive()
    }
}

/// `N` slots of distinct wakers behind the mutex `M`, woken together; what does not fit goes to
/// the spill table under this set's address.
pub(crate) struct WakerSet<M: RawMutex, const N: usize> {
    cells: [WakerCell<M>; N],
    /// Some waker of this set went to the spill table.
    spilled: core::sync::atomic::AtomicBool,
}

impl<M: RawMutex, const N: usize> WakerSet<M, N> {
    pub(crate) const fn new() -> Self {
        Self { cells: [const { WakerCell::new() }; N], spilled: core::sync::atomic::AtomicBool::new(false) }
    }

    fn key(&self) -> usize {
        core::ptr::from_ref(self).cast::<()>() as usize
    }

    /// Registers `waker`. Returns `false` only if neither a slot nor the spill table had room:
    /// the caller then reports the overflow (nothing was stored).
    pub(crate) fn register(&self, waker: &Waker) -> bool {
        if self.cells.iter().any(|cell| cell.try_register(waker)) {
            return true;
        }
        spill::register_shared(self.key(), waker, &self.spilled)
    }

    /// Wakes and forgets every registered waker.
    pub(crate) fn wake(&self) {
        for cell in &self.cells {
            cell.wake();
        }
        spill::wake(self.key(), &self.spilled);
    }
}

impl<M: RawMutex, const N: usize> Drop for WakerSet<M, N> {
    fn drop(&mut self) {
        spill::clear(self.key(), &self.spilled);
    }
}

impl<M: RawMutex, const N: usize> core::fmt::Debug for WakerSet<M, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakerSet").field("slots", &N).finish_non_exhaustive()
    }
}
