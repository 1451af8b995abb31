//! `process::Process`: the handle, its driver, every transition of the state table (also the
//! racing ones), deadlines, a dropped driver, many waiters, a `static` used from threads, and a
//! stress test.

#![allow(clippy::result_large_err, reason = "the tests' error type is a large `MultiError`")]
#![allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]

mod common;

use core::future::{Future, pending, ready};
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;

use common::*;
use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, NoopRawMutex};
use procession::process::{Error as ProcessError, Process, State};
use procession::{Cause, Ctx, Overrun, Phase, Runner, StopLevel, leaf_with_stop, start_stop};

type P = Process<Error, 4, CriticalSectionRawMutex>;
type PErr = ProcessError<Error>;

// === harness ===

/// A waker that counts its wakes.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future polled by hand: only when its waker was woken since the last poll (or never polled).
struct Task<'a, T> {
    fut: Option<Pin<Box<dyn Future<Output = T> + 'a>>>,
    counter: Arc<Counter>,
    seen: Option<usize>,
    out: Option<T>,
}

impl<'a, T> Task<'a, T> {
    fn new(fut: impl Future<Output = T> + 'a) -> Self {
        Self { fut: Some(Box::pin(fut)), counter: Arc::default(), seen: None, out: None }
    }

    fn wakes(&self) -> usize {
        self.counter.0.load(Ordering::SeqCst)
    }

    fn is_done(&self) -> bool {
        self.fut.is_none()
    }

    /// The output; panics if the future has not completed.
    fn take(&mut self) -> T {
        self.out.take().expect("task not finished")
    }

    /// Polls now, woken or not (a spurious poll).
    fn poll_now(&mut self) {
        self.seen = None;
        self.step();
    }

    /// Drops the future (a hard cancel of this task).
    fn drop_future(&mut self) {
        self.fut = None;
    }
}

trait Step {
    /// Polls if woken (or never polled); returns whether it polled.
    fn step(&mut self) -> bool;
}

impl<T> Step for Task<'_, T> {
    fn step(&mut self) -> bool {
        let wakes = self.wakes();
        let Some(fut) = self.fut.as_mut() else { return false };
        if self.seen == Some(wakes) {
            return false;
        }
        self.seen = Some(wakes);
        let waker = Waker::from(self.counter.clone());
        if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            self.out = Some(out);
            self.fut = None;
        }
        true
    }
}

/// Polls the tasks until none of them is woken any more (a deterministic executor).
fn settle(tasks: &mut [&mut dyn Step]) {
    for _ in 0..10_000 {
        let mut progressed = false;
        for task in tasks.iter_mut() {
            progressed |= task.step();
        }
        if !progressed {
            return;
        }
    }
    panic!("tasks keep waking each other: livelock");
}

/// A hand-polled call of a process (its driver, `start` or `stop`).
type Call<'a> = Task<'a, Result<(), PErr>>;

/// Polls a driver of `p` over `runner` and a `start` without deadlines until they settle.
fn drive_and_start<'a, R: Runner<Error>, const N: usize>(
    p: &'a Process<Error, N, CriticalSectionRawMutex>,
    root: &'a Ctx<'a>,
    runner: &'a R,
) -> (Call<'a>, Call<'a>) {
    let mut driver = Task::new(p.drive(root, runner));
    let mut start = Task::new(p.start(never(), never()));
    settle(&mut [&mut driver, &mut start]);
    (driver, start)
}

/// A manual one-shot event: a deadline that passes when the test says so.
#[derive(Clone, Default)]
struct Gate(Arc<Ctx<'static>>);

impl Gate {
    fn open(&self) {
        self.0.cancel();
    }
    fn opened() -> Self {
        let gate = Self::default();
        gate.open();
        gate
    }
    async fn wait(&self) {
        self.0.cancelled().await;
    }
    /// A deadline closure for `start`/`stop`.
    fn deadline<'g>(&'g self) -> impl FnOnce() -> Pin<Box<dyn Future<Output = ()> + 'g>> + 'g {
        move || Box::pin(self.wait())
    }
}

fn never() -> impl FnOnce() -> core::future::Pending<()> {
    pending
}

fn now() -> impl FnOnce() -> core::future::Ready<()> {
    || ready(())
}

/// A configurable runner that logs its steps.
#[derive(Clone, Default)]
struct Svc {
    log: Log,
    /// Becomes ready (or fails, or exits) when this opens.
    ready: Gate,
    fail_start: bool,
    exit_before_ready: bool,
    /// Does not return on cancellation (only a hard stop ends it).
    ignore_cancel: bool,
    /// When this opens while running, fails: cancels its callback's context.
    crash: Gate,
    /// After the callback returns, waits for its context to be cancelled before it returns.
    slow_stop: bool,
    /// Returns an error when it stops.
    stop_error: bool,
    /// Counts runs.
    runs: Arc<AtomicUsize>,
}

fn svc(log: &Log) -> Svc {
    Svc { log: log.clone(), ready: Gate::opened(), ..Svc::default() }
}

/// Logs `dropped` when the run's future is dropped before it returned.
struct DropLog(Log, bool);

impl Drop for DropLog {
    fn drop(&mut self) {
        if self.1 {
            self.0.push("dropped");
        }
    }
}

impl Runner<Error> for Svc {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.log.push("start");
        let mut armed = DropLog(self.log.clone(), true);
        if let Either::Second(cause) = select(self.ready.wait(), ctx.cancelled()).await {
            self.log.push(format!("cancelled before ready ({cause})"));
            if !self.ignore_cancel {
                armed.1 = false;
                return Err(fail("cancelled"));
            }
            self.ready.wait().await;
        }
        if self.fail_start {
            armed.1 = false;
            self.log.push("failed");
            return Err(fail("start"));
        }
        if self.exit_before_ready {
            armed.1 = false;
            self.log.push("exited");
            return Ok(());
        }
        let inner = ctx.child();
        self.log.push("ready");
        let crash = async {
            self.crash.wait().await;
            self.log.push("crash");
            inner.cancel_with(Cause::DependencyFailed);
            pending::<()>().await;
        };
        let result = match select(ready(&inner), crash).await {
            Either::First(result) => result,
            Either::Second(()) => unreachable!(),
        };
        self.log.push("callback returned");
        if self.slow_stop || self.ignore_cancel {
            let cause = ctx.cancelled().await;
            self.log.push(format!("cancelled ({cause})"));
            if self.ignore_cancel {
                // Never returns; logs every poll, to show that a hard stop polls it no more.
                core::future::poll_fn(|_| {
                    self.log.push("still here");
                    Poll::<()>::Pending
                })
                .await;
            }
        }
        armed.1 = false;
        self.log.push("stopped");
        if self.crash.0.is_cancelled() {
            return Err(fail("crash"));
        }
        if self.stop_error {
            return Err(fail("stop"));
        }
        result
    }
}

