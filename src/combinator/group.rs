//! The engine shared by [`chain`](super::chain), [`parallel`](super::parallel) and
//! [`sequential`](super::sequential).
//!
//! Every child runs in a join arm of the combinator's own future, beside one more arm for the
//! main callback. Each child gets a context of its own in a [`Slot`] of the combinator's frame;
//! that context is a root, not a child of the caller's: the engine passes the caller's
//! cancellation down itself, one child at a time in dependency order. Each wait of the engine
//! sleeps at the root of the context it concerns (a child's slot, or the main callback's), and
//! every change of state wakes exactly the waits it concerns: no shared set of waiters, so
//! children that poll their callbacks with wakers of their own never crowd each other out.
//!
//! # Invariants
//!
//! 1. The arms of one combinator are polled by one thread at a time (they are parts of one
//!    future), so the state is updated with plain loads and stores: no read-modify-write.
//! 2. `started` only grows, `top` only shrinks; `aborted`, `released`, `main_started` and the
//!    forced cause are set at most once.
//! 3. In `Chain` and `Sequential` mode, child `i` starts only once every child below it is ready
//!    and none has returned; it returns from its callback only once every child above it has
//!    returned from `run` (or never started): children stop from the top down. A forced stop
//!    (the caller's context cancelled, or in `Chain` a child giving up) cancels the main
//!    callback's context first and a child's context only once every child above it returned.
//! 4. Every change of state another arm waits for is followed by a wake of that arm's slot;
//!    every arm that waits registers there before it checks the state again (no lost wakeup).

use crate::sync::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use core::future::{Future, poll_fn};
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::ctx::{Cause, Ctx};
use crate::error::Merge;
use crate::runner::Runner;

/// How the children of a group start and stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(unreachable_pub, reason = "named by the sealed part of `Children`, which users cannot reach")]
pub enum Mode {
    /// One after the other; a child giving up stops everything after it.
    Chain,
    /// All at once; released all at once.
    Parallel,
    /// One after the other; stopped from the top down.
    Sequential,
}

const ENTERED: u8 = 1;
const READY: u8 = 2;
const DONE: u8 = 4;

/// The context of one child; how far the child got is kept in the context's owner byte, so a
/// slot costs exactly one [`Ctx`].
pub(crate) struct Slot<'c> {
    ctx: Ctx<'c>,
}

impl Slot<'_> {
    pub(crate) const fn new() -> Self {
        Self { ctx: Ctx::detached() }
    }

    fn has(&self, flag: u8) -> bool {
        self.ctx.owner_has(flag)
    }

    fn set(&self, flag: u8) {
        self.ctx.owner_set(flag);
    }
}

/// Shared state of the arms of one group run.
pub(crate) struct Group<'g, 'c> {
    mode: Mode,
    slots: &'g [Slot<'g>],
    /// The caller's context: its cancellation is the forced stop of the whole group.
    caller: &'c Ctx<'c>,
    /// The main callback's context (a root: the engine cancels it).
    main: Ctx<'g>,
    /// How many children are ready (Parallel), or the index of the next child to start.
    started: AtomicUsize,
    /// Every child at `top` and above has returned or will never start.
    top: AtomicUsize,
    /// How many arms have finished.
    finished: AtomicUsize,
    /// The main callback has returned, or it will never run: children may stop.
    released: AtomicBool,
    /// Nothing further starts, and the main callback will not run unless it already does.
    aborted: AtomicBool,
    /// The main callback was called.
    main_started: AtomicBool,
    /// A forced stop is under way with this cause (`Cause::to_bits`), 0 if none: every child
    /// from `floor` up is cancelled, from the top down.
    forced: AtomicU8,
    floor: AtomicUsize,
}

fn load(v: &AtomicUsize) -> usize {
    v.load(Ordering::Relaxed)
}

fn is(v: &AtomicBool) -> bool {
    v.load(Ordering::Relaxed)
}

fn set(v: &AtomicBool) {
    v.store(true, Ordering::Relaxed);
}

