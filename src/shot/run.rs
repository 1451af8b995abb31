//! The state machine shared by [`One`](super::One) and [`Many`](super::Many), the run guard and
//! the futures that wait for the end of a run.
//!
//! # Invariants
//!
//! 1. The state, the end-of-run/close requests and the count of finished runs (`ends`) change
//!    together, under one lock: "done" is not a second flag but `ends` moving on, so a task can
//!    never see the state Stopped or Closed while done is still pending, or the reverse.
//! 2. `ends` moves on exactly when the state leaves Initial or Running for Stopped or Closed.
//! 3. A state leaves Running only when the run's [`Run`] guard is dropped (or consumed): every
//!    run has exactly one guard, so a guard can never end a later run.
//! 4. The context of a run is cancelled under the same lock that checks the state, so a
//!    request can never cancel a later run; for `Many` it is reset only by the `start` that
//!    begins the next run, when no guard (and so no borrow of it) exists.

use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;

use super::error::Error;
use super::state::State;

use crate::ctx::{Cause, Ctx};
use crate::waitqueue::{Full, WAITER_SLOTS, WaitList, Woken};

#[derive(Debug)]
struct Inner {
    state: State,
    /// How many times the state went from Initial or Running to Stopped or Closed.
    ends: u32,
    /// A close was requested while running: the run ends in Closed.
    closing: bool,
    /// Tasks waiting for `ends` to move on: woken by the change, under the same lock.
    waiters: WaitList<WAITER_SLOTS>,
}

/// What a request found, and what it needs the caller to wait for.
pub(crate) struct Request {
    pub(crate) prev: State,
    /// Whether the request changed anything (a state, a cancellation, a close to come).
    pub(crate) changed: bool,
    /// `Some(ends)` when the caller must wait for the running run to end.
    pub(crate) wait: Option<u32>,
}

pub(crate) struct Core<'a, M: RawMutex> {
    ctx: Ctx<'a>,
    inner: Mutex<M, RefCell<Inner>>,
    restartable: bool,
}

impl<'a, M: RawMutex> Core<'a, M> {
    pub(crate) const fn new(ctx: Ctx<'a>, restartable: bool) -> Self {
        Self {
            ctx,
            inner: Mutex::new(RefCell::new(Inner {
                state: State::Initial,
                ends: 0,
                closing: false,
                waiters: WaitList::new(),
            })),
            restartable,
        }
    }

