//! The `Runner` adapters: `nop`, `from_fn`, `prefix_err`, `map_err`, `with_stop_deadline`, and
//! (with `alloc`) boxed runners of different types in one `Vec`.

mod common;

use core::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use futures::FutureExt as _;
use procession::ctx::Cancelled;
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::{Cause, Ctx, MultiError, Prefix, Runner, RunnerExt, StopLevel, chain, nop, parallel};

/// Yields until `done` holds; panics after 100 yields, so that a broken test fails instead of
/// hanging.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        yield_now().await;
    }
    panic!("never happened: {what}");
}

/// Runs `fut` to completion with `block_on`, but panics if it has not completed after 1000
/// polls, so that a deadlock fails the test instead of hanging it.
fn block_on_bounded<F: core::future::Future>(fut: F) -> F::Output {
    let limit = async {
        for _ in 0..1000 {
            yield_now().await;
        }
    };
    match block_on(futures::future::select(core::pin::pin!(fut), core::pin::pin!(limit))) {
        futures::future::Either::Left((output, _)) => output,
        futures::future::Either::Right(_) => panic!("still running after 1000 polls: deadlock"),
    }
}

/// Whether `log` holds the event `event`.
fn logged(log: &Log, event: &str) -> bool {
    log.events().iter().any(|e| e == event)
}

/// Logs `what` when dropped.
struct OnDrop(Log, &'static str);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}

// === nop ===

/// `nop()` calls the callback with the caller's context itself and returns what it returns.
#[test]
fn nop_passes_ctx_and_result_through() {
    let root = Ctx::new();
    for expected in [Ok(()), Err(fail("callback"))] {
        let calls = AtomicUsize::new(0);
        let result = block_on(nop().run(&root, async |c: &Ctx<'_>| -> Result<(), Error> {
            calls.fetch_add(1, Ordering::Relaxed);
            assert!(core::ptr::eq(c, &root));
            expected.clone()
        }));
        assert_eq!(result, expected);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}

/// A reference to a runner is a runner: one value can sit in two trees.
#[test]
fn reference_is_a_runner() {
    let log = Log::new();
    let shared = probe("a", &log);
    assert_eq!(run(&chain((&shared, &shared)), &log, Main::Return), Ok(()));
    assert_eq!(log.events(), strings(&["start a", "ready a", "start a", "ready a", "main", "stop a", "stop a"]));
}

// === from_fn ===

/// `from_fn`: the closure gets the run's context; the callback runs only once the closure
/// calls `ready()`, with a live child of the run's context; when the callback returns, the
/// closure is told `Stop::Graceful`.
#[test]
fn from_fn_ready_then_callback_then_graceful_stop() {
    let log = Log::new();
    let root = Ctx::new();
    let tree = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        log.push(format!("start (run ctx: {})", core::ptr::eq(ctx, &root)));
        for _ in 0..3 {
            yield_now().await;
        }
        log.push(format!("ready (was ready: {})", lc.is_ready()));
        lc.ready();
        let stop = lc.stop_requested().await;
        log.push(format!("stop {stop:?} (ready: {})", lc.is_ready()));
        Ok(())
    });
    let result = block_on(tree.run(&root, async |c: &Ctx<'_>| {
        let child = c.parent().is_some_and(|p| core::ptr::eq(p, &root));
        log.push(format!("callback (child of run ctx: {child}, cancelled: {})", c.is_cancelled()));
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert_eq!(
        log.events(),
        strings(&[
            "start (run ctx: true)",
            "ready (was ready: false)",
            "callback (child of run ctx: true, cancelled: false)",
            "stop Graceful (ready: true)",
        ])
    );
}

/// `from_fn`: cancelling the run's context while the callback runs tells the closure
/// `Stop::Forced` with the cause.
#[test]
fn from_fn_forced_stop() {
    for cause in [Cause::Shutdown, Cause::Restart] {
        let log = Log::new();
        let root = Ctx::new();
        let released = Ctx::new();
        let tree = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
            lc.ready();
            let stop = lc.stop_requested().await;
            log.push(format!("stop {stop:?}"));
            released.cancel();
            Ok(())
        });
        let result = block_on(tree.run(&root, async |c: &Ctx<'_>| {
            log.push("callback");
            root.cancel_with(cause);
            // Keep the callback running, so that the stop is forced and not graceful.
            released.cancelled().await;
            log.push(format!("callback returns (cancelled: {})", c.is_cancelled()));
            Ok(())
        }));
        assert_eq!(result, Ok(()));
        let expected = [
            "callback".to_string(),
            format!("stop {:?}", Stop::Forced(cause)),
            "callback returns (cancelled: true)".to_string(),
        ];
        assert_eq!(log.events(), expected);
    }
}

