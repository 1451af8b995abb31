//! Panics under the keyed supervisor ([`KeyedSupervisor`](procession::table::KeyedSupervisor),
//! `DynKeyedSupervisor`) and the group ([`Group`](procession::group::Group), `DynGroup`), in
//! the style of `tests/panics.rs`: a key's runner (at start, while running, during its stop
//! and during the drive's shutdown), the `post` and `removed` hooks, the table's `get` and its
//! cursor's `next`, the backoff, the observer and the drive's callback; a child of a group (at
//! start, while running, at stop) and the callback of its `Runner` form. (A panicking `pre`
//! hook is in `tests/keyed_hooks.rs`.)
//!
//! The panicking drive runs on a thread of its own under `catch_unwind`, while handle calls
//! wait on threads of their own (a `start` that is never ready, a `stop` and a `restart` of
//! keys that ignore their graceful stop; a group's `done` and `wait`). A call still blocked
//! [`HANG`] after the panic fails the test instead of hanging it: that bound only guards
//! against a lost wakeup, it is never part of a passing run. After the unwind: every pending
//! call answered, no key reported live, no process of a key still alive, the handles answer
//! at once, and a second drive works (or, for a closed group, refuses).

#![cfg(feature = "std")]
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
#![allow(clippy::result_large_err, reason = "the test error type")]

mod common;
#[path = "common/keyed.rs"]
mod keyed;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use embassy_futures::select::select;
use futures::executor::block_on;
use keyed::{Error, TableFail, Tbl, at};
use procession::group;
use procession::table::{self, Cursor, Ended, Event, Hooks, Policy, Restart, Setup, State, Table};
use procession::time::ManualClock;
use procession::{Ctx, Overrun, Phase, Runner, StopLevel, never};

type KErr = table::Error<u32, Error>;

/// How long a waiter may stay blocked once the panic was caught before the test calls it a
/// lost wakeup (or a state it waits for never came).
const HANG: Duration = Duration::from_secs(30);

static CLOCK: ManualClock = ManualClock::new();

// === harness (as in `tests/panics.rs`) ===

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
    rx.recv_timeout(HANG).unwrap_or_else(|_| panic!("{what}: still waiting {HANG:?}: lost wakeup or hang"))
}

/// Runs `f` under `catch_unwind` on a thread of its own; the receiver gets the panic's
/// message, or `None` if `f` returned.
fn panicking(f: impl FnOnce() + Send + 'static) -> mpsc::Receiver<Option<String>> {
    waiter(move || {
        let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
        Some(
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default(),
        )
    })
}

/// Spins (yielding the thread) until `f` holds; fails after [`HANG`].
fn until(what: &str, f: impl Fn() -> bool) {
    let begun = Instant::now();
    while !f() {
        assert!(begun.elapsed() < HANG, "never came: {what}");
        thread::yield_now();
    }
}

/// Counts the processes alive, through a guard that leaves on return or drop.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a runner does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// Ready; returns when its callback does.
    Serve,
    /// Never ready; returns once its context is cancelled.
    Hold,
    /// Ready; after its callback returned, never returns (a stop that waits).
    DeafStop,
    /// Fails before it is ready.
    Fail,
    /// Panics before it is ready, once `go` is cancelled.
    PanicStart,
    /// Ready; panics once `go` is cancelled, while its callback runs.
    PanicRunning,
    /// Ready; panics when its callback returned (a graceful stop).
    PanicStop,
}

struct Proc {
    how: How,
    go: Arc<Ctx<'static>>,
    live: Arc<AtomicUsize>,
}

impl Runner<Error> for Proc {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        let _live = Live::enter(&self.live);
        match self.how {
            How::Serve => ready(ctx).await,
            How::Hold => {
                ctx.cancelled().await;
                Ok(())
            }
            How::DeafStop => {
                let _ = ready(ctx).await;
                core::future::pending().await
            }
            How::Fail => Err(at("fail")),
            How::PanicStart => {
                self.go.cancelled().await;
                panic!("runner panics at start");
            }
            How::PanicRunning => {
                let _ = select(ready(ctx), self.go.cancelled()).await;
                panic!("runner panics while running");
            }
            How::PanicStop => {
                let _ = ready(ctx).await;
                panic!("runner panics at stop");
            }
        }
    }
}

