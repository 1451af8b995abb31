//! A cancellation context: Go's `context.Context` without values or deadlines, and with a cause.
//!
//! A [`Ctx`] is a sticky flag. Once cancelled it stays cancelled, and so does every [`child`]
//! derived from it. Children borrow their parent, so a tree of contexts lives on the stack (or in
//! a `static`, for a root) and needs no heap. A context is four words on a 32-bit target.
//!
//! # Waiters and wakeups
//!
//! Wakers are kept only at the root of a chain of contexts: [`Ctx::cancelled`] on any context
//! registers the waiting task at the root of its chain, and cancelling any context of the chain
//! wakes the tasks registered there. Those whose own context is not cancelled see that and go
//! back to sleep (a wakeup per real cancellation, never a loop). Combinators give each child a
//! context of its own that is a root, and pass the caller's cancellation down themselves, in
//! dependency order; so a tree of combinators never piles the wakers of its leaves on one
//! context.
//!
//! A root holds one task's waker inline ([`Ctx::new`]), or as many as a [`WaiterPool`] of the
//! user's choosing has slots ([`Ctx::with_waiters`], for a `static` context that many tasks
//! wait on). More distinct tasks than that go to the program-wide spill table
//! ([`SPILL_SLOTS`] entries without `alloc`, unbounded with it).
//! No waiter is ever woken early because another one arrived: that is what made waiting tasks
//! wake each other in a loop.
//!
//! Only when the spill table is full too (without `alloc`) can a waiter not be stored. The
//! context it waits on is then cancelled with [`Cause::Overflow`]: the processes under it stop,
//! and the cause says why. It never spins and never hangs. Size the pool of a context that many
//! tasks wait on so that this cannot happen.
//!
//! The spill table knows a context by its address (a handle, such as a `Process`, a supervisor,
//! a `shot` type or a group, by an id it keeps, so a handle may be moved while tasks wait on
//! it through its `poll_*` methods). A waiter that registered through
//! [`Ctx::poll_cancelled`] and went to the table is therefore lost if the context is moved
//! before it wakes it: keep a root context that more tasks wait on than it has slots in place
//! (a `static`, pinned in its future, in an `Arc`) while they wait. The futures
//! ([`Ctx::cancelled`]) borrow it, so the compiler enforces this for them, and a context with
//! children cannot move (they borrow it). The entries of waiters that gave up (a dropped
//! future) stay in the table until the context next wakes its waiters or is dropped: a
//! context moved in between leaves them behind (with `alloc` a leak of their wakers; without,
//! table entries held until something at the old address wakes or is dropped). The id that
//! would lift this costs 4 bytes a context.
//!
//! [`child`]: Ctx::child

use crate::sync::{AtomicBool, AtomicU8, Ordering};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::waitqueue::{Armed, WakerCell, spill};

pub use crate::waitqueue::SPILL_SLOTS;

pub use crate::waitqueue::WAITER_SLOTS;

/// Why a context was cancelled.
///
/// The cause is set by the first cancellation that reaches a context, directly or through an
/// ancestor, and never changes afterwards. A process can read it with [`Ctx::cause`] to tell
/// "flush and exit" from "restarting soon".
///
/// One race is allowed: [`Ctx::cause`] reads the levels of the chain one after the other, from
/// the context up, and answers with the nearest cancelled one. When two levels are cancelled at
/// the same time from other threads (a child with `Restart`, its root with `Shutdown`), a read
/// racing both can find the root's cause first and a later read the child's. Once the
/// cancellations are done, every read gives the nearest level's cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Cause {
    /// A stop was requested from outside: a user, a signal, a plain [`Ctx::cancel`].
    Shutdown,
    /// The enclosing process ended, so the context it handed out ends too (Go: a runner cancels
    /// the context of its callback when it returns).
    Parent,
    /// A process this one depends on (or runs beside, in a group) failed.
    DependencyFailed,
    /// A stop deadline passed: the graceful stop took too long and this is the forced stop.
    Deadline,
    /// The process is being stopped to be started again.
    Restart,
    /// A task could not be registered to wait on this context: more distinct tasks waited on
    /// it than its slots and the spill table hold (see the [module docs](self)). The context
    /// cancelled itself so that nothing waits for ever on a wakeup that cannot come.
    Overflow,
    /// This node lost the claim on the key the process runs for (a keyed supervisor's
    /// [`Claim`](crate::table::Claim)): another node may run it now, so this one stops it.
    ClaimLost,
}

