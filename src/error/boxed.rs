//! [`Merge`] and [`Prefix`] for boxed errors (`alloc`).

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
        let a: BoxError = Box::new(Overrun::new(crate::error::Phase::Stop, crate::StopLevel::Hard));
        let b: BoxError = "b".into();
        let c: BoxError = "c".into();
        let all = a.merge(b.merge(c)).prefix("tree");
        assert_eq!(all.to_string(), "tree: 3 errors:\n- stop deadline passed, dropped\n- b\n- c");
        assert!(all.source().is_some());
    }
}
