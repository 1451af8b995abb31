//! [`leaf`] and [`leaf_with_stop`]: a runner from a function that runs in the foreground.

use embassy_futures::join::join;

use crate::ctx::{Cause, Ctx};
use crate::error::{Merge, merge_results};
use crate::runner::Runner;

/// Runner for the [`leaf`] and [`leaf_with_stop`] functions.
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct Leaf<R, S = NoStop> {
    run: R,
    stop: S,
}

impl<R, S> core::fmt::Debug for Leaf<R, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Leaf").finish_non_exhaustive()
    }
}

/// The graceful stop of a [`leaf`]: there is none, the context is cancelled instead.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStop;

/// The graceful stop of a [`leaf_with_stop`]: a function called after the callback returns.
#[derive(Clone, Copy)]
pub struct StopFn<S>(S);

impl<S> core::fmt::Debug for StopFn<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StopFn").finish_non_exhaustive()
    }
}

mod private {
    use crate::ctx::Ctx;

    /// What a leaf does when its callback returns.
    pub trait LeafStop<E> {
        #[allow(async_fn_in_trait, reason = "sealed")]
        async fn stop(&self, ctx: &Ctx<'_>) -> Result<(), E>;
    }
}
use private::LeafStop;

impl<E> LeafStop<E> for NoStop {
    async fn stop(&self, _: &Ctx<'_>) -> Result<(), E> {
        Ok(())
    }
}

impl<E, S: AsyncFn(&Ctx<'_>) -> Result<(), E>> LeafStop<E> for StopFn<S> {
    async fn stop(&self, ctx: &Ctx<'_>) -> Result<(), E> {
        (self.0)(ctx).await
    }
}

/// Makes a runner from a function that runs in the foreground until its context is cancelled,
/// with no graceful stop of its own.
///
/// The callback is called at once, beside `run`: a leaf has no readiness of its own. Both get
/// the same context, a child of the caller's. When the callback returns, that context is
/// cancelled with [`Cause::Shutdown`] and the leaf waits for `run` to return. When `run` returns
/// first, the context is cancelled too, so the callback is told: with
/// [`Cause::DependencyFailed`] if `run` failed, [`Cause::Parent`] if it ended with `Ok`.
///
/// The result is the callback's error, then `run`'s, merged ([`Merge`]).
///
/// A `run` that ignores its context never returns; bound the stop with
/// [`RunnerExt::with_stop_deadline`](crate::RunnerExt::with_stop_deadline).
///
/// # Examples
///
/// ```
/// use procession::{Ctx, MultiError, Runner, leaf};
///
/// let blinker = leaf(async |ctx: &Ctx<'_>| -> Result<(), MultiError<&str, 2>> {
///     // toggle an LED until told to stop ...
///     ctx.cancelled().await;
///     Ok(())
/// });
/// let root = Ctx::new();
/// assert!(embassy_futures::block_on(blinker.run(&root, async |_| Ok(()))).is_ok());
/// ```
pub const fn leaf<R>(run: R) -> Leaf<R, NoStop> {
    Leaf { run, stop: NoStop }
}

/// Makes a runner from a function that runs in the foreground and a function that stops it
/// gracefully.
///
/// As [`leaf`], but when the callback returns, `stop` is called first with the caller's
/// context (so that a graceful stop can still do I/O), and only when it returns is the run's
/// context cancelled. `stop` is called even if `run` has already returned.
///
/// The result is the callback's error, then `stop`'s, then `run`'s, merged ([`Merge`]);
/// none of them is dropped.
pub const fn leaf_with_stop<R, S>(run: R, stop: S) -> Leaf<R, StopFn<S>> {
    Leaf { run, stop: StopFn(stop) }
}

impl<E, R, S> Runner<E> for Leaf<R, S>
where
    E: Merge,
    R: AsyncFn(&Ctx<'_>) -> Result<(), E>,
    S: LeafStop<E>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        let inner = ctx.child();
        // The callback arm comes first: when it ends and cancels `inner`, the run arm sees it
        // in the same poll.
        let callback = async {
            let callback = ready(&inner).await;
            let stop = self.stop.stop(ctx).await;
            inner.cancel_with(Cause::Shutdown);
            merge_results(callback, stop)
        };
        let run = async {
            let run = (self.run)(&inner).await;
            inner.cancel_with(if run.is_ok() { Cause::Parent } else { Cause::DependencyFailed });
            run
        };
        let (callback, run) = join(callback, run).await;
        merge_results(callback, run)
    }
}