impl Cause {
    pub(crate) const fn to_bits_pub(self) -> u8 {
        self.to_bits()
    }

    pub(crate) const fn from_bits_pub(bits: u8) -> Option<Self> {
        Self::from_bits(bits)
    }

    const fn to_bits(self) -> u8 {
        match self {
            Self::Shutdown => 1,
            Self::Parent => 2,
            Self::DependencyFailed => 3,
            Self::Deadline => 4,
            Self::Restart => 5,
            Self::Overflow => 6,
            Self::ClaimLost => 7,
        }
    }

    const fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            1 => Some(Self::Shutdown),
            2 => Some(Self::Parent),
            3 => Some(Self::DependencyFailed),
            4 => Some(Self::Deadline),
            5 => Some(Self::Restart),
            6 => Some(Self::Overflow),
            7 => Some(Self::ClaimLost),
            _ => None,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Shutdown => "shutdown",
            Self::Parent => "parent ended",
            Self::DependencyFailed => "dependency failed",
            Self::Deadline => "deadline",
            Self::Restart => "restart",
            Self::Overflow => "too many waiters",
            Self::ClaimLost => "claim lost",
        })
    }
}

/// Stores `cause` into `state` if it is still 0; returns whether this call stored it. A
/// compare-and-swap where the target has one; otherwise check and store inside a critical
/// section (plain loads and stores only, for `thumbv6m`).
fn set_once(state: &AtomicU8, cause: Cause) -> bool {
    #[cfg(target_has_atomic = "8")]
    return state.compare_exchange(0, cause.to_bits(), Ordering::SeqCst, Ordering::SeqCst).is_ok();
    #[cfg(not(target_has_atomic = "8"))]
    critical_section::with(|_| {
        if state.load(Ordering::SeqCst) != 0 {
            return false;
        }
        state.store(cause.to_bits(), Ordering::SeqCst);
        true
    })
}

/// Waker slots for a root context that many tasks wait on: `N` distinct tasks sleep in it
/// without a heap (see [`Ctx::with_waiters`]).
///
/// Make it a `static` beside the context. Tasks beyond `N` go to the program-wide spill table.
///
/// # Examples
///
/// ```
/// use procession::Ctx;
/// use procession::ctx::WaiterPool;
///
/// static SHUTDOWN_WAITERS: WaiterPool<12> = WaiterPool::new();
/// static SHUTDOWN: Ctx<'static> = Ctx::with_waiters(&SHUTDOWN_WAITERS);
/// # SHUTDOWN.cancel();
/// ```
pub struct WaiterPool<const N: usize> {
    cells: [WakerCell; N],
}

impl<const N: usize> WaiterPool<N> {
    /// Creates a pool of `N` empty slots.
    pub const fn new() -> Self {
        Self { cells: [const { WakerCell::new() }; N] }
    }
}

impl<const N: usize> Default for WaiterPool<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for WaiterPool<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaiterPool").field("slots", &N).finish_non_exhaustive()
    }
}

/// What a root context keeps its waiters in, seen through a thin interface.
trait Pool: Sync {
    fn try_register(&self, waker: &Waker, armed: &AtomicBool) -> bool;
    fn wake(&self);
}

impl<const N: usize> Pool for WaiterPool<N> {
    fn try_register(&self, waker: &Waker, armed: &AtomicBool) -> bool {
        self.cells.iter().any(|cell| cell.try_register(waker, armed))
    }

    fn wake(&self) {
        crate::waitqueue::wake_each(self.cells.iter().filter_map(WakerCell::take));
    }
}

/// Where a context leads: its parent, or (for a root) where its waiters are kept.
enum Up<'a> {
    Parent(&'a Ctx<'a>),
    /// A root keeping one task's waker inline.
    Inline(WakerCell),
    /// A root keeping its waiters in a pool of the user's.
    Pool(&'a dyn Pool),
}