/// `from_fn`: a closure that returns without calling `ready()` is a start failure: the callback
/// never runs and the closure's result is returned, an error or `Ok`.
#[test]
fn from_fn_return_before_ready_is_start_failure() {
    for expected in [Err(fail("start")), Ok(())] {
        let calls = AtomicUsize::new(0);
        let tree = from_fn(async |_: &Ctx<'_>, _: &Lifecycle<'_>| -> Result<(), Error> {
            yield_now().await;
            expected.clone()
        });
        let root = Ctx::new();
        let result = block_on(tree.run(&root, async |_: &Ctx<'_>| {
            calls.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }));
        assert_eq!(result, expected);
        assert_eq!(calls.load(Ordering::Relaxed), 0, "callback ran");
        assert!(!root.is_cancelled());
    }
}

/// `from_fn`: a closure that returns while the callback runs cancels the callback's context,
/// with `DependencyFailed` if it failed and `Parent` if it returned `Ok`, and the runner waits
/// for the callback to return. The run's context is not touched.
#[test]
fn from_fn_ending_while_running_cancels_callback() {
    for (closure_fails, cause) in [(true, "dependency failed"), (false, "parent ended")] {
        let log = Log::new();
        let callback_started = Ctx::new();
        let tree = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
            lc.ready();
            callback_started.cancelled().await;
            log.push("closure returns");
            if closure_fails { Err(fail("closure")) } else { Ok(()) }
        });
        let root = Ctx::new();
        let result = block_on(tree.run(&root, async |c: &Ctx<'_>| {
            log.push("callback");
            callback_started.cancel();
            log.push(format!("callback cancelled ({})", c.cancelled().await));
            for _ in 0..3 {
                yield_now().await;
            }
            log.push("callback returns");
            Ok(())
        }));
        assert_eq!(result, if closure_fails { Err(fail("closure")) } else { Ok(()) });
        let cancelled = format!("callback cancelled ({cause})");
        assert_eq!(log.events(), strings(&["callback", "closure returns", &cancelled, "callback returns"]));
        assert!(!root.is_cancelled());
    }
}

/// `from_fn`: the callback's error comes first, then the closure's, whether the closure failed
/// while stopping or while the callback ran.
#[test]
fn from_fn_errors_callback_first() {
    let on_stop = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        lc.ready();
        lc.stop_requested().await;
        Err(fail("closure"))
    });
    let while_running = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        lc.ready();
        Err(fail("closure"))
    });
    let root = Ctx::new();
    let callback = async |_: &Ctx<'_>| {
        yield_now().await;
        Err(fail("callback"))
    };
    assert_eq!(block_on(on_stop.run(&root, callback)), Err(fails(&["callback", "closure"])));
    assert_eq!(block_on(while_running.run(&root, callback)), Err(fails(&["callback", "closure"])));
}

// === prefix_err ===

/// A failure with the names of the processes it passed through, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named(Vec<&'static str>);

impl Prefix for Named {
    fn prefix(mut self, prefix: &'static str) -> Self {
        self.0.insert(0, prefix);
        self
    }
}

/// The error type of the prefix tests: a list of named failures.
type NamedError = MultiError<Named, 4>;

fn named(path: &[&'static str]) -> Named {
    Named(path.to_vec())
}

/// A leaf of the `NamedError` tree that fails with `run` once its context is cancelled, if
/// `fails`.
fn named_leaf(fails: bool) -> impl Runner<NamedError> {
    procession::leaf(async move |ctx: &Ctx<'_>| -> Result<(), NamedError> {
        ctx.cancelled().await;
        if fails { Err(NamedError::from_error(named(&["run"]))) } else { Ok(()) }
    })
}

/// `prefix_err` prefixes the runner's own errors and also (as upstream) the callback's errors
/// that pass through it; `Ok` stays `Ok`; nested prefixes come outermost first.
#[test]
fn prefix_err_prefixes_runner_and_callback_errors() {
    let root = Ctx::new();
    let callback_fails = async |_: &Ctx<'_>| Err(NamedError::from_error(named(&["callback"])));
    let callback_ok = async |_: &Ctx<'_>| -> Result<(), NamedError> { Ok(()) };

    let db = named_leaf(true).prefix_err("db");
    let both = block_on(db.run(&root, callback_fails)).unwrap_err();
    assert_eq!(both.errors(), &[named(&["db", "callback"]), named(&["db", "run"])]);
    let own = block_on(db.run(&root, callback_ok)).unwrap_err();
    assert_eq!(own.errors(), &[named(&["db", "run"])]);

    let quiet = named_leaf(false).prefix_err("db");
    let passed = block_on(quiet.run(&root, callback_fails)).unwrap_err();
    assert_eq!(passed.errors(), &[named(&["db", "callback"])]);
    assert_eq!(block_on(quiet.run(&root, callback_ok)), Ok(()));

    let nested = named_leaf(true).prefix_err("db").prefix_err("app");
    let own = block_on(nested.run(&root, callback_ok)).unwrap_err();
    assert_eq!(own.errors(), &[named(&["app", "db", "run"])]);
}

