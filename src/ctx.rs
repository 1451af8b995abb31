//! A cancellation context: Go's `context.Context` without values or deadlines, and with a cause.
//!
//! A [`Ctx`] is a sticky flag. Once cancelled it stays cancelled, and so does every [`child`]
//! derived from it. Children borrow their parent, so a tree of contexts lives on the stack (or in
//! a `static`, for a root) and needs no heap.
//!
//! # Waiters and wakeups
//!
//! [`Ctx::cancelled`] registers the waiting task's waker at every level of the chain, from the
//! context up to its root. Tasks that share a waker share a slot.
//!
//! Without `alloc` each level has a fixed number of slots ([`WAITER_SLOTS`]). When more distinct
//! tasks wait on one level than there are slots, registering one more wakes every waiter of that
//! level early; they register again when polled. A wakeup may be spurious but is never lost.
//! The price: while more tasks than slots wait on one context, they keep waking each other, so
//! they spin instead of sleeping. On a heapless target, give each task its own child context
//! (a child costs no heap) or keep the number of waiting tasks per context within the slots.
//!
//! With `alloc`, wakers beyond the inline slots go to a list on the heap: any number of tasks
//! can wait on one context and none is woken before it is cancelled. Up to [`WAITER_SLOTS`]
//! tasks per context still allocate nothing.
//!
//! [`child`]: Ctx::child

use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use core::task::{Context, Poll, Waker};

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;

/// How many distinct tasks can wait on one level of a context without a heap: beyond this,
/// waiters are woken early without `alloc`, and further wakers go to the heap with it.
///
/// Waiters beyond this number do not lose their wakeup: registering one more waker wakes every
/// waker already registered, and those re-register when they are polled again.
pub const WAITER_SLOTS: usize = 4;

/// Why a context was cancelled.
///
/// The cause is set by the first cancellation that reaches a context, directly or through an
/// ancestor, and never changes afterwards. A process can read it with [`Ctx::cause`] to tell
/// "flush and exit" from "restarting soon".
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
}

impl Cause {
    const fn to_bits(self) -> u8 {
        match self {
            Self::Shutdown => 1,
            Self::Parent => 2,
            Self::DependencyFailed => 3,
            Self::Deadline => 4,
            Self::Restart => 5,
        }
    }

    const fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            1 => Some(Self::Shutdown),
            2 => Some(Self::Parent),
            3 => Some(Self::DependencyFailed),
            4 => Some(Self::Deadline),
            5 => Some(Self::Restart),
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
        })
    }
}

/// A sticky one-shot event with bounded waiter slots: the building block of [`Ctx`].
///
/// `set` stores the cause with a plain atomic store (no read-modify-write, so it works on
/// `thumbv6m`), then wakes every registered waker.
pub(crate) struct Latch {
    /// 0 while not set, otherwise `Cause::to_bits`.
    state: AtomicU8,
    waiters: Waiters,
}

/// Waker slots that are all woken together, never losing a wakeup.
///
/// [`WAITER_SLOTS`] slots live inline. Without `alloc`, registering one more distinct waker
/// wakes every registered one early (they register again when polled). With `alloc`, further
/// wakers go to a list on the heap instead, so any number of tasks can wait without being woken
/// early, and the common case (a few tasks) still allocates nothing.
///
/// `any` tells `wake` whether a waker may be registered, so that waking with nobody waiting
/// takes no lock. A waiter stores `any` then re-checks its condition; a waker changes the
/// condition then loads `any`; both sides are `SeqCst`, so at least one of them sees the other.
pub(crate) struct Waiters {
    any: AtomicBool,
    wakers: Mutex<CriticalSectionRawMutex, RefCell<WakerList>>,
}

/// A registered waker. With `alloc` it also counts its holders: the `Cancelled` futures that
/// registered it (and will remove it when dropped) plus one per plain registration (never
/// removed before the next wake).
#[cfg(feature = "alloc")]
type Entry = (Waker, usize);
#[cfg(not(feature = "alloc"))]
type Entry = Waker;

struct WakerList {
    inline: heapless::Vec<Entry, WAITER_SLOTS>,
    #[cfg(feature = "alloc")]
    overflow: alloc::vec::Vec<Entry>,
}

