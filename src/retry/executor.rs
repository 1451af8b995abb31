//! Executors: the [`Operation`] they run, the [`Executor`] trait, and the policies [`Once`],
//! [`UntilPermanent`] and [`Retry`].

use core::time::Duration;

use super::{Backoff, Error};
use crate::ctx::Ctx;
use crate::time::{Clock, Instant};

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

/// Runs an operation with a policy for its failures.
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

/// An executor that runs the operation exactly once.
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
/// succeeds, fails for good, or `ctx` is cancelled.
///
/// It yields to the async executor between attempts, so an operation that fails instantly
/// does not starve other tasks; it still keeps a core busy: prefer [`Retry`] with a backoff for
/// anything that can fail fast.
///
/// It looks at `ctx` after each transient failure and again after the yield that follows it:
/// a cancellation that comes in between (from another future of the task, say) ends it with
/// the last failure (transient), and the operation never runs on a cancelled context.
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

/// An executor that runs the operation again after the delays of a [`Backoff`], measured on a
/// [`Clock`].
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
            if let Some(period) = self.period
                && !restarts.admit(now, period)
            {
                return Err(Error::Exhausted(e));
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
