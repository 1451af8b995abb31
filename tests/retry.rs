//! Retry executors and backoffs (upstream `flaky`): ports of `TestRetry`, `TestUntilPermanent`
//! and our own cases.
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use core::cell::Cell;
use core::time::Duration;

use common::{block_on, yield_now};
use procession::Ctx;
use procession::retry::{
    self, Backoff, BackoffExt, Constant, Error, Executor, Exp2, Jittered, Limit, Once, Retry, UntilPermanent,
    XorShift64, backoff_fn,
};
use procession::time::{Instant, ManualClock};

const OP_ERROR: &str = "op error";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn delays<B: Backoff>(b: &B, n: usize) -> Vec<Duration> {
    b.delays().take(n).collect()
}

/// Runs `work` while a driver jumps the clock to each sleep's end `jumps` times (and cancels
/// `ctx` at the sleep after that, if `cancel_after` is set).
fn drive<F: core::future::Future>(clock: &ManualClock, jumps: usize, cancel: Option<&Ctx<'_>>, work: F) -> F::Output {
    let driver = async {
        for _ in 0..jumps {
            clock.wait_sleeping(1).await;
            clock.next();
        }
        if let Some(ctx) = cancel {
            clock.wait_sleeping(1).await;
            ctx.cancel();
        }
    };
    block_on(futures::future::join(work, driver)).0
}

/// Upstream: `TestRetry/Backoff`: `Constant(1ns, 1s, 1m, 1h)`, an operation that always fails;
/// three sleeps end, the fourth is cut by a cancellation. The result is the last operation
/// error (not a cancellation error), after four attempts, and the clock saw the delays in order.
#[test]
fn retry_backoff() {
    let clock: ManualClock = ManualClock::new();
    let steps = [Duration::from_nanos(1), Duration::from_secs(1), Duration::from_secs(60), Duration::from_secs(3600)];
    let retry = Retry::new(Constant::new(steps), &clock);
    let root = Ctx::new();
    let n = Cell::new(0);
    let starts = std::cell::RefCell::new(Vec::new());
    let result = drive(
        &clock,
        3,
        Some(&root),
        retry.execute(&root, async |_: &Ctx<'_>| -> Result<(), Error<&str>> {
            n.set(n.get() + 1);
            starts.borrow_mut().push(clock.now().elapsed());
            Err(Error::Transient(OP_ERROR))
        }),
    );
    assert_eq!(result, Err(Error::Transient(OP_ERROR)));
    assert_eq!(n.get(), 4);
    let t1 = steps[0];
    let t2 = t1 + steps[1];
    let t3 = t2 + steps[2];
    assert_eq!(*starts.borrow(), [Duration::ZERO, t1, t2, t3]);
}

/// Upstream: `TestRetry/Limit`: `Limit(1, Constant(1s))` makes two attempts.
#[test]
fn retry_limit() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Limit::new(1, Constant::every(Duration::from_secs(1))), &clock);
    let root = Ctx::new();
    let n = Cell::new(0);
    let result = drive(
        &clock,
        1,
        None,
        retry.execute(&root, async |_: &Ctx<'_>| -> Result<(), Error<&str>> {
            n.set(n.get() + 1);
            Err(Error::Transient(OP_ERROR))
        }),
    );
    assert_eq!(result, Err(Error::Transient(OP_ERROR)));
    assert_eq!(n.get(), 2);
}

