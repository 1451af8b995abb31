//! [`Error`]: what a handle call of a [`KeyedSupervisor`](super::KeyedSupervisor) can return,
//! and [`Stopped`]: how a stop ended.

use core::fmt;

use crate::error::{Overrun, Phase, StopLevel};

use super::State;

/// The errors of the handle calls of a [`KeyedSupervisor`](super::KeyedSupervisor).
///
/// `K` is the key type (handed back by [`Full`](Self::Full)), `E` the error type of the
/// supervised processes (the table's errors are converted into it).
///
/// A tree error ([`TreeError`](crate::TreeError), and its unbounded form with `alloc`) converts
/// from `Error<K, Self>`, so `?` works on a handle call inside a callback that returns one: the
/// error of the process, the table or the claim comes out as it is, and the supervisor's own
/// refusal as [`Kind::Keyed`](crate::error::Kind::Keyed), without its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<K, E> {
    /// No driver runs the supervisor ([`drive`](super::KeyedSupervisor::drive) is not being
    /// polled, or its callback has returned and it is shutting down).
    NotRunning,
    /// The key already has a slot, in any state (also a stopped or failed key: revive it with
    /// [`restart`](super::KeyedSupervisor::restart), or [`forget`](super::KeyedSupervisor::forget)
    /// it first).
    Exists,
    /// The supervisor holds no slot for this key.
    NotFound,
    /// The table does not hold this key (its lookup returned `Ok(None)`); the slot reserved
    /// for it was freed.
    NotInTable,
    /// Every slot is taken: the key is handed back.
    Full(K),
    /// The table's lookup of this key failed (the table's error, converted); the slot reserved
    /// for it was freed.
    Table(E),
    /// Another holder has the key's [`Claim`](super::Claim); the slot reserved for it was
    /// freed.
    NotClaimed,
    /// Acquiring the key's [`Claim`](super::Claim) failed; the slot reserved for it was freed.
    Claim(E),
    /// The process failed before it was ready, with its own error.
    Start(E),
    /// The process returned `Ok` without ever becoming ready.
    ExitedBeforeReady,
    /// A stop, a restart, a forget or the supervisor's shutdown came before the process was
    /// ready.
    StoppedBeforeReady,
    /// The call needs a key that does not run now (a [`forget`](super::KeyedSupervisor::forget)
    /// of a key that is still starting, running or stopping); its state is given.
    Busy(State),
    /// The driver future was dropped while the call waited: nothing runs any more.
    DriverGone,
    /// The call could not wait: its waiter fitted neither in the supervisor's waiter slots nor in
    /// the program-wide spill table (only without `alloc`; see
    /// [`SPILL_SLOTS`](crate::ctx::SPILL_SLOTS)). What the call asked for stays in force.
    Overflow,
}

impl<K, E> Error<K, E> {
    /// The error of the process, the table or the claim (`Ok`), or the supervisor's own refusal
    /// without its key (`Err`): what a tree error keeps of it.
    pub(crate) fn split(self) -> Result<E, Error<(), core::convert::Infallible>> {
        Err(match self {
            Self::Table(e) | Self::Claim(e) | Self::Start(e) => return Ok(e),
            Self::NotRunning => Error::NotRunning,
            Self::Exists => Error::Exists,
            Self::NotFound => Error::NotFound,
            Self::NotInTable => Error::NotInTable,
            Self::Full(_) => Error::Full(()),
            Self::NotClaimed => Error::NotClaimed,
            Self::ExitedBeforeReady => Error::ExitedBeforeReady,
            Self::StoppedBeforeReady => Error::StoppedBeforeReady,
            Self::Busy(state) => Error::Busy(state),
            Self::DriverGone => Error::DriverGone,
            Self::Overflow => Error::Overflow,
        })
    }
}

impl<K, E: fmt::Display> fmt::Display for Error<K, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRunning => f.write_str("keyed supervisor: not running"),
            Self::Exists => f.write_str("keyed supervisor: key exists"),
            Self::NotFound => f.write_str("keyed supervisor: key not found"),
            Self::NotInTable => f.write_str("keyed supervisor: key not in the table"),
            Self::Full(_) => f.write_str("keyed supervisor: no free slot"),
            Self::Table(e) => write!(f, "keyed supervisor: table: {e}"),
            Self::NotClaimed => f.write_str("keyed supervisor: key claimed elsewhere"),
            Self::Claim(e) => write!(f, "keyed supervisor: claim: {e}"),
            Self::Start(e) => write!(f, "keyed supervisor: start: {e}"),
            Self::ExitedBeforeReady => f.write_str("keyed supervisor: process exited before it was ready"),
            Self::StoppedBeforeReady => f.write_str("keyed supervisor: process stopped before it was ready"),
            Self::Busy(state) => write!(f, "keyed supervisor: key is {state}"),
            Self::DriverGone => f.write_str("keyed supervisor: driver dropped"),
            Self::Overflow => f.write_str("keyed supervisor: too many waiters"),
        }
    }
}

impl<K: fmt::Debug, E: core::error::Error + 'static> core::error::Error for Error<K, E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Table(e) | Self::Claim(e) | Self::Start(e) => Some(e),
            _ => None,
        }
    }
}

/// How the stop of one incarnation ended: the level it took and what the process returned.
///
/// Returned by [`stop`](super::KeyedSupervisor::stop) and
/// [`restart`](super::KeyedSupervisor::restart). A level above
/// [`Graceful`](StopLevel::Graceful) means a deadline passed:
/// [`overrun`](Self::overrun) names it as the crate's [`Overrun`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stopped<E> {
    /// How far the stop had to go: the process returned within the graceful deadline, after
    /// its context was cancelled, or its future was dropped.
    pub level: StopLevel,
    /// What the process returned (`Ok` after a hard stop: it returned nothing).
    pub result: Result<(), E>,
}

impl<E> Stopped<E> {
    /// The overrun of the stop deadline, if the stop went past graceful.
    pub fn overrun(&self) -> Option<Overrun> {
        (self.level > StopLevel::Graceful).then(|| Overrun::new(Phase::Stop, self.level))
    }

    /// The process's error first, then the overrun, as one result of the tree's error type.
    pub fn into_result(self) -> Result<(), E>
    where
        E: crate::Merge + From<Overrun>,
    {
        let overrun = self.overrun().map(E::from);
        crate::error::merge_results(self.result, overrun.map_or(Ok(()), Err))
    }
}
