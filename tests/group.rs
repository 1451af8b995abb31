//! `group::Group` and `group::DynGroup`: upstream's Group tests (pact supervisor, group_test.go
//! and example_test.go), then the generations, the bounded stop and the misuse cases.
#![allow(clippy::std_instead_of_alloc, clippy::result_large_err, reason = "tests on std")]

mod common;

use core::future::{Future, pending};
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Waker};
use core::time::Duration;
use std::sync::Arc;
use std::task::Wake;

use common::{Error, Fail, Log, block_on, block_on_within, fail, yield_now};
use embassy_futures::join::join;
use embassy_futures::select::{Either, select};
use procession::group::{self, GoError, Group};
use procession::time::{Clock, ManualClock};
use procession::{Cause, Ctx, Overrun, Phase, Runner, StopLevel, never, nop};

impl From<group::Error> for Fail {
    fn from(error: group::Error) -> Self {
        match error {
            group::Error::Busy => Self::At("busy"),
            group::Error::Closed => Self::At("closed"),
            group::Error::Overrun(overrun) => overrun.into(),
            _ => Self::At("other"),
        }
    }
}

/// One test at a time: a test without `alloc` fills the program-wide spill table.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// === a child that behaves as told ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// Ready; returns when its callback does.
    Normal,
    /// Fails before it is ready.
    FailStart,
    /// Waits for its context to be cancelled before it is ready, then gives up.
    NeverReady,
    /// Never ready, and ignores cancellation: only the hard stop ends it.
    NeverReadyDeaf,
    /// Ready, then fails while its callback runs (cancels the callback's context).
    FailRunning,
    /// Ready, then drops its callback unfinished and fails.
    DropCallback,
    /// Ready; after its callback returns, keeps running until its context is cancelled.
    IgnoresGraceful,
    /// Ready; after its callback returns, ignores everything.
    Deaf,
}

#[derive(Clone, Debug)]
struct Kid {
    name: &'static str,
    how: How,
    log: Log,
}

fn kid(name: &'static str, how: How, log: &Log) -> Kid {
    Kid { name, how, log: log.clone() }
}

fn cause(ctx: &Ctx<'_>) -> String {
    ctx.cause().map(|c| format!(" ({c})")).unwrap_or_default()
}

impl Runner<Error> for Kid {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        let name = self.name;
        self.log.push(format!("start {name}"));
        match self.how {
            How::FailStart => return Err(fail(name)),
            How::NeverReady => {
                ctx.cancelled().await;
                self.log.push(format!("gave up {name}{}", cause(ctx)));
                return Err(fail(name));
            }
            How::NeverReadyDeaf => pending().await,
            _ => {}
        }
        let inner = ctx.child();
        self.log.push(format!("ready {name}"));
        let result = match self.how {
            How::FailRunning => {
                let failing = async {
                    yield_now().await;
                    inner.cancel_with(Cause::DependencyFailed);
                };
                let (result, ()) = join(ready(&inner), failing).await;
                result.and(Err(fail(name)))
            }
            How::DropCallback => {
                let trip = async {
                    for _ in 0..3 {
                        yield_now().await;
                    }
                };
                match select(ready(&inner), trip).await {
                    Either::First(result) => result,
                    Either::Second(()) => {
                        self.log.push(format!("dropped callback {name}"));
                        Err(fail(name))
                    }
                }
            }
            _ => ready(&inner).await,
        };
        self.log.push(format!("stop {name}{}", cause(ctx)));
        match self.how {
            How::IgnoresGraceful => {
                ctx.cancelled().await;
                self.log.push(format!("forced {name}{}", cause(ctx)));
            }
            How::Deaf => pending().await,
            _ => {}
        }
        result
    }
}

/// `block_on`, failing the test instead of hanging if the future has not completed within a
/// budget of polls.
fn within<F: Future>(fut: F) -> F::Output {
    block_on_within(10_000, fut)
}

fn show(result: &Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(e) => e.errors().iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
    }
}

fn make(k: &Kid) -> Kid {
    k.clone()
}

/// The at-exit function of the tests: logs `exit NAME: RESULT`.
fn exits(log: &Log) -> impl Fn(&Kid, Result<(), Error>) + '_ {
    move |k: &Kid, result: Result<(), Error>| log.push(format!("exit {}: {}", k.name, show(&result)))
}

fn has(log: &Log, event: &str) -> bool {
    log.events().iter().any(|e| e == event)
}

/// Lets the other arms of a `join` run until nothing changes any more.
async fn settle() {
    for _ in 0..20 {
        yield_now().await;
    }
}

