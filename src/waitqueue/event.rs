//! [`Event`]: a sticky one-shot event with a cause, waited on by any number of tasks.

use core::cell::RefCell;
use core::task::{Context, Poll};

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use super::WaitList;
use crate::ctx::Cause;

/// A sticky one-shot event: set once with a [`Cause`], waited on by any number of tasks.
///
/// The cause and the wakers sit under one lock of `M`. `N` distinct tasks wait in slots of
/// their own, more in the spill table. Only when that is full too (without `alloc`) can a
/// waiter not be kept: the event then sets itself with [`Cause::Overflow`] (as a [`Ctx`] cancels
/// itself), so every waiter sees it at once and nothing waits for a wakeup that cannot come.
///
/// [`Ctx`]: crate::Ctx
pub(crate) struct Event<M: RawMutex = CriticalSectionRawMutex, const N: usize = 2> {
    inner: Mutex<M, RefCell<Inner<N>>>,
}

struct Inner<const N: usize> {
    cause: Option<Cause>,
    waiters: WaitList<N>,
}

impl<M: RawMutex, const N: usize> Event<M, N> {
    pub(crate) const fn new() -> Self {
        Self { inner: Mutex::new(RefCell::new(Inner { cause: None, waiters: WaitList::new() })) }
    }

    /// The cause it was set with, `None` while it is not set.
    pub(crate) fn get(&self) -> Option<Cause> {
        self.inner.lock(|i| i.borrow().cause)
    }

    pub(crate) fn is_set(&self) -> bool {
        self.get().is_some()
    }

    /// Sets the event, keeping an earlier cause, and wakes every waiter. Returns whether this
    /// call set it.
    pub(crate) fn set(&self, cause: Cause) -> bool {
        let woken = self.inner.lock(|i| {
            let mut i = i.borrow_mut();
            if i.cause.is_some() {
                return None;
            }
            i.cause = Some(cause);
            Some(i.waiters.take())
        });
        woken.map(super::Woken::wake).is_some()
    }

    /// `Ready` with the cause once the event is set; otherwise registers the waker of `cx`
    /// (under the lock that checked it, so that no `set` is missed in between).
    pub(crate) fn poll_wait(&self, cx: &Context<'_>) -> Poll<Cause> {
        let (poll, woken) = self.inner.lock(|i| {
            let mut i = i.borrow_mut();
            if let Some(cause) = i.cause {
                return (Poll::Ready(cause), None);
            }
            match i.waiters.register(cx.waker()) {
                Ok(()) => (Poll::Pending, None),
                Err(super::Full) => {
                    i.cause = Some(Cause::Overflow);
                    (Poll::Ready(Cause::Overflow), Some(i.waiters.take()))
                }
            }
        });
        if let Some(woken) = woken {
            woken.wake();
        }
        poll
    }

    /// Waits until the event is set; returns its cause. Cancel safe (the event is sticky).
    pub(crate) async fn wait(&self) -> Cause {
        core::future::poll_fn(|cx| self.poll_wait(cx)).await
    }
}

impl<M: RawMutex, const N: usize> Drop for Event<M, N> {
    fn drop(&mut self) {
        self.inner.get_mut().get_mut().waiters.forget_spilled();
    }
}

impl<M: RawMutex, const N: usize> core::fmt::Debug for Event<M, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Event").field("set", &self.get()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use core::task::{Context, Poll};

    use embassy_sync::blocking_mutex::raw::NoopRawMutex;

    use super::Event;
    use crate::ctx::Cause;
    use crate::waitqueue::test_support::counter;

    /// Two tasks wait in the slots; `set` wakes each once, keeps the first cause, and later
    /// waits see it at once.
    #[test]
    fn set_wakes_every_waiter_once_and_keeps_its_cause() {
        let event = Event::<NoopRawMutex, 2>::new();
        let (a, wa) = counter();
        let (b, wb) = counter();
        assert!(event.poll_wait(&Context::from_waker(&wa)).is_pending());
        assert!(event.poll_wait(&Context::from_waker(&wb)).is_pending());
        assert!(event.poll_wait(&Context::from_waker(&wa)).is_pending(), "the same task again");
        assert!(event.set(Cause::Parent));
        assert!(!event.set(Cause::Shutdown));
        assert_eq!((a.count(), b.count()), (1, 1));
        assert_eq!(event.poll_wait(&Context::from_waker(&wa)), Poll::Ready(Cause::Parent));
    }

    /// Without `alloc`, with its slot and the spill table full, an event that cannot keep one
    /// more waiter sets itself with `Cause::Overflow`, wakes the waiter it kept once, and
    /// wakes nobody before.
    #[test]
    #[cfg(not(feature = "alloc"))]
    fn an_event_that_cannot_keep_a_waiter_sets_itself_with_overflow() {
        use crate::waitqueue::{spill, test_support};

        let _table = test_support::fill_lock();
        // Fill the spill table under keys of nothing (low even numbers are no context's address,
        // and the keys of wait lists are odd).
        let fillers: [_; spill::SPILL_SLOTS] = core::array::from_fn(|_| counter());
        for (i, (_, waker)) in fillers.iter().enumerate() {
            assert!(spill::register_key(2 * (i + 1), waker));
        }
        let event = Event::<NoopRawMutex, 1>::new();
        let (a, wa) = counter();
        let (b, wb) = counter();
        assert!(event.poll_wait(&Context::from_waker(&wa)).is_pending());
        assert_eq!(a.count(), 0);
        assert_eq!(event.poll_wait(&Context::from_waker(&wb)), Poll::Ready(Cause::Overflow));
        assert_eq!(event.get(), Some(Cause::Overflow));
        assert_eq!((a.count(), b.count()), (1, 0));
        for i in 0..spill::SPILL_SLOTS {
            spill::clear_key(2 * (i + 1));
        }
    }
}
