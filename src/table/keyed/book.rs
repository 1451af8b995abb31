//! The state the handles and the driver share: one [`Slot`] per key, in a [`Book`] behind the
//! supervisor's blocking mutex.
//!
//! # Invariants
//!
//! 1. A slot holds a key exactly when its phase is not `Free`; no two slots hold equal keys.
//! 2. A process of the slot's key exists (its future is alive in the slot's worker) only in
//!    `Starting`, `Running` and `Stopping`, and never two at once: the worker runs one
//!    incarnation at a time and builds the next only after the last one's future is gone.
//! 3. `generation` goes up at every change made from outside the worker (a handle, a pass, the
//!    shutdown). Every deferred action of the worker (the launch after a lookup, the restart
//!    after a backoff) carries the generation it was decided under and is dropped if it moved:
//!    a stop during a backoff is never undone by the pending restart.
//! 4. `ticket` names the start request being answered; `answer` is set once per ticket (ready,
//!    or the reason it never will be). A slot with `pins > 0` (a handle waits on it) is not
//!    given to another key, so every waiter reads its own answer.
//! 5. `stop` only grows during one incarnation and is reset when the next one launches.
//! 6. `runs` counts the incarnations ever launched in the slot (never reset); `exit` is the end
//!    of the last one, tagged with its run.

use core::future::Future;
use core::ops::Deref;
#[cfg(feature = "alloc")]
use core::task::Context;
use core::task::Waker;

use crate::ctx::{Cause, Ctx};
use crate::error::StopLevel;
use crate::time::Instant;

use super::{Entry, Error, State};

/// The phase of a slot (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Free,
    Reserved,
    Starting,
    Running,
    Stopping { ready: bool },
    BackingOff,
    Exited,
    Stopped,
    Failed,
}

impl Phase {
    pub(super) fn state(self) -> Option<State> {
        Some(match self {
            Self::Free => return None,
            Self::Reserved => State::Reserved,
            Self::Starting => State::Starting,
            Self::Running => State::Running,
            Self::Stopping { .. } => State::Stopping,
            Self::BackingOff => State::BackingOff,
            Self::Exited => State::Exited,
            Self::Stopped => State::Stopped,
            Self::Failed => State::Failed,
        })
    }

    pub(super) fn is_live(self) -> bool {
        matches!(self, Self::Starting | Self::Running | Self::Stopping { .. })
    }
}

/// How far a stop of the live incarnation has been asked to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Level {
    None,
    Graceful,
    Forced,
    Hard,
}

/// What becomes of a slot once its stopped incarnation has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    /// `Stopped`.
    Stop,
    /// `Reserved` again: a restart, with a fresh value from the table.
    Relaunch,
    /// `Free`: pruned.
    Free,
    /// `Exited`: its claim was lost; a later pass tries again.
    Exit,
}

/// The end of one incarnation.
#[derive(Debug, Clone)]
pub(super) struct Exit<E> {
    pub(super) run: u32,
    pub(super) level: StopLevel,
    pub(super) result: Result<(), E>,
}

pub(super) struct Slot<K, V, E> {
    pub(super) key: Option<K>,
    pub(super) phase: Phase,
    pub(super) generation: u32,
    pub(super) ticket: u32,
    pub(super) answer: Option<Result<(), Error<K, E>>>,
    pub(super) pins: u16,
    /// A value for the next launch (from a pass), or a newer value for the running incarnation
    /// to compare with its own (`check`).
    pub(super) offered: Option<V>,
    pub(super) check: bool,
    pub(super) stop: Level,
    pub(super) cause: Cause,
    pub(super) after: After,
    /// The stop was asked by the driver (shutdown, prune, replace): the worker bounds it with
    /// the setup's deadlines.
    pub(super) bounded: bool,
    /// The level the deadlines of the current stop escalated to.
    pub(super) escalated: StopLevel,
    /// The value the last incarnation was built from, once it has ended.
    pub(super) built: Option<V>,
    pub(super) runs: u32,
    pub(super) exit: Option<Exit<E>>,
    pub(super) incarnation: u32,
    pub(super) restarts: u32,
    pub(super) since: Instant,
    /// A request is pending for this key: the reconcile loop looks it up again.
    pub(super) dirty: bool,
    /// The pass number current when the slot was reserved, and the last pass that saw the key.
    pub(super) born: u32,
    pub(super) seen: u32,
    /// The key is new in this slot: the worker starts its backoff and intensity afresh.
    pub(super) fresh: bool,
    /// Started by the first pass: the initial wait watches it.
    pub(super) restore: bool,
    /// The next launch is a restart by the policy.
    pub(super) by_policy: bool,
    /// The key leaves: its worker runs the `removed` hook, then frees the slot.
    pub(super) removing: bool,
}

