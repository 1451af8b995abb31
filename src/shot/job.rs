//! [`Job`]: one future, run once under a managed context, keeping its error.

use core::cell::RefCell;
use core::fmt;
use core::future::{Future, pending};
use core::task::{Context, Poll};

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use super::error::Error;
use super::run::{Core, Done};
use super::state::State;
use crate::ctx::Ctx;

/// A single job: runs one future once under a managed context, and keeps the error it
/// returned.
///
/// Nothing is spawned: the owner polls the driver returned by [`drive`](Self::drive) (or
/// [`drive_in`](Self::drive_in), under a parent context), in an embassy task, a tokio task or
/// a `join` arm. Any other task controls it through the handle: [`cancel`](Self::cancel)
/// (cancel, do not wait), [`close`](Self::close) (cancel and wait, bounded by a deadline),
/// [`done`](Self::done), [`error`](Self::error). A `Job` is a [`One`](super::One) underneath:
/// its state goes Initial → Running → Closed, and it runs at most once.
///
/// The error is stored before the run ends, so once `done` has completed, `error` is final.
///
/// `E` is the job's error type; `M` the blocking mutex of the state (by default
/// [`CriticalSectionRawMutex`], which makes the `Job` `Send` and `Sync` when `E` is `Send`).
/// The driver is `Send` when the job's future is: a `Job` in a `static` or an `Arc` can be
/// driven by a `tokio::spawn`ed task.
///
/// # Examples
///
/// ```
/// use embassy_futures::{block_on, join::join};
/// use procession::{Ctx, never};
/// use procession::shot::{Job, State};
///
/// static FETCH: Job<&str> = Job::new();
///
/// let driver = FETCH.drive(async |ctx: &Ctx<'_>| {
///     ctx.cancelled().await;
///     Err("interrupted")
/// });
/// let controller = async {
///     assert_eq!(FETCH.close(never()).await, Ok(State::Running));
///     FETCH.error()
/// };
/// let (ran, error) = block_on(join(driver, controller));
/// assert_eq!(ran, Ok(()));
/// assert_eq!(error, Some("interrupted"));
/// ```
pub struct Job<E, M: RawMutex = CriticalSectionRawMutex> {
    core: Core<'static, M>,
    error: Mutex<M, RefCell<Option<E>>>,
}

// === impl Job ===

impl<E, M: RawMutex> Job<E, M> {
    /// Creates a `Job` that has not run yet.
    pub const fn new() -> Self {
        Self { core: Core::new(Ctx::new(), false), error: Mutex::new(RefCell::new(None)) }
    }

    /// The driver: runs `f` with the job's managed context; the owner polls it.
    ///
    /// `f`'s context is cancelled by [`cancel`](Self::cancel) and [`close`](Self::close). When
    /// `f` returns, its error (if any) is stored for [`error`](Self::error), then the `Job` is
    /// Closed and [`done`](Self::done) completes.
    ///
    /// # Errors
    ///
    /// - [`Error::Closed`] if the `Job` was closed (or cancelled) before this started, or ran
    ///   already; `f` does not run.
    /// - [`Error::Running`] if another driver runs it now; `f` does not run.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops `f` where it is (the hard stop): the `Job` becomes Closed and
    /// `done` completes, with no error stored.
    pub async fn drive<F>(&self, f: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        let run = self.core.start()?;
        let result = f(run.context()).await;
        self.store(result);
        drop(run);
        Ok(())
    }

    /// The driver, as [`drive`](Self::drive), with a context derived from `parent`: cancelled
    /// when `parent` is, or when the `Job` is cancelled or closed.
    ///
    /// The link from the `Job` to `f`'s context is kept by this future: a cancel reaches `f`
    /// when the owner polls it (it is woken for that).
    ///
    /// # Errors
    ///
    /// As [`drive`](Self::drive).
    ///
    /// # Cancel safety
    ///
    /// As [`drive`](Self::drive).
    pub async fn drive_in<F>(&self, parent: &Ctx<'_>, f: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        let run = self.core.start()?;
        let ctx = parent.child();
        let relay = async {
            let cause = run.context().cancelled().await;
            ctx.cancel_with(cause);
            pending::<()>().await;
        };
        let result = match select(f(&ctx), relay).await {
            Either::First(result) => result,
            Either::Second(()) => Ok(()),
        };
        self.store(result);
        drop(run);
        Ok(())
    }

    fn store(&self, result: Result<(), E>) {
        if let Err(e) = result {
            self.error.lock(|slot| *slot.borrow_mut() = Some(e));
        }
    }

    /// Cancels the job's context without waiting; before the driver started, it prevents the
    /// start. Returns whether this call changed anything (`false` once a cancel or close was
    /// requested, or the job has ended).
    pub fn cancel(&self) -> bool {
        self.core.request_close().changed
    }

    /// Cancels the job's context and waits until it has returned, or until `deadline`
    /// completes. Returns the state before the call. The deadline bounds only the wait, not
    /// the job.
    ///
    /// # Errors
    ///
    /// - [`Error::Deadline`] if `deadline` completed first; the job stays cancelled.
    /// - [`Error::Overflow`] if this call could not wait (without `alloc`, more tasks waiting
    ///   than the slots and the spill table hold); the request stays in force.
    ///
    /// # Cancel safety
    ///
    /// The cancel happens at the first poll; dropping the future after that only stops the
    /// waiting.
    pub async fn close(&self, deadline: impl Future<Output = ()>) -> Result<State, Error> {
        let request = self.core.request_close();
        self.core.wait_end(request.wait, deadline).await.map(|()| request.prev)
    }

    /// Waits until the job has returned (or the `Job` was closed before it started).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn done(&self) -> Done<'_, 'static, M> {
        self.core.done()
    }

    /// Polls for the end of the job: `Ready` once it is Closed; otherwise registers the waker
    /// of `cx`.
    pub fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.core.poll_done(cx)
    }

    /// Whether the `Job` has ended: `done` would complete at once.
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }

    /// The current state: Initial, Running or Closed.
    pub fn state(&self) -> State {
        self.core.state()
    }

    /// Takes the error the job returned, leaving `None`; `None` while it runs, after it
    /// succeeded, and once taken.
    pub fn take_error(&self) -> Option<E> {
        self.error.lock(|slot| slot.borrow_mut().take())
    }
}

impl<E: Clone, M: RawMutex> Job<E, M> {
    /// The error the job returned: `None` while it runs and after it succeeded (or once it was
    /// taken). Final once [`done`](Self::done) has completed.
    pub fn error(&self) -> Option<E> {
        self.error.lock(|slot| slot.borrow().clone())
    }
}

impl<E, M: RawMutex> Default for Job<E, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, M: RawMutex> fmt::Debug for Job<E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job").field("state", &self.state()).finish_non_exhaustive()
    }
}