/// The driver of `group`, run beside `control`, which ends the group with a graceful
/// `stop` at the end; returns what `control` returned.
fn with_driver<const N: usize, T>(group: &Group<'_, Kid, N>, log: &Log, control: impl Future<Output = T>) -> T {
    let root = Ctx::new();
    let control = async {
        let out = control.await;
        let _ = group.stop(never, never).await;
        out
    };
    let (driven, out) = within(join(group.drive(&root, make, exits(log)), control));
    assert_eq!(driven, Ok(()));
    out
}

// === upstream ===

/// Port of `TestGroupRunEmpty`: an empty group runs its callback and returns its result;
/// wait and interrupt on an empty group do not block.
#[test]
fn test_group_run_empty() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    let root = Ctx::new();
    let mut called = false;
    let result = within(group.runner(make, exits(&log)).run(&root, async |_| {
        called = true;
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert!(called);
    assert!(group.interrupt());
    within(group.wait());
    assert!(log.events().is_empty());
}

/// Port of `TestGroupGoInRun`: a child handed over inside the run's callback is stopped and
/// awaited when the callback returns; nothing is left running.
#[test]
fn test_group_go_in_run() {
    let _serial = serial();
    let log = Log::new();
    let root = Ctx::new();
    let group: Group<'_, Kid> = Group::new(&root);
    let result = within(group.runner(make, exits(&log)).run(&root, async |_| {
        group.go(kid("nop", How::Normal, &log)).unwrap();
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert!(group.is_done());
    assert_eq!(log.events(), ["start nop", "ready nop", "stop nop", "exit nop: ok"]);
}

/// Port of `TestGroupGoAndInterrupt`: a child handed over is started and parked in its
/// callback; interrupt (twice: idempotent) stops it, and wait sees its exit.
#[test]
fn test_group_go_and_interrupt() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    with_driver(&group, &log, async {
        group.go(kid("a", How::Normal, &log)).unwrap();
        settle().await;
        assert!(has(&log, "ready a"));
        assert!(!has(&log, "exit a: ok"), "parked in its callback");
        assert!(group.interrupt());
        assert!(!group.interrupt(), "a second interrupt changes nothing");
        group.wait().await;
        assert!(has(&log, "exit a: ok"));
    });
}

/// Port of `ExampleGroupBuilder`: a fresh group per run (a group local to the run's future),
/// its child interrupted and awaited when the callback returns; no hang, run twice.
#[test]
fn example_group_builder() {
    let _serial = serial();
    struct PerRun {
        log: Log,
    }
    impl Runner<Error> for PerRun {
        async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
        where
            F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
        {
            let group: Group<'_, Kid> = Group::new(ctx);
            group.go(kid("nop", How::Normal, &self.log)).unwrap();
            group.runner(make, exits(&self.log)).run(ctx, ready).await
        }
    }
    let log = Log::new();
    let runner = PerRun { log: log.clone() };
    let root = Ctx::new();
    for _ in 0..2 {
        assert_eq!(within(runner.run(&root, async |_| Ok(()))), Ok(()));
        assert_eq!(log.take(), ["start nop", "ready nop", "stop nop", "exit nop: ok"]);
    }
}

// === generations ===

/// An interrupt before any child leaves the generation closed: the next children stop as
/// soon as they are ready, until a wait opens a new generation.
#[test]
fn interrupt_before_go_leaves_the_generation_closed() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    with_driver(&group, &log, async {
        assert!(group.interrupt());
        group.go(kid("a", How::Normal, &log)).unwrap();
        settle().await;
        assert_eq!(log.take(), ["start a", "ready a", "stop a", "exit a: ok"]);
        // Still closed: the next one too.
        group.go(kid("b", How::Normal, &log)).unwrap();
        settle().await;
        assert_eq!(log.take(), ["start b", "ready b", "stop b", "exit b: ok"]);
        // A wait on the idle group opens a new generation.
        group.wait().await;
        group.go(kid("c", How::Normal, &log)).unwrap();
        settle().await;
        assert_eq!(log.take(), ["start c", "ready c"], "c runs in the new generation");
        assert!(group.interrupt());
        group.wait().await;
        assert_eq!(log.take(), ["stop c", "exit c: ok"]);
    });
}

/// A child handed over while a wait is pending joins the generation waited on: it is
/// interrupted with it, and the wait completes only after it returned too.
#[test]
fn go_during_wait_joins_the_generation() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    with_driver(&group, &log, async {
        group.go(kid("a", How::Normal, &log)).unwrap();
        settle().await;
        let mut wait = pin!(group.wait());
        assert!(futures::poll!(wait.as_mut()).is_pending());
        // `b` is handed over during the wait, and is slow to stop: it ignores the graceful
        // stop until its context is cancelled.
        group.go(kid("b", How::IgnoresGraceful, &log)).unwrap();
        settle().await;
        assert!(group.interrupt());
        settle().await;
        assert!(has(&log, "exit a: ok"));
        assert!(has(&log, "stop b"), "b was interrupted with a");
        assert!(futures::poll!(wait.as_mut()).is_pending(), "b has not returned yet");
        assert!(group.cancel());
        wait.await;
        assert!(has(&log, "exit b: ok"));
        // The new generation is open.
        group.go(kid("c", How::Normal, &log)).unwrap();
        settle().await;
        assert!(has(&log, "ready c") && !has(&log, "stop c"));
    });
}

/// `done` waits for an idle group without opening a generation: after it, the generation is
/// still interrupted.
#[test]
fn done_leaves_the_generation() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    with_driver(&group, &log, async {
        group.go(kid("a", How::Normal, &log)).unwrap();
        settle().await;
        assert!(!group.is_done());
        group.interrupt();
        group.done().await;
        assert!(group.is_done());
        group.go(kid("b", How::Normal, &log)).unwrap();
        settle().await;
        assert!(has(&log, "exit b: ok"), "still interrupted");
    });
}

// === the children breaking the contract ===

/// Children that fail at start, fail while running, or drop their callback are reported to
/// `at_exit` with their errors; the group goes on and the wait completes.
#[test]
fn failing_children_are_reported() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    with_driver(&group, &log, async {
        group.go(kid("s", How::FailStart, &log)).unwrap();
        group.go(kid("r", How::FailRunning, &log)).unwrap();
        group.go(kid("d", How::DropCallback, &log)).unwrap();
        group.go(kid("ok", How::Normal, &log)).unwrap();
        settle().await;
        assert!(has(&log, "exit s: s"));
        assert!(has(&log, "exit r: r"));
        assert!(has(&log, "dropped callback d") && has(&log, "exit d: d"));
        assert!(!has(&log, "exit ok: ok"), "the others are not disturbed");
        group.interrupt();
        group.wait().await;
        assert!(has(&log, "exit ok: ok"));
    });
}

