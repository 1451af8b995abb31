//! [`Many`]: one instance at a time, again and again (upstream `shot.Many`).

use core::fmt;
use core::future::Future;

use embassy_sync::blocking_mutex::raw::RawMutex;

use super::run::{Core, Done, Run, RunContext};
use super::{Error, State};
use crate::ctx::Ctx;

/// Runs an instance at most one at a time, and lets it start again after it ended (upstream
/// `Many`).
///
/// The resource calls [`start`](Self::start) and keeps the returned [`Run`] guard while it
/// runs; dropping the guard ends the run: Stopped, ready to start again. A controller calls
/// [`stop`](Self::stop) to end the current run (it may start again), [`close`](Self::close)
/// to end it for good, their non-waiting forms [`halt`](Self::halt) and
/// [`cancel`](Self::cancel), and [`done`](Self::done) to wait for the end of the current run.
///
/// Every run gets a fresh context, a child of the parent given to [`new`](Self::new), reached
/// through [`Run::context`]. It is cancelled when the run ends, on `stop`/`halt`/`close`/
/// `cancel`, and when the parent is cancelled. A run that ends while the parent is cancelled
/// ends in Closed: a cancelled parent closes the `Many` at the next end.
///
/// | state | `start` | guard dropped | `stop` / `halt` | `close` / `cancel` |
/// |---|---|---|---|---|
/// | Created | → Running | | → Stopped at once | → Closed at once |
/// | Running | `Err(Running)` | → Stopped (Closed if a close was requested or the parent is cancelled) | cancel; `stop` waits → Stopped | cancel; `close` waits → Closed |
/// | Stopped | → Running, fresh context | | nothing | → Closed at once |
/// | Closed | `Err(Closed)` | | `Err(Closed)` | nothing |
///
/// A running instance is never evicted by `start`; to replace it, `stop` it and start again.
///
/// # Examples
///
/// ```
/// use embassy_futures::{block_on, join::join};
/// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
/// use procession::Ctx;
/// use procession::shot::{Many, State};
///
/// static ROOT: Ctx<'static> = Ctx::new();
/// static WORKER: Many<'static, CriticalSectionRawMutex> = Many::new(&ROOT);
///
/// for round in 0..3 {
///     let resource = async {
///         let run = WORKER.start().unwrap();
///         assert!(!run.context().is_cancelled()); // a fresh context every run
///         run.context().cancelled().await;
///     };
///     let controller = WORKER.stop(core::future::pending());
///     let ((), stopped) = block_on(join(resource, controller));
///     assert_eq!(stopped, Ok(()));
///     assert_eq!(WORKER.state(), State::Stopped);
/// }
/// block_on(WORKER.close(core::future::pending())).unwrap();
/// assert_eq!(WORKER.state(), State::Closed);
/// ```
pub struct Many<'a, M: RawMutex> {
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
    /// Creates a `Many` whose runs get children of `parent` (upstream `NewMany(parent)`).
    pub const fn new(parent: &'a Ctx<'a>) -> Self {
        Self { core: Core::new(parent.child(), true) }
    }

    /// Starts a run: Created or Stopped → Running, with a fresh context. Returns the guard
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

    /// Ends the current run and lets the instance start again; waits until the run has ended
    /// or `deadline` completes (upstream `Stop`).
    ///
    /// Created: Stopped at once. Running: the run's context is cancelled and this waits for
    /// its guard to be dropped; the state becomes Stopped (or Closed, if a close was requested
    /// meanwhile or the parent is cancelled). Stopped: nothing.
    ///
    /// A `stop` does not prevent a later `start`: a resource may start again as soon as the
    /// run ended, even before this future returns.
    ///
    /// # Errors
    ///
    /// - [`Error::Closed`] if the `Many` is closed.
    /// - [`Error::Deadline`] if `deadline` completed first. The run stays cancelled and ends
    ///   in Stopped when it returns.
    ///
    /// # Cancel safety
    ///
    /// The stop is requested at the first poll; dropping the future after that only stops
    /// the waiting.
    pub async fn stop(&self, deadline: impl Future<Output = ()>) -> Result<(), Error> {
        self.stop2(deadline).await.map(drop)
    }

    /// As [`stop`](Self::stop), and returns the state before the call (upstream `Stop2`).
    ///
    /// # Errors
    ///
    /// As [`stop`](Self::stop); [`Error::Deadline`] implies the previous state was Running.
    pub async fn stop2(&self, deadline: impl Future<Output = ()>) -> Result<State, Error> {
        let request = self.core.request_stop()?;
        self.core.wait_end(request.wait, deadline).await.map(|()| request.prev)
    }

    /// Requests the stop without waiting, and returns the state before the call (upstream
    /// `Halt`).
    ///
    /// # Errors
    ///
    /// - [`Error::Closed`] if the `Many` is closed.
    pub fn halt(&self) -> Result<State, Error> {
        self.core.request_stop().map(|request| request.prev)
    }

    /// Closes the instance for good; waits until the current run has ended or `deadline`
    /// completes (upstream `Close`).
    ///
    /// Created or Stopped: Closed at once. Running: the run's context is cancelled and this
    /// waits for its guard to be dropped; the state becomes Closed then. Closed: nothing.
    ///
    /// # Errors
    ///
    /// - [`Error::Deadline`] if `deadline` completed first. The close stays requested: the run
    ///   is cancelled and the state becomes Closed when it returns.
    ///
    /// # Cancel safety
    ///
    /// The close is requested at the first poll; dropping the future after that only stops
    /// the waiting.
    pub async fn close(&self, deadline: impl Future<Output = ()>) -> Result<(), Error> {
        self.close2(deadline).await.map(drop)
    }

    /// As [`close`](Self::close), and returns the state before the call (upstream `Close2`).
    ///
    /// # Errors
    ///
    /// As [`close`](Self::close); [`Error::Deadline`] implies the previous state was Running.
    pub async fn close2(&self, deadline: impl Future<Output = ()>) -> Result<State, Error> {
        let request = self.core.request_close();
        self.core.wait_end(request.wait, deadline).await.map(|()| request.prev)
    }

    /// Requests the close without waiting, and returns the state before the call (upstream
    /// `Cancel`).
    pub fn cancel(&self) -> State {
        self.core.request_close().prev
    }

    /// Waits until the current run has ended: at once in Stopped or Closed; in Created, until
    /// the first run ends (or a stop or close ends the Created instance).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; a new call waits for the run current at that moment.
    pub fn done(&self) -> Done<'_, 'a, M> {
        self.core.done()
    }

    /// Whether the current run has ended (Stopped or Closed): `done` would complete at once.
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.core.state()
    }

    /// The context of the current run, as seen from outside it (upstream `Context`): cancelled
    /// when the run is asked to end (stop, halt, close, cancel, a cancelled parent) and for good
    /// once that run has ended, even after the `Many` has started again. Made while no run is
    /// current (Stopped, Closed), it is cancelled already; in Created it belongs to the first
    /// run. See [`RunContext`] for why it is a view rather than a `&Ctx`.
    pub fn context(&self) -> RunContext<'_, 'a, M> {
        self.core.context_view()
    }
}

impl<M: RawMutex> fmt::Debug for Many<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Many").field("state", &self.state()).finish_non_exhaustive()
    }
}