// === upstream ===

/// Upstream `TestStartStopLeafProcess` (process_test.go): a `Process` over a `Leaf` (run
/// closes `started`, waits for its context, then for `stopped`; stop closes `stopped`),
/// started and stopped by `StartStop(p.Start, p.Stop)` whose callback waits for `started`.
/// Expect: no error. The driver is a join arm (upstream: the process's goroutine).
#[test]
fn upstream_start_stop_leaf_process() {
    let started = Gate::default();
    let stopped = Gate::default();
    let p = P::new();
    let leaf = leaf_with_stop(
        async |ctx: &Ctx<'_>| -> Result<(), Error> {
            started.open();
            ctx.cancelled().await;
            stopped.wait().await;
            Ok(())
        },
        async |_: &Ctx<'_>| -> Result<(), Error> {
            stopped.open();
            Ok(())
        },
    );
    let tree = start_stop(
        async |_: &Ctx<'_>| p.start(never(), never()).await.map_err(|_| fail("start")),
        async |_: &Ctx<'_>| p.stop(never(), never()).await.map_err(|_| fail("stop")),
    );
    let root = Ctx::new();
    let test = tree.run(&root, async |_: &Ctx<'_>| {
        started.wait().await;
        Ok(())
    });
    let (driven, result) = block_on_within(1000, embassy_futures::join::join(p.drive(&root, &leaf), test));
    assert_eq!(result, Ok(()));
    assert_eq!(driven, Ok(()));
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(p.error(), None);
}

// === transitions of the state table ===

/// Initial → Starting on `start`; Starting → Running when the runner is ready, and `start`
/// returns `Ok` only then.
#[test]
fn initial_to_starting_to_running() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    assert_eq!(p.state(), State::Initial);
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(p.state(), State::Starting);
    assert!(!start.is_done());
    assert_eq!(log.events(), strings(&["start"]));
    s.ready.open();
    settle(&mut [&mut driver, &mut start]);
    assert_eq!(p.state(), State::Running);
    assert_eq!(start.take(), Ok(()));
    assert!(!driver.is_done());
    assert_eq!(log.events(), strings(&["start", "ready"]));
}

/// The driver does nothing before a start: a runner is not run by polling the driver alone.
#[test]
fn driver_waits_for_start() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let mut driver = Task::new(p.drive(&root, &s));
    settle(&mut [&mut driver]);
    assert!(!driver.is_done());
    assert_eq!(p.state(), State::Initial);
    assert!(log.events().is_empty());
}

/// Initial → Stopped on `stop` before start (upstream: `Stop` returns nil): the stop returns
/// `Ok`, `done` completes, the driver returns without running the runner, and a later `start`
/// is an invalid-state error.
#[test]
fn initial_to_stopped_on_stop_prevents_start() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let mut driver = Task::new(p.drive(&root, &s));
    let mut done = Task::new(p.done());
    settle(&mut [&mut driver, &mut done]);
    assert_eq!(block_on(p.stop(never(), never())), Ok(()));
    assert_eq!(p.state(), State::Stopped);
    settle(&mut [&mut driver, &mut done]);
    assert_eq!(driver.take(), Ok(()));
    assert!(done.is_done());
    assert_eq!(block_on(p.start(never(), never())), Err(PErr::InvalidState(State::Stopped)));
    assert_eq!(block_on(p.stop(never(), never())), Err(PErr::InvalidState(State::Stopped)));
    // A driver polled after the stop returns at once, too.
    assert_eq!(block_on(p.drive(&root, &s)), Ok(()));
    assert!(log.events().is_empty());
}

/// Starting → Stopped on `stop` during start: like upstream, a forced stop at once (the run's
/// context is cancelled with `Shutdown`); `start` gets `StoppedBeforeReady`, `stop` gets `Ok`.
#[test]
fn starting_to_stopped_on_stop_during_start() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(p.state(), State::Starting);
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut start, &mut stop]);
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(start.take(), Err(PErr::StoppedBeforeReady));
    // The runner failed with its own error, which `stop` reports (upstream: "run: " + err).
    assert_eq!(stop.take(), Err(PErr::Run(fail("cancelled"))));
    assert_eq!(driver.take(), Ok(()));
    assert_eq!(log.events(), strings(&["start", "cancelled before ready (shutdown)"]));
}

