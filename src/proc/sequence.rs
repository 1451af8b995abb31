//! [`sequence`]: processes that run one after the other.

use super::{Proc, Procs};
use crate::ctx::Ctx;

/// Process for the [`sequence`] function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a process does nothing until it is run"]
pub struct Sequence<T> {
    procs: T,
}

/// Runs the processes one after the other on the caller's context, stopping at the first
/// failure.
///
/// The first failure is returned unchanged and the processes after it never start. No process:
/// `Ok` at once. The context is not checked between steps: if it is cancelled but
/// each process returns `Ok`, every process still runs (each sees the cancelled context and
/// decides for itself).
///
/// `procs` is a tuple of processes of any types (up to 12), an array, or, with `alloc`, a
/// `Vec` ([`Procs`]).
///
/// # Examples
///
/// ```
/// use procession::Ctx;
/// use procession::proc::{Proc, sequence};
///
/// let ok = async |_: &Ctx<'_>| -> Result<(), &'static str> { Ok(()) };
/// let fail = async |_: &Ctx<'_>| -> Result<(), &'static str> { Err("step 2") };
///
/// let root = Ctx::new();
/// assert_eq!(embassy_futures::block_on(sequence((ok, fail, ok)).run(&root)), Err("step 2"));
/// ```
pub const fn sequence<T>(procs: T) -> Sequence<T> {
    Sequence { procs }
}

impl<E, T: Procs<E>> Proc<E> for Sequence<T> {
    /// Runs the processes in order on `ctx`; see [`sequence`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the running process; the ones after it never start.
    async fn run(&self, ctx: &Ctx<'_>) -> Result<(), E> {
        self.procs.run_sequence(ctx).await
    }
}
