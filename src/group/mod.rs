//! A group of runners started at runtime and stopped together, gracefully: [`Group`] (up to
//! `N` at once, no heap) and, with `alloc`, `DynGroup` (boxed runners of any types).
//!
//! [`go`](Group::go) hands the group an item and returns at once, without waiting for the
//! start; the driver, polled by the group's owner, runs a [`Runner`](crate::Runner) for it and
//! reports each child's result to an at-exit function. [`interrupt`](Group::interrupt) stops
//! the children of the current **generation** gracefully (their ready callbacks return);
//! [`wait`](Group::wait) waits until every child has returned and opens a new generation. The
//! [`Runner`](crate::Runner) form ([`Group::runner`], and a `DynGroup` itself) runs its
//! callback beside the driver, then interrupts and waits.
//!
//! Unlike the [`shot`](crate::shot) groups, which run jobs on a shared context and end them by
//! cancelling it, a group here runs processes with a lifecycle and ends them gracefully first;
//! [`stop`](Group::stop) escalates to the forced stop (their contexts are cancelled) and the
//! hard stop (their futures are dropped) when its deadlines pass.
//!
//! # Operations
//!
//! | operation | method | returns |
//! |---|---|---|
//! | hand over an item, do not wait for its start | [`go(item)`](Group::go) | `Result<(), `[`GoError`]`<T>>`: full or closed, the item handed back |
//! | the driver its owner polls | [`drive(ctx, make, at_exit)`](Group::drive) | `async`, `Result<(), Error>`; a second driver is [`Error::Busy`] |
//! | stop the current generation gracefully, do not wait | [`interrupt()`](Group::interrupt) | `bool`: whether this call changed anything |
//! | cancel the current generation (forced), do not wait | [`cancel()`](Group::cancel) | `bool` |
//! | wait until every child returned; open a new generation | [`wait()`](Group::wait) | the future [`Wait`] |
//! | wait for an idle group (no new generation) | [`done()`](Group::done), [`poll_done(cx)`](Group::poll_done), [`is_done()`](Group::is_done) | [`Done`], `Poll<()>`, `bool` |
//! | bounded close, escalating | [`stop(graceful, forced)`](Group::stop) | `async`, `Result<(), Error>`; [`Error::Overrun`] names the level reached |
//! | the `Runner` form | [`runner(make, at_exit)`](Group::runner) | a [`GroupRunner`] |
//! | the group's context | [`context()`](Group::context) | `&Ctx` |
//! | closed? | [`is_closed()`](Group::is_closed) | `bool` |
//!
//! # Generations
//!
//! Every child belongs to the generation that was current when it was handed over, and every
//! child that is queued or running belongs to the current one: a new generation opens only
//! when no child is left. [`interrupt`](Group::interrupt) closes the current generation: its
//! running children are stopped gracefully, and so is every child handed over afterwards, at
//! once, until a [`wait`](Group::wait) opens the next generation. This holds also for an
//! interrupt before any child was handed over: the generation stays closed, and the next
//! children stop as soon as they are ready.
//!
//! A `go` while a `wait` is pending joins the generation being waited on, and the wait
//! completes when the last child of that generation has returned (the new child included).
//! A `wait` on a group with no child completes at once and opens a new generation.
//!
//! # Behaviour worth knowing
//!
//! - **The children's contexts.** Each child runs on a child context of the group's context
//!   ([`context`](Group::context), itself a child of the parent given to
//!   [`new`](Group::new)), not on the context of whoever drives the group. Cancelling the
//!   driver's context (the `ctx` of [`drive`](Group::drive) or of the `Runner` form's `run`)
//!   cancels every child with [`Cause::Parent`](crate::Cause::Parent), so a cancelled run
//!   leaves no child behind.
//! - **Bounded.** [`stop`](Group::stop) closes the group, interrupts the generation, cancels
//!   the children with [`Cause::Deadline`](crate::Cause::Deadline) when `graceful()`
//!   completes, and has the driver drop them when `forced()` completes. The result names the
//!   level reached. The `Runner` form is bounded as any runner is, with
//!   [`with_stop_deadline`](crate::RunnerExt::with_stop_deadline).
//! - **Results.** The driver calls `at_exit(&item, result)` once for each child, with what its
//!   runner returned: `Ok`, its error, or an [`Overrun`] of the hard level
//!   for a child dropped by `stop`. A runner that returns without becoming ready is reported
//!   with what it returned. The `Runner` form returns only its callback's result (and the
//!   group's own errors); the children's go to `at_exit`.
//! - **A dropped driver.** Dropping the driver while children run drops them (the hard stop,
//!   not reported to `at_exit`), closes the group, drops what is queued and completes every
//!   wait; a later `stop` reports the hard level. Dropping it while no child runs only gives
//!   its place up: queued items wait for the next driver.
//! - **Nothing spins.** An idle driver, callback or wait sleeps in waker slots until a real
//!   change.
//! - **Too many waiters.** Without `alloc`, a wait that fits neither in the group's slots
//!   ([`WAITER_SLOTS`](crate::ctx::WAITER_SLOTS)) nor in the program-wide spill table
//!   ([`SPILL_SLOTS`](crate::ctx::SPILL_SLOTS)) ends at once instead of sleeping without a
//!   wakeup: [`stop`](Group::stop) returns [`Error::Overflow`], [`wait`](Group::wait) and
//!   [`done`](Group::done) complete early, and a child whose callback or stop watcher cannot
//!   wait is cancelled with [`Cause::Overflow`](crate::Cause::Overflow) (its callback returns;
//!   if its watcher cannot wait for the hard level either, it is dropped and reported with an
//!   [`Overrun`] of the hard level). The `Runner` form's own wait, in the driver's task, needs
//!   no slot and is not affected. No other waiter is ever woken early because of it.
//!
//! # Differences from pact's `Group`
//!
//! - A `go` concurrent with a `wait` is defined (it joins the generation being waited on)
//!   instead of being a misuse.
//! - Cancelling the run's context cancels the children (they still run on the group's
//!   context): a cancelled run cannot leave children behind.
//! - There is a forced and a hard level ([`stop`](Group::stop)), so no wait has to hang on a
//!   child that ignores its graceful stop.
//! - Fixed capacity: more than `N` children queued or running at once is
//!   [`GoError::Full`], with the item handed back.
//! - The at-exit function is the driver's (`Group`) and receives the item; on a `DynGroup`
//!   each `go` gives its own, as upstream.

