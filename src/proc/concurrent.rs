//! [`concurrent`] and [`concurrent_group`]: processes that run side by side.

use super::{Proc, Procs};
use crate::ctx::{Cause, Ctx};
use crate::error::Merge;

/// Process for the [`concurrent`] function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a process does nothing until it is run"]
pub struct Concurrent<T> {
    procs: T,
}

/// Runs every process at once on the caller's context, waits until all have returned, and
/// returns every failure.
///
/// A failure cancels nothing: the others keep running until they are done or the caller's
/// context is cancelled. The result is `Ok` if every process succeeded, the failure itself if
/// one failed, and otherwise the failures merged ([`Merge`]) in the order of the processes in
/// the set, whatever order they finished in.
///
/// `procs` is a tuple of processes of any types (up to 12), an array, or, with `alloc`, a
/// `Vec` ([`Procs`]). No process: `Ok` at once.
///
/// # Order of the failures
///
/// Failures are kept in index order, not in the order the processes finished, and nested
/// lists are flattened by [`MultiError`](super::MultiError)'s [`Merge`], so no failure is
/// lost.
///
/// # Examples
///
/// ```
/// use procession::Ctx;
/// use procession::{TreeError, fail};
/// use procession::proc::{Proc, concurrent};
///
/// let failing = |msg| async move |_: &Ctx<'_>| -> Result<(), TreeError> { fail(msg) };
///
/// let root = Ctx::new();
/// let both = concurrent([failing("disk full"), failing("link down")]);
/// let error = embassy_futures::block_on(both.run(&root)).unwrap_err();
/// assert_eq!(error.to_string(), "2 errors:\n- disk full\n- link down");
/// ```
pub const fn concurrent<T>(procs: T) -> Concurrent<T> {
    Concurrent { procs }
}

impl<E: Merge, T: Procs<E>> Proc<E> for Concurrent<T> {
    /// Runs every process at once on `ctx`; see [`concurrent`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops every process wherever it is.
    async fn run(&self, ctx: &Ctx<'_>) -> Result<(), E> {
        self.procs.run_concurrent(ctx, false).await
    }
}

/// Process for the [`concurrent_group`] function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a process does nothing until it is run"]
pub struct ConcurrentGroup<T> {
    procs: T,
}

/// Runs every process at once as a cooperating group: the first failure cancels the others.
///
/// The processes share a child of the caller's context. The first process to fail cancels it
/// with [`Cause::DependencyFailed`]; the group still waits for every process to return, then
/// cancels the group context with [`Cause::Parent`] (if nothing cancelled it before), so every
/// process has seen cancellation by the time the group returns. A process that returns `Ok`
/// early cancels nothing. The caller's context is never cancelled by the group.
///
/// The result is as for [`concurrent`]: `Ok`, the one failure unchanged, or every failure
/// merged in the order of the set. What the cancelled siblings return (for example their own
/// "cancelled" errors) is kept too.
///
/// # Examples
///
/// ```
/// use procession::{Cause, Ctx};
/// use procession::{TreeError, fail};
/// use procession::proc::{Proc, concurrent_group};
///
/// type Error = TreeError;
/// let server = async |ctx: &Ctx<'_>| -> Result<(), Error> {
///     let cause = ctx.cancelled().await;
///     assert_eq!(cause, Cause::DependencyFailed);
///     Ok(())
/// };
/// let config = async |_: &Ctx<'_>| -> Result<(), Error> { fail("bad config") };
///
/// let root = Ctx::new();
/// let group = concurrent_group((server, config));
/// let error = embassy_futures::block_on(group.run(&root)).unwrap_err();
/// assert_eq!(error.to_string(), "bad config");
/// assert!(!root.is_cancelled());
/// ```
///
/// [`Cause::DependencyFailed`]: crate::Cause::DependencyFailed
/// [`Cause::Parent`]: crate::Cause::Parent
pub const fn concurrent_group<T>(procs: T) -> ConcurrentGroup<T> {
    ConcurrentGroup { procs }
}

impl<E: Merge, T: Procs<E>> Proc<E> for ConcurrentGroup<T> {
    /// Runs every process at once on a child of `ctx`; see [`concurrent_group`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops every process wherever it is.
    async fn run(&self, ctx: &Ctx<'_>) -> Result<(), E> {
        let group = ctx.child();
        let result = self.procs.run_concurrent(&group, true).await;
        group.cancel_with(Cause::Parent);
        result
    }
}