/// Wakers taken out of a list under the lock, to be woken after it is released (a waker may
/// run code that registers again).
#[derive(Default)]
struct Taken {
    inline: heapless::Vec<Entry, WAITER_SLOTS>,
    #[cfg(feature = "alloc")]
    overflow: alloc::vec::Vec<Entry>,
}

impl Taken {
    fn wake(self) {
        #[cfg(not(feature = "alloc"))]
        self.inline.into_iter().for_each(Waker::wake);
        #[cfg(feature = "alloc")]
        self.inline.into_iter().chain(self.overflow).for_each(|(waker, _)| waker.wake());
    }
}

impl WakerList {
    const fn new() -> Self {
        Self {
            inline: heapless::Vec::new(),
            #[cfg(feature = "alloc")]
            overflow: alloc::vec::Vec::new(),
        }
    }

    fn take(&mut self) -> Taken {
        Taken {
            inline: core::mem::take(&mut self.inline),
            #[cfg(feature = "alloc")]
            overflow: core::mem::take(&mut self.overflow),
        }
    }

    /// Adds `waker` unless a waker of the same task is there (then counts one more holder);
    /// returns the wakers to wake early.
    #[cfg(feature = "alloc")]
    fn register(&mut self, waker: &Waker) -> Taken {
        if let Some(entry) = self.inline.iter_mut().chain(&mut self.overflow).find(|(w, _)| w.will_wake(waker)) {
            entry.1 = entry.1.saturating_add(1);
        } else if let Err(entry) = self.inline.push((waker.clone(), 1)) {
            self.overflow.push(entry);
        }
        Taken::default()
    }

    /// Adds `waker` unless a waker of the same task is there; returns the wakers to wake early.
    #[cfg(not(feature = "alloc"))]
    fn register(&mut self, waker: &Waker) -> Taken {
        if self.inline.iter().any(|w| w.will_wake(waker)) || self.inline.push(waker.clone()).is_ok() {
            return Taken::default();
        }
        // Every slot is taken: wake them all early (they register again when polled) and keep
        // the new one.
        let early = self.take();
        let _ = self.inline.push(waker.clone());
        early
    }

    /// Removes one holder of `waker`, and the waker with its last holder.
    #[cfg(feature = "alloc")]
    fn deregister(&mut self, waker: &Waker) {
        if let Some(i) = self.inline.iter().position(|(w, _)| w.will_wake(waker)) {
            self.inline[i].1 -= 1;
            if self.inline[i].1 == 0 {
                self.inline.swap_remove(i);
                // Keep the inline slots full before the heap list holds anything.
                if let Some(entry) = self.overflow.pop() {
                    let _ = self.inline.push(entry);
                }
            }
        } else if let Some(i) = self.overflow.iter().position(|(w, _)| w.will_wake(waker)) {
            self.overflow[i].1 -= 1;
            if self.overflow[i].1 == 0 {
                self.overflow.swap_remove(i);
            }
        }
    }
}

impl Waiters {
    pub(crate) const fn new() -> Self {
        Self { any: AtomicBool::new(false), wakers: Mutex::new(RefCell::new(WakerList::new())) }
    }

    /// Registers `cx`'s waker, to be woken by the next `wake`. The caller re-checks its
    /// condition afterwards.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        let early = self.wakers.lock(|w| {
            let early = w.borrow_mut().register(cx.waker());
            self.any.store(true, Ordering::SeqCst);
            early
        });
        early.wake();
    }

    /// Wakes and forgets every registered waker. The caller changed the condition before.
    pub(crate) fn wake(&self) {
        if !self.any.load(Ordering::SeqCst) {
            return;
        }
        let taken = self.wakers.lock(|w| {
            self.any.store(false, Ordering::SeqCst);
            w.borrow_mut().take()
        });
        taken.wake();
    }

    /// Removes one holder of `waker` (registered before with [`register`](Self::register)).
    #[cfg(feature = "alloc")]
    fn deregister(&self, waker: &Waker) {
        self.wakers.lock(|w| w.borrow_mut().deregister(waker));
    }

    /// Runs `change` under the lock; if it returns `true`, wakes and forgets every registered
    /// waker. Returns what `change` returned.
    #[cfg(not(target_has_atomic = "8"))]
    fn change_and_wake(&self, change: impl FnOnce() -> bool) -> bool {
        let taken = self.wakers.lock(|w| {
            if !change() {
                return None;
            }
            self.any.store(false, Ordering::SeqCst);
            Some(w.borrow_mut().take())
        });
        taken.map(Taken::wake).is_some()
    }
}

