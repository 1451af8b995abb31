//! Panics that leave nothing hanging: a runner, a callback, a supervisor hook, a backoff and a
//! table that panic while a tree runs. Whatever the panic unwinds through, every handle used
//! from other threads ends in a state its waiters see (no `done()` that waits for ever, no
//! process reported running), and nothing is marked ready that was not.
//!
//! The panicking tree runs on a thread of its own under `catch_unwind`; every handle has a
//! waiter on a thread of its own, blocked in `done()` (or the handle's equivalent) before the
//! panic. A waiter still blocked [`HANG`] after the panic was caught fails the test instead of
//! hanging it: that bound is only a guard against a lost wakeup, never part of a passing run.
//! Each test has its own `static` handles, so the tests may run side by side.

#![cfg(feature = "std")]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, reason = "the tests run on std")]
#![allow(missing_docs)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{LazyLock, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use embassy_futures::join::join;
use embassy_futures::select::select;
use futures::executor::block_on;
use procession::mutex::CriticalSectionRawMutex;
use procession::process::{self, Process};
use procession::retry::{Retry, UntilPermanent};
use procession::shot::{self, Many, One};
use procession::supervisor::{self, Control, Hook, HookFn, Skip, Supervisor};
use procession::table::{Cursor, Table};
use procession::time::ManualClock;
use procession::{Ctx, Runner, chain, never};

/// How long a waiter may stay blocked once the panic was caught before the test calls it a
/// lost wakeup.
const HANG: Duration = Duration::from_secs(30);

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

impl procession::Merge for Fail {
    fn merge(self, _later: Self) -> Self {
        self
    }
}

// === harness ===

/// Runs `f` on a thread of its own and hands back its result.
fn waiter<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// The waiter's result; fails if it is still blocked after [`HANG`].
fn wait<T>(rx: &mpsc::Receiver<T>, what: &str) -> T {
    rx.recv_timeout(HANG).unwrap_or_else(|_| panic!("{what}: still waiting {HANG:?} after the panic: lost wakeup"))
}

