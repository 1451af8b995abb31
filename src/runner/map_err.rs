//! [`MapErr`]: the errors of a runner, converted.

use core::marker::PhantomData;

use super::Runner;
use crate::ctx::Ctx;
use crate::error::Merge;

/// Runner for the [`RunnerExt::map_err`](crate::RunnerExt::map_err) method.
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct MapErr<R, F, E> {
    pub(super) runner: R,
    pub(super) f: F,
    pub(super) inner_error: PhantomData<fn() -> E>,
}

impl<R: core::fmt::Debug, F, E> core::fmt::Debug for MapErr<R, F, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MapErr").field("runner", &self.runner).finish_non_exhaustive()
    }
}

impl<E1, E2, R, M> Runner<E2> for MapErr<R, M, E1>
where
    R: Runner<E1>,
    M: Fn(E1) -> E2,
    E2: Merge,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E2>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E2>,
    {
        let mut callback_result = Ok(());
        let inner = self
            .runner
            .run(ctx, async |c: &Ctx<'_>| {
                callback_result = ready(c).await;
                Ok(())
            })
            .await;
        crate::error::merge_results(callback_result, inner.map_err(&self.f))
    }
}
