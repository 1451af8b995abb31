//! [`start_stop`]: a runner from a pair of start and stop functions.

use crate::ctx::Ctx;
use crate::error::{Merge, merge_results};
use crate::runner::Runner;

/// Runner for the [`start_stop`] function.
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct StartStop<S, T> {
    start: S,
    stop: T,
}

impl<S, T> core::fmt::Debug for StartStop<S, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StartStop").finish_non_exhaustive()
    }
}

/// Makes a runner from a function that starts something in the background and one that stops
/// it.
///
/// `start` is awaited first; if it fails, its error is returned and neither the callback nor
/// `stop` runs. Otherwise the callback runs with the caller's context, and when it returns,
/// `stop` is called with that same context: it should stop gracefully and, when the context is
/// cancelled, stop forced.
///
/// The result is `start`'s error, or else the callback's error then `stop`'s, merged
/// ([`Merge`]): the stop error is kept also when the callback failed.
///
/// A `start_stop` runner cannot notice that the background work failed: the callback's context
/// is the caller's. Use [`leaf`](super::leaf) or a `Process` when that matters.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, MultiError, Runner, start_stop};
///
/// type Error = MultiError<&'static str, 2>;
/// let radio = start_stop(
///     async |_ctx: &Ctx<'_>| -> Result<(), Error> { /* power up */ Ok(()) },
///     async |_ctx: &Ctx<'_>| -> Result<(), Error> { /* power down */ Ok(()) },
/// );
/// let root = Ctx::new();
/// assert!(embassy_futures::block_on(radio.run(&root, async |_| Ok(()))).is_ok());
/// ```
pub const fn start_stop<S, T>(start: S, stop: T) -> StartStop<S, T> {
    StartStop { start, stop }
}

impl<E, S, T> Runner<E> for StartStop<S, T>
where
    E: Merge,
    S: AsyncFn(&Ctx<'_>) -> Result<(), E>,
    T: AsyncFn(&Ctx<'_>) -> Result<(), E>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        (self.start)(ctx).await?;
        let callback = ready(ctx).await;
        let stop = (self.stop)(ctx).await;
        merge_results(callback, stop)
    }
}
