//! Slot bookkeeping for handles that run up to a number of children inside a driver future
//! (the groups of [`crate::group`] and of [`crate::shot`]): the context, the queue of items
//! handed over and not yet taken, how many are queued or running, closing, the driver's claim,
//! and the waits for an idle handle.
//!
//! Generic over the queue `Q` (a `heapless::Deque` for a fixed capacity, a `Vec` or `VecDeque`
//! with `alloc`) and over `S`, the handle's own state (a group's generations, or `()`), which
//! sees every moment at which the handle becomes idle ([`Extra::on_idle`]) under the same lock.
//! The handles differ only in what they queue, what `S` holds and how their driver runs a
//! child.
//!
//! Everything, the waiters included, lives in one `Mutex<M, RefCell<..>>`: a change of state
//! and the registrations it concerns happen under one lock, and the wakers a change takes out
//! are woken after the lock is released.

use crate::sync::{AtomicBool, Ordering};
use core::cell::RefCell;
use core::future::{Future, poll_fn};
use core::task::{Context, Poll, Waker};

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;

use crate::ctx::Ctx;
use crate::shot::GoError;
use crate::waitqueue::{Full, Slot, WAITER_SLOTS, WaitList, Woken};

/// The handle's own state, told of each idle moment.
pub(crate) trait Extra {
    /// Whether the end of every driver (returned or dropped) closes the handle, drops its
    /// queue and cancels its context (the `shot` groups). Otherwise a driver dropped while no
    /// child runs only gives its place up, and one dropped while children run closes the
    /// handle without cancelling the context.
    const CLOSE_ON_DRIVER_END: bool = false;

    /// Called under the lock each time no item is queued or running any more.
    fn on_idle(&mut self) {}

    /// Called under the lock when a driver went away while children ran (they were dropped).
    fn on_driver_lost(&mut self) {}
}

impl Extra for () {
    const CLOSE_ON_DRIVER_END: bool = true;
}

/// The shared bookkeeping; see the module docs.
pub(crate) struct Slots<'a, M: RawMutex, Q, S> {
    ctx: Ctx<'a>,
    book: Mutex<M, RefCell<Book<Q, S>>>,
}

/// What the lock protects.
pub(crate) struct Book<Q, S> {
    pub(crate) queue: Q,
    /// Items queued or running.
    pub(crate) active: usize,
    /// Items taken by the driver and not ended yet.
    pub(crate) running: usize,
    /// How many times `active` went down to zero.
    pub(crate) idles: u32,
    /// No more items are accepted; the driver ends once idle.
    pub(crate) closed: bool,
    /// A driver holds the claim.
    pub(crate) driving: bool,
    /// Which claim is the current one: a released driver takes nothing more.
    pub(crate) claim: u32,
    pub(crate) extra: S,
    /// Waiters for an idle handle (and for what `S` tells of an idle moment).
    idle: WaitList<WAITER_SLOTS>,
    /// The driver, waiting for items, for the close or for its release (one future: a new
    /// waker replaces the old one).
    driver: Slot,
}

/// What a change took out of the lock, to be woken (and dropped) once it is released.
#[must_use = "the taken wakers must be woken"]
struct Taken<Q> {
    idle: Woken<WAITER_SLOTS>,
    driver: Option<Waker>,
    dropped: Option<Q>,
}

impl<Q> Taken<Q> {
    fn wake(self) {
        // Items may use the handle when dropped: dropped outside the lock, before the wakes.
        drop(self.dropped);
        if let Some(driver) = self.driver {
            driver.wake();
        }
        self.idle.wake();
    }
}

impl<Q, S: Extra> Book<Q, S> {
    /// Counts `n` items gone (ended or dropped); if the handle became idle, takes the waiters
    /// of `idle` out.
    fn gone(&mut self, n: usize) -> Woken<WAITER_SLOTS> {
        if n == 0 {
            return Woken::NONE;
        }
        self.active -= n;
        if self.active > 0 {
            return Woken::NONE;
        }
        self.idles = self.idles.wrapping_add(1);
        self.extra.on_idle();
        self.idle.take()
    }

    /// Registers `waker` as a waiter of the next idle moment; call it after checking the
    /// condition under the same lock.
    fn register_idle(&mut self, waker: &Waker) -> Result<(), Full> {
        self.idle.register(waker)
    }
}