/// Upstream: `TestUntilPermanent/Nil`.
#[test]
fn until_permanent_nil() {
    let root = Ctx::new();
    let result = block_on(UntilPermanent.execute(&root, async |_: &Ctx<'_>| Ok::<_, Error<&str>>(())));
    assert_eq!(result, Ok(()));
}

/// Upstream: `TestUntilPermanent/Internal`: an internal failure ends the loop and comes back
/// still recognisable as internal, with its inner error.
#[test]
fn until_permanent_internal() {
    let root = Ctx::new();
    let result = block_on(UntilPermanent.execute(&root, async |_: &Ctx<'_>| Err::<(), _>(retry::internal("oops"))));
    assert_eq!(result, Err(Error::Internal("oops")));
    assert_eq!(result.unwrap_err().into_inner(), "oops");
}

/// Upstream: `TestUntilPermanent/Permanent`: a permanent failure ends the loop and is still
/// marked permanent.
#[test]
fn until_permanent_permanent() {
    let root = Ctx::new();
    let result = block_on(UntilPermanent.execute(&root, async |_: &Ctx<'_>| Err::<(), _>(retry::permanent("oops"))));
    assert_eq!(result, Err(Error::Permanent("oops")));
    assert!(!result.unwrap_err().is_transient());
}

/// `UntilPermanent` retries transient failures until success.
#[test]
fn until_permanent_retries_transient_failures() {
    let root = Ctx::new();
    let n = Cell::new(0);
    let result = block_on(UntilPermanent.execute(&root, async |_: &Ctx<'_>| {
        n.set(n.get() + 1);
        if n.get() < 5 { Err(retry::transient("busy")) } else { Ok(n.get()) }
    }));
    assert_eq!(result, Ok(5));
}

/// Deviation: `UntilPermanent` yields between attempts, so an operation that fails instantly
/// does not starve the other futures of its task (upstream spins), and a cancellation from
/// one of them ends it with the last failure.
#[test]
fn until_permanent_yields_between_attempts() {
    let root = Ctx::new();
    let attempts = Cell::new(0);
    let other_ran = Cell::new(0);
    let executor = UntilPermanent.execute(&root, async |_: &Ctx<'_>| -> Result<(), Error<&str>> {
        attempts.set(attempts.get() + 1);
        Err(retry::transient("instant failure"))
    });
    let other = async {
        for _ in 0..10 {
            other_ran.set(other_ran.get() + 1);
            yield_now().await;
        }
        root.cancel();
    };
    let (result, ()) = common::block_on_within(1000, futures::future::join(executor, other));
    assert_eq!(result, Err(Error::Transient("instant failure")));
    assert_eq!(other_ran.get(), 10);
    assert!((10..=12).contains(&attempts.get()), "one attempt per turn: {}", attempts.get());
}

/// A cancellation during the yield between two attempts ends `UntilPermanent` with the last
/// failure: the operation does not run again on a cancelled context.
#[test]
fn until_permanent_cancelled_during_the_yield_does_not_run_again() {
    let root = Ctx::new();
    let attempts = Cell::new(0);
    let executor = UntilPermanent.execute(&root, async |_: &Ctx<'_>| -> Result<(), Error<&str>> {
        attempts.set(attempts.get() + 1);
        Err(retry::transient("instant failure"))
    });
    // Polled after the executor, which is then inside its yield after the first attempt.
    let other = async {
        assert_eq!(attempts.get(), 1);
        root.cancel();
    };
    let (result, ()) = common::block_on_within(100, futures::future::join(executor, other));
    assert_eq!(result, Err(Error::Transient("instant failure")));
    assert_eq!(attempts.get(), 1, "no attempt after the cancellation");
}

/// `Once` makes exactly one attempt, whatever the failure.
#[test]
fn once_makes_one_attempt() {
    let root = Ctx::new();
    let n = Cell::new(0);
    let result = block_on(Once.execute(&root, async |_: &Ctx<'_>| -> Result<(), Error<&str>> {
        n.set(n.get() + 1);
        Err(retry::transient("fail"))
    }));
    assert_eq!((result, n.get()), (Err(Error::Transient("fail")), 1));
}

/// `Retry` returns a success, and a permanent failure without sleeping.
#[test]
fn retry_returns_success_and_permanent_failures_at_once() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Constant::every(Duration::from_secs(1)), &clock);
    let root = Ctx::new();
    assert_eq!(block_on(retry.execute(&root, async |_: &Ctx<'_>| Ok::<_, Error<()>>(7))), Ok(7));
    let result = block_on(retry.execute(&root, async |_: &Ctx<'_>| Err::<(), _>(retry::permanent("bad config"))));
    assert_eq!(result, Err(Error::Permanent("bad config")));
    assert_eq!(clock.registrations(), 0);
}

/// A cancellation during the backoff ends `Retry` with the last failure, at once.
#[test]
fn retry_cancelled_during_backoff_returns_the_last_failure() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Constant::every(Duration::from_secs(3600)), &clock);
    let root = Ctx::new();
    let result =
        drive(&clock, 0, Some(&root), retry.execute(&root, async |_: &Ctx<'_>| Err::<(), _>(retry::transient("down"))));
    assert_eq!(result, Err(Error::Transient("down")));
    assert_eq!(clock.now(), Instant::ZERO);
}

/// A cancellation that comes together with the end of the delay (both are there when `Retry`
/// looks again) ends the retries: the operation does not run again on a cancelled context.
#[test]
fn retry_cancelled_as_the_delay_ends_does_not_run_again() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Constant::every(Duration::from_secs(1)), &clock);
    let root = Ctx::new();
    let attempts = Cell::new(0);
    let work = retry.execute(&root, async |_: &Ctx<'_>| {
        attempts.set(attempts.get() + 1);
        Err::<(), _>(retry::transient("down"))
    });
    let control = async {
        clock.wait_sleeping(1).await;
        root.cancel();
        clock.advance(Duration::from_secs(1));
    };
    let (result, ()) = block_on(futures::future::join(work, control));
    assert_eq!(result, Err(Error::Transient("down")));
    assert_eq!(attempts.get(), 1);
}

#[test]
fn constant_backoff_sequence() {
    assert_eq!(delays(&Constant::new([ms(1), ms(2), ms(3)]), 5), [ms(1), ms(2), ms(3), ms(3), ms(3)]);
    assert_eq!(delays(&Constant::every(ms(7)), 3), [ms(7); 3]);
    assert_eq!(delays(&Constant::new([]), 3), []);
}

#[test]
fn limit_backoff_sequence() {
    assert_eq!(delays(&Constant::every(ms(1)).limit(2), 5), [ms(1), ms(1)]);
    assert_eq!(delays(&Limit::new(0, Exp2::new(ms(1))), 5), []);
}

#[test]
fn exp2_backoff_sequence() {
    assert_eq!(delays(&Exp2::new(ms(1)), 5), [ms(2), ms(4), ms(8), ms(16), ms(32)]);
    assert_eq!(delays(&Exp2::new(ms(10)).cap(ms(100)), 5), [ms(20), ms(40), ms(80), ms(100), ms(100)]);
}

/// Deviation: `Exp2` saturates (upstream stops at overflow, and can wrap first): a unit that is
/// not a power of two, huge exponents, `u32::MAX` failures; but only once `unit · 2^(n+1)`
/// does not fit a `Duration`, however large the exponent.
#[test]
fn exp2_saturates() {
    let e = Exp2::new(Duration::from_secs(3));
    assert_eq!(e.delay(30), Duration::from_secs(3 << 31));
    assert_eq!(e.delay(31), Duration::from_secs(3 << 32), "beyond a u32 factor, still exact");
    assert_eq!(e.delay(61), Duration::from_secs(3 << 62));
    assert_eq!(e.delay(62), Duration::MAX, "3 s × 2^63 does not fit: saturates");
    assert_eq!(e.delay(u32::MAX), Duration::MAX);
    let long = Exp2::new(Duration::MAX / 2 + ms(1));
    assert_eq!(long.delay(0), Duration::MAX, "2 × (MAX / 2 + 1 ms) does not fit: saturates");
    let mut d = Exp2::new(ms(1)).delays().skip(40);
    assert_eq!(d.next(), Some(ms(1 << 41)));
    assert_eq!(Exp2::new(ms(1)).delay(100), Duration::MAX);
    assert_eq!(Exp2::new(ms(1)).cap(ms(5)).delay(u32::MAX), ms(5));
    let nano = Exp2::new(Duration::from_nanos(1)).cap(Duration::from_secs(3600));
    assert_eq!(nano.delay(31), Duration::from_nanos(1 << 32), "under the cap: not the cap");
    assert_eq!(nano.delay(41), Duration::from_secs(3600));
    assert_eq!(Exp2::new(Duration::ZERO).delay(31), Duration::ZERO, "a zero unit never sleeps for ever");
    assert_eq!(Exp2::new(Duration::ZERO).delay(u32::MAX), Duration::ZERO);
}

/// Jitter is applied (not every delay is the base), bounded, and a fixed seed gives a fixed
/// sequence.
#[test]
fn jitter_is_applied_bounded_and_reproducible() {
    let base = ms(1000);
    let b = Constant::every(base).jitter(20, XorShift64::new(42));
    let seq = delays(&b, 1000);
    assert!(seq.iter().all(|d| *d >= ms(800) && *d <= ms(1200)), "within ±20 %");
    assert!(seq.iter().any(|d| *d < ms(900)) && seq.iter().any(|d| *d > ms(1100)), "spread over the range");
    assert!(seq.iter().filter(|d| **d == base).count() < 10, "applied");
    assert_eq!(delays(&b, 1000), seq, "every sequence starts from the same seed");
    let pinned: Vec<u128> = seq.iter().take(4).map(Duration::as_nanos).collect();
    assert_eq!(pinned, FIXED_SEED_42, "a fixed seed gives a fixed sequence");
    let other = delays(&Constant::every(base).jitter(20, XorShift64::new(43)), 4);
    assert_ne!(other, seq[..4]);
}

/// The first four delays of `Constant::every(1 s).jitter(20, XorShift64::new(42))`.
const FIXED_SEED_42: [u128; 4] = [1_054_805_561, 1_169_361_035, 873_778_663, 806_976_226];

/// Jitter saturates and clamps: a percentage above 100 acts as 100, a zero delay stays zero,
/// `Duration::MAX` does not overflow.
#[test]
fn jitter_saturates() {
    let b = Jittered::new(Constant::every(ms(10)), 500, XorShift64::new(1));
    assert!(delays(&b, 100).iter().all(|d| *d <= ms(20)));
    assert_eq!(delays(&Constant::every(Duration::ZERO).jitter(50, XorShift64::new(1)), 3), [Duration::ZERO; 3]);
    let huge = delays(&Constant::every(Duration::MAX).jitter(50, XorShift64::new(1)), 100);
    assert!(huge.iter().all(|d| *d >= Duration::MAX / 2 - ms(1)));
}

/// Any `Iterator<Item = Duration> + Clone` is a backoff, and so is a closure making one (how
/// `backon` schedules plug in).
#[test]
fn iterators_and_closures_are_backoffs() {
    assert_eq!(delays(&[ms(5), ms(6)].into_iter(), 5), [ms(5), ms(6)]);
    assert_eq!(delays(&core::iter::repeat_n(ms(1), 2), 5), [ms(1), ms(1)]);
    let fib = backoff_fn(|| {
        let mut state = (ms(1), ms(1));
        core::iter::from_fn(move || {
            let d = state.0;
            state = (state.1, state.0 + state.1);
            Some(d)
        })
    });
    assert_eq!(delays(&fib, 5), [ms(1), ms(1), ms(2), ms(3), ms(5)]);
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new([ms(5)].into_iter(), &clock);
    let root = Ctx::new();
    let n = Cell::new(0);
    let result = drive(
        &clock,
        1,
        None,
        retry.execute(&root, async |_: &Ctx<'_>| {
            n.set(n.get() + 1);
            Err::<(), _>(retry::transient(n.get()))
        }),
    );
    assert_eq!(result, Err(Error::Transient(2)));
}

/// Restart intensity: at most 2 restarts within 10 s, with no backoff; the third failure in
/// the window gives up with `Exhausted` carrying it.
#[test]
fn intensity_is_exhausted_by_fast_failures() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Constant::every(Duration::ZERO), &clock).intensity::<2>(Duration::from_secs(10));
    let root = Ctx::new();
    let n = Cell::new(0);
    let result = block_on(retry.execute(&root, async |_: &Ctx<'_>| {
        n.set(n.get() + 1);
        clock.advance(Duration::from_secs(1));
        if n.get() > 50 {
            return Ok(()); // bounded, so that a broken intensity fails instead of spinning
        }
        Err::<(), _>(retry::transient(n.get()))
    }));
    assert_eq!(result, Err(Error::Exhausted(3)));
}

