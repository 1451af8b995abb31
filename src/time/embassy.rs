//! The embassy-time clock adapter.

use core::time::Duration;

use super::{Clock, Instant};

/// A [`Clock`] on embassy-time (feature `embassy-time`): `now` is embassy's time since boot,
/// sleeps are [`embassy_time::Timer`]s.
///
/// Instants are converted from and to the time driver's ticks in integer math at whatever tick
/// rate the driver has (`tick-hz-*`): nothing overflows, a deadline beyond the driver's range
/// becomes its last tick, and a sleep is rounded up to the next tick so that it never ends
/// before its deadline.
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
        Instant::from_elapsed(elapsed(embassy_time::Instant::now().as_ticks(), embassy_time::TICK_HZ))
    }

    fn sleep_until(&self, deadline: Instant) -> embassy_time::Timer {
        let ticks = ticks_at_or_after(deadline.elapsed(), embassy_time::TICK_HZ);
        embassy_time::Timer::at(embassy_time::Instant::from_ticks(ticks))
    }
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// The time since boot at `ticks` of a driver ticking at `hz` (floored to whole nanoseconds).
/// Cannot overflow: the remainder times 10⁹ fits a u64 for every rate up to 18 GHz (above, the
/// fraction saturates and is merely imprecise), and `u64::MAX` seconds fit a `Duration`.
fn elapsed(ticks: u64, hz: u64) -> Duration {
    let nanos = (ticks % hz).saturating_mul(NANOS_PER_SEC) / hz;
    Duration::new(ticks / hz, u32::try_from(nanos).unwrap_or(999_999_999))
}

/// The first tick of a driver ticking at `hz` that is not before `elapsed`, saturating at the
/// last tick when `elapsed` is beyond the driver's range. The whole seconds give a whole
/// number of ticks, so rounding the fraction up rounds the sum up. (u64 math only: a u128
/// division would add about 1.5 KB of flash on a Cortex-M3.)
fn ticks_at_or_after(elapsed: Duration, hz: u64) -> u64 {
    let whole = elapsed.as_secs().saturating_mul(hz);
    let fraction = u64::from(elapsed.subsec_nanos()).saturating_mul(hz).div_ceil(NANOS_PER_SEC);
    whole.saturating_add(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATES: [u64; 5] = [1, 1_000, 32_768, 1_000_000, 1_000_000_000];

    /// No tick rate overflows at the extremes (the embassy-time conversions do with overflow
    /// checks on for rates that are not multiples of 1 MHz).
    #[test]
    fn extremes_do_not_overflow() {
        for hz in RATES {
            assert_eq!(ticks_at_or_after(Duration::MAX, hz), u64::MAX, "{hz} Hz");
            assert_eq!(ticks_at_or_after(Duration::ZERO, hz), 0);
            let last = elapsed(u64::MAX, hz);
            assert!(last > Duration::from_secs(u64::MAX / hz - 1), "{hz} Hz: {last:?}");
            assert_eq!(elapsed(0, hz), Duration::ZERO);
        }
    }

    /// A sleep never ends before its deadline: the tick found is at or after it, and the one
    /// before it is before the deadline.
    #[test]
    fn sleeps_round_up_to_the_next_tick() {
        let deadlines = [
            Duration::from_nanos(1),
            Duration::from_micros(999),
            Duration::from_millis(10),
            Duration::from_millis(1) * 1001 / 3,
            Duration::from_secs(86_400 * 365),
        ];
        for hz in RATES {
            for deadline in deadlines {
                let tick = ticks_at_or_after(deadline, hz);
                assert!(elapsed(tick, hz) >= deadline, "{hz} Hz, {deadline:?}");
                assert!(tick == 0 || elapsed(tick - 1, hz) < deadline, "{hz} Hz, {deadline:?}");
            }
        }
    }

    /// Ticks convert exactly where the rate divides a second evenly.
    #[test]
    fn exact_rates() {
        assert_eq!(elapsed(1_500, 1_000), Duration::from_millis(1_500));
        assert_eq!(elapsed(32_768 + 16_384, 32_768), Duration::from_millis(1_500));
        assert_eq!(ticks_at_or_after(Duration::from_millis(1_500), 32_768), 49_152);
        assert_eq!(ticks_at_or_after(Duration::from_millis(10), 1_000), 10);
    }
}
