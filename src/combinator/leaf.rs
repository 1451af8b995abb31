//! [`leaf`] and [`leaf_with_stop`]: a runner from a function that runs in the foreground.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

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
        Both {
            phase: Phase::Callback { future: ready(&inner), make_stop: Some(|| self.stop.stop(ctx)) },
            run: (self.run)(&inner),
            inner: &inner,
            callback_result: None,
            run_result: None,
            callback_done: false,
        }
        .await
    }
}

pin_project! {
    /// Where the callback side of a leaf is: the callback, then the graceful stop.
    #[project = PhaseProj]
    enum Phase<C, M, S> {
        Callback { #[pin] future: C, make_stop: Option<M> },
        Stop { #[pin] future: S },
        Done,
    }
}

pin_project! {
    /// The callback side and the function of a leaf, polled together in one small future
    /// (the callback side first, as a `join` would): a leaf costs its context, its two futures
    /// and two results, nothing more.
    struct Both<'i, 'p, C, M, S, Fut, E> {
        #[pin]
        phase: Phase<C, M, S>,
        #[pin]
        run: Fut,
        inner: &'i Ctx<'p>,
        callback_result: Option<Result<(), E>>,
        run_result: Option<Result<(), E>>,
        // Whether `phase` is `Done`, kept apart: reading the discriminant through a shared
        // reference to `phase` would alias the self-borrows of the callback's future inside it.
        callback_done: bool,
    }
}

impl<C, M, S, Fut, E> Future for Both<'_, '_, C, M, S, Fut, E>
where
    E: Merge,
    C: Future<Output = Result<(), E>>,
    M: FnOnce() -> S,
    S: Future<Output = Result<(), E>>,
    Fut: Future<Output = Result<(), E>>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // The callback, then the graceful stop; then the function is told to stop.
        loop {
            let next = match this.phase.as_mut().project() {
                PhaseProj::Callback { future, make_stop } => match future.poll(cx) {
                    Poll::Ready(result) => {
                        *this.callback_result = Some(result);
                        Some(match make_stop.take() {
                            Some(make) => Phase::Stop { future: make() },
                            None => {
                                *this.callback_done = true;
                                Phase::Done
                            }
                        })
                    }
                    Poll::Pending => None,
                },
                PhaseProj::Stop { future } => match future.poll(cx) {
                    Poll::Ready(stop) => {
                        let callback = this.callback_result.take().unwrap_or(Ok(()));
                        *this.callback_result = Some(merge_results(callback, stop));
                        this.inner.cancel_with(Cause::Shutdown);
                        *this.callback_done = true;
                        Some(Phase::Done)
                    }
                    Poll::Pending => None,
                },
                PhaseProj::Done => None,
            };
            match next {
                Some(phase) => this.phase.set(phase),
                None => break,
            }
        }
        if this.run_result.is_none()
            && let Poll::Ready(run) = this.run.poll(cx)
        {
            this.inner.cancel_with(if run.is_ok() { Cause::Parent } else { Cause::DependencyFailed });
            *this.run_result = Some(run);
        }
        if *this.callback_done
            && let Some(run) = this.run_result.take()
        {
            let callback = this.callback_result.take().unwrap_or(Ok(()));
            return Poll::Ready(merge_results(callback, run));
        }
        Poll::Pending
    }
}