/// Restarts spread wider than the period never exhaust the intensity; failures that bunch up
/// later still do.
#[test]
fn intensity_forgets_restarts_older_than_the_period() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Constant::every(Duration::ZERO), &clock).intensity::<2>(Duration::from_secs(10));
    let root = Ctx::new();
    let n = Cell::new(0);
    let result = block_on(retry.execute(&root, async |_: &Ctx<'_>| {
        n.set(n.get() + 1);
        // Ten failures 6 s apart (at most 2 in any 10 s), then failures 1 s apart.
        clock.advance(Duration::from_secs(if n.get() <= 10 { 6 } else { 1 }));
        if n.get() > 50 {
            return Ok(());
        }
        Err::<(), _>(retry::transient(n.get()))
    }));
    // Failures 1..=10 at 6 s, 12 s, … 60 s: never more than 2 restarts within 10 s. Failure 11
    // at 61 s would be the third restart since 54 s.
    assert_eq!(result, Err(Error::Exhausted(11)));
}

/// The window includes both ends, as in OTP: with at most 2 restarts within 10 s, failures at
/// 5 s, 10 s and 15 s are three restarts within 10 s, and the third gives up.
#[test]
fn intensity_window_includes_its_ends() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Constant::every(Duration::ZERO), &clock).intensity::<2>(Duration::from_secs(10));
    let root = Ctx::new();
    let n = Cell::new(0);
    let result = block_on(retry.execute(&root, async |_: &Ctx<'_>| {
        n.set(n.get() + 1);
        clock.advance(Duration::from_secs(5));
        if n.get() > 50 {
            return Ok(());
        }
        Err::<(), _>(retry::transient(n.get()))
    }));
    assert_eq!(result, Err(Error::Exhausted(3)));
}

