//! [`WaitList`]: the wakers of the tasks waiting on one primitive, kept inside that primitive's
//! own lock, and [`Slot`], the waker of the one future that waits for something.

use core::task::Waker;

use super::spill;

/// A waiter could be kept neither in the primitive's slots nor in the spill table (only
/// without `alloc`, where the spill table has [`SPILL_SLOTS`](super::SPILL_SLOTS) entries).
/// Nothing was stored; the caller reports it instead of waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// The wakers of up to `N` distinct tasks waiting on a primitive, plus any number (with
/// `alloc`) or what fits (without) in the spill table under the list's own key.
///
/// It is plain data: it lives inside the primitive's `Mutex<M, RefCell<..>>`, next to the state
/// it guards, so a change of state and the registrations it concerns happen under one lock (the
/// primitive's own `M`; with `NoopRawMutex`, no critical section at all while the waiters fit in
/// the `N` slots). A waiter beyond `N` goes to the program-wide spill table, which has a
/// critical section of its own: the only one a primitive on `NoopRawMutex` ever enters.
///
/// Its spill key is an id the table hands the list at its first spill, kept with the list (not
/// its address): a primitive may be moved between two polls of its `poll_*` methods (nothing
/// borrows it then), and its spilled waiters move with it.
///
/// Nothing here wakes a waker early: a registration never displaces another task's waker. A
/// waker stays until [`take`](Self::take) hands it out (the change it waited for happened); a
/// waiter that gave up leaves its waker until then, and the same task registering again reuses
/// its slot.
pub(crate) struct WaitList<const N: usize> {
    wakers: heapless::Vec<Waker, N>,
    /// The list's spill id (0 until its first spill) shifted left by one, and in bit 0 whether
    /// some waker of this list is in the spill table and was not woken yet: one word, so that
    /// the list is no larger than with a flag alone.
    spill: u32,
}

impl<const N: usize> WaitList<N> {
    pub(crate) const fn new() -> Self {
        Self { wakers: heapless::Vec::new(), spill: 0 }
    }

    /// The spill key of this list, if some of its wakers are in the spill table.
    fn spilled_key(&self) -> Option<usize> {
        (self.spill & 1 == 1).then(|| spill::list_key(self.spill >> 1))
    }

    /// Keeps `waker` until the next [`take`](Self::take): in a slot (where the same task may
    /// already have one, which is refreshed), else in the spill table under the list's key.
    /// Call it under the primitive's lock, after checking the condition there.
    ///
    /// # Errors
    ///
    /// [`Full`] if neither had room (without `alloc` only); nothing was stored.
    pub(crate) fn register(&mut self, waker: &Waker) -> Result<(), Full> {
        if let Some(held) = self.wakers.iter_mut().find(|held| super::same_task(held, waker)) {
            held.clone_from(waker);
            return Ok(());
        }
        if self.wakers.push(waker.clone()).is_ok() {
            return Ok(());
        }
        let mut id = self.spill >> 1;
        let stored = spill::register_list(&mut id, waker);
        self.spill = (id << 1) | (self.spill & 1) | u32::from(stored);
        if stored { Ok(()) } else { Err(Full) }
    }

    /// Takes every waker out, to be woken once the lock is released ([`Woken::wake`]).
    pub(crate) fn take(&mut self) -> Woken<N> {
        let spill = self.spilled_key();
        self.spill &= !1;
        Woken { wakers: core::mem::take(&mut self.wakers), spill }
    }

    /// Forgets the wakers this list left in the spill table, without waking them: for the
    /// `Drop` of a primitive, which nothing can wait on any more (waiters borrow it).
    pub(crate) fn forget_spilled(&mut self) {
        if let Some(key) = self.spilled_key() {
            self.spill &= !1;
            spill::clear_key(key);
        }
    }

    /// Whether no waker is kept (in the slots or the spill table). Only the tests of the
    /// fixed spill table ask.
    #[cfg(all(test, not(feature = "alloc")))]
    pub(crate) fn is_empty(&self) -> bool {
        self.wakers.is_empty() && self.spill & 1 == 0
    }
}

impl<const N: usize> Default for WaitList<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for WaitList<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WaitList")
            .field("waiting", &self.wakers.len())
            .field("spilled", &(self.spill & 1 == 1))
            .finish_non_exhaustive()
    }
}