/// A child that never becomes ready is not stopped by the interrupt (it has no callback to
/// return); the stop's forced level cancels it.
#[test]
fn never_ready_is_forced_by_stop() {
    let _serial = serial();
    let log = Log::new();
    let clock: ManualClock = ManualClock::new();
    let group: Group<'static, Kid> = Group::detached();
    let root = Ctx::new();
    let control = async {
        group.go(kid("n", How::NeverReady, &log)).unwrap();
        settle().await;
        let stop = group.stop(|| clock.sleep(Duration::from_secs(1)), || clock.sleep(Duration::from_secs(1)));
        let time = async {
            clock.wait_sleeping(1).await;
            assert!(!has(&log, "gave up n (deadline)"));
            clock.advance(Duration::from_secs(1));
        };
        join(stop, time).await.0
    };
    let (driven, stopped) = within(join(group.drive(&root, make, exits(&log)), control));
    assert_eq!(driven, Ok(()));
    assert_eq!(stopped, Err(group::Error::Overrun(Overrun::new(Phase::Stop, StopLevel::Forced))));
    assert_eq!(log.events(), ["start n", "gave up n (deadline)", "exit n: n"]);
}

/// A child that ignores its graceful stop is cancelled when the graceful deadline passes:
/// the stop reports the forced level.
#[test]
fn ignoring_the_graceful_stop_reaches_the_forced_level() {
    let _serial = serial();
    let log = Log::new();
    let clock: ManualClock = ManualClock::new();
    let group: Group<'static, Kid> = Group::detached();
    let root = Ctx::new();
    let control = async {
        group.go(kid("a", How::Normal, &log)).unwrap();
        group.go(kid("slow", How::IgnoresGraceful, &log)).unwrap();
        settle().await;
        let stop = group.stop(|| clock.sleep(Duration::from_secs(5)), || clock.sleep(Duration::from_secs(5)));
        let time = async {
            clock.wait_sleeping(1).await;
            settle().await;
            assert!(has(&log, "exit a: ok") && has(&log, "stop slow"));
            assert!(!has(&log, "exit slow: ok"));
            clock.advance(Duration::from_secs(5));
        };
        join(stop, time).await.0
    };
    let (driven, stopped) = within(join(group.drive(&root, make, exits(&log)), control));
    assert_eq!(driven, Ok(()));
    assert_eq!(stopped, Err(group::Error::Overrun(Overrun::new(Phase::Stop, StopLevel::Forced))));
    assert!(has(&log, "forced slow (deadline)"));
    assert!(has(&log, "exit slow: ok"));
    assert_eq!(group.go(kid("late", How::Normal, &log)).map_err(|e| e.into_inner().name), Err("late"));
}

