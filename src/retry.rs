//! Retry executors and backoffs (upstream `flaky`): run an operation until it succeeds, fails
//! for good, or the policy gives up.
//!
//! An operation is an async closure `AsyncFnMut(&Ctx) -> Result<T, Error<E>>` (or any
//! [`Operation`]); its failures are
//! classified with [`Error`]: [`Transient`](Error::Transient) failures may be retried,
//! [`Permanent`](Error::Permanent) and [`Internal`](Error::Internal) ones never are. An
//! [`Executor`] decides when to run it again:
//!
//! - [`Once`]: exactly one attempt.
//! - [`UntilPermanent`]: again at once after every transient failure, yielding to the executor
//!   in between, until it succeeds, fails permanently or its context is cancelled.
//! - [`Retry`]: again after the delays of a [`Backoff`] measured on a [`Clock`], optionally
//!   bounded by a restart [intensity](Retry::intensity) (OTP: at most `R` restarts within a
//!   period, then give up with [`Error::Exhausted`]) and with the backoff
//!   [reset](Retry::reset_after) after a stable run.
//!
//! Backoffs are pure: [`Constant`], [`Limit`], [`Exp2`] (saturating), [`Jittered`] (integer
//! math, seedable [`XorShift64`] or any [`Rng`]), and any `Iterator<Item = Duration> + Clone` or
//! [`backoff_fn`] closure, so that schedules from crates like `backon` plug in.
//!
//! # Examples
//!
//! ```
//! use core::time::Duration;
//! use procession::Ctx;
//! use procession::retry::{self, BackoffExt, Executor, Exp2, Retry};
//! use procession::time::ManualClock;
//!
//! let clock: ManualClock = ManualClock::new();
//! let retry = Retry::new(Exp2::new(Duration::from_millis(10)).limit(3), &clock);
//! let root = Ctx::new();
//! let mut attempts = 0;
//! let work = retry.execute(&root, async |_ctx: &Ctx<'_>| {
//!     attempts += 1;
//!     if attempts < 3 { Err(retry::Error::Transient("busy")) } else { Ok(attempts) }
//! });
//! // The test moves time: wait until the executor sleeps, jump to the end of the sleep.
//! let drive = async {
//!     for _ in 0..2 {
//!         clock.wait_sleeping(1).await;
//!         clock.next();
//!     }
//! };
//! let (result, ()) = embassy_futures::block_on(embassy_futures::join::join(work, drive));
//! assert_eq!(result, Ok(3));
//! assert_eq!(clock.now().elapsed(), Duration::from_millis(20 + 40));
//! ```
//!
//! # Upstream
//!
//! From pact's `flaky` package (reference §5). Deliberate deviations:
//!
//! - Errors are classified by an enum instead of wrapper types found by `errors.Is`; the
//!   executor returns the classification too, so a permanent failure is still recognisable
//!   (upstream keeps it wrapped) and an internal one is told apart without unwrapping.
//! - [`UntilPermanent`] yields to the async executor between attempts (upstream spins), so an
//!   operation that fails instantly cannot starve the other tasks. It is still a busy loop:
//!   prefer [`Retry`] with a backoff for anything that can fail fast.
//! - [`Exp2`] saturates at its cap instead of stopping at overflow (upstream stops when the
//!   shift overflows to a value `<= 0`, and can wrap to a positive value first).
//! - [`Retry`] has no "within the context's deadline" check: [`Ctx`] carries no deadline, and
//!   upstream's check read the wall clock instead of the injected one.
//! - Beyond upstream: restart intensity ([`Retry::intensity`]), backoff reset after a stable
//!   run ([`Retry::reset_after`]), jitter as a backoff adapter with an injectable RNG, and any
//!   iterator as a backoff. `WithSchedule`, `Watchdog` and `Debounce` are not ported.

use core::fmt;
use core::time::Duration;

use crate::ctx::Ctx;
use crate::time::{Clock, Instant};

