//! The hooks of the keyed supervisor ([`Hooks`] on its [`Setup`]): `pre` and `post` around
//! each incarnation, `removed` before a leaving key's slot is freed. Every case runs against
//! both variants (fixed and, with `alloc`, dynamic), as in `tests/keyed.rs`.
#![cfg(feature = "std")]
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
#![allow(clippy::result_large_err, reason = "the test error type")]

mod common;
#[path = "common/keyed.rs"]
mod keyed;

use core::time::Duration;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Log, block_on, yield_now};
use keyed::{Act, Error, Script, Tbl, Worker, at, workers};
use procession::retry::Constant;
use procession::table::{self, Ended, Event, Hooks, Policy, Restart, Setup, State};
use procession::time::{Clock, ManualClock};
use procession::{Ctx, never};

type KErr = table::Error<u32, Error>;

/// Yields `n` times.
async fn settle(n: usize) {
    for _ in 0..n {
        yield_now().await;
    }
}

/// An observer that writes the events that matter here into `log`, beside the hooks and the
/// workers, so that one timeline holds them all.
fn observer(log: &Log) -> impl Fn(&Event<'_, u32, Error>) + use<> {
    let log = log.clone();
    move |e: &Event<'_, u32, Error>| match e {
        Event::Ready { key, incarnation } => log.push(format!("event ready {key}#{incarnation}")),
        Event::Exited { key, incarnation, result, .. } => {
            log.push(format!("event exited {key}#{incarnation}{}", if result.is_err() { " err" } else { "" }));
        }
        Event::Removed { key, result } => {
            log.push(format!("event removed {key}{}", if result.is_err() { " err" } else { "" }));
        }
        Event::Freed { key } => log.push(format!("event freed {key}")),
        _ => {}
    }
}

fn ended(e: &Ended<'_, Error>) -> String {
    format!("ready={}{}", e.was_ready, if e.result.is_err() { " err" } else { "" })
}

