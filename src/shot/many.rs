//! [`Many`]: one instance at a time, again and again.

use core::fmt;
use core::future::Future;
use core::task::{Context, Poll};

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use super::error::Error;
use super::run::{Core, Done, Run, RunContext};
use super::state::State;
use crate::ctx::Ctx;

/// Runs an instance at most one at a time, and lets it start again after it ended.
///
/// The resource calls [`start`](Self::start) and keeps the returned [`Run`] guard while it
/// runs; dropping the guard ends the run: Stopped, ready to start again. A controller calls
/// [`end_run`](Self::end_run) to end the current run and wait for it (it may start again),
/// [`close`](Self::close) to end it for good, their non-waiting forms
/// [`cancel_run`](Self::cancel_run) and [`cancel`](Self::cancel), and [`done`](Self::done) to
/// wait for the end of the current run.
///
/// Every run gets a fresh context, a child of the parent given to [`new`](Self::new), reached
/// through [`Run::context`]. It is cancelled when the run ends, on `end_run`/`cancel_run`/
/// `close`/`cancel`, and when the parent is cancelled. A run that ends while the parent is
/// cancelled ends in Closed: a cancelled parent closes the `Many` at the next end.
///
/// | state | `start` | guard dropped | `end_run` / `cancel_run` | `close` / `cancel` |
/// |---|---|---|---|---|
/// | Initial | → Running | | → Stopped at once | → Closed at once |
/// | Running | `Err(Running)` | → Stopped (Closed if a close was requested or the parent is cancelled) | cancel; `end_run` waits → Stopped | cancel; `close` waits → Closed |
/// | Stopped | → Running, fresh context | | nothing | → Closed at once |
/// | Closed | `Err(Closed)` | | `Err(Closed)` / `false` | nothing |
///
/// A running instance is never evicted by `start`; to replace it, `end_run` it and start
/// again.
///
/// `M` is the blocking mutex of the state (by default [`CriticalSectionRawMutex`], which makes
/// the `Many` `Send` and `Sync`). With `alloc`, a `Many` in an `Arc` hands out an owned guard,
/// `start_owned`, for a run started from a spawned task.
///
/// # Examples
///
/// ```
/// use embassy_futures::{block_on, join::join};
/// use procession::{Ctx, never};
/// use procession::shot::{Many, State};
///
/// static ROOT: Ctx<'static> = Ctx::new();
/// static WORKER: Many<'static> = Many::new(&ROOT);
///
/// for round in 0..3 {
///     let resource = async {
///         let run = WORKER.start().unwrap();
///         assert!(!run.context().is_cancelled()); // a fresh context every run
///         run.context().cancelled().await;
///     };
///     let controller = WORKER.end_run(never());
///     let ((), ended) = block_on(join(resource, controller));
///     assert_eq!(ended, Ok(State::Running)); // the state it ended from
///     assert_eq!(WORKER.state(), State::Stopped);
/// }
/// block_on(WORKER.close(never())).unwrap();
/// assert_eq!(WORKER.state(), State::Closed);
/// ```
pub struct Many<'a, M: RawMutex = CriticalSectionRawMutex> {
    core: Core<'a, M>,
}

// === impl Many ===

impl<M: RawMutex> Many<'static, M> {
    /// Creates a `Many` whose runs get root contexts of their own (no parent).
    pub const fn detached() -> Self {
        Self { core: Core::new(Ctx::new(), true) }
    }
}

