//! [`One`]: one instance, once.

use core::fmt;
use core::future::Future;
use core::task::{Context, Poll};

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use super::error::Error;
use super::run::{Core, Done, Run};
use super::state::State;
use crate::ctx::Ctx;

/// Runs an instance at most once, and only one at a time.
///
/// The resource calls [`start`](Self::start) and keeps the returned [`Run`] guard while it
/// runs; dropping the guard ends the instance for good (Closed). A controller calls
/// [`close`](Self::close) to cancel it and wait for it, [`cancel`](Self::cancel) to cancel it
/// without waiting, and [`done`](Self::done) to wait for its end.
///
/// The context ([`context`](Self::context)) is a child of the parent given to
/// [`new`](Self::new), fixed for the whole life of the `One`. It is cancelled when the instance
/// ends, when a close is requested, and when the parent is cancelled.
///
/// | state | `start` | guard dropped | `close` / `cancel` |
/// |---|---|---|---|
/// | Initial | → Running, `Ok(guard)` | | → Closed at once |
/// | Running | `Err(Running)` | → Closed | cancel the context; `close` waits for the guard |
/// | Closed | `Err(Closed)` | | nothing |
///
/// `M` is the blocking mutex of the state (by default [`CriticalSectionRawMutex`], which makes
/// the `One` `Send` and `Sync`). Use a [`Many`](super::Many) to run an instance again after it
/// ended. With `alloc`, a `One` in an `Arc` hands out an owned guard,
/// `start_owned`.
///
/// Dropping a `One` does nothing to a running instance (it cannot: the guard borrows it).
///
/// # Examples
///
/// ```
/// use embassy_futures::{block_on, join::join};
/// use procession::{Ctx, never};
/// use procession::shot::{Error, One, State};
///
/// static ROOT: Ctx<'static> = Ctx::new();
/// static SERVER: One<'static> = One::new(&ROOT);
///
/// let resource = async {
///     let run = SERVER.start()?;
///     run.context().cancelled().await; // serve until asked to stop
///     Ok::<_, Error>(()) // the guard drops here: the run ends
/// };
/// let controller = async {
///     assert_eq!(SERVER.start().err(), Some(Error::Running));
///     SERVER.close(never()).await // cancels, waits for the end
/// };
/// let (served, closed) = block_on(join(resource, controller));
/// assert_eq!((served, closed), (Ok(()), Ok(State::Running)));
/// assert_eq!(SERVER.state(), State::Closed);
/// assert_eq!(SERVER.start().err(), Some(Error::Closed));
/// ```
pub struct One<'a, M: RawMutex = CriticalSectionRawMutex> {
    core: Core<'a, M>,
}

// === impl One ===

impl<M: RawMutex> One<'static, M> {
    /// Creates a `One` with a root context of its own (no parent).
    pub const fn detached() -> Self {
        Self { core: Core::new(Ctx::new(), false) }
    }
}

impl<'a, M: RawMutex> One<'a, M> {
    /// Creates a `One` whose context is a child of `parent`.
    pub const fn new(parent: &'a Ctx<'a>) -> Self {
        Self { core: Core::new(parent.child(), false) }
    }

    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub(super) fn core(&self) -> &Core<'a, M> {
        &self.core
    }

    /// Starts the instance: Initial → Running. Returns the guard that ends the run when it is
    /// dropped.
    ///
    /// # Errors
    ///
    /// - [`Error::Running`] while the instance runs (nothing changes).
    /// - [`Error::Closed`] once it ran or was closed.
    ///
    /// Starting succeeds even if the parent context is already cancelled: the instance then
    /// sees a cancelled context and should return at once.
    pub fn start(&self) -> Result<Run<'_, 'a, M>, Error> {
        self.core.start()
    }

    /// As [`start`](Self::start), for a `One` in an [`Arc`](alloc::sync::Arc): the guard owns
    /// a clone of the `Arc` instead of borrowing, so it can be moved into a spawned task (with
    /// `alloc`, on targets with pointer-sized atomics, as `Arc` needs).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub fn start_owned(self: alloc::sync::Arc<Self>) -> Result<super::OwnedRun<'a, M>, Error> {
        super::OwnedRun::one(self)
    }

    /// Closes the instance and waits until it has ended, or until `deadline` completes.
    /// Returns the state before the call.
    ///
    /// Initial: Closed at once, it will never start. Running: the context is cancelled and
    /// this waits for the guard to be dropped; the state becomes Closed then. Closed: nothing.
    ///
    /// # Errors
    ///
    /// - [`Error::Deadline`] if `deadline` completed first (so the state before was Running).
    ///   The close stays requested: the instance is cancelled and becomes Closed when it
    ///   returns.
    /// - [`Error::Overflow`] if this call could not wait (without `alloc`, more tasks waiting
    ///   than the slots and the spill table hold); the request stays in force.
    ///
    /// # Cancel safety
    ///
    /// The close is requested at the first poll; dropping the future after that only stops
    /// the waiting.
    pub async fn close(&self, deadline: impl Future<Output = ()>) -> Result<State, Error> {
        let request = self.core.request_close();
        self.core.wait_end(request.wait, deadline).await.map(|()| request.prev)
    }

    /// Requests the close without waiting: Initial becomes Closed, a running instance is
    /// cancelled and becomes Closed when it returns. Returns whether this call changed
    /// anything (`false` once a close was requested, or the instance has ended).
    pub fn cancel(&self) -> bool {
        self.core.request_close().changed
    }

    /// The instance's context: a child of the parent, the same for the whole life of the
    /// `One`. Cancelled when the instance ends, when a close is requested and when the parent
    /// is cancelled (cause: [`Parent`](crate::Cause::Parent) for the end,
    /// [`Shutdown`](crate::Cause::Shutdown) for a close, the parent's own otherwise).
    pub fn context(&self) -> &Ctx<'a> {
        self.core.ctx()
    }

    /// Waits until the instance has ended (state Closed).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the end is sticky for a `One`.
    pub fn done(&self) -> Done<'_, 'a, M> {
        self.core.done()
    }

    /// Polls for the end of the instance: `Ready` once it is Closed; otherwise registers the
    /// waker of `cx`.
    pub fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.core.poll_done(cx)
    }

    /// Whether the instance has ended: `done` would complete at once.
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.core.state()
    }
}

impl<M: RawMutex> fmt::Debug for One<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("One").field("state", &self.state()).field("ctx", self.context()).finish()
    }
}