impl<'a, M: RawMutex, Q: Default, S: Extra> Slots<'a, M, Q, S> {
    pub(crate) const fn new(ctx: Ctx<'a>, queue: Q, extra: S) -> Self {
        Self {
            ctx,
            book: Mutex::new(RefCell::new(Book {
                queue,
                active: 0,
                running: 0,
                idles: 0,
                closed: false,
                driving: false,
                claim: 0,
                extra,
                idle: WaitList::new(),
                driver: Slot::new(),
            })),
        }
    }

    pub(crate) fn context(&self) -> &Ctx<'a> {
        &self.ctx
    }

    /// Runs `f` on the book under the lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Book<Q, S>) -> R) -> R {
        self.book.lock(|book| f(&mut book.borrow_mut()))
    }

    /// Queues `item` with `push` unless the handle is closed or `capacity` items are queued or
    /// running, and wakes the driver. `push` may refuse (the queue is full).
    pub(crate) fn go<T>(
        &self,
        item: T,
        capacity: usize,
        push: impl FnOnce(&mut Q, T) -> Result<(), T>,
    ) -> Result<(), GoError<T>> {
        let driver = self.with(|book| {
            if book.closed {
                return Err(GoError::Closed(item));
            }
            if book.active >= capacity {
                return Err(GoError::Full(item));
            }
            push(&mut book.queue, item).map_err(GoError::Full)?;
            book.active += 1;
            Ok(book.driver.take())
        })?;
        if let Some(driver) = driver {
            driver.wake();
        }
        Ok(())
    }

    /// `None` if nothing is queued or running; otherwise the count of idle moments to see go
    /// up.
    pub(crate) fn idle_from(&self) -> Option<u32> {
        self.with(|book| (book.active > 0).then_some(book.idles))
    }

    /// `Ready` once the handle was idle since `from` was read (at once for `None`).
    /// `Ready(Err(Full))` when the waiter could be kept nowhere (without `alloc` only).
    pub(crate) fn poll_idle(&self, from: Option<u32>, cx: &Context<'_>) -> Poll<Result<(), Full>> {
        let Some(from) = from else { return Poll::Ready(Ok(())) };
        self.poll_idle_until(cx, |book| book.active == 0 || book.idles != from)
    }

    /// `Ready` once `f` holds; otherwise registers as a waiter for the next idle moment. The check and the registration happen under one lock.
    /// `Ready(Err(Full))` when the waiter could be kept nowhere (without `alloc` only).
    pub(crate) fn poll_idle_until(
        &self,
        cx: &Context<'_>,
        f: impl FnOnce(&Book<Q, S>) -> bool,
    ) -> Poll<Result<(), Full>> {
        self.with(|book| {
            if f(book) {
                return Poll::Ready(Ok(()));
            }
            match book.register_idle(cx.waker()) {
                Ok(()) => Poll::Pending,
                Err(full) => Poll::Ready(Err(full)),
            }
        })
    }

    /// Claims the driver's place, or `None` if another driver holds it.
    pub(crate) fn claim(&self) -> Option<Claim<'_, 'a, M, Q, S>> {
        let id = self.with(|book| {
            if book.driving {
                return None;
            }
            book.driving = true;
            book.claim = book.claim.wrapping_add(1);
            Some(book.claim)
        })?;
        Some(Claim { slots: self, id, released: AtomicBool::new(false) })
    }

    /// The next item for the driver of `claim`, taken with `pop` and counted as running;
    /// `None` once the handle is closed and nothing is queued, or once the claim was released.
    /// Otherwise registers the driver, under the same lock, to be woken by the next `go`,
    /// close or release.
    pub(crate) fn poll_take<T>(
        &self,
        cx: &Context<'_>,
        claim: &Claim<'_, 'a, M, Q, S>,
        pop: impl FnOnce(&mut Q) -> Option<T>,
    ) -> Poll<Option<T>> {
        self.with(|book| {
            if !book.driving || book.claim != claim.id {
                return Poll::Ready(None);
            }
            match pop(&mut book.queue) {
                Some(item) => {
                    book.running += 1;
                    Poll::Ready(Some(item))
                }
                None if book.closed => Poll::Ready(None),
                None => {
                    book.driver.register(cx.waker());
                    Poll::Pending
                }
            }
        })
    }

    /// Counts a child that returned; wakes the waiters when it was the last.
    pub(crate) fn ended(&self) {
        let woken = self.with(|book| {
            book.running -= 1;
            book.gone(1)
        });
        woken.wake();
    }

    /// Closes the handle (no more items) and wakes the driver, under one lock. With
    /// `drop_queue` returning the queue, also drops what is queued (outside the lock) and
    /// counts it gone; `then` runs under the same lock afterwards (the rest of the change; what
    /// it returns is for the caller to wake). Returns whether this call closed the handle, and
    /// what `then` returned.
    pub(crate) fn close<R>(
        &self,
        drop_queue: impl FnOnce(&mut Book<Q, S>) -> Option<Q>,
        then: impl FnOnce(&mut Book<Q, S>) -> R,
    ) -> (bool, R) {
        let (changed, taken, out) = self.with(|book| {
            let changed = !core::mem::replace(&mut book.closed, true);
            let dropped = drop_queue(book);
            let idle = if dropped.is_some() { book.gone(book.active - book.running) } else { Woken::NONE };
            let out = then(book);
            (changed, Taken { idle, driver: book.driver.take(), dropped }, out)
        });
        taken.wake();
        (changed, out)
    }
}

