//! Jitter: [`Jittered`] shifts every delay of another backoff by a random amount, in integer
//! math, with any [`Rng`].

use core::time::Duration;

use super::{Backoff, Rng};

/// Another backoff whose every delay `d` becomes a uniformly random delay in
/// `[d − d·p/100, d + d·p/100]` (`p` = `percent`, at most 100), computed in integer
/// nanoseconds with saturation.
///
/// Each sequence starts from a copy of the generator as it was given, so a fixed seed gives a
/// fixed sequence (reproducible tests) and every run of an executor jitters the same way; the
/// delays within one sequence differ. The value is reduced with a modulo, whose bias is below
/// 2⁻³⁰ for delays under a second.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use procession::retry::{Backoff, BackoffExt, Constant, XorShift64};
///
/// let b = Constant::every(Duration::from_millis(100)).jitter(10, XorShift64::new(7));
/// for d in b.delays().take(100) {
///     assert!(d >= Duration::from_millis(90) && d <= Duration::from_millis(110));
/// }
/// assert_eq!(b.delays().take(5).collect::<Vec<_>>(), b.delays().take(5).collect::<Vec<_>>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jittered<B, R> {
    backoff: B,
    percent: u32,
    rng: R,
}

impl<B, R> Jittered<B, R> {
    /// `backoff` with every delay shifted by up to `percent` % (at most 100) of itself.
    pub const fn new(backoff: B, percent: u32, rng: R) -> Self {
        Self { backoff, percent: if percent > 100 { 100 } else { percent }, rng }
    }
}

impl<B: Backoff, R: Rng + Clone> Backoff for Jittered<B, R> {
    type Delays = JitteredDelays<B::Delays, R>;

    fn delays(&self) -> Self::Delays {
        JitteredDelays { delays: self.backoff.delays(), percent: self.percent, rng: self.rng.clone() }
    }
}

/// The delays of [`Jittered`].
#[derive(Debug, Clone)]
pub struct JitteredDelays<I, R> {
    delays: I,
    percent: u32,
    rng: R,
}

/// Shifts `d` to a uniformly random value in `[d − d·percent/100, d + d·percent/100]`; the
/// generator is not consulted when there is nothing to shift.
fn jitter<R: Rng>(d: Duration, percent: u32, rng: &mut R) -> Duration {
    let nanos = d.as_nanos();
    let spread = nanos / 100 * u128::from(percent) + nanos % 100 * u128::from(percent) / 100;
    if spread == 0 {
        return d;
    }
    let offset = u128::from(rng.next_u64()) % (2 * spread + 1);
    let shifted = (nanos - spread).saturating_add(offset);
    let secs = u64::try_from(shifted / 1_000_000_000).unwrap_or(u64::MAX);
    // `% 1e9` fits in u32.
    let sub = (shifted % 1_000_000_000) as u32;
    if secs == u64::MAX { Duration::MAX } else { Duration::new(secs, sub) }
}

impl<I: Iterator<Item = Duration>, R: Rng> Iterator for JitteredDelays<I, R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let d = self.delays.next()?;
        Some(jitter(d, self.percent, &mut self.rng))
    }
}