macro_rules! cases {
    () => {
        /// Yields until `key` is in `state`, or panics.
        async fn until_state(sup: &Sup, key: u32, state: State) {
            for _ in 0..1_000 {
                if sup.get(&key).map(|e| e.state) == Ok(state) {
                    return;
                }
                yield_now().await;
            }
            panic!("key {key} never reached {state}: {:?}", sup.get(&key));
        }

        /// `pre` and `post` run once per incarnation, in the order pre → start → ready → stop →
        /// post → exited, and the next incarnation's `pre` only after the last one's `post`.
        #[test]
        fn pre_and_post_once_per_incarnation_in_order() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let hooks = Hooks::new()
                .pre(async |_: &Ctx<'_>, key: &u32, value: &u32, live: &Worker| -> Result<(), Error> {
                    assert_eq!((live.key, live.value), (*key, *value));
                    log.push(format!("pre {key}={value}"));
                    settle(2).await; // a hook that takes a while
                    Ok(())
                })
                .post(async |_: &Ctx<'_>, key: &u32, _: &u32, e: &Ended<'_, Error>| -> Result<(), Error> {
                    log.push(format!("post {key}#{} {}", e.incarnation, ended(e)));
                    settle(2).await;
                    Ok(())
                });
            let setup = Setup::new(Tbl::new(&[(1, 10)]), workers(&script, &log), &clock)
                .every(Duration::MAX)
                .observe(observer(&log))
                .hooks(hooks);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                until_state(&sup, 1, State::Running).await;
                let stopped = sup.restart(&1, never, never).await.expect("restarted");
                assert_eq!(stopped.result, Ok(()));
                until_state(&sup, 1, State::Running).await;
                sup.stop(&1, never, never).await.expect("stopped");
                // `stop` returns once `post` has returned.
                assert!(log.events().iter().any(|e| e == "post 1#2 ready=true"), "{:?}", log.events());
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let one = |n: u32, cause: &str| {
                vec![
                    "pre 1=10".to_string(),
                    "start 1=10".to_string(),
                    "ready 1".to_string(),
                    format!("event ready 1#{n}"),
                    format!("stop 1{cause}"),
                    format!("post 1#{n} ready=true"),
                    format!("event exited 1#{n}"),
                ]
            };
            let mut expected = one(1, "");
            expected.extend(one(2, ""));
            assert_eq!(log.events(), expected);
            assert_eq!(script.overlaps(), 0);
        }

        /// A `pre` that fails is the incarnation's start failure: the runner does not run,
        /// `start` gets [`table::Error::Start`], `post` sees it, and the restart policy retries.
        #[test]
        fn a_failing_pre_is_a_start_failure_and_retried() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let calls = AtomicUsize::new(0);
            let hooks = Hooks::new()
                .pre(async |_: &Ctx<'_>, key: &u32, _: &u32, _: &Worker| -> Result<(), Error> {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        log.push(format!("pre {key} fails"));
                        return Err(at("pre"));
                    }
                    log.push(format!("pre {key}"));
                    Ok(())
                })
                .post(async |_: &Ctx<'_>, key: &u32, _: &u32, e: &Ended<'_, Error>| -> Result<(), Error> {
                    log.push(format!("post {key}#{} {}", e.incarnation, ended(e)));
                    Ok(())
                });
            let policy = Policy::new().restart(Restart::Permanent).backoff(Constant::every(Duration::from_millis(10)));
            let setup = Setup::new(Tbl::new(&[(1, 10)]), workers(&script, &log), &clock)
                .every(Duration::MAX)
                .initial_wait(Duration::ZERO)
                .policy(policy)
                .observe(observer(&log))
                .hooks(hooks);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                until_state(&sup, 1, State::BackingOff).await;
                clock.advance(Duration::from_millis(10));
                until_state(&sup, 1, State::Running).await;
                assert_eq!(sup.get(&1).map(|e| (e.incarnation, e.restarts)), Ok((2, 1)));
                sup.stop(&1, never, never).await.expect("stopped");
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(
                log.events(),
                [
                    "pre 1 fails",
                    "post 1#1 ready=false err",
                    "event exited 1#1 err",
                    "pre 1",
                    "start 1=10",
                    "ready 1",
                    "event ready 1#2",
                    "stop 1",
                    "post 1#2 ready=true",
                    "event exited 1#2",
                ]
            );
        }

        /// A handle's `start` of a key whose `pre` fails gets the hook's error as the start
        /// failure.
        #[test]
        fn a_failing_pre_answers_start() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let hooks = Hooks::new()
                .pre(async |_: &Ctx<'_>, _: &u32, _: &u32, _: &Worker| -> Result<(), Error> { Err(at("pre")) });
            let table = Tbl::new(&[]);
            let setup = Setup::new(table.clone(), workers(&script, &log), &clock).every(Duration::MAX).hooks(hooks);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                table.insert(1, 10);
                assert_eq!(sup.start(1).await, Err(KErr::Start(at("pre"))));
                assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Exited));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert!(log.events().is_empty(), "the runner never ran: {:?}", log.events());
        }

        /// `removed` runs after the process of a pruned key stopped (after its `post` and its
        /// `Exited`), and the slot is freed only after it returns: meanwhile the key keeps its
        /// slot, `Stopped`, so a `start` of it is refused with `Exists` and a `forget` with
        /// `Busy`; once free, it can be started again.
        #[test]
        fn removed_runs_after_the_stop_before_the_slot_is_free() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let gate = Ctx::new();
            let hooks = Hooks::new()
                .post(async |_: &Ctx<'_>, key: &u32, _: &u32, e: &Ended<'_, Error>| -> Result<(), Error> {
                    log.push(format!("post {key}#{} {}", e.incarnation, ended(e)));
                    Ok(())
                })
                .removed(async |_: &Ctx<'_>, key: &u32, value: &u32| -> Result<(), Error> {
                    log.push(format!("removed {key}={value}"));
                    gate.cancelled().await;
                    log.push(format!("removed {key} done"));
                    Ok(())
                });
            let table = Tbl::new(&[(1, 10)]);
            let setup = Setup::new(table.clone(), workers(&script, &log), &clock)
                .every(Duration::MAX)
                .prune()
                .observe(observer(&log))
                .hooks(hooks);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                until_state(&sup, 1, State::Running).await;
                table.remove(1);
                assert!(sup.reconcile_now());
                for _ in 0..1_000 {
                    if log.events().iter().any(|e| e == "removed 1=10") {
                        break;
                    }
                    yield_now().await;
                }
                settle(10).await;
                // The process has stopped, the hook waits: the key still holds its slot.
                assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Stopped));
                table.insert(1, 11);
                assert!(matches!(sup.start(1).await, Err(KErr::Exists)));
                assert!(matches!(sup.forget(&1), Err(KErr::Busy(_))));
                gate.cancel();
                for _ in 0..1_000 {
                    if sup.get(&1) == Err(KErr::NotFound) {
                        break;
                    }
                    yield_now().await;
                }
                assert_eq!(sup.get(&1), Err(KErr::NotFound));
                // Re-added once free: it starts again.
                sup.start(1).await.expect("started again");
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(
                log.events(),
                [
                    "start 1=10",
                    "ready 1",
                    "event ready 1#1",
                    "stop 1",
                    "post 1#1 ready=true",
                    "event exited 1#1",
                    "removed 1=10",
                    "removed 1 done",
                    "event removed 1",
                    "event freed 1",
                    "start 1=11",
                    "ready 1",
                    "event ready 1#1",
                    "stop 1",
                    "post 1#1 ready=true",
                    "event exited 1#1",
                ]
            );
        }

        /// While `removed` runs, a pass that sees the key in the table again leaves it alone, and
        /// a `restart` of it gets `StoppedBeforeReady` once the slot is freed; the next pass
        /// after that starts the key afresh.
        #[test]
        fn a_key_back_while_removed_runs_waits_for_the_next_pass() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let gate = Ctx::new();
            let hooks = Hooks::new().removed(async |_: &Ctx<'_>, key: &u32, _: &u32| -> Result<(), Error> {
                log.push(format!("removed {key}"));
                gate.cancelled().await;
                Ok(())
            });
            let table = Tbl::new(&[(1, 10)]);
            let setup = Setup::new(table.clone(), workers(&script, &log), &clock)
                .every(Duration::MAX)
                .prune()
                .observe(observer(&log))
                .hooks(hooks);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                until_state(&sup, 1, State::Running).await;
                table.remove(1);
                assert!(sup.reconcile_now());
                for _ in 0..1_000 {
                    if log.events().iter().any(|e| e == "removed 1") {
                        break;
                    }
                    yield_now().await;
                }
                table.insert(1, 12);
                assert!(sup.reconcile_now());
                settle(20).await;
                assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Stopped), "the pass left it alone");
                let restart = sup.restart(&1, never, never);
                let open = async {
                    settle(10).await;
                    gate.cancel();
                };
                let (restarted, ()) = futures::join!(restart, open);
                assert!(matches!(restarted, Err(KErr::StoppedBeforeReady)), "{restarted:?}");
                assert_eq!(sup.get(&1), Err(KErr::NotFound));
                assert!(sup.reconcile_now());
                until_state(&sup, 1, State::Running).await;
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let starts: Vec<_> = log.events().into_iter().filter(|e| e.starts_with("start")).collect();
            assert_eq!(starts, ["start 1=10", "start 1=12"]);
            assert_eq!(script.overlaps(), 0);
        }

        /// A driver dropped while a `removed` hook runs drops the hook: the key stays, and a
        /// `forget` without a driver frees it.
        #[test]
        fn a_driver_dropped_during_removed_leaves_the_key_forgettable() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let hooks = Hooks::new().removed(async |_: &Ctx<'_>, key: &u32, _: &u32| -> Result<(), Error> {
                log.push(format!("removed {key}"));
                core::future::pending::<()>().await;
                Ok(())
            });
            let setup =
                Setup::new(Tbl::new(&[(1, 10)]), workers(&script, &log), &clock).every(Duration::MAX).hooks(hooks);
            let sup = make::<4>();
            let root = Ctx::new();
            block_on(async {
                let drive = sup.drive(&root, &setup, async |_| {
                    until_state(&sup, 1, State::Running).await;
                    sup.stop(&1, never, never).await.expect("stopped");
                    assert_eq!(sup.forget(&1), Ok(()));
                    core::future::pending::<()>().await;
                    Ok(())
                });
                let removing = async {
                    while !log.events().iter().any(|e| e == "removed 1") {
                        yield_now().await;
                    }
                };
                embassy_futures::select::select(drive, removing).await;
            });
            assert!(!sup.is_driving());
            assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Stopped));
            assert_eq!(sup.forget(&1), Ok(()));
            assert_eq!(sup.get(&1), Err(KErr::NotFound));
        }

        /// `forget` of a stopped key runs `removed` before its slot is freed; a key that never
        /// ran an incarnation is freed at once, without it. The hook's error is reported.
        #[test]
        fn forget_runs_removed_and_reports_its_error() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let hooks = Hooks::new().removed(async |_: &Ctx<'_>, key: &u32, value: &u32| -> Result<(), Error> {
                log.push(format!("removed {key}={value}"));
                Err(at("cleanup"))
            });
            let setup = Setup::new(Tbl::new(&[(1, 10)]), workers(&script, &log), &clock)
                .every(Duration::MAX)
                .observe(observer(&log))
                .hooks(hooks);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                until_state(&sup, 1, State::Running).await;
                sup.stop(&1, never, never).await.expect("stopped");
                assert_eq!(sup.forget(&1), Ok(()));
                for _ in 0..1_000 {
                    if sup.get(&1) == Err(KErr::NotFound) {
                        break;
                    }
                    yield_now().await;
                }
                assert_eq!(sup.get(&1), Err(KErr::NotFound));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let events = log.events();
            let tail = &events[events.len() - 3..];
            assert_eq!(tail, ["removed 1=10", "event removed 1 err", "event freed 1"]);
        }

        /// `removed` is bounded by the setup's shutdown deadlines: a hook that never returns is
        /// cancelled, then dropped, and reported with an overrun.
        #[test]
        fn removed_is_bounded_by_the_deadlines() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let hooks = Hooks::new().removed(async |ctx: &Ctx<'_>, key: &u32, _: &u32| -> Result<(), Error> {
                ctx.cancelled().await;
                log.push(format!("removed {key} cancelled"));
                core::future::pending::<()>().await;
                Ok(())
            });
            let table = Tbl::new(&[(1, 10)]);
            let setup = Setup::new(table.clone(), workers(&script, &log), &clock)
                .every(Duration::MAX)
                .prune()
                .observe(observer(&log))
                .shutdown_deadlines(|| clock.sleep(Duration::from_secs(1)), || clock.sleep(Duration::from_secs(1)))
                .hooks(hooks);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                until_state(&sup, 1, State::Running).await;
                table.remove(1);
                sup.reconcile_now();
                settle(20).await;
                clock.advance(Duration::from_secs(1));
                settle(20).await;
                clock.advance(Duration::from_secs(1));
                for _ in 0..1_000 {
                    if sup.get(&1) == Err(KErr::NotFound) {
                        break;
                    }
                    yield_now().await;
                }
                assert_eq!(sup.get(&1), Err(KErr::NotFound));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let events = log.events();
            assert!(events.contains(&"removed 1 cancelled".to_string()), "{events:?}");
            assert!(events.ends_with(&["event removed 1 err".to_string(), "event freed 1".to_string()]), "{events:?}");
        }
    };
}

