//! The engine shared by [`chain`](super::chain), [`parallel`](super::parallel) and
//! [`sequential`](super::sequential).
//!
//! Every child runs in a join arm of the combinator's own future, beside one more arm for the
//! main callback. The arms talk through the atomics of [`Group`] and wake each other through one
//! set of waker slots.
//!
//! # Invariants
//!
//! 1. The arms of one combinator are polled by one thread at a time (they are parts of one
//!    future), so a counter is updated with a plain load and store: no read-modify-write.
//! 2. `started` only grows, `top` only shrinks, `released` and `aborted` are set at most once.
//! 3. In `Chain` and `Sequential` mode, child `i` starts only once child `i - 1` is ready, and it
//!    returns from its callback only once every child above it has returned from `run`: children
//!    finish strictly from the top down.
//! 4. Every change of state is followed by `waiters.wake()`; every arm that waits registers in
//!    `waiters` before it checks the state again (no lost wakeup).

use core::convert::Infallible;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use core::task::Poll;

use embassy_futures::select::{Either, select};

use crate::ctx::{Cause, Ctx, Waiters};
use crate::error::Merge;
use crate::runner::Runner;

/// How the children of a group start and stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(unreachable_pub, reason = "named by the sealed part of `Children`, which users cannot reach")]
pub enum Mode {
    /// One after the other; a child's callback context being cancelled cancels everything above it.
    Chain,
    /// All at once; released all at once.
    Parallel,
    /// One after the other; stopped from the top down.
    Sequential,
}

/// Shared state of the arms of one group run.
pub(crate) struct Group<'c> {
    mode: Mode,
    len: usize,
    /// The context the group runs under; every child gets a child of it.
    parent: &'c Ctx<'c>,
    /// The main callback's context.
    main: Ctx<'c>,
    /// How many children are ready (Parallel), or the index of the next child to start.
    started: AtomicUsize,
    /// All children at `top` and above have finished (or will never start).
    top: AtomicUsize,
    /// The main callback has returned, or it will never run: children may stop.
    released: AtomicBool,
    /// A child failed to start: nothing further starts.
    aborted: AtomicBool,
    /// Chain: every arm from this index up has its context cancelled with `cascade_cause`.
    cascade_from: AtomicUsize,
    cascade_cause: AtomicU8,
    waiters: Waiters,
}

/// `Cause` as stored in `cascade_cause`.
const fn cause_bits(cause: Cause) -> u8 {
    match cause {
        Cause::Shutdown => 1,
        Cause::Parent => 2,
        Cause::DependencyFailed => 3,
        Cause::Deadline => 4,
        Cause::Restart => 5,
    }
}

const fn bits_cause(bits: u8) -> Cause {
    match bits {
        1 => Cause::Shutdown,
        2 => Cause::Parent,
        4 => Cause::Deadline,
        5 => Cause::Restart,
        _ => Cause::DependencyFailed,
    }
}

impl<'c> Group<'c> {
    pub(crate) fn new(ctx: &'c Ctx<'c>, mode: Mode, len: usize) -> Self {
        Self {
            mode,
            len,
            parent: ctx,
            main: ctx.child(),
            started: AtomicUsize::new(0),
            top: AtomicUsize::new(len),
            released: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            cascade_from: AtomicUsize::new(usize::MAX),
            cascade_cause: AtomicU8::new(0),
            waiters: Waiters::new(),
        }
    }

    fn load(a: &AtomicUsize) -> usize {
        a.load(Ordering::Relaxed)
    }

