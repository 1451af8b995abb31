//! Tests of `shot`: [`One`], [`Many`], [`Job`] (was `G`), [`Group`], `DynGroup` (with `alloc`) and the
//! [`Run`] guard.
//!
//! - Ports of the upstream tests of `github.com/infastin/gorack/shot` (named in each doc
//!   comment), made deterministic: explicit synchronisation instead of goroutines racing, a
//!   manual clock where upstream ticks every 10 ms.
//! - The derived cases S1–S18 of the reference (`shot-proc-semantics.md` §4.4), one test each
//!   (named `s<N>_...`).
//! - Our deviations from upstream, each with a test.
//! - Stress tests (`stress_...`): std threads hammering a `static` `One`/`Many`; they also run
//!   under miri with few rounds (`scripts/check`).
//!
//! Every check of a state also checks `done` the way upstream's `shouldBe` does: complete
//! exactly when the state is Stopped or Closed.

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::{Future, pending, ready};
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::{Barrier, Mutex};
use std::thread;

use embassy_futures::join::{join, join3};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex as Cs;
use futures::executor::block_on;
use futures::task::{ArcWake, noop_waker, waker};
#[cfg(feature = "alloc")]
use procession::shot::{DynGroup, JobFuture};
use procession::shot::{Error, GoError, Group, Job, Many, One, Run, State};
use procession::{Cause, Ctx};

// === helpers ===

/// A waker that counts how often it is woken.
#[derive(Default)]
struct Counter {
    wakes: AtomicUsize,
}

impl ArcWake for Counter {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter::default());
    let w = waker(c.clone());
    (c, w)
}

fn wakes(c: &Counter) -> usize {
    c.wakes.load(Ordering::SeqCst)
}

fn poll<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// Whether `fut` completes at its first poll (it is polled once, with a no-op waker).
fn ready_now<F: Future>(fut: F) -> bool {
    poll(pin!(fut), &noop_waker()).is_ready()
}

/// Upstream `shouldBe` for a `One`: the state, and `done` complete exactly when Stopped or
/// Closed.
fn one_should_be(one: &One<'_, Cs>, expected: State) {
    assert_eq!(one.state(), expected);
    let done = matches!(expected, State::Stopped | State::Closed);
    assert_eq!(one.is_done(), done, "is_done in {expected}");
    assert_eq!(ready_now(one.done()), done, "done in {expected}");
}

/// Upstream `shouldBe` for a `Many`.
fn many_should_be(many: &Many<'_, Cs>, expected: State) {
    assert_eq!(many.state(), expected);
    let done = matches!(expected, State::Stopped | State::Closed);
    assert_eq!(many.is_done(), done, "is_done in {expected}");
    assert_eq!(ready_now(many.done()), done, "done in {expected}");
}

/// A resource that holds its run until the run's context is cancelled, then ends it.
async fn hold_until_cancelled(run: Run<'_, '_, Cs>) -> Cause {
    run.context().cancelled().await
}

/// A manual clock: `sleep` completes once the test has advanced the time far enough.
#[derive(Default)]
struct Clock {
    now_ms: AtomicU64,
    wakers: Mutex<Vec<Waker>>,
}

