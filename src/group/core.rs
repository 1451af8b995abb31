//! The state both groups share: the slots, the generations and how one child runs.

use core::future::{Future, poll_fn};
use core::task::{Context, Poll};

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::raw::RawMutex;

use super::Error;
use crate::ctx::{Cause, Ctx};
use crate::error::{Overrun, Phase, StopLevel};
use crate::runner::Runner;
use crate::slots::{Book, Extra, Slots};
use crate::waitqueue::{Full, WAITER_SLOTS, WaitList, Woken};

/// How far the current generation has been asked to stop. Only grows within a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    Open,
    /// Graceful: the children's callbacks return.
    Interrupted,
    /// The children's contexts are cancelled with this cause.
    Forced(Cause),
    /// The children's futures are dropped.
    Hard,
}

impl Level {
    const fn rank(self) -> u8 {
        match self {
            Self::Open => 0,
            Self::Interrupted => 1,
            Self::Forced(_) => 2,
            Self::Hard => 3,
        }
    }
}

/// The generations: every child that runs belongs to the current one (a new generation opens
/// only when no child is queued or running).
pub(super) struct Gen {
    /// The current generation.
    epoch: u32,
    level: Level,
    /// Pending waits of the current generation: when the group becomes idle with one pending,
    /// a new generation opens.
    waiting: usize,
    /// The highest level a `stop` reached, or a lost driver (hard).
    reached: Option<StopLevel>,
    /// The children's callbacks and watchers, waiting for a higher level.
    children: WaitList<WAITER_SLOTS>,
}

impl Gen {
    pub(super) const fn new() -> Self {
        Self { epoch: 0, level: Level::Open, waiting: 0, reached: None, children: WaitList::new() }
    }

    fn open(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.level = Level::Open;
        self.waiting = 0;
    }

    /// Raises the level; returns whether it changed.
    fn raise(&mut self, level: Level) -> bool {
        if level.rank() > self.level.rank() {
            self.level = level;
            true
        } else {
            false
        }
    }

    /// Notes that a stop reached `level` while `active` children were left.
    fn note_reached(&mut self, active: usize, level: StopLevel) {
        if active > 0 {
            self.reached = self.reached.max(Some(level));
        }
    }

    /// Raises the level; if it changed, takes the children's waiters out, to be woken once the
    /// lock is released.
    fn raise_take(&mut self, level: Level) -> Option<Woken<WAITER_SLOTS>> {
        if !self.raise(level) {
            return None;
        }
        Some(self.children.take())
    }
}

impl Drop for Gen {
    fn drop(&mut self) {
        // Nothing can wait on a group that is going away (waiters borrow it).
        self.children.forget_spilled();
    }
}

impl Extra for Gen {
    fn on_idle(&mut self) {
        if self.waiting > 0 {
            self.open();
        }
    }

    fn on_driver_lost(&mut self) {
        self.reached = Some(StopLevel::Hard);
    }
}

/// Wakes what a change took out, if anything.
fn wake(woken: Option<Woken<WAITER_SLOTS>>) {
    if let Some(woken) = woken {
        woken.wake();
    }
}

/// The slots of a group and its generations.
pub(super) struct Core<'a, M: RawMutex, Q: Default> {
    pub(super) slots: Slots<'a, M, Q, Gen>,
}

impl<'a, M: RawMutex, Q: Default> Core<'a, M, Q> {
    pub(super) const fn new(ctx: Ctx<'a>, queue: Q) -> Self {
        Self { slots: Slots::new(ctx, queue, Gen::new()) }
    }

    /// Raises the level and takes the children's waiters out under one lock; wakes them after.
    fn raise(&self, level: Level) -> bool {
        let woken = self.slots.with(|book| book.extra.raise_take(level));
        let changed = woken.is_some();
        wake(woken);
        changed
    }

    pub(super) fn interrupt(&self) -> bool {
        self.raise(Level::Interrupted)
    }

    pub(super) fn cancel(&self) -> bool {
        self.raise(Level::Forced(Cause::Shutdown))
    }

    pub(super) fn is_closed(&self) -> bool {
        self.slots.with(|book| book.closed)
    }

    /// `(active, closed, interrupted)` for `Debug`.
    pub(super) fn summary(&self) -> (usize, bool, bool) {
        self.slots.with(|book| (book.active, book.closed, book.extra.level != Level::Open))
    }

    /// Begins a wait: opens a new generation at once if the group is idle (`None`), otherwise
    /// counts a pending wait of the current one and returns it.
    pub(super) fn wait_begin(&self) -> Option<u32> {
        self.slots.with(|book| {
            if book.active == 0 {
                book.extra.open();
                None
            } else {
                book.extra.waiting += 1;
                Some(book.extra.epoch)
            }
        })
    }

    /// `Ready` once the generation `epoch` has ended; `Ready(Err(Full))` at once if the waiter
    /// could be kept nowhere.
    pub(super) fn poll_wait(&self, epoch: u32, cx: &Context<'_>) -> Poll<Result<(), Full>> {
        self.slots.poll_idle_until(cx, |book| book.extra.epoch != epoch)
    }

