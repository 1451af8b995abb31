//! Backoffs: the [`Backoff`] trait, its adapters ([`BackoffExt`]) and the schedules
//! [`Constant`], [`Limit`], [`Exp2`] and [`BackoffFn`].
//!
//! A backoff is pure: it only says how long to wait after each failure; the
//! [`Retry`](super::Retry) executor sleeps on its clock.

use core::fmt;
use core::time::Duration;

use super::{Jittered, Rng};

/// A retry schedule: each [`delays`](Self::delays) call starts a fresh sequence of delays, the
/// `n`-th being the wait after the `n`-th failure (from 0); the end of the sequence means "give
/// up".
///
/// Implemented by [`Constant`], [`Limit`], [`Exp2`], [`Jittered`], [`BackoffFn`], and every
/// `Iterator<Item = Duration> + Clone` (the iterator is cloned for each sequence), such as
/// `[a, b, c].into_iter()` or `core::iter::repeat(d).take(5)`.
pub trait Backoff {
    /// The sequence of delays.
    type Delays: Iterator<Item = Duration>;

    /// Starts a fresh sequence.
    fn delays(&self) -> Self::Delays;
}

impl<I: Iterator<Item = Duration> + Clone> Backoff for I {
    type Delays = Self;

    fn delays(&self) -> Self {
        self.clone()
    }
}

/// Adapters for every [`Backoff`].
pub trait BackoffExt: Backoff + Sized {
    /// At most `retries` delays (so `retries + 1` attempts): [`Limit`].
    fn limit(self, retries: u32) -> Limit<Self> {
        Limit::new(retries, self)
    }

    /// Every delay shifted at random by up to `percent` % of itself: [`Jittered`].
    fn jitter<R: Rng + Clone>(self, percent: u32, rng: R) -> Jittered<Self, R> {
        Jittered::new(self, percent, rng)
    }
}

impl<B: Backoff> BackoffExt for B {}

/// The delays `steps[0], steps[1], …`, then the last one for ever.
/// With no steps it gives up at once.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use procession::retry::{Backoff, Constant};
///
/// let ms = Duration::from_millis;
/// let b = Constant::new([ms(1), ms(5)]);
/// assert_eq!(b.delays().take(4).collect::<Vec<_>>(), [ms(1), ms(5), ms(5), ms(5)]);
/// assert_eq!(Constant::new([]).delays().next(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constant<const N: usize> {
    steps: [Duration; N],
}

impl<const N: usize> Constant<N> {
    /// The delays `steps`, the last repeated for ever.
    pub const fn new(steps: [Duration; N]) -> Self {
        Self { steps }
    }
}

impl Constant<1> {
    /// The same delay for ever.
    pub const fn every(delay: Duration) -> Self {
        Self { steps: [delay] }
    }
}

impl<const N: usize> Backoff for Constant<N> {
    type Delays = ConstantDelays<N>;

    fn delays(&self) -> ConstantDelays<N> {
        ConstantDelays { steps: self.steps, n: 0 }
    }
}

/// The delays of [`Constant`].
#[derive(Debug, Clone)]
pub struct ConstantDelays<const N: usize> {
    steps: [Duration; N],
    n: usize,
}

impl<const N: usize> Iterator for ConstantDelays<N> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let d = *self.steps.get(self.n.min(N.checked_sub(1)?))?;
        self.n = self.n.saturating_add(1);
        Some(d)
    }
}

/// At most `retries` delays of another backoff: `retries + 1`
/// attempts in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit<B> {
    retries: u32,
    backoff: B,
}

impl<B> Limit<B> {
    /// At most `retries` delays of `backoff`.
    pub const fn new(retries: u32, backoff: B) -> Self {
        Self { retries, backoff }
    }
}

impl<B: Backoff> Backoff for Limit<B> {
    type Delays = core::iter::Take<B::Delays>;

    fn delays(&self) -> Self::Delays {
        self.backoff.delays().take(usize::try_from(self.retries).unwrap_or(usize::MAX))
    }
}

/// Doubling delays `2·unit, 4·unit, 8·unit, …`, saturating at a cap
/// ([`Duration::MAX`] unless set with [`cap`](Self::cap)) and never ending: bound it with
/// [`Limit`] or a restart intensity.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use procession::retry::{Backoff, Exp2};
///
/// let ms = Duration::from_millis;
/// let b = Exp2::new(ms(10)).cap(ms(50));
/// assert_eq!(b.delays().take(4).collect::<Vec<_>>(), [ms(20), ms(40), ms(50), ms(50)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exp2 {
    unit: Duration,
    cap: Duration,
}

impl Exp2 {
    /// Delays `unit · 2^(n+1)`, uncapped (saturating at [`Duration::MAX`]).
    pub const fn new(unit: Duration) -> Self {
        Self { unit, cap: Duration::MAX }
    }

    /// No delay longer than `cap`.
    #[must_use]
    pub const fn cap(self, cap: Duration) -> Self {
        Self { cap, ..self }
    }

    /// The `n`-th delay (from 0): `unit · 2^(n+1)`, at most the cap, saturating at
    /// [`Duration::MAX`] only when the product does not fit a `Duration`. A zero unit gives
    /// zero delays.
    pub fn delay(&self, n: u32) -> Duration {
        if self.unit.is_zero() {
            return Duration::ZERO;
        }
        // Doubles in steps of at most 2^31 (`Duration` multiplies by a u32). A unit of at
        // least 1 ns passes `Duration::MAX` (< 2^94 ns) within four steps, so this is short.
        let mut shift = n.saturating_add(1);
        let mut delay = self.unit;
        while shift > 0 && delay < self.cap {
            let step = shift.min(31);
            delay = delay.checked_mul(1 << step).unwrap_or(Duration::MAX);
            shift -= step;
        }
        delay.min(self.cap)
    }
}

impl Backoff for Exp2 {
    type Delays = Exp2Delays;

    fn delays(&self) -> Exp2Delays {
        Exp2Delays { exp: *self, n: 0 }
    }
}

/// The delays of [`Exp2`].
#[derive(Debug, Clone)]
pub struct Exp2Delays {
    exp: Exp2,
    n: u32,
}

impl Iterator for Exp2Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let d = self.exp.delay(self.n);
        self.n = self.n.saturating_add(1);
        Some(d)
    }
}

/// A backoff made by a closure that starts a fresh sequence each time: the way to plug in a
/// schedule whose iterator is not `Clone`, such as `backon`'s builders
/// (`backoff_fn(|| ExponentialBuilder::default().build())`).
#[derive(Clone, Copy)]
pub struct BackoffFn<F> {
    f: F,
}

impl<F> fmt::Debug for BackoffFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackoffFn").finish_non_exhaustive()
    }
}

/// A backoff whose sequences are made by `f`; see [`BackoffFn`].
pub const fn backoff_fn<F, I>(f: F) -> BackoffFn<F>
where
    F: Fn() -> I,
    I: Iterator<Item = Duration>,
{
    BackoffFn { f }
}

impl<F, I> Backoff for BackoffFn<F>
where
    F: Fn() -> I,
    I: Iterator<Item = Duration>,
{
    type Delays = I;

    fn delays(&self) -> I {
        (self.f)()
    }
}