impl<M: RawMutex, Q, S> Drop for Slots<'_, M, Q, S> {
    fn drop(&mut self) {
        // Nothing can wait on a handle that is going away (waiters borrow it).
        let book = self.book.get_mut().get_mut();
        book.idle.forget_spilled();
    }
}

/// The driver's claim. Dropped while children run (they were dropped with the driver), it
/// closes the handle, drops the queue, counts everything gone and wakes the waiters; dropped
/// otherwise, it only gives the place up (the queue stays for a later driver). With
/// [`Extra::CLOSE_ON_DRIVER_END`], its drop always closes the handle, drops the queue, counts
/// everything gone, cancels the context and wakes the waiters.
pub(crate) struct Claim<'s, 'a, M: RawMutex, Q: Default, S: Extra> {
    slots: &'s Slots<'a, M, Q, S>,
    id: u32,
    released: AtomicBool,
}

impl<M: RawMutex, Q: Default, S: Extra> Claim<'_, '_, M, Q, S> {
    /// Gives the place up if nothing is queued or running; returns whether it did. The
    /// driver of this claim then takes nothing more and ends.
    pub(crate) fn release_if_idle(&self) -> bool {
        let released = self.slots.with(|book| {
            if book.active > 0 {
                return None;
            }
            if book.claim == self.id {
                book.driving = false;
            }
            Some(book.driver.take())
        });
        let Some(driver) = released else { return false };
        self.released.store(true, Ordering::SeqCst);
        if let Some(driver) = driver {
            driver.wake();
        }
        true
    }
}

impl<M: RawMutex, Q: Default, S: Extra> Drop for Claim<'_, '_, M, Q, S> {
    fn drop(&mut self) {
        if self.released.load(Ordering::SeqCst) && !S::CLOSE_ON_DRIVER_END {
            return;
        }
        let taken = self.slots.with(|book| {
            if book.claim != self.id || !book.driving {
                return None;
            }
            book.driving = false;
            if book.running == 0 && !S::CLOSE_ON_DRIVER_END {
                return None;
            }
            book.closed = true;
            if book.running > 0 {
                book.extra.on_driver_lost();
            }
            let dropped = Some(core::mem::take(&mut book.queue));
            book.running = 0;
            let n = book.active;
            let idle = book.gone(n);
            Some(Taken { idle, driver: book.driver.take(), dropped })
        });
        let mut taken = taken;
        if let Some(taken) = &mut taken {
            drop(taken.dropped.take());
        }
        // Cancelled before the waiters are woken: they see the end complete.
        if S::CLOSE_ON_DRIVER_END {
            self.slots.ctx.cancel();
        }
        if let Some(taken) = taken {
            taken.wake();
        }
    }
}

impl<M: RawMutex, Q: Default> Slots<'_, M, Q, ()> {
    /// The close of the `shot` groups: cancels the context, refuses further items, wakes the
    /// driver (so that it can end once idle) and waits until nothing is queued or running, or
    /// `deadline` completes.
    pub(crate) async fn close_cancel(&self, deadline: impl Future<Output = ()>) -> Result<(), crate::shot::Error> {
        self.ctx.cancel();
        self.close(|_| None, |_| ());
        let idle = poll_fn(|cx| self.poll_idle_until(cx, |book| book.active == 0));
        match select(idle, deadline).await {
            Either::First(Ok(())) => Ok(()),
            Either::First(Err(Full)) => Err(crate::shot::Error::Overflow),
            Either::Second(()) => Err(crate::shot::Error::Deadline),
        }
    }
}
