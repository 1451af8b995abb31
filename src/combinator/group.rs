//! The engine shared by [`chain`](super::chain), [`parallel`](super::parallel) and
//! [`sequential`](super::sequential).
//!
//! Every child runs in a join arm of the combinator's own future, beside one more arm for the
//! main callback. The contexts of the children live in [`Slot`]s owned by the combinator's
//! frame, so that any arm can cancel any child directly. The arms talk through the atomics of
//! [`Group`] and wake each other through one set of waker slots.
//!
//! # Invariants
//!
//! 1. The arms of one combinator are polled by one thread at a time (they are parts of one
//!    future), so a counter is updated with a plain load and store: no read-modify-write.
//! 2. `started` only grows, `top` only shrinks, `released` and `aborted` are set at most once.
//! 3. In `Chain` and `Sequential` mode, child `i` starts only once child `i - 1` is ready, and it
//!    returns from its callback only once every child above it has returned from `run` (or never
//!    started): children stop from the top down. A child that abandons its callback may return
//!    early; `top` then waits for the children above it before passing it.
//! 4. Every change of state another arm waits for is followed by `changed()`; every arm that
//!    waits registers in `waiters` before it checks the state again (no lost wakeup).

use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::Poll;

use crate::ctx::{Cause, Ctx, Waiters};
use crate::error::Merge;
use crate::runner::Runner;

/// How the children of a group start and stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(unreachable_pub, reason = "named by the sealed part of `Children`, which users cannot reach")]
pub enum Mode {
    /// One after the other; a child's callback context being cancelled cancels everything after it.
    Chain,
    /// All at once; released all at once.
    Parallel,
    /// One after the other; stopped from the top down.
    Sequential,
}

/// The context of one child, and how far it got.
pub(crate) struct Slot<'c> {
    ctx: Ctx<'c>,
    /// Its `run` was called.
    entered: AtomicBool,
    /// It called its callback.
    ready: AtomicBool,
    /// Its `run` returned.
    done: AtomicBool,
}

impl<'c> Slot<'c> {
    pub(crate) fn new(parent: &'c Ctx<'c>) -> Self {
        Self {
            ctx: parent.child(),
            entered: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            done: AtomicBool::new(false),
        }
    }
}

/// Shared state of the arms of one group run.
pub(crate) struct Group<'g, 'c> {
    mode: Mode,
    slots: &'g [Slot<'c>],
    /// The main callback's context.
    main: Ctx<'c>,
    /// How many children are ready (Parallel), or the index of the next child to start.
    started: AtomicUsize,
    /// Every child at `top` and above has returned or will never start.
    top: AtomicUsize,
    /// The main callback has returned, or it will never run: children may stop.
    released: AtomicBool,
    /// A child failed to start: nothing further starts.
    aborted: AtomicBool,
    waiters: Waiters,
}

impl<'g, 'c> Group<'g, 'c> {
    pub(crate) fn new(ctx: &'c Ctx<'c>, mode: Mode, slots: &'g [Slot<'c>]) -> Self {
        Self {
            mode,
            slots,
            main: ctx.child(),
            started: AtomicUsize::new(0),
            top: AtomicUsize::new(slots.len()),
            released: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            waiters: Waiters::new(),
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn is(flag: &AtomicBool) -> bool {
        flag.load(Ordering::Relaxed)
    }

    fn load(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Relaxed)
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

    /// A child failed to start: nothing further starts, children still starting are cancelled
    /// (forced), and the ready ones may stop.
    fn abort(&self) {
        self.aborted.store(true, Ordering::Relaxed);
        self.released.store(true, Ordering::Relaxed);
        for slot in self.slots.iter().filter(|slot| !Self::is(&slot.ready)) {
            slot.ctx.cancel_with(Cause::DependencyFailed);
        }
        self.changed();
    }

    /// Child `index` is failing while it runs (its callback's context was cancelled with `cause`).
    fn failing(&self, index: usize, cause: Cause) {
        match self.mode {
            Mode::Chain => {
                for slot in &self.slots[index + 1..] {
                    slot.ctx.cancel_with(cause);
                }
                self.main.cancel_with(cause);
            }
            Mode::Parallel | Mode::Sequential => {
                self.main.cancel_with(Cause::DependencyFailed);
            }
        }
    }

    /// The callback handed to child `index`: marks it ready, then parks until it may stop.
    async fn child_callback(&self, index: usize, ctx: &Ctx<'_>) {
        let slot = &self.slots[index];
        slot.ready.store(true, Ordering::Relaxed);
        let started = match self.mode {
            Mode::Parallel => Self::load(&self.started) + 1,
            Mode::Chain | Mode::Sequential => index + 1,
        };
        self.started.store(started, Ordering::Relaxed);
        if started == self.len() || self.mode != Mode::Parallel {
            self.changed();
        }
        let mut forwarded = false;
        poll_fn(|cx| {
            let may_stop = Self::is(&self.released)
                && match self.mode {
                    Mode::Parallel => true,
                    Mode::Chain | Mode::Sequential => Self::load(&self.top) <= index + 1,
                };
            if may_stop {
                return Poll::Ready(());
            }
            if !forwarded {
                // The slot's context is cancelled only by the group itself or with the group's
                // own ancestors, and then nothing needs forwarding: watch the levels below it.
                if let Poll::Ready(cause) = ctx.poll_cancelled_below(cx, Some(&slot.ctx)) {
                    forwarded = true;
                    self.failing(index, cause);
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
            self.until(|| Self::load(&self.started) >= index || Self::is(&self.aborted)).await;
            if !Self::is(&self.aborted) && self.main.parent().is_some_and(Ctx::is_cancelled) {
                // The group is cancelled while it starts: what is not started yet never starts.
                self.abort();
            }
        }
        if Self::is(&self.aborted) {
            // An earlier child failed to start: this one never starts.
            self.returned();
            return Ok(());
        }
        let slot = &self.slots[index];
        slot.entered.store(true, Ordering::Relaxed);
        let result = child
            .run(&slot.ctx, async |c: &Ctx<'_>| {
                self.child_callback(index, c).await;
                Ok(())
            })
            .await;
        if !Self::is(&slot.ready) {
            self.abort();
        } else if !Self::is(&self.released) {
            // The child abandoned its callback and ended while the main callback runs.
            self.failing(index, Cause::DependencyFailed);
        }
        slot.done.store(true, Ordering::Relaxed);
        self.returned();
        result
    }

    /// An arm is done (its child returned, or it never started one): lower `top` past every
    /// child that returned or never started, and wake the children below. Children may return
    /// out of order when one abandons its callback.
    fn returned(&self) {
        if self.mode == Mode::Parallel {
            return;
        }
        let mut top = Self::load(&self.top);
        while top > 0 && (Self::is(&self.slots[top - 1].done) || !Self::is(&self.slots[top - 1].entered)) {
            top -= 1;
        }
        self.top.store(top, Ordering::Relaxed);
        self.changed();
    }

    /// Runs the main callback once every child is ready; `None` if a child failed to start.
    pub(crate) async fn main<E, F>(&self, ready: F) -> Option<Result<(), E>>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.until(|| Self::load(&self.started) >= self.len() || Self::is(&self.aborted)).await;
        if Self::is(&self.aborted) {
            return None;
        }
        let result = ready(&self.main).await;
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