/// Runs `f` on a thread of its own under `catch_unwind`; returns the panic's message, and
/// fails the test if `f` did not panic.
fn panics(f: impl FnOnce() + Send + 'static) -> String {
    let caught = thread::spawn(move || catch_unwind(AssertUnwindSafe(f))).join().expect("caught on the thread");
    let payload = caught.expect_err("the tree was expected to panic");
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Whether `poll` is ready at once (polled with a waker that does nothing).
fn ready_now(poll: impl FnOnce(&mut Context<'_>) -> Poll<()>) -> bool {
    poll(&mut Context::from_waker(Waker::noop())).is_ready()
}

// === runners ===

/// Where a [`Panicky`] runner panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before it is ready.
    Start,
    /// Ready, once `go` is cancelled, while its callback runs.
    Running,
    /// When its callback returned (a graceful stop).
    Stop,
}

struct Panicky {
    at: At,
    go: &'static Ctx<'static>,
}

impl Runner<Fail> for Panicky {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Fail>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Fail>,
    {
        if self.at == At::Start {
            self.go.cancelled().await;
            panic!("runner panics at start");
        }
        let callback = ready(ctx);
        if self.at == At::Running {
            let _ = select(callback, self.go.cancelled()).await;
            panic!("runner panics while running");
        }
        let _ = callback.await;
        panic!("runner panics at stop");
    }
}

/// Serves until its context is cancelled.
#[derive(Debug, Clone, Copy)]
struct Serve;

impl Runner<Fail> for Serve {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Fail>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Fail>,
    {
        ready(ctx).await
    }
}

/// Holds a run of a `One` while it runs.
struct HoldsOne(&'static One<'static>);

impl Runner<Fail> for HoldsOne {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Fail>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Fail>,
    {
        let _run = self.0.start().map_err(|_| Fail::At("one"))?;
        ready(ctx).await
    }
}

/// Holds a run of a `Many` while it runs.
struct HoldsMany(&'static Many<'static>);

impl Runner<Fail> for HoldsMany {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Fail>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Fail>,
    {
        let _run = self.0.start().map_err(|_| Fail::At("many"))?;
        ready(ctx).await
    }
}

/// Drives a `Process` of [`Serve`] and starts it, then runs; stops it when the callback
/// returns.
struct DrivesProcess(&'static Process<Fail>);

impl Runner<Fail> for DrivesProcess {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Fail>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Fail>,
    {
        let p = self.0;
        let control = async {
            p.start(never, never).await.map_err(|_| Fail::At("process start"))?;
            let result = ready(ctx).await;
            let _ = p.stop(never, never).await;
            result
        };
        let (_, result) = join(p.drive(ctx, &Serve), control).await;
        result
    }
}

/// The handles that a tree's leaves use, each watched by a waiter thread.
struct Handles {
    one: &'static One<'static>,
    many: &'static Many<'static>,
    process: &'static Process<Fail>,
    sup: &'static Supervisor<supervisor::Identity<Serve>, UntilPermanent, Fail>,
}

/// Waiter threads on every handle of `h`, blocked before the panic.
struct Waiters {
    one: mpsc::Receiver<shot::State>,
    many: mpsc::Receiver<shot::State>,
    process: mpsc::Receiver<process::State>,
}

fn watch(h: &Handles) -> Waiters {
    let (one, many, process) = (h.one, h.many, h.process);
    Waiters {
        one: waiter(move || {
            block_on(one.done());
            one.state()
        }),
        many: waiter(move || {
            block_on(many.done());
            many.state()
        }),
        process: waiter(move || {
            block_on(process.done());
            process.state()
        }),
    }
}

/// Once the tree panicked: every waiter returned, and every handle is in a state that says
/// so and can be used again where the handle allows it.
fn check_released(h: &Handles, w: &Waiters) {
    assert_eq!(wait(&w.one, "One::done"), shot::State::Closed);
    assert_eq!(wait(&w.many, "Many::done"), shot::State::Stopped);
    assert_eq!(wait(&w.process, "Process::done"), process::State::Stopped);
    assert!(h.one.is_done() && h.many.is_done() && h.process.is_done());
    assert_eq!(h.one.start().err(), Some(shot::Error::Closed));
    assert!(h.many.start().is_ok(), "the Many starts again after its run was unwound");
    assert_eq!(block_on(h.process.stop(never, never)), Err(process::Error::InvalidState(process::State::Stopped)));
    // The supervisor's run was unwound: nothing is active, and it runs again.
    let control: &Control = h.sup.control();
    assert!(!control.is_active());
    assert_eq!(control.state(), supervisor::State::Stopped);
    let root = Ctx::new();
    assert_eq!(block_on(h.sup.run(&root, async |_| Ok(()))), Ok(()));
}

// === a runner, a callback ===

/// A runner that panics under a `Process` driver, at each point of its life: the process ends
/// `Stopped` with `DriverGone`, every waiter returns, and `start` reports `Ok` only if the
/// runner was ready.
#[test]
fn runner_panicking_under_a_process_stops_it() {
    static P_START: Process<Fail> = Process::new();
    static P_RUNNING: Process<Fail> = Process::new();
    static P_STOP: Process<Fail> = Process::new();
    static GO_START: Ctx<'static> = Ctx::new();
    static GO_RUNNING: Ctx<'static> = Ctx::new();
    static GO_STOP: Ctx<'static> = Ctx::new();
    for (p, at, go) in
        [(&P_START, At::Start, &GO_START), (&P_RUNNING, At::Running, &GO_RUNNING), (&P_STOP, At::Stop, &GO_STOP)]
    {
        let done = waiter(move || {
            block_on(p.done());
            p.state()
        });
        let driver = thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                let root = Ctx::new();
                block_on(p.drive(&root, &Panicky { at, go }))
            }))
        });
        let started = waiter(move || block_on(p.start(never, never)));
        match at {
            At::Start => {
                go.cancel();
                assert_eq!(wait(&started, "start"), Err(process::Error::DriverGone), "{at:?}");
            }
            At::Running => {
                assert_eq!(wait(&started, "start"), Ok(()));
                assert_eq!(p.state(), process::State::Running);
                go.cancel();
            }
            At::Stop => {
                assert_eq!(wait(&started, "start"), Ok(()));
                assert_eq!(block_on(p.stop(never, never)), Err(process::Error::DriverGone));
            }
        }
        assert!(driver.join().expect("caught").is_err(), "{at:?}: the driver panicked");
        assert_eq!(wait(&done, "done"), process::State::Stopped, "{at:?}");
        assert!(p.is_done());
        assert_eq!(p.error(), None);
        assert_eq!(block_on(p.stop(never, never)), Err(process::Error::InvalidState(process::State::Stopped)));
    }
}