    /// Waits until `cond` holds, re-checking after every change of the group's state.
    async fn until(&self, cond: impl Fn() -> bool) {
        poll_fn(|cx| {
            if cond() {
                return Poll::Ready(());
            }
            self.waiters.register(cx);
            if cond() { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
    }

    fn changed(&self) {
        self.waiters.wake();
    }

    /// Cancels every arm from index `from` up (Chain), keeping the lowest index and first cause.
    fn cascade(&self, from: usize, cause: Cause) {
        if from < Self::load(&self.cascade_from) {
            if self.cascade_cause.load(Ordering::Relaxed) == 0 {
                self.cascade_cause.store(cause_bits(cause), Ordering::Relaxed);
            }
            self.cascade_from.store(from, Ordering::Relaxed);
            self.changed();
        }
    }

    /// Forever applies cascading cancellation to the arm at `index`, whose context is `ctx`.
    ///
    /// In Chain mode any cascade from at or below `index`; in the other modes, for a child that
    /// is not ready yet, an abort of the start phase, and for the main callback, a child's failure.
    async fn watch(&self, index: usize, ctx: &Ctx<'_>, ready: &AtomicBool) -> Infallible {
        self.until(|| {
            let from = Self::load(&self.cascade_from);
            match self.mode {
                Mode::Chain => from <= index,
                _ if index == self.len => from <= index,
                _ => self.aborted.load(Ordering::Relaxed) && !ready.load(Ordering::Relaxed),
            }
        })
        .await;
        let cause = match self.mode {
            Mode::Chain => bits_cause(self.cascade_cause.load(Ordering::Relaxed)),
            _ => Cause::DependencyFailed,
        };
        ctx.cancel_with(cause);
        core::future::pending().await
    }

    /// The callback handed to child `index`: marks it ready, then parks until it may stop.
    async fn child_callback(&self, index: usize, ctx: &Ctx<'_>, ready: &AtomicBool) {
        ready.store(true, Ordering::Relaxed);
        let started = match self.mode {
            Mode::Parallel => Self::load(&self.started) + 1,
            _ => index + 1,
        };
        self.started.store(started, Ordering::Relaxed);
        self.changed();
        let mut forwarded = false;
        poll_fn(|cx| {
            let may_stop = self.released.load(Ordering::Relaxed)
                && match self.mode {
                    Mode::Parallel => true,
                    _ => Self::load(&self.top) == index + 1,
                };
            if may_stop {
                return Poll::Ready(());
            }
            if !forwarded {
                if let Poll::Ready(cause) = ctx.poll_cancelled(cx) {
                    // The child is failing (or its parent was cancelled): tell what depends on it.
                    forwarded = true;
                    match self.mode {
                        Mode::Chain => self.cascade(index + 1, cause),
                        _ => self.cascade(self.len, Cause::DependencyFailed),
                    }
                }
            }
            self.waiters.register(cx);
            Poll::Pending
        })
        .await;
    }

    /// Runs child `index` in its arm: waits for its turn, runs it, and records how it ended.
    pub(crate) async fn arm<E, R: Runner<E>>(&self, index: usize, child: &R) -> Result<(), E> {
        if self.mode != Mode::Parallel {
            self.until(|| Self::load(&self.started) >= index || self.aborted.load(Ordering::Relaxed)).await;
        }
        if self.aborted.load(Ordering::Relaxed) {
            // An earlier child failed to start: this one never starts.
            return Ok(());
        }
        let ctx = self.parent.child();
        let ready = AtomicBool::new(false);
        let run = child.run(&ctx, async |c: &Ctx<'_>| {
            self.child_callback(index, c, &ready).await;
            Ok(())
        });
        let result = match select(run, self.watch(index, &ctx, &ready)).await {
            Either::First(result) => result,
            Either::Second(never) => match never {},
        };
        if !ready.load(Ordering::Relaxed) {
            // A start failure: nothing further starts, and what started stops.
            self.aborted.store(true, Ordering::Relaxed);
            self.released.store(true, Ordering::Relaxed);
        } else if !self.released.load(Ordering::Relaxed) {
            // The child abandoned its callback and ended while the main callback runs.
            match self.mode {
                Mode::Chain => self.cascade(index + 1, Cause::DependencyFailed),
                _ => self.cascade(self.len, Cause::DependencyFailed),
            }
        }
        if self.mode != Mode::Parallel {
            self.top.store(index, Ordering::Relaxed);
        }
        self.changed();
        result
    }

    /// Runs the main callback once every child is ready; `None` if a child failed to start.
    pub(crate) async fn main<E, F>(&self, ready: F) -> Option<Result<(), E>>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.until(|| Self::load(&self.started) >= self.len || self.aborted.load(Ordering::Relaxed)).await;
        if self.aborted.load(Ordering::Relaxed) {
            return None;
        }
        let never = AtomicBool::new(false);
        let result = match select(ready(&self.main), self.watch(self.len, &self.main, &never)).await {
            Either::First(result) => result,
            Either::Second(never) => match never {},
        };
        self.released.store(true, Ordering::Relaxed);
        self.main.cancel_with(Cause::Parent);
        self.changed();
        Some(result)
    }
}

/// Combines the results of a group: the callback's error first, then the children's in order.
pub(crate) fn combine<E: Merge>(main: Option<Result<(), E>>, children: Result<(), E>) -> Result<(), E> {
    crate::error::merge_results(main.unwrap_or(Ok(())), children)
}