/// Children that ignore both the graceful and the forced stop are dropped when the forced
/// deadline passes; each is reported with an overrun of the hard level.
#[test]
fn deaf_children_reach_the_hard_level() {
    let _serial = serial();
    let log = Log::new();
    let clock: ManualClock = ManualClock::new();
    let group: Group<'static, Kid> = Group::detached();
    let root = Ctx::new();
    let control = async {
        group.go(kid("deaf", How::Deaf, &log)).unwrap();
        group.go(kid("mute", How::NeverReadyDeaf, &log)).unwrap();
        settle().await;
        let stop = group.stop(|| clock.sleep(Duration::from_secs(1)), || clock.sleep(Duration::from_secs(2)));
        let time = async {
            clock.wait_sleeping(1).await;
            clock.advance(Duration::from_secs(1));
            clock.wait_sleeping(1).await;
            assert!(log.events().iter().all(|e| !e.starts_with("exit")));
            clock.advance(Duration::from_secs(2));
        };
        join(stop, time).await.0
    };
    let (driven, stopped) = within(join(group.drive(&root, make, exits(&log)), control));
    assert_eq!(driven, Ok(()));
    assert_eq!(stopped, Err(group::Error::Overrun(Overrun::new(Phase::Stop, StopLevel::Hard))));
    assert!(has(&log, "exit deaf: stop overrun: hard"));
    assert!(has(&log, "exit mute: stop overrun: hard"));
}

// === contexts ===