/// The main callback of a tree panics: the unwinding drops the whole tree, and every handle
/// its leaves used (a `One`, a `Many`, a `Process` and a supervisor) is released.
#[test]
fn callback_panicking_releases_every_handle() {
    static ONE: One<'static> = One::detached();
    static MANY: Many<'static> = Many::detached();
    static PROCESS: Process<Fail> = Process::new();
    static SUP: Supervisor<supervisor::Identity<Serve>, UntilPermanent, Fail> = Supervisor::new(Serve, UntilPermanent);
    let h = Handles { one: &ONE, many: &MANY, process: &PROCESS, sup: &SUP };
    let w = watch(&h);
    let message = panics(|| {
        let tree = chain((HoldsOne(&ONE), HoldsMany(&MANY), DrivesProcess(&PROCESS), &SUP));
        let root = Ctx::new();
        let _ = block_on(tree.run(&root, async |_| {
            assert_eq!(PROCESS.state(), process::State::Running);
            assert_eq!(SUP.state(), supervisor::State::Running);
            panic!("callback panics");
        }));
    });
    assert_eq!(message, "callback panics");
    check_released(&h, &w);
}

/// A leaf panics while the tree runs: the same, and the main callback, which waits for every
/// leaf, never ran.
#[test]
fn runner_panicking_in_a_tree_releases_every_handle() {
    static ONE: One<'static> = One::detached();
    static MANY: Many<'static> = Many::detached();
    static PROCESS: Process<Fail> = Process::new();
    static SUP: Supervisor<supervisor::Identity<Serve>, UntilPermanent, Fail> = Supervisor::new(Serve, UntilPermanent);
    static GO: Ctx<'static> = Ctx::new();
    let h = Handles { one: &ONE, many: &MANY, process: &PROCESS, sup: &SUP };
    let w = watch(&h);
    let callback_ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ran = callback_ran.clone();
    GO.cancel();
    let message = panics(move || {
        let tree = chain((
            HoldsOne(&ONE),
            HoldsMany(&MANY),
            DrivesProcess(&PROCESS),
            &SUP,
            Panicky { at: At::Start, go: &GO },
        ));
        let root = Ctx::new();
        let _ = block_on(tree.run(&root, async |_| {
            ran.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }));
    });
    assert_eq!(message, "runner panics at start");
    assert!(!callback_ran.load(std::sync::atomic::Ordering::Relaxed), "the callback ran without every leaf ready");
    check_released(&h, &w);
}

// === a hook, a backoff ===

/// A `pre` hook that panics.
#[derive(Debug, Clone, Copy)]
struct PanicPre;

impl HookFn<Fail, Serve, CriticalSectionRawMutex> for PanicPre {
    async fn call(&self, _: &Ctx<'_>, _: &Control, _: &Serve) -> Result<(), Fail> {
        panic!("hook panics");
    }
}

/// A supervisor hook panics under a `Process`: the process stops (`DriverGone`), its waiters
/// return, the supervisor's control shows no active run, and the supervisor runs again (into
/// the same panic, rather than refusing a second run).
#[test]
fn hook_panicking_under_a_process_stops_it() {
    static PROCESS: Process<Fail> = Process::new();
    type Hooked = Supervisor<supervisor::Identity<Serve>, UntilPermanent, Fail, Hook<PanicPre, Skip>>;
    static SUP: LazyLock<Hooked> =
        LazyLock::new(|| Supervisor::new(Serve, UntilPermanent).hook(Hook::new().pre(PanicPre)));
    let done = waiter(|| {
        block_on(PROCESS.done());
        PROCESS.state()
    });
    let started = waiter(|| block_on(PROCESS.start(never, never)));
    let message = panics(|| {
        let root = Ctx::new();
        let _ = block_on(PROCESS.drive(&root, &*SUP));
    });
    assert_eq!(message, "hook panics");
    let started = wait(&started, "start");
    assert!(matches!(started, Ok(()) | Err(process::Error::DriverGone)), "{started:?}");
    assert_eq!(wait(&done, "done"), process::State::Stopped);
    assert!(!SUP.control().is_active());
    assert_eq!(SUP.state(), supervisor::State::Stopped);
    let again = panics(|| {
        let root = Ctx::new();
        let _ = block_on(SUP.run(&root, async |_| Ok(())));
    });
    assert_eq!(again, "hook panics");
}

/// Fails at once, before it is ready.
#[derive(Debug, Clone, Copy)]
struct FailsAtStart;

