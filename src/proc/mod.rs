//! Processes as plain async functions of a context, and their combinators.
//!
//! A *process* here is one call of an async function of `&Ctx` that returns `Result<(), E>`:
//! it runs until it is done or until its context is cancelled. Any
//! `async |ctx: &Ctx<'_>| -> Result<(), E>` closure is a process: the [`Proc`] trait is
//! implemented for every such function, so code that defines processes need not name this
//! module. Unlike a [`Runner`](crate::Runner), a process has no readiness and no graceful stop:
//! cancellation of its context is the only way to ask it to end.
//!
//! | item | what |
//! |---|---|
//! | [`Proc`] | a process: an async function of a context |
//! | [`concurrent`] | runs processes side by side; keeps every failure |
//! | [`concurrent_group`] | the same, and the first failure cancels the others |
//! | [`sequence`] | runs processes one after another; stops at the first failure |
//! | [`task`], [`TaskError`] | names a process; its failure says the name |
//! | [`trace_region`] | a span or log record around a process (`tracing`, `log`, `defmt`) |
//! | [`main()`] (`std`, unix) | runs a process as a program, stopped by SIGINT and SIGTERM |
//! | [`serve`], [`serve_main`] (`std`, unix) | runs a [`Runner`](crate::Runner) tree until signals, stopped in three steps |
//! | [`MultiError`], `UnboundedMultiError` (`alloc`); the tree error [`TreeError`](crate::TreeError) | several failures at once |
//! | [`from_runner`], [`into_runner`] | conversions to and from a [`Runner`](crate::Runner) |
//! | [`stop_deadline`] | bounds the wait for a process that may ignore its cancellation |
//!
//! The combinators take a set of processes: a tuple of processes of any types (up to 12), an
//! array `[P; N]`, or, with `alloc`, a `Vec<P>` ([`Procs`]). Every child runs inside the
//! combinator's future; nothing is spawned and, without `alloc`, nothing is allocated.
//!
//! # Behaviour
//!
//! - **Every failure is kept, in child order.** [`concurrent`] and [`concurrent_group`] merge
//!   the children's errors with [`Merge`] in child (index) order, whatever order they
//!   finished in; [`MultiError`] flattens nested lists. One failure is returned unchanged.
//! - **Bounded without `alloc`.** [`MultiError<E, N>`](MultiError) keeps `N` failures and
//!   counts the rest; `UnboundedMultiError` (`alloc`) keeps all.
//! - **[`TaskError`] exposes its cause as `source()`**, so a caller walking the chain of
//!   sources sees the process's own error.
//! - **[`task`] and [`trace_region`]** open a `tracing` span (feature `tracing`) or write a
//!   `log`/`defmt` message (features `log`, `defmt`; defmt only on targets without an OS,
//!   where a global logger exists), and pass the caller's context unchanged.
//! - **[`main()`]** handles SIGINT and SIGTERM, and a second signal during shutdown exits at
//!   once with status 128 + the signal number (130 for SIGINT), naming the tasks that are
//!   still running.
//! - The group context of [`concurrent_group`] is cancelled with a [`Cause`]:
//!   [`Cause::DependencyFailed`] on the first failure, [`Cause::Parent`] when the group returns.
//! - [`concurrent`] and [`concurrent_group`] wait for every child, also after a failure
//!   (bound a child that may ignore cancellation with [`stop_deadline`]); cancellation errors
//!   returned by siblings are not filtered out; [`sequence`] does not look at its context
//!   between steps; a panic in a process is not caught (it unwinds through the combinator,
//!   dropping the siblings).
//!
//! # Examples
//!
//! ```
//! use procession::Ctx;
//! use procession::TreeError;
//! use procession::proc::{Proc, concurrent_group, sequence, task};
//!
//! /// Every failure of the program, each with the name of its task.
//! type Error = TreeError;
//!
//! let migrate = task("migrate", async |_: &Ctx<'_>| -> Result<(), &'static str> { Ok(()) });
//! let serve = task("serve", async |ctx: &Ctx<'_>| -> Result<(), &'static str> {
//!     ctx.cancelled().await; // serve until told to stop
//!     Ok(())
//! });
//! let watchdog = task("watchdog", async |_: &Ctx<'_>| -> Result<(), &'static str> { Err("tripped") });
//!
//! let app = sequence((migrate, concurrent_group((serve, watchdog))));
//! let root = Ctx::new();
//! // The watchdog fails, the group cancels `serve`, and the failure comes back, named.
//! let result: Result<(), Error> = embassy_futures::block_on(app.run(&root));
//! assert_eq!(result.unwrap_err().to_string(), "watchdog: tripped");
//! ```
//!
//! [`Cause`]: crate::Cause
//! [`Cause::DependencyFailed`]: crate::Cause::DependencyFailed
//! [`Cause::Parent`]: crate::Cause::Parent
//! [`Merge`]: crate::Merge

mod concurrent;
mod convert;
mod deadline;
#[cfg(all(feature = "std", unix))]
mod main;
mod sequence;
#[cfg(all(feature = "std", unix))]
mod serve;
mod set;
mod task;

pub use concurrent::{Concurrent, ConcurrentGroup, concurrent, concurrent_group};
pub use convert::{FromRunner, IntoRunner, from_runner, into_runner};
pub use deadline::{StopDeadline, stop_deadline};
#[cfg(all(feature = "std", unix))]
pub use main::{main, try_main};
pub use sequence::{Sequence, sequence};
#[cfg(all(feature = "std", unix))]
pub use serve::{Exit, OsSignals, ServeError, Signal, Signals, serve, serve_main};
pub use set::Procs;
pub use task::{Task, TaskError, TraceRegion, task, trace_region};

pub use crate::error::MultiError;
#[cfg(feature = "alloc")]
pub use crate::error::UnboundedMultiError;

use crate::ctx::Ctx;

/// A process: an async function of a context that runs until it is done or its context is
/// cancelled.
///
/// Implemented for every `AsyncFn(&Ctx<'_>) -> Result<(), E>`, so an async closure is a
/// process as it is, and for the combinators of this module. A process can run several times,
/// also concurrently: it is called through `&self`.
///
/// A long-running process should watch [`Ctx::cancelled`] and return soon after it completes.
///
/// The combinators take their processes by value. To put one process (say a
/// [`concurrent_group`]) in two sets, or to keep it while it runs, pass a closure that runs it
/// by reference: `async |ctx: &Ctx<'_>| group.run(ctx).await`.
///
/// # Examples
///
/// ```
/// use procession::Ctx;
/// use procession::proc::Proc;
///
/// let tick = async |ctx: &Ctx<'_>| -> Result<(), &'static str> {
///     if ctx.is_cancelled() { Err("cancelled") } else { Ok(()) }
/// };
/// let root = Ctx::new();
/// assert_eq!(embassy_futures::block_on(tick.run(&root)), Ok(()));
/// root.cancel();
/// assert_eq!(embassy_futures::block_on(tick.run(&root)), Err("cancelled"));
/// ```
pub trait Proc<E> {
    /// Runs the process until it is done or `ctx` is cancelled and it has shut down.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops the process wherever it is (a hard stop).
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the process's parts are")]
    async fn run(&self, ctx: &Ctx<'_>) -> Result<(), E>;
}

impl<E, F> Proc<E> for F
where
    F: AsyncFn(&Ctx<'_>) -> Result<(), E>,
{
    async fn run(&self, ctx: &Ctx<'_>) -> Result<(), E> {
        self(ctx).await
    }
}