// === the keyed supervisor ===

/// Where a keyed drive panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    RunnerStart,
    RunnerRunning,
    RunnerStop,
    Post,
    Removed,
    Get,
    Next,
    Backoff,
    Callback,
    /// The observer, on the `Ready` event of key 2.
    Observe,
    /// Key 2's runner, stopped by the drive's shutdown (its callback returned).
    Shutdown,
    /// Nowhere (the second drive).
    Nowhere,
}

impl Point {
    fn message(self) -> &'static str {
        match self {
            Self::RunnerStart => "runner panics at start",
            Self::RunnerRunning => "runner panics while running",
            Self::RunnerStop => "runner panics at stop",
            Self::Post => "post panics",
            Self::Removed => "removed panics",
            Self::Get => "get panics",
            Self::Next => "next panics",
            Self::Backoff => "backoff panics",
            Self::Callback => "callback panics",
            Self::Observe => "observer panics",
            Self::Shutdown => "runner panics at stop",
            Self::Nowhere => "",
        }
    }

    /// What key 2 runs.
    fn how(self) -> How {
        match self {
            Self::RunnerStart => How::PanicStart,
            Self::RunnerRunning => How::PanicRunning,
            Self::RunnerStop | Self::Shutdown => How::PanicStop,
            Self::Backoff => How::Fail,
            _ => How::Serve,
        }
    }
}

/// The keys: 1 is never ready (a `start` of it waits), 2 is the one that panics (as the
/// point says), 3 serves (in the table from the start), 4 and 5 ignore their graceful stop (a
/// `stop` and a `restart` of them wait).
fn how_of(key: u32, point: Point) -> How {
    match key {
        1 => How::Hold,
        2 => point.how(),
        4 | 5 => How::DeafStop,
        _ => How::Serve,
    }
}

/// The test table over [`Tbl`], whose `get` of key 2 panics (at [`Point::Get`]), and whose
/// cursor's `next` panics once `panic_next` is set.
struct PTable {
    inner: Tbl,
    point: Point,
    panic_next: Arc<AtomicBool>,
}

struct PCursor {
    inner: keyed::TblCursor,
    panic_next: Arc<AtomicBool>,
}

impl Table<u32, u32> for PTable {
    type Error = TableFail;
    type Cursor<'a> = PCursor;

    async fn get(&self, ctx: &Ctx<'_>, key: &u32) -> Result<Option<u32>, TableFail> {
        if self.point == Point::Get && *key == 2 {
            panic!("get panics");
        }
        self.inner.get(ctx, key).await
    }

    async fn iter(&self, ctx: &Ctx<'_>) -> Result<PCursor, TableFail> {
        Ok(PCursor { inner: self.inner.iter(ctx).await?, panic_next: self.panic_next.clone() })
    }
}

impl Cursor<u32, u32> for PCursor {
    type Error = TableFail;

    async fn next(&mut self, ctx: &Ctx<'_>) -> Result<Option<(u32, u32)>, TableFail> {
        if self.panic_next.load(Ordering::SeqCst) {
            panic!("next panics");
        }
        self.inner.next(ctx).await
    }
}

/// A backoff whose delays panic when armed (otherwise an hour: the clock never advances).
#[derive(Debug, Clone, Copy)]
struct PanicBackoff(bool);

impl Iterator for PanicBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        assert!(!self.0, "backoff panics");
        Some(Duration::from_secs(3600))
    }
}

/// What a keyed test shares with its drive.
#[derive(Clone)]
struct World {
    table: Tbl,
    go: Arc<Ctx<'static>>,
    live: Arc<AtomicUsize>,
    panic_next: Arc<AtomicBool>,
}