impl Runner<Fail> for FailsAtStart {
    async fn run<F>(&self, _: &Ctx<'_>, _: F) -> Result<(), Fail>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Fail>,
    {
        Err(Fail::At("crash"))
    }
}

/// A backoff whose delays panic.
#[derive(Debug, Clone, Copy)]
struct PanicBackoff;

impl Iterator for PanicBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        panic!("backoff panics");
    }
}

/// A backoff panics when the supervised process failed: the process that drives the
/// supervisor stops, `start` does not report a readiness that never was, the control is not
/// ready and shows no active run.
#[test]
fn backoff_panicking_under_a_process_stops_it() {
    static CLOCK: ManualClock = ManualClock::new();
    static PROCESS: Process<Fail> = Process::new();
    static SUP: Supervisor<supervisor::Identity<FailsAtStart>, Retry<PanicBackoff, &'static ManualClock>, Fail> =
        Supervisor::new(FailsAtStart, Retry::new(PanicBackoff, &CLOCK));
    let done = waiter(|| {
        block_on(PROCESS.done());
        PROCESS.state()
    });
    let started = waiter(|| block_on(PROCESS.start(never, never)));
    let message = panics(|| {
        let root = Ctx::new();
        let _ = block_on(PROCESS.drive(&root, &SUP));
    });
    assert_eq!(message, "backoff panics");
    assert_eq!(wait(&started, "start"), Err(process::Error::DriverGone));
    assert_eq!(wait(&done, "done"), process::State::Stopped);
    let control: &Control = SUP.control();
    assert!(!control.is_active());
    assert_eq!(control.state(), supervisor::State::Stopped);
    assert!(!ready_now(|cx| control.poll_ready(cx)), "the control reports a readiness that never was");
}

// === a table ===

/// A table that panics in `get`, or in its cursor's `next`; the cursor holds a run of a
/// `Many` (what a cursor over storage holds: a lease), released when it is dropped.
struct PanicTable {
    in_get: bool,
    lease: &'static Many<'static>,
}

struct PanicCursor {
    _lease: shot::Run<'static, 'static, CriticalSectionRawMutex>,
}

impl Cursor<u32, u32> for PanicCursor {
    type Error = Fail;

    async fn next(&mut self, _: &Ctx<'_>) -> Result<Option<(u32, u32)>, Fail> {
        panic!("table panics in next");
    }
}

impl Table<u32, u32> for PanicTable {
    type Error = Fail;
    type Cursor<'a> = PanicCursor;

    async fn get(&self, _: &Ctx<'_>, _: &u32) -> Result<Option<u32>, Fail> {
        if self.in_get {
            panic!("table panics in get");
        }
        Ok(None)
    }

    async fn iter(&self, _: &Ctx<'_>) -> Result<PanicCursor, Fail> {
        let lease = self.lease.start().map_err(|_| Fail::At("lease"))?;
        Ok(PanicCursor { _lease: lease })
    }
}

/// Reads its table once ready (a lookup, then a pass), as a keyed supervisor does.
struct ReadsTable(PanicTable);

impl Runner<Fail> for ReadsTable {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Fail>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Fail>,
    {
        let read = async {
            let _ = self.0.get(ctx, &1).await?;
            let mut cursor = self.0.iter(ctx).await?;
            while cursor.next(ctx).await?.is_some() {}
            Ok::<(), Fail>(())
        };
        let (result, read) = join(ready(ctx), read).await;
        result.and(read)
    }
}

/// A table panics in `get`, and in `next`, while a tree that reads it runs under a `Process`:
/// the process stops, its waiters return, and the cursor's lease is released.
#[test]
fn table_panicking_under_a_process_stops_it() {
    static P_GET: Process<Fail> = Process::new();
    static P_NEXT: Process<Fail> = Process::new();
    static LEASE_GET: Many<'static> = Many::detached();
    static LEASE_NEXT: Many<'static> = Many::detached();
    for (p, in_get, lease) in [(&P_GET, true, &LEASE_GET), (&P_NEXT, false, &LEASE_NEXT)] {
        let done = waiter(move || {
            block_on(p.done());
            p.state()
        });
        // A waiter on the lease only where a pass starts (a `Many` never started stays Initial).
        let lease_done = (!in_get).then(|| {
            waiter(move || {
                block_on(lease.done());
                lease.state()
            })
        });
        let started = waiter(move || block_on(p.start(never, never)));
        let message = panics(move || {
            let root = Ctx::new();
            let tree = chain((Serve, ReadsTable(PanicTable { in_get, lease })));
            let _ = block_on(p.drive(&root, &tree));
        });
        assert_eq!(message, if in_get { "table panics in get" } else { "table panics in next" });
        let started = wait(&started, "start");
        assert!(matches!(started, Ok(()) | Err(process::Error::DriverGone)), "{started:?}");
        assert_eq!(wait(&done, "done"), process::State::Stopped);
        match lease_done {
            None => assert_eq!(lease.state(), shot::State::Initial, "no pass was started"),
            Some(rx) => assert_eq!(wait(&rx, "lease done"), shot::State::Stopped),
        }
    }
}