/// With `alloc`, boxed errors implement `Prefix` and `Merge`: the prefix wraps the (merged)
/// error, which stays reachable as its source.
#[cfg(feature = "alloc")]
#[test]
fn prefix_err_on_boxed_errors() {
    type BoxError = Box<dyn core::error::Error + Send + Sync>;
    let tree = procession::leaf(async |ctx: &Ctx<'_>| -> Result<(), BoxError> {
        ctx.cancelled().await;
        Err("oops".into())
    })
    .prefix_err("db");
    let root = Ctx::new();
    let own = block_on(tree.run(&root, async |_: &Ctx<'_>| Ok(()))).unwrap_err();
    assert_eq!(own.to_string(), "db: oops");
    assert_eq!(own.source().map(ToString::to_string), Some("oops".to_string()));
    let both = block_on(tree.run(&root, async |_: &Ctx<'_>| Err("callback".into()))).unwrap_err();
    assert_eq!(both.to_string(), "db: 2 errors:\n- callback\n- oops");
}

// === map_err ===

/// A runner with its own error type: it logs what its callback returned to it, then fails
/// with `sensor` if told to.
struct Sensor {
    log: Log,
    fails: bool,
}

impl Runner<&'static str> for Sensor {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), &'static str>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), &'static str>,
    {
        let inner = ctx.child();
        let seen = ready(&inner).await;
        self.log.push(format!("sensor's callback returned {seen:?}"));
        if self.fails { Err("sensor") } else { Ok(()) }
    }
}

/// `map_err` converts the inner runner's errors into the tree's type; the callback's error (of
/// the tree's type) is returned unchanged and first, and the inner runner sees its callback
/// return `Ok`.
#[test]
fn map_err_converts_inner_errors_only() {
    for (sensor_fails, callback_fails, expected) in [
        (true, true, Err(fails(&["main", "sensor"]))),
        (true, false, Err(fail("sensor"))),
        (false, true, Err(fail("main"))),
        (false, false, Ok(())),
    ] {
        let log = Log::new();
        let converted = AtomicUsize::new(0);
        let tree = Sensor { log: log.clone(), fails: sensor_fails }.map_err(|e: &'static str| {
            converted.fetch_add(1, Ordering::Relaxed);
            fail(e)
        });
        let root = Ctx::new();
        let result =
            block_on(tree.run(&root, async |_: &Ctx<'_>| if callback_fails { Err(fail("main")) } else { Ok(()) }));
        assert_eq!(result, expected);
        assert_eq!(log.events(), strings(&["sensor's callback returned Ok(())"]));
        assert_eq!(converted.load(Ordering::Relaxed), usize::from(sensor_fails));
    }
}

/// A mapped runner sits in a tree of the other error type beside native children; its
/// converted error takes its place in child order after the callback's.
#[test]
fn map_err_inside_a_tree() {
    let log = Log::new();
    let sensor = Sensor { log: log.clone(), fails: true }.map_err(|e: &'static str| fail(e));
    let tree = parallel((probe_with("a", &log, Behaviour::FailStop), sensor, probe("c", &log)));
    assert_eq!(run(&tree, &log, Main::Fail), Err(fails(&["main", "a", "sensor"])));
    assert!(logged(&log, "sensor's callback returned Ok(())"), "{:?}", log.events());
}

// === with_stop_deadline ===

/// The future of a [`deadline`]: completes once its gate is opened.
type GateOpen<'a> = futures::future::Map<Cancelled<'a, 'static>, fn(Cause)>;

/// A deadline for `with_stop_deadline`: counts its calls, and completes once `gate` is opened.
fn deadline<'a>(gate: &'a Ctx<'static>, calls: &'a AtomicUsize) -> impl Fn() -> GateOpen<'a> + 'a {
    move || {
        calls.fetch_add(1, Ordering::Relaxed);
        gate.cancelled().map(drop as fn(Cause))
    }
}

/// The failure of a stop overrun at `level`.
fn overrun(level: StopLevel) -> Fail {
    Fail::Overrun(level)
}

/// The gates and call counters of the two deadlines of a test.
#[derive(Default)]
struct Deadlines {
    graceful: Ctx<'static>,
    forced: Ctx<'static>,
    graceful_calls: AtomicUsize,
    forced_calls: AtomicUsize,
}

impl Deadlines {
    fn calls(&self) -> (usize, usize) {
        (self.graceful_calls.load(Ordering::Relaxed), self.forced_calls.load(Ordering::Relaxed))
    }
}

/// Stop level graceful: a child that stops as soon as the callback returns gives its own
/// result, with no overrun, and the forced deadline is never started.
#[test]
fn deadline_graceful_stop_in_time() {
    for (main, expected) in [(Main::Return, Ok(())), (Main::Fail, Err(fail("main")))] {
        let log = Log::new();
        let d = Deadlines::default();
        let tree = probe("p", &log)
            .with_stop_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
        assert_eq!(run(&tree, &log, main), expected);
        assert_eq!(log.events(), strings(&["start p", "ready p", "main", "stop p"]));
        assert_eq!(d.calls().1, 0);
    }
}

/// A child that ignores the graceful stop but obeys its context.
fn stubborn<'a>(log: &'a Log, result: Result<(), Error>) -> impl Runner<Error> + 'a {
    from_fn(async move |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        lc.ready();
        log.push("child ready");
        log.push(format!("child cancelled ({})", ctx.cancelled().await));
        result.clone()
    })
}

