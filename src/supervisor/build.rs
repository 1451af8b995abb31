//! Building the runner of each incarnation: [`Build`], [`identity`], [`build_fn`] and
//! [`Builder`].

use core::fmt;

use crate::ctx::Ctx;
use crate::runner::Runner;

/// Makes the runner for one run: single-use runners get a fresh
/// instance per run, for example per supervisor restart.
pub trait Build<E> {
    /// The runner made.
    type Runner: Runner<E>;

    /// Makes a runner and calls `f` with it; the runner lives until `f` returns. A build error
    /// is returned as is, without calling `f`; otherwise `f`'s result.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the builder's is")]
    async fn with_runner<F>(&self, ctx: &Ctx<'_>, f: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Self::Runner) -> Result<(), E>;
}

/// A [`Build`] that always gives the same runner. Also a [`Runner`]
/// that runs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "a runner does nothing until it is run"]
pub struct Identity<R>(pub R);

/// A [`Build`] that always gives `runner`.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, Runner, nop, supervisor::identity};
///
/// let root = Ctx::new();
/// let result: Result<(), ()> = embassy_futures::block_on(identity(nop()).run(&root, async |_| Ok(())));
/// assert_eq!(result, Ok(()));
/// ```
pub const fn identity<R>(runner: R) -> Identity<R> {
    Identity(runner)
}

impl<E, R: Runner<E>> Build<E> for Identity<R> {
    type Runner = R;

    async fn with_runner<F>(&self, _ctx: &Ctx<'_>, f: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&R) -> Result<(), E>,
    {
        f(&self.0).await
    }
}

impl<E, R: Runner<E>> Runner<E> for Identity<R> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.0.run(ctx, ready).await
    }
}

/// A [`Build`] made from an async closure. Also a [`Runner`]: it
/// builds, then runs what it built; a build error is returned unchanged and the callback is not
/// called.
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct BuildFn<F> {
    f: F,
}

impl<F> fmt::Debug for BuildFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildFn").finish_non_exhaustive()
    }
}

/// A [`Build`] that makes a fresh runner with `f` for every run.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, Runner, nop, supervisor::build_fn};
///
/// let fresh = build_fn(async |_ctx: &Ctx<'_>| Ok::<_, &str>(nop()));
/// let root = Ctx::new();
/// assert_eq!(embassy_futures::block_on(fresh.run(&root, async |_| Ok(()))), Ok(()));
///
/// let broken = build_fn(async |_ctx: &Ctx<'_>| Err::<procession::runner::Nop, _>("no config"));
/// assert_eq!(embassy_futures::block_on(broken.run(&root, async |_| Ok(()))), Err("no config"));
/// ```
pub const fn build_fn<F>(f: F) -> BuildFn<F> {
    BuildFn { f }
}

impl<E, R, F> Build<E> for BuildFn<F>
where
    R: Runner<E>,
    F: AsyncFn(&Ctx<'_>) -> Result<R, E>,
{
    type Runner = R;

    async fn with_runner<H>(&self, ctx: &Ctx<'_>, f: H) -> Result<(), E>
    where
        H: AsyncFnOnce(&R) -> Result<(), E>,
    {
        let runner = (self.f)(ctx).await?;
        f(&runner).await
    }
}

impl<E, R, G> Runner<E> for BuildFn<G>
where
    R: Runner<E>,
    G: AsyncFn(&Ctx<'_>) -> Result<R, E>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        (self.f)(ctx).await?.run(ctx, ready).await
    }
}

/// A reusable [`Runner`] over a [`Build`] that also hands the live instance to its callback
///.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, nop, runner::Nop, supervisor::{Builder, identity}};
///
/// let builder = Builder::new(identity(nop()));
/// let root = Ctx::new();
/// let result: Result<(), ()> = embassy_futures::block_on(builder.run_with(&root, async |_ctx, live: &Nop| {
///     assert_eq!(*live, nop()); // the instance that is running
///     Ok(())
/// }));
/// assert_eq!(result, Ok(()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use = "a runner does nothing until it is run"]
pub struct Builder<B> {
    build: B,
}

impl<B> Builder<B> {
    /// A runner that builds with `build` on every run.
    pub const fn new(build: B) -> Self {
        Self { build }
    }

    /// Builds a runner and runs it; its callback gets the live instance too. A build error is
    /// returned unchanged and the callback is not called.
    pub async fn run_with<E, F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        B: Build<E>,
        F: AsyncFnOnce(&Ctx<'_>, &B::Runner) -> Result<(), E>,
    {
        self.build
            .with_runner(ctx, async |instance: &B::Runner| {
                instance.run(ctx, async |c: &Ctx<'_>| ready(c, instance).await).await
            })
            .await
    }
}

impl<E, B: Build<E>> Runner<E> for Builder<B> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.run_with(ctx, async |c: &Ctx<'_>, _: &B::Runner| ready(c).await).await
    }
}
