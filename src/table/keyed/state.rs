//! What a handle reads: [`State`], [`Entry`] and [`Counts`].

use core::fmt;

use crate::time::Instant;

/// Where one key of a [`KeyedSupervisor`](super::KeyedSupervisor) is.
///
/// The names are those of the crate's other handles for the same meaning
/// ([`process::State`](crate::process::State), [`supervisor::State`](crate::supervisor::State)),
/// plus the states of a key that no longer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// A slot is reserved for the key: its value is being looked up, or the driver has yet to
    /// build its process.
    Reserved,
    /// The process is built and started, not ready yet.
    Starting,
    /// The process is ready and runs.
    Running,
    /// A stop (or restart) was asked and the process has not returned yet.
    Stopping,
    /// The process ended and its restart policy restarts it after a delay.
    BackingOff,
    /// The process ended and is not restarted by its policy; the next reconcile pass starts it
    /// again if the table still holds the key.
    Exited,
    /// Stopped by a handle, by the policy (a transient key that returned `Ok`) or by the
    /// shutdown; not restarted until [`restart`](super::KeyedSupervisor::restart).
    Stopped,
    /// Given up: its restart intensity was exceeded (quarantined) or its backoff ended; not
    /// restarted until [`restart`](super::KeyedSupervisor::restart), or until the table
    /// changes its value when the supervisor replaces changed keys.
    Failed,
}

impl State {
    /// Whether a process of the key exists now (`Starting`, `Running`, `Stopping`).
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Starting | Self::Running | Self::Stopping)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Reserved => "reserved",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::BackingOff => "backing off",
            Self::Exited => "exited",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        })
    }
}

/// One key as [`get`](super::KeyedSupervisor::get) sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Entry {
    /// Where the key is.
    pub state: State,
    /// How many processes of this key have been started since its slot was reserved: a client
    /// that sees it change knows the process was restarted.
    pub incarnation: u32,
    /// How many of those starts were restarts by the policy (not the first start, a handle's
    /// restart or a reconcile pass).
    pub restarts: u32,
    /// When the key entered its state, on the driver's clock.
    pub since: Instant,
}

/// How many keys are in each state ([`counts`](super::KeyedSupervisor::counts)), counted in one
/// critical section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Counts {
    /// Keys holding a slot, in any state.
    pub keys: usize,
    /// Free slots (for a `DynKeyedSupervisor`, also those it may
    /// still add up to its limit).
    pub free: usize,
    /// [`State::Reserved`].
    pub reserved: usize,
    /// [`State::Starting`].
    pub starting: usize,
    /// [`State::Running`].
    pub running: usize,
    /// [`State::Stopping`].
    pub stopping: usize,
    /// [`State::BackingOff`].
    pub backing_off: usize,
    /// [`State::Exited`].
    pub exited: usize,
    /// [`State::Stopped`].
    pub stopped: usize,
    /// [`State::Failed`].
    pub failed: usize,
}