/// Stop level forced: a child that ignores the graceful stop keeps running until the graceful
/// deadline passes; then its context is cancelled with `Deadline`, it returns, and the result
/// is the callback's error, the child's own, then `Overrun(Forced)`.
#[test]
fn deadline_forced_when_graceful_stop_ignored() {
    for (callback_fails, child_fails) in [(true, true), (false, false)] {
        let log = Log::new();
        let d = Deadlines::default();
        let child = stubborn(&log, if child_fails { Err(fail("child")) } else { Ok(()) });
        let tree =
            child.with_stop_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
        let root = Ctx::new();
        let callback = async |_: &Ctx<'_>| {
            log.push("main returns");
            if callback_fails { Err(fail("main")) } else { Ok(()) }
        };
        let controller = async {
            until("callback returned", || logged(&log, "main returns")).await;
            for _ in 0..3 {
                yield_now().await;
            }
            assert_eq!(log.events(), strings(&["child ready", "main returns"]), "child cancelled too early");
            assert_eq!(d.calls().0, 1);
            d.graceful.cancel();
        };
        let (result, ()) = block_on_bounded(futures::future::join(tree.run(&root, callback), controller));
        let mut expected = Vec::new();
        if callback_fails {
            expected.push(Fail::At("main"));
        }
        if child_fails {
            expected.push(Fail::At("child"));
        }
        expected.push(overrun(StopLevel::Forced));
        assert_eq!(result, Err(expected.into_iter().collect()));
        assert_eq!(log.events(), strings(&["child ready", "main returns", "child cancelled (deadline)"]));
        assert_eq!(d.calls(), (1, 1));
        assert!(!root.is_cancelled());
    }
}

/// A manual clock for the deadline tests: `now` only moves when a test advances it.
#[derive(Default)]
struct Clock {
    now: AtomicUsize,
    /// How many deadlines were made, in order, with the time each was made at.
    made: std::sync::Mutex<Vec<usize>>,
}

impl Clock {
    fn now(&self) -> usize {
        self.now.load(Ordering::Relaxed)
    }

    /// A deadline closure: each call makes a sleep of `ticks` measured from the time of the call
    /// (as `tokio::time::sleep` or an embassy `Timer::after` do), which completes once the clock
    /// has advanced that far.
    fn sleep<'a>(&'a self, ticks: usize) -> impl Fn() -> futures::future::BoxFuture<'a, ()> + 'a {
        move || {
            let until = self.now() + ticks;
            self.made.lock().unwrap().push(self.now());
            Box::pin(async move {
                while self.now() < until {
                    yield_now().await;
                }
            })
        }
    }
}

/// The forced deadline is measured from the start of the forced stop: `forced()` is called only
/// once the graceful deadline has passed. With a graceful deadline of 5 ticks, a forced one of
/// 2, and a child that ignores the graceful stop and needs 1 tick to return once cancelled, the
/// child is cancelled at tick 5 and returns at tick 6, within its forced deadline (tick 7): the
/// stop level is forced, not hard.
#[test]
fn deadline_forced_measured_from_forced_stop() {
    let log = Log::new();
    let clock = Clock::default();
    let child = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        lc.ready();
        ctx.cancelled().await;
        let cancelled_at = clock.now();
        log.push(format!("child cancelled at {cancelled_at}"));
        while clock.now() < cancelled_at + 1 {
            yield_now().await;
        }
        log.push(format!("child returns at {}", clock.now()));
        Ok(())
    });
    let tree = child.with_stop_deadline(clock.sleep(5), clock.sleep(2));
    let root = Ctx::new();
    let finished = Ctx::new();
    let stopped = async {
        let result = tree.run(&root, async |_: &Ctx<'_>| Ok(())).await;
        finished.cancel();
        result
    };
    let ticker = async {
        for _ in 0..20 {
            if finished.is_cancelled() {
                break;
            }
            for _ in 0..3 {
                yield_now().await;
            }
            clock.now.fetch_add(1, Ordering::Relaxed);
        }
    };
    let (result, ()) = block_on_bounded(futures::future::join(stopped, ticker));
    assert_eq!(result, Err([overrun(StopLevel::Forced)].into_iter().collect()));
    assert_eq!(log.events(), strings(&["child cancelled at 5", "child returns at 6"]));
    assert_eq!(*clock.made.lock().unwrap(), [0, 5], "when the deadlines were made");
}

