//! Runners composed of other runners: [`chain`], [`parallel`], [`sequential`], and the leaf
//! adapters [`leaf`], [`leaf_with_stop`] and [`start_stop`].
//!
//! The composing functions take a set of children: a tuple of runners of any types (up to 12),
//! an array `[R; N]`, or, with `alloc`, a `Vec<R>` (which also holds boxed `dyn` runners, see
//! [`BoxRunner`](crate::runner::BoxRunner)). Zero children behave as [`nop`](crate::nop), one
//! child as that child.
//!
//! Every child runs inside the combinator's future; nothing is spawned and, without `alloc`,
//! nothing is allocated. The order of things, everywhere:
//!
//! - the main callback runs only once every child is ready;
//! - stop order is the reverse of start order;
//! - a start failure starts nothing further and stops what started, in reverse;
//! - a child failing while running cancels the callback's context with
//!   [`Cause::DependencyFailed`](crate::Cause::DependencyFailed);
//! - the callback's error takes precedence, and every other error is merged after it in child
//!   order ([`Merge`]): none is dropped.
//!
//! A child that returns `Ok` without ever calling its callback is a start failure with no
//! error: nothing further starts, the callback does not run, and the result is `Ok` unless
//! another child failed. The same holds when the caller's context is cancelled
//! before every child is ready. A caller that must know whether its callback ran can note it
//! in the callback.
//!
//! Dropping a combinator's future drops every child where it is (the hard stop of the whole
//! subtree); the combinators spawn nothing, so nothing outlives it.

mod group;
mod leaf;
pub(crate) mod set;
mod start_stop;

pub use leaf::{Leaf, NoStop, StopFn, leaf, leaf_with_stop};
pub use set::Children;
pub use start_stop::{StartStop, start_stop};

use crate::ctx::Ctx;
use crate::error::Merge;
use crate::runner::Runner;
use group::Mode;

/// Runner for the [`chain`] function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a runner does nothing until it is run"]
pub struct Chain<T> {
    children: T,
}

/// Starts the children one after the other, each once the previous one is ready, then the main
/// callback; stops them in reverse.
///
/// Each child depends on the ones before it: when a child's callback context is cancelled
/// (because it fails, or its own parent is cancelled), the contexts of every child after it and
/// of the main callback are cancelled with the same cause (a forced stop of what depends on it).
///
/// # Errors
///
/// Every child's callback returns `Ok` (a child never sees the failures of what runs after
/// it), and the chain returns the main callback's error merged with every child's own error,
/// in child order: an error is reported once, by the process that produced it, and none is
/// lost.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, MultiError, Runner, chain, leaf};
///
/// type Error = MultiError<&'static str, 4>;
/// let storage = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> { ctx.cancelled().await; Ok(()) });
/// let network = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> { ctx.cancelled().await; Ok(()) });
///
/// let root = Ctx::new();
/// let app = chain((storage, network));
/// let result = embassy_futures::block_on(app.run(&root, async |_ctx| Ok(())));
/// assert!(result.is_ok());
/// ```
pub const fn chain<T>(children: T) -> Chain<T> {
    Chain { children }
}

/// Runner for the [`parallel`] function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a runner does nothing until it is run"]
pub struct Parallel<T> {
    children: T,
}

/// Starts every child at once, runs the main callback once all are ready, and stops them all
/// at once when the callback returns.
///
/// Children run side by side: none is stopped before the callback has returned, and a child
/// failing while running cancels only the callback's context
/// ([`Cause::DependencyFailed`](crate::Cause::DependencyFailed)); the others then stop
/// gracefully. A child failing to start cancels the children still starting (forced) and
/// stops the ones already ready (graceful); the callback does not run.
///
/// Parallel children have no order among themselves: they start together and are released
/// together (in one poll, in child order). Relative to the rest of the tree the stop order is
/// still the reverse of the start order: the callback ends before any child.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, MultiError, Runner, leaf, parallel};
///
/// type Error = MultiError<&'static str, 4>;
/// let radio = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> { ctx.cancelled().await; Ok(()) });
/// let display = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> { ctx.cancelled().await; Ok(()) });
///
/// let root = Ctx::new();
/// let both = parallel((radio, display));
/// let result = embassy_futures::block_on(both.run(&root, async |_ctx| {
///     // both are running here
///     Ok(())
/// }));
/// assert!(result.is_ok());
/// ```
pub const fn parallel<T>(children: T) -> Parallel<T> {
    Parallel { children }
}

/// Runner for the [`sequential`] function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a runner does nothing until it is run"]
pub struct Sequential<T> {
    children: T,
}

/// Starts the children one after the other, each once the previous one is ready, runs the main
/// callback, then stops them one after the other in reverse, each once the one after it has
/// returned.
///
/// Unlike [`chain`], every child gets a context derived from the caller's: a child failing
/// while running cancels only the callback's context
/// ([`Cause::DependencyFailed`](crate::Cause::DependencyFailed)) and the others stop
/// gracefully, as in [`parallel`].
///
/// # Stop order and start failures
///
/// The stop order is the reverse of the start order, as for every combinator. After a start
/// failure, or once the caller's context is cancelled, nothing further starts.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, MultiError, Runner, sequential, start_stop};
///
/// type Error = MultiError<&'static str, 4>;
/// let step = || start_stop(
///     async |_: &Ctx<'_>| -> Result<(), Error> { Ok(()) },
///     async |_: &Ctx<'_>| -> Result<(), Error> { Ok(()) },
/// );
/// let root = Ctx::new();
/// let boot = sequential([step(), step(), step()]);
/// assert!(embassy_futures::block_on(boot.run(&root, async |_| Ok(()))).is_ok());
/// ```
pub const fn sequential<T>(children: T) -> Sequential<T> {
    Sequential { children }
}

macro_rules! group_runner {
    ($name:ident, $mode:expr) => {
        impl<E: Merge, T: Children<E>> Runner<E> for $name<T> {
            async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
            where
                F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
            {
                set::Sealed::run_group(&self.children, ctx, $mode, ready).await
            }
        }
    };
}

group_runner!(Chain, Mode::Chain);
group_runner!(Parallel, Mode::Parallel);
group_runner!(Sequential, Mode::Sequential);