    /// The context; for `Many` only valid to hand out through a guard (invariant 4).
    pub(crate) fn ctx(&self) -> &Ctx<'a> {
        &self.ctx
    }

    pub(crate) fn state(&self) -> State {
        self.inner.lock(|c| c.borrow().state)
    }

    /// Runs `f` on the state under the lock, and wakes the waiters if `ends` moved on, after
    /// releasing it (invariant 2). `f` may cancel the context (which wakes its waiters): under
    /// the lock, so that a request reaches the run it was meant for and never a later one. A
    /// waker only schedules its task (no executor runs a task inside `wake`), so nothing
    /// re-enters the lock.
    fn update<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let (r, woken) = self.inner.lock(|c| {
            let mut inner = c.borrow_mut();
            let ends = inner.ends;
            let r = f(&mut inner);
            let woken = if inner.ends == ends { Woken::NONE } else { inner.waiters.take() };
            (r, woken)
        });
        woken.wake();
        r
    }

    pub(crate) fn start(&self) -> Result<Run<'_, 'a, M>, Error> {
        self.begin().map(|()| Run { core: self })
    }

    /// Moves to Running; the caller makes the one guard of the run (invariant 3).
    pub(crate) fn begin(&self) -> Result<(), Error> {
        self.update(|inner| match inner.state {
            State::Initial => {
                inner.state = State::Running;
                Ok(())
            }
            State::Stopped if self.restartable => {
                // A fresh context for the new run: the previous run's guard is gone (invariant 4).
                self.ctx.reset();
                inner.state = State::Running;
                Ok(())
            }
            State::Running => Err(Error::Running),
            State::Stopped | State::Closed => Err(Error::Closed),
        })
    }

    /// The end of a run: called once, by its guard.
    pub(crate) fn finish(&self) {
        self.update(|inner| {
            let parent_cancelled = self.ctx.parent().is_some_and(Ctx::is_cancelled);
            self.ctx.cancel_with(Cause::Parent);
            inner.state =
                if self.restartable && !inner.closing && !parent_cancelled { State::Stopped } else { State::Closed };
            inner.closing = false;
            inner.ends = inner.ends.wrapping_add(1);
        });
    }

    /// Requests a close: Initial and Stopped become Closed at once, a running run is cancelled
    /// and ends in Closed.
    pub(crate) fn request_close(&self) -> Request {
        self.update(|inner| {
            let prev = inner.state;
            match prev {
                State::Initial => {
                    self.ctx.cancel_with(Cause::Shutdown);
                    inner.state = State::Closed;
                    inner.ends = inner.ends.wrapping_add(1);
                    Request { prev, changed: true, wait: None }
                }
                State::Running => {
                    let changed = !core::mem::replace(&mut inner.closing, true);
                    self.ctx.cancel_with(Cause::Shutdown);
                    Request { prev, changed, wait: Some(inner.ends) }
                }
                State::Stopped => {
                    inner.state = State::Closed;
                    Request { prev, changed: true, wait: None }
                }
                State::Closed => Request { prev, changed: false, wait: None },
            }
        })
    }

    /// Requests the end of the current run (restartable only): Initial becomes Stopped at
    /// once, a running run is cancelled and ends in Stopped (or Closed, if a close was
    /// requested too).
    pub(crate) fn request_end_run(&self) -> Result<Request, Error> {
        self.update(|inner| {
            let prev = inner.state;
            match prev {
                State::Initial => {
                    self.ctx.cancel_with(Cause::Shutdown);
                    inner.state = State::Stopped;
                    inner.ends = inner.ends.wrapping_add(1);
                    Ok(Request { prev, changed: true, wait: None })
                }
                State::Running => {
                    let changed = self.ctx.cancel_with(Cause::Shutdown);
                    Ok(Request { prev, changed, wait: Some(inner.ends) })
                }
                State::Stopped => Ok(Request { prev, changed: false, wait: None }),
                State::Closed => Err(Error::Closed),
            }
        })
    }

    /// Waits for the run counted before `ends` to end, bounded by `deadline`. The end wins a
    /// tie.
    pub(crate) async fn wait_end(&self, ends: Option<u32>, deadline: impl Future<Output = ()>) -> Result<(), Error> {
        let end = core::future::poll_fn(|cx| self.poll_end(ends, cx));
        match select(end, deadline).await {
            Either::First(Ok(())) => Ok(()),
            Either::First(Err(Full)) => Err(Error::Overflow),
            Either::Second(()) => Err(Error::Deadline),
        }
    }

    /// The snapshot a done future waits from: `None` when the current cycle has ended already.
    pub(crate) fn done_from(&self) -> Option<u32> {
        self.inner.lock(|c| {
            let inner = c.borrow();
            match inner.state {
                State::Initial | State::Running => Some(inner.ends),
                State::Stopped | State::Closed => None,
            }
        })
    }

    pub(crate) fn done(&self) -> Done<'_, 'a, M> {
        Done { core: self, ends: self.done_from() }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done_from().is_none()
    }

    /// `Ready` while the current cycle has ended (Stopped or Closed); otherwise registers the
    /// waker of `cx`, to be woken at the next end.
    pub(crate) fn poll_done(&self, cx: &Context<'_>) -> Poll<()> {
        self.poll_end(self.done_from(), cx).map(|_| ())
    }

    /// `Ready(Ok)` once the run counted before `ends` has ended; otherwise registers the waker
    /// of `cx`, under the lock that checked `ends`, so that no end is missed in between.
    /// `Ready(Err(Full))` if the waker could be kept nowhere (without `alloc`).
    fn poll_end(&self, ends: Option<u32>, cx: &Context<'_>) -> Poll<Result<(), Full>> {
        let Some(ends) = ends else { return Poll::Ready(Ok(())) };
        self.inner.lock(|c| {
            let mut inner = c.borrow_mut();
            if inner.ends != ends {
                return Poll::Ready(Ok(()));
            }
            match inner.waiters.register(cx.waker()) {
                Ok(()) => Poll::Pending,
                Err(full) => Poll::Ready(Err(full)),
            }
        })
    }
}

impl<'a, M: RawMutex> Core<'a, M> {
    /// A view of the context of the run that is current now (or of the first run, in Initial).
    pub(crate) fn context_view(&self) -> RunContext<'_, 'a, M> {
        RunContext { core: self, ends: self.done_from() }
    }

    fn run_ended(&self, ends: Option<u32>) -> bool {
        ends.is_none_or(|ends| self.inner.lock(|c| c.borrow().ends != ends))
    }

    fn poll_run_cancelled(&self, ends: Option<u32>, cx: &mut Context<'_>) -> Poll<()> {
        if self.run_ended(ends) || self.ctx.poll_cancelled(cx).is_ready() {
            return Poll::Ready(());
        }
        // Every change of `ends` cancels the context first, under the lock, and so wakes the
        // waker registered above; a run that ended between the first check and the
        // registration (and a restart that reset the context since) shows in `ends`.
        if self.run_ended(ends) { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl<M: RawMutex> Drop for Core<'_, M> {
    fn drop(&mut self) {
        // Nothing can wait on a handle that is going away (waiters borrow it).
        self.inner.get_mut().get_mut().waiters.forget_spilled();
    }
}

impl<M: RawMutex> fmt::Debug for Core<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core").field("state", &self.state()).field("ctx", &self.ctx).finish_non_exhaustive()
    }
}

/// Future for the `done` methods of [`One`](super::One), [`Many`](super::Many) and
/// [`Job`](super::Job).
///
/// Completes when the run that was current when it was made ends: at once if the state was Stopped or Closed then; otherwise when that run's guard
/// is dropped, or when a close (or an end-of-run request) ends an Initial instance. A later restart does
/// not make it pending again.
///
/// Dropping it loses nothing; it holds no resource but a waker slot until the next wake.
/// Without `alloc`, a waiter that can be kept nowhere completes at once (see the
/// [module docs](super)); `is_done` tells.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Done<'s, 'a, M: RawMutex> {
    core: &'s Core<'a, M>,
    ends: Option<u32>,
}

