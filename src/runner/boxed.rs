//! Boxed runners (`alloc`): [`DynRunner`], the object-safe form of [`Runner`], and [`BoxRunner`].

use alloc::boxed::Box;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;

use super::Runner;
use crate::ctx::Ctx;

/// A boxed future that is not `Send`.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The readiness callback of a [`DynRunner`], boxed.
///
/// The second argument only ties the lifetimes: the callback is called with a context that
/// lives no longer than the run (`'a: 'c`).
pub type DynReady<'a, E> =
    Box<dyn for<'c> FnOnce(&'c Ctx<'c>, PhantomData<&'c &'a ()>) -> LocalBoxFuture<'c, Result<(), E>> + 'a>;

/// The object-safe form of [`Runner`] (`alloc`), implemented for every runner.
///
/// Use it through [`BoxRunner`] to keep runners of different types in one `Vec`; `dyn
/// DynRunner<E>` (also `+ Send`, `+ Send + Sync`) is itself a [`Runner`], and so are `Box<R>`
/// and `Arc<R>` of any runner. The trait is sealed: every [`Runner`] implements it. Boxed
/// runners are not `Send`: stable Rust cannot yet say that the future of a generic runner
/// is `Send` (return type notation is unstable). For a `Send` set of runners of different
/// types, use a tuple.
pub trait DynRunner<E>: sealed::Sealed<E> {
    /// Runs the runner with a boxed callback; see [`Runner::run`].
    fn run_boxed<'a>(&'a self, ctx: &'a Ctx<'a>, ready: DynReady<'a, E>) -> LocalBoxFuture<'a, Result<(), E>>
    where
        E: 'a;
}

impl<E, R: Runner<E>> DynRunner<E> for R {
    fn run_boxed<'a>(&'a self, ctx: &'a Ctx<'a>, ready: DynReady<'a, E>) -> LocalBoxFuture<'a, Result<(), E>>
    where
        E: 'a,
    {
        Box::pin(self.run(ctx, async move |c: &Ctx<'_>| ready(c, PhantomData).await))
    }
}

/// A boxed runner of any type (`alloc`): `Box<dyn DynRunner<E> + 'a>`, itself a [`Runner`].
///
/// # Examples
///
/// ```
/// use procession::{Ctx, Runner, nop, parallel, runner::BoxRunner};
/// use procession::TreeError;
///
/// type Error = TreeError;
/// let children: Vec<BoxRunner<'_, Error>> = vec![Box::new(nop()), Box::new(parallel([nop(), nop()]))];
/// let root = Ctx::new();
/// let result = embassy_futures::block_on(parallel(children).run(&root, async |_| Ok(())));
/// assert!(result.is_ok());
/// ```
pub type BoxRunner<'a, E> = Box<dyn DynRunner<E> + 'a>;

macro_rules! dyn_runner {
    ($($bounds:tt)*) => {
        impl<E> Runner<E> for dyn DynRunner<E> $($bounds)* {
            async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
            where
                F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
            {
                let ready: DynReady<'_, E> = Box::new(move |c, _| Box::pin(ready(c)));
                self.run_boxed(ctx, ready).await
            }
        }
    };
}

dyn_runner!(+ '_);
dyn_runner!(+ Send + '_);
dyn_runner!(+ Send + Sync + '_);

impl<E, R: Runner<E> + ?Sized> Runner<E> for Box<R> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        (**self).run(ctx, ready).await
    }
}

#[cfg(target_has_atomic = "ptr")]
impl<E, R: Runner<E> + ?Sized> Runner<E> for alloc::sync::Arc<R> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        (**self).run(ctx, ready).await
    }
}

mod sealed {
    /// Only the blanket implementation over [`Runner`](super::Runner) implements `DynRunner`.
    pub trait Sealed<E> {}
    impl<E, R: super::Runner<E>> Sealed<E> for R {}
}