impl<'a, M: RawMutex> Many<'a, M> {
    /// Creates a `Many` whose runs get children of `parent`.
    pub const fn new(parent: &'a Ctx<'a>) -> Self {
        Self { core: Core::new(parent.child(), true) }
    }

    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub(super) fn core(&self) -> &Core<'a, M> {
        &self.core
    }

    /// Starts a run: Initial or Stopped → Running, with a fresh context. Returns the guard
    /// that ends the run when it is dropped.
    ///
    /// # Errors
    ///
    /// - [`Error::Running`] while a run is going on (it is not disturbed).
    /// - [`Error::Closed`] once closed.
    ///
    /// Starting succeeds even if the parent is cancelled: the run sees a cancelled context,
    /// and the `Many` is Closed when that run ends.
    pub fn start(&self) -> Result<Run<'_, 'a, M>, Error> {
        self.core.start()
    }

    /// As [`start`](Self::start), for a `Many` in an [`Arc`](alloc::sync::Arc): the guard owns
    /// a clone of the `Arc` instead of borrowing, so it can be moved into a spawned task (with
    /// `alloc`, on targets with pointer-sized atomics, as `Arc` needs). See [`OwnedRun`](super::OwnedRun) for an example.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub fn start_owned(self: alloc::sync::Arc<Self>) -> Result<super::OwnedRun<'a, M>, Error> {
        super::OwnedRun::many(self)
    }

    /// Ends the current run and lets the instance start again; waits until the run has ended
    /// or `deadline` completes. Returns the state before the call.
    ///
    /// Initial: Stopped at once. Running: the run's context is cancelled and this waits for
    /// its guard to be dropped; the state becomes Stopped (or Closed, if a close was requested
    /// meanwhile or the parent is cancelled). Stopped: nothing.
    ///
    /// Ending a run does not prevent a later `start`: a resource may start again as soon as
    /// the run ended, even before this future returns.
    ///
    /// # Errors
    ///
    /// - [`Error::Closed`] if the `Many` is closed.
    /// - [`Error::Deadline`] if `deadline` completed first (so the state before was Running).
    ///   The run stays cancelled and ends in Stopped when it returns.
    /// - [`Error::Overflow`] if this call could not wait (without `alloc`, more tasks waiting
    ///   than the slots and the spill table hold); the request stays in force.
    ///
    /// # Cancel safety
    ///
    /// The end is requested at the first poll; dropping the future after that only stops
    /// the waiting.
    pub async fn end_run(&self, deadline: impl Future<Output = ()>) -> Result<State, Error> {
        let request = self.core.request_end_run()?;
        self.core.wait_end(request.wait, deadline).await.map(|()| request.prev)
    }

    /// Requests the end of the current run without waiting: Initial becomes Stopped, a
    /// running run is cancelled and ends in Stopped when it returns. Returns whether this call
    /// changed anything: `false` if the run's context was cancelled already, in Stopped, and in
    /// Closed (where [`end_run`](Self::end_run) reports [`Error::Closed`]).
    pub fn cancel_run(&self) -> bool {
        self.core.request_end_run().is_ok_and(|request| request.changed)
    }

    /// Closes the instance for good; waits until the current run has ended or `deadline`
    /// completes. Returns the state before the call.
    ///
    /// Initial or Stopped: Closed at once. Running: the run's context is cancelled and this
    /// waits for its guard to be dropped; the state becomes Closed then. Closed: nothing.
    ///
    /// # Errors
    ///
    /// - [`Error::Deadline`] if `deadline` completed first (so the state before was Running).
    ///   The close stays requested: the run is cancelled and the state becomes Closed when it
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

    /// Requests the close without waiting: Initial and Stopped become Closed, a running run
    /// is cancelled and ends in Closed. Returns whether this call changed anything (`false`
    /// once a close was requested, or the `Many` is closed).
    pub fn cancel(&self) -> bool {
        self.core.request_close().changed
    }

    /// Waits until the current run has ended: at once in Stopped or Closed; in Initial, until
    /// the first run ends (or an end or a close ends the Initial instance).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; a new call waits for the run current at that moment.
    pub fn done(&self) -> Done<'_, 'a, M> {
        self.core.done()
    }

    /// Polls for the end of the current run: `Ready` while the state is Stopped or Closed;
    /// otherwise registers the waker of `cx`. Unlike the [`Done`] future, it does not remember
    /// a run: after a restart it is pending again.
    pub fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.core.poll_done(cx)
    }

    /// Whether the current run has ended (Stopped or Closed): `done` would complete at once.
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.core.state()
    }

    /// The context of the current run, as seen from outside it: cancelled when the run is
    /// asked to end (an end of the run, a close, a cancelled parent) and for good once that run
    /// has ended, even after the `Many` has started again. Made while no run is current
    /// (Stopped, Closed), it is cancelled already; in Initial it belongs to the first run. See
    /// [`RunContext`] for why it is a view rather than a `&Ctx`.
    pub fn context(&self) -> RunContext<'_, 'a, M> {
        self.core.context_view()
    }
}

impl<M: RawMutex> fmt::Debug for Many<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Many").field("state", &self.state()).finish_non_exhaustive()
    }
}
