//! [`Named`]: a node of the tree with a name, carried into its failures.

use super::Runner;
use crate::ctx::Ctx;
use crate::error::{Merge, Prefix};

/// Runner for the [`RunnerExt::named`](super::RunnerExt::named) method.
#[derive(Debug, Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct Named<R> {
    pub(super) runner: R,
    pub(super) name: &'static str,
}

impl<R> Named<R> {
    /// The name given to [`named`](super::RunnerExt::named).
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<E: Prefix + Merge, R: Runner<E>> Runner<E> for Named<R> {
    /// Runs the runner; its own failures come back named, the callback's unchanged.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the runner and the callback wherever they are.
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        let mut callback = Ok(());
        let own = self
            .runner
            .run(ctx, async |c: &Ctx<'_>| {
                callback = ready(c).await;
                Ok(())
            })
            .await;
        crate::error::merge_results(callback, own.map_err(|e| e.prefix(self.name)))
    }
}
