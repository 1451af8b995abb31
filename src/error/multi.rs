//! [`MultiError`]: the bounded list of failures.

use core::fmt;

use super::{Merge, Prefix};

/// A bounded list of failures, in the order they were merged, with a count of those that did
/// not fit.
///
/// `N` is the capacity. A failure that arrives when the list is full is counted in
/// [`overflow`](Self::overflow) and dropped; nothing panics. Merging two lists appends the
/// second to the first (nested lists are flattened).
///
/// `Display`: "no errors" when empty, the single message
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
    pub(super) errors: heapless::Vec<E, N>,
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