/// Starting → Stopped when the runner fails before it is ready: `start` gets its error, which
/// `error()` keeps; `stop` is then an invalid-state error.
#[test]
fn starting_to_stopped_on_start_failure() {
    let log = Log::new();
    let s = Svc { fail_start: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (_driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(start.take(), Err(PErr::Run(fail("start"))));
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(p.error(), Some(fail("start")));
    assert_eq!(block_on(p.stop(never(), never())), Err(PErr::InvalidState(State::Stopped)));
}

/// Deviation (upstream returns the non-nil "run: %!w(<nil>)"): a runner that returns `Ok`
/// without being ready is `ExitedBeforeReady`, and `error()` stays `None`.
#[test]
fn starting_to_stopped_on_exit_before_ready() {
    let log = Log::new();
    let s = Svc { exit_before_ready: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (_driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(start.take(), Err(PErr::ExitedBeforeReady));
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(p.error(), None);
    assert_eq!(log.events(), strings(&["start", "exited"]));
}

/// Running → Stopped on `stop`: graceful (the callback returns, the context stays live), and
/// every `done` waiter is woken once.
#[test]
fn running_to_stopped_on_stop() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(start.take(), Ok(()));
    let mut done = Task::new(p.done());
    settle(&mut [&mut done]);
    assert!(!done.is_done());
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut stop, &mut done]);
    assert_eq!(stop.take(), Ok(()));
    assert!(done.is_done());
    assert_eq!(done.wakes(), 1);
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(driver.take(), Ok(()));
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned", "stopped"]));
}

/// Running → Stopped when the runner ends by itself (it fails): `done` completes, `error()`
/// holds its error, and a later `stop` is an invalid-state error (as upstream).
#[test]
fn running_to_stopped_on_runner_failure() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let mut driver = Task::new(p.drive(&root, &s));
    let mut start = Task::new(p.start(never(), never()));
    let mut done = Task::new(p.done());
    settle(&mut [&mut driver, &mut start, &mut done]);
    assert_eq!(start.take(), Ok(()));
    assert!(!done.is_done());
    s.crash.open();
    settle(&mut [&mut driver, &mut done]);
    assert!(done.is_done());
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(p.error(), Some(fail("crash")));
    assert_eq!(block_on(p.stop(never(), never())), Err(PErr::InvalidState(State::Stopped)));
    assert_eq!(log.events(), strings(&["start", "ready", "crash", "callback returned", "stopped"]));
}

/// The error of a graceful stop is reported by `stop` and kept by `error()`.
#[test]
fn stop_reports_runner_error() {
    let log = Log::new();
    let s = Svc { stop_error: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(stop.take(), Err(PErr::Run(fail("stop"))));
    assert_eq!(p.error(), Some(fail("stop")));
}

/// Cancelling the driver's context is a forced stop from outside (upstream: the parent
/// context of `NewProcess`).
#[test]
fn parent_cancellation_stops_the_run() {
    let log = Log::new();
    let s = Svc { slow_stop: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    root.cancel();
    settle(&mut [&mut driver]);
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned", "cancelled (shutdown)", "stopped"]));
}

/// Stopped is terminal: neither `start` nor `stop` changes it, both say why.
#[test]
fn stopped_is_terminal() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(stop.take(), Ok(()));
    for _ in 0..2 {
        assert_eq!(block_on(p.start(never(), never())), Err(PErr::InvalidState(State::Stopped)));
        assert_eq!(block_on(p.stop(never(), never())), Err(PErr::InvalidState(State::Stopped)));
        assert_eq!(p.state(), State::Stopped);
    }
    assert_eq!(s.runs.load(Ordering::SeqCst), 1);
}

/// A second `start` (while starting, while running) is an invalid-state error and changes
/// nothing; the runner runs once.
#[test]
fn second_start_is_invalid() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(block_on(p.start(never(), never())), Err(PErr::InvalidState(State::Starting)));
    s.ready.open();
    settle(&mut [&mut driver, &mut start]);
    assert_eq!(start.take(), Ok(()));
    assert_eq!(block_on(p.start(never(), never())), Err(PErr::InvalidState(State::Running)));
    assert_eq!(p.state(), State::Running);
    assert_eq!(s.runs.load(Ordering::SeqCst), 1);
}

/// A runner that polls its callback through a `FuturesUnordered`, which gives the callback a
/// waker of its own (as a user's combinator may).
struct OwnWaker;

impl Runner<Error> for OwnWaker {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        use futures::StreamExt;
        let mut set = futures::stream::FuturesUnordered::new();
        set.push(ready(ctx));
        set.next().await.unwrap_or(Ok(()))
    }
}

/// The driver goes idle while the process runs, also when the runner polls its callback with
/// a waker of its own: the callback and the driver's watcher wait in slots of their own (one
/// shared slot made them wake each other for ever; `settle` fails on such a livelock).
#[test]
fn callback_with_its_own_waker_lets_the_driver_sleep() {
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &OwnWaker);
    assert_eq!(start.take(), Ok(()));
    let wakes = driver.wakes();
    settle(&mut [&mut driver]);
    assert_eq!(driver.wakes(), wakes, "the driver sleeps while the process runs");
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(stop.take(), Ok(()));
    assert_eq!(driver.take(), Ok(()));
}

// === racing transitions ===

/// Upstream bug (§8 process 6): a stop during start that races with readiness can make
/// upstream's `Start` return nil for a stopped process. Here the runner ignores the
/// cancellation and calls its callback after the stop: the process never becomes `Running`,
/// the callback returns at once, `start` gets `StoppedBeforeReady`.
#[test]
fn ready_after_stop_during_start_never_runs() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ignore_cancel: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut start, &mut stop]);
    assert_eq!(p.state(), State::Starting);
    s.ready.open();
    let mut seen = Vec::new();
    // Poll the driver alone: the state never shows Running.
    for _ in 0..10 {
        driver.step();
        seen.push(p.state());
    }
    assert!(!seen.contains(&State::Running), "{seen:?}");
    assert_eq!(
        log.events()[..5],
        strings(&["start", "cancelled before ready (shutdown)", "ready", "callback returned", "cancelled (shutdown)"])
    );
    // The runner ignores cancellation: only a hard stop ends it (the stop's forced deadline).
    drop(stop);
    let mut stop = Task::new(p.stop(never(), now()));
    settle(&mut [&mut driver, &mut start, &mut stop]);
    assert_eq!(start.take(), Err(PErr::StoppedBeforeReady));
    assert_eq!(stop.take(), Err(PErr::Overrun(Overrun::new(Phase::Stop, StopLevel::Hard))));
    assert!(log.events().contains(&"dropped".to_string()));
}

