//! Errors of a process tree: how several failures are kept, prefixes, and the crate's own errors.
//!
//! A tree has one error type `E`, chosen by the user. Where a combinator can meet more than one
//! failure at once (a callback error and a child error, several children failing while they
//! stop), it needs `E: `[`Merge`] so that none is dropped silently. The crate implements
//! [`Merge`] for its bounded list [`MultiError`] and, with `alloc`, for
//! `Box<dyn Error + Send + Sync>` and the unbounded list `UnboundedMultiError`. A user type that wants to keep only the first failure says so
//! explicitly by implementing [`Merge`] that way.

use core::fmt;

#[cfg(feature = "alloc")]
mod unbounded;
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

/// An error type that can say which process failed (Go's `PrefixedError`).
///
/// Used by [`RunnerExt::prefix_err`](crate::RunnerExt::prefix_err).
pub trait Prefix {
    /// Returns the error marked with `prefix`, for example the name of the process.
    fn prefix(self, prefix: &'static str) -> Self;
}

/// A bounded list of failures, in the order they were merged, with a count of those that did
/// not fit.
///
/// `N` is the capacity. A failure that arrives when the list is full is counted in
/// [`overflow`](Self::overflow) and dropped; nothing panics. Merging two lists appends the
/// second to the first (nested lists are flattened).
///
/// `Display` is upstream's (Go `proc.MultiError`): "no errors" when empty, the single message
/// when there is one, and otherwise "N errors:" followed by one line per failure, each after
/// "- ", and a last line counting the failures that did not fit.
///
/// # Examples
///
/// ```
/// use procession::{Merge, MultiError};
///
/// let a: MultiError<&str, 2> = MultiError::from_error("disk full");
/// let b = MultiError::from_error("link down").merge(MultiError::from_error("timeout"));
/// let all = a.merge(b);
/// assert_eq!(all.errors(), &["disk full", "link down"]);
/// assert_eq!(all.overflow(), 1);
/// assert_eq!(all.to_string(), "3 errors:\n- disk full\n- link down\n(1 more not kept)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct MultiError<E, const N: usize> {
    errors: heapless::Vec<E, N>,
    overflow: usize,
}

// === impl MultiError ===

impl<E, const N: usize> MultiError<E, N> {
    /// An empty list.
    ///
    /// `N` must be at least 1; `MultiError<E, 0>` does not compile.
    pub const fn new() -> Self {
        const { assert!(N > 0, "a MultiError must have room for at least one error") };
        Self { errors: heapless::Vec::new(), overflow: 0 }
    }

    /// Appends a failure; counts it in [`overflow`](Self::overflow) if the list is full.
    pub fn push(&mut self, error: E) {
        if self.errors.push(error).is_err() {
            self.overflow = self.overflow.saturating_add(1);
        }
    }

    /// The failures that were kept, in order.
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// How many failures did not fit and were dropped.
    pub fn overflow(&self) -> usize {
        self.overflow
    }

    /// How many failures were merged in all, kept or not.
    pub fn len(&self) -> usize {
        self.errors.len().saturating_add(self.overflow)
    }

    /// Whether no failure was merged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Iterates over the kept failures.
    pub fn iter(&self) -> core::slice::Iter<'_, E> {
        self.errors.iter()
    }
}

impl<E, const N: usize> Default for MultiError<E, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, const N: usize> MultiError<E, N> {
    /// A list holding one failure.
    pub fn from_error(error: E) -> Self {
        let mut list = Self::new();
        list.push(error);
        list
    }
}

impl<E, const N: usize> FromIterator<E> for MultiError<E, N> {
    fn from_iter<I: IntoIterator<Item = E>>(iter: I) -> Self {
        let mut list = Self::new();
        for error in iter {
            list.push(error);
        }
        list
    }
}

impl<E, const N: usize> Merge for MultiError<E, N> {
    fn merge(mut self, other: Self) -> Self {
        self.overflow = self.overflow.saturating_add(other.overflow);
        for error in other.errors {
            self.push(error);
        }
        self
    }
}

impl<E: Prefix, const N: usize> Prefix for MultiError<E, N> {
    fn prefix(mut self, prefix: &'static str) -> Self {
        self.errors = self.errors.into_iter().map(|e| e.prefix(prefix)).collect();
        self
    }
}

impl<'e, E, const N: usize> IntoIterator for &'e MultiError<E, N> {
    type Item = &'e E;
    type IntoIter = core::slice::Iter<'e, E>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<E: fmt::Debug, const N: usize> fmt::Debug for MultiError<E, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        list.entries(self.errors.iter());
        if self.overflow > 0 {
            list.entry(&format_args!("(+{} not kept)", self.overflow));
        }
        list.finish()
    }
}

impl<E: fmt::Display, const N: usize> fmt::Display for MultiError<E, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.errors.as_slice(), self.overflow) {
            ([], 0) => f.write_str("no errors"),
            ([one], 0) => one.fmt(f),
            (errors, overflow) => {
                write!(f, "{} errors:", self.len())?;
                for error in errors {
                    write!(f, "\n- {error}")?;
                }
                if overflow > 0 {
                    write!(f, "\n({overflow} more not kept)")?;
                }
                Ok(())
            }
        }
    }
}

