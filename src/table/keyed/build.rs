//! [`BuildKeyed`]: the runner of one incarnation of a key, made from the key and its value.

use crate::ctx::Ctx;
use crate::runner::Runner;

/// Makes the runner of one incarnation of a key from the key and the value the table holds for
/// it, as [`supervisor::Build`](crate::supervisor::Build) does for one process.
///
/// Every incarnation of every key is a runner of the one type [`Runner`](Self::Runner), so that
/// the driver keeps the incarnations in fixed slots of its own frame, without a heap.
///
/// Implemented by every `Fn(&K, &V) -> R` closure whose `R` is a [`Runner`]: the closure makes
/// the runner, which then runs (the common case). Implement it by hand for a build that is
/// async or fallible, or that lends the runner a resource for the incarnation's lifetime.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, TreeError, leaf};
/// use procession::table::BuildKeyed;
///
/// // One worker per device number; the table's value is its polling period in ms.
/// let build = |device: &u8, period: &u32| {
///     let (device, period) = (*device, *period);
///     leaf(async move |ctx: &Ctx<'_>| -> Result<(), TreeError> {
///         let _ = (device, period);
///         ctx.cancelled().await;
///         Ok(())
///     })
/// };
/// fn is_build<B: BuildKeyed<u8, u32, TreeError>>(_: &B) {}
/// is_build(&build);
/// ```
pub trait BuildKeyed<K, V, E> {
    /// The runner of one incarnation.
    type Runner: Runner<E>;

    /// Makes the runner for `key` and `value` and calls `f` with it; the runner lives until `f`
    /// returns. A build error is returned as is, without calling `f` (it counts as a failure
    /// before ready); otherwise `f`'s result.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the builder's is")]
    async fn with_runner<F>(&self, ctx: &Ctx<'_>, key: &K, value: &V, f: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Self::Runner) -> Result<(), E>;
}

impl<K, V, E, R, G> BuildKeyed<K, V, E> for G
where
    G: Fn(&K, &V) -> R,
    R: Runner<E>,
{
    type Runner = R;

    async fn with_runner<F>(&self, _ctx: &Ctx<'_>, key: &K, value: &V, f: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&R) -> Result<(), E>,
    {
        let runner = self(key, value);
        f(&runner).await
    }
}