impl Latch {
    pub(crate) const fn new() -> Self {
        Self { state: AtomicU8::new(0), waiters: Waiters::new() }
    }

    #[inline]
    pub(crate) fn get(&self) -> Option<Cause> {
        Cause::from_bits(self.state.load(Ordering::SeqCst))
    }

    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.state.load(Ordering::SeqCst) != 0
    }

    /// Sets the latch, keeping an earlier cause; wakes every waiter. Returns whether this call set it.
    ///
    /// Of two racing calls exactly one sets the latch, and the cause never changes once set: a
    /// compare-and-swap where the target has one, otherwise the check and the store happen
    /// under the waiters' lock (plain loads and stores only, for `thumbv6m`).
    pub(crate) fn set(&self, cause: Cause) -> bool {
        if self.is_set() {
            return false;
        }
        #[cfg(target_has_atomic = "8")]
        {
            // One compare-and-swap decides who sets it; the wake takes the lock only if a
            // waker may be registered.
            let won = self.state.compare_exchange(0, cause.to_bits(), Ordering::SeqCst, Ordering::SeqCst).is_ok();
            if won {
                self.waiters.wake();
            }
            won
        }
        #[cfg(not(target_has_atomic = "8"))]
        self.waiters.change_and_wake(|| {
            // No compare-and-swap on this target (thumbv6m): check and store under the lock.
            if self.is_set() {
                return false;
            }
            self.state.store(cause.to_bits(), Ordering::SeqCst);
            true
        })
    }

    /// Registers `cx`'s waker, to be woken by the next `set`.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        self.waiters.register(cx);
    }

    /// Ready once the latch is set.
    pub(crate) fn poll_wait(&self, cx: &Context<'_>) -> Poll<Cause> {
        if let Some(cause) = self.get() {
            return Poll::Ready(cause);
        }
        self.register(cx);
        // Re-check after registering: a `set` between the load and the registration stored
        // the flag before waking, so it is visible now.
        match self.get() {
            Some(cause) => Poll::Ready(cause),
            None => Poll::Pending,
        }
    }

    pub(crate) async fn wait(&self) -> Cause {
        core::future::poll_fn(|cx| self.poll_wait(cx)).await
    }
}

impl fmt::Debug for Latch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Latch").field("set", &self.get()).finish_non_exhaustive()
    }
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
/// inside a future spawned on a multi-threaded runtime.
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
    parent: Option<&'a Self>,
    latch: Latch,
}

// === impl Ctx ===

impl Ctx<'static> {
    /// Creates a root context, not cancelled.
    pub const fn new() -> Self {
        Self { parent: None, latch: Latch::new() }
    }
}

impl Default for Ctx<'static> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Ctx<'a> {
    /// Derives a child context: cancelled when `self` is, and cancellable on its own without
    /// affecting `self`.
    ///
    /// The child borrows `self`; it needs no heap. Dropping a child does nothing to its parent.
    pub const fn child(&'a self) -> Self {
        Ctx { parent: Some(self), latch: Latch::new() }
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
        if self.is_cancelled() {
            return false;
        }
        self.latch.set(cause)
    }

