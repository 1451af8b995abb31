//! Slot bookkeeping for handles that run up to a number of children inside a driver future:
//! the context, the queue of items handed over and not yet taken, how many are queued or
//! running, closing, the driver's claim, and the waits for an idle handle.
//!
//! Generic over the queue `Q` (a `heapless::Deque` for a fixed capacity, a `Vec` with
//! `alloc`) and over `S`, the state of the handle's own (a group's generations), which sees
//! every moment at which the handle becomes idle ([`Extra::on_idle`]) under the same lock.
//! The handles differ only in what they queue, what `S` holds and how their driver runs a
//! child.

use core::cell::RefCell;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll};

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;

use crate::ctx::{Ctx, Waiters};
use crate::shot::GoError;

/// The handle's own state, told of each idle moment.
pub(crate) trait Extra {
    /// Called under the lock each time no item is queued or running any more.
    fn on_idle(&mut self);
    /// Called under the lock when a driver went away while children ran (they were dropped).
    fn on_driver_lost(&mut self);
}

/// The shared bookkeeping; see the module docs.
pub(crate) struct Slots<'a, M: RawMutex, Q, S> {
    ctx: Ctx<'a>,
    book: Mutex<M, RefCell<Book<Q, S>>>,
    /// Waiters for an idle handle.
    idle: Waiters,
    /// The driver, waiting for items, for the close or for its release.
    driver: Waiters,
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
}

impl<Q, S: Extra> Book<Q, S> {
    /// Counts `n` items gone (ended or dropped) and tells whether the handle became idle.
    fn gone(&mut self, n: usize) -> bool {
        if n == 0 {
            return false;
        }
        self.active -= n;
        if self.active == 0 {
            self.idles = self.idles.wrapping_add(1);
            self.extra.on_idle();
            return true;
        }
        false
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
            })),
            idle: Waiters::new(),
            driver: Waiters::new(),
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
        self.with(|book| {
            if book.closed {
                return Err(GoError::Closed(item));
            }
            if book.active >= capacity {
                return Err(GoError::Full(item));
            }
            push(&mut book.queue, item).map_err(GoError::Full)?;
            book.active += 1;
            Ok(())
        })?;
        self.driver.wake();
        Ok(())
    }

    /// `None` if nothing is queued or running; otherwise the count of idle moments to see go
    /// up.
    pub(crate) fn idle_from(&self) -> Option<u32> {
        self.with(|book| (book.active > 0).then_some(book.idles))
    }

    /// `Ready` once the handle was idle since `from` was read (at once for `None`).
    pub(crate) fn poll_idle(&self, from: Option<u32>, cx: &Context<'_>) -> Poll<()> {
        self.poll_idle_until(cx, |book| from.is_none_or(|from| book.active == 0 || book.idles != from))
    }

    /// `Ready` once `f` holds; otherwise registers as a waiter for the next idle moment (or
    /// [`wake_idle`](Self::wake_idle)).
    pub(crate) fn poll_idle_until(&self, cx: &Context<'_>, f: impl Fn(&Book<Q, S>) -> bool) -> Poll<()> {
        if self.with(|book| f(book)) {
            return Poll::Ready(());
        }
        self.idle.register(cx);
        if self.with(|book| f(book)) { Poll::Ready(()) } else { Poll::Pending }
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
    pub(crate) fn poll_take<T>(
        &self,
        cx: &Context<'_>,
        claim: &Claim<'_, 'a, M, Q, S>,
        pop: impl Fn(&mut Q) -> Option<T>,
    ) -> Poll<Option<T>> {
        let take = || {
            self.with(|book| {
                if !book.driving || book.claim != claim.id {
                    return Some(None);
                }
                match pop(&mut book.queue) {
                    Some(item) => {
                        book.running += 1;
                        Some(Some(item))
                    }
                    None if book.closed => Some(None),
                    None => None,
                }
            })
        };
        if let Some(next) = take() {
            return Poll::Ready(next);
        }
        self.driver.register(cx);
        match take() {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
    }

    /// Counts a child that returned; wakes the waiters when it was the last.
    pub(crate) fn ended(&self) {
        let idle = self.with(|book| {
            book.running -= 1;
            book.gone(1)
        });
        if idle {
            self.idle.wake();
        }
    }

    /// Closes the handle (no more items) and wakes the driver. With `drop_queue`, also drops
    /// what is queued (outside the lock) and counts it gone. Returns whether this call closed
    /// it.
    pub(crate) fn close(&self, drop_queue: impl FnOnce(&mut Book<Q, S>) -> Option<Q>) -> bool {
        let (changed, dropped, idle) = self.with(|book| {
            let changed = !core::mem::replace(&mut book.closed, true);
            let dropped = drop_queue(book);
            let idle = if dropped.is_some() { book.gone(book.active - book.running) } else { false };
            (changed, dropped, idle)
        });
        drop(dropped);
        self.driver.wake();
        if idle {
            self.idle.wake();
        }
        changed
    }
}

/// The driver's claim. Dropped while children run (they were dropped with the driver), it
/// closes the handle, drops the queue, counts everything gone and wakes the waiters; dropped
/// otherwise, it only gives the place up (the queue stays for a later driver).
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
                return false;
            }
            if book.claim == self.id {
                book.driving = false;
            }
            true
        });
        if released {
            self.released.store(true, Ordering::SeqCst);
            self.slots.driver.wake();
        }
        released
    }
}

impl<M: RawMutex, Q: Default, S: Extra> Drop for Claim<'_, '_, M, Q, S> {
    fn drop(&mut self) {
        if self.released.load(Ordering::SeqCst) {
            return;
        }
        let (queue, idle) = self.slots.with(|book| {
            if book.claim != self.id || !book.driving {
                return (None, false);
            }
            book.driving = false;
            if book.running == 0 {
                return (None, false);
            }
            book.closed = true;
            book.extra.on_driver_lost();
            let queue = core::mem::take(&mut book.queue);
            book.running = 0;
            let n = book.active;
            (Some(queue), book.gone(n))
        });
        // Items may use the handle when dropped: drop them outside the lock.
        drop(queue);
        self.slots.driver.wake();
        if idle {
            self.slots.idle.wake();
        }
    }
}