/// Upstream bug (§8 process 7): a stop during start only cancelled the run's context, so a
/// callback given a context that is not derived from it blocked for ever. Here the callback
/// watches the stop request itself.
#[test]
fn stop_reaches_callback_with_foreign_context() {
    struct Foreign(Gate);
    impl Runner<Error> for Foreign {
        async fn run<F>(&self, _ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
        where
            F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
        {
            self.0.wait().await; // ready only when told, whatever the context says
            let foreign = Ctx::new();
            ready(&foreign).await
        }
    }
    let runner = Foreign(Gate::default());
    let (p, root) = (P::new(), Ctx::new());
    let mut driver = Task::new(p.drive(&root, &runner));
    let mut start = Task::new(p.start(never(), never()));
    settle(&mut [&mut driver, &mut start]);
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut start, &mut stop]);
    runner.0.open();
    settle(&mut [&mut driver, &mut start, &mut stop]);
    assert_eq!(stop.take(), Ok(()));
    assert_eq!(start.take(), Err(PErr::StoppedBeforeReady));

    // And a graceful stop of a running process with a foreign callback context.
    let runner = Foreign(Gate::opened());
    let (p, root) = (P::new(), Ctx::new());
    let mut driver = Task::new(p.drive(&root, &runner));
    let mut start = Task::new(p.start(never(), never()));
    settle(&mut [&mut driver, &mut start]);
    assert_eq!(start.take(), Ok(()));
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(stop.take(), Ok(()));
}

/// Readiness wins a tie with the start deadline (upstream picks at random): the runner is
/// ready and the deadline has passed when `start` looks again.
#[test]
fn ready_wins_tie_with_start_deadline() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let deadline = Gate::default();
    let mut start = Task::new(p.start(deadline.deadline(), never()));
    let mut driver = Task::new(p.drive(&root, &s));
    start.step();
    settle(&mut [&mut driver]);
    assert_eq!(p.state(), State::Running);
    deadline.open();
    settle(&mut [&mut start]);
    assert_eq!(start.take(), Ok(()));
    // The deadline had no effect: the run was not cancelled, no overrun is recorded.
    settle(&mut [&mut driver]);
    assert_eq!(p.state(), State::Running);
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(stop.take(), Ok(()));
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned", "stopped"]));
}

/// The end of the run wins a tie with the graceful stop deadline: a runner that has stopped by
/// the time the deadline is seen is not reported as an overrun, and was never forced.
#[test]
fn end_wins_tie_with_stop_deadline() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    let (graceful, forced) = (Gate::default(), Gate::default());
    let mut stop = Task::new(p.stop(graceful.deadline(), forced.deadline()));
    stop.step();
    settle(&mut [&mut driver]);
    assert_eq!(p.state(), State::Stopped);
    graceful.open();
    forced.open();
    settle(&mut [&mut stop]);
    assert_eq!(stop.take(), Ok(()));
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned", "stopped"]));
}

/// Two tasks start at the same time: exactly one gets `Ok`, the other `InvalidState`.
#[test]
fn concurrent_starts_one_wins() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let mut driver = Task::new(p.drive(&root, &s));
    let mut a = Task::new(p.start(never(), never()));
    let mut b = Task::new(p.start(never(), never()));
    settle(&mut [&mut a, &mut b, &mut driver]);
    assert_eq!(a.take(), Ok(()));
    assert_eq!(b.take(), Err(PErr::InvalidState(State::Starting)));
    assert_eq!(s.runs.load(Ordering::SeqCst), 1);
}

/// Two tasks stop at the same time: both wait for the end and both get its result.
#[test]
fn concurrent_stops_both_wait() {
    let log = Log::new();
    let s = Svc { slow_stop: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    let deadline = Gate::default();
    let mut a = Task::new(p.stop(deadline.deadline(), never()));
    let mut b = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut a, &mut b]);
    assert!(!a.is_done() && !b.is_done());
    deadline.open();
    settle(&mut [&mut driver, &mut a, &mut b]);
    let forced = Err(PErr::Overrun(Overrun::new(Phase::Stop, StopLevel::Forced)));
    assert_eq!(a.take(), forced);
    assert_eq!(b.take(), forced);
    assert!(log.events().contains(&"cancelled (deadline)".to_string()));
}

// === deadlines ===

/// The start deadline passes: the run's context is cancelled with `Deadline`, the runner
/// returns, `start` reports a forced start overrun, and `error()` keeps the runner's error.
#[test]
fn start_deadline_forces() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let deadline = Gate::default();
    let mut driver = Task::new(p.drive(&root, &s));
    let mut start = Task::new(p.start(deadline.deadline(), never()));
    settle(&mut [&mut driver, &mut start]);
    assert!(!start.is_done());
    deadline.open();
    settle(&mut [&mut driver, &mut start]);
    assert_eq!(start.take(), Err(PErr::Overrun(Overrun::new(Phase::Start, StopLevel::Forced))));
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(p.error(), Some(fail("cancelled")));
    assert_eq!(log.events(), strings(&["start", "cancelled before ready (deadline)"]));
}

/// Both start deadlines pass on a runner that ignores cancellation: the driver drops the
/// runner's future (hard), and the state is consistent (Stopped, done).
#[test]
fn start_deadlines_escalate_to_hard() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ignore_cancel: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (deadline, forced) = (Gate::default(), Gate::default());
    let mut driver = Task::new(p.drive(&root, &s));
    let mut done = Task::new(p.done());
    let mut start = Task::new(p.start(deadline.deadline(), forced.deadline()));
    settle(&mut [&mut driver, &mut start, &mut done]);
    deadline.open();
    settle(&mut [&mut driver, &mut start, &mut done]);
    assert_eq!(p.state(), State::Starting);
    assert!(!done.is_done());
    forced.open();
    settle(&mut [&mut driver, &mut start, &mut done]);
    assert_eq!(start.take(), Err(PErr::Overrun(Overrun::new(Phase::Start, StopLevel::Hard))));
    assert_eq!(p.state(), State::Stopped);
    assert!(done.is_done());
    assert_eq!(driver.take(), Ok(()));
    assert_eq!(log.events(), strings(&["start", "cancelled before ready (deadline)", "dropped"]));
}

/// Both start deadlines pass on a runner that ignores cancellation, and a `stop` whose forced
/// deadline passes too, before the driver runs again: two hard overruns, of the start and of
/// the stop. The first is kept: `start` reports its own overrun, and `stop` the same.
#[test]
fn a_hard_stop_overrun_after_a_hard_start_overrun_keeps_the_first() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ignore_cancel: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let mut driver = Task::new(p.drive(&root, &s));
    settle(&mut [&mut driver]);
    assert_eq!(p.state(), State::Initial, "the driver waits for a start");
    let mut start = Task::new(p.start(now(), now()));
    settle(&mut [&mut start]);
    assert_eq!(p.state(), State::Starting, "the driver has not run since");
    let mut stop = Task::new(p.stop(never(), now()));
    settle(&mut [&mut stop]);
    settle(&mut [&mut driver, &mut start, &mut stop]);
    let first = Err(PErr::Overrun(Overrun::new(Phase::Start, StopLevel::Hard)));
    assert_eq!(start.take(), first);
    assert_eq!(stop.take(), first);
    assert_eq!(p.state(), State::Stopped);
}