    /// Whether this context or one of its ancestors is cancelled.
    ///
    /// Only atomic loads, one per level of the chain: no lock, no read-modify-write.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        let mut level = Some(self);
        while let Some(ctx) = level {
            if ctx.latch.is_set() {
                return true;
            }
            level = ctx.parent;
        }
        false
    }

    /// Why this context is cancelled, or `None` while it is not.
    ///
    /// The cause is that of the nearest cancelled level, starting from `self`: since cancelling
    /// an already cancelled context keeps the earlier cause, this is the cause of the first
    /// cancellation that reached this context.
    pub fn cause(&self) -> Option<Cause> {
        let mut level = Some(self);
        while let Some(ctx) = level {
            if let Some(cause) = ctx.latch.get() {
                return Some(cause);
            }
            level = ctx.parent;
        }
        None
    }

    /// The context this one was derived from; `None` for a root.
    pub fn parent(&self) -> Option<&'a Self> {
        self.parent
    }

    /// Polls for cancellation: `Ready(cause)` once this context or an ancestor is cancelled;
    /// otherwise registers the waker of `cx` at every level of the chain.
    pub fn poll_cancelled(&self, cx: &mut Context<'_>) -> Poll<Cause> {
        self.poll_cancelled_below(cx, None)
    }

    /// As [`poll_cancelled`](Self::poll_cancelled), but registers the waker only at the levels
    /// from `self` up to, not including, `stop`: the caller is woken some other way when `stop`
    /// or a level above it is cancelled. With `None`, or a `stop` that is not in the chain,
    /// every level is registered.
    pub(crate) fn poll_cancelled_below(&self, cx: &Context<'_>, stop: Option<&Ctx<'_>>) -> Poll<Cause> {
        if let Some(cause) = self.cause() {
            return Poll::Ready(cause);
        }
        let stop = stop.map(|t| t as *const Ctx<'_> as *const ());
        let mut level = Some(self);
        while let Some(ctx) = level {
            if Some(ctx as *const Ctx<'_> as *const ()) == stop {
                break;
            }
            ctx.latch.register(cx);
            level = ctx.parent;
        }
        // A cancel between the first check and the registration is visible now: `set` stores
        // the flag before it wakes.
        match self.cause() {
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
        Cancelled {
            ctx: self,
            #[cfg(feature = "alloc")]
            registered: None,
        }
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

impl fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx").field("root", &self.parent.is_none()).field("cause", &self.cause()).finish()
    }
}

/// Future for the [`Ctx::cancelled`] method.
///
/// Completes with the [`Cause`] once the context is cancelled. It is fused: polling it again
/// after completion returns the cause again.
///
/// Dropping it loses nothing (cancellation is sticky). With `alloc`, dropping it also removes
/// its waker from every level of the chain; without `alloc`, the waker stays in its slots
/// until the next wake of each level.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Cancelled<'c, 'a> {
    ctx: &'c Ctx<'a>,
    /// With `alloc`: the waker this future registered at every level of the chain, removed
    /// again when it is dropped, so that a long-lived context does not collect the wakers of
    /// tasks that stopped waiting.
    #[cfg(feature = "alloc")]
    registered: Option<Waker>,
}

impl Future for Cancelled<'_, '_> {
    type Output = Cause;

    #[cfg_attr(not(feature = "alloc"), allow(unused_mut))]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Cause> {
        #[cfg(not(feature = "alloc"))]
        return self.ctx.poll_cancelled(cx);

        #[cfg(feature = "alloc")]
        {
            if let Some(cause) = self.ctx.cause() {
                return Poll::Ready(cause);
            }
            // With `alloc`, a registration is only ever removed by the cancel that wakes it (or
            // by this future), so the same waker need not register again.
            if let Some(waker) = &self.registered {
                if waker.will_wake(cx.waker()) {
                    return Poll::Pending;
                }
                self.deregister();
            }
            let poll = self.ctx.poll_cancelled(cx);
            if poll.is_pending() {
                self.registered = Some(cx.waker().clone());
            }
            poll
        }
    }
}

#[cfg(feature = "alloc")]
impl Cancelled<'_, '_> {
    /// Removes this future's waker from every level it registered at. A level that was
    /// cancelled meanwhile has dropped it already; removing a holder there again is harmless,
    /// since nothing waits on a cancelled level.
    fn deregister(&mut self) {
        if let Some(waker) = self.registered.take() {
            let mut level = Some(self.ctx);
            while let Some(ctx) = level {
                ctx.latch.waiters.deregister(&waker);
                level = ctx.parent;
            }
        }
    }
}

#[cfg(feature = "alloc")]
impl Drop for Cancelled<'_, '_> {
    fn drop(&mut self) {
        self.deregister();
    }
}

// === impl Ctx (reuse) ===

impl Ctx<'_> {
    /// Makes this context's own level not cancelled again (its ancestors are untouched).
    ///
    /// Only for owners that can prove nobody observes this level any more: `shot::Many` resets
    /// the context of a finished run before the next run, and hands the context out only
    /// through the run's guard, whose borrow has ended by then. Stale wakers left in the slots
    /// are woken (spuriously) by the next cancel.
    pub(crate) fn reset(&self) {
        self.latch.state.store(0, Ordering::SeqCst);
    }
}