/// An intensity of zero never restarts.
#[test]
fn intensity_zero_never_restarts() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Constant::every(Duration::ZERO), &clock).intensity::<0>(Duration::from_secs(1));
    let root = Ctx::new();
    let result = block_on(retry.execute(&root, async |_: &Ctx<'_>| Err::<(), _>(retry::transient("once"))));
    assert_eq!(result, Err(Error::Exhausted("once")));
}

/// After an attempt that ran at least `reset_after`, the backoff starts again from its first
/// delay.
#[test]
fn backoff_resets_after_a_stable_run() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Exp2::new(ms(100)).limit(10), &clock).reset_after(Duration::from_secs(5));
    let root = Ctx::new();
    let n = Cell::new(0);
    let waits = std::cell::RefCell::new(Vec::new());
    let last_end = Cell::new(Instant::ZERO);
    let result = drive(
        &clock,
        4,
        None,
        retry.execute(&root, async |_: &Ctx<'_>| {
            n.set(n.get() + 1);
            waits.borrow_mut().push(clock.now() - last_end.get());
            if n.get() == 3 {
                clock.advance(Duration::from_secs(5)); // a stable run
            }
            last_end.set(clock.now());
            if n.get() == 5 { Ok(()) } else { Err(retry::transient(())) }
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(*waits.borrow(), [Duration::ZERO, ms(200), ms(400), ms(200), ms(400)]);
}

/// Without `reset_after` the same history keeps growing the delay.
#[test]
fn backoff_does_not_reset_without_reset_after() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Exp2::new(ms(100)).limit(10), &clock);
    let root = Ctx::new();
    let n = Cell::new(0);
    let result = drive(
        &clock,
        3,
        None,
        retry.execute(&root, async |_: &Ctx<'_>| {
            n.set(n.get() + 1);
            if n.get() == 3 {
                clock.advance(Duration::from_secs(5));
            }
            if n.get() == 4 { Ok(clock.now()) } else { Err(retry::transient(())) }
        }),
    );
    assert_eq!(result, Ok(Instant::from_elapsed(ms(200 + 400) + Duration::from_secs(5) + ms(800))));
}

