//! [`Error`]: the failures of a supervisor itself.

use core::fmt;

use crate::error::MultiError;

/// The errors of a [`Supervisor`](super::Supervisor) itself, converted into the tree's error
/// type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// [`Supervisor::run`](crate::Runner::run) was called while a run of the same supervisor
    /// was active (from its own callback, a hook, or another task).
    RecursiveOrConcurrentRun,
    /// The process failed more often than the executor's restart intensity allows
    /// ([`retry::Error::Exhausted`](crate::retry::Error::Exhausted)); merged after the last
    /// failure.
    IntensityExceeded,
    /// The run's callback had not returned when its
    /// [callback deadline](super::Supervisor::callback_deadline) passed, after its context was
    /// cancelled: it was dropped (a hard stop of the callback) and the process stopped.
    CallbackOverrun,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RecursiveOrConcurrentRun => "supervisor: recursive or concurrent run",
            Self::IntensityExceeded => "supervisor: restart intensity exceeded",
            Self::CallbackOverrun => "supervisor: callback deadline passed after cancellation, callback dropped",
        })
    }
}

impl core::error::Error for Error {}

impl<E, const N: usize> From<Error> for MultiError<E, N>
where
    E: From<Error>,
{
    fn from(error: Error) -> Self {
        Self::from_error(E::from(error))
    }
}