/// An expired start deadline with no driver yet: the run never begins, the process is
/// Stopped, and a driver polled later returns at once.
#[test]
fn start_deadline_without_driver() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let mut start = Task::new(p.start(now(), never()));
    settle(&mut [&mut start]);
    assert_eq!(start.take(), Err(PErr::Overrun(Overrun::new(Phase::Start, StopLevel::Forced))));
    assert_eq!(p.state(), State::Stopped);
    let mut driver = Task::new(p.drive(&root, &s));
    settle(&mut [&mut driver]);
    assert_eq!(driver.take(), Ok(()));
    assert!(log.events().is_empty());
}

/// A stop during start with no driver: the run never begins; `start` and `stop` both end.
#[test]
fn stop_during_start_without_driver() {
    let p = P::new();
    let mut start = Task::new(p.start(never(), never()));
    settle(&mut [&mut start]);
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut start, &mut stop]);
    assert_eq!(stop.take(), Ok(()));
    assert_eq!(start.take(), Err(PErr::StoppedBeforeReady));
    assert_eq!(p.state(), State::Stopped);
}

/// The graceful stop deadline passes: forced (context cancelled with `Deadline`), the runner
/// returns, `stop` reports a forced stop overrun.
#[test]
fn stop_deadline_forces() {
    let log = Log::new();
    let s = Svc { slow_stop: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    let graceful = Gate::default();
    let mut stop = Task::new(p.stop(graceful.deadline(), never()));
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(p.state(), State::Running);
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned"]));
    graceful.open();
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(stop.take(), Err(PErr::Overrun(Overrun::new(Phase::Stop, StopLevel::Forced))));
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned", "cancelled (deadline)", "stopped"]));
}

/// Both stop deadlines pass on a runner that ignores cancellation: hard stop, the runner's
/// future is dropped and never polled again.
#[test]
fn stop_deadlines_escalate_to_hard() {
    let log = Log::new();
    let s = Svc { ignore_cancel: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    let forced = Gate::default();
    let mut stop = Task::new(p.stop(now(), forced.deadline()));
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(p.state(), State::Running);
    let cancelled = log.events();
    assert_eq!(cancelled[..4], strings(&["start", "ready", "callback returned", "cancelled (deadline)"]));
    assert_eq!(cancelled.last().map(String::as_str), Some("still here"));
    forced.open();
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(stop.take(), Err(PErr::Overrun(Overrun::new(Phase::Stop, StopLevel::Hard))));
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(driver.take(), Ok(()));
    // Not polled again after the hard stop: no further "still here".
    assert_eq!(log.events(), [cancelled, strings(&["dropped"])].concat());
}

/// A stop within its graceful deadline is no overrun.
#[test]
fn stop_within_deadline_is_ok() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    let graceful = Gate::default();
    let mut stop = Task::new(p.stop(graceful.deadline(), now()));
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(stop.take(), Ok(()));
}

/// Dropping a `start` future does not undo the start; dropping a `stop` future does not undo
/// the stop.
#[test]
fn dropped_calls_keep_their_request() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    start.drop_future();
    s.ready.open();
    settle(&mut [&mut driver]);
    assert_eq!(p.state(), State::Running);
    let mut stop = Task::new(p.stop(never(), never()));
    stop.step();
    stop.drop_future();
    settle(&mut [&mut driver]);
    assert_eq!(p.state(), State::Stopped);
}

// === the driver ===

/// A driver dropped mid-run drops the runner's future and leaves the process Stopped with
/// `DriverGone`; every waiter (start, stop, done) is woken and ends.
#[test]
fn driver_dropped_mid_run() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let mut driver = Task::new(p.drive(&root, &s));
    let mut start = Task::new(p.start(never(), never()));
    let mut done = Task::new(p.done());
    settle(&mut [&mut driver, &mut start, &mut done]);
    driver.drop_future();
    assert_eq!(p.state(), State::Stopped);
    settle(&mut [&mut start, &mut done]);
    assert_eq!(start.take(), Err(PErr::DriverGone));
    assert!(done.is_done());
    assert_eq!(log.events(), strings(&["start", "dropped"]));

    // While running, a stop in progress also ends.
    let log = Log::new();
    let s = Svc { slow_stop: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut stop]);
    driver.drop_future();
    settle(&mut [&mut stop]);
    assert_eq!(stop.take(), Err(PErr::DriverGone));
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(block_on(p.stop(never(), never())), Err(PErr::InvalidState(State::Stopped)));
}

/// A driver dropped before any start detaches: the process stays Initial and another driver
/// can run it.
#[test]
fn driver_dropped_before_start_detaches() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let mut first = Task::new(p.drive(&root, &s));
    settle(&mut [&mut first]);
    first.drop_future();
    assert_eq!(p.state(), State::Initial);
    let mut second = Task::new(p.drive(&root, &s));
    let mut start = Task::new(p.start(never(), never()));
    settle(&mut [&mut second, &mut start]);
    assert_eq!(start.take(), Ok(()));
}

/// A second driver is refused with `Busy` and runs nothing.
#[test]
fn second_driver_is_busy() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let mut first = Task::new(p.drive(&root, &s));
    settle(&mut [&mut first]);
    assert_eq!(block_on(p.drive(&root, &s)), Err(PErr::Busy));
    let mut start = Task::new(p.start(never(), never()));
    settle(&mut [&mut first, &mut start]);
    assert_eq!(block_on(p.drive(&root, &s)), Err(PErr::Busy));
    assert_eq!(s.runs.load(Ordering::SeqCst), 1);
}

// === waiters ===