    /// Forgets a wait of `epoch` that did not complete.
    pub(super) fn wait_abandon(&self, epoch: u32) {
        self.slots.with(|book| {
            if book.extra.epoch == epoch {
                book.extra.waiting -= 1;
            }
        });
    }

    /// `Ready(Ok(..))` once this level is reached; otherwise registers as a child, under the
    /// same lock. `Ready(Err(Full))` at once if the waiter could be kept nowhere.
    fn poll_level<T>(&self, cx: &Context<'_>, f: impl FnOnce(Level) -> Option<T>) -> Poll<Result<T, Full>> {
        self.slots.with(|book| {
            if let Some(out) = f(book.extra.level) {
                return Poll::Ready(Ok(out));
            }
            match book.extra.children.register(cx.waker()) {
                Ok(()) => Poll::Pending,
                Err(full) => Poll::Ready(Err(full)),
            }
        })
    }

    /// Runs one child: `runner` on a child of the group's context, its callback returning
    /// once the generation is interrupted (or its context is cancelled); a forced level, or
    /// the cancellation of `drive_ctx` (as [`Cause::Parent`]), cancels the child's context; the
    /// hard level drops its future.
    pub(super) async fn run_child<E, R>(&self, drive_ctx: &Ctx<'_>, runner: &R) -> Result<(), E>
    where
        R: Runner<E> + ?Sized,
        E: From<Overrun>,
    {
        let child = self.slots.context().child();
        let interrupted = poll_fn(|cx| self.poll_level(cx, |l| (l.rank() >= Level::Interrupted.rank()).then_some(())));
        let run = runner.run(&child, async |cb: &Ctx<'_>| {
            if let Either::First(Err(Full)) = select(interrupted, cb.cancelled()).await {
                // The callback's wait could be kept nowhere: it ends, and says why.
                child.cancel_with(Cause::Overflow);
            }
            Ok(())
        });
        let watcher = async {
            let forced = poll_fn(|cx| {
                self.poll_level(cx, |l| match l {
                    Level::Forced(cause) => Some(cause),
                    Level::Hard => Some(Cause::Deadline),
                    Level::Open | Level::Interrupted => None,
                })
            });
            let cause = match select(forced, drive_ctx.cancelled()).await {
                Either::First(Ok(cause)) => cause,
                Either::First(Err(Full)) => Cause::Overflow,
                Either::Second(_) => Cause::Parent,
            };
            child.cancel_with(cause);
            // A wait for the hard level that could be kept nowhere ends at once: the child,
            // cancelled already, is dropped.
            let _ = poll_fn(|cx| self.poll_level(cx, |l| (l == Level::Hard).then_some(()))).await;
        };
        // The watcher comes first: after the hard level the child's future is not polled again.
        match select(watcher, run).await {
            Either::First(()) => Err(Overrun::new(Phase::Stop, StopLevel::Hard).into()),
            Either::Second(result) => result,
        }
    }

    /// The bounded close of `stop`: closes the group, interrupts the generation, and escalates
    /// to forced and hard when the deadlines pass.
    pub(super) async fn stop<G, GF, H, HF>(&self, graceful: G, forced: H) -> Result<(), Error>
    where
        G: FnOnce() -> GF,
        GF: Future<Output = ()>,
        H: FnOnce() -> HF,
        HF: Future<Output = ()>,
    {
        let idle = |book: &Book<Q, Gen>| book.active == 0;
        // One change: closed, and the generation interrupted. Without a driver, what is queued
        // never starts: it is dropped at once.
        let (_, woken) = self.slots.close(
            |book| (!book.driving).then(|| core::mem::take(&mut book.queue)),
            |book| {
                book.extra.reached = book.extra.reached.max(Some(StopLevel::Graceful));
                book.extra.raise_take(Level::Interrupted)
            },
        );
        wake(woken);
        let until_idle = || poll_fn(|cx| self.slots.poll_idle_until(cx, idle));
        let overflow = match select(until_idle(), graceful()).await {
            Either::First(idle) => idle.is_err(),
            Either::Second(()) => {
                self.escalate(Level::Forced(Cause::Deadline), StopLevel::Forced);
                match select(until_idle(), forced()).await {
                    Either::First(idle) => idle.is_err(),
                    Either::Second(()) => {
                        // One change: the hard level, and the items no driver took dropped
                        // (they never start).
                        let mut woken = None;
                        self.slots.close(
                            |book| {
                                book.extra.note_reached(book.active, StopLevel::Hard);
                                woken = book.extra.raise_take(Level::Hard);
                                Some(core::mem::take(&mut book.queue))
                            },
                            |_| (),
                        );
                        wake(woken);
                        until_idle().await.is_err()
                    }
                }
            }
        };
        if overflow {
            return Err(Error::Overflow);
        }
        match self.slots.with(|book| book.extra.reached) {
            Some(level @ (StopLevel::Forced | StopLevel::Hard)) => {
                Err(Error::Overrun(Overrun::new(Phase::Stop, level)))
            }
            _ => Ok(()),
        }
    }

    /// Raises the level to `level`, noting `reached` if a child is left, under one lock.
    fn escalate(&self, level: Level, reached: StopLevel) {
        let woken = self.slots.with(|book| {
            book.extra.note_reached(book.active, reached);
            book.extra.raise_take(level)
        });
        wake(woken);
    }
}