impl World {
    fn new() -> Self {
        Self {
            table: Tbl::new(&[(3, 30)]),
            go: Arc::new(Ctx::new()),
            live: Arc::new(AtomicUsize::new(0)),
            panic_next: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The one definition of a keyed drive, for both variants (`$sup` an expression of the
/// supervisor, `$point` where it panics, `$callback` the drive's callback).
macro_rules! keyed_drive {
    ($sup:expr, $world:expr, $point:expr, $callback:expr) => {{
        let (world, point): (&World, Point) = ($world, $point);
        let table = PTable { inner: world.table.clone(), point, panic_next: world.panic_next.clone() };
        let (go, live) = (world.go.clone(), world.live.clone());
        let build = move |key: &u32, _: &u32| Proc { how: how_of(*key, point), go: go.clone(), live: live.clone() };
        let hooks = Hooks::new()
            .post(async move |_: &Ctx<'_>, key: &u32, _: &u32, _: &Ended<'_, Error>| -> Result<(), Error> {
                assert!(!(point == Point::Post && *key == 2), "post panics");
                Ok(())
            })
            .removed(async move |_: &Ctx<'_>, key: &u32, _: &u32| -> Result<(), Error> {
                assert!(!(point == Point::Removed && *key == 2), "removed panics");
                Ok(())
            });
        let policy = Policy::new().restart(Restart::Permanent).backoff(PanicBackoff(point == Point::Backoff));
        let observe = move |e: &Event<'_, u32, Error>| {
            assert!(!(point == Point::Observe && matches!(e, Event::Ready { key: 2, .. })), "observer panics");
        };
        let setup = Setup::new(table, build, &CLOCK).every(Duration::MAX).policy(policy).hooks(hooks).observe(observe);
        let root = Ctx::new();
        block_on($sup.drive(&root, &setup, $callback))
    }};
}

macro_rules! keyed_cases {
    () => {
        /// Drives `sup` on a thread of its own until it panics at `point`, with handle calls
        /// waiting on other threads; then checks that every one was answered, that nothing
        /// is reported live or still runs, and that a second drive works.
        fn panics_at(point: Point) {
            let sup = make();
            let world = World::new();
            let go = world.go.clone();
            let driven = {
                let (sup, world) = (sup.clone(), world.clone());
                panicking(move || {
                    let gate = world.go.clone();
                    let _ = keyed_drive!(sup, &world, point, async move |_: &Ctx<'_>| {
                        if point == Point::Callback {
                            gate.cancelled().await;
                            panic!("callback panics");
                        }
                        if point == Point::Shutdown {
                            gate.cancelled().await;
                            return Ok(());
                        }
                        core::future::pending().await
                    });
                })
            };
            let state = |key: u32| sup.get(&key).map(|e| e.state);
            until("the drive runs key 3", || sup.is_driving() && state(3) == Ok(State::Running));
            for key in [1, 2, 4, 5] {
                world.table.insert(key, key * 10);
            }
            // A start that waits (key 1 is never ready), a stop and a restart that wait (keys 4
            // and 5 ignore their graceful stop, and the deadlines never pass).
            let start_1 = waiter({
                let sup = sup.clone();
                move || block_on(sup.start(1))
            });
            until("key 1 starting", || state(1) == Ok(State::Starting));
            for key in [4, 5] {
                let sup = sup.clone();
                assert_eq!(wait(&waiter(move || block_on(sup.start(key))), "start"), Ok(()));
            }
            let stop_4 = waiter({
                let sup = sup.clone();
                move || block_on(sup.stop(&4, never, never)).map(|_| ())
            });
            let restart_5 = waiter({
                let sup = sup.clone();
                move || block_on(sup.restart(&5, never, never)).map(|_| ())
            });
            until("keys 4 and 5 stopping", || state(4) == Ok(State::Stopping) && state(5) == Ok(State::Stopping));
            let start_2 = || {
                let sup = sup.clone();
                waiter(move || block_on(sup.start(2)))
            };
            let stop_2 = || {
                let sup = sup.clone();
                waiter(move || block_on(sup.stop(&2, never, never)).map(|_| ()))
            };
            // The call on key 2 that is pending when the panic comes, and its answers.
            let pending_2: Option<(mpsc::Receiver<Result<(), KErr>>, &[Result<(), KErr>])> = match point {
                Point::RunnerStart => {
                    let started = start_2();
                    until("key 2 starting", || state(2) == Ok(State::Starting));
                    go.cancel();
                    Some((started, &[Err(KErr::DriverGone)]))
                }
                Point::RunnerRunning => {
                    assert_eq!(wait(&start_2(), "start 2"), Ok(()));
                    go.cancel();
                    None
                }
                Point::RunnerStop | Point::Post => {
                    assert_eq!(wait(&start_2(), "start 2"), Ok(()));
                    Some((stop_2(), &[Err(KErr::DriverGone)]))
                }
                Point::Removed => {
                    assert_eq!(wait(&start_2(), "start 2"), Ok(()));
                    assert_eq!(wait(&stop_2(), "stop 2"), Ok(()));
                    assert_eq!(sup.forget(&2), Ok(()));
                    None
                }
                Point::Get => Some((start_2(), &[Err(KErr::DriverGone)])),
                // The start failure is answered before the backoff is asked for its delay.
                Point::Backoff => Some((start_2(), &[Err(KErr::Start(at("fail"))), Err(KErr::DriverGone)])),
                Point::Next => {
                    world.panic_next.store(true, Ordering::SeqCst);
                    assert!(sup.reconcile_now());
                    None
                }
                Point::Callback => {
                    go.cancel();
                    None
                }
                // Ready may be answered before the observer hears of it.
                Point::Observe => Some((start_2(), &[Ok(()), Err(KErr::DriverGone)])),
                Point::Shutdown => {
                    assert_eq!(wait(&start_2(), "start 2"), Ok(()));
                    go.cancel();
                    None
                }
                Point::Nowhere => unreachable!(),
            };
            assert_eq!(wait(&driven, "the drive").as_deref(), Some(point.message()), "{point:?}");

            // Every pending call was answered.
            let start_1 = wait(&start_1, "start 1");
            if point == Point::Shutdown {
                // The shutdown stops the starting key before the panic.
                assert!(matches!(start_1, Err(KErr::StoppedBeforeReady | KErr::DriverGone)), "{start_1:?}");
            } else {
                assert_eq!(start_1, Err(KErr::DriverGone), "{point:?}");
            }
            assert_eq!(wait(&stop_4, "stop 4"), Err(KErr::DriverGone), "{point:?}");
            assert_eq!(wait(&restart_5, "restart 5"), Err(KErr::DriverGone), "{point:?}");
            if let Some((rx, answers)) = pending_2 {
                let answer = wait(&rx, "the call on key 2");
                assert!(answers.contains(&answer), "{point:?}: {answer:?}");
            }
            // Nothing is reported live, and no process of a key still runs.
            assert!(!sup.is_driving());
            let mut seen = 0;
            sup.for_each(|key, entry| {
                seen += 1;
                assert!(!entry.state.is_live(), "{point:?}: key {key} reported {}", entry.state);
                assert_ne!(entry.state, State::Reserved, "{point:?}: key {key}");
            });
            assert!(seen >= 4, "{point:?}: the keys kept their slots ({seen})");
            let c = sup.counts();
            assert_eq!((c.reserved, c.starting, c.running, c.stopping), (0, 0, 0, 0), "{point:?}: {c:?}");
            assert_eq!(world.live.load(Ordering::SeqCst), 0, "{point:?}: a process outlived the drive");
            // The handles answer at once.
            assert_eq!(wait(&start_2(), "start after"), Err(KErr::NotRunning));
            assert_eq!(wait(&stop_2(), "stop after"), Err(KErr::NotRunning));
            assert_eq!(sup.request(6), Err(KErr::NotRunning));
            assert!(!sup.reconcile_now());
            assert_eq!(sup.forget(&1), Ok(()));
            assert_eq!(sup.get(&1), Err(KErr::NotFound));

            // A second drive works: the restored key and a started one run, and stop.
            let again = World::new();
            let second = {
                let (sup, again) = (sup.clone(), again.clone());
                waiter(move || {
                    let (inner, table) = (sup.clone(), again.table.clone());
                    keyed_drive!(sup, &again, Point::Nowhere, async move |_: &Ctx<'_>| {
                        table.insert(2, 20);
                        inner.start(2).await.expect("key 2 starts in the second drive");
                        assert_eq!(inner.get(&3).map(|e| e.state), Ok(State::Running));
                        assert_eq!(inner.get(&1), Err(KErr::NotFound), "the last drive's keys were forgotten");
                        Ok(())
                    })
                })
            };
            assert_eq!(wait(&second, "the second drive"), Ok(()), "{point:?}");
            assert_eq!(again.live.load(Ordering::SeqCst), 0);
        }

        /// A key's runner panics before it is ready.
        #[test]
        fn runner_at_start() {
            panics_at(Point::RunnerStart);
        }

        /// A key's runner panics while it runs.
        #[test]
        fn runner_while_running() {
            panics_at(Point::RunnerRunning);
        }

        /// A key's runner panics during its graceful stop (asked by a handle's `stop`).
        #[test]
        fn runner_at_stop() {
            panics_at(Point::RunnerStop);
        }

        /// The `post` hook panics after a handle's `stop`.
        #[test]
        fn post_hook() {
            panics_at(Point::Post);
        }

        /// The `removed` hook panics after a handle's `forget`.
        #[test]
        fn removed_hook() {
            panics_at(Point::Removed);
        }

        /// The table's `get` panics in the lookup of a handle's `start`.
        #[test]
        fn table_get() {
            panics_at(Point::Get);
        }

        /// The table's cursor panics in `next`, in a pass asked by `reconcile_now`.
        #[test]
        fn cursor_next() {
            panics_at(Point::Next);
        }

        /// The restart policy's backoff panics when a key failed.
        #[test]
        fn backoff() {
            panics_at(Point::Backoff);
        }

        /// The drive's callback panics.
        #[test]
        fn callback() {
            panics_at(Point::Callback);
        }

        /// The setup's observer panics (on an event of a key started by a handle).
        #[test]
        fn observer() {
            panics_at(Point::Observe);
        }

        /// A key's runner panics during the drive's shutdown, while handle stops wait.
        #[test]
        fn runner_at_shutdown() {
            panics_at(Point::Shutdown);
        }

        /// The same `static` supervisor, driven again after a caught panic of its drive (as the
        /// drive's docs promise: a dropped drive lets a new one begin), and again after that.
        #[test]
        fn a_static_drives_again_after_a_panic() {
            static SUP: Sup = fresh();
            for round in 0..2 {
                let world = World::new();
                let driven = {
                    let world = world.clone();
                    panicking(move || {
                        let _ = keyed_drive!(SUP, &world, Point::Callback, async |_: &Ctx<'_>| -> Result<(), Error> {
                            panic!("callback panics");
                        });
                    })
                };
                assert_eq!(wait(&driven, "the drive").as_deref(), Some("callback panics"), "round {round}");
                assert!(!SUP.is_driving());
                assert_eq!(SUP.get(&3).map(|e| e.state), Ok(State::Stopped), "round {round}");
                assert_eq!(world.live.load(Ordering::SeqCst), 0);
            }
            let world = World::new();
            let driven = waiter(move || {
                keyed_drive!(SUP, &world, Point::Nowhere, async |_: &Ctx<'_>| {
                    assert_eq!(SUP.get(&3).map(|e| e.state), Ok(State::Running));
                    Ok(())
                })
            });
            assert_eq!(wait(&driven, "the last drive"), Ok(()));
        }
    };
}