impl<K, V, E> Slot<K, V, E> {
    pub(super) const fn new() -> Self {
        Self {
            key: None,
            phase: Phase::Free,
            generation: 0,
            ticket: 0,
            answer: None,
            pins: 0,
            offered: None,
            check: false,
            stop: Level::None,
            cause: Cause::Shutdown,
            after: After::Stop,
            bounded: false,
            escalated: StopLevel::Graceful,
            built: None,
            runs: 0,
            exit: None,
            incarnation: 0,
            restarts: 0,
            since: Instant::ZERO,
            dirty: false,
            born: 0,
            seen: 0,
            fresh: false,
            restore: false,
            by_policy: false,
            removing: false,
        }
    }

    pub(super) fn entry(&self) -> Option<Entry> {
        Some(Entry {
            state: self.phase.state()?,
            incarnation: self.incarnation,
            restarts: self.restarts,
            since: self.since,
        })
    }

    /// Frees the slot (invariant 1); what handles wait on (ticket, answer, exit) stays.
    pub(super) fn free(&mut self) -> Option<K> {
        self.phase = Phase::Free;
        self.generation = self.generation.wrapping_add(1);
        self.offered = None;
        self.built = None;
        self.check = false;
        self.dirty = false;
        self.restore = false;
        self.removing = false;
        self.key.take()
    }

    /// Answers the pending start request with `answer`, unless it is answered already.
    pub(super) fn answer(&mut self, answer: Result<(), Error<K, E>>) {
        if self.answer.is_none() {
            self.answer = Some(answer);
        }
    }

    /// A new start request: the next answer is for it.
    pub(super) fn new_ticket(&mut self) {
        self.ticket = self.ticket.wrapping_add(1);
        self.answer = None;
    }
}

/// What a stop request found.
pub(super) enum Ask {
    /// Nothing ran: the slot changed at once.
    Done,
    /// The incarnation `run` is being stopped; `running`: it was ready, so the stop begins
    /// graceful (otherwise forced).
    Wait { run: u32, running: bool },
}

impl<K, V, E> Slot<K, V, E> {
    /// Asks the slot to stop (`after` says what it becomes then), with `cause` for the forced
    /// level (invariants 3 and 5).
    pub(super) fn ask_stop(&mut self, after: After, cause: Cause, bounded: bool) -> Ask {
        self.generation = self.generation.wrapping_add(1);
        if after == After::Relaunch {
            self.new_ticket();
            self.offered = None;
            self.check = false;
        }
        match self.phase {
            Phase::Free => Ask::Done,
            Phase::Starting | Phase::Running => {
                let running = self.phase == Phase::Running;
                self.phase = Phase::Stopping { ready: running };
                self.stop = if running { Level::Graceful } else { Level::Forced };
                self.cause = cause;
                self.after = after;
                self.bounded = bounded;
                self.escalated = StopLevel::Graceful;
                Ask::Wait { run: self.runs, running }
            }
            Phase::Stopping { ready } => {
                // A stop wins over a pending restart; a restart over a pending stop.
                if self.after != After::Free {
                    self.after = after;
                }
                self.bounded |= bounded;
                Ask::Wait { run: self.runs, running: ready }
            }
            Phase::Reserved | Phase::BackingOff | Phase::Exited | Phase::Stopped | Phase::Failed => {
                match after {
                    After::Stop => {
                        if self.phase == Phase::Reserved {
                            self.answer(Err(Error::StoppedBeforeReady));
                        }
                        self.phase = Phase::Stopped;
                    }
                    After::Relaunch => {
                        self.phase = Phase::Reserved;
                        self.by_policy = false;
                    }
                    After::Free => {
                        self.answer(Err(Error::StoppedBeforeReady));
                        self.free();
                    }
                    After::Exit => {
                        self.answer(Err(Error::StoppedBeforeReady));
                        self.phase = Phase::Exited;
                    }
                }
                Ask::Done
            }
        }
    }