impl Clock {
    fn now(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    async fn sleep_until(&self, at_ms: u64) {
        core::future::poll_fn(|cx| {
            if self.now() >= at_ms {
                return Poll::Ready(());
            }
            self.wakers.lock().unwrap().push(cx.waker().clone());
            if self.now() >= at_ms { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
    }

    fn advance(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
        for w in self.wakers.lock().unwrap().drain(..) {
            w.wake();
        }
    }

    /// Lets every other arm of the task run until it waits, then advances by `step_ms`, until
    /// `until_ms`. Single-threaded and deterministic.
    async fn drive(&self, step_ms: u64, until_ms: u64) {
        while self.now() < until_ms {
            for _ in 0..8 {
                yield_now().await;
            }
            self.advance(step_ms);
        }
    }
}

async fn yield_now() {
    let mut yielded = false;
    core::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

// === upstream tests: One ===

/// Port of upstream `TestOne_Start_Close`: a second start fails while running, `Close` waits
/// for the resource's stop, and then the `One` is Closed for good.
#[test]
fn test_one_start_close() {
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    let run = one.start().expect("first start");
    one_should_be(&one, State::Running);
    assert_eq!(one.start().err(), Some(Error::Running));
    let resource = hold_until_cancelled(run);
    let (cause, closed) = block_on(join(resource, one.close(pending())));
    assert_eq!(cause, Cause::Shutdown);
    assert_eq!(closed, Ok(State::Running));
    one_should_be(&one, State::Closed);
    assert_eq!(one.start().err(), Some(Error::Closed));
}

/// Port of upstream `TestOne_Start_stop`: the resource stops itself; the `One` is Closed, a
/// start fails, and `Close` returns at once.
#[test]
fn test_one_start_stop() {
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    one.start().expect("start").finish();
    one_should_be(&one, State::Closed);
    assert_eq!(one.start().err(), Some(Error::Closed));
    one_should_be(&one, State::Closed);
    assert!(ready_now(one.close(pending())));
    assert_eq!(block_on(one.close(pending())), Ok(State::Closed));
    one_should_be(&one, State::Closed);
}

// === upstream tests: Many ===

/// Port of upstream `TestMany_Start_Close`: a failed second start changes nothing; `Close`
/// cancels the running instance and waits; its end is Closed, not Stopped.
#[test]
fn test_many_start_close() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    let run = many.start().expect("first start");
    many_should_be(&many, State::Running);
    assert_eq!(many.start().err(), Some(Error::Running));
    many_should_be(&many, State::Running);
    assert!(!run.context().is_cancelled());
    let (cause, closed) = block_on(join(hold_until_cancelled(run), many.close(pending())));
    assert_eq!((cause, closed), (Cause::Shutdown, Ok(State::Running)));
    many_should_be(&many, State::Closed);
    assert_eq!(many.start().err(), Some(Error::Closed));
}

/// Port of upstream `TestMany_Start_stop`: five rounds of start and stop, each start succeeds;
/// then Stopped, `Close` returns at once, and Closed.
#[test]
fn test_many_start_stop() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    for round in 0..5 {
        let run = many.start().unwrap_or_else(|e| panic!("round {round}: {e}"));
        drop(run);
    }
    many_should_be(&many, State::Stopped);
    assert!(ready_now(many.close(pending())));
    many_should_be(&many, State::Closed);
    assert_eq!(many.start().err(), Some(Error::Closed));
}

/// Port of upstream `TestXor_Start_stop`, on `Many` (v0.4.3 has no `Xor`; `Many` now gives
/// every run a fresh context): five rounds, and each run's context is not cancelled.
#[test]
fn test_xor_start_stop() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    for round in 0..5 {
        let run = many.start().unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(!run.context().is_cancelled(), "round {round}: fresh context");
        assert_eq!(run.context().cause(), None);
    }
    many_should_be(&many, State::Stopped);
    assert_eq!(block_on(many.close(pending())), Ok(State::Stopped));
    many_should_be(&many, State::Closed);
    assert_eq!(many.start().err(), Some(Error::Closed));
}

/// Port of upstream `TestXor_Start_Stop`, on `Many` (v0.4.3 moved `Stop` to `Many`): `Stop`
/// ends the run in Stopped, a new run starts with a new `done`, `Close` ends it in Closed, and
/// `Stop` on a closed `Many` is an error that changes nothing.
#[test]
fn test_xor_start_stop_upper() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    let run = many.start().expect("start");
    many_should_be(&many, State::Running);
    let (_, stopped) = block_on(join(hold_until_cancelled(run), many.end_run(pending())));
    assert_eq!(stopped, Ok(State::Running));
    many_should_be(&many, State::Stopped);

    let run = many.start().expect("restart");
    many_should_be(&many, State::Running);
    let (_, closed) = block_on(join(hold_until_cancelled(run), many.close(pending())));
    assert_eq!(closed, Ok(State::Running));
    many_should_be(&many, State::Closed);
    assert_eq!(many.start().err(), Some(Error::Closed));
    many_should_be(&many, State::Closed);
    assert_eq!(block_on(many.end_run(pending())), Err(Error::Closed));
    many_should_be(&many, State::Closed);
}

/// Upstream `TestXor_Start_Close` (five starters, each evicting the previous, one survivor)
/// adapted to `Many`, which never evicts: of five concurrent starts exactly one runs, the
/// others get `Running`; `Close` then ends the survivor in Closed.
#[test]
fn test_xor_start_close() {
    static ROOT: Ctx<'static> = Ctx::new();
    static MANY: Many<'static, Cs> = Many::new(&ROOT);
    let barrier = Barrier::new(5);
    let running = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let started = Barrier::new(6);
    thread::scope(|s| {
        for _ in 0..5 {
            s.spawn(|| {
                barrier.wait();
                match MANY.start() {
                    Ok(run) => {
                        running.fetch_add(1, Ordering::SeqCst);
                        started.wait();
                        block_on(run.context().cancelled());
                        running.fetch_sub(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        assert_eq!(e, Error::Running);
                        refused.fetch_add(1, Ordering::SeqCst);
                        started.wait();
                    }
                }
            });
        }
        started.wait();
        assert_eq!(running.load(Ordering::SeqCst), 1, "only 1 instance should be running");
        assert_eq!(refused.load(Ordering::SeqCst), 4);
        many_should_be(&MANY, State::Running);
        assert_eq!(block_on(MANY.close(pending())), Ok(State::Running));
    });
    many_should_be(&MANY, State::Closed);
    assert_eq!(MANY.start().err(), Some(Error::Closed));
}

// === upstream examples, on a manual clock ===

/// Fibonacci numbers after the seed `{-1, 1}`, as the examples emit them.
fn fib(n: usize) -> i64 {
    let (mut a, mut b) = (-1i64, 1i64);
    for _ in 0..=n {
        (a, b) = (b, a + b);
    }
    b
}

/// Port of upstream `ExampleOne`: a resource emits a Fibonacci number every 10 ms until 144,
/// then waits for its context; the parent times out after 1 s, and the deferred `Close`
/// returns at once. Output `0 1 1 2 3 5 8 13 21 34 55 89 144`.
#[test]
fn example_one() {
    let clock = Clock::default();
    let parent = Ctx::new(); // cancelled at 1 s: upstream's `context.WithTimeout`
    let one = One::<Cs>::new(&parent);
    let out = Mutex::new(Vec::new());
    let resource = async {
        let run = one.start().expect("start");
        for n in 0.. {
            clock.sleep_until(10 * (n + 1)).await;
            let value = fib(n as usize);
            out.lock().unwrap().push(value);
            if value == 144 {
                break;
            }
        }
        run.context().cancelled().await;
    };
    let timeout = async {
        clock.sleep_until(1000).await;
        parent.cancel();
    };
    block_on(join3(resource, timeout, clock.drive(10, 1000)));
    assert_eq!(block_on(one.close(pending())), Ok(State::Closed));
    one_should_be(&one, State::Closed);
    assert_eq!(*out.lock().unwrap(), [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144]);
}

/// Port of upstream `ExampleMany`: the resource returns after emitting 13 and 89 (Stopped);
/// the main loop restarts it on `done`; the sequence continues across restarts up to 144.
/// After the 1 s timeout the run's context is cancelled and the `Many` ends Closed.
#[test]
fn example_many() {
    let clock = Clock::default();
    let parent = Ctx::new();
    let many = Many::<Cs>::new(&parent);
    let out = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let run_once = async || {
        let run = match many.start() {
            Ok(run) => run,
            Err(e) => {
                assert_eq!(e, Error::Running);
                refused.fetch_add(1, Ordering::SeqCst);
                return;
            }
        };
        loop {
            let n = next.load(Ordering::SeqCst);
            let at = 10 * (n as u64 + 1);
            if n > 12 || run.context().run_until_cancelled(clock.sleep_until(at)).await.is_err() {
                run.context().cancelled().await;
                return;
            }
            let value = fib(n);
            out.lock().unwrap().push(value);
            next.store(n + 1, Ordering::SeqCst);
            if value == 13 || value == 89 {
                return; // ends the run: Stopped
            }
        }
    };
    let main_loop = async {
        // Upstream spawns `go fib.Run()` on every `Done`, plus a spare one that is refused.
        while !parent.is_cancelled() {
            let (_, ()) = join(run_once(), run_once()).await;
            many.done().await;
        }
    };
    let timeout = async {
        clock.sleep_until(1000).await;
        parent.cancel();
    };
    block_on(join3(main_loop, timeout, clock.drive(10, 1000)));
    many_should_be(&many, State::Closed);
    assert_eq!(block_on(many.close(pending())), Ok(State::Closed));
    assert_eq!(*out.lock().unwrap(), [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144]);
    assert_eq!(refused.load(Ordering::SeqCst), 3, "the spare start of each round is refused");
}

// === derived cases S1–S18 ===

/// S1: new `One`/`Many`/`Job`: Initial, `done` pending, context live.
#[test]
fn s1_new_is_initial() {
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    one_should_be(&one, State::Initial);
    assert!(!one.context().is_cancelled());
    let many = Many::<Cs>::new(&root);
    many_should_be(&many, State::Initial);
    assert!(!many.start().unwrap().context().is_cancelled());
    let g = Job::<(), Cs>::new();
    assert_eq!(g.state(), State::Initial);
    assert!(!g.is_done());
}

/// S2: `One::close` from Initial returns at once: Closed, done, context cancelled, start
/// refused.
#[test]
fn s2_one_close_from_initial() {
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    assert!(ready_now(one.close(pending())));
    one_should_be(&one, State::Closed);
    assert_eq!(one.context().cause(), Some(Cause::Shutdown));
    assert_eq!(one.start().err(), Some(Error::Closed));
}

/// `One::cancel` (upstream `Cancel`): requests the close without waiting and returns whether it
/// changed anything; from Initial the `One` is Closed at once.
#[test]
fn one_cancel() {
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    let run = one.start().unwrap();
    assert!(one.cancel(), "a close request while running");
    assert!(!one.cancel(), "a close is requested already");
    assert_eq!(run.context().cause(), Some(Cause::Shutdown));
    one_should_be(&one, State::Running);
    drop(run);
    one_should_be(&one, State::Closed);
    assert!(!one.cancel(), "nothing to change once Closed");

    let one = One::<Cs>::new(&root);
    assert!(one.cancel(), "Initial becomes Closed");
    one_should_be(&one, State::Closed);
    assert_eq!(one.start().err(), Some(Error::Closed));
}

/// S3: of N concurrent starts of a `One`, exactly one succeeds and the others get `Running`.
#[test]
fn s3_concurrent_starts_one_winner() {
    const N: usize = 8;
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    let barrier = Barrier::new(N);
    let ok = AtomicUsize::new(0);
    let hold = Barrier::new(N);
    thread::scope(|s| {
        for _ in 0..N {
            s.spawn(|| {
                barrier.wait();
                let result = one.start();
                match &result {
                    Ok(_) => _ = ok.fetch_add(1, Ordering::SeqCst),
                    Err(e) => assert_eq!(*e, Error::Running),
                }
                hold.wait(); // the winner keeps its guard until every start was tried
                drop(result);
            });
        }
    });
    assert_eq!(ok.load(Ordering::SeqCst), 1);
    one_should_be(&one, State::Closed);
}

/// S4: `One::close` with a deadline, while the resource ignores cancellation: `Deadline`,
/// state still Running and done pending; when the resource ends: Closed.
#[test]
fn s4_close_deadline_leaves_state_consistent() {
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    let run = one.start().unwrap();
    assert_eq!(block_on(one.close(ready(()))), Err(Error::Deadline));
    one_should_be(&one, State::Running);
    assert!(run.context().is_cancelled(), "the close request stays");
    assert_eq!(block_on(one.close(ready(()))), Err(Error::Deadline));
    drop(run);
    one_should_be(&one, State::Closed);
    assert_eq!(block_on(one.close(ready(()))), Ok(State::Closed));
}

/// S5: a cancelled parent cancels the context but not the state; a later start succeeds with
/// a cancelled context. A `Many` run that ends while the parent is cancelled ends in Closed.
#[test]
fn s5_parent_cancelled() {
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    let many = Many::<Cs>::new(&root);
    root.cancel();
    assert!(one.context().is_cancelled());
    one_should_be(&one, State::Initial);
    many_should_be(&many, State::Initial);
    let run = one.start().expect("start after parent cancelled");
    assert!(run.context().is_cancelled());
    drop(run);
    one_should_be(&one, State::Closed);
    let run = many.start().expect("start after parent cancelled");
    assert_eq!(run.context().cause(), Some(Cause::Shutdown));
    drop(run);
    many_should_be(&many, State::Closed);
}

/// S6: the end of a run cancels its context (observable on a `One`; a `Many` run's context
/// cannot be observed after its guard is gone, by type).
#[test]
fn s6_end_of_run_cancels_context() {
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    let run = one.start().unwrap();
    assert!(!one.context().is_cancelled());
    run.finish();
    assert_eq!(one.context().cause(), Some(Cause::Parent));
    let g = Job::<(), Cs>::new();
    let seen = Mutex::new(None);
    block_on(g.drive(async |ctx: &Ctx<'_>| {
        *seen.lock().unwrap() = Some(ctx.is_cancelled());
        Ok(())
    }))
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(false));
}

