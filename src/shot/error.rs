//! The errors of `shot`: [`Error`] for the handles, [`GoError`] for a group's `go`.

use core::fmt;

/// Why a `shot` operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// `start` while an instance runs, or a second driver of a [`Job`](super::Job) or a group.
    /// Wait for `done` and try again (a [`Many`](super::Many)), or leave it: the instance is
    /// running.
    Running,
    /// The instance is closed and never starts again; also [`Many::end_run`](super::Many::end_run)
    /// on a closed `Many`.
    Closed,
    /// The deadline passed before the instance ended. The request stays in force: the
    /// instance was cancelled and still ends when it returns; wait again with `done`.
    Deadline,
    /// The wait could not be kept (without `alloc` only): more distinct tasks waited on the
    /// handle than its slots ([`WAITER_SLOTS`](crate::ctx::WAITER_SLOTS)) and the program-wide
    /// spill table ([`SPILL_SLOTS`](crate::ctx::SPILL_SLOTS)) hold. The request stays in force;
    /// nothing waits for a wakeup that cannot come.
    Overflow,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "already running",
            Self::Closed => "closed",
            Self::Deadline => "deadline passed",
            Self::Overflow => "too many waiters",
        })
    }
}

impl core::error::Error for Error {}

/// Why a group's `go` refused what it was handed; holds it, so that nothing is lost.
///
/// The error of both kinds of group: the job groups of this module ([`Group::go`](super::Group::go),
/// `DynGroup::go`) and the process groups of [`group`](crate::group)
/// ([`group::Group::go`](crate::group::Group::go), `group::DynGroup::go`, where it is
/// re-exported as [`group::GoError`](crate::group::GoError)).
///
/// Its `Debug` does not show the item, so that items need not be `Debug` (futures are not).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum GoError<T> {
    /// The group's `N` slots are taken: `N` jobs or children are queued or running already.
    /// Wait for one to end (the group's `done`), or use a larger `N`. The groups without a
    /// capacity (the `DynGroup`s) never return it.
    Full(T),
    /// The group is closed and runs nothing more: a job group after its `close` or the end
    /// of its driver; a process group after its `stop`, or once a driver was dropped while
    /// children ran.
    Closed(T),
}

impl<T> GoError<T> {
    /// The refused item.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) => item,
        }
    }
}

impl<T> fmt::Display for GoError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "group full",
            Self::Closed(_) => "closed",
        })
    }
}

impl<T> fmt::Debug for GoError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "Full(..)",
            Self::Closed(_) => "Closed(..)",
        })
    }
}

#[cfg(feature = "defmt")]
impl<T> defmt::Format for GoError<T> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Self::Full(_) => defmt::write!(f, "Full(..)"),
            Self::Closed(_) => defmt::write!(f, "Closed(..)"),
        }
    }
}

impl<T> core::error::Error for GoError<T> {}