mod fixed {
    use super::*;
    use procession::table::KeyedSupervisor;

    type Sup = KeyedSupervisor<u32, u32, Error, 4>;

    fn make<const N: usize>() -> Sup {
        KeyedSupervisor::new()
    }

    cases!();
}

#[cfg(feature = "alloc")]
mod dynamic {
    use super::*;
    use procession::table::DynKeyedSupervisor;

    type Sup = DynKeyedSupervisor<u32, u32, Error>;

    fn make<const N: usize>() -> Sup {
        DynKeyedSupervisor::with_max_keys(N)
    }

    cases!();
}

/// No hook costs nothing: the default hooks are zero-sized, so a setup without hooks is as
/// large as before they existed (the zero-allocation run of `tests/keyed.rs` covers the rest).
#[test]
fn no_hook_is_zero_sized() {
    assert_eq!(size_of::<Hooks>(), 0);
}

/// A `pre` hook that panics unwinds through the driver: a handle waiting on the key (on a
/// thread of its own, in `start`) gets `DriverGone`, and the supervisor is no longer driving
/// (the style of `tests/panics.rs`).
#[test]
fn a_panicking_hook_leaves_waiters_a_state_they_see() {
    use procession::table::KeyedSupervisor;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::mpsc;
    use std::thread;

    static SUP: KeyedSupervisor<u32, u32, Error> = KeyedSupervisor::new();
    static CLOCK: ManualClock = ManualClock::new();
    let (driving_tx, driving_rx) = mpsc::channel();
    let table = Tbl::new(&[]);
    let driven = table.clone();
    let driver = thread::spawn(move || {
        catch_unwind(AssertUnwindSafe(|| {
            let (log, script) = (Log::new(), Script::new());
            script.then(2, &[Act::Normal]);
            let hooks = Hooks::new().pre(async |_: &Ctx<'_>, key: &u32, _: &u32, _: &Worker| -> Result<(), Error> {
                panic!("pre hook of {key}");
            });
            let setup = Setup::new(driven, workers(&script, &log), &CLOCK)
                .every(Duration::MAX)
                .initial_wait(Duration::ZERO)
                .hooks(hooks);
            let root = Ctx::new();
            let _ = futures::executor::block_on(SUP.drive(&root, &setup, async |ctx: &Ctx<'_>| {
                driving_tx.send(()).unwrap();
                ctx.cancelled().await;
                Ok(())
            }));
        }))
    });
    driving_rx.recv().unwrap();
    table.insert(2, 20);
    let waiter = thread::spawn(|| futures::executor::block_on(SUP.start(2)));
    let caught = driver.join().expect("joined");
    assert!(caught.is_err(), "the hook was expected to panic");
    let answer = waiter.join().expect("joined");
    assert!(matches!(answer, Err(KErr::DriverGone)), "{answer:?}");
    assert!(!SUP.is_driving());
}