/// A cancellation context.
///
/// A root is made with [`Ctx::new`] (`const`, so it can be a `static`); [`Ctx::child`] derives a
/// context that is cancelled when its parent is, and that can also be cancelled on its own.
/// Cancellation is sticky and carries a [`Cause`].
///
/// In this crate, cancelling the context of a running process asks for a **forced** stop: the
/// process should stop promptly, skipping what a graceful stop would do. The graceful stop is
/// the return of the `ready` callback (see [`Runner`]).
///
/// `Ctx` is `Send + Sync`: it can be shared between threads, and a tree of contexts can live
/// inside a future spawned on a multi-threaded runtime. It is 16 bytes on a 32-bit target
/// without `std`. With `std`, the waker slot of a root has a lock of its own rather than the
/// program-wide critical section, so that tasks on several cores do not queue on one lock.
///
/// Many tasks waiting on one context: see the [module docs](self) and [`Ctx::with_waiters`].
///
/// # Examples
///
/// ```
/// use procession::{Cause, Ctx};
///
/// static SHUTDOWN: Ctx<'static> = Ctx::new();
///
/// let request = SHUTDOWN.child();
/// assert!(!request.is_cancelled());
/// SHUTDOWN.cancel();
/// assert!(request.is_cancelled());
/// assert_eq!(request.cause(), Some(Cause::Shutdown));
/// embassy_futures::block_on(request.cancelled()); // completes at once
/// ```
///
/// [`Runner`]: crate::Runner
pub struct Ctx<'a> {
    up: Up<'a>,
    /// 0 while not cancelled, otherwise `Cause::to_bits`.
    state: AtomicU8,
    /// A root: some waiter of this chain went to the spill table.
    spilled: AtomicBool,
    /// A root: its inline cell or its pool may hold a waker (a wake of a root that nobody waits
    /// on takes no lock).
    armed: AtomicBool,
    /// A byte for the owner of a context the crate made for itself (the engine keeps a child's
    /// progress here, in what would otherwise be padding). Written only by that owner, from the
    /// one task that polls it.
    owner: AtomicU8,
}

// === impl Ctx ===

impl Ctx<'static> {
    /// Creates a root context, not cancelled, that keeps one waiting task inline (further tasks
    /// go to the spill table; see the [module docs](self)).
    pub const fn new() -> Self {
        Self::root(Up::Inline(WakerCell::new()))
    }
}

impl Default for Ctx<'static> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Ctx<'a> {
    const fn root(up: Up<'a>) -> Self {
        Self {
            up,
            state: AtomicU8::new(0),
            spilled: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            owner: AtomicU8::new(0),
        }
    }

    /// Creates a root context, not cancelled, whose waiting tasks sleep in `pool`: up to `N`
    /// distinct tasks without touching the spill table.
    ///
    /// For a context that many tasks wait on, such as the `static` shutdown context of a
    /// firmware with a dozen tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::Ctx;
    /// use procession::ctx::WaiterPool;
    ///
    /// static WAITERS: WaiterPool<8> = WaiterPool::new();
    /// static SHUTDOWN: Ctx<'static> = Ctx::with_waiters(&WAITERS);
    ///
    /// SHUTDOWN.cancel();
    /// assert!(SHUTDOWN.is_cancelled());
    /// ```
    pub const fn with_waiters<const N: usize>(pool: &'a WaiterPool<N>) -> Self {
        Self::root(Up::Pool(pool))
    }

    /// A root context for a node of a combinator, which passes cancellation down itself.
    pub(crate) const fn detached() -> Self {
        Self::root(Up::Inline(WakerCell::new()))
    }

    /// Derives a child context: cancelled when `self` is, and cancellable on its own without
    /// affecting `self`.
    ///
    /// The child borrows `self`; it needs no heap. Dropping a child does nothing to its parent.
    pub const fn child(&'a self) -> Self {
        Ctx {
            up: Up::Parent(self),
            state: AtomicU8::new(0),
            spilled: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            owner: AtomicU8::new(0),
        }
    }

    /// Cancels this context and, through them, all its children, with [`Cause::Shutdown`].
    ///
    /// Equivalent to `cancel_with(Cause::Shutdown)`.
    pub fn cancel(&self) -> bool {
        self.cancel_with(Cause::Shutdown)
    }

    /// Cancels this context with the given cause and wakes every task waiting on it or on one of
    /// its children.
    ///
    /// Returns `true` if this call cancelled the context, `false` if it (or an ancestor) was
    /// already cancelled; in that case the earlier cause stays. Of two threads cancelling the
    /// same context at the same moment exactly one gets `true`, and its cause is kept. (A context
    /// cancelled at the same moment as one of its ancestors may end up with its own cause, which
    /// [`cause`](Self::cause) then reports instead of the ancestor's.)
    pub fn cancel_with(&self, cause: Cause) -> bool {
        if self.is_cancelled() || !set_once(&self.state, cause) {
            return false;
        }
        self.top().wake_root();
        true
    }

