//! [`nop`]: the runner that does nothing.

use super::Runner;
use crate::ctx::Ctx;

/// A runner that does nothing: it is ready at once and returns what its callback returns.
///
/// Returned by [`nop`]; also what every combinator does with zero children.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "a runner does nothing until it is run"]
pub struct Nop;

/// Returns a runner that performs no operations and returns when the callback does.
///
/// The callback gets the caller's context unchanged.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, Runner, nop};
///
/// let root = Ctx::new();
/// let result: Result<(), &str> = embassy_futures::block_on(nop().run(&root, async |_| Err("callback")));
/// assert_eq!(result, Err("callback"));
/// ```
pub const fn nop() -> Nop {
    Nop
}

impl<E> Runner<E> for Nop {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        ready(ctx).await
    }
}
