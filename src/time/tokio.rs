//! The tokio clock adapter.

use super::{Clock, Instant};

/// A [`Clock`] on tokio's timer (feature `tokio`): `now` is the time since the clock was made,
/// sleeps are [`tokio::time::Sleep`]. It follows tokio's paused time in tests
/// (`tokio::time::pause`, `#[tokio::test(start_paused = true)]`).
///
/// Must be made and used inside a tokio runtime with the time driver enabled, like every tokio
/// timer.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use procession::time::{Clock, TokioClock};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let clock = TokioClock::new();
/// clock.sleep(Duration::from_millis(10)).await;
/// assert!(clock.now().elapsed() >= Duration::from_millis(10));
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    epoch: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        Self { epoch: tokio::time::Instant::now() }
    }

    /// A clock whose epoch is `epoch`.
    pub fn with_epoch(epoch: tokio::time::Instant) -> Self {
        Self { epoch }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

/// About thirty years: tokio's own stand-in for "never".
const FAR_FUTURE: core::time::Duration = core::time::Duration::from_secs(86_400 * 365 * 30);

impl Clock for TokioClock {
    type Sleep<'a> = tokio::time::Sleep;

    fn now(&self) -> Instant {
        Instant::from_elapsed(self.epoch.elapsed())
    }

    fn sleep_until(&self, deadline: Instant) -> tokio::time::Sleep {
        let at = self.epoch.checked_add(deadline.elapsed()).unwrap_or_else(|| tokio::time::Instant::now() + FAR_FUTURE);
        tokio::time::sleep_until(at)
    }
}
