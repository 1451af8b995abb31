//! The std clock adapter.

use core::time::Duration;

use super::{Clock, Instant};

/// A [`Clock`] on the operating system's monotonic clock (feature `std`), for any executor:
/// `now` is the time since the clock was made, sleeps are [`futures_timer::Delay`]s.
///
/// `futures-timer` runs one timer thread for the whole program (no thread per sleep) and works
/// with every executor; it is the timer of `async-std`-free, runtime-agnostic code and of
/// `backon`'s `futures-timer-sleep`. On tokio prefer [`TokioClock`](super::TokioClock), which
/// follows tokio's paused time in tests.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use procession::time::{Clock, StdClock};
///
/// let clock = StdClock::new();
/// futures::executor::block_on(clock.sleep(Duration::from_millis(1)));
/// assert!(clock.now().elapsed() >= Duration::from_millis(1));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    epoch: std::time::Instant,
}

impl StdClock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        Self { epoch: std::time::Instant::now() }
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Longer sleeps are cut to this (about thirty years): `futures-timer` adds the duration to
/// the current `std::time::Instant`, which must not overflow.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

impl Clock for StdClock {
    type Sleep<'a> = futures_timer::Delay;

    fn now(&self) -> Instant {
        Instant::from_elapsed(self.epoch.elapsed())
    }

    fn sleep_until(&self, deadline: Instant) -> futures_timer::Delay {
        let left = deadline.saturating_duration_since(self.now());
        futures_timer::Delay::new(left.min(FAR_FUTURE))
    }
}
