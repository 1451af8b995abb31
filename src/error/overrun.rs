//! [`Overrun`]: a deadline passed, with its [`Phase`] and [`StopLevel`].

use core::fmt;

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

/// `Display` is "start deadline passed" or "stop deadline passed", then ", cancelled" (the
/// forced stop) or ", dropped" (the hard stop). An overrun does not name its node: in a
/// [`TreeError`](super::TreeError) the [`Failure`](super::Failure) that holds it does, once the
/// node is [`named`](crate::RunnerExt::named): "storage: stop deadline passed, dropped".
impl fmt::Display for Overrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.phase {
            Phase::Start => "start deadline passed",
            Phase::Stop => "stop deadline passed",
        })?;
        f.write_str(match self.level {
            StopLevel::Hard => ", dropped",
            _ => ", cancelled",
        })
    }
}

impl core::error::Error for Overrun {}
