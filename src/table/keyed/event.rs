//! What the supervisor reports: [`Event`] and the [`Observe`] trait.

use core::time::Duration;

use crate::error::StopLevel;

/// Something that happened to a key or to a reconcile pass of a
/// [`KeyedSupervisor`](super::KeyedSupervisor), handed to the [`Observe`]r of its driver
/// ([`Setup::observe`](super::Setup::observe)) as it happens, in the driver's task.
///
/// Every error the driver meets is one of these events (none is dropped silently): a table
/// that fails during a pass or a lookup, a process that fails to start or ends with an error,
/// a key that does not fit. With the features `log`, `defmt` or `tracing` each event is also
/// logged (its [`kind`](Self::kind), at debug level; errors at warn level).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'e, K, E> {
    /// A slot was reserved for a key found by a reconcile pass or a request.
    Reserved {
        /// The key.
        key: &'e K,
    },
    /// An incarnation was built and started.
    Started {
        /// The key.
        key: &'e K,
        /// Its incarnation number ([`Entry::incarnation`](super::Entry::incarnation)).
        incarnation: u32,
    },
    /// An incarnation is ready.
    Ready {
        /// The key.
        key: &'e K,
        /// Its incarnation number.
        incarnation: u32,
    },
    /// An incarnation ended: by itself, or stopped at `level`.
    Exited {
        /// The key.
        key: &'e K,
        /// Its incarnation number.
        incarnation: u32,
        /// Whether it had been ready.
        was_ready: bool,
        /// The level of the stop that ended it ([`StopLevel::Graceful`] also when it ended by
        /// itself).
        level: StopLevel,
        /// What it returned.
        result: &'e Result<(), E>,
    },
    /// A key's restart policy restarts it after `delay`.
    BackingOff {
        /// The key.
        key: &'e K,
        /// The delay before the restart.
        delay: Duration,
    },
    /// A key exceeded its restart intensity, or its backoff ended: it is
    /// [`Failed`](super::State::Failed) and is not restarted.
    Quarantined {
        /// The key.
        key: &'e K,
    },
    /// A key's slot was freed (the table does not hold it, its lookup failed, it was
    /// forgotten or pruned).
    Freed {
        /// The key.
        key: &'e K,
    },
    /// The table does not hold a key that was to be started.
    NotInTable {
        /// The key.
        key: &'e K,
    },
    /// The table failed: in a lookup of `key`, or during a pass (`key` is `None`; the pass
    /// ended there, and nothing was pruned after it).
    TableError {
        /// The key being looked up, if any.
        key: Option<&'e K>,
        /// The table's error, converted.
        error: &'e E,
    },
    /// Another holder has the claim of a key that was to be started; its slot was freed.
    NotClaimed {
        /// The key.
        key: &'e K,
    },
    /// Acquiring the claim of a key failed; its slot was freed.
    ClaimError {
        /// The key.
        key: &'e K,
        /// The claim's error.
        error: &'e E,
    },
    /// The claim of a running key was lost: that key alone is being stopped.
    ClaimLost {
        /// The key.
        key: &'e K,
    },
    /// A key found by a pass or a request found no free slot.
    Full {
        /// The key.
        key: &'e K,
    },
    /// A reconcile pass ended.
    PassDone {
        /// Entries the cursor yielded (duplicates included).
        seen: usize,
        /// Keys the pass reserved or revived.
        started: usize,
        /// Keys stopped because the table no longer holds them (only after a clean pass).
        pruned: usize,
        /// Whether the pass ended with the cursor's end, not with an error.
        clean: bool,
    },
    /// A key of the first pass was not ready when the initial wait ended (it goes on starting,
    /// or it failed); reported before [`Restored`](Self::Restored).
    Late {
        /// The key.
        key: &'e K,
    },
    /// The initial wait ended: of the `total` keys the first pass started, `ready` were
    /// ready in time (the others go on starting). `complete` is whether the first pass itself
    /// had ended by then.
    Restored {
        /// Keys that were ready in time.
        ready: usize,
        /// Keys the first pass started.
        total: usize,
        /// Whether the first pass had ended.
        complete: bool,
    },
    /// The supervisor-wide restart intensity was exceeded: the run ends.
    IntensityExceeded,
    /// The [`removed`](super::Hooks::removed) hook of a leaving key returned (or was dropped
    /// at its forced deadline: an [`Overrun`](crate::error::Overrun) of the hard level); the
    /// key's [`Freed`](Self::Freed) follows.
    Removed {
        /// The key.
        key: &'e K,
        /// What the hook returned.
        result: &'e Result<(), E>,
    },
}

