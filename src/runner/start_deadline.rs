//! [`StartDeadline`]: a bound on the start of a runner.

use core::future::Future;
use core::sync::atomic::AtomicBool;

use super::Runner;
use super::deadline::{bounded, escalate, report};
use crate::ctx::{Cause, Ctx, Latch};
use crate::error::{Merge, Overrun, Phase};

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
        use embassy_futures::select::{Either, select};

        let inner = ctx.child();
        // Set when the runner calls its callback: it is ready, the deadlines no longer apply.
        let started = Latch::new();
        let run = self.runner.run(&inner, async |c: &Ctx<'_>| {
            started.set(Cause::Parent);
            ready(c).await
        });
        let forced = AtomicBool::new(false);
        let watchdog = async {
            if let Either::First(_) = select(started.wait(), (self.deadline)()).await {
                return core::future::pending().await;
            }
            let escalation = escalate(&inner, core::future::ready(()), &forced, &self.forced);
            if let Either::First(_) = select(started.wait(), escalation).await {
                // Ready after all, while forced: it runs on, and the overrun is reported.
                core::future::pending::<()>().await;
            }
        };
        let (own, level) = bounded(run, watchdog, &forced).await;
        report(Ok(()), own, Phase::Start, level)
    }
}