/// More `done` waiters than waker slots: every one completes once the process stops (some
/// may be woken early, none is lost).
#[test]
fn more_done_waiters_than_slots() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (Process::<Error, 2, CriticalSectionRawMutex>::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    let mut waiters: Vec<_> = (0..9).map(|_| Task::new(p.done())).collect();
    for w in &mut waiters {
        w.step();
    }
    let mut stop = Task::new(p.stop(never(), never()));
    let mut all: Vec<&mut dyn Step> = vec![&mut driver, &mut stop];
    all.extend(waiters.iter_mut().map(|w| w as &mut dyn Step));
    settle(&mut all);
    assert!(waiters.iter().all(Task::is_done));
    assert_eq!(stop.take(), Ok(()));
}

/// More distinct waiters than slots sleep: the ones beyond the two slots wait in the spill
/// table, nobody is woken before the state changes, and each exactly once when it does. (The
/// slots used to wake each other early for ever once they overflowed.)
#[test]
fn waiters_beyond_the_slots_sleep_until_the_change() {
    let p = Process::<Error, 2, CriticalSectionRawMutex>::new();
    let mut waiters: Vec<_> = (0..6).map(|_| Task::new(p.done())).collect();
    for _ in 0..3 {
        for w in &mut waiters {
            w.poll_now();
        }
    }
    assert!(waiters.iter().all(|w| w.wakes() == 0), "a waiter was woken early");
    assert_eq!(block_on(p.stop(never(), never())), Ok(()));
    assert!(waiters.iter().all(|w| w.wakes() == 1), "every waiter is woken once");
}

/// A task polled again and again takes one slot: with two slots, a waiter polled five times
/// and a second waiter are not woken early.
#[test]
fn repolled_waiter_takes_one_slot() {
    let p = Process::<Error, 2, CriticalSectionRawMutex>::new();
    let mut a = Task::new(p.done());
    let mut b = Task::new(p.done());
    for _ in 0..5 {
        a.poll_now();
    }
    b.step();
    assert_eq!((a.wakes(), b.wakes()), (0, 0));
    assert_eq!(block_on(p.stop(never(), never())), Ok(()));
    assert_eq!((a.wakes(), b.wakes()), (1, 1));
}

/// Within the slots, each `done` waiter is woken exactly once, when the process stops.
#[test]
fn done_waiters_within_slots_woken_once() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (Process::<Error, 8, CriticalSectionRawMutex>::new(), Ctx::new());
    let (mut driver, _start) = drive_and_start(&p, &root, &s);
    let mut waiters: Vec<_> = (0..4).map(|_| Task::new(p.done())).collect();
    for w in &mut waiters {
        w.step();
    }
    assert!(waiters.iter().all(|w| w.wakes() == 0));
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(stop.take(), Ok(()));
    assert!(waiters.iter().all(|w| w.wakes() == 1));
    for w in &mut waiters {
        w.step();
    }
    assert!(waiters.iter().all(Task::is_done));
}

// === static, threads, auto traits ===

static RADIO: Process<Error, 8, CriticalSectionRawMutex> = Process::new();

/// A `static` process: driven on one thread, started, watched and stopped from others.
#[test]
fn static_process_across_threads() {
    let log = Log::new();
    let s = svc(&log);
    std::thread::scope(|scope| {
        let driver = scope.spawn(|| {
            let root = Ctx::new();
            block_on(RADIO.drive(&root, &s))
        });
        let watchers: Vec<_> = (0..3).map(|_| scope.spawn(|| block_on(RADIO.done()))).collect();
        assert_eq!(scope.spawn(|| block_on(RADIO.start(never(), never()))).join().unwrap(), Ok(()));
        assert_eq!(RADIO.state(), State::Running);
        assert_eq!(scope.spawn(|| block_on(RADIO.stop(never(), never()))).join().unwrap(), Ok(()));
        for w in watchers {
            w.join().unwrap();
        }
        assert_eq!(driver.join().unwrap(), Ok(()));
    });
    assert_eq!(RADIO.state(), State::Stopped);
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned", "stopped"]));
}

/// Inside one executor a `NoopRawMutex` is enough: the driver and the callers are arms of one
/// `join`.
#[test]
fn noop_mutex_in_one_task() {
    let log = Log::new();
    let s = svc(&log);
    let p = Process::<Error, 2, NoopRawMutex>::new();
    let root = Ctx::new();
    let control = async {
        assert_eq!(p.start(never(), never()).await, Ok(()));
        assert_eq!(p.stop(never(), never()).await, Ok(()));
        p.done().await;
    };
    let (driven, ()) = block_on_within(100, embassy_futures::join::join(p.drive(&root, &s), control));
    assert_eq!(driven, Ok(()));
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned", "stopped"]));
}

static SERVER: Process<Error, 4, CriticalSectionRawMutex> = Process::new();

/// On a multi-threaded tokio runtime: the driver is a spawned task, and start, stop and done
/// are called from other spawned tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn driven_and_controlled_from_tokio_tasks() {
    let log = Log::new();
    let s = svc(&log);
    let driver = tokio::spawn(async move {
        let root = Ctx::new();
        SERVER.drive(&root, &s).await
    });
    let done = tokio::spawn(SERVER.done());
    assert_eq!(tokio::spawn(SERVER.start(never(), never())).await.unwrap(), Ok(()));
    assert_eq!(SERVER.state(), State::Running);
    assert_eq!(tokio::spawn(SERVER.stop(never(), never())).await.unwrap(), Ok(()));
    done.await.unwrap();
    assert_eq!(driver.await.unwrap(), Ok(()));
    assert_eq!(SERVER.state(), State::Stopped);
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned", "stopped"]));
}

#[test]
fn auto_traits() {
    use static_assertions::{assert_impl_all, assert_not_impl_any};
    assert_impl_all!(Process<Error, 4, CriticalSectionRawMutex>: Send, Sync);
    assert_impl_all!(Process<Error, 4, NoopRawMutex>: Send);
    assert_not_impl_any!(Process<Error, 4, NoopRawMutex>: Sync);
    assert_impl_all!(State: Send, Sync, Copy);
    assert_impl_all!(PErr: Send, Sync, Clone);
    assert_impl_all!(ProcessError<Overrun>: core::error::Error);

    // The driver and the calls are Send, so they can be spawned on a multi-threaded runtime.
    fn send<T: Send>(_: &T) {}
    let s = svc(&Log::new());
    let (p, root) = (P::new(), Ctx::new());
    send(&p.drive(&root, &s));
    send(&p.start(never(), never()));
    send(&p.stop(never(), never()));
    send(&p.done());
}