impl<K, E> Event<'_, K, E> {
    /// A short name of the event, as logged: "reserved", "started", "ready", "exited",
    /// "backing off", "quarantined", "freed", "not in table", "table error", "not claimed",
    /// "claim error", "claim lost", "full", "pass done", "late", "restored", "intensity exceeded", "removed".
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Reserved { .. } => "reserved",
            Self::Started { .. } => "started",
            Self::Ready { .. } => "ready",
            Self::Exited { .. } => "exited",
            Self::BackingOff { .. } => "backing off",
            Self::Quarantined { .. } => "quarantined",
            Self::Freed { .. } => "freed",
            Self::NotInTable { .. } => "not in table",
            Self::TableError { .. } => "table error",
            Self::NotClaimed { .. } => "not claimed",
            Self::ClaimError { .. } => "claim error",
            Self::ClaimLost { .. } => "claim lost",
            Self::Full { .. } => "full",
            Self::PassDone { .. } => "pass done",
            Self::Late { .. } => "late",
            Self::Restored { .. } => "restored",
            Self::IntensityExceeded => "intensity exceeded",
            Self::Removed { .. } => "removed",
        }
    }

    /// Whether the event reports an error.
    pub fn is_error(&self) -> bool {
        match self {
            Self::Exited { result, level, .. } => result.is_err() || *level > StopLevel::Graceful,
            Self::Removed { result, .. } => result.is_err(),
            Self::TableError { .. }
            | Self::ClaimError { .. }
            | Self::ClaimLost { .. }
            | Self::Full { .. }
            | Self::Quarantined { .. }
            | Self::IntensityExceeded => true,
            _ => false,
        }
    }
}

/// Receives the [`Event`]s of a keyed supervisor's driver.
///
/// Implemented by `()` (ignores them; they are still logged with the logging features) and by
/// every `Fn(&Event<'_, K, E>)`. It is called in the driver's task, outside every lock: it may
/// call the supervisor's handle methods (not await them).
pub trait Observe<K, E> {
    /// Called once per event.
    fn event(&self, event: &Event<'_, K, E>);
}

impl<K, E> Observe<K, E> for () {
    fn event(&self, _: &Event<'_, K, E>) {}
}

impl<K, E, F: Fn(&Event<'_, K, E>)> Observe<K, E> for F {
    fn event(&self, event: &Event<'_, K, E>) {
        self(event);
    }
}

/// Hands `event` to `observer`, and to the logging features.
pub(super) fn report<K, E, O: Observe<K, E>>(observer: &O, event: &Event<'_, K, E>) {
    let kind = event.kind();
    let error = event.is_error();
    #[cfg(feature = "log")]
    if error {
        log::warn!("keyed supervisor: {kind}");
    } else {
        log::debug!("keyed supervisor: {kind}");
    }
    #[cfg(feature = "defmt")]
    if error {
        defmt::warn!("keyed supervisor: {=str}", kind);
    } else {
        defmt::debug!("keyed supervisor: {=str}", kind);
    }
    #[cfg(feature = "tracing")]
    if error {
        tracing::warn!(kind, "keyed supervisor");
    } else {
        tracing::debug!(kind, "keyed supervisor");
    }
    let _ = (kind, error);
    observer.event(event);
}
