//! The [`Runner`] trait: the contract of a process with a lifecycle.

use crate::ctx::Ctx;
#[allow(unused_imports, reason = "intra-doc links")]
use crate::error::Merge;

/// A process with a lifecycle: it starts, becomes ready, runs, and stops.
///
/// `run` starts the process. Once it is ready it calls `ready` (at most once: it is `FnOnce`)
/// and keeps running while `ready` runs; being inside `ready` means "running and ready for use".
/// There are three ways to stop it:
///
/// - **graceful**: `ready` returns. The process shuts down in an orderly way (its context is
///   still live, so it can flush, say goodbye, persist state) and `run` returns.
/// - **forced**: `ctx` is cancelled. The process stops promptly, still running its shutdown code.
/// - **hard**: the `run` future is dropped.
///
/// The contract, which every runner of this crate keeps and which its combinators rely on:
///
/// - `ready` is awaited *inside* the `run` future, so `run` returns only after `ready` has
///   returned (structured lifetimes; nothing outlives its parent).
/// - A runner may return without calling `ready`: that is a start failure.
/// - When the process fails or ends on its own while `ready` runs, it cancels the context it
///   passed to `ready` (a child of `ctx`), so that the callback returns soon after.
/// - A runner decides how to combine the callback's result with its own. The runners of this
///   crate give the callback's error precedence and never drop an error silently
///   ([`Merge`]).
/// - `&self`: a runner can run several times, also concurrently. State of one run lives in
///   the `run` future.
///
/// # Examples
///
/// Most runners are built with [`leaf`](crate::leaf), [`start_stop`](crate::start_stop) or
/// [`from_fn`](crate::from_fn); implementing the trait by hand looks like this:
///
/// ```
/// use procession::{Ctx, Runner};
///
/// struct Led;
///
/// impl Runner<&'static str> for Led {
///     async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), &'static str>
///     where
///         F: AsyncFnOnce(&Ctx<'_>) -> Result<(), &'static str>,
///     {
///         // switch the LED on ...
///         let inner = ctx.child();
///         let result = ready(&inner).await;
///         // ... and off again.
///         result
///     }
/// }
///
/// let root = Ctx::new();
/// let result = embassy_futures::block_on(Led.run(&root, async |_ctx| Ok(())));
/// assert_eq!(result, Ok(()));
/// ```
pub trait Runner<E> {
    /// Runs the process; see the trait documentation for the contract.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future is the hard stop: the process and its callback are
    /// dropped wherever they are.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the runner's parts are")]
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>;
}

impl<E, R: Runner<E> + ?Sized> Runner<E> for &R {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        (**self).run(ctx, ready).await
    }
}