/// An `Rng` that always returns the same value, and counts its calls.
#[derive(Clone)]
struct Fixed<'a>(u64, &'a Cell<u32>);

impl retry::Rng for Fixed<'_> {
    fn next_u64(&mut self) -> u64 {
        self.1.set(self.1.get() + 1);
        self.0
    }
}

/// Upstream: `TestRandomJitter`, adapted: upstream adds a signed jitter in `(0, L]` shifted by
/// `L/Q`; ours shifts each delay within `±percent`, unsigned (no negative delays). With the
/// generator at its extremes the bounds are exact, a zero delay stays zero, and the generator
/// is never consulted when there is nothing to shift (upstream: `f` is never called with
/// `n <= 0`).
#[test]
fn random_jitter() {
    let calls = Cell::new(0);
    let second = Duration::from_secs(1);
    // 2·spread + 1 = 1_000_000_001 values: `u64` values congruent to 0 and to 2·spread.
    let low = Fixed(0, &calls);
    let high = Fixed(1_000_000_000, &calls);
    assert_eq!(delays(&Constant::every(second).jitter(50, low), 1), [ms(500)]);
    assert_eq!(delays(&Constant::every(second).jitter(50, high.clone()), 1), [ms(1500)]);
    assert_eq!(delays(&Constant::every(second).jitter(25, Fixed(500_000_000, &calls)), 1), [ms(1250)]);
    assert_eq!(delays(&Constant::every(second).jitter(0, high.clone()), 1), [second]);
    assert_eq!(calls.get(), 3, "not consulted for a zero percentage");
    assert_eq!(delays(&Constant::every(Duration::ZERO).jitter(50, high), 3), [Duration::ZERO; 3]);
    assert_eq!(calls.get(), 3, "not consulted for a zero delay");
}

