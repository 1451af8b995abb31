//! [`G`]: one future, run once under a managed context, keeping its error (upstream `G`, `Go`,
//! `GoCtx`).

use core::cell::RefCell;
use core::fmt;
use core::future::{Future, pending};

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;

use super::run::{Core, Done};
use super::{Error, State};
use crate::ctx::Ctx;

/// Runs one future once under a managed context, and keeps the error it returned (upstream
/// `G`, made by `Go`/`GoCtx`).
///
/// Nothing is spawned: the owner polls the future returned by [`go`](Self::go) (upstream
/// `Go(f)`) or [`go_ctx`](Self::go_ctx) (upstream `GoCtx(ctx, f)`), in an embassy task, a tokio
/// task or a `join` arm. Any other task controls it through the handle: [`cancel`](Self::cancel)
/// (cancel, do not wait), [`close`](Self::close) (cancel and wait, bounded by a deadline),
/// [`done`](Self::done), [`err`](Self::err). A `G` is a [`One`](super::One) underneath: its
/// state goes Created → Running → Closed, and it runs at most once.
///
/// The error is stored before the run ends, so once `done` has completed, `err` is final.
///
/// # Examples
///
/// ```
/// use embassy_futures::{block_on, join::join};
/// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
/// use procession::Ctx;
/// use procession::shot::G;
///
/// static FETCH: G<CriticalSectionRawMutex, &str> = G::new();
///
/// let driver = FETCH.go(async |ctx: &Ctx<'_>| {
///     ctx.cancelled().await;
///     Err("interrupted")
/// });
/// let controller = async {
///     FETCH.close(core::future::pending()).await.unwrap();
///     FETCH.err()
/// };
/// let (ran, err) = block_on(join(driver, controller));
/// assert_eq!(ran, Ok(()));
/// assert_eq!(err, Some("interrupted"));
/// ```
pub struct G<M: RawMutex, E> {
    core: Core<'static, M>,
    err: Mutex<M, RefCell<Option<E>>>,
}

// === impl G ===

impl<M: RawMutex, E> G<M, E> {
    /// Creates a `G` that has not run yet.
    pub const fn new() -> Self {
        Self { core: Core::new(Ctx::new(), false), err: Mutex::new(RefCell::new(None)) }
    }

    /// Runs `f` with the `G`'s managed context (upstream `Go(f)`): the future its owner polls.
    ///
    /// `f`'s context is cancelled by [`cancel`](Self::cancel) and [`close`](Self::close). When
    /// `f` returns, its error (if any) is stored for [`err`](Self::err), then the `G` is Closed
    /// and [`done`](Self::done) completes.
    ///
    /// # Errors
    ///
    /// - [`Error::Closed`] if the `G` was closed (or cancelled) before this started, or ran
    ///   already; `f` does not run.
    /// - [`Error::Running`] if another `go` runs it now; `f` does not run.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops `f` where it is (the hard stop): the `G` becomes Closed and
    /// `done` completes, with no error stored.
    pub async fn go<F>(&self, f: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        let run = self.core.start()?;
        let result = f(run.context()).await;
        self.store(result);
        drop(run);
        Ok(())
    }

    /// Runs `f` with a context derived from `parent` (upstream `GoCtx(ctx, f)`): cancelled when
    /// `parent` is, or when the `G` is cancelled or closed.
    ///
    /// As [`go`](Self::go) otherwise. The link from the `G` to `f`'s context is kept by this
    /// future: a cancel reaches `f` when the owner polls it (it is woken for that).
    ///
    /// # Errors
    ///
    /// As [`go`](Self::go).
    ///
    /// # Cancel safety
    ///
    /// As [`go`](Self::go).
    pub async fn go_ctx<F>(&self, parent: &Ctx<'_>, f: F) -> Result<(), Error>
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
            self.err.lock(|slot| *slot.borrow_mut() = Some(e));
        }
    }

    /// Cancels the future's context without waiting (upstream `Cancel`); before the future
    /// started, it prevents the start. Returns the state before the call.
    pub fn cancel(&self) -> State {
        self.core.request_close().prev
    }

    /// Cancels the future's context and waits until it has returned, or until `deadline`
    /// completes (upstream `Close`). The deadline bounds only the wait, not the future.
    ///
    /// # Errors
    ///
    /// - [`Error::Deadline`] if `deadline` completed first; the future stays cancelled.
    ///
    /// # Cancel safety
    ///
    /// The cancel happens at the first poll; dropping the future after that only stops the
    /// waiting.
    pub async fn close(&self, deadline: impl Future<Output = ()>) -> Result<(), Error> {
        let request = self.core.request_close();
        self.core.wait_end(request.wait, deadline).await
    }

    /// Waits until the future has returned (or the `G` was closed before it started).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn done(&self) -> Done<'_, 'static, M> {
        self.core.done()
    }

    /// Whether the `G` has ended: `done` would complete at once.
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }

    /// The current state: Created, Running or Closed.
    pub fn state(&self) -> State {
        self.core.state()
    }

    /// Takes the error the future returned, leaving `None`; `None` while it runs, after it
    /// succeeded, and once taken.
    pub fn take_err(&self) -> Option<E> {
        self.err.lock(|slot| slot.borrow_mut().take())
    }
}

impl<M: RawMutex, E: Clone> G<M, E> {
    /// The error the future returned (upstream `Err`): `None` while it runs and after it
    /// succeeded. Final once [`done`](Self::done) has completed.
    pub fn err(&self) -> Option<E> {
        self.err.lock(|slot| slot.borrow().clone())
    }
}

impl<M: RawMutex, E> Default for G<M, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: RawMutex, E> fmt::Debug for G<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("G").field("state", &self.state()).finish_non_exhaustive()
    }
}
