//! [`PrefixErr`]: every error of a runner, prefixed.

use super::Runner;
use crate::ctx::Ctx;
use crate::error::Prefix;

/// Runner for the [`RunnerExt::prefix_err`](crate::RunnerExt::prefix_err) method.
#[derive(Debug, Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct PrefixErr<R> {
    pub(super) runner: R,
    pub(super) prefix: &'static str,
}

impl<E: Prefix, R: Runner<E>> Runner<E> for PrefixErr<R> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.runner.run(ctx, ready).await.map_err(|e| e.prefix(self.prefix))
    }
}
