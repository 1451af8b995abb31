//! Time: the [`Clock`] trait, its [`Instant`], a [`ManualClock`] for tests, and adapters to the
//! timers of embassy-time, tokio and std.
//!
//! Nothing in this crate reads a global clock: the pieces that need time (the [`retry`]
//! executors, deadlines you build yourself) take a [`Clock`]. A clock's sleep is a plain
//! `Future<Output = ()>`, so it is also a deadline for
//! [`RunnerExt::with_stop_deadline`](crate::RunnerExt::with_stop_deadline) and
//! [`with_start_deadline`](crate::RunnerExt::with_start_deadline):
//!
//! ```
//! use core::time::Duration;
//! use procession::{Ctx, MultiError, Overrun, Runner, RunnerExt, nop, time::{Clock, ManualClock}};
//!
//! type Error = MultiError<Overrun, 2>;
//! let clock = ManualClock::new();
//! let bounded = RunnerExt::<Error>::with_stop_deadline(
//!     nop(),
//!     || clock.sleep(Duration::from_secs(5)), // the graceful stop gets 5 s ...
//!     || clock.sleep(Duration::from_secs(1)), // ... then the forced stop 1 s
//! );
//! let root = Ctx::new();
//! let result: Result<(), Error> = embassy_futures::block_on(bounded.run(&root, async |_| Ok(())));
//! assert_eq!(result, Ok(()));
//! ```
//!
//! A clock has no timer or ticker objects: a sleep is a future, dropping it cancels it, making
//! a new one resets it, and a loop of sleeps is a ticker (one that ticks once per advance of a
//! [`ManualClock`], without catching up). A sleep whose deadline has passed completes at its
//! first poll, like every real timer; one until [`Instant::MAX`] never completes.
//! [`Instant`] is the time since the clock's own epoch, the same type for every clock, so that
//! code generic over a clock needs no associated type.
//!
//! # Testing code that sleeps
//!
//! Tests drive a [`ManualClock`]. With one sleeper, wait until it sleeps
//! ([`ManualClock::wait_sleeping`]) and move time ([`ManualClock::next`]); with several, let
//! [`ManualClock::auto_advance`] move time whenever the code under test is idle (the crate
//! docs have a cookbook example).
//!
//! [`retry`]: crate::retry

use core::future::Future;
use core::time::Duration;

mod manual;
pub use manual::{AutoAdvance, ManualClock, Observe, Sleep};

#[cfg(feature = "embassy-time")]
mod embassy;
#[cfg(feature = "embassy-time")]
pub use embassy::EmbassyClock;

#[cfg(feature = "tokio")]
mod tokio;
#[cfg(feature = "tokio")]
pub use self::tokio::TokioClock;

#[cfg(feature = "std")]
mod std;
#[cfg(feature = "std")]
pub use self::std::StdClock;

/// A point in time of one [`Clock`]: the time since that clock's epoch.
///
/// Instants of different clocks do not compare meaningfully. Arithmetic saturates: adding past
/// [`Instant::MAX`] gives `Instant::MAX` (a sleep until then never ends), and subtracting a later
/// instant gives [`Duration::ZERO`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(Duration);

impl Instant {
    /// The clock's epoch.
    pub const ZERO: Self = Self(Duration::ZERO);
    /// The latest instant; a sleep until it never ends.
    pub const MAX: Self = Self(Duration::MAX);

    /// The instant `elapsed` after the clock's epoch.
    pub const fn from_elapsed(elapsed: Duration) -> Self {
        Self(elapsed)
    }

    /// The time from the clock's epoch to this instant.
    pub const fn elapsed(self) -> Duration {
        self.0
    }

    /// `self + duration`, or `None` past [`Instant::MAX`].
    pub const fn checked_add(self, duration: Duration) -> Option<Self> {
        match self.0.checked_add(duration) {
            Some(d) => Some(Self(d)),
            None => None,
        }
    }

    /// `self + duration`, at most [`Instant::MAX`].
    pub const fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration))
    }

    /// The time from `earlier` to `self`, or [`Duration::ZERO`] if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Self;
    /// Saturating: see [`Instant::saturating_add`].
    fn add(self, duration: Duration) -> Self {
        self.saturating_add(duration)
    }
}

impl core::ops::Sub for Instant {
    type Output = Duration;
    /// Saturating: see [`Instant::saturating_duration_since`].
    fn sub(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// A source of time: what time it is, and a future that completes at a given time.
///
/// Implemented by [`ManualClock`] (tests), [`EmbassyClock`] (feature `embassy-time`),
/// [`TokioClock`] (feature `tokio`) and [`StdClock`] (feature `std`), and by references to any
/// clock. Implement it to bring your own timer: `now` must never go backwards (a manual
/// clock may, when a test sets it so) and `sleep_until` must complete once `now() >= deadline`
/// (a sleep until [`Instant::MAX`] need never complete).
///
/// The sleep future is any `Future<Output = ()>`, so it serves as a deadline wherever the crate
/// takes one (see the [module docs](self)).
///
/// # Cancel safety
///
/// Dropping a sleep future cancels it; nothing else happens.
pub trait Clock {
    /// The future returned by [`sleep_until`](Self::sleep_until) and [`sleep`](Self::sleep).
    type Sleep<'a>: Future<Output = ()>
    where
        Self: 'a;

    /// The current time.
    fn now(&self) -> Instant;

    /// A future that completes once the clock reaches `deadline` (at once if it has).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep<'_>;

    /// A future that completes `duration` from now. A duration that would pass
    /// [`Instant::MAX`] never completes.
    fn sleep(&self, duration: Duration) -> Self::Sleep<'_> {
        self.sleep_until(self.now().saturating_add(duration))
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    type Sleep<'a>
        = C::Sleep<'a>
    where
        Self: 'a;

    fn now(&self) -> Instant {
        (**self).now()
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep<'_> {
        (**self).sleep_until(deadline)
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep<'_> {
        (**self).sleep(duration)
    }
}