/// A cancelled run leaves no child behind: cancelling the run's context cancels every child
/// with `Cause::Parent`, and the run returns once they all have.
#[test]
fn cancelled_run_cancels_the_children() {
    let _serial = serial();
    let log = Log::new();
    let root = Ctx::new();
    let group_parent = Ctx::new();
    let group: Group<'_, Kid> = Group::new(&group_parent);
    let result = within(group.runner(make, exits(&log)).run(&root, async |ctx| {
        group.go(kid("n", How::NeverReady, &log)).unwrap();
        group.go(kid("slow", How::IgnoresGraceful, &log)).unwrap();
        settle().await;
        root.cancel();
        ctx.cancelled().await;
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert!(has(&log, "gave up n (parent ended)"));
    assert!(has(&log, "forced slow (parent ended)"));
    assert!(has(&log, "exit n: n") && has(&log, "exit slow: ok"));
    assert!(!group_parent.is_cancelled(), "the group's own context is untouched");
}

/// Cancelling the group's parent cancels the children with the parent's cause.
#[test]
fn parent_cancellation_reaches_the_children() {
    let _serial = serial();
    let log = Log::new();
    let parent = Ctx::new();
    let group: Group<'_, Kid> = Group::new(&parent);
    with_driver(&group, &log, async {
        group.go(kid("n", How::NeverReady, &log)).unwrap();
        settle().await;
        parent.cancel();
        group.done().await;
        assert!(has(&log, "gave up n (shutdown)"));
    });
}

// === misuse ===

/// More than `N` children at once are refused with the item handed back; after a stop every
/// item is refused as closed.
#[test]
fn capacity_full_and_closed() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid, 2> = Group::detached();
    let name = |e: GoError<Kid>| match e {
        GoError::Full(k) => ("full", k.name),
        GoError::Closed(k) => ("closed", k.name),
    };
    group.go(kid("1", How::Normal, &log)).unwrap();
    group.go(kid("2", How::Normal, &log)).unwrap();
    assert_eq!(group.go(kid("3", How::Normal, &log)).map_err(name), Err(("full", "3")));
    // Running children count too: with both running, a third is refused.
    let root = Ctx::new();
    let control = async {
        settle().await;
        assert!(has(&log, "ready 1") && has(&log, "ready 2"));
        assert_eq!(group.go(kid("3", How::Normal, &log)).map_err(name), Err(("full", "3")));
        group.interrupt();
        group.wait().await;
        group.go(kid("3", How::Normal, &log)).unwrap();
        group.go(kid("4", How::Normal, &log)).unwrap();
    };
    {
        let drive = group.drive(&root, make, exits(&log));
        within(select(drive, control));
    }
    assert_eq!(log.take().iter().filter(|e| e.starts_with("exit")).count(), 2);
    // No driver now: the stop drops what never started.
    assert_eq!(within(group.stop(never, never)), Ok(()));
    assert!(group.is_closed() && group.is_done());
    assert_eq!(group.go(kid("5", How::Normal, &log)).map_err(name), Err(("closed", "5")));
    assert!(log.events().is_empty(), "3 and 4 never ran");
}

/// A second driver is an error value, and so is a run of the `Runner` form while a driver
/// runs, or of a closed group (its callback is not called).
#[test]
fn second_driver_is_an_error() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    let root = Ctx::new();
    let control = async {
        assert_eq!(group.drive(&root, make, exits(&log)).await, Err(group::Error::Busy));
        let runner = group.runner(make, exits(&log));
        assert_eq!(runner.run(&root, async |_| panic!("not called")).await, Err(fail("busy")));
        group.stop(never, never).await
    };
    let (driven, stopped) = within(join(group.drive(&root, make, exits(&log)), control));
    assert_eq!((driven, stopped), (Ok(()), Ok(())));
    let runner = group.runner(make, exits(&log));
    assert_eq!(within(runner.run(&root, async |_| panic!("not called"))), Err(fail("closed")));
}

/// A driver dropped while children run drops them, closes the group and completes every
/// wait; a later stop reports the hard level.
#[test]
fn driver_dropped_mid_run() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    let root = Ctx::new();
    group.go(kid("a", How::Normal, &log)).unwrap();
    {
        let mut drive = pin!(group.drive(&root, make, exits(&log)));
        let waker = Waker::noop();
        assert!(drive.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
        assert!(has(&log, "ready a"));
    }
    let mut wait = pin!(group.wait());
    let mut done = pin!(group.done());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(wait.as_mut().poll(&mut cx).is_ready());
    assert!(done.as_mut().poll(&mut cx).is_ready());
    assert!(group.is_closed());
    assert!(matches!(group.go(kid("b", How::Normal, &log)), Err(GoError::Closed(_))));
    assert_eq!(
        within(group.stop(never, never)),
        Err(group::Error::Overrun(Overrun::new(Phase::Stop, StopLevel::Hard)))
    );
    assert!(!has(&log, "exit a: ok"), "a dropped child is not reported");
}

/// A driver dropped while no child runs only gives its place up: the items queued meanwhile
/// wait for the next driver.
#[test]
fn idle_driver_dropped_detaches() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    let root = Ctx::new();
    {
        let mut drive = pin!(group.drive(&root, make, exits(&log)));
        assert!(drive.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    }
    assert!(!group.is_closed());
    group.go(kid("a", How::Normal, &log)).unwrap();
    with_driver(&group, &log, async {
        settle().await;
        assert!(has(&log, "ready a"));
    });
    assert!(has(&log, "exit a: ok"));
}

/// Children handed over from several threads while the driver runs on another: every one is
/// run and reported once.
#[test]
fn go_from_several_threads() {
    let _serial = serial();
    const EACH: usize = 4;
    let log = Log::new();
    let group: Group<'static, Kid, 16> = Group::detached();
    let exited = AtomicUsize::new(0);
    let (sent, all_sent) = futures::channel::oneshot::channel::<()>();
    std::thread::scope(|s| {
        let senders: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..EACH {
                        group.go(kid("t", How::Normal, &log)).unwrap();
                    }
                })
            })
            .collect();
        s.spawn(move || {
            senders.into_iter().for_each(|t| t.join().unwrap());
            sent.send(()).unwrap();
        });
        let root = Ctx::new();
        let count = |_: &Kid, result: Result<(), Error>| {
            assert_eq!(result, Ok(()));
            exited.fetch_add(1, Ordering::SeqCst);
        };
        let control = async {
            all_sent.await.unwrap();
            group.stop(never, never).await
        };
        assert_eq!(block_on(join(group.drive(&root, make, count), control)), (Ok(()), Ok(())));
    });
    assert_eq!(exited.load(Ordering::SeqCst), 4 * EACH);
}

// === nothing spins ===

#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> (Arc<Counter>, Waker) {
    let counter = Arc::new(Counter::default());
    (counter.clone(), Waker::from(counter))
}

fn wakes(c: &Counter) -> usize {
    c.0.load(Ordering::SeqCst)
}

