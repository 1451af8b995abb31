//! The bookkeeping [`Group`](super::Group) and `DynGroup` share: the context, the queue of
//! jobs handed over, how many are queued or running, closing, the driver's claim and its end,
//! and the waits. The groups differ only in what they queue and how their driver runs it.

use core::cell::RefCell;
use core::future::{Future, poll_fn};
use core::task::{Context, Poll};

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;

use super::error::{Error, GoError};
use crate::ctx::Ctx;
use crate::waitqueue::{Full, Slot, WAITER_SLOTS, WaitList, Woken};

/// A group's context and jobs; `Q` is the queue of jobs handed to `go` and not yet taken by
/// the driver.
pub(super) struct Jobs<'a, M: RawMutex, Q> {
    ctx: Ctx<'a>,
    book: Mutex<M, RefCell<Book<Q>>>,
}

struct Book<Q> {
    queue: Q,
    /// Jobs queued or running.
    active: usize,
    /// How many times `active` went down to zero.
    idles: u32,
    /// `close` was called, or the driver ended: `go` refuses, the driver ends when idle.
    closed: bool,
    driving: bool,
    /// Waiters for `done` and `close`: woken when `idles` moves on, under the same lock.
    idle: WaitList<WAITER_SLOTS>,
    /// The driver, waiting for jobs or for `close` (one future: a new waker replaces the old).
    driver: Slot,
}

impl<'a, M: RawMutex, Q> Jobs<'a, M, Q> {
    pub(super) const fn new(ctx: Ctx<'a>, queue: Q) -> Self {
        Self {
            ctx,
            book: Mutex::new(RefCell::new(Book {
                queue,
                active: 0,
                idles: 0,
                closed: false,
                driving: false,
                idle: WaitList::new(),
                driver: Slot::new(),
            })),
        }
    }

    fn key(&self) -> usize {
        core::ptr::from_ref(self).cast::<()>() as usize
    }