/// S7: a `Many` restart gets a fresh context; the `done` of the old run stays complete and
/// the new run's `done` is pending.
#[test]
fn s7_many_restart_fresh_context_and_done() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    let run = many.start().unwrap();
    let old_done = many.done();
    let (_, stopped) = block_on(join(hold_until_cancelled(run), many.end_run(pending())));
    assert_eq!(stopped, Ok(State::Running));
    let run = many.start().unwrap();
    assert!(!run.context().is_cancelled());
    assert!(ready_now(old_done), "the old run's done stays complete");
    assert!(!ready_now(many.done()), "the new run's done is pending");
    drop(run);
}

/// S8: how a `Many` run ends: Closed after a close request or with a cancelled parent;
/// Stopped when it ends by itself or after a stop request.
#[test]
fn s8_many_end_state() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    drop(many.start().unwrap());
    many_should_be(&many, State::Stopped);

    let run = many.start().unwrap();
    assert!(many.cancel_run());
    assert!(run.context().is_cancelled());
    drop(run);
    many_should_be(&many, State::Stopped);

    let run = many.start().unwrap();
    assert!(many.cancel());
    drop(run);
    many_should_be(&many, State::Closed);

    let parent = root.child();
    let many = Many::<Cs>::new(&parent);
    let run = many.start().unwrap();
    parent.cancel();
    drop(run);
    many_should_be(&many, State::Closed);
}

/// S9: `Many::close` from Stopped returns at once: Closed.
#[test]
fn s9_many_close_from_stopped() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    drop(many.start().unwrap());
    assert_eq!(block_on(many.close(pending())), Ok(State::Stopped));
    many_should_be(&many, State::Closed);
}

/// S10: `Many::start` while running is refused and does not cancel the running instance.
#[test]
fn s10_many_start_while_running() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    let run = many.start().unwrap();
    assert_eq!(many.start().err(), Some(Error::Running));
    assert!(!run.context().is_cancelled());
    many_should_be(&many, State::Running);
}

/// S11 (upstream `Xor.Start` replaces a running instance; v0.4.3 `Many` does it with `Stop`, here `end_run`
/// then `start`): the stop cancels the first run and waits for its end; the next start runs
/// with a fresh context.
#[test]
fn s11_replace_by_end_run_then_start() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    let log = Mutex::new(Vec::new());
    let first = async {
        let run = many.start().unwrap();
        let cause = run.context().cancelled().await;
        log.lock().unwrap().push(std::format!("first ended ({cause})"));
    };
    let replace = async {
        many.end_run(pending()).await.unwrap();
        log.lock().unwrap().push("stopped".into());
        let run = many.start().unwrap();
        assert!(!run.context().is_cancelled());
        log.lock().unwrap().push("second running".into());
        run
    };
    let ((), second) = block_on(join(first, replace));
    many_should_be(&many, State::Running);
    drop(second);
    assert_eq!(*log.lock().unwrap(), ["first ended (shutdown)", "stopped", "second running"]);
}

/// S12: a stop whose deadline passes returns `Deadline`; the old run still ends in Stopped.
#[test]
fn s12_end_run_deadline_then_stopped() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    let run = many.start().unwrap();
    assert_eq!(block_on(many.end_run(ready(()))), Err(Error::Deadline));
    many_should_be(&many, State::Running);
    drop(run);
    many_should_be(&many, State::Stopped);
}

/// S13: `Many::end_run` (upstream `Stop`) from Initial: Stopped and done at once; a later start works with a
/// fresh context and a new done.
#[test]
fn s13_many_end_run_from_initial() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    let (c, w) = counter();
    let mut done = pin!(many.done());
    assert!(poll(done.as_mut(), &w).is_pending());
    assert_eq!(block_on(many.end_run(pending())), Ok(State::Initial));
    assert_eq!(wakes(&c), 1);
    assert!(poll(done.as_mut(), &w).is_ready(), "done of the Initial instance completes");
    many_should_be(&many, State::Stopped);
    let run = many.start().unwrap();
    assert!(!run.context().is_cancelled());
    many_should_be(&many, State::Running);
}

/// S14: `end_run` on a closed `Many` is `Closed` and `cancel_run` changes nothing (upstream
/// `Stop`/`Halt`); `close` on a closed one is `Ok`.
#[test]
fn s14_end_run_on_closed() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    assert!(many.cancel());
    assert_eq!(block_on(many.end_run(pending())), Err(Error::Closed));
    assert!(!many.cancel_run(), "nothing to end once Closed");
    assert_eq!(block_on(many.close(pending())), Ok(State::Closed));
    many_should_be(&many, State::Closed);
}

/// S15: a close while running wins over a stop: the run's end is Closed.
#[test]
fn s15_close_while_running_ends_closed() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    let run = many.start().unwrap();
    assert!(many.cancel_run(), "cancels the run");
    assert!(many.cancel(), "a close to come");
    assert!(!many.cancel(), "the close is requested already");
    assert!(!many.cancel_run(), "the run is cancelled already");
    drop(run);
    many_should_be(&many, State::Closed);
}