/// The mutex defaults to `CriticalSectionRawMutex` and the waker slots to 4: a `static`
/// process names only its error type, and `stop(never, never)` takes `procession::never`.
#[test]
fn defaults_need_no_annotation() {
    static DEFAULT: Process<Error> = Process::new();
    fn same(_: &Process<Error, 4, CriticalSectionRawMutex>) {}
    same(&DEFAULT);
    static_assertions::assert_impl_all!(Process<Error>: Send, Sync);
    let log = Log::new();
    let s = svc(&log);
    let root = Ctx::new();
    let control = async {
        DEFAULT.start(procession::never, procession::never).await?;
        DEFAULT.stop(procession::never, procession::never).await
    };
    let (driven, stopped) = block_on_within(100, embassy_futures::join::join(DEFAULT.drive(&root, &s), control));
    assert_eq!((driven, stopped), (Ok(()), Ok(())));
}

/// `request_stop` asks for the graceful stop and returns at once: the callback returns, the
/// process stops, `done` completes. It reports whether it changed anything.
#[test]
fn request_stop_is_graceful_without_waiting() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(start.take(), Ok(()));
    let mut done: Task<'_, ()> = Task::new(p.done());
    done.step();
    assert!(!p.is_done());
    assert!(p.request_stop(), "asks for the stop");
    assert!(!p.request_stop(), "asked already");
    assert_eq!(p.state(), State::Running, "stopping, not stopped: state and done agree");
    settle(&mut [&mut driver, &mut done]);
    assert!(done.is_done());
    assert!(p.is_done());
    assert_eq!(p.state(), State::Stopped);
    assert!(!p.request_stop(), "nothing to stop");
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned", "stopped"]), "graceful: no cancel");
    assert_eq!(driver.take(), Ok(()));

    let p = P::new();
    assert!(p.request_stop(), "Initial: stopped at once");
    assert_eq!(p.state(), State::Stopped);
    assert!(p.is_done());
}

