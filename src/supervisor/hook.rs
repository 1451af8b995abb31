//! Hooks around each incarnation: [`Hook`], [`HookFn`] and [`Skip`].

use embassy_sync::blocking_mutex::raw::RawMutex;

use super::Control;
use crate::ctx::Ctx;

/// One hook of a [`Hook`]: an async function of the incarnation's context, the supervisor's
/// [`Control`] and the live runner instance.
///
/// Implemented by [`Skip`] (returns `Ok`) and by every
/// `AsyncFn(&Ctx<'_>, &Control<M>, &R) -> Result<(), E>` closure.
pub trait HookFn<E, R, M: RawMutex> {
    /// Runs the hook.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the closure's is")]
    async fn call(&self, ctx: &Ctx<'_>, control: &Control<M>, runner: &R) -> Result<(), E>;
}

/// A hook that does nothing and returns `Ok`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skip;

impl<E, R, M: RawMutex> HookFn<E, R, M> for Skip {
    async fn call(&self, _: &Ctx<'_>, _: &Control<M>, _: &R) -> Result<(), E> {
        Ok(())
    }
}

impl<E, R, M, F> HookFn<E, R, M> for F
where
    M: RawMutex,
    F: AsyncFn(&Ctx<'_>, &Control<M>, &R) -> Result<(), E>,
{
    async fn call(&self, ctx: &Ctx<'_>, control: &Control<M>, runner: &R) -> Result<(), E> {
        self(ctx, control, runner).await
    }
}

/// Hooks around each incarnation, both run inside the runner's
/// ready callback.
///
/// - `pre` runs as soon as the incarnation is ready. An error is returned from the runner's
///   callback at once (after `post` has run; its result is then ignored), so the runner stops
///   and the attempt fails with it (unless the runner decides otherwise).
/// - `post` runs when the incarnation is asked to stop (an interrupt, or its context ended);
///   its result is the runner's callback's result.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, runner::Nop, supervisor::{Control, Hook}};
///
/// let hook = Hook::new()
///     .pre(async |_ctx: &Ctx<'_>, _sup: &Control, _live: &Nop| -> Result<(), ()> { Ok(()) /* announce */ })
///     .post(async |_ctx: &Ctx<'_>, _sup: &Control, _live: &Nop| -> Result<(), ()> { Ok(()) /* withdraw */ });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Hook<P = Skip, Q = Skip> {
    /// Called once the incarnation is ready.
    pub pre: P,
    /// Called before the incarnation's ready callback returns.
    pub post: Q,
}

impl Hook {
    /// Hooks that do nothing.
    pub const fn new() -> Self {
        Self { pre: Skip, post: Skip }
    }
}

impl<P, Q> Hook<P, Q> {
    /// Sets the `pre` hook.
    pub fn pre<P2>(self, pre: P2) -> Hook<P2, Q> {
        Hook { pre, post: self.post }
    }

    /// Sets the `post` hook.
    pub fn post<Q2>(self, post: Q2) -> Hook<P, Q2> {
        Hook { pre: self.pre, post }
    }
}