/// A child that ignores its graceful stop and its context: it notes the cancellation, then
/// never returns. Logs `child dropped` when its future is dropped.
fn deaf(log: &Log) -> impl Runner<Error> + '_ {
    from_fn(async move |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        let _guard = OnDrop(log.clone(), "child dropped");
        lc.ready();
        log.push("child ready");
        log.push(format!("child cancelled ({})", ctx.cancelled().await));
        core::future::pending::<Result<(), Error>>().await
    })
}

/// Stop level hard: a child that ignores everything is cancelled once the graceful deadline
/// passes and dropped once the forced one passes; the result is `Overrun(Hard)`.
#[test]
fn deadline_hard_drops_child() {
    let log = Log::new();
    let d = Deadlines::default();
    let tree =
        deaf(&log).with_stop_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
    let root = Ctx::new();
    let callback = async |_: &Ctx<'_>| {
        log.push("main returns");
        Ok(())
    };
    let controller = async {
        until("callback returned", || logged(&log, "main returns")).await;
        for _ in 0..3 {
            yield_now().await;
        }
        assert_eq!(log.events(), strings(&["child ready", "main returns"]), "child cancelled too early");
        d.graceful.cancel();
        until("child cancelled", || logged(&log, "child cancelled (deadline)")).await;
        for _ in 0..3 {
            yield_now().await;
        }
        assert!(!logged(&log, "child dropped"), "child dropped too early");
        assert_eq!(d.calls(), (1, 1));
        d.forced.cancel();
    };
    let (result, ()) = block_on_bounded(futures::future::join(tree.run(&root, callback), controller));
    assert_eq!(result, Err([overrun(StopLevel::Hard)].into_iter().collect()));
    assert_eq!(log.events(), strings(&["child ready", "main returns", "child cancelled (deadline)", "child dropped"]));
    assert_eq!(d.calls(), (1, 1));
}

/// A hard stop keeps the callback's error (DESIGN §2: no error is dropped silently): the result
/// is the callback's error, then `Overrun(Hard)`.
#[test]
fn deadline_hard_keeps_callback_error() {
    let log = Log::new();
    let d = Deadlines::default();
    let tree =
        deaf(&log).with_stop_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
    let root = Ctx::new();
    let callback = async |_: &Ctx<'_>| {
        log.push("main returns");
        Err(fail("main"))
    };
    let controller = async {
        until("callback returned", || logged(&log, "main returns")).await;
        d.graceful.cancel();
        until("child cancelled", || logged(&log, "child cancelled (deadline)")).await;
        d.forced.cancel();
    };
    let (result, ()) = block_on_bounded(futures::future::join(tree.run(&root, callback), controller));
    assert_eq!(result, Err([Fail::At("main"), overrun(StopLevel::Hard)].into_iter().collect()));
}

/// A start failure, or a failure while running, returns at once: neither deadline is ever
/// started (the deadline closures are not called), also when the callback takes a while to
/// react to the failure.
#[test]
fn deadline_not_used_on_start_failure_or_failure_while_running() {
    for behaviour in [Behaviour::FailStart, Behaviour::FailRunning] {
        let log = Log::new();
        let d = Deadlines::default();
        let tree = probe_with("p", &log, behaviour)
            .with_stop_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
        assert_eq!(run(&tree, &log, Main::UntilCancelled), Err(fail("p")), "{behaviour:?}");
        assert_eq!(d.calls(), (0, 0), "{behaviour:?}");
    }

    let log = Log::new();
    let d = Deadlines::default();
    let child = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        lc.ready();
        yield_now().await;
        log.push("child fails");
        Err(fail("child"))
    });
    let tree = child.with_stop_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
    let root = Ctx::new();
    let result = block_on_bounded(tree.run(&root, async |c: &Ctx<'_>| {
        log.push(format!("main cancelled ({})", c.cancelled().await));
        for _ in 0..3 {
            yield_now().await;
        }
        Ok(())
    }));
    assert_eq!(result, Err(fail("child")));
    assert_eq!(log.events(), strings(&["child fails", "main cancelled (dependency failed)"]));
    assert_eq!(d.calls(), (0, 0));
}