    /// Frees a slot whose key leaves and whose process does not run (pruned, forgotten), or,
    /// when `removes` (the drive has a `removed` hook) and an incarnation of the key ran, marks
    /// it for its worker, which runs the hook and then frees it. Returns whether it was freed.
    pub(super) fn leave(&mut self, removes: bool) -> bool {
        self.answer(Err(Error::StoppedBeforeReady));
        if removes && self.built.is_some() {
            self.generation = self.generation.wrapping_add(1);
            self.removing = true;
            return false;
        }
        self.free();
        true
    }

    /// Raises the stop of incarnation `run` to `level` after a deadline passed; `false` if that
    /// incarnation is gone.
    pub(super) fn escalate(&mut self, run: u32, level: Level) -> bool {
        if self.runs != run || !self.phase.is_live() {
            return false;
        }
        if level > self.stop {
            if self.stop < Level::Forced {
                self.cause = Cause::Deadline;
            }
            self.stop = level;
        }
        let reached = if level == Level::Hard { StopLevel::Hard } else { StopLevel::Forced };
        self.escalated = self.escalated.max(reached);
        true
    }
}

/// Where a book keeps its slots: a fixed array, or (with `alloc`) a vector that grows.
///
/// A slot is changed only through [`at`](Self::at) or [`each`](Self::each) (the store is no
/// `DerefMut`), so that the store knows which slots changed: the growing store wakes only the
/// workers of those (its workers have a waker each), and both keep the lower bound of the free
/// slots ([`first_free`](Self::first_free)) without a scan from the start.
pub(super) trait Store<K, V, E>: Deref<Target = [Slot<K, V, E>]> {
    /// Whether the workers of this store park a waker each ([`park`](Self::park)); if not, they
    /// share their task's waker, which the drive registers in the driver's list.
    const PARKS: bool;

    /// Adds a free slot at the end, if the store may grow; returns whether it did.
    fn grow(&mut self) -> bool;

    /// How many slots the store may still add.
    fn spare(&self) -> usize;

    /// Slot `i`, to change it.
    fn at(&mut self, i: usize) -> &mut Slot<K, V, E>;

    /// Every slot, to change them.
    fn each(&mut self) -> &mut [Slot<K, V, E>];

    /// The first free slot that no handle pins, if any.
    fn first_free(&mut self) -> Option<usize>;

    /// Keeps `waker` as the waker of slot `i`'s worker, if the store [`PARKS`](Self::PARKS).
    fn park(&mut self, i: usize, waker: &Waker);

    /// How the cancellation of the incarnations' parent reaches them.
    type Forward: Forward;

    /// The wakers [`changed`](Self::changed) takes.
    type Changed: Iterator<Item = Waker>;

    /// Takes the wakers of the workers whose slots changed since the last call, to be woken
    /// once the lock is released.
    fn changed(&mut self) -> Self::Changed;
}

/// How the cancellation of `procs`, the parent of every incarnation's context, reaches the
/// context of one incarnation.
pub(super) trait Forward {
    /// The context of an incarnation.
    fn context<'p>(procs: &'p Ctx<'p>) -> Ctx<'p>;

    /// Forwards the cancellation of `procs` to `run` (made by [`context`](Self::context));
    /// never completes.
    fn forward<'f>(procs: &'f Ctx<'_>, run: &'f Ctx<'_>) -> impl Future<Output = ()> + 'f;
}

/// A child of `procs`: cancelled with it, nothing to forward. For the fixed store, whose workers
/// share their task's waker (a waiter of a child is kept at the root of the chain, `procs`).
pub(super) struct Children;

impl Forward for Children {
    fn context<'p>(procs: &'p Ctx<'p>) -> Ctx<'p> {
        procs.child()
    }