impl<'g, 'c: 'g> Group<'g, 'c> {
    pub(crate) fn new(caller: &'c Ctx<'c>, mode: Mode, slots: &'g [Slot<'g>]) -> Self {
        Self {
            mode,
            slots,
            caller,
            main: Ctx::detached(),
            started: AtomicUsize::new(0),
            top: AtomicUsize::new(slots.len()),
            finished: AtomicUsize::new(0),
            released: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            main_started: AtomicBool::new(false),
            forced: AtomicU8::new(0),
            floor: AtomicUsize::new(usize::MAX),
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn ordered(&self) -> bool {
        self.mode != Mode::Parallel
    }

    fn forced_cause(&self) -> Option<Cause> {
        Cause::from_bits_pub(self.forced.load(Ordering::Relaxed))
    }

    /// Wakes every arm.
    fn wake_all(&self) {
        self.slots.iter().for_each(|slot| slot.ctx.wake());
        self.main.wake();
    }

    /// Starts a forced stop with `cause` of every child from `floor` up (and of the main
    /// callback): nothing further starts.
    fn force(&self, cause: Cause, floor: usize) {
        if self.forced_cause().is_none() {
            self.forced.store(Cause::to_bits_pub(cause), Ordering::Relaxed);
        }
        if floor < load(&self.floor) {
            self.floor.store(floor, Ordering::Relaxed);
        }
        self.main.cancel_with(cause);
        if !is(&self.main_started) {
            self.abort_with(cause);
        }
        self.advance_forced();
        self.main.wake();
    }

    /// Cancels the children that the forced stop reaches now: in order, the highest child that
    /// started and has not returned once the main callback returned and every child above it
    /// returned; all of them at once in `Parallel` mode.
    fn advance_forced(&self) {
        let Some(cause) = self.forced_cause() else { return };
        if !is(&self.released) {
            return;
        }
        let floor = load(&self.floor);
        if self.ordered() {
            let top = load(&self.top);
            if top > floor && top > 0 {
                self.slots[top - 1].ctx.cancel_with(cause);
            }
        } else {
            for slot in self.slots.iter().skip(floor) {
                if !slot.has(DONE) {
                    slot.ctx.cancel_with(cause);
                }
            }
        }
    }

    /// Nothing further starts; children still starting are cancelled with `cause` (forced),
    /// the ready ones may stop; the main callback will not run.
    fn abort_with(&self, cause: Cause) {
        if is(&self.aborted) {
            return;
        }
        set(&self.aborted);
        set(&self.released);
        for slot in self.slots.iter().filter(|slot| slot.has(ENTERED) && !slot.has(READY)) {
            slot.ctx.cancel_with(cause);
        }
        self.wake_all();
    }

    /// Child `index` gave up while its dependents run (its callback's context was cancelled
    /// from below, or it returned while the main callback runs).
    fn failing(&self, index: usize) {
        if is(&self.released) && is(&self.main_started) {
            // Everything is stopping already.
            return;
        }
        if !is(&self.main_started) {
            self.abort_with(Cause::DependencyFailed);
            return;
        }
        match self.mode {
            Mode::Chain => self.force(Cause::DependencyFailed, index + 1),
            Mode::Parallel | Mode::Sequential => {
                self.main.cancel_with(Cause::DependencyFailed);
            }
        }
    }

    /// Child `index` became ready (its callback was called).
    fn child_ready(&self, index: usize) {
        self.slots[index].set(READY);
        if self.ordered() {
            self.started.store(index + 1, Ordering::Relaxed);
            match self.slots.get(index + 1) {
                Some(next) => next.ctx.wake(),
                None => self.main.wake(),
            }
        } else {
            let started = load(&self.started) + 1;
            self.started.store(started, Ordering::Relaxed);
            if started == self.len() {
                self.main.wake();
            }
        }
    }

    /// One poll of the callback of child `index`, parked until the child may stop.
    fn poll_park(&self, index: usize, ctx: &Ctx<'_>, state: &mut u8, cx: &Context<'_>) -> Poll<()> {
        let slot = &self.slots[index];
        if *state & PARK_MARKED == 0 {
            *state |= PARK_MARKED;
            self.child_ready(index);
        }
        let may_stop = is(&self.released) && (!self.ordered() || load(&self.top) <= index + 1);
        if may_stop {
            let forced = self.forced_cause().is_some() && index >= load(&self.floor);
            if !forced || *state & PARK_FORCED_SEEN != 0 {
                return Poll::Ready(());
            }
            // A forced stop reaches this child: its context is cancelled now; the callback
            // returns one poll later, so that the child sees the forced stop first.
            *state |= PARK_FORCED_SEEN;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if *state & PARK_FORWARDED == 0 && ctx.cause_below(Some(&slot.ctx)).is_some() {
            // The child cancelled its own callback's context: it gives up.
            *state |= PARK_FORWARDED;
            self.failing(index);
        }
        slot.ctx.register(cx);
        if !ctx.chain_root().is(&slot.ctx) {
            // A context of the child's own making, outside the slot's chain.
            ctx.register(cx);
        }
        Poll::Pending
    }

    /// Whether child `index` may start: every child below it is ready and none has returned.
    fn may_start(&self, index: usize) -> bool {
        self.slots[..index].iter().all(|slot| slot.has(READY) && !slot.has(DONE))
    }

    /// Runs child `index` in its arm: waits for its turn, runs it, and records how it ended.
    ///
    /// A plain function returning an `async move` block, so that the arm's future keeps its
    /// three captures once (an `async fn` keeps its arguments twice).
    #[allow(clippy::manual_async_fn, reason = "an `async fn` would keep its arguments twice")]
    pub(crate) fn arm<'a, E, R: Runner<E>>(
        &'a self,
        index: usize,
        child: &'a R,
    ) -> impl Future<Output = Result<(), E>> + 'a {
        async move {
            if self.ordered() {
                poll_fn(|cx| {
                    if load(&self.started) >= index || is(&self.aborted) {
                        return Poll::Ready(());
                    }
                    self.slots[index].ctx.register(cx);
                    if load(&self.started) >= index || is(&self.aborted) { Poll::Ready(()) } else { Poll::Pending }
                })
                .await;
                if !is(&self.aborted) {
                    if let Some(cause) = self.caller.cause() {
                        // The group is cancelled while it starts: what is not started yet never starts.
                        self.force(cause, 0);
                    } else if !self.may_start(index) {
                        // A child below gave up in the poll that made it ready.
                        self.abort_with(Cause::DependencyFailed);
                    }
                }
            }
            if is(&self.aborted) {
                // This child never starts.
                self.returned(index);
                return Ok(());
            }
            self.slots[index].set(ENTERED);
            if let Some(cause) = self.forced_cause() {
                self.slots[index].ctx.cancel_with(cause);
            }
            let result = child
                .run(
                    &self.slots[index].ctx,
                    park_fn(move |ctx| Park { group: self, ctx, index, state: 0, _error: PhantomData }),
                )
                .await;
            self.slots[index].set(DONE);
            if !self.slots[index].has(READY) {
                self.abort_with(Cause::DependencyFailed);
            } else if !is(&self.released) {
                // The child abandoned its callback and ended while its dependents run.
                self.failing(index);
            }
            self.returned(index);
            result
        }
    }

    /// Arm `index` is done (its child returned, or it never started one): lower `top` past every
    /// child that returned or never started, and wake what may go on.
    fn returned(&self, _index: usize) {
        self.finished.store(load(&self.finished) + 1, Ordering::Relaxed);
        if self.ordered() {
            let mut top = load(&self.top);
            while top > 0 && (self.slots[top - 1].has(DONE) || !self.slots[top - 1].has(ENTERED)) {
                top -= 1;
            }
            if top != load(&self.top) {
                self.top.store(top, Ordering::Relaxed);
                if top > 0 {
                    self.slots[top - 1].ctx.wake();
                }
                self.advance_forced();
            }
        }
        self.main.wake();
    }

    /// Watches the caller's context: once it is cancelled, starts the forced stop.
    fn watch_caller(&self, cx: &Context<'_>) {
        if (self.forced_cause().is_none() || load(&self.floor) > 0)
            && let Poll::Ready(cause) = self.caller.poll_cancelled_below(cx, None)
        {
            self.force(cause, 0);
        }
    }

    /// The main arm: runs the main callback once every child is ready (`None` if it never
    /// runs), then carries out the stop of the children, watching the caller's context all
    /// along.
    pub(crate) async fn main<E, F>(&self, ready: F) -> Option<Result<(), E>>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        poll_fn(|cx| {
            self.watch_caller(cx);
            if load(&self.started) >= self.len() || is(&self.aborted) {
                return Poll::Ready(());
            }
            self.main.register(cx);
            if load(&self.started) >= self.len() || is(&self.aborted) { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
        let result = if is(&self.aborted) || self.forced_cause().is_some() {
            set(&self.released);
            None
        } else {
            set(&self.main_started);
            let mut callback = core::pin::pin!(ready(&self.main));
            let result = poll_fn(|cx| {
                self.watch_caller(cx);
                callback.as_mut().poll(cx)
            })
            .await;
            Some(result)
        };
        set(&self.released);
        self.main.cancel_with(Cause::Parent);
        self.slots.iter().for_each(|slot| slot.ctx.wake());
        self.advance_forced();
        // The stop: wait for every child, passing a forced stop down as they return.
        poll_fn(|cx| {
            self.watch_caller(cx);
            if load(&self.finished) >= self.len() {
                return Poll::Ready(());
            }
            self.main.register(cx);
            if load(&self.finished) >= self.len() { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
        result
    }
}

const PARK_MARKED: u8 = 1;
const PARK_FORWARDED: u8 = 2;
const PARK_FORCED_SEEN: u8 = 4;

/// Gives the engine's callback closure its higher-ranked signature (the closure returns a future
/// that borrows its argument, which closure inference alone cannot express). A plain closure
/// returning a future is an `AsyncFnOnce`, and its future is [`Park`] alone: an `async` closure's
/// future would keep the closure's captures a second time.
fn park_fn<'p, 'g: 'p, 'c: 'g, E, F>(f: F) -> F
where
    F: for<'x, 'y> FnOnce(&'x Ctx<'y>) -> Park<'p, 'x, 'y, 'g, 'c, E>,
{
    f
}

/// The future of a child's callback: marks the child ready when first polled, then parks until
/// the child may stop (see [`Group::poll_park`]).
pub(crate) struct Park<'p, 'x, 'y, 'g, 'c, E> {
    group: &'p Group<'g, 'c>,
    ctx: &'x Ctx<'y>,
    index: usize,
    state: u8,
    _error: PhantomData<fn() -> E>,
}

impl<E> Future for Park<'_, '_, '_, '_, '_, E> {
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.group.poll_park(this.index, this.ctx, &mut this.state, cx).map(Ok)
    }
}

/// Combines the results of a group: the callback's error first, then the children's in order.
pub(crate) fn combine<E: Merge>(main: Option<Result<(), E>>, children: Result<(), E>) -> Result<(), E> {
    crate::error::merge_results(main.unwrap_or(Ok(())), children)
}