/// Zero heap allocations on the fixed variant, without hooks and with hooks that allocate
/// nothing themselves: a heap-free table, runners and error type, polled by hand (as
/// `zero_alloc` in `tests/keyed.rs`).
mod zero_alloc {
    use core::future::Future;
    use core::pin::pin;
    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use core::task::{Context, Poll, Waker};
    use core::time::Duration;

    use procession::retry::Constant;
    use procession::table::{
        Cursor, Ended, Error, Hooks, KeyedSupervisor, Policy, PostFn, PreFn, RemovedFn, Restart, Setup, State, Table,
    };
    use procession::time::ManualClock;
    use procession::{Ctx, Merge, Overrun, Runner, never, supervisor};

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum ZErr {
        Run(&'static str),
        Over,
        Sup(supervisor::Error),
    }
    impl Merge for ZErr {
        fn merge(self, _: Self) -> Self {
            self
        }
    }
    impl From<Overrun> for ZErr {
        fn from(_: Overrun) -> Self {
            Self::Over
        }
    }
    impl From<supervisor::Error> for ZErr {
        fn from(e: supervisor::Error) -> Self {
            Self::Sup(e)
        }
    }
    #[derive(Debug)]
    enum NoError {}
    impl From<NoError> for ZErr {
        fn from(e: NoError) -> Self {
            match e {}
        }
    }

    struct Slice(&'static [(u8, u32)]);
    struct SliceCursor(&'static [(u8, u32)]);

    impl Table<u8, u32> for Slice {
        type Error = NoError;
        type Cursor<'a> = SliceCursor;
        async fn get(&self, _: &Ctx<'_>, key: &u8) -> Result<Option<u32>, NoError> {
            Ok(self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v))
        }
        async fn iter(&self, _: &Ctx<'_>) -> Result<SliceCursor, NoError> {
            Ok(SliceCursor(self.0))
        }
    }
    impl Cursor<u8, u32> for SliceCursor {
        type Error = NoError;
        async fn next(&mut self, _: &Ctx<'_>) -> Result<Option<(u8, u32)>, NoError> {
            let Some((first, rest)) = self.0.split_first() else { return Ok(None) };
            self.0 = rest;
            Ok(Some(*first))
        }
    }

    struct Counters {
        started: AtomicUsize,
        pre: AtomicUsize,
        post: AtomicUsize,
        removed: AtomicUsize,
        failed_once: AtomicBool,
    }

    impl Counters {
        const fn new() -> Self {
            Self {
                started: AtomicUsize::new(0),
                pre: AtomicUsize::new(0),
                post: AtomicUsize::new(0),
                removed: AtomicUsize::new(0),
                failed_once: AtomicBool::new(false),
            }
        }
        fn get(&self) -> (usize, usize, usize, usize) {
            let n = |a: &AtomicUsize| a.load(Ordering::Relaxed);
            (n(&self.started), n(&self.pre), n(&self.post), n(&self.removed))
        }
    }

    struct Quiet(u8, &'static Counters);

    impl Runner<ZErr> for Quiet {
        async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), ZErr>
        where
            F: AsyncFnOnce(&Ctx<'_>) -> Result<(), ZErr>,
        {
            self.1.started.fetch_add(1, Ordering::Relaxed);
            if self.0 == 2 && !self.1.failed_once.swap(true, Ordering::Relaxed) {
                return Err(ZErr::Run("first start of 2"));
            }
            ready(ctx).await
        }
    }

    fn waker() -> &'static Waker {
        struct Noop;
        impl std::task::Wake for Noop {
            fn wake(self: std::sync::Arc<Self>) {}
        }
        static WAKER: std::sync::OnceLock<Waker> = std::sync::OnceLock::new();
        WAKER.get_or_init(|| Waker::from(std::sync::Arc::new(Noop)))
    }

    fn poll_by_hand<F: Future>(fut: F, limit: usize) -> Option<F::Output> {
        let mut fut = pin!(fut);
        let mut cx = Context::from_waker(waker());
        (0..limit).find_map(|_| match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        })
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

    static TABLE: [(u8, u32); 4] = [(1, 10), (2, 20), (3, 30), (4, 40)];

    /// A cycle: restore 4 keys, a failure and its backoff, a stop and a forget (the `removed`
    /// hook), a pass on demand that brings the key back, a restart, and the shutdown.
    fn cycle<HP, HQ, HD>(counters: &'static Counters, hooks: Hooks<HP, HQ, HD>) -> Option<Result<(), ZErr>>
    where
        HP: PreFn<u8, u32, ZErr, Quiet>,
        HQ: PostFn<u8, u32, ZErr>,
        HD: RemovedFn<u8, u32, ZErr>,
    {
        let clock: ManualClock = ManualClock::new();
        let build = |key: &u8, _: &u32| Quiet(*key, counters);
        let policy = Policy::new().restart(Restart::Permanent).backoff(Constant::every(Duration::from_millis(10)));
        let setup = Setup::new(Slice(&TABLE), build, &clock).policy(policy).hooks(hooks);
        let sup: KeyedSupervisor<u8, u32, ZErr, 4> = KeyedSupervisor::new();
        let root = Ctx::new();
        let state = |k| sup.get(&k).ok().map(|e| e.state);
        poll_by_hand(
            sup.drive(&root, &setup, async |_: &Ctx<'_>| {
                clock.advance(Duration::from_millis(10));
                while state(2) != Some(State::Running) {
                    yield_now().await;
                }
                assert!(sup.stop(&1, never, never).await.is_ok());
                assert_eq!(sup.forget(&1), Ok(()));
                while sup.get(&1) != Err(Error::NotFound) {
                    yield_now().await;
                }
                assert!(sup.reconcile_now());
                while state(1) != Some(State::Running) {
                    yield_now().await;
                }
                assert!(sup.restart(&3, never, never).await.is_ok());
                Ok(())
            }),
            10_000,
        )
    }

    /// Without hooks: nothing allocated.
    #[test]
    fn no_hook_allocates_nothing() {
        static WARM: Counters = Counters::new();
        static COUNTERS: Counters = Counters::new();
        let _ = waker();
        assert_eq!(cycle(&WARM, Hooks::new()), Some(Ok(())));
        let mut result = None;
        let info = allocation_counter::measure(|| result = cycle(&COUNTERS, Hooks::new()));
        assert_eq!(result, Some(Ok(())), "the drive did not finish");
        // 4 first starts, the restart of 2, key 1 again, the restart of 3.
        assert_eq!(COUNTERS.get(), (7, 0, 0, 0));
        assert_eq!(info.count_total, 0, "allocations while the supervisor ran: {info:?}");
    }

    /// With hooks that allocate nothing themselves, the supervisor allocates nothing either
    /// (seen to fail with a `Box` made in the `pre` hook).
    #[test]
    fn hooks_allocate_nothing() {
        static WARM: Counters = Counters::new();
        static COUNTERS: Counters = Counters::new();
        #[allow(clippy::type_complexity, reason = "the three hooks' types, spelled out once")]
        fn hooks(
            c: &'static Counters,
        ) -> Hooks<
            impl AsyncFn(&Ctx<'_>, &u8, &u32, &Quiet) -> Result<(), ZErr>,
            impl AsyncFn(&Ctx<'_>, &u8, &u32, &Ended<'_, ZErr>) -> Result<(), ZErr>,
            impl AsyncFn(&Ctx<'_>, &u8, &u32) -> Result<(), ZErr>,
        > {
            Hooks::new()
                .pre(async move |_: &Ctx<'_>, _: &u8, _: &u32, _: &Quiet| {
                    c.pre.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })
                .post(async move |_: &Ctx<'_>, _: &u8, _: &u32, _: &Ended<'_, ZErr>| {
                    c.post.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })
                .removed(async move |_: &Ctx<'_>, _: &u8, _: &u32| {
                    c.removed.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })
        }
        let _ = waker();
        assert_eq!(cycle(&WARM, hooks(&WARM)), Some(Ok(())));
        let mut result = None;
        let info = allocation_counter::measure(|| result = cycle(&COUNTERS, hooks(&COUNTERS)));
        assert_eq!(result, Some(Ok(())), "the drive did not finish");
        // Every incarnation ran `pre` and `post`; key 1 was removed once.
        assert_eq!(COUNTERS.get(), (7, 7, 7, 1));
        assert_eq!(info.count_total, 0, "allocations while the supervisor ran: {info:?}");
    }
}