    fn forward<'f>(_: &'f Ctx<'_>, _: &'f Ctx<'_>) -> impl Future<Output = ()> + 'f {
        core::future::pending()
    }
}

/// A root of its own, to which the cancellation of `procs` is forwarded. For a store whose
/// workers park a waker each: a waiter of a child of `procs` would be kept at `procs`, and the
/// cancellation of any incarnation would wake every worker.
#[cfg(feature = "alloc")]
pub(super) struct Roots;

#[cfg(feature = "alloc")]
impl Forward for Roots {
    fn context<'p>(_: &'p Ctx<'p>) -> Ctx<'p> {
        Ctx::new()
    }

    async fn forward<'f>(procs: &'f Ctx<'_>, run: &'f Ctx<'_>) {
        let cause = procs.cancelled().await;
        run.cancel_with(cause);
        core::future::pending::<()>().await;
    }
}

/// `N` slots in an array.
pub(super) struct Fixed<K, V, E, const N: usize> {
    slots: [Slot<K, V, E>; N],
    /// No slot below it is free and unpinned.
    low: usize,
}

impl<K, V, E, const N: usize> Fixed<K, V, E, N> {
    pub(super) const fn new() -> Self {
        Self { slots: [const { Slot::new() }; N], low: 0 }
    }
}

impl<K, V, E, const N: usize> Deref for Fixed<K, V, E, N> {
    type Target = [Slot<K, V, E>];
    fn deref(&self) -> &[Slot<K, V, E>] {
        &self.slots
    }
}

/// The first free and unpinned slot of `slots` from `*low` on; moves `*low` up to it.
fn first_free<K, V, E>(slots: &[Slot<K, V, E>], low: &mut usize) -> Option<usize> {
    let from = (*low).min(slots.len());
    let found = slots[from..].iter().position(|s| s.phase == Phase::Free && s.pins == 0).map(|p| p + from);
    *low = found.unwrap_or(slots.len());
    found
}

impl<K, V, E, const N: usize> Store<K, V, E> for Fixed<K, V, E, N> {
    const PARKS: bool = false;

    fn grow(&mut self) -> bool {
        false
    }

    fn spare(&self) -> usize {
        0
    }

    fn at(&mut self, i: usize) -> &mut Slot<K, V, E> {
        self.low = self.low.min(i);
        &mut self.slots[i]
    }

    fn each(&mut self) -> &mut [Slot<K, V, E>] {
        self.low = 0;
        &mut self.slots
    }

    fn first_free(&mut self) -> Option<usize> {
        first_free(&self.slots, &mut self.low)
    }

    fn park(&mut self, _: usize, _: &Waker) {}

    type Forward = Children;

    type Changed = core::iter::Empty<Waker>;

    fn changed(&mut self) -> Self::Changed {
        core::iter::empty()
    }
}

/// Slots in a vector that grows up to `max`, never shrinks (freed slots are reused), with the
/// waker of each slot's worker beside it.
#[cfg(feature = "alloc")]
pub(super) struct Growing<K, V, E> {
    slots: alloc::vec::Vec<Slot<K, V, E>>,
    max: usize,
    /// No slot below it is free and unpinned.
    low: usize,
    /// The waker of each slot's worker, until the slot changes.
    wakers: alloc::vec::Vec<Option<Waker>>,
    /// The slots changed since the wakers were last taken (`all`: every slot).
    touched: alloc::vec::Vec<usize>,
    all: bool,
}

#[cfg(feature = "alloc")]
impl<K, V, E> Growing<K, V, E> {
    pub(super) const fn new(max: usize) -> Self {
        Self {
            slots: alloc::vec::Vec::new(),
            max,
            low: 0,
            wakers: alloc::vec::Vec::new(),
            touched: alloc::vec::Vec::new(),
            all: false,
        }
    }
}

#[cfg(feature = "alloc")]
impl<K, V, E> Deref for Growing<K, V, E> {
    type Target = [Slot<K, V, E>];
    fn deref(&self) -> &[Slot<K, V, E>] {
        &self.slots
    }
}