/// A failure of an operation run by an [`Executor`], and of the executor itself.
///
/// An operation returns it to say whether it may be retried; an executor returns the last one
/// when it gives up, still classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The attempt failed and may be retried. Returned by an executor when it gives up: its
    /// backoff ended, or its context was cancelled.
    Transient(E),
    /// The attempt failed and must not be retried (upstream `Permanent`).
    Permanent(E),
    /// Like [`Permanent`](Self::Permanent), but raised by the machinery around the operation
    /// rather than the operation's own work (upstream `Internal`); the supervisor uses it to
    /// tell an interrupt from a failure.
    Internal(E),
    /// The operation needed more restarts within the intensity period than allowed
    /// ([`Retry::intensity`]); carries its last failure. Never retried.
    Exhausted(E),
}

impl<E> Error<E> {
    /// The failure, whatever its class.
    pub fn into_inner(self) -> E {
        match self {
            Self::Transient(e) | Self::Permanent(e) | Self::Internal(e) | Self::Exhausted(e) => e,
        }
    }

    /// The failure, whatever its class.
    pub fn inner(&self) -> &E {
        match self {
            Self::Transient(e) | Self::Permanent(e) | Self::Internal(e) | Self::Exhausted(e) => e,
        }
    }

    /// Whether an executor may run the operation again after this failure.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// Converts the failure, keeping its class.
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> Error<F> {
        match self {
            Self::Transient(e) => Error::Transient(f(e)),
            Self::Permanent(e) => Error::Permanent(f(e)),
            Self::Internal(e) => Error::Internal(f(e)),
            Self::Exhausted(e) => Error::Exhausted(f(e)),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transient(e) | Self::Internal(e) => e.fmt(f),
            Self::Permanent(e) => write!(f, "permanent: {e}"),
            Self::Exhausted(e) => write!(f, "restart intensity exceeded: {e}"),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(self.inner())
    }
}

/// Marks `error` as transient: the operation may be retried.
pub const fn transient<E>(error: E) -> Error<E> {
    Error::Transient(error)
}

/// Marks `error` as permanent: the operation is not retried (upstream `Permanent`).
pub const fn permanent<E>(error: E) -> Error<E> {
    Error::Permanent(error)
}

/// Marks `error` as internal: permanent, and raised by the machinery around the operation
/// (upstream `Internal`).
pub const fn internal<E>(error: E) -> Error<E> {
    Error::Internal(error)
}

/// An operation that an [`Executor`] runs: every `AsyncFnMut(&Ctx<'_>) -> Result<T, Error<E>>`
/// closure, or a type that implements it by hand.
///
/// Implementing it by hand on a named type keeps the executor's future `Send` where a closure
/// that captures references would not be (a current limitation of the compiler's checks of
/// async closures); the restart supervisor does so.
pub trait Operation<T, E> {
    /// Runs one attempt.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the operation's is")]
    async fn attempt(&mut self, ctx: &Ctx<'_>) -> Result<T, Error<E>>;
}

impl<T, E, F> Operation<T, E> for F
where
    F: AsyncFnMut(&Ctx<'_>) -> Result<T, Error<E>>,
{
    async fn attempt(&mut self, ctx: &Ctx<'_>) -> Result<T, Error<E>> {
        self(ctx).await
    }
}

/// Runs an operation with a policy for its failures (upstream `flaky.Executor`).
///
/// `execute` runs `op` one or more times with `ctx` and returns its first success or the
/// failure that ended the policy. An executor must return soon after `ctx` is cancelled and
/// after a non-[transient](Error::is_transient) failure, without running `op` again: the
/// restart [`Supervisor`](crate::supervisor::Supervisor) relies on it (and gives an executor
/// that does not an [`Error::Internal`] back on every further call, never a panic).
///
/// # Cancel safety
///
/// Dropping the future drops the attempt in progress (a hard stop) and any sleep.
pub trait Executor {
    /// Runs `op` under this policy.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the operation's is")]
    async fn execute<T, E, O>(&self, ctx: &Ctx<'_>, op: O) -> Result<T, Error<E>>
    where
        O: Operation<T, E>;
}

impl<X: Executor + ?Sized> Executor for &X {
    async fn execute<T, E, O>(&self, ctx: &Ctx<'_>, op: O) -> Result<T, Error<E>>
    where
        O: Operation<T, E>,
    {
        (**self).execute(ctx, op).await
    }
}

/// An executor that runs the operation exactly once (upstream `Once`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Once;

impl Executor for Once {
    async fn execute<T, E, O>(&self, ctx: &Ctx<'_>, mut op: O) -> Result<T, Error<E>>
    where
        O: Operation<T, E>,
    {
        op.attempt(ctx).await
    }
}

/// An executor that runs the operation again at once after every transient failure, until it
/// succeeds, fails for good, or `ctx` is cancelled (upstream `UntilPermanent`).
///
/// It yields to the async executor between attempts, so an operation that fails instantly
/// does not starve other tasks; it still keeps a core busy. After a cancellation it returns the
/// last failure (transient).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UntilPermanent;

impl Executor for UntilPermanent {
    async fn execute<T, E, O>(&self, ctx: &Ctx<'_>, mut op: O) -> Result<T, Error<E>>
    where
        O: Operation<T, E>,
    {
        loop {
            let e = match op.attempt(ctx).await {
                Err(Error::Transient(e)) => e,
                other => return other,
            };
            if ctx.is_cancelled() {
                return Err(Error::Transient(e));
            }
            embassy_futures::yield_now().await;
            // Checked again after the yield: the other futures of the task ran meanwhile, and
            // one of them may have cancelled the context.
            if ctx.is_cancelled() {
                return Err(Error::Transient(e));
            }
        }
    }
}

// === Backoffs ===

/// A retry schedule: each [`delays`](Self::delays) call starts a fresh sequence of delays, the
/// `n`-th being the wait after the `n`-th failure (from 0); the end of the sequence means "give
/// up" (upstream `BackoffProvider`).
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

/// The delays `steps[0], steps[1], …`, then the last one for ever (upstream `Constant(xs...)`).
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

/// At most `retries` delays of another backoff (upstream `Limit(k, b)`): `retries + 1`
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

/// Doubling delays `2·unit, 4·unit, 8·unit, …` (upstream `Exp2`), saturating at a cap
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

// === Jitter ===

/// A source of random numbers for jitter.
pub trait Rng {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;
}

/// A small, fast, seedable pseudo-random generator (Marsaglia's xorshift64): the default
/// source of jitter. Not for cryptography.
///
/// Give each device or process its own seed (a serial number, a MAC address), or they jitter in
/// step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator seeded with `seed` (a zero seed is replaced by a fixed non-zero one, since
    /// xorshift would stay at zero).
    pub const fn new(seed: u64) -> Self {
        Self { state: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed } }
    }
}

impl Default for XorShift64 {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Rng for XorShift64 {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}

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

// === Retry ===

/// An executor that runs the operation again after the delays of a [`Backoff`], measured on a
/// [`Clock`] (upstream `Retry`).
///
/// After each transient failure, in this order: if `ctx` is cancelled, return the failure; if
/// the [intensity](Self::intensity) is exceeded, return it as [`Error::Exhausted`]; take the
/// next delay, or return the failure if the backoff has ended; sleep (a cancellation during the
/// sleep returns the failure, not a cancellation error; a zero delay only yields to the other
/// futures of the task, without a timer); run the operation again. A success or
/// a non-transient failure is returned at once.
///
/// Each `execute` starts a fresh backoff sequence, and so does every failure after a run of at
/// least [`reset_after`](Self::reset_after).
///
/// `R` is the most restarts allowed within the intensity period (see
/// [`intensity`](Self::intensity)); without a period it is unused.
#[derive(Debug, Clone, Copy)]
pub struct Retry<B, C, const R: usize = 0> {
    backoff: B,
    clock: C,
    period: Option<Duration>,
    reset_after: Option<Duration>,
}

impl<B: Backoff, C: Clock> Retry<B, C> {
    /// Retries after the delays of `backoff`, slept on `clock`.
    pub const fn new(backoff: B, clock: C) -> Self {
        Self { backoff, clock, period: None, reset_after: None }
    }
}

impl<B: Backoff, C: Clock, const R: usize> Retry<B, C, R> {
    /// Restart intensity, as in OTP: at most `R2` restarts within any `period` (both ends
    /// included: a restart exactly `period` ago still counts). A failure that would need one
    /// more gives up with [`Error::Exhausted`] carrying it. `R2 = 0` never
    /// restarts. The last `R2` restart times are kept inline (no heap).
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use procession::retry::{Constant, Retry};
    /// use procession::time::ManualClock;
    ///
    /// let clock: ManualClock = ManualClock::new();
    /// // At most 3 restarts within 5 seconds.
    /// let retry = Retry::new(Constant::every(Duration::ZERO), &clock).intensity::<3>(Duration::from_secs(5));
    /// ```
    pub fn intensity<const R2: usize>(self, period: Duration) -> Retry<B, C, R2> {
        Retry { backoff: self.backoff, clock: self.clock, period: Some(period), reset_after: self.reset_after }
    }

    /// Starts the backoff sequence afresh after a failure of an attempt that ran at least
    /// `uptime`: a process that was stable for a while and then failed restarts with the first
    /// delay again, not the long one reached by earlier failures.
    #[must_use]
    pub fn reset_after(self, uptime: Duration) -> Self {
        Self { reset_after: Some(uptime), ..self }
    }

    /// The clock the delays are measured on.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

/// The last `R` restart times: a ring buffer.
struct Restarts<const R: usize> {
    times: [Instant; R],
    len: usize,
    head: usize,
}

impl<const R: usize> Restarts<R> {
    /// Records a restart at `now` if fewer than `R` happened within `period` before it.
    fn admit(&mut self, now: Instant, period: Duration) -> bool {
        // Forget what is older than the period (the oldest sit at `head`); a restart exactly
        // `period` ago still counts, as in OTP.
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

impl<B: Backoff, C: Clock, const R: usize> Executor for Retry<B, C, R> {
    async fn execute<T, E, O>(&self, ctx: &Ctx<'_>, mut op: O) -> Result<T, Error<E>>
    where
        O: Operation<T, E>,
    {
        use embassy_futures::select::select;

        let mut delays = self.backoff.delays();
        let mut restarts = Restarts::<R> { times: [Instant::ZERO; R], len: 0, head: 0 };
        loop {
            let started = self.clock.now();
            let e = match op.attempt(ctx).await {
                Err(Error::Transient(e)) => e,
                other => return other,
            };
            if ctx.is_cancelled() {
                return Err(Error::Transient(e));
            }
            let now = self.clock.now();
            if let Some(period) = self.period {
                if !restarts.admit(now, period) {
                    return Err(Error::Exhausted(e));
                }
            }
            if self.reset_after.is_some_and(|uptime| now.saturating_duration_since(started) >= uptime) {
                delays = self.backoff.delays();
            }
            let Some(delay) = delays.next() else {
                return Err(Error::Transient(e));
            };
            if delay.is_zero() {
                // No timer for a zero delay (tokio rounds every sleep up to its 1 ms tick), but
                // still a turn for the other futures of the task.
                embassy_futures::yield_now().await;
            } else {
                select(self.clock.sleep(delay), ctx.cancelled()).await;
            }
            // Checked after the wait, not by which future won it: a cancellation that comes
            // with the end of the delay (the sleep is polled first) still ends the retries.
            if ctx.is_cancelled() {
                return Err(Error::Transient(e));
            }
        }
    }
}