/// S16: `Job::drive_in` (upstream `GoCtx`): the future gets a live context derived from the
/// parent; `close` cancels it and waits; once done, `error` is the future's error (`None` after success).
#[test]
fn s16_drive_in() {
    let parent = Ctx::new();
    let g = Job::<&str, Cs>::new();
    let driver = g.drive_in(&parent, async |ctx: &Ctx<'_>| {
        assert!(!ctx.is_cancelled());
        let cause = ctx.cancelled().await;
        assert_eq!(cause, Cause::Shutdown);
        Err("boom")
    });
    let (ran, closed) = block_on(join(driver, g.close(pending())));
    assert_eq!((ran, closed), (Ok(()), Ok(State::Running)));
    assert!(g.is_done());
    assert_eq!(g.error(), Some("boom"));
    assert!(!parent.is_cancelled());

    let g = Job::<&str, Cs>::new();
    assert_eq!(block_on(g.drive_in(&parent, async |_: &Ctx<'_>| Ok(()))), Ok(()));
    assert_eq!((g.state(), g.error()), (State::Closed, None));

    // The parent's cancellation reaches the future too.
    let g = Job::<&str, Cs>::new();
    let child = parent.child();
    let driver = g.drive_in(&child, async |ctx: &Ctx<'_>| {
        ctx.cancelled().await;
        Err("parent")
    });
    let (ran, ()) = block_on(join(driver, async {
        child.cancel();
    }));
    assert_eq!(ran, Ok(()));
    assert_eq!(g.take_error(), Some("parent"));
    assert_eq!(g.take_error(), None);
}

/// The error of a `Job` is stored before its end: a task woken by `done` reads the final
/// error (upstream `Go(ctx, f(*One))` has a window where it reads `nil`).
#[test]
fn job_error_visible_when_done_wakes() {
    static G_ERR: Job<&str, Cs> = Job::new();
    static SEEN: Mutex<Vec<Option<&str>>> = Mutex::new(Vec::new());
    struct Peek;
    impl ArcWake for Peek {
        fn wake_by_ref(_: &Arc<Self>) {
            SEEN.lock().unwrap().push(G_ERR.error());
        }
    }
    let peek = waker(Arc::new(Peek));
    let mut done = pin!(G_ERR.done());
    assert!(poll(done.as_mut(), &peek).is_pending());
    assert_eq!(block_on(G_ERR.drive(async |_: &Ctx<'_>| Err("failed"))), Ok(()));
    assert_eq!(*SEEN.lock().unwrap(), [Some("failed")]);
}

/// S17: `Job::cancel` returns at once; the future's context is cancelled; `done` completes
/// after the future returned.
#[test]
fn s17_job_cancel() {
    let g = Job::<(), Cs>::new();
    let (c, w) = counter();
    let mut done = pin!(g.done());
    assert!(poll(done.as_mut(), &w).is_pending());
    let mut driver = pin!(g.drive(async |ctx: &Ctx<'_>| {
        ctx.cancelled().await;
        yield_now().await; // still running after the cancel
        Ok(())
    }));
    assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
    assert!(g.cancel());
    assert!(poll(done.as_mut(), &w).is_pending(), "done waits for the future");
    assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
    assert_eq!(wakes(&c), 0);
    assert_eq!(poll(driver.as_mut(), &noop_waker()), Poll::Ready(Ok(())));
    assert_eq!(wakes(&c), 1);
    assert!(poll(done.as_mut(), &w).is_ready());
}

/// S18: the stop cannot be called twice (the guard is consumed: see the `compile_fail`
/// doctest on `Run::stop`), and a guard ends only its own run: the `done` of a later run
/// completes only when that run's guard goes.
#[test]
fn s18_guard_bound_to_its_run() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    let first = many.start().unwrap();
    let first_done = many.done();
    first.finish();
    let second = many.start().unwrap();
    let (c, w) = counter();
    let mut second_done = pin!(many.done());
    assert!(poll(second_done.as_mut(), &w).is_pending());
    assert!(ready_now(first_done));
    assert_eq!(wakes(&c), 0);
    many_should_be(&many, State::Running);
    drop(second);
    assert_eq!(wakes(&c), 1);
    assert!(poll(second_done.as_mut(), &w).is_ready());
}

// === deviations and misuse ===

/// Deviation: state and done change together. Every waiter woken by the end of a run sees the
/// final state, and `close` returns only once done is complete (upstream `One` stores Closed
/// before it closes done).
#[test]
fn state_and_done_change_together() {
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    let run = one.start().unwrap();
    let states = Mutex::new(Vec::new());
    let observer = async {
        one.done().await;
        states.lock().unwrap().push(one.state());
    };
    let closer = async {
        one.close(pending()).await.unwrap();
        states.lock().unwrap().push(one.state());
        assert!(one.is_done());
    };
    block_on(join3(observer, closer, hold_until_cancelled(run)));
    assert_eq!(*states.lock().unwrap(), [State::Closed, State::Closed]);
}

/// More tasks wait on `done` than there are waker slots: every one is woken, none lost.
#[test]
fn done_wakes_more_waiters_than_slots() {
    let root = Ctx::new();
    let many = Many::<Cs>::new(&root);
    let run = many.start().unwrap();
    let counters: Vec<_> = (0..16).map(|_| counter()).collect();
    let mut futs: Vec<_> = (0..16).map(|_| Box::pin(many.done())).collect();
    for (fut, (_, w)) in futs.iter_mut().zip(&counters) {
        assert!(poll(fut.as_mut(), w).is_pending());
    }
    drop(run);
    for (i, (fut, (c, w))) in futs.iter_mut().zip(&counters).enumerate() {
        assert!(wakes(c) >= 1, "waiter {i} woken");
        assert!(poll(fut.as_mut(), w).is_ready(), "waiter {i} done");
    }
}

/// A task dropped while it holds the guard (the hard stop) ends the run: waiters complete.
#[test]
fn dropped_resource_ends_run() {
    let root = Ctx::new();
    let one = One::<Cs>::new(&root);
    let many = Many::<Cs>::new(&root);
    {
        let mut resource = pin!(async {
            let _run = one.start().unwrap();
            let _again = many.start().unwrap();
            pending::<()>().await;
        });
        assert!(poll(resource.as_mut(), &noop_waker()).is_pending());
        one_should_be(&one, State::Running);
        many_should_be(&many, State::Running);
    }
    one_should_be(&one, State::Closed);
    many_should_be(&many, State::Stopped);
}

/// A `Job` driver dropped mid-run: Closed and done, no error stored; a closed `Job` does not run
/// its future, and a `Job` runs at most once.
#[test]
fn job_driver_dropped_and_misuse() {
    let g = Job::<&str, Cs>::new();
    {
        let mut driver = pin!(g.drive(async |ctx: &Ctx<'_>| {
            ctx.cancelled().await;
            Err("never")
        }));
        assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
        assert_eq!(g.state(), State::Running);
        assert_eq!(block_on(g.close(ready(()))), Err(Error::Deadline));
    }
    assert!(g.is_done());
    assert_eq!((g.state(), g.error()), (State::Closed, None));
    assert_eq!(block_on(g.drive(async |_: &Ctx<'_>| Ok(()))), Err(Error::Closed));

    let g = Job::<&str, Cs>::new();
    assert!(g.cancel());
    let ran = AtomicBool::new(false);
    let result = block_on(g.drive(async |_: &Ctx<'_>| {
        ran.store(true, Ordering::SeqCst);
        Ok(())
    }));
    assert_eq!(result, Err(Error::Closed));
    assert!(!ran.load(Ordering::SeqCst), "a closed G does not run its future");
}

/// A `Job` that is driven twice at once: the second driver gets `Running`.
#[test]
fn job_second_driver_running() {
    let g = Job::<(), Cs>::new();
    let mut first = pin!(g.drive(async |ctx: &Ctx<'_>| {
        ctx.cancelled().await;
        Ok(())
    }));
    assert!(poll(first.as_mut(), &noop_waker()).is_pending());
    assert_eq!(block_on(g.drive(async |_: &Ctx<'_>| Ok(()))), Err(Error::Running));
    g.cancel();
    assert_eq!(poll(first.as_mut(), &noop_waker()), Poll::Ready(Ok(())));
}

// === Group ===

/// A deadline that passes when its gate is cancelled.
async fn gate_deadline(gate: &Ctx<'_>) {
    gate.cancelled().await;
}

/// Deviation (upstream's `select` picks at random): when the end and the deadline are both
/// there at the same poll, the end wins. `One::close`, `Many::end_run` and `Group::close` each
/// wait, then the instance ends and the deadline passes before they are polled again: each
/// reports success, not `Deadline`.
#[test]
fn end_wins_tie_with_deadline() {
    let (_, w) = counter();

    let one = One::<Cs>::detached();
    let run = one.start().unwrap();
    let gate = Ctx::new();
    let mut close = pin!(one.close(gate_deadline(&gate)));
    assert!(poll(close.as_mut(), &w).is_pending());
    drop(run);
    gate.cancel();
    assert_eq!(poll(close.as_mut(), &w), Poll::Ready(Ok(State::Running)));
    one_should_be(&one, State::Closed);

    let many = Many::<Cs>::detached();
    let run = many.start().unwrap();
    let gate = Ctx::new();
    let mut stop = pin!(many.end_run(gate_deadline(&gate)));
    assert!(poll(stop.as_mut(), &w).is_pending());
    drop(run);
    gate.cancel();
    assert_eq!(poll(stop.as_mut(), &w), Poll::Ready(Ok(State::Running)));
    many_should_be(&many, State::Stopped);

    let group = Group::<u32, 1, Cs>::detached();
    let job_gate = Ctx::new();
    group.go(1).unwrap();
    let mut driver = pin!(group.drive(async |_: &Ctx<'_>, _: u32| {
        job_gate.cancelled().await; // ignores the group's cancellation
    }));
    assert!(poll(driver.as_mut(), &w).is_pending());
    let gate = Ctx::new();
    let mut close = pin!(group.close(gate_deadline(&gate)));
    assert!(poll(close.as_mut(), &w).is_pending());
    job_gate.cancel();
    assert_eq!(poll(driver.as_mut(), &w), Poll::Ready(Ok(())));
    gate.cancel();
    assert_eq!(poll(close.as_mut(), &w), Poll::Ready(Ok(())));
}

/// `Group`: jobs run concurrently on the group's context; `done` completes when all have
/// returned; `close` cancels, waits, and ends the driver; then `go` is refused.
#[test]
fn group_go_done_close() {
    let root = Ctx::new();
    let group = Group::<u32, 3, Cs>::new(&root);
    let log = Mutex::new(Vec::new());
    group.go(1).unwrap();
    group.go(2).unwrap();
    group.go(3).unwrap();
    assert_eq!(group.go(4), Err(GoError::Full(4)));
    let job = async |ctx: &Ctx<'_>, id: u32| {
        log.lock().unwrap().push(std::format!("start {id}"));
        if id == 2 {
            return; // returns at once
        }
        ctx.cancelled().await;
        log.lock().unwrap().push(std::format!("stop {id}"));
    };
    let control = async {
        for _ in 0..4 {
            yield_now().await;
        }
        assert!(!ready_now(group.done()), "jobs 1 and 3 still run");
        group.go(5).unwrap(); // job 2 freed a slot
        for _ in 0..4 {
            yield_now().await;
        }
        // Three jobs run and none is queued: running jobs count against the capacity.
        assert_eq!(group.go(7), Err(GoError::Full(7)));
        assert_eq!(group.close(pending()).await, Ok(()));
        assert_eq!(group.go(6), Err(GoError::Closed(6)));
    };
    let (ran, ()) = block_on(join(group.drive(job), control));
    assert_eq!(ran, Ok(()));
    assert!(group.is_closed());
    assert!(ready_now(group.done()));
    let mut events = log.lock().unwrap().clone();
    events.sort();
    assert_eq!(events, ["start 1", "start 2", "start 3", "start 5", "stop 1", "stop 3", "stop 5"]);
}

/// `Group::cancel` cancels the jobs' context without closing: jobs may still be handed over,
/// and `done` completes once they returned; the driver keeps running until `close`.
#[test]
fn group_cancel_then_done() {
    let root = Ctx::new();
    let group = Group::<u32, 2, Cs>::new(&root);
    group.go(1).unwrap();
    let control = async {
        yield_now().await;
        assert!(group.cancel());
        group.done().await;
        assert!(!group.is_closed());
        group.go(2).unwrap(); // runs with a cancelled context and returns at once
        group.done().await;
        group.close(pending()).await
    };
    let (ran, closed) = block_on(join(group.drive(async |ctx: &Ctx<'_>, _| _ = ctx.cancelled().await), control));
    assert_eq!((ran, closed), (Ok(()), Ok(())));
}

/// A `Group` driver dropped mid-run drops its jobs and closes the group: `done` and `close`
/// complete, `go` is refused; a second driver at the same time gets `Running`.
#[test]
fn group_driver_dropped_and_misuse() {
    let root = Ctx::new();
    let group = Group::<u32, 2, Cs>::new(&root);
    let dropped = AtomicUsize::new(0);
    struct OnDrop<'d>(&'d AtomicUsize);
    impl Drop for OnDrop<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    group.go(1).unwrap();
    group.go(2).unwrap();
    let (c, w) = counter();
    let mut wait = pin!(group.done());
    {
        let mut driver = pin!(group.drive(async |_: &Ctx<'_>, _| {
            let _guard = OnDrop(&dropped);
            pending::<()>().await;
        }));
        assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
        assert_eq!(block_on(group.drive(async |_: &Ctx<'_>, _| ())), Err(Error::Running));
        assert!(poll(wait.as_mut(), &w).is_pending());
        assert_eq!(block_on(group.close(ready(()))), Err(Error::Deadline));
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 2, "both jobs dropped with the driver");
    assert_eq!(wakes(&c), 1);
    assert!(poll(wait.as_mut(), &w).is_ready());
    assert_eq!(block_on(group.close(pending())), Ok(()));
    assert_eq!(group.go(3), Err(GoError::Closed(3)));
}

/// With `alloc`, a group takes any futures: the items are boxed futures and the job awaits
/// them (still at most `N` at once).
#[cfg(feature = "alloc")]
#[test]
fn group_of_any_futures() {
    type AnyFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
    static ROOT: Ctx<'static> = Ctx::new();
    static GROUP: Group<'static, AnyFuture, 4, Cs> = Group::new(&ROOT);
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    async fn add(n: usize) {
        COUNT.fetch_add(n, Ordering::SeqCst);
    }
    assert!(GROUP.go(Box::pin(add(1))).is_ok());
    GROUP
        .go(Box::pin(async {
            GROUP.context().cancelled().await;
            add(10).await;
        }))
        .unwrap();
    assert!(GROUP.go(Box::pin(core::future::ready(()))).is_ok());
    let (ran, closed) =
        block_on(join(GROUP.drive(async |_: &Ctx<'_>, fut: AnyFuture| fut.await), GROUP.close(pending())));
    assert_eq!((ran, closed), (Ok(()), Ok(())));
    assert_eq!(COUNT.load(Ordering::SeqCst), 11);
}

// === DynGroup ===

/// Counts drops: a guard a job holds, to see when the job is dropped.
#[cfg(feature = "alloc")]
struct DropCount<'d>(&'d AtomicUsize);

#[cfg(feature = "alloc")]
impl Drop for DropCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Gives a closure the signature of a `DynGroup` job where no `go` call gives it (a closure
/// made before it is handed over).
#[cfg(feature = "alloc")]
fn job_fn<'a, F>(job: F) -> F
where
    F: for<'c> FnOnce(&'c Ctx<'a>) -> JobFuture<'c>,
{
    job
}

/// A job of a `DynGroup` given as an `async fn`.
#[cfg(feature = "alloc")]
async fn until_cancelled(ctx: &Ctx<'_>) {
    ctx.cancelled().await;
}

/// `DynGroup`: more jobs than any fixed capacity (and than the context's inline waiter slots),
/// of different types (async closures, an `async fn`, a plain closure returning a future), all
/// run at once inside the driver; `done` ends with the last one; the driver ends at `close`.
#[cfg(feature = "alloc")]
#[test]
fn dyn_group_runs_any_jobs_concurrently() {
    // What the jobs borrow outlives the group.
    let started = AtomicUsize::new(0);
    let ended = AtomicUsize::new(0);
    let (started, ended) = (&started, &ended);
    let root = Ctx::new();
    let group = DynGroup::<Cs>::new(&root);
    for _ in 0..16 {
        group
            .go(|ctx| {
                Box::pin(async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    ctx.cancelled().await;
                    ended.fetch_add(1, Ordering::SeqCst);
                })
            })
            .unwrap();
    }
    let owned = alloc::string::String::from("owned");
    group
        .go(move |ctx| {
            Box::pin(async move {
                started.fetch_add(1, Ordering::SeqCst);
                assert_eq!(ctx.cancelled().await, Cause::Shutdown);
                assert_eq!(owned, "owned");
                ended.fetch_add(1, Ordering::SeqCst);
            })
        })
        .unwrap();
    group.go(|ctx| Box::pin(until_cancelled(ctx))).unwrap();
    group.go(|_| Box::pin(ready(()))).unwrap();
    let (c, w) = counter();
    let mut driver = pin!(group.drive());
    assert!(poll(driver.as_mut(), &w).is_pending());
    assert_eq!(started.load(Ordering::SeqCst), 17, "every job started at the first poll");
    assert_eq!(ended.load(Ordering::SeqCst), 0);
    assert!(!ready_now(group.done()), "18 jobs still run");
    assert_eq!(wakes(&c), 0);
    assert!(group.cancel());
    assert!(wakes(&c) > 0, "the jobs' context woke the driver");
    assert!(poll(driver.as_mut(), &w).is_pending(), "not closed: the driver keeps running");
    assert_eq!(ended.load(Ordering::SeqCst), 17);
    assert!(ready_now(group.done()));
    assert!(ready_now(group.close(pending())));
    assert_eq!(poll(driver.as_mut(), &w), Poll::Ready(Ok(())));
}

/// `DynGroup::go` after `close` (or after the driver ended) refuses with `Closed` and hands the
/// job back uncalled; there is no capacity limit, so never `Full`.
#[cfg(feature = "alloc")]
#[test]
fn dyn_group_go_after_close_hands_job_back() {
    let called = AtomicBool::new(false);
    let called = &called;
    let root = Ctx::new();
    let group = DynGroup::<Cs>::new(&root);
    let name = alloc::string::String::from("job");
    assert_eq!(block_on(group.close(pending())), Ok(()));
    assert!(group.is_closed());
    let refused = group
        .go(move |_| {
            Box::pin(async move {
                called.store(true, Ordering::SeqCst);
                assert_eq!(name, "job");
            })
        })
        .unwrap_err();
    assert_eq!(std::format!("{refused:?} {refused}"), "Closed(..) closed");
    let GoError::Closed(job) = refused else { panic!("never Full") };
    assert!(!called.load(Ordering::SeqCst));
    block_on(job(&Ctx::new())); // the very job, still callable
    assert!(called.load(Ordering::SeqCst));
    assert_eq!(block_on(group.drive()), Ok(()), "closed and idle: the driver ends at once");
}

/// `DynGroup::cancel` reaches every job's context (each job gets the group's context); the
/// group stays open: `done` ends once they returned, jobs handed over later see a cancelled
/// context, and the driver keeps running until `close`.
#[cfg(feature = "alloc")]
#[test]
fn dyn_group_cancel_reaches_every_job() {
    let seen = Mutex::new(Vec::new());
    let root = Ctx::new();
    let group = DynGroup::<Cs>::new(&root);
    for id in 0..6_u32 {
        let seen = &seen;
        group
            .go(move |ctx| {
                Box::pin(async move {
                    let cause = ctx.cancelled().await;
                    seen.lock().unwrap().push((id, cause));
                })
            })
            .unwrap();
    }
    let control = async {
        yield_now().await;
        assert!(seen.lock().unwrap().is_empty());
        assert!(group.cancel());
        assert!(!group.cancel(), "cancelled once");
        group.done().await;
        assert!(!group.is_closed());
        let seen = &seen;
        group
            .go(move |ctx| {
                Box::pin(async move {
                    assert!(ctx.is_cancelled());
                    seen.lock().unwrap().push((99, ctx.cause().unwrap()));
                })
            })
            .unwrap();
        group.done().await;
        group.close(pending()).await
    };
    let (ran, closed) = block_on(join(group.drive(), control));
    assert_eq!((ran, closed), (Ok(()), Ok(())));
    assert!(!root.is_cancelled(), "the parent is untouched");
    drop(group);
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable_by_key(|&(id, _)| id);
    let expected: Vec<(u32, Cause)> = [0, 1, 2, 3, 4, 5, 99].map(|id| (id, Cause::Shutdown)).into();
    assert_eq!(seen, expected);
}

/// `DynGroup::done` ends exactly when the last job ends, not before, and wakes its waiter
/// once.
#[cfg(feature = "alloc")]
#[test]
fn dyn_group_done_ends_when_last_job_ends() {
    let gates: [Ctx<'static>; 3] = [Ctx::new(), Ctx::new(), Ctx::new()];
    let root = Ctx::new();
    let group = DynGroup::<Cs>::new(&root);
    for gate in &gates {
        group
            .go(move |_| {
                Box::pin(async move {
                    gate.cancelled().await;
                })
            })
            .unwrap();
    }
    let mut driver = pin!(group.drive());
    let (c, w) = counter();
    let mut wait = pin!(group.done());
    assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
    assert!(poll(wait.as_mut(), &w).is_pending());
    gates[1].cancel();
    gates[0].cancel();
    assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
    assert_eq!(wakes(&c), 0, "one job left");
    assert!(poll(wait.as_mut(), &w).is_pending());
    gates[2].cancel();
    assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
    assert_eq!(wakes(&c), 1, "the last job woke the waiter");
    assert!(poll(wait.as_mut(), &w).is_ready());
    assert!(!group.is_closed());
    assert!(!group.context().is_cancelled(), "wait changes nothing");
}

/// `DynGroup::close` with a job that ignores its context: `Deadline`, and the group stays
/// closed and cancelled with the job still running; once it returns the driver ends, `done`
/// and a second `close` complete.
#[cfg(feature = "alloc")]
#[test]
fn dyn_group_close_deadline_with_stubborn_job() {
    let release = Ctx::new();
    let root = Ctx::new();
    let group = DynGroup::<Cs>::new(&root);
    group.go(|ctx| Box::pin(until_cancelled(ctx))).unwrap();
    let stubborn = &release;
    group
        .go(move |_| {
            Box::pin(async move {
                stubborn.cancelled().await; // ignores the group's context
            })
        })
        .unwrap();
    let mut driver = pin!(group.drive());
    assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
    let (c, w) = counter();
    let mut close = pin!(group.close(ready(())));
    assert_eq!(poll(close.as_mut(), &w), Poll::Ready(Err(Error::Deadline)));
    assert!(group.is_closed());
    assert!(group.context().is_cancelled());
    assert!(matches!(group.go(|ctx| Box::pin(until_cancelled(ctx))), Err(GoError::Closed(_))));
    assert!(poll(driver.as_mut(), &noop_waker()).is_pending(), "the stubborn job still runs");
    let mut wait = pin!(group.done());
    assert!(poll(wait.as_mut(), &w).is_pending());
    release.cancel();
    assert_eq!(poll(driver.as_mut(), &noop_waker()), Poll::Ready(Ok(())));
    assert_eq!(wakes(&c), 1);
    assert!(poll(wait.as_mut(), &w).is_ready());
    assert_eq!(block_on(group.close(pending())), Ok(()));
}

/// A `DynGroup` driver dropped mid-run drops its running and queued jobs and closes the group:
/// waiters are woken, `done` and `close` complete, `go` is refused.
#[cfg(feature = "alloc")]
#[test]
fn dyn_group_dropped_driver_closes_and_wakes() {
    let dropped = AtomicUsize::new(0);
    let root = Ctx::new();
    let group = DynGroup::<Cs>::new(&root);
    let job = || {
        let guard = DropCount(&dropped);
        job_fn(move |_| {
            Box::pin(async move {
                let _guard = &guard;
                pending::<()>().await;
            })
        })
    };
    group.go(job()).unwrap();
    group.go(job()).unwrap();
    let (c, w) = counter();
    let mut wait = pin!(group.done());
    let (c2, w2) = counter();
    let mut close = pin!(group.close(pending()));
    {
        let mut driver = pin!(group.drive());
        assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
        assert!(poll(wait.as_mut(), &w).is_pending());
        assert!(poll(close.as_mut(), &w2).is_pending());
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 2, "both jobs dropped with the driver");
    assert_eq!((wakes(&c), wakes(&c2)), (1, 1));
    assert!(poll(wait.as_mut(), &w).is_ready());
    assert_eq!(poll(close.as_mut(), &w2), Poll::Ready(Ok(())));
    assert!(group.is_closed());
    assert!(group.go(job()).is_err());
    assert_eq!(dropped.load(Ordering::SeqCst), 3, "the refused job was dropped by the caller");
}

/// A job queued while the driver is dropped (handed over after the driver's last poll) is
/// dropped uncalled with it.
#[cfg(feature = "alloc")]
#[test]
fn dyn_group_dropped_driver_drops_queued_jobs() {
    let dropped = AtomicUsize::new(0);
    let called = AtomicBool::new(false);
    let called = &called;
    let root = Ctx::new();
    let group = DynGroup::<Cs>::new(&root);
    {
        let mut driver = pin!(group.drive());
        assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
        let guard = DropCount(&dropped);
        group
            .go(move |_| {
                Box::pin(async move {
                    let _guard = guard;
                    called.store(true, Ordering::SeqCst);
                })
            })
            .unwrap();
        assert!(!ready_now(group.done()));
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert!(!called.load(Ordering::SeqCst));
    assert!(ready_now(group.done()));
}

/// A second `DynGroup` driver while one runs gets `Running`; the first is unaffected.
#[cfg(feature = "alloc")]
#[test]
fn dyn_group_second_driver_running() {
    let group = DynGroup::<Cs>::detached();
    group.go(|ctx| Box::pin(until_cancelled(ctx))).unwrap();
    let mut first = pin!(group.drive());
    assert!(poll(first.as_mut(), &noop_waker()).is_pending());
    assert_eq!(block_on(group.drive()), Err(Error::Running));
    assert!(!group.is_closed(), "the refused driver closed nothing");
    assert!(!ready_now(group.close(pending())), "the job has not returned yet");
    assert_eq!(poll(first.as_mut(), &noop_waker()), Poll::Ready(Ok(())));
}

/// A `static` `DynGroup` is `Sync`: jobs are handed over from other threads while the driver
/// runs on this one.
#[cfg(feature = "alloc")]
#[test]
fn dyn_group_static_go_from_threads() {
    static ROOT: Ctx<'static> = Ctx::new();
    static GROUP: DynGroup<'static, Cs> = DynGroup::new(&ROOT);
    static DONE: AtomicUsize = AtomicUsize::new(0);
    let handed = Arc::new(Barrier::new(5));
    let threads: Vec<_> = (1..=4_usize)
        .map(|n| {
            let handed = handed.clone();
            thread::spawn(move || {
                GROUP
                    .go(move |ctx| {
                        Box::pin(async move {
                            ctx.cancelled().await;
                            DONE.fetch_add(n, Ordering::SeqCst);
                        })
                    })
                    .unwrap();
                handed.wait();
            })
        })
        .collect();
    let control = async {
        thread::spawn({
            let handed = handed.clone();
            move || handed.wait()
        })
        .join()
        .unwrap();
        GROUP.close(pending()).await
    };
    let (ran, closed) = block_on(join(GROUP.drive(), control));
    assert_eq!((ran, closed), (Ok(()), Ok(())));
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(DONE.load(Ordering::SeqCst), 10);
}

// === auto traits and placement ===

static_assertions::assert_impl_all!(One<'static, Cs>: Send, Sync);
static_assertions::assert_impl_all!(Many<'static, Cs>: Send, Sync);
static_assertions::assert_impl_all!(Job<u32, Cs>: Send, Sync);
static_assertions::assert_impl_all!(Group<'static, u32, 4, Cs>: Send, Sync);
#[cfg(feature = "alloc")]
static_assertions::assert_impl_all!(DynGroup<'static, Cs>: Send, Sync);
static_assertions::assert_impl_all!(Run<'static, 'static, Cs>: Send, Sync);
static_assertions::assert_impl_all!(State: Send, Sync, Copy);
static_assertions::assert_impl_all!(Error: Send, Sync, Copy, core::error::Error);

/// Every handle can be a `static`, with `const` constructors.
#[test]
fn statics() {
    static ROOT: Ctx<'static> = Ctx::new();
    static ONE: One<'static, Cs> = One::new(&ROOT);
    static MANY: Many<'static, Cs> = Many::detached();
    static G1: Job<u32, Cs> = Job::new();
    static GROUP: Group<'static, u32, 4, Cs> = Group::detached();
    assert_eq!((ONE.state(), MANY.state(), G1.state()), (State::Initial, State::Initial, State::Initial));
    assert!(!GROUP.is_closed());
    assert_eq!(std::format!("{} {}", State::Running, Error::Running), "running already running");
}

// === stress ===

#[cfg(not(miri))]
const ROUNDS: usize = 2000;
#[cfg(miri)]
const ROUNDS: usize = 6;

/// Checks upstream's invariant at a point where the state may be changing: `is_done` agrees
/// with the state whenever the state did not move in between. Only for a `One`, whose state
/// never returns to an earlier one (a `Many` may go Running → Stopped → Running in between).
fn check_consistent(state: impl Fn() -> State, is_done: impl Fn() -> bool) {
    let before = state();
    let done = is_done();
    if state() == before {
        assert_eq!(done, before.is_done(), "done disagrees with {before}");
    }
}

/// Stress: threads hammer `start` (holding the run until cancelled, or ending it at once),
/// `close` and `done` on `static` `One`s. At most one instance ever runs, `close` and every
/// `done` end, and the end state is Closed with done complete.
#[test]
fn stress_one() {
    // A `One` runs once, so every round takes the next of a `static` array of them.
    static ONES: [One<'static, Cs>; ROUNDS] = [const { One::detached() }; ROUNDS];
    for (round, one) in ONES.iter().enumerate() {
        let running = AtomicUsize::new(0);
        let started = AtomicUsize::new(0);
        let barrier = Barrier::new(4);
        thread::scope(|s| {
            for holder in [true, false] {
                let (barrier, running, started) = (&barrier, &running, &started);
                s.spawn(move || {
                    barrier.wait();
                    match one.start() {
                        Ok(run) => {
                            assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "round {round}: two instances");
                            started.fetch_add(1, Ordering::SeqCst);
                            assert_eq!(one.state(), State::Running);
                            if holder {
                                block_on(run.context().cancelled());
                            }
                            running.fetch_sub(1, Ordering::SeqCst);
                            drop(run);
                        }
                        Err(e) => assert!(matches!(e, Error::Running | Error::Closed), "{e}"),
                    }
                    check_consistent(|| one.state(), || one.is_done());
                });
            }
            s.spawn(|| {
                barrier.wait();
                check_consistent(|| one.state(), || one.is_done());
                assert!(block_on(one.close(pending())).is_ok());
                assert_eq!(one.state(), State::Closed);
                assert!(one.is_done());
            });
            s.spawn(|| {
                barrier.wait();
                block_on(one.done());
                assert_eq!(one.state(), State::Closed);
            });
        });
        assert!(started.load(Ordering::SeqCst) <= 1);
        one_should_be(one, State::Closed);
    }
}

/// Stress: on one `static` `Many`, starters (some holding their run until cancelled, some
/// ending at once) race a run ender, a `cancel_run` caller and a `done` observer for many rounds, then a
/// close. At most one instance runs at a time, every `end_run` and `done` ends, `done` agrees with
/// the state, and the end state is Closed. Every loop is bounded by a count (no spinning on a
/// flag), so that the miri run stays short.
#[test]
fn stress_many() {
    static MANY: Many<'static, Cs> = Many::detached();
    let running = AtomicUsize::new(0);
    let runs = AtomicUsize::new(0);
    thread::scope(|s| {
        for holder in [true, false, true] {
            let (running, runs) = (&running, &runs);
            s.spawn(move || {
                for _ in 0..4 * ROUNDS {
                    match MANY.start() {
                        Ok(run) => {
                            assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "two instances");
                            runs.fetch_add(1, Ordering::SeqCst);
                            assert_eq!(MANY.state(), State::Running);
                            let (c, w) = counter();
                            let mut done = pin!(MANY.done());
                            assert!(poll(done.as_mut(), &w).is_pending(), "done while running");
                            if holder {
                                block_on(run.context().cancelled());
                            }
                            running.fetch_sub(1, Ordering::SeqCst);
                            drop(run);
                            // At least once: a request that ended a Initial instance may wake
                            // late, after this run began (a spurious wakeup, never a lost one).
                            assert!(wakes(&c) >= 1, "the end woke the waiter");
                            assert!(poll(done.as_mut(), &w).is_ready(), "done once the guard is gone");
                        }
                        Err(Error::Running) => thread::yield_now(),
                        Err(Error::Closed) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
        let stopper = s.spawn(|| {
            for _ in 0..ROUNDS {
                match block_on(MANY.end_run(pending())) {
                    Ok(prev) => assert_ne!(prev, State::Closed),
                    Err(e) => panic!("stop: {e}"),
                }
            }
        });
        s.spawn(|| {
            for _ in 0..ROUNDS {
                MANY.cancel_run();
                thread::yield_now();
            }
        });
        s.spawn(|| {
            // Ends at the latest with the close below: every `done` completes then.
            for _ in 0..ROUNDS {
                block_on(MANY.done());
            }
        });
        // Close even if the stopper failed, so that no thread waits for ever.
        let stopped = stopper.join();
        // But not before a run began: under load the stopper can finish before any starter
        // was scheduled. A start before the close either runs or meets a run, so this ends.
        while runs.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        assert!(block_on(MANY.close(pending())).is_ok());
        assert_eq!(MANY.state(), State::Closed);
        stopped.unwrap();
    });
    assert!(runs.load(Ordering::SeqCst) >= 1);
    many_should_be(&MANY, State::Closed);
}

/// Upstream `Many.Context()`: the context of the current run, as a view. It is cancelled by a
/// stop request, stays cancelled after the run ended and the `Many` started again (where the
/// reused context is live again), wakes a waiter when the run ends, and is cancelled at once
/// when made while no run is current.
#[test]
fn many_context_is_bound_to_its_run() {
    let many = Many::<Cs>::detached();
    let first = many.context(); // Initial: the view belongs to the first run
    assert!(!first.is_cancelled());
    let run = many.start().unwrap();
    assert!(!first.is_cancelled());
    let (c, w) = counter();
    let mut waiting = pin!(first.cancelled());
    assert!(poll(waiting.as_mut(), &w).is_pending());
    assert!(many.cancel_run()); // a request to end the run cancels the run's context
    assert!(first.is_cancelled());
    assert!(wakes(&c) >= 1);
    assert!(poll(waiting.as_mut(), &w).is_ready());
    drop(run);

    // Stopped: a view made now belongs to the run that ended.
    let stale = many.context();
    assert!(stale.is_cancelled());
    let run = many.start().unwrap();
    assert!(!run.context().is_cancelled(), "the reused context is live again");
    assert!(first.is_cancelled() && stale.is_cancelled(), "views of ended runs stay cancelled");
    assert!(ready_now(first.cancelled()));
    let second = many.context();
    assert!(!second.is_cancelled());

    // A view waiting when its run ends (the guard dropped, no request) is woken.
    let (c, w) = counter();
    let mut waiting = pin!(second.cancelled());
    assert!(poll(waiting.as_mut(), &w).is_pending());
    drop(run);
    assert!(wakes(&c) >= 1);
    assert!(poll(waiting.as_mut(), &w).is_ready());
    let _third = many.start().unwrap();
    assert!(second.is_cancelled());
}

// === defaults, the one vocabulary, servers on every core ===

static_assertions::assert_impl_all!(One<'static>: Send, Sync);
static_assertions::assert_impl_all!(Many<'static>: Send, Sync);
static_assertions::assert_impl_all!(Job<u32>: Send, Sync);
static_assertions::assert_impl_all!(Group<'static, u32>: Send, Sync);
#[cfg(feature = "alloc")]
static_assertions::assert_impl_all!(DynGroup<'static>: Send, Sync);
#[cfg(feature = "alloc")]
static_assertions::assert_impl_all!(procession::shot::OwnedRun<'static>: Send, Sync);

/// The mutex defaults to `CriticalSectionRawMutex` and a group's capacity to 4: no handle
/// needs an annotation beyond its lifetime and what it holds.
#[test]
fn defaults_need_no_annotation() {
    static ROOT: Ctx<'static> = Ctx::new();
    static ONE: One<'static> = One::new(&ROOT);
    static JOB: Job<&str> = Job::new();
    static GROUP: Group<'static, u32> = Group::detached();
    let many: Many<'_> = Many::detached();
    assert_eq!((ONE.state(), JOB.state(), many.state()), (State::Initial, State::Initial, State::Initial));
    for n in 0..4 {
        GROUP.go(n).unwrap();
    }
    assert_eq!(GROUP.go(4), Err(GoError::Full(4)), "the default capacity is 4");
}

/// `poll_done` on every handle: `Pending` (with the waker registered) until the end, `Ready`
/// after it, agreeing with `is_done`.
#[test]
fn poll_done_on_every_handle() {
    let (c, w) = counter();
    let mut cx = Context::from_waker(&w);

    let one: One<'_> = One::detached();
    let run = one.start().unwrap();
    assert!(one.poll_done(&mut cx).is_pending() && !one.is_done());
    drop(run);
    assert_eq!(wakes(&c), 1, "the end woke the waker poll_done registered");
    assert!(one.poll_done(&mut cx).is_ready() && one.is_done());

    let many: Many<'_> = Many::detached();
    let run = many.start().unwrap();
    assert!(many.poll_done(&mut cx).is_pending());
    drop(run);
    assert_eq!(wakes(&c), 2);
    assert!(many.poll_done(&mut cx).is_ready() && many.is_done());
    let _run = many.start().unwrap();
    assert!(many.poll_done(&mut cx).is_pending(), "level-triggered: pending again after a restart");

    let job: Job<()> = Job::new();
    assert!(job.poll_done(&mut cx).is_pending());
    assert!(job.cancel());
    assert!(!job.cancel(), "a second cancel changes nothing");
    assert!(job.poll_done(&mut cx).is_ready() && job.is_done());

    let group: Group<'_, u32, 2> = Group::detached();
    assert!(group.poll_done(&mut cx).is_ready() && group.is_done(), "idle");
    group.go(1).unwrap();
    assert!(group.poll_done(&mut cx).is_pending() && !group.is_done());
    let woken = wakes(&c);
    // One poll of a driver runs the job to its end; the group is not closed, so it runs on.
    assert!(!ready_now(group.drive(async |_, _| {})));
    assert!(wakes(&c) > woken, "the job's end woke the waker poll_done registered");
    assert!(group.poll_done(&mut cx).is_ready());

    #[cfg(feature = "alloc")]
    {
        let group: DynGroup<'_> = DynGroup::detached();
        group.go(|_| Box::pin(ready(()))).unwrap();
        assert!(group.poll_done(&mut cx).is_pending() && !group.is_done());
        let mut driver = pin!(group.drive());
        let woken = wakes(&c);
        assert!(poll(driver.as_mut(), &noop_waker()).is_pending());
        assert!(wakes(&c) > woken);
        assert!(group.poll_done(&mut cx).is_ready() && group.is_done());
    }
}

/// A `Many` in an `Arc` on tokio's multi-threaded runtime: handlers on worker threads start the
/// single job with an owned guard (`'static`, no `static` anywhere) and move it into the task
/// that does the work; a second start while it runs is refused; `end_run` from another task
/// ends it, and it starts again. Synchronised with channels only.
#[cfg(feature = "alloc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_run_from_spawned_handlers() {
    use procession::shot::OwnedRun;
    use tokio::sync::oneshot;

    let backup: Arc<Many<'static>> = Arc::new(Many::detached());
    for round in 0..3 {
        let (started_tx, started_rx) = oneshot::channel();
        let handler = tokio::spawn({
            let backup = backup.clone();
            async move {
                let run: OwnedRun<'static> = backup.start_owned()?;
                // The guard moves on into the worker; the handler returns at once.
                let worker = tokio::spawn(async move {
                    started_tx.send(()).unwrap();
                    run.context().cancelled().await
                });
                Ok::<_, Error>(worker)
            }
        });
        let worker = handler.await.unwrap().unwrap();
        started_rx.await.unwrap();
        assert_eq!(backup.state(), State::Running, "round {round}");
        let refused = tokio::spawn({
            let backup = backup.clone();
            async move { backup.start_owned().map(drop) }
        });
        assert_eq!(refused.await.unwrap(), Err(Error::Running));
        let ender = tokio::spawn({
            let backup = backup.clone();
            async move { backup.end_run(procession::never()).await }
        });
        assert_eq!(ender.await.unwrap(), Ok(State::Running));
        assert_eq!(worker.await.unwrap(), Cause::Shutdown);
        assert_eq!(backup.state(), State::Stopped);
    }
    assert!(backup.cancel());
    assert_eq!(backup.clone().start_owned().err(), Some(Error::Closed));
}

/// An owned guard of a `One`: dropping it (here: the worker task ends) ends the `One` for
/// good; `finish` is the same; the guard cannot end a later run (a `One` has none).
#[cfg(feature = "alloc")]
#[test]
fn owned_run_of_one_ends_it() {
    let one: Arc<One<'static>> = Arc::new(One::detached());
    let run = one.clone().start_owned().unwrap();
    assert_eq!(one.clone().start_owned().err(), Some(Error::Running));
    assert!(!run.context().is_cancelled());
    one_should_be(&one, State::Running);
    let worker = thread::spawn(move || run.finish());
    worker.join().unwrap();
    one_should_be(&one, State::Closed);
    assert_eq!(Arc::strong_count(&one), 1, "the guard gave its clone back");
}

/// The `DynGroup` driver is `Send`: a group in an `Arc` is driven by a `tokio::spawn`ed task on
/// the multi-threaded runtime, handlers on worker threads hand it jobs, and `close` ends it.
#[cfg(feature = "alloc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dyn_group_driver_spawned_on_multi_thread_runtime() {
    use tokio::sync::mpsc;

    let group: Arc<DynGroup<'static>> = Arc::new(DynGroup::detached());
    let driver = tokio::spawn({
        let group = group.clone();
        async move { group.drive().await }
    });
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let served = Arc::new(AtomicUsize::new(0));
    let handlers: Vec<_> = (0..8_usize)
        .map(|n| {
            let (group, started_tx, served) = (group.clone(), started_tx.clone(), served.clone());
            tokio::spawn(async move {
                group
                    .go(move |ctx| {
                        Box::pin(async move {
                            started_tx.send(n).unwrap();
                            ctx.cancelled().await;
                            served.fetch_add(1, Ordering::SeqCst);
                        })
                    })
                    .map_err(drop)
            })
        })
        .collect();
    for handler in handlers {
        handler.await.unwrap().unwrap();
    }
    let mut started: Vec<usize> = Vec::new();
    for _ in 0..8 {
        started.push(started_rx.recv().await.unwrap());
    }
    started.sort_unstable();
    assert_eq!(started, (0..8).collect::<Vec<_>>(), "every job runs inside the spawned driver");
    assert_eq!(served.load(Ordering::SeqCst), 0);
    assert_eq!(group.close(procession::never()).await, Ok(()));
    assert_eq!(served.load(Ordering::SeqCst), 8);
    assert_eq!(driver.await.unwrap(), Ok(()));
}

/// A `Job` and a `Group` in an `Arc` are driven by `tokio::spawn`ed tasks too: their drivers
/// are `Send` when the job's future is (checked where they are spawned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_and_group_drivers_spawned_on_multi_thread_runtime() {
    let job: Arc<Job<&'static str>> = Arc::new(Job::new());
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let driver = tokio::spawn({
        let job = job.clone();
        async move {
            job.drive(async move |ctx: &Ctx<'_>| {
                started_tx.send(()).unwrap();
                ctx.cancelled().await;
                Err("interrupted")
            })
            .await
        }
    });
    started_rx.await.unwrap();
    let closer = tokio::spawn({
        let job = job.clone();
        async move { job.close(procession::never()).await }
    });
    assert_eq!(closer.await.unwrap(), Ok(State::Running));
    assert_eq!(driver.await.unwrap(), Ok(()));
    assert_eq!(job.take_error(), Some("interrupted"));
    assert_eq!(job.error(), None, "taken");
    assert!(job.is_done());

    // The job function captures nothing (a capture would be borrowed by every call's future,
    // which the compiler cannot prove `Send` for every lifetime); what a job needs comes with
    // its item.
    let group: Arc<Group<'static, (u32, Arc<AtomicUsize>)>> = Arc::new(Group::detached());
    let sum = Arc::new(AtomicUsize::new(0));
    let driver = tokio::spawn({
        let group = group.clone();
        async move {
            group
                .drive(async |ctx: &Ctx<'_>, (n, sum): (u32, Arc<AtomicUsize>)| {
                    tokio::task::yield_now().await;
                    assert!(!ctx.is_cancelled());
                    sum.fetch_add(n as usize, Ordering::SeqCst);
                })
                .await
        }
    });
    for n in 1..=3 {
        group.go((n, sum.clone())).map_err(drop).unwrap();
    }
    group.done().await;
    assert_eq!(sum.load(Ordering::SeqCst), 6);
    assert_eq!(group.close(procession::never()).await, Ok(()));
    assert_eq!(driver.await.unwrap(), Ok(()));
}