    pub(super) fn context(&self) -> &Ctx<'a> {
        &self.ctx
    }

    /// Queues `job` with `push` unless the group is closed or `capacity` jobs are queued or
    /// running, and wakes the driver.
    pub(super) fn go<T>(
        &self,
        job: T,
        capacity: usize,
        push: impl FnOnce(&mut Q, T) -> Result<(), T>,
    ) -> Result<(), GoError<T>> {
        let driver = self.book.lock(|book| {
            let mut book = book.borrow_mut();
            if book.closed {
                return Err(GoError::Closed(job));
            }
            if book.active >= capacity {
                return Err(GoError::Full(job));
            }
            push(&mut book.queue, job).map_err(GoError::Full)?;
            book.active += 1;
            Ok(book.driver.take())
        })?;
        if let Some(driver) = driver {
            driver.wake();
        }
        Ok(())
    }

    /// What a wait made now waits for: `None` if no job is queued or running, otherwise the
    /// count of idle moments it waits to see go up.
    pub(super) fn wait_from(&self) -> Option<u32> {
        self.book.lock(|book| {
            let book = book.borrow();
            (book.active > 0).then_some(book.idles)
        })
    }

    /// Whether no job is queued or running.
    pub(super) fn is_idle(&self) -> bool {
        self.wait_from().is_none()
    }

    /// `Ready` while no job is queued or running; otherwise registers the waker of `cx`.
    pub(super) fn poll_idle_now(&self, cx: &Context<'_>) -> Poll<()> {
        self.poll_idle(self.wait_from(), cx)
    }

    /// `Ready` once the group is idle or has been idle since `from`; otherwise registers the
    /// waker of `cx`. A waiter that could be kept nowhere (without `alloc`) is `Ready` at once.
    pub(super) fn poll_idle(&self, from: Option<u32>, cx: &Context<'_>) -> Poll<()> {
        self.poll_idle_or_full(from, cx).map(|_| ())
    }

    /// As `poll_idle`, telling a waiter that could be kept nowhere apart.
    fn poll_idle_or_full(&self, from: Option<u32>, cx: &Context<'_>) -> Poll<Result<(), Full>> {
        let Some(from) = from else { return Poll::Ready(Ok(())) };
        let key = self.key();
        // The check and the registration under one lock: no end of a job is missed between.
        self.book.lock(|book| {
            let mut book = book.borrow_mut();
            if book.active == 0 || book.idles != from {
                return Poll::Ready(Ok(()));
            }
            match book.idle.register(key, cx.waker()) {
                Ok(()) => Poll::Pending,
                Err(full) => Poll::Ready(Err(full)),
            }
        })
    }

    /// Cancels the context, refuses further jobs, wakes the driver (so that it can end once
    /// idle) and waits until the group is idle or `deadline` completes.
    pub(super) async fn close(&self, deadline: impl Future<Output = ()>) -> Result<(), Error> {
        self.ctx.cancel();
        let (from, driver) = self.book.lock(|book| {
            let mut book = book.borrow_mut();
            book.closed = true;
            ((book.active > 0).then_some(book.idles), book.driver.take())
        });
        if let Some(driver) = driver {
            driver.wake();
        }
        match select(poll_fn(|cx| self.poll_idle_or_full(from, cx)), deadline).await {
            Either::First(Ok(())) => Ok(()),
            Either::First(Err(Full)) => Err(Error::Overflow),
            Either::Second(()) => Err(Error::Deadline),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.book.lock(|book| book.borrow().closed)
    }

    /// How many jobs are queued or running, and whether the group is closed.
    pub(super) fn active_and_closed(&self) -> (usize, bool) {
        self.book.lock(|book| {
            let book = book.borrow();
            (book.active, book.closed)
        })
    }

    /// Claims the driver's place; the returned guard ends the group when the driver ends or is
    /// dropped.
    ///
    /// # Errors
    ///
    /// - [`Error::Running`] if another driver holds it.
    pub(super) fn claim(&self) -> Result<DriverEnd<'_, 'a, M, Q>, Error>
    where
        Q: Default,
    {
        let claimed = self.book.lock(|book| !core::mem::replace(&mut book.borrow_mut().driving, true));
        if claimed { Ok(DriverEnd { jobs: self }) } else { Err(Error::Running) }
    }

    /// Registers the driver to be woken by the next `go` or `close`.
    pub(super) fn register_driver(&self, cx: &Context<'_>) {
        self.book.lock(|book| book.borrow_mut().driver.register(cx.waker()));
    }

    /// Runs `f` on the queue, with whether the group is closed, under the lock.
    pub(super) fn with_queue<R>(&self, f: impl FnOnce(&mut Q, bool) -> R) -> R {
        self.book.lock(|book| {
            let mut book = book.borrow_mut();
            let closed = book.closed;
            f(&mut book.queue, closed)
        })
    }

    /// Counts a job that returned; wakes the waits when it was the last.
    pub(super) fn job_ended(&self) {
        let key = self.key();
        let woken = self.book.lock(|book| {
            let mut book = book.borrow_mut();
            book.active -= 1;
            if book.active > 0 {
                return Woken::NONE;
            }
            book.idles = book.idles.wrapping_add(1);
            book.idle.take(key)
        });
        woken.wake();
    }
}

impl<M: RawMutex, Q> Drop for Jobs<'_, M, Q> {
    fn drop(&mut self) {
        // Nothing can wait on a group that is going away (waiters borrow it).
        let key = self.key();
        self.book.get_mut().get_mut().idle.forget_spilled(key);
    }
}

/// Ends the group when its driver ends or is dropped: closes it, drops what is still queued,
/// cancels the context and wakes the waiters of `done` and `close`.
pub(super) struct DriverEnd<'j, 'a, M: RawMutex, Q: Default> {
    jobs: &'j Jobs<'a, M, Q>,
}

impl<M: RawMutex, Q: Default> Drop for DriverEnd<'_, '_, M, Q> {
    fn drop(&mut self) {
        let key = self.jobs.key();
        let (queued, woken) = self.jobs.book.lock(|book| {
            let mut book = book.borrow_mut();
            book.closed = true;
            book.driving = false;
            if book.active > 0 {
                book.active = 0;
                book.idles = book.idles.wrapping_add(1);
            }
            (core::mem::take(&mut book.queue), book.idle.take(key))
        });
        // The jobs may use the group when dropped: drop them outside the lock.
        drop(queued);
        self.jobs.ctx.cancel();
        woken.wake();
    }
}