/// Each run measures its own stop: the deadline closures are called again for a second run
/// of the same runner.
#[test]
fn deadline_per_run() {
    let log = Log::new();
    let d = Deadlines::default();
    let tree = stubborn(&log, Ok(()))
        .with_stop_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
    // The graceful gate is open: every run is forced as soon as the callback returns.
    d.graceful.cancel();
    let root = Ctx::new();
    for run in 1..=2 {
        let result = block_on_bounded(tree.run(&root, async |_: &Ctx<'_>| Ok(())));
        assert_eq!(result, Err([overrun(StopLevel::Forced)].into_iter().collect()));
        assert_eq!(d.calls(), (run, run));
    }
}

// === boxed runners (alloc) ===

// === with_start_deadline ===

/// A child that becomes ready only once `gate` opens, and logs how its start ended.
fn slow_start<'a>(log: &'a Log, gate: &'a Ctx<'static>, obeys: bool) -> impl Runner<Error> + 'a {
    from_fn(async move |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        let _guard = OnDrop(log.clone(), "child dropped");
        log.push("child starting");
        if obeys {
            if let Err(cause) = ctx.run_until_cancelled(gate.cancelled()).await {
                log.push(format!("start abandoned ({cause})"));
                return Err(fail("child"));
            }
        } else {
            gate.cancelled().await;
        }
        log.push("child ready");
        lc.ready();
        lc.stop_requested().await;
        Ok(())
    })
}

/// A start within the deadline: no overrun, the forced deadline is never made, and the stop is
/// not subject to the start deadline.
#[test]
fn start_deadline_in_time() {
    let log = Log::new();
    let gate = Ctx::new();
    let d = Deadlines::default();
    let tree = slow_start(&log, &gate, true)
        .with_start_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
    let root = Ctx::new();
    let controller = async {
        until("child starting", || logged(&log, "child starting")).await;
        gate.cancel();
        until("callback ran", || logged(&log, "main")).await;
        d.graceful.cancel();
        d.forced.cancel();
    };
    let callback = async |_: &Ctx<'_>| {
        log.push("main");
        Ok(())
    };
    let (result, ()) = block_on_bounded(futures::future::join(tree.run(&root, callback), controller));
    assert_eq!(result, Ok(()));
    assert_eq!(log.events(), strings(&["child starting", "child ready", "main", "child dropped"]));
    assert_eq!(d.calls(), (1, 0));
}

/// A start past its deadline by a child that obeys its context: the context is cancelled with
/// `Deadline`, the child gives up, the callback never runs, and the result is the child's error
/// then `StartOverrun(Forced)`.
#[test]
fn start_deadline_forced() {
    let log = Log::new();
    let gate = Ctx::new();
    let d = Deadlines::default();
    let tree = slow_start(&log, &gate, true)
        .with_start_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
    let root = Ctx::new();
    let controller = async {
        until("child starting", || logged(&log, "child starting")).await;
        d.graceful.cancel();
    };
    let callback = async |_: &Ctx<'_>| {
        log.push("main");
        Ok(())
    };
    let (result, ()) = block_on_bounded(futures::future::join(tree.run(&root, callback), controller));
    let expected: Error = [Fail::At("child"), Fail::StartOverrun(StopLevel::Forced)].into_iter().collect();
    assert_eq!(result, Err(expected));
    assert_eq!(log.events(), strings(&["child starting", "start abandoned (deadline)", "child dropped"]));
    assert_eq!(d.calls(), (1, 1));
}