/// Wakers taken out of a [`WaitList`] under its primitive's lock, woken after the lock is
/// released (a waker may run code that uses the primitive again).
#[must_use = "the taken wakers must be woken"]
pub(crate) struct Woken<const N: usize> {
    wakers: heapless::Vec<Waker, N>,
    /// The key whose spill entries are to be woken too.
    spill: Option<usize>,
}

impl<const N: usize> Woken<N> {
    /// Nothing to wake.
    pub(crate) const NONE: Self = Self { wakers: heapless::Vec::new(), spill: None };

    /// Wakes every waker taken, and the spill entries of the list's key.
    ///
    /// A task that registered in the spill table under the same key after the `take` is woken
    /// too: once, spuriously (it checks its condition and registers again), never lost.
    pub(crate) fn wake(self) {
        let spill = self.spill;
        let _spilled = super::Finally::new(|| {
            if let Some(key) = spill {
                spill::wake_key(key);
            }
        });
        super::wake_each(self.wakers.into_iter());
    }
}

/// The waker of the one future that waits for a thing (a driver, a callback): a new waker
/// replaces the old one without waking it, since it is the same future polled by another task
/// now. Plain data, inside its primitive's lock, as a [`WaitList`].
#[derive(Default)]
pub(crate) struct Slot(Option<Waker>);

impl Slot {
    pub(crate) const fn new() -> Self {
        Self(None)
    }

    /// Keeps `waker`, replacing (without waking) the one kept before.
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &mut self.0 {
            Some(held) if held.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Takes the waker out, to be woken once the lock is released.
    pub(crate) fn take(&mut self) -> Option<Waker> {
        self.0.take()
    }
}

impl core::fmt::Debug for Slot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slot").field("set", &self.0.is_some()).finish()
    }
}

#[cfg(all(test, not(feature = "alloc")))]
mod tests {
    // Linked for the tests also without the `alloc` feature.
    extern crate alloc as heap;

    use heap::vec::Vec;

    use super::{Full, WaitList, spill};
    use crate::waitqueue::test_support::{self, counter};

    /// Fills what is left of the spill table under keys of nothing (even: no wait list's key,
    /// and low numbers are no context's address); returns the keys used. It tries one key more
    /// than the table has entries, so a table that never says full fails the test's count
    /// instead of looping for ever.
    fn fill_table() -> Vec<usize> {
        let mut keys = Vec::new();
        for key in (2..).step_by(2).take(spill::SPILL_SLOTS + 1) {
            let (_, waker) = counter();
            if !spill::register_key(key, &waker) {
                break;
            }
            keys.push(key);
        }
        keys
    }

    /// Without `alloc`: a list whose waker went to the spill table, and which then finds the
    /// table full, still wakes that waker at its next `take` (the failed registration keeps the
    /// list's spilled flag).
    #[test]
    fn a_list_that_finds_the_table_full_still_wakes_what_it_spilled() {
        let _table = test_support::fill_lock();
        let mut list = WaitList::<1>::new();
        let (a, wa) = counter();
        let (b, wb) = counter();
        let (c, wc) = counter();
        assert!(list.is_empty());
        assert_eq!(list.register(&wa), Ok(()), "a slot");
        assert!(!list.is_empty(), "a waker in a slot and none spilled");
        assert_eq!(list.register(&wb), Ok(()), "the spill table");
        let keys = fill_table();
        assert_eq!(keys.len(), spill::SPILL_SLOTS - 1, "b keeps one entry");
        assert_eq!(list.register(&wc), Err(Full));
        let woken = list.take();
        for key in &keys {
            spill::clear_key(*key);
        }
        woken.wake();
        let counts = [&a, &b, &c].map(|w| w.count());
        assert_eq!(counts, [1, 1, 0]);
        assert!(list.is_empty());
    }

    /// Without `alloc`: a list whose only try to spill found the table full has nothing in the
    /// table, and says so (its `take` and `Drop` do not look there).
    #[test]
    fn a_list_whose_spill_failed_has_nothing_spilled() {
        let _table = test_support::fill_lock();
        let mut list = WaitList::<1>::new();
        let (_, wa) = counter();
        let (b, wb) = counter();
        assert_eq!(list.register(&wa), Ok(()));
        let keys = fill_table();
        assert_eq!(keys.len(), spill::SPILL_SLOTS);
        assert_eq!(list.register(&wb), Err(Full));
        assert_eq!(list.spilled_key(), None);
        assert!(heap::format!("{list:?}").contains("spilled: false"));
        for key in &keys {
            spill::clear_key(*key);
        }
        list.take().wake();
        assert_eq!(b.count(), 0);
        assert!(list.is_empty());
    }
}