// === a job ===

/// The future of a `shot::Job` panics: the job ends Closed, its waiter returns, and no error
/// is stored (none was returned).
#[test]
fn job_panicking_closes_it() {
    static JOB: shot::Job<Fail> = shot::Job::new();
    let done = waiter(|| {
        block_on(JOB.done());
        JOB.state()
    });
    let message = panics(|| {
        let _ = block_on(JOB.drive(async |_: &Ctx<'_>| -> Result<(), Fail> { panic!("job panics") }));
    });
    assert_eq!(message, "job panics");
    assert_eq!(wait(&done, "Job::done"), shot::State::Closed);
    assert_eq!(JOB.error(), None);
    assert_eq!(block_on(JOB.drive(async |_: &Ctx<'_>| Ok(()))), Err(shot::Error::Closed));
}

// === a waker ===

/// A waker that panics when woken (an executor torn down under its tasks), or counts.
struct TestWaker {
    panics: bool,
    wakes: std::sync::atomic::AtomicUsize,
}

impl std::task::Wake for TestWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(!self.panics, "waker panics");
    }
}

fn test_waker(panics: bool) -> (std::sync::Arc<TestWaker>, Waker) {
    let w = std::sync::Arc::new(TestWaker { panics, wakes: std::sync::atomic::AtomicUsize::new(0) });
    (w.clone(), Waker::from(w))
}

/// Two tasks wait for a `Process` to end; the first one's waker panics when the process
/// stops. The panic unwinds through the stop; the second waiter must still be woken.
#[test]
fn a_panicking_waker_does_not_lose_the_other_wakeups() {
    let process: Process<Fail> = Process::new();
    let (_, bad) = test_waker(true);
    let (good_count, good) = test_waker(false);
    let mut first = std::pin::pin!(process.done());
    let mut second = std::pin::pin!(process.done());
    assert!(first.as_mut().poll(&mut Context::from_waker(&bad)).is_pending());
    assert!(second.as_mut().poll(&mut Context::from_waker(&good)).is_pending());
    let stopped = catch_unwind(AssertUnwindSafe(|| process.request_stop()));
    assert!(stopped.is_err(), "the first waker panicked");
    assert_eq!(process.state(), process::State::Stopped);
    assert_eq!(good_count.wakes.load(std::sync::atomic::Ordering::Relaxed), 1, "the second waiter was never woken");
}

/// The same on a context: two tasks wait for its cancellation, the first one's waker panics.
#[test]
fn a_panicking_waker_does_not_lose_the_other_wakeups_of_a_ctx() {
    let ctx = Ctx::new();
    let (_, bad) = test_waker(true);
    let (good_count, good) = test_waker(false);
    let mut first = std::pin::pin!(ctx.cancelled());
    let mut second = std::pin::pin!(ctx.cancelled());
    assert!(first.as_mut().poll(&mut Context::from_waker(&bad)).is_pending());
    assert!(second.as_mut().poll(&mut Context::from_waker(&good)).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| ctx.cancel())).is_err(), "the first waker panicked");
    assert!(ctx.is_cancelled());
    assert_eq!(good_count.wakes.load(std::sync::atomic::Ordering::Relaxed), 1, "the second waiter was never woken");
}

/// The same on a `shot::One`: two tasks wait for its end, the first one's waker panics.
#[test]
fn a_panicking_waker_does_not_lose_the_other_wakeups_of_a_one() {
    let one: One<'static> = One::detached();
    let (_, bad) = test_waker(true);
    let (good_count, good) = test_waker(false);
    let mut first = std::pin::pin!(one.done());
    let mut second = std::pin::pin!(one.done());
    assert!(first.as_mut().poll(&mut Context::from_waker(&bad)).is_pending());
    assert!(second.as_mut().poll(&mut Context::from_waker(&good)).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| one.cancel())).is_err(), "the first waker panicked");
    assert_eq!(one.state(), shot::State::Closed);
    assert_eq!(good_count.wakes.load(std::sync::atomic::Ordering::Relaxed), 1, "the second waiter was never woken");
}
