//! What the deadline adapters share: escalation, the bounded run, the report.

use core::future::Future;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::ctx::{Cause, Ctx};
use crate::error::{Merge, Overrun, Phase, StopLevel};

/// Waits for `first`, cancels `ctx` with `Cause::Deadline` (noting it in `forced`), then makes
/// the second deadline and waits for it: a deadline made at creation (a timer) measures from the
/// forced stop.
pub(super) async fn escalate<S: Future<Output = ()>>(
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
pub(super) async fn bounded<T>(
    run: impl Future<Output = T>,
    watchdog: impl Future<Output = ()>,
    forced: &AtomicBool,
) -> (Option<T>, StopLevel) {
    use embassy_futures::select::{Either, select};

    match select(run, watchdog).await {
        Either::First(own) if forced.load(Ordering::Relaxed) => (Some(own), StopLevel::Forced),
        Either::First(own) => (Some(own), StopLevel::Graceful),
        Either::Second(()) => (None, StopLevel::Hard),
    }
}

/// The result of a deadline-bounded run: the callback's, then the runner's, then the overrun.
pub(super) fn report<E: Merge + From<Overrun>>(
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
