//! The restart `Supervisor`, `Build`, `Builder` and `Hook` (upstream new `supervisor`): ports
//! of the supervisor and builder tests, and our own cases.
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use common::{Log, block_on, block_on_within, yield_now};
use procession::retry::{self, Constant, Executor, Once, Operation, Retry, UntilPermanent};
use procession::runner::{Lifecycle, Nop, from_fn};
use procession::supervisor::{self, Builder, Control, Hook, State, Supervisor, build_fn, identity};
use procession::time::ManualClock;
use procession::{Ctx, MultiError, Runner, nop};

/// One failure in a supervised test tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fail {
    At(&'static str),
    Sup(supervisor::Error),
}

impl From<supervisor::Error> for Fail {
    fn from(e: supervisor::Error) -> Self {
        Self::Sup(e)
    }
}

type Error = MultiError<Fail, 8>;

fn fail(name: &'static str) -> Error {
    MultiError::from_error(Fail::At(name))
}

fn fails(list: &[Fail]) -> Error {
    list.iter().cloned().collect()
}

fn sup_error(e: supervisor::Error) -> Error {
    MultiError::from_error(Fail::Sup(e))
}

const SENTINEL: &str = "sentinel";

/// Upstream: `TestBuilderFuncRun`: `Identity(Nop).Run` calls the callback.
#[test]
fn builder_func_run() {
    let root = Ctx::new();
    let called = Cell::new(false);
    let result: Result<(), Error> = block_on(identity(nop()).run(&root, async |_| {
        called.set(true);
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert!(called.get());
}

/// Upstream: `TestBuilderFuncError`: a build error comes back unchanged and the callback is
/// never touched.
#[test]
fn builder_func_error() {
    let root = Ctx::new();
    let broken = build_fn(async |_: &Ctx<'_>| Err::<Nop, _>(fail(SENTINEL)));
    let result = block_on(broken.run(&root, async |_| unreachable!("the callback is never called")));
    assert_eq!(result, Err(fail(SENTINEL)));
}

/// Upstream: `TestBuilderRun`: inside the callback the live instance is the built one (here
/// handed to the callback: after the run there is nothing to read, by construction).
#[test]
fn builder_run() {
    let root = Ctx::new();
    let builder = Builder::new(identity(nop()));
    let seen = Cell::new(false);
    let result: Result<(), Error> = block_on(builder.run_with(&root, async |_, live: &Nop| {
        seen.set(*live == nop());
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert!(seen.get());
    // Each run of a builder closure gets a fresh instance.
    let made = AtomicU32::new(0);
    let fresh = Builder::new(build_fn(async |_: &Ctx<'_>| {
        Ok::<_, Error>(made.fetch_add(1, Ordering::SeqCst)).map(|n| {
            from_fn(async move |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
                lc.ready();
                let _ = n;
                Ok::<(), Error>(())
            })
        })
    }));
    for _ in 0..3 {
        assert_eq!(block_on(fresh.run(&root, async |_| Ok(()))), Ok(()));
    }
    assert_eq!(made.load(Ordering::SeqCst), 3);
}

/// Upstream: `TestBuilderError`.
#[test]
fn builder_error() {
    let root = Ctx::new();
    let builder = Builder::new(build_fn(async |_: &Ctx<'_>| Err::<Nop, _>(fail(SENTINEL))));
    let result = block_on(builder.run_with(&root, async |_, _: &Nop| unreachable!()));
    assert_eq!(result, Err(fail(SENTINEL)));
}

/// A `Ctx` used as Go's `close(ch)`: a one-shot broadcast for the tests.
fn signal() -> Ctx<'static> {
    Ctx::new()
}

/// Upstream: `TestSupervisorInterruptsRunnerAfterCallback`: the callback returns once the Pre
/// hook ran; the runner is interrupted and the run returns `Ok`.
#[test]
fn supervisor_interrupts_runner_after_callback() {
    let ready = signal();
    let sup = Supervisor::new(nop(), UntilPermanent).hook(Hook::new().pre(
        async |_: &Ctx<'_>, _: &Control, _: &Nop| -> Result<(), Error> {
            ready.cancel();
            Ok(())
        },
    ));
    let root = Ctx::new();
    let result = block_on_within(
        100,
        sup.run(&root, async |_| {
            ready.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(sup.state(), State::Stopped);
}

/// Upstream: `TestSupervisorInterruptRunnerFromPreHook`: an interrupt from inside the runner
/// stops it gracefully and cancels the callback's context, so the run completes.
#[test]
fn supervisor_interrupt_runner_from_pre_hook() {
    let sup = Supervisor::new(nop(), UntilPermanent).hook(Hook::new().pre(
        async |_: &Ctx<'_>, sup: &Control, _: &Nop| -> Result<(), Error> {
            sup.request_stop();
            Ok(())
        },
    ));
    let root = Ctx::new();
    let result = block_on_within(
        100,
        sup.run(&root, async |ctx| {
            ctx.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
}

static FROM_EXECUTOR: Supervisor<supervisor::Identity<Nop>, InterruptThenRun, Error> =
    Supervisor::new(Nop, InterruptThenRun);

/// An executor that interrupts its own supervisor, then calls the operation once.
#[derive(Debug)]
struct InterruptThenRun;

impl Executor for InterruptThenRun {
    async fn execute<T, E, O>(&self, ctx: &Ctx<'_>, mut op: O) -> Result<T, retry::Error<E>>
    where
        O: Operation<T, E>,
    {
        assert!(!ctx.is_cancelled());
        FROM_EXECUTOR.request_stop();
        op.attempt(ctx).await
    }
}

/// Upstream: `TestSupervisorInterruptRunnerFromExecutor`: an interrupt while no runner is
/// active cancels the context; the operation then reports an internal interrupt without
/// starting the runner, which the supervisor maps to `Ok`.
#[test]
fn supervisor_interrupt_runner_from_executor() {
    let root = Ctx::new();
    let result: Result<(), Error> = block_on_within(
        100,
        FROM_EXECUTOR.run(&root, async |ctx| {
            ctx.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(FROM_EXECUTOR.incarnation(), 0, "the runner was never started");
}

/// Upstream: `TestSupervisorPreHookError`: the Pre error is the result (identity), Post is
/// still called and its error ignored.
#[test]
fn supervisor_pre_hook_error() {
    let post_called = Cell::new(false);
    let sup = Supervisor::new(nop(), Once).hook(
        Hook::new().pre(async |_: &Ctx<'_>, _: &Control, _: &Nop| -> Result<(), Error> { Err(fail(SENTINEL)) }).post(
            async |_: &Ctx<'_>, _: &Control, _: &Nop| -> Result<(), Error> {
                post_called.set(true);
                Err(fail("ignored"))
            },
        ),
    );
    let root = Ctx::new();
    let result = block_on_within(
        100,
        sup.run(&root, async |ctx| {
            ctx.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Err(fail(SENTINEL)));
    assert!(post_called.get());
}

/// Upstream: `TestSupervisorCallbackError`: the callback's error alone comes back unchanged.
#[test]
fn supervisor_callback_error() {
    let ready = signal();
    let runner = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        lc.ready();
        ready.cancel();
        lc.stop_requested().await;
        Ok::<(), Error>(())
    });
    let sup = Supervisor::new(runner, UntilPermanent);
    let root = Ctx::new();
    let result = block_on_within(
        100,
        sup.run(&root, async |_| {
            ready.cancelled().await;
            Err(fail(SENTINEL))
        }),
    );
    assert_eq!(result, Err(fail(SENTINEL)));
}

/// Upstream: `TestSupervisorBothError`: the callback's error and the executor's (Post's) are
/// both kept, the callback's first.
#[test]
fn supervisor_both_error() {
    let ready = signal();
    let sup = Supervisor::new(nop(), UntilPermanent).hook(
        Hook::new()
            .pre(async |_: &Ctx<'_>, _: &Control, _: &Nop| -> Result<(), Error> {
                ready.cancel();
                Ok(())
            })
            .post(async |_: &Ctx<'_>, _: &Control, _: &Nop| -> Result<(), Error> { Err(fail("sentinel2")) }),
    );
    let root = Ctx::new();
    let result = block_on_within(
        100,
        sup.run(&root, async |_| {
            ready.cancelled().await;
            Err(fail("sentinel1"))
        }),
    );
    assert_eq!(result, Err(fails(&[Fail::At("sentinel1"), Fail::At("sentinel2")])));
}

/// Upstream: `TestSupervisorInterruptsBeforeRun`: an interrupt before the run is a no-op.
#[test]
fn supervisor_interrupts_before_run() {
    let ready = signal();
    let sup = Supervisor::new(nop(), UntilPermanent).hook(Hook::new().pre(
        async |_: &Ctx<'_>, _: &Control, _: &Nop| -> Result<(), Error> {
            ready.cancel();
            Ok(())
        },
    ));
    sup.request_stop();
    let root = Ctx::new();
    let result = block_on_within(
        100,
        sup.run(&root, async |_| {
            ready.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(sup.incarnation(), 1, "the runner did start");
}

/// Upstream: `TestSupervisorRecursiveRunError`: a run inside the run fails at once with
/// `RecursiveOrConcurrentRun`, without calling its callback; the outer run is unaffected.
#[test]
fn supervisor_recursive_run_error() {
    let sup = Supervisor::new(nop(), Once);
    let root = Ctx::new();
    let inner = Cell::new(None);
    let result: Result<(), Error> = block_on_within(
        100,
        sup.run(&root, async |ctx| {
            inner.set(Some(sup.run(ctx, async |_| unreachable!("the inner callback is never called")).await));
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(inner.take(), Some(Err(sup_error(supervisor::Error::RecursiveOrConcurrentRun))));
}

/// The process never becomes ready: the callback runs beside it.
static FAULTY: std::sync::LazyLock<Supervisor<supervisor::Identity<ReturnsAtOnce>, Faulty, Error>> =
    std::sync::LazyLock::new(|| Supervisor::new(ReturnsAtOnce, Faulty).callback_beside_process());

/// A runner that returns `Ok` without calling its callback.
#[derive(Debug)]
struct ReturnsAtOnce;

impl Runner<Error> for ReturnsAtOnce {
    async fn run<F>(&self, _: &Ctx<'_>, _: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        Ok(())
    }
}

static FAULTY_INTERNALS: AtomicU32 = AtomicU32::new(0);

/// An executor that ignores every result and keeps calling the operation: stops after three
/// internal errors in a row (upstream: until a call panics).
#[derive(Debug)]
struct Faulty;

impl Executor for Faulty {
    async fn execute<T, E, O>(&self, ctx: &Ctx<'_>, mut op: O) -> Result<T, retry::Error<E>>
    where
        O: Operation<T, E>,
    {
        loop {
            let result = op.attempt(ctx).await;
            if let Err(retry::Error::Internal(_)) = result
                && FAULTY_INTERNALS.fetch_add(1, Ordering::SeqCst) == 2
            {
                return result;
            }
            yield_now().await;
        }
    }
}

/// Upstream: `TestSupervisorExecutorInterruptPanic` (deviation): a faulty executor that calls
/// the operation again after the interrupt gets an internal error back on every call instead
/// of a panic, and the run returns `Ok`.
#[test]
fn supervisor_executor_interrupt_panic() {
    let root = Ctx::new();
    let result: Result<(), Error> = block_on_within(
        1000,
        FAULTY.run(&root, async |ctx| {
            FAULTY.request_stop();
            ctx.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(FAULTY_INTERNALS.load(Ordering::SeqCst), 3, "three calls after the interrupt, no panic");
}

// === Our own cases ===

/// A process that logs `start N`/`stop N` per incarnation and fails as scripted.
fn flaky<'a>(log: &'a Log, starts: &'a AtomicU32, fail_first: u32) -> impl Runner<Error> + 'a {
    from_fn(async move |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        let n = starts.fetch_add(1, Ordering::SeqCst) + 1;
        log.push(format!("start {n}"));
        lc.ready();
        if n <= fail_first {
            // Fails after a few turns of running; its teardown takes a few turns too.
            yield_now().await;
            for _ in 0..3 {
                yield_now().await;
            }
            log.push(format!("stop {n}"));
            return Err(fail("crash"));
        }
        lc.stop_requested().await;
        for _ in 0..3 {
            yield_now().await;
        }
        log.push(format!("stop {n}"));
        Ok(())
    })
}

/// The old incarnation is completely stopped (its teardown finished) before the next starts.
#[test]
fn next_incarnation_starts_after_the_previous_teardown() {
    let log = Log::new();
    let starts = AtomicU32::new(0);
    let sup = Supervisor::new(flaky(&log, &starts, 3), UntilPermanent);
    let root = Ctx::new();
    let result = block_on_within(
        1000,
        sup.run(&root, async |_| {
            while sup.incarnation() < 4 || sup.state() != State::Running {
                yield_now().await;
            }
            log.push("callback");
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(
        log.events(),
        ["start 1", "stop 1", "start 2", "stop 2", "start 3", "stop 3", "start 4", "callback", "stop 4"]
    );
    assert_eq!(sup.incarnation(), 4);
}

/// State and incarnation as seen from another future: starting, ready, backing off, stopped.
#[test]
fn state_and_incarnation_are_visible() {
    let clock: ManualClock = ManualClock::new();
    let log = Log::new();
    let starts = AtomicU32::new(0);
    let sup = Supervisor::new(flaky(&log, &starts, 1), Retry::new(Constant::every(Duration::from_secs(1)), &clock));
    let root = Ctx::new();
    let seen = std::cell::RefCell::new(Vec::new());
    let run = sup.run(&root, async |_| {
        sup.control().ready().await;
        seen.borrow_mut().push((sup.state(), sup.incarnation()));
        clock.wait_sleeping(1).await;
        seen.borrow_mut().push((sup.state(), sup.incarnation()));
        clock.next();
        yield_now().await;
        sup.control().ready().await;
        seen.borrow_mut().push((sup.state(), sup.incarnation()));
        Ok(())
    });
    assert_eq!(sup.state(), State::Initial);
    assert_eq!(block_on_within(1000, run), Ok(()));
    assert_eq!(*seen.borrow(), [(State::Running, 1), (State::BackingOff, 1), (State::Running, 2)]);
    assert_eq!((sup.state(), sup.incarnation()), (State::Stopped, 2));
    assert!(!sup.control().is_active());
}

/// A stop request (formerly `interrupt`) during the backoff cancels the sleep at once; the
/// result is the last failure.
#[test]
fn request_stop_during_backoff() {
    let clock: ManualClock = ManualClock::new();
    let log = Log::new();
    let starts = AtomicU32::new(0);
    let sup = Supervisor::new(flaky(&log, &starts, 10), Retry::new(Constant::every(Duration::from_secs(3600)), &clock));
    let root = Ctx::new();
    let run = sup.run(&root, async |ctx| {
        ctx.cancelled().await;
        Ok(())
    });
    let other = async {
        clock.wait_sleeping(1).await;
        assert_eq!(sup.state(), State::BackingOff);
        sup.request_stop();
    };
    let (result, ()) = block_on_within(1000, futures::future::join(run, other));
    assert_eq!(result, Err(fail("crash")));
    assert_eq!(clock.now().elapsed(), Duration::ZERO, "no time passed");
    assert_eq!(log.events(), ["start 1", "stop 1"]);
}

/// A stop request during the start is graceful: the incarnation finishes starting, runs its
/// hooks, and stops at once; the callback, which waits for readiness, is never called.
#[test]
fn request_stop_during_start() {
    let log = Log::new();
    let go = signal();
    let runner = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        log.push("starting");
        go.cancelled().await;
        lc.ready();
        let how = lc.stop_requested().await;
        log.push(format!("stop {how:?}"));
        Ok::<(), Error>(())
    });
    let sup = Supervisor::new(runner, UntilPermanent).hook(
        Hook::new()
            .pre(async |_: &Ctx<'_>, _: &Control, _: &_| -> Result<(), Error> {
                log.push("pre");
                Ok(())
            })
            .post(async |_: &Ctx<'_>, _: &Control, _: &_| -> Result<(), Error> {
                log.push("post");
                Ok(())
            }),
    );
    let root = Ctx::new();
    let run = sup.run(&root, async |ctx| {
        ctx.cancelled().await;
        Ok(())
    });
    let other = async {
        yield_now().await;
        assert_eq!(sup.state(), State::Starting);
        sup.request_stop();
        yield_now().await;
        go.cancel();
    };
    let (result, ()) = block_on_within(1000, futures::future::join(run, other));
    assert_eq!(result, Ok(()));
    assert_eq!(log.events(), ["starting", "pre", "post", "stop Graceful"]);
}

/// A stop request from another thread while the process is running stops it gracefully.
#[test]
fn request_stop_while_running_from_another_thread() {
    static LOG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    static SUP: Supervisor<supervisor::Identity<Probe>, UntilPermanent, Error> = Supervisor::new(Probe, UntilPermanent);

    #[derive(Debug)]
    struct Probe;
    impl Runner<Error> for Probe {
        async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
        where
            F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
        {
            let inner = ctx.child();
            let result = ready(&inner).await;
            LOG.lock().unwrap().push(format!("stopped, forced: {}", ctx.is_cancelled()));
            result
        }
    }

    // Cross-thread waits cannot be bounded by polls; these signals make a broken supervisor
    // fail the test instead of hanging it: the run returning releases the other thread, and
    // the stop having been asked bounds the callback's wait for its context.
    static RUN_DONE: Ctx<'static> = Ctx::new();
    static STOP_ASKED: Ctx<'static> = Ctx::new();
    let interrupter = std::thread::spawn(|| {
        let (ready, done) = (core::pin::pin!(SUP.control().ready()), core::pin::pin!(RUN_DONE.cancelled()));
        let running = matches!(block_on(futures::future::select(ready, done)), futures::future::Either::Left(_));
        let asked = running && SUP.request_stop();
        STOP_ASKED.cancel();
        asked
    });
    let root = Ctx::new();
    let result = block_on(SUP.run(&root, async |ctx| {
        let bound = async {
            STOP_ASKED.cancelled().await;
            for _ in 0..1000 {
                yield_now().await;
            }
        };
        match futures::future::select(core::pin::pin!(ctx.cancelled()), core::pin::pin!(bound)).await {
            futures::future::Either::Left(_) => Ok(()),
            futures::future::Either::Right(_) => Err(fail("not stopped")),
        }
    }));
    RUN_DONE.cancel();
    assert!(interrupter.join().unwrap(), "the stop was asked while running");
    assert_eq!(result, Ok(()));
    assert_eq!(*LOG.lock().unwrap(), ["stopped, forced: false"]);
}

/// A process that fails too often within the period exhausts the intensity: the last failure,
/// then `IntensityExceeded`.
#[test]
fn intensity_exhaustion_is_reported() {
    let clock: ManualClock = ManualClock::new();
    let log = Log::new();
    let starts = AtomicU32::new(0);
    let retry = Retry::new(Constant::every(Duration::ZERO), &clock).intensity::<3>(Duration::from_secs(5));
    let sup = Supervisor::new(flaky(&log, &starts, 100), retry);
    let root = Ctx::new();
    let result = block_on_within(
        1000,
        sup.run(&root, async |ctx| {
            ctx.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Err(fails(&[Fail::At("crash"), Fail::Sup(supervisor::Error::IntensityExceeded)])));
    assert_eq!(sup.incarnation(), 4, "three restarts, then give up");
}

/// By default (formerly the `callback_after_ready` opt-in), a process that never becomes ready
/// is a start failure: the callback is not called.
#[test]
fn callback_is_not_called_without_readiness() {
    let sup = Supervisor::new(from_fn(async |_: &Ctx<'_>, _: &Lifecycle<'_>| Err::<(), Error>(fail("no link"))), Once);
    let root = Ctx::new();
    let result = block_on_within(100, sup.run(&root, async |_| unreachable!("never ready")));
    assert_eq!(result, Err(fail("no link")));
}

/// With `callback_beside_process` (formerly the default) the callback starts before the process
/// is ready.
#[test]
fn callback_beside_process_starts_before_readiness() {
    let go = signal();
    let runner = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        go.cancelled().await;
        lc.ready();
        lc.stop_requested().await;
        Ok::<(), Error>(())
    });
    let sup = Supervisor::new(runner, UntilPermanent).callback_beside_process();
    let root = Ctx::new();
    let state_at_callback = Cell::new(None);
    let result = block_on_within(
        100,
        sup.run(&root, async |_| {
            state_at_callback.set(Some(sup.state()));
            go.cancel();
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(state_at_callback.get(), Some(State::Starting));
}

/// A process that fails instantly under `UntilPermanent` does not starve its task: the
/// callback still runs and its return ends supervision.
#[test]
fn an_instantly_failing_process_cannot_starve_the_executor() {
    let attempts = AtomicU32::new(0);
    let runner = from_fn(async |_: &Ctx<'_>, _: &Lifecycle<'_>| {
        attempts.fetch_add(1, Ordering::SeqCst);
        Err::<(), Error>(fail("instant"))
    });
    // Never ready: the callback runs beside the process.
    let sup = Supervisor::new(runner, UntilPermanent).callback_beside_process();
    let root = Ctx::new();
    let result = block_on_within(
        1000,
        sup.run(&root, async |_| {
            for _ in 0..20 {
                yield_now().await;
            }
            Ok(())
        }),
    );
    assert_eq!(result, Err(fail("instant")));
    assert!(
        attempts.load(Ordering::SeqCst) >= 10,
        "attempts interleave with the callback: {}",
        attempts.load(Ordering::SeqCst)
    );
}

/// A runner that fails at once, without yielding, and counts its runs.
#[derive(Debug)]
struct FailsAtOnce<'a> {
    runs: &'a AtomicU32,
    ready_first: bool,
}

impl Runner<Error> for FailsAtOnce<'_> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if self.ready_first {
            // Ready, then fails at once: the callback is dropped unfinished.
            let inner = ctx.child();
            let mut callback = core::pin::pin!(ready(&inner));
            let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
            let _ = callback.as_mut().poll(&mut cx);
        }
        Err(fail("instant"))
    }
}

/// A process that failed at every incarnation under `UntilPermanent`, whose callback returns
/// while the executor yields between two attempts: the last failure is the run's result, not
/// `Ok`, and no incarnation starts after the callback returned.
#[test]
fn callback_returning_between_attempts_reports_the_failure() {
    let runs = AtomicU32::new(0);
    let sup =
        Supervisor::new(FailsAtOnce { runs: &runs, ready_first: false }, UntilPermanent).callback_beside_process();
    let root = Ctx::new();
    let result = block_on_within(
        1000,
        sup.run(&root, async |_| {
            // The attempts complete within the executor's polls: this runs between two.
            while runs.load(Ordering::SeqCst) < 3 {
                yield_now().await;
            }
            Ok(())
        }),
    );
    assert_eq!(result, Err(fail("instant")));
    assert_eq!(runs.load(Ordering::SeqCst), 3, "no incarnation after the callback returned");
}

/// A run whose future is dropped (a hard stop) releases the supervisor: the next run works.
#[test]
fn a_dropped_run_releases_the_supervisor() {
    let sup = Supervisor::new(nop(), UntilPermanent);
    let root = Ctx::new();
    {
        let mut run = Box::pin(sup.run(&root, async |_| core::future::pending::<Result<(), Error>>().await));
        let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
        assert!(run.as_mut().poll(&mut cx).is_pending());
        assert!(sup.control().is_active());
    }
    assert!(!sup.control().is_active());
    assert_eq!(sup.state(), State::Stopped);
    let result: Result<(), Error> = block_on_within(100, sup.run(&root, async |_| Ok(())));
    assert_eq!(result, Ok(()));
}

/// A concurrent run from another future fails at once; the first is unaffected.
#[test]
fn a_concurrent_run_fails_at_once() {
    let sup = Supervisor::new(nop(), UntilPermanent);
    let root = Ctx::new();
    let first = sup.run(&root, async |_| {
        for _ in 0..3 {
            yield_now().await;
        }
        Ok(())
    });
    let second = async {
        yield_now().await;
        sup.run(&root, async |_| unreachable!()).await
    };
    let (first, second): (Result<(), Error>, Result<(), Error>) =
        block_on_within(100, futures::future::join(first, second));
    assert_eq!(first, Ok(()));
    assert_eq!(second, Err(sup_error(supervisor::Error::RecursiveOrConcurrentRun)));
}

/// Cancelling the parent context stops the supervised process (forced) and ends the run.
#[test]
fn parent_cancellation_ends_supervision() {
    let log = Log::new();
    let starts = AtomicU32::new(0);
    let sup = Supervisor::new(flaky(&log, &starts, 0), UntilPermanent);
    let root = Ctx::new();
    let result = block_on_within(
        1000,
        sup.run(&root, async |ctx| {
            sup.control().ready().await;
            root.cancel();
            ctx.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(log.events(), ["start 1", "stop 1"]);
}

/// The hooks see the live instance made by a builder for this incarnation.
#[test]
fn hooks_see_the_live_instance() {
    let made = AtomicU32::new(0);
    let builder = build_fn(async |_: &Ctx<'_>| -> Result<Numbered, Error> {
        Ok(Numbered(made.fetch_add(1, Ordering::SeqCst) + 1))
    });
    let seen = std::sync::Mutex::new(Vec::new());
    let sup = Supervisor::with_builder(builder, UntilPermanent).hook(Hook::new().pre(
        async |_: &Ctx<'_>, sup: &Control, live: &Numbered| -> Result<(), Error> {
            seen.lock().unwrap().push(live.0);
            if live.0 < 3 {
                return Err(fail("not yet"));
            }
            sup.request_stop();
            Ok(())
        },
    ));
    let root = Ctx::new();
    let result = block_on_within(
        1000,
        sup.run(&root, async |ctx| {
            ctx.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
}

/// A runner that carries the number of its incarnation.
#[derive(Debug)]
struct Numbered(u32);

impl Runner<Error> for Numbered {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        ready(&ctx.child()).await
    }
}

/// A build error is an attempt's failure: retried like a runner error, and returned unchanged
/// when the executor gives up.
#[test]
fn build_errors_are_retried() {
    let builds = AtomicU32::new(0);
    let builder = build_fn(async |_: &Ctx<'_>| -> Result<Nop, Error> {
        if builds.fetch_add(1, Ordering::SeqCst) < 2 { Err(fail("no config yet")) } else { Ok(nop()) }
    });
    let sup = Supervisor::with_builder(builder, UntilPermanent);
    let root = Ctx::new();
    assert_eq!(block_on_within(100, sup.run(&root, async |_| Ok(()))), Ok(()));
    assert_eq!((builds.load(Ordering::SeqCst), sup.incarnation()), (3, 3));
    let always = Supervisor::with_builder(build_fn(async |_: &Ctx<'_>| Err::<Nop, _>(fail("broken"))), Once);
    assert_eq!(
        block_on_within(
            100,
            always.run(&root, async |ctx| {
                ctx.cancelled().await;
                Ok(())
            })
        ),
        Err(fail("broken"))
    );
}

/// A supervised tree of `Send` parts on the tokio clock can be spawned on a multi-threaded
/// runtime.
#[cfg(feature = "tokio")]
#[test]
fn a_supervisor_run_is_send() {
    use procession::time::TokioClock;
    // `tokio::spawn` requires `Send` on every runtime; paused time needs the current-thread one.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    let result = rt.block_on(async {
        tokio::spawn(async {
            // Owned state: a closure that captures references makes the run future's `Send`
            // unprovable for the compiler today (higher-ranked lifetimes of async closures).
            let starts = std::sync::Arc::new(AtomicU32::new(0));
            let third = std::sync::Arc::new(tokio::sync::Notify::new());
            let (s, t) = (starts.clone(), third.clone());
            let process = from_fn(async move |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
                lc.ready();
                if s.fetch_add(1, Ordering::SeqCst) < 2 {
                    return Err(fail("crash"));
                }
                t.notify_one();
                lc.stop_requested().await;
                Ok(())
            });
            let retry = Retry::new(Constant::every(Duration::from_secs(10)), TokioClock::new());
            let sup = Supervisor::new(process, retry);
            let root = Ctx::new();
            sup.run(&root, async |_| {
                third.notified().await;
                sup.control().ready().await;
                assert_eq!((sup.incarnation(), sup.state()), (3, State::Running));
                Ok(())
            })
            .await
        })
        .await
        .unwrap()
    });
    assert_eq!(result, Ok(()));
}

/// Upstream §3.4: when the callback returns while the runner is active and the runner then
/// fails while it stops, the executor sees the cancelled context and returns that failure: it
/// is the run's result, not swallowed as an interrupt.
#[test]
fn a_failure_while_stopping_after_an_interrupt_is_returned() {
    let runner = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        lc.ready();
        lc.stop_requested().await;
        Err::<(), Error>(fail("flush failed"))
    });
    for result in [
        block_on_within(100, Supervisor::new(&runner, UntilPermanent).run(&Ctx::new(), async |_| Ok(()))),
        block_on_within(
            100,
            Supervisor::new(
                &runner,
                Retry::new(Constant::every(Duration::from_secs(1)), ManualClock::<4>::with_capacity()),
            )
            .run(&Ctx::new(), async |_| Ok(())),
        ),
    ] {
        assert_eq!(result, Err(fail("flush failed")));
    }
}

/// A supervisor whose `Control` uses another raw mutex (here `NoopRawMutex`, everything in one
/// task) works the same.
#[test]
fn another_raw_mutex() {
    use embassy_sync::blocking_mutex::raw::NoopRawMutex;
    let sup = Supervisor::new(nop(), UntilPermanent).mutex::<NoopRawMutex>().hook(Hook::new().pre(
        async |_: &Ctx<'_>, sup: &Control<NoopRawMutex>, _: &Nop| -> Result<(), Error> {
            sup.request_stop();
            Ok(())
        },
    ));
    let root = Ctx::new();
    let result = block_on_within(
        100,
        sup.run(&root, async |ctx| {
            ctx.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!((result, sup.incarnation()), (Ok(()), 1));
}

/// A failure classified as permanent is not restarted, even by `UntilPermanent`; others are.
#[test]
fn permanent_failures_are_not_restarted() {
    let starts = AtomicU32::new(0);
    let runner = from_fn(async |_: &Ctx<'_>, _: &Lifecycle<'_>| {
        let n = starts.fetch_add(1, Ordering::SeqCst) + 1;
        Err::<(), Error>(fail(if n < 3 { "link down" } else { "bad config" }))
    });
    let sup =
        Supervisor::new(runner, UntilPermanent).permanent_if(|e: &Error| e.errors().contains(&Fail::At("bad config")));
    let root = Ctx::new();
    let result = block_on_within(
        100,
        sup.run(&root, async |ctx| {
            ctx.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Err(fail("bad config")));
    assert_eq!(starts.load(Ordering::SeqCst), 3);
}

/// Each state displays in lower case, as the states of `process` and `shot` do.
#[test]
fn state_display() {
    use procession::supervisor::State;
    let shown = [State::Initial, State::Starting, State::Running, State::BackingOff, State::Stopped]
        .map(|state| state.to_string());
    assert_eq!(shown, ["initial", "starting", "running", "backing off", "stopped"]);
}

/// Each error of the supervisor itself displays in lower case, prefixed by `supervisor: `.
#[test]
fn error_display() {
    use supervisor::Error as E;
    let shown = [E::RecursiveOrConcurrentRun, E::IntensityExceeded, E::CallbackOverrun].map(|e| e.to_string());
    assert_eq!(
        shown,
        [
            "supervisor: recursive or concurrent run",
            "supervisor: restart intensity exceeded",
            "supervisor: callback deadline passed after cancellation, callback dropped",
        ]
    );
}

/// The default timeline with a process that becomes ready and then fails at every incarnation:
/// the callback, running since the first readiness, returns between two attempts; the last
/// failure is the run's result.
#[test]
fn callback_returning_between_attempts_reports_the_failure_after_readiness() {
    let runs = AtomicU32::new(0);
    let sup = Supervisor::new(FailsAtOnce { runs: &runs, ready_first: true }, UntilPermanent);
    let root = Ctx::new();
    let result = block_on_within(
        1000,
        sup.run(&root, async |_| {
            while runs.load(Ordering::SeqCst) < 3 {
                yield_now().await;
            }
            Ok(())
        }),
    );
    assert_eq!(result, Err(fail("instant")));
    assert_eq!(runs.load(Ordering::SeqCst), 3, "no incarnation after the callback returned");
}

/// `request_stop` says whether it changed anything: not before a run, once during it, not
/// twice, not after it.
#[test]
fn request_stop_returns_whether_it_changed_anything() {
    let sup = Supervisor::new(nop(), UntilPermanent);
    assert!(!sup.request_stop(), "no run is active");
    let root = Ctx::new();
    let answers = Cell::new((false, true));
    let result: Result<(), Error> = block_on_within(
        100,
        sup.run(&root, async |ctx| {
            answers.set((sup.request_stop(), sup.control().request_stop()));
            ctx.cancelled().await;
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(answers.get(), (true, false));
    assert!(!sup.request_stop(), "the run has ended");
    assert_eq!(sup.state(), State::Stopped);
}

/// A runner that logs `NAME: starting`, waits for `go` (if any), logs `NAME: ready`, and
/// `NAME: stop` when it stops.
fn gated<'a>(name: &'static str, log: &'a Log, go: Option<&'a Ctx<'static>>) -> impl Runner<Error> + 'a {
    from_fn(async move |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        log.push(format!("{name}: starting"));
        if let Some(go) = go {
            go.cancelled().await;
        }
        log.push(format!("{name}: ready"));
        lc.ready();
        lc.stop_requested().await;
        log.push(format!("{name}: stop"));
        Ok::<(), Error>(())
    })
}

/// Runs `chain((supervisor, next))` while another future opens the supervised process's gate
/// after a few turns; returns the log.
fn run_chain_with_a_slow_supervised_process(beside: bool) -> Vec<String> {
    let log = Log::new();
    let go = signal();
    let sup = Supervisor::new(gated("supervised", &log, Some(&go)), UntilPermanent);
    let sup = if beside { sup.callback_beside_process() } else { sup };
    let tree = procession::chain((sup, gated("next", &log, None)));
    let root = Ctx::new();
    let run = tree.run(&root, async |_| {
        log.push("main");
        Ok(())
    });
    let other = async {
        for _ in 0..5 {
            yield_now().await;
        }
        log.push("go");
        go.cancel();
    };
    let (result, ()) = block_on_within(1000, futures::future::join(run, other));
    assert_eq!(result, Ok(()));
    log.events()
}

/// By default a supervisor inside a `chain` gates the next child until the supervised process
/// is ready; beside the process, it does not.
#[test]
fn a_supervisor_in_a_chain_gates_the_next_child_until_ready() {
    assert_eq!(
        run_chain_with_a_slow_supervised_process(false),
        [
            "supervised: starting",
            "go",
            "supervised: ready",
            "next: starting",
            "next: ready",
            "main",
            "next: stop",
            "supervised: stop"
        ]
    );
    let beside = run_chain_with_a_slow_supervised_process(true);
    assert_eq!(beside[..2], ["supervised: starting", "next: starting"], "{beside:?}");
}

/// A forced stop from outside follows the dependency order: the callback's context is
/// cancelled first, the process's only once the callback has returned, with the same cause.
#[test]
fn a_forced_stop_reaches_the_process_after_the_callback() {
    let log = Log::new();
    let process = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| {
        lc.ready();
        let how = lc.stop_requested().await;
        log.push(format!("process: stop {how:?}, cause {:?}", ctx.cause()));
        Ok::<(), Error>(())
    });
    let sup = Supervisor::new(process, UntilPermanent);
    let root = Ctx::new();
    let result = block_on_within(
        1000,
        sup.run(&root, async |ctx| {
            root.cancel_with(procession::Cause::Deadline);
            let cause = ctx.cancelled().await;
            for _ in 0..5 {
                yield_now().await;
            }
            log.push(format!("callback: cancelled ({cause}), returns"));
            Ok(())
        }),
    );
    assert_eq!(result, Ok(()));
    let events = log.events();
    assert_eq!(events[0], "callback: cancelled (deadline), returns");
    assert!(events[1].starts_with("process: stop") && events[1].ends_with("cause Some(Deadline)"), "{events:?}");
}

/// A callback that ignores its context, after the process failed for good: dropped when the
/// callback deadline passes (on a manual clock, measured from the cancellation), and the run
/// reports the overrun, then the failure.
#[test]
fn callback_deadline_bounds_a_callback_that_ignores_its_context() {
    use procession::time::Clock;
    let clock: ManualClock = ManualClock::new();
    let process = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        lc.ready();
        Err::<(), Error>(fail("crash"))
    });
    let sup = Supervisor::new(process, Once).callback_deadline(|| clock.sleep(Duration::from_secs(2)));
    let root = Ctx::new();
    let dropped = Cell::new(false);
    let run = sup.run(&root, async |_| {
        // Noted when the callback's future is dropped unfinished.
        let _guard = Defer(&dropped);
        core::future::pending::<()>().await;
        Ok(())
    });
    let time = async {
        clock.wait_sleeping(1).await;
        assert_eq!(clock.now().elapsed(), Duration::ZERO, "the deadline starts at the cancellation");
        assert!(!dropped.get());
        clock.next();
    };
    let (result, ()) = block_on_within(1000, futures::future::join(run, time));
    assert_eq!(result, Err(fails(&[Fail::Sup(supervisor::Error::CallbackOverrun), Fail::At("crash")])));
    assert!(dropped.get());
    assert_eq!(clock.now().elapsed(), Duration::from_secs(2));
}

/// A forced stop from outside while the callback ignores its context: the process keeps running
/// until the callback deadline (a manual gate here) passes, then the callback is dropped and
/// the process stopped; without the deadline's end the run does not return.
#[test]
fn callback_deadline_bounds_a_forced_stop() {
    let log = Log::new();
    let deadline = signal();
    let sup = Supervisor::new(gated("process", &log, None), UntilPermanent).callback_deadline(|| async {
        deadline.cancelled().await;
    });
    let root = Ctx::new();
    let run = sup.run(&root, async |_| {
        log.push("callback: ignores its context");
        core::future::pending::<Result<(), Error>>().await
    });
    let other = async {
        root.cancel();
        for _ in 0..20 {
            yield_now().await;
        }
        log.push("deadline");
        assert_eq!(sup.state(), State::Running, "the process outlives its dependent");
        deadline.cancel();
    };
    let (result, ()) = block_on_within(1000, futures::future::join(run, other));
    assert_eq!(result, Err(sup_error(supervisor::Error::CallbackOverrun)));
    assert_eq!(
        log.events(),
        ["process: starting", "process: ready", "callback: ignores its context", "deadline", "process: stop"]
    );
}

/// Sets its flag when dropped.
struct Defer<'a>(&'a Cell<bool>);

impl Drop for Defer<'_> {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// The callback's context says why it ends: a process that gave up is a dependency failure;
/// a stop request from another task is a shutdown; a process that returned `Ok` ends it as
/// its parent.
#[test]
fn the_callback_context_carries_why_the_process_ended() {
    use procession::Cause;
    // Fails for good after it was ready.
    let gives_up = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        lc.ready();
        yield_now().await;
        Err::<(), Error>(fail("crash"))
    });
    let seen = Cell::new(None);
    let root = Ctx::new();
    let result = block_on_within(
        100,
        Supervisor::new(&gives_up, Once).run(&root, async |ctx| {
            seen.set(Some(ctx.cancelled().await));
            Ok(())
        }),
    );
    assert_eq!((result, seen.take()), (Err(fail("crash")), Some(Cause::DependencyFailed)));
    // Asked to stop from another future while it runs.
    let log = Log::new();
    let sup = Supervisor::new(gated("p", &log, None), UntilPermanent);
    let run = sup.run(&root, async |ctx| {
        seen.set(Some(ctx.cancelled().await));
        Ok(())
    });
    let other = async {
        sup.control().ready().await;
        assert!(sup.request_stop());
    };
    let (result, ()) = block_on_within(100, futures::future::join(run, other));
    assert_eq!((result, seen.take()), (Ok(()), Some(Cause::Shutdown)));
    // Returns `Ok` by itself.
    let finishes = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        lc.ready();
        yield_now().await;
        Ok::<(), Error>(())
    });
    let result = block_on_within(
        100,
        Supervisor::new(&finishes, UntilPermanent).run(&root, async |ctx| {
            seen.set(Some(ctx.cancelled().await));
            Ok(())
        }),
    );
    assert_eq!((result, seen.take()), (Ok(()), Some(Cause::Parent)));
}

/// A forced stop from outside before the process is ready reaches the process at once: the
/// callback, which waits for readiness, is never called.
#[test]
fn a_forced_stop_before_readiness_stops_the_process() {
    let log = Log::new();
    let never_ready = from_fn(async |ctx: &Ctx<'_>, _: &Lifecycle<'_>| {
        log.push("process: starting");
        let cause = ctx.cancelled().await;
        log.push(format!("process: cancelled ({cause})"));
        Ok::<(), Error>(())
    });
    let sup = Supervisor::new(never_ready, UntilPermanent);
    let root = Ctx::new();
    let run = sup.run(&root, async |_| unreachable!("never ready"));
    let other = async {
        yield_now().await;
        root.cancel();
    };
    let (result, ()) = block_on_within(100, futures::future::join(run, other));
    assert_eq!(result, Ok(()));
    assert_eq!(log.events(), ["process: starting", "process: cancelled (shutdown)"]);
}

/// `cancel` from another future is a forced stop in dependency order, as cancelling the run's
/// context is: the callback first (with `Shutdown`), then the process; it says whether it
/// changed anything.
#[test]
fn cancel_is_a_forced_stop_in_dependency_order() {
    let log = Log::new();
    let process = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| {
        lc.ready();
        let how = lc.stop_requested().await;
        log.push(format!("process: stop {how:?}, cause {:?}", ctx.cause()));
        Ok::<(), Error>(())
    });
    let sup = Supervisor::new(process, UntilPermanent);
    assert!(!sup.cancel(), "no run is active");
    let root = Ctx::new();
    let run = sup.run(&root, async |ctx| {
        let cause = ctx.cancelled().await;
        for _ in 0..5 {
            yield_now().await;
        }
        log.push(format!("callback: cancelled ({cause})"));
        Ok(())
    });
    let other = async {
        sup.control().ready().await;
        assert!(sup.cancel());
        assert!(!sup.control().cancel(), "already asked");
    };
    let (result, ()) = block_on_within(1000, futures::future::join(run, other));
    assert_eq!(result, Ok(()));
    assert!(!root.is_cancelled(), "the caller's context is left alone");
    let events = log.events();
    assert_eq!(events[0], "callback: cancelled (shutdown)");
    assert!(events[1].starts_with("process: stop") && events[1].ends_with("cause Some(Shutdown)"), "{events:?}");
    assert!(!sup.cancel(), "the run has ended");
}

/// An incarnation asked to stop while it starts is running once it is ready, until it stops:
/// its hooks, and a waiter for readiness, see [`State::Running`].
#[test]
fn a_process_asked_to_stop_while_starting_is_running_once_ready() {
    let log = Log::new();
    let go = signal();
    let runner = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        go.cancelled().await;
        lc.ready();
        lc.stop_requested().await;
        Ok::<(), Error>(())
    });
    let sup = Supervisor::new(runner, UntilPermanent).hook(Hook::new().pre(
        async |_: &Ctx<'_>, c: &Control, _: &_| -> Result<(), Error> {
            log.push(format!("pre: {}", c.state()));
            Ok(())
        },
    ));
    let root = Ctx::new();
    let run = sup.run(&root, async |ctx| {
        ctx.cancelled().await;
        Ok(())
    });
    let other = async {
        yield_now().await;
        assert!(sup.request_stop());
        assert_eq!(sup.state(), State::Starting);
        go.cancel();
    };
    let (result, ()) = block_on_within(1000, futures::future::join(run, other));
    assert_eq!(result, Ok(()));
    assert_eq!(log.events(), ["pre: running"]);
    assert_eq!(sup.state(), State::Stopped);
}

/// Once the executor has given up, the run is stopped while its callback still runs: `state`
/// says so, and `request_stop` and `cancel` change nothing.
#[test]
fn after_the_executor_returns_the_run_is_stopped_and_refuses_stops() {
    let runner = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        lc.ready();
        yield_now().await;
        Err::<(), Error>(fail("crash"))
    });
    let sup = Supervisor::new(runner, Once);
    let root = Ctx::new();
    let seen = Cell::new(None);
    let result = block_on_within(
        100,
        sup.run(&root, async |ctx| {
            ctx.cancelled().await;
            seen.set(Some((sup.state(), sup.request_stop(), sup.cancel())));
            Ok(())
        }),
    );
    assert_eq!(result, Err(fail("crash")));
    assert_eq!(seen.get(), Some((State::Stopped, false, false)));
}

/// A waker that records that it was woken.
struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn flag() -> (std::sync::Arc<Flag>, core::task::Waker) {
    let flag = std::sync::Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
    (flag.clone(), core::task::Waker::from(flag))
}

fn woken(flag: &Flag) -> bool {
    flag.0.load(Ordering::SeqCst)
}

/// Registers a readiness waiter of `control` for each flag's waker, through `poll_ready`; each
/// must still be pending.
fn wait_ready<M: embassy_sync::blocking_mutex::raw::RawMutex>(
    control: &Control<M>,
    flags: &[(std::sync::Arc<Flag>, core::task::Waker)],
) {
    for (_, waker) in flags {
        assert!(control.poll_ready(&mut core::task::Context::from_waker(waker)).is_pending());
    }
}

/// A task that polls for readiness while the process starts is woken once it is ready (its
/// own waker, not the one of the task that drives the run).
#[test]
fn a_readiness_waiter_is_woken_when_the_process_is_ready() {
    let go = signal();
    let runner = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        go.cancelled().await;
        lc.ready();
        lc.stop_requested().await;
        Ok::<(), Error>(())
    });
    let sup = Supervisor::new(runner, UntilPermanent);
    let root = Ctx::new();
    let run = sup.run(&root, async |_| Ok(()));
    let (waiter, waker) = flag();
    let other = async {
        yield_now().await;
        assert_eq!(sup.state(), State::Starting);
        assert!(sup.control().poll_ready(&mut core::task::Context::from_waker(&waker)).is_pending());
        go.cancel();
        while sup.state() == State::Starting {
            yield_now().await;
        }
        assert!(woken(&waiter), "woken when ready");
    };
    let (result, ()) = block_on_within(1000, futures::future::join(run, other));
    assert_eq!(result, Ok(()));
}

/// Dropping a supervisor that had more readiness waiters than its slots forgets its own waiters
/// in the spill table (it keeps no clone of their wakers), and only those: the spilled waiters
/// of another one are still woken.
#[test]
fn a_dropped_supervisor_leaves_the_spilled_waiters_of_another() {
    let slots = procession::ctx::WAITER_SLOTS;
    let kept = Supervisor::new(nop(), UntilPermanent);
    let flags: Vec<_> = (0..2 * (slots + 1)).map(|_| flag()).collect();
    let (first, second) = flags.split_at(slots + 1);
    {
        // Dropped at the end of the block (`a_moved_supervisor_*` drops a moved one).
        let dropped: Supervisor<_, _, Error> = Supervisor::new(nop(), UntilPermanent);
        wait_ready(dropped.control(), first);
        wait_ready(kept.control(), second);
    }
    // Ours and the waker: the spill table keeps no clone of a dropped supervisor's waiters.
    assert!(first.iter().all(|(f, _)| std::sync::Arc::strong_count(f) == 2), "nothing left in the spill table");
    let root = Ctx::new();
    let result: Result<(), Error> = block_on_within(100, kept.run(&root, async |_| Ok(())));
    assert_eq!(result, Ok(()));
    assert!(second.iter().all(|(f, _)| woken(f)), "every waiter of the kept supervisor is woken");
    assert!(!first.iter().any(|(f, _)| woken(f)), "a dropped supervisor's waiters are forgotten");
}

/// A supervisor moved (into a `Box`) while more readiness waiters than its slots wait through
/// `poll_ready` still wakes every one of them: its spilled waiters are kept under an id of its
/// own, not under its address. Until they were, the spilled ones were lost (found by the
/// `Control::key` mutants: a boxed supervisor woke 4 of its 5 waiters).
#[test]
fn a_moved_supervisor_still_wakes_its_spilled_waiters() {
    let slots = procession::ctx::WAITER_SLOTS;
    let flags: Vec<_> = (0..slots + 2).map(|_| flag()).collect();
    let sup: Supervisor<_, _, Error> = Supervisor::new(nop(), UntilPermanent);
    wait_ready(sup.control(), &flags);
    let moved = std::boxed::Box::new(sup);
    let root = Ctx::new();
    let result: Result<(), Error> = block_on_within(100, moved.run(&root, async |_| Ok(())));
    assert_eq!(result, Ok(()));
    let woken_count = flags.iter().filter(|(f, _)| woken(f)).count();
    assert_eq!(woken_count, flags.len(), "every waiter of the moved supervisor is woken");
}

/// Dropping a supervisor that was moved after its waiters spilled forgets their entries in
/// the spill table all the same (no clone of their wakers is left behind).
#[test]
fn a_moved_supervisor_forgets_its_spilled_waiters_when_dropped() {
    let slots = procession::ctx::WAITER_SLOTS;
    let flags: Vec<_> = (0..slots + 2).map(|_| flag()).collect();
    let sup: Supervisor<_, _, Error> = Supervisor::new(nop(), UntilPermanent);
    wait_ready(sup.control(), &flags);
    let moved = std::boxed::Box::new(sup);
    drop(moved);
    // Ours and the waker: the spill table keeps no clone.
    assert!(flags.iter().all(|(f, _)| std::sync::Arc::strong_count(f) == 2), "nothing left in the spill table");
}

/// Three supervisors whose waiters spilled at the same time keep them apart in the spill
/// table: running the first wakes its waiters only, dropping the second forgets only its own
/// entries, and running the third still wakes every one of its waiters (found by the mutants
/// of `spill::list_key`: lists whose keys collide woke and forgot each other's waiters).
#[test]
fn supervisors_keep_their_spilled_waiters_apart() {
    let slots = procession::ctx::WAITER_SLOTS;
    let sups: Vec<Supervisor<_, _, Error>> = (0..3).map(|_| Supervisor::new(nop(), UntilPermanent)).collect();
    let flags: Vec<Vec<_>> = sups.iter().map(|_| (0..slots + 2).map(|_| flag()).collect()).collect();
    for (sup, flags) in sups.iter().zip(&flags) {
        wait_ready(sup.control(), flags);
    }
    let woken_of = |i: usize| flags[i].iter().filter(|(f, _)| woken(f)).count();
    let mut sups = sups.into_iter();
    let (first, second, third) = (sups.next().unwrap(), sups.next().unwrap(), sups.next().unwrap());
    let root = Ctx::new();
    let result: Result<(), Error> = block_on_within(100, first.run(&root, async |_| Ok(())));
    assert_eq!(result, Ok(()));
    assert_eq!((woken_of(0), woken_of(1), woken_of(2)), (slots + 2, 0, 0), "a waiter of another was woken");
    drop(second);
    assert!(flags[1].iter().all(|(f, _)| std::sync::Arc::strong_count(f) == 2), "the dropped one left an entry");
    let result: Result<(), Error> = block_on_within(100, third.run(&root, async |_| Ok(())));
    assert_eq!(result, Ok(()));
    assert_eq!(woken_of(2), slots + 2, "the third lost a spilled waiter");
    assert_eq!(woken_of(1), 0);
}