#[macro_use]
mod methods;

mod core;
#[cfg(feature = "alloc")]
mod dyn_group;
mod fixed;
mod run;

use ::core::fmt;

#[cfg(feature = "alloc")]
pub use dyn_group::{DynDone, DynGroup, DynWait};
pub use fixed::{Done, Group, Wait};
pub use run::GroupRunner;

/// Why [`go`](Group::go) refused an item; holds the item.
pub use crate::shot::GoError;

use crate::error::{MultiError, Overrun};

/// The errors of a group itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// Another driver (or a run of the `Runner` form) drives this group now; this one runs
    /// nothing.
    Busy,
    /// The group was closed by [`stop`](Group::stop) or by a dropped driver; a run of the
    /// `Runner` form does not start (its callback is not called).
    Closed,
    /// A deadline of [`stop`](Group::stop) passed: the children were cancelled
    /// ([`StopLevel::Forced`](crate::StopLevel::Forced)) or dropped
    /// ([`StopLevel::Hard`](crate::StopLevel::Hard)).
    Overrun(Overrun),
    /// A wait of [`stop`](Group::stop) could be kept nowhere (without `alloc` only): more
    /// distinct tasks waited on the group than its slots
    /// ([`WAITER_SLOTS`](crate::ctx::WAITER_SLOTS)) and the program-wide spill table
    /// ([`SPILL_SLOTS`](crate::ctx::SPILL_SLOTS)) hold. The stop stays in force (the group is
    /// closed and its generation interrupted); wait for it with [`done`](Group::done).
    Overflow,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy => f.write_str("group: already driven"),
            Self::Closed => f.write_str("group: closed"),
            Self::Overrun(overrun) => write!(f, "group: {overrun}"),
            Self::Overflow => f.write_str("group: too many waiters"),
        }
    }
}

impl ::core::error::Error for Error {
    fn source(&self) -> Option<&(dyn ::core::error::Error + 'static)> {
        match self {
            Self::Overrun(overrun) => Some(overrun),
            _ => None,
        }
    }
}

impl<E, const N: usize> From<Error> for MultiError<E, N>
where
    E: From<Error>,
{
    fn from(error: Error) -> Self {
        Self::from_error(E::from(error))
    }
}
