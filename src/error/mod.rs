//! Errors of a process tree: the ready-made tree error, how several failures are kept, names,
//! and the crate's own errors.
//!
//! A tree has one error type, chosen by the user. The simplest choice is the ready-made
//! [`TreeError<E, N>`](TreeError): the user's own error `E` (an enum, or plain
//! [`Message`]s, the default) beside the crate's own failures ([`Overrun`], the supervisor's
//! [`Error`](crate::supervisor::Error)), each [`Failure`] with the name of its node, `N` of
//! them kept without heap. It implements every conversion the crate needs, so a user writes
//! no trait impl to use deadlines, supervisors, tasks or groups; [`fail`] makes a failure of
//! the user's own type. With `alloc`, [`UnboundedTreeError`] keeps every failure.
//!
//! A user who prefers an error type of their own gives it the traits the adapters they use
//! ask for (each adapter's constructor names them, so a missing one is reported where the
//! adapter is written):
//!
//! | trait | needed by |
//! |---|---|
//! | [`Merge`] | every combinator, deadline and supervisor (several failures at once) |
//! | `From<`[`Overrun`]`>` | [`with_stop_deadline`](crate::RunnerExt::with_stop_deadline), [`with_start_deadline`](crate::RunnerExt::with_start_deadline), [`proc::stop_deadline`](crate::proc::stop_deadline) |
//! | `From<`[`supervisor::Error`](crate::supervisor::Error)`>` | [`Supervisor`](crate::supervisor::Supervisor) |
//! | `From<`[`TaskError`](crate::proc::TaskError)`<X>>` | [`proc::task`](crate::proc::task) |
//! | [`Prefix`] | [`named`](crate::RunnerExt::named), [`prefix_err`](crate::RunnerExt::prefix_err) |
//!
//! [`MultiError<E, N>`](MultiError) (and [`UnboundedMultiError`] with `alloc`) is the plain
//! list of failures of one type: it has each of these when `E` has it. With `alloc`,
//! `Box<dyn Error + Send + Sync>` has [`Merge`] and [`Prefix`]. A user type that wants to keep
//! only the first failure says so explicitly by implementing [`Merge`] that way.
//!
//! # Examples
//!
//! ```compile_fail,E0277
//! use core::future::ready;
//! use procession::{Ctx, MultiError, RunnerExt, leaf};
//!
//! // A list of plain messages cannot hold an overrun: the error is reported here, at
//! // `with_stop_deadline`, naming `From<Overrun>`.
//! let storage = leaf(async |_: &Ctx<'_>| -> Result<(), MultiError<&'static str, 4>> { Ok(()) })
//!     .with_stop_deadline(|| ready(()), || ready(()));
//! ```
//!
//! The tree error holds it:
//!
//! ```
//! use core::future::ready;
//! use procession::{Ctx, RunnerExt, TreeError, leaf};
//!
//! let storage = leaf(async |_: &Ctx<'_>| -> Result<(), TreeError> { Ok(()) })
//!     .with_stop_deadline(|| ready(()), || ready(()))
//!     .named("storage");
//! ```

mod convert;
mod multi;
mod overrun;
mod tree;

#[cfg(feature = "alloc")]
mod boxed;
#[cfg(feature = "alloc")]
mod unbounded;

pub use multi::MultiError;
pub use overrun::{Overrun, Phase, StopLevel};
#[cfg(feature = "alloc")]
pub use tree::UnboundedTreeError;
pub use tree::{Failure, Kind, Message, TreeError, fail};
#[cfg(feature = "alloc")]
pub use unbounded::UnboundedMultiError;

/// An error type that can hold several failures of one process tree.
///
/// `merge` folds `other`, a failure that happened together with `self`, into `self`. The
/// receiver is the failure that takes precedence (it is reported first); combinators document
/// the order in which they merge.
///
/// # Examples
///
/// Keeping only the first failure is a choice the error type makes, in plain sight:
///
/// ```
/// use procession::Merge;
///
/// #[derive(Debug, PartialEq)]
/// enum AppError { Storage, Network }
///
/// impl Merge for AppError {
///     fn merge(self, _later: Self) -> Self {
///         self // the first failure explains the rest
///     }
/// }
/// assert_eq!(AppError::Storage.merge(AppError::Network), AppError::Storage);
/// ```
pub trait Merge {
    /// Folds `other` into `self`; `self` keeps precedence.
    fn merge(self, other: Self) -> Self;
}

/// Merges two optional failures: `first` keeps precedence.
pub(crate) fn merge_opt<E: Merge>(first: Option<E>, other: Option<E>) -> Option<E> {
    match (first, other) {
        (Some(a), Some(b)) => Some(a.merge(b)),
        (a, b) => a.or(b),
    }
}

/// Turns two results into one, keeping every failure: `first` keeps precedence.
pub(crate) fn merge_results<E: Merge>(first: Result<(), E>, other: Result<(), E>) -> Result<(), E> {
    match merge_opt(first.err(), other.err()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// An error type that can say which process failed.
///
/// Used by [`RunnerExt::prefix_err`](crate::RunnerExt::prefix_err).
pub trait Prefix {
    /// Returns the error marked with `prefix`, for example the name of the process.
    fn prefix(self, prefix: &'static str) -> Self;
}
