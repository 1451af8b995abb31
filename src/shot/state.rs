//! [`State`]: where a [`One`](super::One), a [`Many`](super::Many) or a [`Job`](super::Job)
//! is in its life.

use core::fmt;

/// The state of a [`One`](super::One), a [`Many`](super::Many) or a [`Job`](super::Job).
///
/// The names are those of [`process::State`](crate::process::State) where the meaning is the
/// same: `Initial` (never started), `Running`, `Stopped`. `Closed` is the shot handles' own:
/// ended for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Made, never started.
    Initial,
    /// An instance runs: its [`Run`](super::Run) guard exists (for a [`Job`](super::Job), its
    /// driver runs the job).
    Running,
    /// The last run ended and a [`Many`](super::Many) may start again.
    Stopped,
    /// Closed: it will never start again.
    Closed,
}

impl State {
    /// Whether the current cycle has ended: Stopped or Closed (the state in which `done` is
    /// complete).
    pub const fn is_done(self) -> bool {
        matches!(self, Self::Stopped | Self::Closed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Initial => "initial",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Closed => "closed",
        })
    }
}