    /// Whether this context or one of its ancestors is cancelled.
    ///
    /// Only atomic loads, one per level of the chain: no lock, no read-modify-write.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.cause().is_some()
    }

    /// Why this context is cancelled, or `None` while it is not.
    ///
    /// The cause is that of the nearest cancelled level, starting from `self`: since cancelling
    /// an already cancelled context keeps the earlier cause, this is the cause of the first
    /// cancellation that reached this context.
    pub fn cause(&self) -> Option<Cause> {
        self.cause_below(None)
    }

    /// The cause of the nearest cancelled level from `self` up to, not including, `stop` (every
    /// level if `stop` is `None` or not in the chain).
    pub(crate) fn cause_below(&self, stop: Option<&Ctx<'_>>) -> Option<Cause> {
        let stop = stop.map(|t| core::ptr::from_ref(t).cast::<()>());
        let mut level = self;
        loop {
            if Some(core::ptr::from_ref(level).cast::<()>()) == stop {
                return None;
            }
            if let Some(cause) = Cause::from_bits(level.state.load(Ordering::SeqCst)) {
                return Some(cause);
            }
            match level.up {
                Up::Parent(parent) => level = parent,
                Up::Inline(_) | Up::Pool(_) => return None,
            }
        }
    }

    /// The context this one was derived from; `None` for a root.
    pub fn parent(&self) -> Option<&'a Self> {
        match self.up {
            Up::Parent(parent) => Some(parent),
            Up::Inline(_) | Up::Pool(_) => None,
        }
    }

    /// The root of this chain, where its waiters are kept.
    fn top(&self) -> &Ctx<'_> {
        let mut level = self;
        while let Up::Parent(parent) = level.up {
            level = parent;
        }
        level
    }

    fn key(&self) -> usize {
        core::ptr::from_ref(self).cast::<()>() as usize
    }

    /// Registers `cx`'s waker to be woken by the next cancellation anywhere in this chain, or
    /// by [`wake`](Self::wake) on it. For waits of the crate's own that keep no state: the
    /// registration takes a shared entry of the spill table if the root has no room.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        let top = self.top();
        if !top.try_register_root(cx.waker()) && !spill::register_shared(top.key(), cx.waker(), &top.spilled) {
            self.cancel_with(Cause::Overflow);
        }
    }

    /// Wakes every task waiting anywhere in this chain (they re-check what they wait for).
    pub(crate) fn wake(&self) {
        self.top().wake_root();
    }

    /// Whether the owner's byte has any bit of `flags` set.
    #[inline]
    pub(crate) fn owner_has(&self, flags: u8) -> bool {
        self.owner.load(Ordering::Relaxed) & flags != 0
    }

    /// Sets the bits of `flags` in the owner's byte (a plain load and store: only the owner's
    /// task writes it).
    #[inline]
    pub(crate) fn owner_set(&self, flags: u8) {
        self.owner.store(self.owner.load(Ordering::Relaxed) | flags, Ordering::Relaxed);
    }

    /// Whether `self` and `other` are the same context.
    pub(crate) fn is(&self, other: &Ctx<'_>) -> bool {
        core::ptr::from_ref(self).cast::<()>() == core::ptr::from_ref(other).cast::<()>()
    }

    /// The root of this chain.
    pub(crate) fn chain_root(&self) -> &Ctx<'_> {
        self.top()
    }

    /// On a root: wakes every waiter of the chain.
    fn wake_root(&self) {
        // The spill entries are woken even if a waker kept inline panics.
        let _spilled = crate::waitqueue::Finally::new(|| spill::wake(self.key(), &self.spilled));
        if !Armed::disarm(&self.armed) {
            return;
        }
        match &self.up {
            Up::Inline(cell) => {
                if let Some(waker) = cell.take() {
                    waker.wake();
                }
            }
            Up::Pool(pool) => pool.wake(),
            Up::Parent(_) => {}
        }
    }

    /// On a root: keeps `waker` in the root's own slots if they have room for it.
    fn try_register_root(&self, waker: &Waker) -> bool {
        match &self.up {
            Up::Inline(cell) => cell.try_register(waker, &self.armed),
            Up::Pool(pool) => pool.try_register(waker, &self.armed),
            Up::Parent(_) => false,
        }
    }

    /// Polls for cancellation: `Ready(cause)` once this context or an ancestor is cancelled;
    /// otherwise registers the waker of `cx` at the root of the chain.
    ///
    /// A wait that polls this repeatedly from outside a [`Cancelled`] future keeps no state:
    /// if its task cannot be kept in the root's own slots, it takes a shared entry in the
    /// spill table that stays until the chain is next cancelled.
    pub fn poll_cancelled(&self, cx: &mut Context<'_>) -> Poll<Cause> {
        self.poll_cancelled_below(cx, None)
    }

    /// As [`poll_cancelled`](Self::poll_cancelled), but only the levels from `self` up to, not
    /// including, `stop` count: the caller learns of `stop`'s cancellation some other way.
    pub(crate) fn poll_cancelled_below(&self, cx: &Context<'_>, stop: Option<&Ctx<'_>>) -> Poll<Cause> {
        if let Some(cause) = self.cause_below(stop) {
            return Poll::Ready(cause);
        }
        self.register(cx);
        // A cancel between the first check and the registration is visible now: `cancel_with`
        // stores the flag before it wakes.
        match self.cause_below(stop) {
            Some(cause) => Poll::Ready(cause),
            None => Poll::Pending,
        }
    }

    /// Waits until this context or one of its ancestors is cancelled, and returns the cause.
    ///
    /// Equivalent to:
    /// ```ignore
    /// async fn cancelled(&self) -> Cause;
    /// ```
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: dropping the future loses nothing, and a new call observes
    /// the same sticky state.
    pub fn cancelled(&self) -> Cancelled<'_, 'a> {
        Cancelled { ctx: self, spill: 0 }
    }

    /// Runs `fut` until it completes or this context is cancelled, whichever comes first.
    ///
    /// Returns `Ok(output)` if `fut` completed, or `Err(cause)` if the context was cancelled
    /// first; `fut` is then dropped. When both are ready at the same poll, `fut` wins.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe if `fut` is.
    pub async fn run_until_cancelled<F: Future>(&self, fut: F) -> Result<F::Output, Cause> {
        use embassy_futures::select::{Either, select};
        match select(fut, self.cancelled()).await {
            Either::First(output) => Ok(output),
            Either::Second(cause) => Err(cause),
        }
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        // Nothing can wait on a context that is going away (waiters borrow it): forget the
        // entries a root of this address left in the spill table.
        spill::clear(self.key(), &self.spilled);
    }
}

