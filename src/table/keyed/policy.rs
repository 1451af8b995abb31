//! The restart policy of each key: [`Restart`], [`RestartOf`] and [`Policy`].

use core::time::Duration;

use crate::retry::{Backoff, Constant};
use crate::time::Instant;

/// What happens when a key's process ends by itself (not stopped by a handle or the
/// shutdown), as in OTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Restart {
    /// Restarted after every end, `Ok` or not, after the policy's backoff.
    Permanent,
    /// Restarted after a failure; after `Ok` the key is [`Stopped`](super::State::Stopped).
    Transient,
    /// Never restarted by the policy: the key is [`Exited`](super::State::Exited), and the next
    /// reconcile pass starts it again if the table still holds it (the default: a supervisor
    /// that only reconciles).
    #[default]
    Temporary,
}

/// Chooses the [`Restart`] of a key: implemented by [`Restart`] (the same for every key) and by
/// every `Fn(&K, &V) -> Restart`.
pub trait RestartOf<K, V> {
    /// The restart type of `key`, whose process was built from `value`.
    fn restart_of(&self, key: &K, value: &V) -> Restart;
}

impl<K, V> RestartOf<K, V> for Restart {
    fn restart_of(&self, _: &K, _: &V) -> Restart {
        *self
    }
}

impl<K, V, F: Fn(&K, &V) -> Restart> RestartOf<K, V> for F {
    fn restart_of(&self, key: &K, value: &V) -> Restart {
        self(key, value)
    }
}

/// The restart policy of every key: its [`Restart`] type, a backoff (any
/// [`retry::Backoff`](crate::retry::Backoff)), the uptime after which the backoff starts
/// afresh, and restart intensities.
///
/// - The backoff is **per key**: each key keeps its own sequence of delays, which advances only
///   when an incarnation actually ran and failed (a reconcile pass or a request during the
///   delay neither starts the key early nor counts), and starts afresh after an incarnation that
///   ran at least [`reset_after`](Self::reset_after), and when the key gets a new slot. When
///   the sequence ends the key is [`Failed`](super::State::Failed).
/// - The **per-key intensity** ([`key_intensity`](Self::key_intensity)): at most `R` restarts of
///   one key within a period; one more quarantines that key alone
///   ([`Failed`](super::State::Failed)), its siblings run on.
/// - The **supervisor-wide intensity** ([`intensity`](Self::intensity)): at most `S` restarts of
///   all keys together within a period; one more ends the supervisor's run (every key is
///   stopped and [`drive`](super::KeyedSupervisor::drive) returns
///   [`supervisor::Error::IntensityExceeded`](crate::supervisor::Error::IntensityExceeded)).
///
/// The default ([`Policy::new`]) is [`Restart::Temporary`] with no backoff: nothing is
/// restarted by the policy, and the reconcile passes bring keys back.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use procession::retry::Exp2;
/// use procession::table::{Policy, Restart};
///
/// let policy = Policy::new()
///     .restart(Restart::Permanent)
///     .backoff(Exp2::new(Duration::from_millis(50)).cap(Duration::from_secs(30)))
///     .reset_after(Duration::from_secs(60))
///     .key_intensity::<5>(Duration::from_secs(10));
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Policy<B = Constant<0>, P = Restart, const R: usize = 0, const S: usize = 0> {
    pub(super) restart: P,
    pub(super) backoff: B,
    pub(super) reset_after: Option<Duration>,
    pub(super) key_period: Option<Duration>,
    pub(super) period: Option<Duration>,
}

impl Policy {
    /// [`Restart::Temporary`], no backoff, no intensity.
    pub const fn new() -> Self {
        Self {
            restart: Restart::Temporary,
            backoff: Constant::new([]),
            reset_after: None,
            key_period: None,
            period: None,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::new()
    }
}

impl<B, P, const R: usize, const S: usize> Policy<B, P, R, S> {
    /// Sets the restart type of every key ([`Restart`]), or a function choosing it per key.
    pub fn restart<P2>(self, restart: P2) -> Policy<B, P2, R, S> {
        Policy {
            restart,
            backoff: self.backoff,
            reset_after: self.reset_after,
            key_period: self.key_period,
            period: self.period,
        }
    }

    /// Sets the backoff: the delays before each restart of a key.
    pub fn backoff<B2: Backoff>(self, backoff: B2) -> Policy<B2, P, R, S> {
        Policy {
            restart: self.restart,
            backoff,
            reset_after: self.reset_after,
            key_period: self.key_period,
            period: self.period,
        }
    }

    /// Starts a key's backoff afresh after an incarnation that ran at least `uptime`.
    #[must_use]
    pub fn reset_after(self, uptime: Duration) -> Self {
        Self { reset_after: Some(uptime), ..self }
    }

    /// At most `R2` restarts of one key within any `period` (a restart exactly `period` ago
    /// still counts, as in OTP); the next one quarantines that key. `R2 = 0` quarantines at the
    /// first restart.
    pub fn key_intensity<const R2: usize>(self, period: Duration) -> Policy<B, P, R2, S> {
        Policy {
            restart: self.restart,
            backoff: self.backoff,
            reset_after: self.reset_after,
            key_period: Some(period),
            period: self.period,
        }
    }

    /// At most `S2` restarts of all keys together within any `period`; the next one ends the
    /// supervisor's run.
    pub fn intensity<const S2: usize>(self, period: Duration) -> Policy<B, P, R, S2> {
        Policy {
            restart: self.restart,
            backoff: self.backoff,
            reset_after: self.reset_after,
            key_period: self.key_period,
            period: Some(period),
        }
    }
}

/// The last `R` restart times, to check an intensity (a ring buffer, inline).
#[derive(Debug, Clone, Copy)]
pub(super) struct Ring<const R: usize> {
    times: [Instant; R],
    len: usize,
    head: usize,
}

impl<const R: usize> Ring<R> {
    pub(super) const fn new() -> Self {
        Self { times: [Instant::ZERO; R], len: 0, head: 0 }
    }

    /// Records a restart at `now` if fewer than `R` happened within `period` before it.
    pub(super) fn admit(&mut self, now: Instant, period: Duration) -> bool {
        while self.len > 0 && self.times[self.head].saturating_add(period) < now {
            self.head = (self.head + 1) % R;
            self.len -= 1;
        }
        if self.len == R {
            return false;
        }
        self.times[(self.head + self.len) % R] = now;
        self.len += 1;
        true
    }
}

/// A restart intensity's memory, whatever its capacity (so that code over any [`Policy`] can
/// keep one).
pub(super) trait Admit {
    fn fresh() -> Self;
    fn admit(&mut self, now: Instant, period: Duration) -> bool;
}

impl<const R: usize> Admit for Ring<R> {
    fn fresh() -> Self {
        Self::new()
    }

    fn admit(&mut self, now: Instant, period: Duration) -> bool {
        Self::admit(self, now, period)
    }
}