#[cfg(feature = "alloc")]
impl<K, V, E> Store<K, V, E> for Growing<K, V, E> {
    const PARKS: bool = true;

    fn grow(&mut self) -> bool {
        if self.slots.len() >= self.max {
            return false;
        }
        self.slots.push(Slot::new());
        self.wakers.push(None);
        true
    }

    fn spare(&self) -> usize {
        self.max.saturating_sub(self.slots.len())
    }

    fn at(&mut self, i: usize) -> &mut Slot<K, V, E> {
        self.low = self.low.min(i);
        if !self.all && self.touched.last() != Some(&i) {
            if self.touched.len() >= self.slots.len() {
                self.all = true;
                self.touched.clear();
            } else {
                self.touched.push(i);
            }
        }
        &mut self.slots[i]
    }

    fn each(&mut self) -> &mut [Slot<K, V, E>] {
        self.low = 0;
        self.all = true;
        self.touched.clear();
        &mut self.slots
    }

    fn first_free(&mut self) -> Option<usize> {
        first_free(&self.slots, &mut self.low)
    }

    fn park(&mut self, i: usize, waker: &Waker) {
        match &mut self.wakers[i] {
            Some(held) if held.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    type Forward = Roots;

    type Changed = alloc::vec::IntoIter<Waker>;

    fn changed(&mut self) -> Self::Changed {
        let woken: alloc::vec::Vec<Waker> = if core::mem::take(&mut self.all) {
            self.wakers.iter_mut().filter_map(Option::take).collect()
        } else {
            let wakers = &mut self.wakers;
            self.touched.drain(..).filter_map(|i| wakers[i].take()).collect()
        };
        woken.into_iter()
    }
}

/// How many slots there are and whether the drive is ending (registering the waker).
#[cfg(feature = "alloc")]
type CountFn<'c> = alloc::boxed::Box<dyn Fn(&Context<'_>) -> (usize, bool) + 'c>;

/// The workers of a [`Growing`] store: one boxed future per slot, added as slots are.
#[cfg(feature = "alloc")]
pub(super) struct GrowingWorkers<'c, F> {
    running: futures_util::stream::FuturesUnordered<core::pin::Pin<alloc::boxed::Box<F>>>,
    made: usize,
    worker: alloc::boxed::Box<dyn Fn(usize) -> F + 'c>,
    count: CountFn<'c>,
}

#[cfg(feature = "alloc")]
impl<'c, F> GrowingWorkers<'c, F> {
    pub(super) fn new(worker: impl Fn(usize) -> F + 'c, count: impl Fn(&Context<'_>) -> (usize, bool) + 'c) -> Self {
        Self {
            running: futures_util::stream::FuturesUnordered::new(),
            made: 0,
            worker: alloc::boxed::Box::new(worker),
            count: alloc::boxed::Box::new(count),
        }
    }
}