impl fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx").field("root", &self.parent().is_none()).field("cause", &self.cause()).finish()
    }
}

/// Future for the [`Ctx::cancelled`] method.
///
/// Completes with the [`Cause`] once the context is cancelled. It is fused: polling it again
/// after completion returns the cause again.
///
/// Dropping it loses nothing (cancellation is sticky). A waker it had to keep in the spill
/// table is removed when it is dropped or completes; one kept in the root's own slot stays
/// until the next cancellation (a later task then waits beside it).
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Cancelled<'c, 'a> {
    ctx: &'c Ctx<'a>,
    /// The id of this future's own entry in the spill table, 0 for none.
    spill: u32,
}

impl Cancelled<'_, '_> {
    fn release(&mut self) {
        if self.spill != 0 {
            spill::remove(core::mem::take(&mut self.spill));
        }
    }
}

impl Future for Cancelled<'_, '_> {
    type Output = Cause;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Cause> {
        let ctx = self.ctx;
        if let Some(cause) = ctx.cause() {
            self.release();
            return Poll::Ready(cause);
        }
        let top = ctx.top();
        if top.try_register_root(cx.waker()) {
            self.release();
        } else if self.spill == 0 || !spill::refresh(self.spill, cx.waker()) {
            match spill::insert(top.key(), cx.waker(), &top.spilled) {
                Some(id) => self.spill = id,
                None => {
                    self.spill = 0;
                    ctx.cancel_with(Cause::Overflow);
                }
            }
        }
        // A cancel between the first check and the registration is visible now.
        match ctx.cause() {
            Some(cause) => {
                self.release();
                Poll::Ready(cause)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Cancelled<'_, '_> {
    fn drop(&mut self) {
        self.release();
    }
}

// === impl Ctx (reuse) ===

impl Ctx<'_> {
    /// Makes this context's own level not cancelled again (its ancestors are untouched).
    ///
    /// Only for owners that can prove nobody observes this level any more: `shot::Many` resets
    /// the context of a finished run before the next run, and hands the context out only
    /// through the run's guard, whose borrow has ended by then.
    pub(crate) fn reset(&self) {
        self.state.store(0, Ordering::SeqCst);
    }
}
