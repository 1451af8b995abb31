//! The embassy-time clock adapter.

use core::time::Duration;

use super::{Clock, Instant};

/// A [`Clock`] on embassy-time (feature `embassy-time`): `now` is embassy's time since boot,
/// sleeps are [`embassy_time::Timer`]s. Instants are converted through microseconds (saturating),
/// so the tick rate of the time driver is respected.
///
/// # Examples
///
/// ```no_run
/// use core::time::Duration;
/// use procession::time::{Clock, EmbassyClock};
///
/// async fn blink() {
///     EmbassyClock.sleep(Duration::from_millis(500)).await;
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbassyClock;

impl Clock for EmbassyClock {
    type Sleep<'a> = embassy_time::Timer;

    fn now(&self) -> Instant {
        Instant::from_elapsed(Duration::from_micros(embassy_time::Instant::now().as_micros()))
    }

    fn sleep_until(&self, deadline: Instant) -> embassy_time::Timer {
        let micros = u64::try_from(deadline.elapsed().as_micros()).unwrap_or(u64::MAX);
        let at = embassy_time::Instant::from_micros(micros.min(embassy_time::Instant::MAX.as_micros()));
        embassy_time::Timer::at(at)
    }
}