impl<E: core::error::Error + 'static, const N: usize> core::error::Error for MultiError<E, N> {
    /// The first failure.
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.errors.first().map(|e| e as _)
    }
}

#[cfg(feature = "defmt")]
impl<E: defmt::Format, const N: usize> defmt::Format for MultiError<E, N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[?]} (+{=usize} not kept)", self.errors.as_slice(), self.overflow);
    }
}

impl<E, const N: usize> From<Overrun> for MultiError<E, N>
where
    E: From<Overrun>,
{
    fn from(overrun: Overrun) -> Self {
        Self::from_error(E::from(overrun))
    }
}

impl Merge for core::convert::Infallible {
    fn merge(self, _: Self) -> Self {
        self
    }
}

/// The level of stop that ended a process under a deadline.
///
/// See [`RunnerExt::with_stop_deadline`](crate::RunnerExt::with_stop_deadline) and
/// [`RunnerExt::with_start_deadline`](crate::RunnerExt::with_start_deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StopLevel {
    /// The process returned by itself within the deadline.
    Graceful,
    /// The first deadline passed; the process returned after its context was cancelled with
    /// [`Cause::Deadline`](crate::Cause::Deadline), within the second deadline.
    Forced,
    /// Both deadlines passed; the process's future was dropped without returning.
    Hard,
}

impl fmt::Display for StopLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Graceful => "graceful",
            Self::Forced => "forced",
            Self::Hard => "hard",
        })
    }
}

/// The phase of a process that a deadline bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Phase {
    /// From `run` until the process is ready
    /// ([`RunnerExt::with_start_deadline`](crate::RunnerExt::with_start_deadline)).
    Start,
    /// From the return of the callback until the process returns
    /// ([`RunnerExt::with_stop_deadline`](crate::RunnerExt::with_stop_deadline)).
    Stop,
}

/// A process overran a deadline: it was cancelled ([`StopLevel::Forced`]) or dropped
/// ([`StopLevel::Hard`]).
///
/// Returned, converted into the tree's error type with `From`, by a runner wrapped with
/// [`RunnerExt::with_start_deadline`](crate::RunnerExt::with_start_deadline) or
/// [`RunnerExt::with_stop_deadline`](crate::RunnerExt::with_stop_deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Overrun {
    /// Which deadline passed.
    pub phase: Phase,
    /// [`StopLevel::Forced`] or [`StopLevel::Hard`].
    pub level: StopLevel,
}

impl Overrun {
    /// An overrun of `phase` escalated to `level`, for adapters that bound a phase themselves.
    pub const fn new(phase: Phase, level: StopLevel) -> Self {
        Self { phase, level }
    }
}

impl fmt::Display for Overrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.phase, self.level) {
            (Phase::Start, StopLevel::Hard) => "start deadlines passed: process dropped",
            (Phase::Start, _) => "start deadline passed: process cancelled",
            (Phase::Stop, StopLevel::Hard) => "stop deadlines passed: process dropped",
            (Phase::Stop, _) => "graceful stop deadline passed: process cancelled",
        })
    }
}

impl core::error::Error for Overrun {}

#[cfg(feature = "alloc")]
mod boxed {
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::error::Error;
    use core::fmt;

    use super::{Merge, Prefix};

    type BoxError = Box<dyn Error + Send + Sync + 'static>;

    /// Several boxed failures merged into one (`alloc`).
    #[derive(Debug)]
    struct Errors(Vec<BoxError>);

    impl fmt::Display for Errors {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} errors:", self.0.len())?;
            for error in &self.0 {
                write!(f, "\n- {error}")?;
            }
            Ok(())
        }
    }

    impl Error for Errors {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.0.first().map(|e| &**e as _)
        }
    }

    /// A boxed failure with the name of the process that failed.
    #[derive(Debug)]
    struct Prefixed {
        prefix: &'static str,
        error: BoxError,
    }

    impl fmt::Display for Prefixed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}: {}", self.prefix, self.error)
        }
    }

    impl Error for Prefixed {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.error)
        }
    }

    /// Merging boxed errors keeps both in one boxed list (flattened when either already is one).
    impl Merge for BoxError {
        fn merge(self, other: Self) -> Self {
            let mut list = match self.downcast::<Errors>() {
                Ok(list) => list.0,
                Err(single) => alloc::vec![single],
            };
            match other.downcast::<Errors>() {
                Ok(more) => list.extend(more.0),
                Err(single) => list.push(single),
            }
            Box::new(Errors(list))
        }
    }

    /// Prefixing a boxed error wraps it; the original stays reachable through `source()`.
    impl Prefix for BoxError {
        fn prefix(self, prefix: &'static str) -> Self {
            Box::new(Prefixed { prefix, error: self })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::Overrun;
        use alloc::string::ToString;

        #[test]
        fn merge_flattens_and_prefix_wraps() {
            let a: BoxError = Box::new(Overrun { phase: crate::error::Phase::Stop, level: crate::StopLevel::Hard });
            let b: BoxError = "b".into();
            let c: BoxError = "c".into();
            let all = a.merge(b.merge(c)).prefix("tree");
            assert_eq!(all.to_string(), "tree: 3 errors:\n- stop deadlines passed: process dropped\n- b\n- c");
            assert!(all.source().is_some());
        }
    }
}