mod fixed {
    use super::*;
    use procession::table::KeyedSupervisor;

    type Sup = KeyedSupervisor<u32, u32, Error, 8>;

    const fn fresh() -> Sup {
        KeyedSupervisor::new()
    }

    fn make() -> Arc<Sup> {
        Arc::new(fresh())
    }

    keyed_cases!();
}

#[cfg(feature = "alloc")]
mod dynamic {
    use super::*;
    use procession::table::DynKeyedSupervisor;

    type Sup = DynKeyedSupervisor<u32, u32, Error>;

    const fn fresh() -> Sup {
        DynKeyedSupervisor::with_max_keys(8)
    }

    fn make() -> Arc<Sup> {
        Arc::new(fresh())
    }

    keyed_cases!();
}

// === the group ===

impl From<group::Error> for keyed::Fail {
    fn from(e: group::Error) -> Self {
        Self::At(format!("group {e}"))
    }
}

/// Where a group's drive panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GPoint {
    /// A child, before it is ready.
    Start,
    /// A child, while its callback runs.
    Running,
    /// A child, when its callback returned (stopped by the group's `stop`).
    Stop,
    /// The callback of the group's `Runner` form.
    Callback,
}

impl GPoint {
    fn how(self) -> How {
        match self {
            Self::Start => How::PanicStart,
            Self::Running => How::PanicRunning,
            Self::Stop => How::PanicStop,
            Self::Callback => How::Serve,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Start => "runner panics at start",
            Self::Running => "runner panics while running",
            Self::Stop => "runner panics at stop",
            Self::Callback => "callback panics",
        }
    }
}