/// A start past both deadlines by a child that ignores its context: it is dropped, and the
/// result is `StartOverrun(Hard)`; a hung start cannot hang the tree.
#[test]
fn start_deadline_hard() {
    let log = Log::new();
    let gate = Ctx::new();
    let d = Deadlines::default();
    let tree = slow_start(&log, &gate, false)
        .with_start_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
    let root = Ctx::new();
    let controller = async {
        until("child starting", || logged(&log, "child starting")).await;
        d.graceful.cancel();
        for _ in 0..3 {
            yield_now().await;
        }
        assert!(!logged(&log, "child dropped"), "dropped before the forced deadline");
        d.forced.cancel();
    };
    let (result, ()) = block_on_bounded(futures::future::join(tree.run(&root, async |_: &Ctx<'_>| Ok(())), controller));
    assert_eq!(result, Err([Fail::StartOverrun(StopLevel::Hard)].into_iter().collect()));
    assert_eq!(log.events(), strings(&["child starting", "child dropped"]));
}

/// A child that becomes ready after its start deadline passed (while forced) is not dropped by
/// the second deadline: the callback runs to its end (with the forced context), the child
/// returns by itself, and the overrun is reported as forced after the callback's result.
#[test]
fn start_deadline_ready_while_forced_is_not_dropped() {
    let log = Log::new();
    let gate = Ctx::new();
    let d = Deadlines::default();
    let tree = slow_start(&log, &gate, false)
        .with_start_deadline(deadline(&d.graceful, &d.graceful_calls), deadline(&d.forced, &d.forced_calls));
    let root = Ctx::new();
    let controller = async {
        until("child starting", || logged(&log, "child starting")).await;
        d.graceful.cancel();
        yield_now().await;
        gate.cancel();
        until("callback ran", || logged(&log, "main")).await;
        d.forced.cancel();
        for _ in 0..3 {
            yield_now().await;
        }
        log.push("release");
    };
    let callback = async |_: &Ctx<'_>| {
        log.push("main");
        until("released", || logged(&log, "release")).await;
        Err(fail("main"))
    };
    let (result, ()) = block_on_bounded(futures::future::join(tree.run(&root, callback), controller));
    let expected: Error = [Fail::At("main"), Fail::StartOverrun(StopLevel::Forced)].into_iter().collect();
    assert_eq!(result, Err(expected));
    // The child's context is cancelled, so it stops as soon as it is ready; its callback still runs.
    assert_eq!(log.events(), strings(&["child starting", "child ready", "child dropped", "main", "release"]));
}

#[cfg(feature = "alloc")]
mod boxed {
    use super::*;
    use procession::runner::BoxRunner;
    use procession::{sequential, start_stop};

    /// What a probe logs when it stops: its name and, if its context is cancelled, the cause.
    fn stopped(name: &str, ctx: &Ctx<'_>) -> String {
        match ctx.cause() {
            Some(cause) => format!("stop {name} ({cause})"),
            None => format!("stop {name}"),
        }
    }

    /// `n` boxed runners of four different types, named `p0`.., that log like probes: a probe,
    /// a `from_fn` (or, without `from_fn`, a probe in a one-element `sequential`), a
    /// `start_stop` and a probe in a one-element `chain`, in turn. The one at `at` is a probe
    /// behaving as told.
    ///
    /// A `from_fn` is not an exact stand-in for a probe once something fails: its callback
    /// starts one poll after it calls `ready()`, and it logs its stop when a stop is asked,
    /// which can be before its callback ran (its context already cancelled by a failure).
    fn mixed<'a>(
        log: &'a Log,
        n: usize,
        at: Option<(usize, Behaviour)>,
        with_from_fn: bool,
    ) -> Vec<BoxRunner<'a, Error>> {
        (0..n)
            .map(|i| -> BoxRunner<'a, Error> {
                let name = NAMES[i];
                if let Some((j, behaviour)) = at
                    && i == j
                {
                    return Box::new(probe_with(name, log, behaviour));
                }
                match i % 4 {
                    0 => Box::new(probe(name, log)),
                    1 if with_from_fn => {
                        Box::new(from_fn(async move |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
                            log.push(format!("start {name}"));
                            log.push(format!("ready {name}"));
                            lc.ready();
                            lc.stop_requested().await;
                            log.push(stopped(name, ctx));
                            Ok(())
                        }))
                    }
                    1 => Box::new(sequential([probe(name, log)])),
                    2 => Box::new(start_stop(
                        async move |_: &Ctx<'_>| -> Result<(), Error> {
                            log.push(format!("start {name}"));
                            log.push(format!("ready {name}"));
                            Ok(())
                        },
                        async move |ctx: &Ctx<'_>| -> Result<(), Error> {
                            log.push(stopped(name, ctx));
                            Ok(())
                        },
                    )),
                    _ => Box::new(chain((probe(name, log),))),
                }
            })
            .collect()
    }

    /// Runs the `Vec` of boxed mixed runners and the array of probes of the same size under
    /// `parallel`, `chain` and `sequential`, and checks that both give the same result and the
    /// same events, in the same order.
    fn same_as_array<const N: usize>(at: Option<(usize, Behaviour)>, main: Main, with_from_fn: bool) {
        let log = Log::new();
        let array_log = Log::new();
        let compare = |name: &str, boxed: Result<(), Error>, array: Result<(), Error>| {
            assert_eq!(boxed, array, "{name} of {N}, {at:?}");
            assert_eq!(log.take(), array_log.take(), "{name} of {N}, {at:?}");
        };
        let mixed = || mixed(&log, N, at, with_from_fn);
        compare(
            "parallel",
            run(&parallel(mixed()), &log, main),
            run(&parallel(probes::<N>(&array_log, at)), &array_log, main),
        );
        compare("chain", run(&chain(mixed()), &log, main), run(&chain(probes::<N>(&array_log, at)), &array_log, main));
        compare(
            "sequential",
            run(&sequential(mixed()), &log, main),
            run(&sequential(probes::<N>(&array_log, at)), &array_log, main),
        );
    }

    /// Zero, one, three and eight boxed runners of different types (`from_fn` among them) in a
    /// `Vec`, under `parallel`, `chain` and `sequential`: the same events in the same order and
    /// the same result as the array of probes.
    #[test]
    fn vec_of_boxed_runners_matches_array() {
        same_as_array::<0>(None, Main::Return, true);
        same_as_array::<1>(None, Main::Return, true);
        same_as_array::<3>(None, Main::Return, true);
        same_as_array::<8>(None, Main::Return, true);
        same_as_array::<8>(None, Main::Fail, true);
        same_as_array::<8>(None, Main::Fail, false);
    }

    /// A start failure, a failure while running and a failing stop in a `Vec` of boxed
    /// runners of different types behave as in the array (without `from_fn`, see `mixed`).
    #[test]
    fn vec_of_boxed_runners_failures_match_array() {
        for (behaviour, main) in [
            (Behaviour::FailStart, Main::Return),
            (Behaviour::FailRunning, Main::UntilCancelled),
            (Behaviour::FailRunning, Main::Return),
            (Behaviour::FailStop, Main::Return),
            (Behaviour::FailStop, Main::Fail),
        ] {
            same_as_array::<1>(Some((0, behaviour)), main, false);
            same_as_array::<4>(Some((1, behaviour)), main, false);
            // Eight children (each of the four types twice) natively; under miri, where this
            // test is the slowest of the file, four (each type once) are enough.
            if !cfg!(miri) {
                same_as_array::<8>(Some((5, behaviour)), main, false);
            }
        }
    }

    /// The events of four mixed boxed runners are the probes' events, spelled out once, so
    /// that the comparisons above are not vacuous.
    #[test]
    fn vec_of_boxed_runners_events() {
        let log = Log::new();
        assert_eq!(run(&chain(mixed(&log, 4, None, true)), &log, Main::Return), Ok(()));
        let mut expected = started(&NAMES[..4]);
        expected.push("main".into());
        expected.extend(each("stop", &["p3", "p2", "p1", "p0"]));
        assert_eq!(log.take(), expected);
        assert_eq!(run(&parallel(mixed(&log, 4, None, true)), &log, Main::Return), Ok(()));
        let mut expected = started(&NAMES[..4]);
        expected.push("main".into());
        expected.extend(each("stop", &NAMES[..4]));
        assert_eq!(log.take(), expected);
    }

    /// A boxed runner is a runner by itself, and boxed trees nest.
    #[test]
    fn boxed_runner_alone_and_nested() {
        let log = Log::new();
        let alone: BoxRunner<'_, Error> = Box::new(probe("a", &log));
        assert_eq!(run(&alone, &log, Main::Fail), Err(fail("main")));
        assert_eq!(log.take(), strings(&["start a", "ready a", "main", "stop a"]));
        let nested: Vec<BoxRunner<'_, Error>> =
            vec![Box::new(parallel(mixed(&log, 2, None, true))), Box::new(probe("b", &log))];
        assert_eq!(run(&chain(nested), &log, Main::Return), Ok(()));
        assert_eq!(
            log.take(),
            strings(&[
                "start p0", "ready p0", "start p1", "ready p1", "start b", "ready b", "main", "stop b", "stop p0",
                "stop p1"
            ])
        );
    }

    /// A `Vec` of many children (more than `join_all`'s 30, where it would give each child a
    /// waker of its own) starts and stops in the same order as an array.
    #[test]
    fn long_vec_matches_array() {
        let log = Log::new();
        // `'static` names without leaking (miri reports leaks).
        static NAMES: &str = "v0 v1 v2 v3 v4 v5 v6 v7 v8 v9 v10 v11 v12 v13 v14 v15 v16 v17 v18 v19 \
                              v20 v21 v22 v23 v24 v25 v26 v27 v28 v29 v30 v31 v32 v33 v34 v35 v36 v37 v38 v39";
        let names: Vec<&'static str> = NAMES.split_whitespace().collect();
        assert_eq!(names.len(), 40);
        let children: Vec<Probe> = names.iter().map(|n| probe(n, &log)).collect();
        assert_eq!(run(&sequential(children), &log, Main::Return), Ok(()));
        let mut expected = started(&names);
        expected.push("main".into());
        let reversed: Vec<&str> = names.iter().rev().copied().collect();
        expected.extend(each("stop", &reversed));
        assert_eq!(log.take(), expected);
    }

    /// `Box<R>`, `Arc<R>` and `Box<dyn DynRunner<E> + Send + Sync>` are runners.
    #[test]
    #[allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]
    fn box_arc_and_send_dyn_are_runners() {
        use procession::runner::DynRunner;
        let log = Log::new();
        let boxed: Box<Probe> = Box::new(probe("b", &log));
        let shared = std::sync::Arc::new(probe("s", &log));
        let send: Box<dyn DynRunner<Error> + Send + Sync> = Box::new(probe("d", &log));
        assert_eq!(run(&chain((boxed, shared, send)), &log, Main::Return), Ok(()));
        assert_eq!(
            log.events(),
            strings(&[
                "start b", "ready b", "start s", "ready s", "start d", "ready d", "main", "stop d", "stop s", "stop b"
            ])
        );
    }
}
