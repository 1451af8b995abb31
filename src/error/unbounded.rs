//! [`UnboundedMultiError`]: the heap-backed list of failures (`alloc`).

use alloc::vec::Vec;
use core::fmt;

use super::{Merge, MultiError, Prefix};

/// A list of failures on the heap, in the order they were merged, that keeps every one
/// (`alloc`).
///
/// The unbounded form of [`MultiError`]: the same `Merge` (appending, so nested lists are
/// flattened), the same `Display` ("no errors" when empty, the single message when there is
/// one, "N errors:" followed by one line per failure otherwise) and the same `source` (the
/// first failure). It is a type of its own so that enabling `alloc` does not change what
/// `MultiError<E, N>` means; convert a bounded list with `From`.
///
/// # Examples
///
/// ```
/// use procession::Merge;
/// use procession::error::UnboundedMultiError;
///
/// let a = UnboundedMultiError::from_error("disk full");
/// let b = UnboundedMultiError::from_error("link down").merge(UnboundedMultiError::from_error("timeout"));
/// let all = a.merge(b);
/// assert_eq!(all.errors(), &["disk full", "link down", "timeout"]);
/// assert_eq!(all.to_string(), "3 errors:\n- disk full\n- link down\n- timeout");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UnboundedMultiError<E> {
    errors: Vec<E>,
}

// === impl UnboundedMultiError ===

impl<E> UnboundedMultiError<E> {
    /// An empty list; allocates nothing until a failure is pushed.
    pub const fn new() -> Self {
        Self { errors: Vec::new() }
    }

    /// A list holding one failure.
    pub fn from_error(error: E) -> Self {
        Self { errors: alloc::vec![error] }
    }

    /// Appends a failure.
    pub fn push(&mut self, error: E) {
        self.errors.push(error);
    }

    /// The failures, in order.
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// How many failures the list holds.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether the list holds no failure.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Iterates over the failures.
    pub fn iter(&self) -> core::slice::Iter<'_, E> {
        self.errors.iter()
    }

    /// The failures, as a vector.
    pub fn into_vec(self) -> Vec<E> {
        self.errors
    }
}

impl<E> Default for UnboundedMultiError<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> From<Vec<E>> for UnboundedMultiError<E> {
    fn from(errors: Vec<E>) -> Self {
        Self { errors }
    }
}

/// Keeps every failure of the bounded list; those it had already dropped stay lost.
impl<E, const N: usize> From<MultiError<E, N>> for UnboundedMultiError<E> {
    fn from(bounded: MultiError<E, N>) -> Self {
        Self { errors: bounded.errors.into_iter().collect() }
    }
}

impl<E> FromIterator<E> for UnboundedMultiError<E> {
    fn from_iter<I: IntoIterator<Item = E>>(iter: I) -> Self {
        Self { errors: iter.into_iter().collect() }
    }
}

impl<E> IntoIterator for UnboundedMultiError<E> {
    type Item = E;
    type IntoIter = alloc::vec::IntoIter<E>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'e, E> IntoIterator for &'e UnboundedMultiError<E> {
    type Item = &'e E;
    type IntoIter = core::slice::Iter<'e, E>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<E> Merge for UnboundedMultiError<E> {
    fn merge(mut self, other: Self) -> Self {
        self.errors.extend(other.errors);
        self
    }
}

impl<E: Prefix> Prefix for UnboundedMultiError<E> {
    fn prefix(self, prefix: &'static str) -> Self {
        self.errors.into_iter().map(|e| e.prefix(prefix)).collect()
    }
}

impl<E: fmt::Debug> fmt::Debug for UnboundedMultiError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.errors.iter()).finish()
    }
}

impl<E: fmt::Display> fmt::Display for UnboundedMultiError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.as_slice() {
            [] => f.write_str("no errors"),
            [one] => one.fmt(f),
            errors => {
                write!(f, "{} errors:", errors.len())?;
                for error in errors {
                    write!(f, "\n- {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for UnboundedMultiError<E> {
    /// The first failure.
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.errors.first().map(|e| e as _)
    }
}

#[cfg(feature = "defmt")]
impl<E: defmt::Format> defmt::Format for UnboundedMultiError<E> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[?]}", self.errors.as_slice());
    }
}