impl<M: RawMutex> Future for Done<'_, '_, M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.core.poll_end(self.ends, cx).map(|_| ())
    }
}

impl<M: RawMutex> fmt::Debug for Done<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Done").field("pending", &self.ends.is_some()).finish_non_exhaustive()
    }
}

/// The context of one run of a [`Many`](super::Many) as seen from outside the run, returned by [`Many::context`](super::Many::context).
///
/// A `Many` reuses one [`Ctx`] for its runs (no heap), so a plain `&Ctx` handed out by the
/// `Many` would become live again when the next run starts. This view remembers the run it
/// was made in: it is cancelled when that run's context is cancelled, and stays cancelled once
/// that run has ended, whatever runs later. Made while the `Many` is Stopped or Closed, it
/// belongs to the run that has ended and is cancelled at once; made while it is Initial, it
/// belongs to the first run. The run itself watches its context through
/// [`Run::context`], which is a full [`Ctx`] (children, cause).
pub struct RunContext<'s, 'a, M: RawMutex> {
    core: &'s Core<'a, M>,
    /// The count of finished runs when the view was made; `None` if its run had ended.
    ends: Option<u32>,
}

impl<M: RawMutex> Clone for RunContext<'_, '_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: RawMutex> Copy for RunContext<'_, '_, M> {}

impl<'s, 'a, M: RawMutex> RunContext<'s, 'a, M> {
    /// Whether the run's context is cancelled or the run has ended.
    pub fn is_cancelled(&self) -> bool {
        self.core.run_ended(self.ends) || self.core.ctx.is_cancelled()
    }

    /// Completes once [`is_cancelled`](Self::is_cancelled) is true.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it loses nothing (its waker stays in a slot of the context until
    /// the next cancellation, as for [`Ctx::cancelled`] without `alloc`).
    pub fn cancelled(&self) -> RunCancelled<'s, 'a, M> {
        RunCancelled { view: *self }
    }
}

impl<M: RawMutex> fmt::Debug for RunContext<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunContext").field("cancelled", &self.is_cancelled()).finish_non_exhaustive()
    }
}

/// Future for [`RunContext::cancelled`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RunCancelled<'s, 'a, M: RawMutex> {
    view: RunContext<'s, 'a, M>,
}

impl<M: RawMutex> Future for RunCancelled<'_, '_, M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.view.core.poll_run_cancelled(self.view.ends, cx)
    }
}

impl<M: RawMutex> fmt::Debug for RunCancelled<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunCancelled").field("view", &self.view).finish()
    }
}

/// The guard of one run of a [`One`](super::One) or a [`Many`](super::Many), returned by their
/// `start`.
///
/// While it exists the instance is Running. Dropping it, or consuming it with
/// [`finish`](Self::finish), ends the run: the run's context is cancelled (with
/// [`Cause::Parent`]), the state becomes Stopped (a `Many` that may run again) or Closed (a
/// `One`, or a `Many` whose close was requested or whose parent context is cancelled), and every
/// `done` future of the run completes, all at once.
///
/// The guard is bound to its own run: it cannot end the run twice (it is consumed), and it
/// cannot end a later run (a later run has a guard of its own). A task that is dropped while it
/// holds the guard (the hard stop) ends the run too, so handles never wait for a run whose task
/// is gone.
///
/// It borrows its handle; with `alloc`, `OwnedRun` is the guard of a handle in an `Arc`,
/// which can be moved into a spawned task.
#[must_use = "dropping the guard ends the run at once"]
pub struct Run<'s, 'a, M: RawMutex> {
    core: &'s Core<'a, M>,
}

// === impl Run ===

impl<'a, M: RawMutex> Run<'_, 'a, M> {
    /// The context of this run: cancelled when a close or the end of the run is requested,
    /// when the parent context is cancelled, and when this run ends.
    ///
    /// The instance must return soon after it is cancelled. For a [`Many`](super::Many) every
    /// run gets a fresh context; the borrow ends with the guard, so no task can watch a
    /// context that a later run reuses.
    pub fn context(&self) -> &Ctx<'a> {
        self.core.ctx()
    }

    /// Ends the run (the same as dropping the guard).
    ///
    /// It consumes the guard, so it cannot be called twice:
    ///
    /// ```compile_fail,E0382
    /// use procession::shot::One;
    ///
    /// let one: One<'_> = One::detached();
    /// let run = one.start().unwrap();
    /// run.finish();
    /// run.finish(); // error: use of moved value
    /// ```
    pub fn finish(self) {}
}

impl<M: RawMutex> Drop for Run<'_, '_, M> {
    fn drop(&mut self) {
        self.core.finish();
    }
}

impl<M: RawMutex> fmt::Debug for Run<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run").field("ctx", self.core.ctx()).finish()
    }
}