/// What a group test shares with its drive: the switch of the panicking child (or callback)
/// and the count of the children alive.
#[derive(Clone)]
struct GWorld {
    go: Arc<Ctx<'static>>,
    live: Arc<AtomicUsize>,
}

impl GWorld {
    fn proc(&self, how: How) -> Proc {
        Proc { how, go: self.go.clone(), live: self.live.clone() }
    }
}

macro_rules! group_cases {
    () => {
        /// Drives a group (its `drive`, or its `Runner` form for [`GPoint::Callback`]) on a
        /// thread of its own until it panics at `point`, with a child that serves and waits on
        /// other threads; then checks that every wait returned, that no child is alive, that
        /// the group is closed (the documented end of a dropped driver) and answers at once,
        /// and that a second drive refuses or returns instead of hanging.
        fn group_panics_at(point: GPoint) {
            let group = make();
            let world = GWorld { go: Arc::new(Ctx::new()), live: Arc::new(AtomicUsize::new(0)) };
            let driven = {
                let (group, world) = (group.clone(), world.clone());
                panicking(move || {
                    if point == GPoint::Callback {
                        let gate = world.go.clone();
                        let _ = run_form(&group, &world, async move |_: &Ctx<'_>| -> Result<(), Error> {
                            gate.cancelled().await;
                            panic!("callback panics");
                        });
                    } else {
                        let _ = drive(&group, &world);
                    }
                })
            };
            go(&group, &world, How::Serve);
            until("the serving child runs", || world.live.load(Ordering::SeqCst) == 1);
            let done = waiter({
                let group = group.clone();
                move || block_on(group.done())
            });
            let waited = waiter({
                let group = group.clone();
                move || block_on(group.wait())
            });
            if point != GPoint::Callback {
                go(&group, &world, point.how());
                until("the panicking child runs", || world.live.load(Ordering::SeqCst) == 2);
            }
            let stopped = match point {
                GPoint::Stop => Some(waiter({
                    let group = group.clone();
                    move || block_on(group.stop(never, never))
                })),
                _ => {
                    world.go.cancel();
                    None
                }
            };
            assert_eq!(wait(&driven, "the drive").as_deref(), Some(point.message()), "{point:?}");

            // Every wait returned, and no child is alive.
            wait(&done, "done");
            wait(&waited, "wait");
            let hard = Err(group::Error::Overrun(Overrun::new(Phase::Stop, StopLevel::Hard)));
            if let Some(stopped) = stopped {
                assert_eq!(wait(&stopped, "stop"), hard, "{point:?}");
            }
            assert_eq!(world.live.load(Ordering::SeqCst), 0, "{point:?}: a child outlived the drive");
            // The group is closed and idle, and answers at once.
            assert!(group.is_closed() && group.is_done(), "{point:?}");
            assert!(!go_ok(&group, &world), "{point:?}: a closed group took a child");
            let stop_after = {
                let group = group.clone();
                waiter(move || block_on(group.stop(never, never)))
            };
            assert_eq!(wait(&stop_after, "stop after"), hard, "{point:?}");
            let wait_after = {
                let group = group.clone();
                waiter(move || block_on(group.wait()))
            };
            wait(&wait_after, "wait after");
            // A second drive returns at once (a closed group has nothing to run), its `Runner`
            // form refuses with `Closed`, without calling its callback.
            let second = {
                let (group, world) = (group.clone(), world.clone());
                waiter(move || drive(&group, &world))
            };
            assert_eq!(wait(&second, "the second drive"), Ok(()), "{point:?}");
            let second = {
                let (group, world) = (group.clone(), world.clone());
                waiter(move || run_form(&group, &world, async |_: &Ctx<'_>| -> Result<(), Error> { unreachable!() }))
            };
            let closed: Error = group::Error::Closed.into();
            assert_eq!(wait(&second, "the second run"), Err(closed), "{point:?}");
            assert_eq!(world.live.load(Ordering::SeqCst), 0);
        }

        /// A child panics before it is ready.
        #[test]
        fn child_at_start() {
            group_panics_at(GPoint::Start);
        }

        /// A child panics while it runs.
        #[test]
        fn child_while_running() {
            group_panics_at(GPoint::Running);
        }

        /// A child panics during its graceful stop (asked by the group's `stop`).
        #[test]
        fn child_at_stop() {
            group_panics_at(GPoint::Stop);
        }

        /// The callback of the group's `Runner` form panics while a child runs.
        #[test]
        fn runner_form_callback() {
            group_panics_at(GPoint::Callback);
        }
    };
}

mod group_fixed {
    use super::*;
    use procession::group::Group;

    type G = Group<'static, How, 4>;

    fn make() -> Arc<G> {
        Arc::new(Group::detached())
    }

    fn go(group: &G, _: &GWorld, how: How) {
        group.go(how).expect("the group takes the child");
    }

    fn go_ok(group: &G, _: &GWorld) -> bool {
        group.go(How::Serve).is_ok()
    }

    fn drive(group: &G, world: &GWorld) -> Result<(), group::Error> {
        let make = |how: &How| world.proc(*how);
        block_on(group.drive(&Ctx::new(), make, |_: &How, _: Result<(), Error>| {}))
    }

    fn run_form(
        group: &G,
        world: &GWorld,
        callback: impl AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let runner = group.runner(|how: &How| world.proc(*how), |_: &How, _: Result<(), Error>| {});
        block_on(runner.run(&Ctx::new(), callback))
    }

    group_cases!();
}

#[cfg(feature = "alloc")]
mod group_dynamic {
    use super::*;
    use procession::group::DynGroup;

    type G = DynGroup<'static, Error>;

    fn make() -> Arc<G> {
        Arc::new(DynGroup::detached())
    }

    fn go(group: &G, world: &GWorld, how: How) {
        assert!(group.go(world.proc(how), |_: Result<(), Error>| {}).is_ok(), "the group takes the child");
    }

    fn go_ok(group: &G, world: &GWorld) -> bool {
        group.go(world.proc(How::Serve), |_: Result<(), Error>| {}).is_ok()
    }

    fn drive(group: &G, _: &GWorld) -> Result<(), group::Error> {
        block_on(group.drive(&Ctx::new()))
    }

    fn run_form(group: &G, _: &GWorld, callback: impl AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>) -> Result<(), Error> {
        block_on(Runner::run(group, &Ctx::new(), callback))
    }

    group_cases!();
}