/// An idle driver, a parked child and a pending wait sleep: polled again without a change
/// they stay pending and nothing wakes them; each real change wakes them.
#[test]
fn idle_polls_are_bounded() {
    let _serial = serial();
    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    let root = Ctx::new();
    let (driver_wakes, driver_waker) = counter();
    let mut cx = Context::from_waker(&driver_waker);
    let mut drive = pin!(group.drive(&root, make, exits(&log)));
    assert!(drive.as_mut().poll(&mut cx).is_pending());
    for _ in 0..10 {
        assert!(drive.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(wakes(&driver_wakes), 0, "an idle driver is not woken");
    group.go(kid("a", How::Normal, &log)).unwrap();
    assert!(wakes(&driver_wakes) >= 1, "a go wakes the driver");
    let before = wakes(&driver_wakes);
    assert!(drive.as_mut().poll(&mut cx).is_pending());
    assert!(has(&log, "ready a"));
    for _ in 0..10 {
        assert!(drive.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(wakes(&driver_wakes), before, "a parked child wakes nothing");

    let (wait_wakes, wait_waker) = counter();
    let mut wait = pin!(group.wait());
    for _ in 0..10 {
        assert!(wait.as_mut().poll(&mut Context::from_waker(&wait_waker)).is_pending());
    }
    assert_eq!(wakes(&wait_wakes), 0, "a pending wait is not woken");
    group.interrupt();
    assert!(wakes(&driver_wakes) > before, "the interrupt wakes the child");
    assert!(drive.as_mut().poll(&mut cx).is_pending());
    assert!(has(&log, "exit a: ok"));
    assert_eq!(wakes(&wait_wakes), 1, "the end of the generation wakes the wait once");
    assert!(wait.as_mut().poll(&mut Context::from_waker(&wait_waker)).is_ready());
}

// === a static group ===

static ROOT: Ctx<'static> = Ctx::new();
static STATIC: Group<'static, u8, 2> = Group::new(&ROOT);

/// A group in a `static` (const `new`, default mutex), used through the `Runner` form.
#[test]
fn static_group() {
    let _serial = serial();
    let exited = AtomicUsize::new(0);
    let count = |_: &u8, result: Result<(), Error>| {
        assert_eq!(result, Ok(()));
        exited.fetch_add(1, Ordering::SeqCst);
    };
    let root = Ctx::new();
    let runner = STATIC.runner(|_: &u8| nop(), count);
    let result = within(runner.run(&root, async |_| {
        STATIC.go(1).unwrap();
        STATIC.go(2).unwrap();
        assert!(matches!(STATIC.go(3), Err(GoError::Full(3))));
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert_eq!(exited.load(Ordering::SeqCst), 2);
}

// === the boxed form ===

#[cfg(feature = "alloc")]
mod dyn_group {
    use super::*;
    use procession::group::DynGroup;
    use procession::runner::Lifecycle;
    use procession::{from_fn, parallel};

    fn exit(log: &Log, name: &'static str) -> impl FnOnce(Result<(), Error>) + Send + 'static {
        let log = log.clone();
        move |result| log.push(format!("exit {name}: {}", show(&result)))
    }

    /// Port of `TestGroupGoInRun` on the boxed group, with runners of different types.
    #[test]
    fn dyn_go_in_run() {
        let log = Log::new();
        let root = Ctx::new();
        let group: DynGroup<'_, Error> = DynGroup::new(&root);
        let result = within(group.run(&root, async |_| {
            group.go(kid("a", How::Normal, &log), exit(&log, "a")).unwrap();
            group.go(parallel([nop(), nop()]), exit(&log, "p")).unwrap();
            group
                .go(
                    from_fn(async |_: &Ctx<'_>, lifecycle: &Lifecycle<'_>| {
                        lifecycle.ready();
                        lifecycle.stop_requested().await;
                        Ok(())
                    }),
                    exit(&log, "f"),
                )
                .unwrap();
            settle().await;
            Ok(())
        }));
        assert_eq!(result, Ok(()));
        assert!(has(&log, "exit a: ok") && has(&log, "exit p: ok") && has(&log, "exit f: ok"));
    }

    /// Generations, go during wait and the interrupt before any child, on the boxed group.
    #[test]
    fn dyn_generations() {
        let log = Log::new();
        let root = Ctx::new();
        let group: DynGroup<'_, Error> = DynGroup::new(&root);
        let control = async {
            assert!(group.interrupt());
            group.go(kid("a", How::Normal, &log), exit(&log, "a")).unwrap();
            settle().await;
            assert!(has(&log, "exit a: ok"), "interrupted at once");
            group.wait().await;
            group.go(kid("b", How::Normal, &log), exit(&log, "b")).unwrap();
            let mut wait = pin!(group.wait());
            assert!(futures::poll!(wait.as_mut()).is_pending());
            group.go(kid("c", How::Normal, &log), exit(&log, "c")).unwrap();
            settle().await;
            assert!(!has(&log, "exit b: ok") && has(&log, "ready c"));
            group.interrupt();
            wait.await;
            assert!(has(&log, "exit b: ok") && has(&log, "exit c: ok"));
            group.stop(never, never).await
        };
        let (driven, stopped) = within(join(group.drive(&root), control));
        assert_eq!((driven, stopped), (Ok(()), Ok(())));
    }

    /// The bounded stop on the boxed group reaches the hard level; a second driver is an
    /// error value; a go after the stop hands the pair back.
    #[test]
    fn dyn_stop_hard_and_misuse() {
        let log = Log::new();
        let clock: ManualClock = ManualClock::new();
        let root = Ctx::new();
        let group: DynGroup<'_, Error> = DynGroup::new(&root);
        let control = async {
            assert_eq!(group.drive(&root).await, Err(group::Error::Busy));
            group.go(kid("deaf", How::Deaf, &log), exit(&log, "deaf")).unwrap();
            settle().await;
            let stop = group.stop(|| clock.sleep(Duration::from_secs(1)), || clock.sleep(Duration::from_secs(1)));
            let time = async {
                clock.wait_sleeping(1).await;
                clock.advance(Duration::from_secs(1));
                clock.wait_sleeping(1).await;
                clock.advance(Duration::from_secs(1));
            };
            join(stop, time).await.0
        };
        let (driven, stopped) = within(join(group.drive(&root), control));
        assert_eq!(driven, Ok(()));
        assert_eq!(stopped, Err(group::Error::Overrun(Overrun::new(Phase::Stop, StopLevel::Hard))));
        assert!(has(&log, "exit deaf: stop overrun: hard"));
        let refused = group.go(kid("late", How::Normal, &log), exit(&log, "late"));
        assert!(matches!(refused, Err(GoError::Closed((k, _))) if k.name == "late"));
    }

    /// A cancelled run of the boxed group leaves no child behind.
    #[test]
    fn dyn_cancelled_run() {
        let log = Log::new();
        let root = Ctx::new();
        let group: DynGroup<'static, Error> = DynGroup::detached();
        let result = within(group.run(&root, async |ctx| {
            group.go(kid("n", How::NeverReady, &log), exit(&log, "n")).unwrap();
            settle().await;
            root.cancel();
            ctx.cancelled().await;
            Ok(())
        }));
        assert_eq!(result, Ok(()));
        assert!(has(&log, "gave up n (parent ended)") && has(&log, "exit n: n"));
    }
}

// === no heap ===

/// A heap-free error type, as on a microcontroller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tiny {
    Overrun,
}

impl From<Overrun> for Tiny {
    fn from(_: Overrun) -> Self {
        Self::Overrun
    }
}

/// The fixed-capacity group allocates nothing while it runs: `go`, the driver with its
/// children, `interrupt`, `wait` and `stop` (every future polled by hand with a no-op waker).
#[test]
fn fixed_group_allocates_nothing() {
    let _serial = serial();
    let root = Ctx::new();
    let group: Group<'_, u8, 2> = Group::new(&root);
    let exited = AtomicUsize::new(0);
    let at_exit = |_: &u8, result: Result<(), Tiny>| {
        assert_eq!(result, Ok(()));
        exited.fetch_add(1, Ordering::Relaxed);
    };
    let mut cx = Context::from_waker(Waker::noop());
    let info = allocation_counter::measure(|| {
        let mut drive = pin!(group.drive(&root, |_: &u8| nop(), at_exit));
        group.go(1).unwrap();
        group.go(2).unwrap();
        assert!(drive.as_mut().poll(&mut cx).is_pending());
        let mut wait = pin!(group.wait());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        group.interrupt();
        assert!(drive.as_mut().poll(&mut cx).is_pending());
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        let mut stop = pin!(group.stop(never, never));
        assert!(stop.as_mut().poll(&mut cx).is_ready());
        assert!(drive.as_mut().poll(&mut cx).is_ready());
    });
    assert_eq!(exited.load(Ordering::Relaxed), 2);
    assert_eq!(info.count_total, 0, "allocations: {info:?}");
}

// === waiters beyond every slot (without `alloc`) ===

/// Without `alloc`: once the group's waiter slots and the program-wide spill table are full, a
/// further `done` completes at once and a `stop` returns `Error::Overflow` instead of sleeping
/// without a wakeup; nobody already waiting is woken early, the stop stays in force, and the
/// end of the last child wakes every kept waiter once.
#[cfg(not(feature = "alloc"))]
#[test]
fn waits_beyond_every_slot_end_at_once() {
    let _serial = serial();
    use core::task::Poll;
    use procession::ctx::{SPILL_SLOTS, WAITER_SLOTS};

    let log = Log::new();
    let group: Group<'static, Kid> = Group::detached();
    let root = Ctx::new();
    let (_, driver_waker) = counter();
    let mut cx = Context::from_waker(&driver_waker);
    let mut drive = pin!(group.drive(&root, make, exits(&log)));
    group.go(kid("a", How::IgnoresGraceful, &log)).unwrap();
    assert!(drive.as_mut().poll(&mut cx).is_pending());
    assert!(has(&log, "ready a"));

    let tasks: Vec<_> = (0..WAITER_SLOTS + SPILL_SLOTS).map(|_| counter()).collect();
    let mut dones: Vec<_> = tasks.iter().map(|_| Box::pin(group.done())).collect();
    for (done, (_, waker)) in dones.iter_mut().zip(&tasks) {
        assert!(done.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
    }
    let (extra_wakes, extra) = counter();
    assert!(pin!(group.done()).poll(&mut Context::from_waker(&extra)).is_ready(), "a done that fits nowhere ends");
    let mut stop = pin!(group.stop(never, never));
    assert_eq!(stop.as_mut().poll(&mut Context::from_waker(&extra)), Poll::Ready(Err(group::Error::Overflow)));
    assert!(tasks.iter().all(|(c, _)| wakes(c) == 0), "nobody is woken early");
    assert_eq!(wakes(&extra_wakes), 0);

    // The stop is in force: closed and interrupted; the child waits for its cancellation.
    assert!(group.is_closed());
    assert!(drive.as_mut().poll(&mut cx).is_pending());
    assert!(has(&log, "stop a"));
    assert!(!group.is_done());
    assert!(group.cancel());
    assert_eq!(drive.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert!(has(&log, "exit a: ok"));
    assert!(tasks.iter().all(|(c, _)| wakes(c) == 1), "the end wakes every kept waiter once");
    for (done, (_, waker)) in dones.iter_mut().zip(&tasks) {
        assert!(done.as_mut().poll(&mut Context::from_waker(waker)).is_ready());
    }
}

// === errors ===

/// The group's own errors go into a `TreeError` as they are (no impl written), and its
/// `Display` forwards.
#[test]
fn group_errors_fit_a_tree_error() {
    let _serial = serial();
    use procession::TreeError;
    use procession::error::Kind;

    let error: TreeError = group::Error::Busy.into();
    assert_eq!(error.errors()[0].kind(), &Kind::Group(group::Error::Busy));
    assert_eq!(error.errors()[0].to_string(), "group: already driven");
    let root = Ctx::new();
    let group: Group<'_, u8> = Group::new(&root);
    let runner = group.runner(|_: &u8| nop(), |_: &u8, _: Result<(), TreeError>| {});
    let (first, second) = within(join(
        runner.run(&root, async |_| {
            yield_now().await;
            Ok(())
        }),
        runner.run(&root, async |_| Ok(())),
    ));
    assert_eq!(first, Ok(()));
    let second = second.unwrap_err();
    assert_eq!(second.errors()[0].kind(), &Kind::Group(group::Error::Busy));
}

/// Without `alloc`: the `Runner` form's own wait for its children, in the driver's task, stays
/// pending when it fits in no waiter slot (the driver's progress ends the generation), instead
/// of ending at once and looping without a pause.
#[cfg(not(feature = "alloc"))]
#[test]
fn runner_form_waits_beyond_every_slot() {
    use core::task::Poll;
    use procession::ctx::{SPILL_SLOTS, WAITER_SLOTS};

    let _serial = serial();
    let (finished_tx, finished_rx) = std::sync::mpsc::channel();
    // On a thread, so that a loop without a pause fails the test instead of hanging it.
    std::thread::spawn(move || {
        let log = Log::new();
        let group: Group<'static, Kid> = Group::detached();
        let root = Ctx::new();
        let runner = group.runner(make, exits(&log));
        let (_, runner_waker) = counter();
        let mut cx = Context::from_waker(&runner_waker);
        let go_on = core::cell::Cell::new(false);
        let mut run = pin!(runner.run(&root, async |_| {
            group.go(kid("a", How::Normal, &log)).unwrap();
            // Returns once the test has filled every waiter slot (polled by hand).
            core::future::poll_fn(|_| if go_on.get() { Poll::Ready(()) } else { Poll::Pending }).await;
            Ok(())
        }));
        assert!(run.as_mut().poll(&mut cx).is_pending());
        assert!(run.as_mut().poll(&mut cx).is_pending());
        assert!(has(&log, "ready a"));
        let tasks: Vec<_> = (0..WAITER_SLOTS + SPILL_SLOTS).map(|_| counter()).collect();
        let mut dones: Vec<_> = tasks.iter().map(|_| Box::pin(group.done())).collect();
        for (done, (_, waker)) in dones.iter_mut().zip(&tasks) {
            assert!(done.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
        }
        go_on.set(true);
        let mut result = Poll::Pending;
        for _ in 0..10 {
            result = run.as_mut().poll(&mut cx);
            if result.is_ready() {
                break;
            }
        }
        assert_eq!(result, Poll::Ready(Ok(())));
        assert!(has(&log, "exit a: ok"));
        assert!(tasks.iter().all(|(c, _)| wakes(c) == 1));
        drop(dones);
        finished_tx.send(()).unwrap();
    });
    assert!(finished_rx.recv_timeout(Duration::from_secs(20)).is_ok(), "the run hung or failed");
}
