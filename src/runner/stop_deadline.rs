//! [`StopDeadline`]: a bound on the stop of a runner.

use core::future::Future;
use core::sync::atomic::AtomicBool;

use super::Runner;
use super::deadline::{bounded, escalate, report};
use crate::ctx::{Cause, Ctx, Latch};
use crate::error::{Merge, Overrun, Phase};

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
        let inner = ctx.child();
        // Set when the callback has returned: the graceful stop has begun.
        let stopping = Latch::new();
        // The callback's result, kept here so that a hard stop does not lose it; the runner
        // gets `Ok` and the result is merged back first.
        let mut callback_result = None;
        let run = self.runner.run(&inner, async |c: &Ctx<'_>| {
            callback_result = Some(ready(c).await);
            stopping.set(Cause::Shutdown);
            Ok(())
        });
        let forced = AtomicBool::new(false);
        let watchdog = async {
            stopping.wait().await;
            escalate(&inner, (self.graceful)(), &forced, &self.forced).await;
        };
        let (own, level) = bounded(run, watchdog, &forced).await;
        let callback = callback_result.unwrap_or(Ok(()));
        report(callback, own, Phase::Stop, level)
    }
}
