//! The deadline adapters, [`StartDeadline`] and [`StopDeadline`]: one bounded run, escalating
//! from the first deadline to the forced stop and from the second to the hard stop, for either
//! phase.

use crate::sync::{AtomicBool, Ordering};
use core::future::Future;

use embassy_futures::select::{Either, select};

use super::Runner;
use crate::ctx::{Cause, Ctx};
use crate::error::{Merge, Overrun, Phase, StopLevel};
use crate::waitqueue::Event;

/// Runner for the [`RunnerExt::with_start_deadline`](crate::RunnerExt::with_start_deadline) method.
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct StartDeadline<R, G, H> {
    pub(super) runner: R,
    pub(super) deadline: G,
    pub(super) forced: H,
}

impl<R: core::fmt::Debug, G, H> core::fmt::Debug for StartDeadline<R, G, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StartDeadline").field("runner", &self.runner).finish_non_exhaustive()
    }
}

impl<E, R, G, GF, H, HF> Runner<E> for StartDeadline<R, G, H>
where
    R: Runner<E>,
    G: Fn() -> GF,
    GF: Future<Output = ()>,
    H: Fn() -> HF,
    HF: Future<Output = ()>,
    E: Merge + From<Overrun>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        run_bounded(&self.runner, ctx, ready, Phase::Start, &self.deadline, &self.forced).await
    }
}

/// Runner for the [`RunnerExt::with_stop_deadline`](crate::RunnerExt::with_stop_deadline) method.
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct StopDeadline<R, G, H> {
    pub(super) runner: R,
    pub(super) graceful: G,
    pub(super) forced: H,
}

impl<R: core::fmt::Debug, G, H> core::fmt::Debug for StopDeadline<R, G, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StopDeadline").field("runner", &self.runner).finish_non_exhaustive()
    }
}

impl<E, R, G, GF, H, HF> Runner<E> for StopDeadline<R, G, H>
where
    R: Runner<E>,
    G: Fn() -> GF,
    GF: Future<Output = ()>,
    H: Fn() -> HF,
    HF: Future<Output = ()>,
    E: Merge + From<Overrun>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        run_bounded(&self.runner, ctx, ready, Phase::Stop, &self.graceful, &self.forced).await
    }
}

/// Runs `runner` under a child of `ctx`, bounding `phase`: once it begins (at once for the
/// start, when the callback returns for the stop), `first()` is made; when it completes the
/// child is cancelled with [`Cause::Deadline`] (forced) and `second()` is made; when that
/// completes the run is dropped (hard). The end of the phase (readiness for the start, the
/// return of the runner for both) wins a tie.
///
/// The callback's result is kept here, so that a hard stop does not lose it, and merged first:
/// for the stop, the runner sees its callback return `Ok`; for the start, the callback runs as
/// the runner's own (its result is the runner's to see).
async fn run_bounded<E, R, F, G, GF, H, HF>(
    runner: &R,
    ctx: &Ctx<'_>,
    ready: F,
    phase: Phase,
    first: &G,
    second: &H,
) -> Result<(), E>
where
    R: Runner<E>,
    F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    G: Fn() -> GF,
    GF: Future<Output = ()>,
    H: Fn() -> HF,
    HF: Future<Output = ()>,
    E: Merge + From<Overrun>,
{
    let inner = ctx.child();
    // The mark of the phase: set when the runner calls its callback (start: it is ready, the
    // deadlines no longer apply), or when the callback has returned (stop: the graceful stop
    // has begun).
    let mark: Event = Event::new();
    let mut callback_result = None;
    let run = runner.run(&inner, async |c: &Ctx<'_>| match phase {
        Phase::Start => {
            mark.set(Cause::Parent);
            ready(c).await
        }
        Phase::Stop => {
            callback_result = Some(ready(c).await);
            mark.set(Cause::Shutdown);
            Ok(())
        }
    });
    let forced = AtomicBool::new(false);
    let watchdog = async {
        match phase {
            Phase::Start => {
                if let Either::First(_) = select(mark.wait(), first()).await {
                    return core::future::pending().await;
                }
                let escalation = escalate(&inner, core::future::ready(()), &forced, second);
                if let Either::First(_) = select(mark.wait(), escalation).await {
                    // Ready after all, while forced: it runs on, and the overrun is reported.
                    core::future::pending::<()>().await;
                }
            }
            Phase::Stop => {
                mark.wait().await;
                escalate(&inner, first(), &forced, second).await;
            }
        }
    };
    let (own, level) = bounded(run, watchdog, &forced).await;
    report(callback_result.unwrap_or(Ok(())), own, phase, level)
}

/// Waits for `first`, cancels `ctx` with `Cause::Deadline` (noting it in `forced`), then makes
/// the second deadline and waits for it: a deadline made at creation (a timer) measures from the
/// forced stop.
async fn escalate<S: Future<Output = ()>>(
    ctx: &Ctx<'_>,
    first: impl Future<Output = ()>,
    forced: &AtomicBool,
    second: impl FnOnce() -> S,
) {
    first.await;
    forced.store(true, Ordering::Relaxed);
    ctx.cancel_with(Cause::Deadline);
    second().await;
}

/// Runs `run` against a `watchdog` that completes when the hard deadline passed, and says at
/// which level `run` ended. The run wins a tie.
async fn bounded<T>(
    run: impl Future<Output = T>,
    watchdog: impl Future<Output = ()>,
    forced: &AtomicBool,
) -> (Option<T>, StopLevel) {
    match select(run, watchdog).await {
        Either::First(own) if forced.load(Ordering::Relaxed) => (Some(own), StopLevel::Forced),
        Either::First(own) => (Some(own), StopLevel::Graceful),
        Either::Second(()) => (None, StopLevel::Hard),
    }
}

/// The result of a deadline-bounded run: the callback's, then the runner's, then the overrun.
fn report<E: Merge + From<Overrun>>(
    callback: Result<(), E>,
    own: Option<Result<(), E>>,
    phase: Phase,
    level: StopLevel,
) -> Result<(), E> {
    let result = crate::error::merge_results(callback, own.unwrap_or(Ok(())));
    match level {
        StopLevel::Graceful => result,
        level => crate::error::merge_results(result, Err(E::from(Overrun::new(phase, level)))),
    }
}
