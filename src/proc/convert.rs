//! Conversions between processes ([`Proc`]) and runners ([`Runner`]).

use crate::sync::{AtomicBool, Ordering};

use embassy_futures::select::{Either, select};

use super::Proc;
use crate::ctx::Ctx;
use crate::error::Merge;
use crate::runner::Runner;

/// Process for the [`from_runner`] function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a process does nothing until it is run"]
pub struct FromRunner<R> {
    runner: R,
}

/// Makes a process from a runner: the process starts the runner, lets it run until the
/// process's context is cancelled, then stops it gracefully.
///
/// The mapping of the three stop levels:
///
/// - while the runner is starting (before it calls its callback), cancelling the context
///   cancels the runner's context with the same cause (a forced stop: there is nothing to stop
///   gracefully yet);
/// - once it is ready, cancelling the context makes its callback return: a **graceful** stop,
///   so that the runner can flush and say goodbye. The runner's own context is not cancelled;
///   a runner that may hang while it stops should be bounded with
///   [`RunnerExt::with_stop_deadline`](crate::RunnerExt::with_stop_deadline);
/// - dropping the process's future drops the runner (hard).
///
/// A runner that fails or ends on its own cancels its callback's context, so the callback
/// returns and the process returns the runner's result. A runner that returns `Ok` without
/// ever being ready gives `Ok`.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, TreeError, leaf};
/// use procession::proc::{Proc, from_runner};
///
/// type Error = TreeError;
/// let service = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> { ctx.cancelled().await; Ok(()) });
/// let process = from_runner(service);
///
/// let root = Ctx::new();
/// root.cancel(); // asks the process to end: the runner stops gracefully
/// assert!(embassy_futures::block_on(process.run(&root)).is_ok());
/// ```
pub const fn from_runner<R>(runner: R) -> FromRunner<R> {
    FromRunner { runner }
}

impl<E, R: Runner<E>> Proc<E> for FromRunner<R> {
    /// Runs the runner until `ctx` is cancelled; see [`from_runner`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the runner wherever it is (its hard stop).
    async fn run(&self, ctx: &Ctx<'_>) -> Result<(), E> {
        // The runner's own root: cancelled only while it starts, so that once it is ready a
        // cancellation of `ctx` reaches it as the return of its callback (graceful).
        let runner_ctx = Ctx::new();
        let ready = AtomicBool::new(false);
        let run = self.runner.run(&runner_ctx, async |inner: &Ctx<'_>| {
            ready.store(true, Ordering::Relaxed);
            select(ctx.cancelled(), inner.cancelled()).await;
            Ok(())
        });
        let starting = async {
            let cause = ctx.cancelled().await;
            if !ready.load(Ordering::Relaxed) {
                runner_ctx.cancel_with(cause);
            }
            core::future::pending::<core::convert::Infallible>().await
        };
        // `starting` first: a cancellation reaches the runner in the same poll.
        match select(starting, run).await {
            Either::First(never) => match never {},
            Either::Second(result) => result,
        }
    }
}

/// Runner for the [`into_runner`] function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a runner does nothing until it is run"]
pub struct IntoRunner<P> {
    process: P,
}

/// Makes a runner from a process: it is ready at once, and the process runs beside the
/// callback until the callback returns.
///
/// This is [`leaf`](crate::leaf) for any [`Proc`], for example a [`concurrent_group`] made in
/// this module: the process and the callback get the same child of the caller's context. When
/// the callback returns, that context is cancelled with [`Cause::Shutdown`] and the runner
/// waits for the process; when the process returns first, the callback is told (cancelled
/// with [`Cause::DependencyFailed`] if it failed, [`Cause::Parent`] if not). The result is the
/// callback's error, then the process's, merged ([`Merge`]).
///
/// # Examples
///
/// ```
/// use procession::{Ctx, Runner, TreeError};
/// use procession::proc::{concurrent_group, into_runner};
///
/// type Error = TreeError;
/// let worker = async |ctx: &Ctx<'_>| -> Result<(), Error> { ctx.cancelled().await; Ok(()) };
/// let workers = into_runner(concurrent_group([worker, worker]));
///
/// let root = Ctx::new();
/// let result = embassy_futures::block_on(workers.run(&root, async |_| Ok(())));
/// assert!(result.is_ok());
/// ```
///
/// [`concurrent_group`]: super::concurrent_group
/// [`Cause::Shutdown`]: crate::Cause::Shutdown
/// [`Cause::DependencyFailed`]: crate::Cause::DependencyFailed
/// [`Cause::Parent`]: crate::Cause::Parent
pub const fn into_runner<P>(process: P) -> IntoRunner<P> {
    IntoRunner { process }
}

impl<E: Merge, P: Proc<E>> Runner<E> for IntoRunner<P> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        crate::leaf(async |inner: &Ctx<'_>| self.process.run(inner).await).run(ctx, ready).await
    }
}
