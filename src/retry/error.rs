//! [`Error`]: how a failure is classified, and the functions that mark one.

use core::fmt;

/// A failure of an operation run by an [`Executor`](super::Executor), and of the executor
/// itself.
///
/// An operation returns it to say whether it may be retried; an executor returns the last one
/// when it gives up, still classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The attempt failed and may be retried. Returned by an executor when it gives up: its
    /// backoff ended, or its context was cancelled.
    Transient(E),
    /// The attempt failed and must not be retried.
    Permanent(E),
    /// Like [`Permanent`](Self::Permanent), but raised by the machinery around the operation
    /// rather than the operation's own work; the supervisor uses it to tell a stop request from
    /// a failure.
    Internal(E),
    /// The operation needed more restarts within the intensity period than allowed
    /// ([`Retry::intensity`](super::Retry::intensity)); carries its last failure. Never retried.
    Exhausted(E),
}

impl<E> Error<E> {
    /// The failure, whatever its class.
    pub fn into_inner(self) -> E {
        match self {
            Self::Transient(e) | Self::Permanent(e) | Self::Internal(e) | Self::Exhausted(e) => e,
        }
    }

    /// The failure, whatever its class.
    pub fn inner(&self) -> &E {
        match self {
            Self::Transient(e) | Self::Permanent(e) | Self::Internal(e) | Self::Exhausted(e) => e,
        }
    }

    /// Whether an executor may run the operation again after this failure.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// Converts the failure, keeping its class.
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> Error<F> {
        match self {
            Self::Transient(e) => Error::Transient(f(e)),
            Self::Permanent(e) => Error::Permanent(f(e)),
            Self::Internal(e) => Error::Internal(f(e)),
            Self::Exhausted(e) => Error::Exhausted(f(e)),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transient(e) | Self::Internal(e) => e.fmt(f),
            Self::Permanent(e) => write!(f, "permanent: {e}"),
            Self::Exhausted(e) => write!(f, "restart intensity exceeded: {e}"),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(self.inner())
    }
}

/// Marks `error` as transient: the operation may be retried.
pub const fn transient<E>(error: E) -> Error<E> {
    Error::Transient(error)
}

/// Marks `error` as permanent: the operation is not retried.
pub const fn permanent<E>(error: E) -> Error<E> {
    Error::Permanent(error)
}

/// Marks `error` as internal: permanent, and raised by the machinery around the operation
/// rather than by its own work.
pub const fn internal<E>(error: E) -> Error<E> {
    Error::Internal(error)
}