/// `cancel` is the forced stop without waiting: the run's context is cancelled with
/// `Shutdown`; during start it keeps the process from becoming `Running`; from `Initial` it
/// stops the process at once. It reports whether it changed anything.
#[test]
fn cancel_is_forced_without_waiting() {
    let log = Log::new();
    let s = Svc { slow_stop: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(start.take(), Ok(()));
    assert!(p.cancel());
    assert!(!p.cancel(), "cancelled already");
    assert!(!p.request_stop(), "a forced stop includes the graceful one");
    settle(&mut [&mut driver]);
    assert_eq!(driver.take(), Ok(()));
    assert_eq!(p.state(), State::Stopped);
    assert_eq!(log.events(), strings(&["start", "ready", "callback returned", "cancelled (shutdown)", "stopped"]));

    let log = Log::new();
    let s = Svc { ready: Gate::default(), ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(p.state(), State::Starting);
    assert!(p.cancel());
    settle(&mut [&mut driver, &mut start]);
    assert_eq!(start.take(), Err(PErr::StoppedBeforeReady));
    assert_eq!(p.state(), State::Stopped);

    let p = P::new();
    assert!(p.cancel(), "Initial: stopped at once");
    assert!(!p.cancel());
    assert_eq!(p.state(), State::Stopped);
}

/// While starting, `request_stop` is the forced stop (as `cancel`), and reports the change
/// once: a second `request_stop`, or a `cancel` after it, changes nothing.
#[test]
fn request_stop_while_starting_reports_the_change_once() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(p.state(), State::Starting);
    assert!(p.request_stop(), "cancels the start");
    assert!(!p.request_stop(), "asked already");
    assert!(!p.cancel(), "the forced stop was asked already");
    settle(&mut [&mut driver, &mut start]);
    assert_eq!(start.take(), Err(PErr::StoppedBeforeReady));
    assert_eq!(p.state(), State::Stopped);
    assert!(!p.request_stop(), "nothing to stop");
}

/// `done` is a named future (`process::Done`), and `is_done` agrees with it.
#[test]
fn done_is_a_named_future() {
    let p = P::new();
    let done: procession::process::Done<'_, Error> = p.done();
    let mut done = Task::new(done);
    done.step();
    assert!(!done.is_done() && !p.is_done());
    assert!(p.request_stop());
    assert_eq!(done.wakes(), 1);
    done.step();
    assert!(done.is_done() && p.is_done());
}

/// Display of states and errors: lowercase, no trailing period.
#[test]
fn display() {
    assert_eq!(State::Starting.to_string(), "starting");
    assert_eq!(PErr::InvalidState(State::Stopped).to_string(), "invalid process state: stopped");
    assert_eq!(PErr::Run(fail("oops")).to_string(), "run: oops");
    assert_eq!(PErr::ExitedBeforeReady.to_string(), "process exited before it was ready");
    assert_eq!(PErr::Overrun(Overrun::new(Phase::Stop, StopLevel::Hard)).to_string(), "stop deadline passed, dropped");
}

// === stress ===

const ROUNDS: usize = if cfg!(miri) { 4 } else { 2000 };

/// Threads race `start`, `stop` and `done` on a `static` process per round, with a driver
/// thread: the runner runs at most once, every call ends, `done` ends exactly with `Stopped`,
/// and the outcomes agree (a successful start means the runner became ready).
#[test]
fn stress_process_start_stop() {
    // A process runs once, so every round takes the next of a `static` array of them.
    static PROCESSES: [P; ROUNDS] = [const { P::new() }; ROUNDS];
    for (round, p) in PROCESSES.iter().enumerate() {
        let log = Log::new();
        let s = svc(&log);
        let stop_first = round % 3 == 0;
        std::thread::scope(|scope| {
            let driver = scope.spawn(|| {
                let root = Ctx::new();
                block_on(p.drive(&root, &s))
            });
            let done = scope.spawn(|| {
                block_on(p.done());
                assert_eq!(p.state(), State::Stopped);
            });
            let starter = scope.spawn(|| block_on(p.start(never(), never())));
            let stopper = scope.spawn(|| {
                if !stop_first {
                    std::thread::yield_now();
                }
                block_on(p.stop(never(), never()))
            });
            let started = starter.join().unwrap();
            let stopped = stopper.join().unwrap();
            done.join().unwrap();
            assert_eq!(driver.join().unwrap(), Ok(()));
            assert_eq!(p.state(), State::Stopped);
            let runs = s.runs.load(Ordering::SeqCst);
            assert!(runs <= 1, "round {round}: {runs} runs");
            let events = log.events();
            match (&started, &stopped) {
                // Started and stopped: a full lifecycle.
                (Ok(()), Ok(())) => {
                    assert_eq!(events, strings(&["start", "ready", "callback returned", "stopped"]), "round {round}");
                }
                // Stopped before start: nothing ran.
                (Err(PErr::InvalidState(State::Stopped)), Ok(())) => assert!(events.is_empty(), "round {round}"),
                // Stopped during start: the runner never ran, or ran and returned (it may have
                // called its callback after the stop, which then returned at once).
                (Err(PErr::StoppedBeforeReady), Ok(()) | Err(PErr::Run(_))) => {
                    assert!(!events.contains(&"dropped".to_string()), "round {round}: {events:?}");
                    assert!(events.is_empty() || events[0] == "start", "round {round}: {events:?}");
                }
                other => panic!("round {round}: unexpected outcome {other:?}, events {events:?}"),
            }
        });
    }
}

/// A start deadline has cancelled the start of a runner that ignores the cancellation, so the
/// process is still `Starting`. `request_stop` then changes nothing: the forced stop is asked
/// already, and `start` reports its overrun whatever comes next. It returns `false`, as
/// `cancel` does. (It returned `true` here while it counted the first stop marked as asked
/// before ready as a change; found by the mutants of its `Starting` arm.)
#[test]
fn request_stop_after_a_start_deadline_changes_nothing() {
    let log = Log::new();
    let s = Svc { ready: Gate::default(), ignore_cancel: true, ..svc(&log) };
    let (p, root) = (P::new(), Ctx::new());
    let (deadline, forced) = (Gate::default(), Gate::default());
    let mut driver = Task::new(p.drive(&root, &s));
    let mut start = Task::new(p.start(deadline.deadline(), forced.deadline()));
    settle(&mut [&mut driver, &mut start]);
    deadline.open();
    settle(&mut [&mut driver, &mut start]);
    assert_eq!(p.state(), State::Starting, "the runner ignores the cancellation");
    assert!(!p.request_stop(), "the start deadline asked the forced stop already");
    assert!(!p.cancel(), "asked already");
    forced.open();
    settle(&mut [&mut driver, &mut start]);
    assert_eq!(start.take(), Err(PErr::Overrun(Overrun::new(Phase::Start, StopLevel::Hard))));
    assert_eq!(p.state(), State::Stopped);
    assert!(!p.request_stop(), "nothing to stop");
    assert_eq!(log.events(), strings(&["start", "cancelled before ready (deadline)", "dropped"]));
}

/// `Error::source`: the runner's error for `Run`, the overrun for `Overrun`, nothing for the
/// others.
#[test]
fn error_source() {
    use core::error::Error as _;
    type E = ProcessError<core::fmt::Error>;
    let overrun = Overrun::new(Phase::Start, StopLevel::Forced);
    let source = |e: &E| e.source().map(ToString::to_string);
    assert_eq!(source(&E::Run(core::fmt::Error)), Some(core::fmt::Error.to_string()));
    assert_eq!(source(&E::Overrun(overrun)), Some(overrun.to_string()));
    assert_eq!(source(&E::StoppedBeforeReady), None);
    assert_eq!(source(&E::InvalidState(State::Stopped)), None);
}

/// The driver is woken only when it has something to do (a start, a stop request), not when
/// the process becomes `Running`: the move happens in its own poll (the runner's callback),
/// and a wake then would poll the whole runner once more for nothing.
#[test]
fn becoming_ready_does_not_wake_the_driver() {
    let log = Log::new();
    let s = svc(&log);
    let (p, root) = (P::new(), Ctx::new());
    let (mut driver, mut start) = drive_and_start(&p, &root, &s);
    assert_eq!(start.take(), Ok(()));
    assert_eq!(p.state(), State::Running);
    assert_eq!(driver.wakes(), 1, "woken once, by the start");
    let mut stop = Task::new(p.stop(never(), never()));
    settle(&mut [&mut driver, &mut stop]);
    assert_eq!(stop.take(), Ok(()));
    assert_eq!(driver.take(), Ok(()));
}

/// Two processes with one waker slot each, each waited on by two tasks: the second of each
/// spills into the spill table, under its process's key. Stopping one wakes its own waiters
/// only; dropping the other before its end takes its spilled entry with it (counts the
/// wakers' references: the spill table would keep a clone).
#[test]
fn two_processes_keep_their_spilled_waiters_apart() {
    let a = Process::<Error, 1>::new();
    let mut waiting_a = [Task::new(a.done()), Task::new(a.done())];
    for task in &mut waiting_a {
        task.step();
    }
    let counters_b: Vec<Arc<Counter>> = {
        // Dropped at the end of the block, after its waiters.
        let b = Process::<Error, 1>::new();
        let mut waiting_b = [Task::new(b.done()), Task::new(b.done())];
        for task in &mut waiting_b {
            task.step();
        }
        assert!(a.request_stop());
        assert_eq!(waiting_a.iter().map(Task::wakes).collect::<Vec<_>>(), [1, 1]);
        assert_eq!(waiting_b.iter().map(Task::wakes).collect::<Vec<_>>(), [0, 0], "a waiter of the other was woken");
        waiting_b.iter().map(|task| task.counter.clone()).collect()
    };
    let refs: Vec<_> = counters_b.iter().map(Arc::strong_count).collect();
    assert_eq!(refs, [1, 1], "a waker of the dropped process was left in the spill table");
    let [first, second] = &mut waiting_a;
    settle(&mut [first, second]);
    assert!(waiting_a.iter().all(Task::is_done));
}