// === found by mutation testing (scripts/mutants) ===

/// The ring of restart times slides: with at most 3 restarts within 10 s, failures at 1 s, 6 s,
/// 7 s and 12 s are admitted (the one at 1 s is forgotten at 12 s, and only that one), and the
/// failure at 13 s is the fourth within 10 s.
#[test]
fn intensity_forgets_only_the_restarts_older_than_the_period() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Constant::every(Duration::ZERO), &clock).intensity::<3>(Duration::from_secs(10));
    let root = Ctx::new();
    let n = Cell::new(0);
    let result = block_on(retry.execute(&root, async |_: &Ctx<'_>| {
        n.set(n.get() + 1);
        clock.advance(Duration::from_secs(match n.get() {
            2 | 4 => 5,
            _ => 1,
        }));
        if n.get() > 50 {
            return Ok(());
        }
        Err::<(), _>(retry::transient(n.get()))
    }));
    assert_eq!(result, Err(Error::Exhausted(5)));
}

/// What each kind of error says about itself: only `Transient` is transient; `Display` of each
/// kind; `source` is the wrapped error.
#[test]
fn error_kinds_describe_themselves() {
    use core::error::Error as _;
    assert!(retry::transient(1).is_transient());
    for e in [retry::permanent(1), Error::Internal(1), Error::Exhausted(1)] {
        assert!(!e.is_transient(), "{e:?}");
    }
    assert_eq!(retry::transient("oops").to_string(), "oops");
    assert_eq!(Error::Internal("oops").to_string(), "oops");
    assert_eq!(retry::permanent("oops").to_string(), "permanent: oops");
    assert_eq!(Error::Exhausted("oops").to_string(), "restart intensity exceeded: oops");
    let e = Error::Exhausted(core::fmt::Error);
    assert_eq!(e.source().map(ToString::to_string), Some(core::fmt::Error.to_string()));
}

/// Jitter is applied to delays under 100 ns too: 99 ns at 100 % spreads over 0..=198 ns.
#[test]
fn jitter_applies_below_a_hundred_nanoseconds() {
    let base = Duration::from_nanos(99);
    let seq = delays(&Constant::every(base).jitter(100, XorShift64::new(7)), 200);
    assert!(seq.iter().all(|d| *d <= Duration::from_nanos(198)), "within ±100 %");
    assert!(seq.iter().any(|d| *d < Duration::from_nanos(50)) && seq.iter().any(|d| *d > Duration::from_nanos(150)));
}