#[cfg(feature = "alloc")]
impl<F: Future<Output = ()>> Future for GrowingWorkers<'_, F> {
    type Output = ();

    fn poll(self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> core::task::Poll<()> {
        use core::task::Poll;
        use futures_util::stream::StreamExt;
        let this = self.get_mut();
        loop {
            let (len, ending) = (this.count)(cx);
            while this.made < len {
                this.running.push(alloc::boxed::Box::pin((this.worker)(this.made)));
                this.made += 1;
            }
            match this.running.poll_next_unpin(cx) {
                Poll::Ready(Some(())) => {}
                Poll::Ready(None) if ending => return Poll::Ready(()),
                Poll::Ready(None) | Poll::Pending => {
                    // A slot added since the count registered the waker is seen at once.
                    if (this.count)(cx).0 == this.made {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

/// Everything behind the supervisor's mutex.
pub(super) struct Book<K, V, E, S> {
    /// A driver runs (between its claim and its end).
    pub(super) driving: bool,
    /// The driver's callback has returned: no new starts, every key is being stopped.
    pub(super) shutting: bool,
    /// The last driver was dropped before it ended.
    pub(super) gone: bool,
    /// Counts the drives; a handle that waits across a new drive sees it change.
    pub(super) drives: u32,
    /// `reconcile_now` was asked and the reconcile loop has yet to see it.
    pub(super) now: bool,
    /// Some slot is dirty.
    pub(super) dirty: bool,
    /// The number of the current (or last) pass.
    pub(super) pass: u32,
    /// The supervisor-wide intensity was exceeded.
    pub(super) melted: bool,
    /// The first pass of the drive has ended.
    pub(super) first_done: bool,
    /// The driver's last reading of its clock: the `since` of a key a handle reserves.
    pub(super) stamp: Instant,
    /// Failures of the shutdown, for the drive's result.
    pub(super) report: Option<E>,
    /// The drive has a `removed` hook: keys that leave are freed by their worker after it.
    pub(super) removes: bool,
    /// Where [`find`](Book::find) begins: after the slot last found or reserved.
    pub(super) hint: usize,
    /// No slot from here on has ever held a key since the last [`clear`](Book::clear): where a
    /// search for a key that has no slot ends.
    pub(super) top: usize,
    pub(super) slots: S,
    _types: core::marker::PhantomData<fn() -> (K, V)>,
}

impl<K, V, E, S> Book<K, V, E, S> {
    pub(super) const fn new(slots: S) -> Self {
        Self {
            driving: false,
            shutting: false,
            gone: false,
            drives: 0,
            now: false,
            dirty: false,
            pass: 0,
            melted: false,
            first_done: false,
            stamp: Instant::ZERO,
            report: None,
            removes: false,
            hint: 0,
            top: 0,
            slots,
            _types: core::marker::PhantomData,
        }
    }
}

impl<K: PartialEq, V, E, S: Store<K, V, E>> Book<K, V, E, S> {
    /// The slot holding `key`: searched from the slot after the last one found or reserved
    /// ([`Book::hint`]), then from the start, so that a pass over the table in the order of the
    /// slots finds each key at once; only below [`Book::top`], so that a key without a slot
    /// costs a look at the slots that held keys, not at every slot.
    pub(super) fn find(&self, key: &K) -> Option<usize> {
        let held = &self.slots[..self.top.min(self.slots.len())];
        let from = self.hint.min(held.len());
        let (before, after) = held.split_at(from);
        let holds = |s: &Slot<K, V, E>| s.key.as_ref() == Some(key);
        after.iter().position(holds).map(|p| p + from).or_else(|| before.iter().position(holds))
    }

    /// [`find`](Self::find), and the next search begins after the slot found.
    pub(super) fn find_next(&mut self, key: &K) -> Option<usize> {
        let found = self.find(key);
        if let Some(i) = found {
            self.hint = i + 1;
        }
        found
    }

    /// Reserves a slot for `key` (invariant 1): `Exists` if it has one, `Full` with the key
    /// handed back if no unpinned slot is free.
    pub(super) fn reserve(&mut self, key: K, offered: Option<V>, now: Instant) -> Result<usize, Error<K, E>> {
        if self.find(&key).is_some() {
            return Err(Error::Exists);
        }
        let free = self.slots.first_free();
        let Some(i) = free.or_else(|| self.slots.grow().then(|| self.slots.len() - 1)) else {
            return Err(Error::Full(key));
        };
        self.hint = i + 1;
        self.top = self.top.max(i + 1);
        let pass = self.pass;
        let s = self.slots.at(i);
        s.key = Some(key);
        s.phase = Phase::Reserved;
        s.generation = s.generation.wrapping_add(1);
        s.new_ticket();
        s.offered = offered;
        s.built = None;
        s.check = false;
        s.stop = Level::None;
        s.incarnation = 0;
        s.restarts = 0;
        s.since = now;
        s.dirty = false;
        s.born = pass;
        s.seen = pass;
        s.fresh = true;
        s.restore = false;
        s.by_policy = false;
        Ok(i)
    }

    /// Forgets every key: the start of a new drive.
    pub(super) fn clear(&mut self) {
        for s in self.slots.each() {
            if s.phase != Phase::Free {
                s.answer(Err(Error::StoppedBeforeReady));
                s.free();
            }
        }
        self.top = 0;
        self.now = false;
        self.first_done = false;
        self.dirty = false;
        self.melted = false;
        self.report = None;
    }
}
