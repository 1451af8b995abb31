//! The keyed supervisor over a table: ports of the old table supervisor's tests, and our own
//! cases of the handle calls and their misuse.
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;
#[path = "common/keyed.rs"]
mod keyed;

use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use common::{Log, block_on, yield_now};
use keyed::{Act, Error, Events, Fail, Script, Sure, Tbl, at, fails, workers};
use procession::table::{self, Counts, KeyedSupervisor, Setup, State, StaticTable, Stopped, Table};
use procession::time::{Clock, ManualClock, Sleep};
use procession::{Cause, Ctx, Runner, StopLevel, never, supervisor};

type KErr = table::Error<u32, Error>;

/// Every case, once per variant (the modules below give `Sup` and `make`).
macro_rules! cases {
    () => {
        /// Yields until `key` is in `state` (the driver runs in the same task), or panics.
        async fn until_state(sup: &Sup, key: u32, state: State) {
            for _ in 0..1_000 {
                if sup.get(&key).map(|e| e.state) == Ok(state) {
                    return;
                }
                yield_now().await;
            }
            panic!("key {key} never reached {state}: {:?}", sup.get(&key));
        }

        /// Yields `n` times.
        async fn settle(n: usize) {
            for _ in 0..n {
                yield_now().await;
            }
        }

        /// A deadline `secs` seconds after it is made, on `clock`.
        fn after<'c>(clock: &'c ManualClock, secs: u64) -> impl Fn() -> Sleep<'c, 16> + 'c {
            move || clock.sleep(Duration::from_secs(secs))
        }

        fn graceful() -> Stopped<Error> {
            Stopped { level: StopLevel::Graceful, result: Ok(()) }
        }

        /// Upstream: `TestObserveRunner`: the fake that holds a start returns once released (here:
        /// once its context is cancelled).
        #[test]
        fn observe_runner() {
            let log = Log::new();
            let script = Script::new();
            script.then(1, &[Act::Hold]);
            let worker = workers(&script, &log)(&1, &7);
            let root = Ctx::new();
            let result = block_on(async {
                let run = worker.run(&root, async |_| unreachable!("never ready"));
                let release = async {
                    settle(3).await;
                    root.cancel();
                };
                futures::join!(run, release).0
            });
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=7", "cancelled 1 (shutdown)"]);
        }

        /// Upstream: `TestLock` (a second `Run` blocked on the run lock): a second drive of the same
        /// supervisor fails at once with an error value, and the first one goes on.
        #[test]
        fn second_drive_fails_at_once() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let setup = Setup::new(Sure(StaticTable::new(&[(1, 10)])), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                let inner = Ctx::new();
                let second = sup.drive(&inner, &setup, async |_| unreachable!("the second drive runs nothing")).await;
                assert_eq!(second, Err(fails(&[Fail::Sup(supervisor::Error::RecursiveOrConcurrentRun)])));
                assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Running));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert!(!sup.is_driving());
            // Once it has ended, a new drive works.
            let again = block_on(sup.drive(&root, &setup, async |_| Ok(())));
            assert_eq!(again, Ok(()));
        }

        /// Upstream: `TestSupervisorRestartInitial/Timeout`: a restored key that never becomes ready
        /// holds the callback back until the initial wait passes; it is then `Starting`, `start` says
        /// `Exists`, and cancelling the drive's context cancels the start; the drive returns the
        /// callback's `Ok`.
        #[test]
        fn restart_initial_timeout() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            script.then(1, &[Act::Hold]);
            let setup = Setup::new(Sure(StaticTable::new(&[(1, 10)])), workers(&script, &log), &clock)
                .observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let drive = sup.drive(&root, &setup, async |ctx: &Ctx<'_>| {
                assert_eq!(clock.now().elapsed(), Duration::from_secs(1), "called once the initial wait passed");
                assert_eq!(sup.start(1).await, Err(KErr::Exists));
                assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Starting));
                root.cancel();
                ctx.cancelled().await;
                Ok(())
            });
            let time = async {
                clock.wait_sleeping(2).await; // the initial wait and the interval
                clock.advance(Duration::from_secs(1));
            };
            let (result, ()) = block_on(async { futures::join!(drive, time) });
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "cancelled 1 (shutdown)"]);
            assert!(events.has("restored 0/1 complete=true"), "{:?}", events.all());
        }

        /// Upstream: `TestSupervisorRestartInitial/Alive`: a restored key that becomes ready lets the
        /// callback run at once; it is `Running`; the callback's return stops it gracefully.
        #[test]
        fn restart_initial_alive() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            let setup = Setup::new(Sure(StaticTable::new(&[(1, 10)])), workers(&script, &log), &clock)
                .observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                assert_eq!(clock.now().elapsed(), Duration::ZERO, "no wait: the key was ready");
                assert_eq!(sup.start(1).await, Err(KErr::Exists));
                assert_eq!(sup.get(&1).map(|e| (e.state, e.incarnation)), Ok((State::Running, 1)));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "ready 1", "stop 1"]);
            assert!(events.has("restored 1/1 complete=true"), "{:?}", events.all());
            assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Stopped));
        }

        /// Upstream: `TestSupervisorRestartTimeoutShutdown`: a key added to the table while the
        /// supervisor runs is started by the next periodic pass; when the callback returns while it is
        /// still starting, its start is cancelled and the drive returns `Ok`.
        #[test]
        fn restart_timeout_shutdown() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::Hold]);
            let tbl = keyed::map(&[]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10).unwrap();
                clock.wait_sleeping(1).await; // the interval
                clock.advance(Duration::from_secs(60));
                until_state(&sup, 1, State::Starting).await;
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "cancelled 1 (shutdown)"]);
        }

        /// Upstream: `TestSupervisorStartConflict`: a second `start` of a key that is starting returns
        /// `Exists`; the first returns `Ok` once the key is ready.
        #[test]
        fn start_conflict() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = keyed::map(&[]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10).unwrap();
                let first = sup.start(1);
                let second = async {
                    until_state(&sup, 1, State::Running).await;
                    sup.start(1).await
                };
                let (first, second) = futures::join!(first, second);
                assert_eq!((first, second), (Ok(()), Err(KErr::Exists)));
                // While reserved (before the driver looked it up) it is `Exists` too.
                tbl.insert(2, 20).unwrap();
                let mut start = pin!(sup.start(2));
                assert!(futures::poll!(start.as_mut()).is_pending());
                assert_eq!(sup.get(&2).map(|e| e.state), Ok(State::Reserved));
                assert_eq!(sup.start(2).await, Err(KErr::Exists));
                assert_eq!(start.await, Ok(()));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
        }

        /// Upstream: `TestSupervisorStartStop`: start a key, see it running, stop it.
        #[test]
        fn start_stop() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = keyed::map(&[]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10).unwrap();
                assert_eq!(sup.start(1).await, Ok(()));
                assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Running));
                assert_eq!(sup.stop(&1, never, never).await, Ok(graceful()));
                assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Stopped));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "ready 1", "stop 1"]);
        }

        /// Upstream: `TestMapTable`, on `MapTable`: the last store wins, and a pass yields each
        /// key once.
        #[test]
        fn map_table() {
            let tbl = keyed::map(&[]);
            tbl.insert(1, 100).unwrap();
            tbl.insert(2, 200).unwrap();
            tbl.insert(2, 201).unwrap();
            let root = Ctx::new();
            block_on(async {
                assert_eq!(tbl.get(&root, &1).await, Ok(Some(100)));
                assert_eq!(tbl.get(&root, &2).await, Ok(Some(201)));
                assert_eq!(tbl.get(&root, &3).await, Ok(None));
                let mut cursor = tbl.iter(&root).await.unwrap();
                let mut seen = Vec::new();
                while let Some(entry) = table::Cursor::next(&mut cursor, &root).await.unwrap() {
                    seen.push(entry);
                }
                assert_eq!(seen, [(1, 100), (2, 201)]);
            });
        }

        /// Capacity: a start beyond `N` keys is `Full` and hands the key back; nothing changes; a
        /// forgotten key frees its slot for the next.
        #[test]
        fn full_hands_the_key_back() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = Sure(StaticTable::new(&[(1, 10), (2, 20), (3, 30)]));
            let events = Events::new();
            let setup = Setup::new(tbl, workers(&script, &log), &clock).observe(events.observer());
            let sup = make::<2>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                assert_eq!(sup.keys().as_slice(), [1, 2]);
                assert_eq!(sup.start(3).await, Err(KErr::Full(3)));
                assert_eq!(sup.request(3), Err(KErr::Full(3)));
                assert_eq!(sup.stop(&2, never, never).await, Ok(graceful()));
                assert_eq!(sup.start(3).await, Err(KErr::Full(3)), "a stopped key keeps its slot");
                assert_eq!(sup.forget(&2), Ok(()));
                assert_eq!(sup.start(3).await, Ok(()));
                assert_eq!(sup.keys().as_slice(), [1, 3]);
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert!(events.has("full 3"), "the pass reports the key it could not hold: {:?}", events.all());
        }

        /// A key the table does not hold, and a table that fails: each is its own error, the slot is
        /// freed, and the event says so.
        #[test]
        fn start_not_in_table_and_table_error() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            let tbl = Tbl::new(&[]);
            let setup = Setup::new(tbl.clone(), workers(&script, &log), &clock).observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                assert_eq!(sup.start(7).await, Err(KErr::NotInTable));
                assert_eq!(sup.get(&7), Err(KErr::NotFound));
                tbl.insert(7, 70);
                tbl.set_get_error(true);
                assert_eq!(sup.start(7).await, Err(KErr::Table(fails(&[Fail::Table("get")]))));
                assert_eq!(sup.counts().keys, 0);
                tbl.set_get_error(false);
                assert_eq!(sup.start(7).await, Ok(()));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let all = events.all();
            assert!(
                all.contains(&"not in table 7".to_string()) && all.contains(&"table error 7".to_string()),
                "{all:?}"
            );
        }

        /// A start failure is the process's own error; a process that returns `Ok` without being
        /// ready is `ExitedBeforeReady`; both are reported as events too.
        #[test]
        fn start_failures() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            script.then(1, &[Act::FailStart]).then(2, &[Act::ExitEarly]);
            let tbl = keyed::map(&[]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock).observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10).unwrap();
                tbl.insert(2, 20).unwrap();
                assert_eq!(sup.start(1).await, Err(KErr::Start(at("start 1"))));
                assert_eq!(sup.start(2).await, Err(KErr::ExitedBeforeReady));
                // The default policy (temporary): the key stays, exited, for the next pass.
                assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Exited));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert!(events.has("exited 1#1 graceful err"), "{:?}", events.all());
            assert!(events.has("exited 2#1 graceful"), "{:?}", events.all());
        }

        /// `stop` escalates graceful → forced → hard on its own deadlines and says which level it
        /// took; the process's error is kept beside it.
        #[test]
        fn stop_escalates() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::SlowStop]).then(2, &[Act::DeafStop]);
            let tbl = Sure(StaticTable::new(&[(1, 10), (2, 20), (3, 30)]));
            let setup = Setup::new(tbl, workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let secs = |s| after(&clock, s);
            let result = block_on(clock.auto_advance().until(sup.drive(&root, &setup, async |_| {
                let forced = sup.stop(&1, secs(5), secs(1)).await;
                assert_eq!(forced, Ok(Stopped { level: StopLevel::Forced, result: Ok(()) }));
                let hard = sup.stop(&2, secs(5), secs(1)).await;
                assert_eq!(hard, Ok(Stopped { level: StopLevel::Hard, result: Ok(()) }));
                assert_eq!(hard.unwrap().into_result(), Err(fails(&[Fail::Overrun(StopLevel::Hard)])));
                script.crash(3);
                until_state(&sup, 3, State::Exited).await;
                // A stop racing a self-exit is not an error.
                assert_eq!(sup.stop(&3, never, never).await, Ok(graceful()));
                assert_eq!(sup.stop(&9, never, never).await, Err(KErr::NotFound));
                Ok(())
            })));
            assert_eq!(result, Ok(()));
            let events = log.events();
            assert!(events.contains(&"stop 1 (deadline)".to_string()), "{events:?}");
            assert!(
                events.contains(&"deaf 2".to_string()) && !events.iter().any(|e| e.starts_with("stop 2")),
                "{events:?}"
            );
        }

        /// A stop of a key that is starting cancels it at once (`Shutdown`); its `start` returns
        /// `StoppedBeforeReady`; the key is `Stopped`.
        #[test]
        fn stop_during_start() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::Hold]);
            let tbl = keyed::map(&[]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10).unwrap();
                let start = sup.start(1);
                let stop = async {
                    until_state(&sup, 1, State::Starting).await;
                    sup.stop(&1, never, never).await
                };
                let (started, stopped) = futures::join!(start, stop);
                assert_eq!(started, Err(KErr::StoppedBeforeReady));
                assert_eq!(stopped, Ok(graceful()));
                assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Stopped));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "cancelled 1 (shutdown)"]);
        }

        /// `get`, `keys`, `counts` and `forget`: a reserved key is listed and found (never "not found
        /// while listed"); `forget` refuses a running key and frees a stopped one.
        #[test]
        fn get_keys_counts_forget() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(3, &[Act::Hold]);
            let tbl = keyed::map(&[(1, 10), (2, 20)]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(3, 30).unwrap();
                assert_eq!(sup.request(3), Ok(true));
                assert_eq!(sup.keys().as_slice(), [1, 2, 3]);
                assert_eq!(sup.get(&3).map(|e| e.state), Ok(State::Reserved));
                until_state(&sup, 3, State::Starting).await;
                let c = sup.counts();
                assert_eq!((c.keys, c.free, c.running, c.starting), (3, 1, 2, 1));
                assert_eq!(sup.forget(&1), Err(KErr::Busy(State::Running)));
                sup.stop(&1, never, never).await.unwrap();
                assert_eq!(sup.forget(&1), Ok(()));
                assert_eq!(sup.forget(&1), Err(KErr::NotFound));
                assert_eq!(sup.get(&1), Err(KErr::NotFound));
                let entry = sup.get(&2).unwrap();
                assert_eq!((entry.state, entry.incarnation, entry.restarts), (State::Running, 1, 0));
                let mut seen = Vec::new();
                sup.for_each(|k, e| seen.push((*k, e.state)));
                assert_eq!(seen, [(2, State::Running), (3, State::Starting)]);
                let mut expected = Counts::default();
                (expected.keys, expected.free, expected.running, expected.starting) = (2, 2, 1, 1);
                assert_eq!(sup.counts(), expected);
                Ok(())
            }));
            assert_eq!(result, Ok(()));
        }

        /// A key removed from the table while it is starting: a clean pass with pruning cancels the
        /// start and frees the key; the waiting `start` says `StoppedBeforeReady`.
        #[test]
        fn key_removed_while_starting() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::Hold]);
            let tbl = keyed::map(&[]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock).prune();
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10).unwrap();
                let start = sup.start(1);
                let remove = async {
                    until_state(&sup, 1, State::Starting).await;
                    tbl.remove(&1);
                    assert!(sup.reconcile_now());
                };
                let (started, ()) = futures::join!(start, remove);
                assert_eq!(started, Err(KErr::StoppedBeforeReady));
                for _ in 0..100 {
                    if sup.get(&1).is_err() {
                        break;
                    }
                    yield_now().await;
                }
                assert_eq!(sup.get(&1), Err(KErr::NotFound));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "cancelled 1 (shutdown)"]);
        }

        /// Without a driver the handle calls are `NotRunning`; reading works and says there is nothing.
        #[test]
        fn not_running_without_driver() {
            let sup = make::<4>();
            assert_eq!(block_on(sup.start(1)), Err(KErr::NotRunning));
            assert_eq!(sup.request(1), Err(KErr::NotRunning));
            assert!(!sup.reconcile_now());
            assert_eq!(block_on(sup.stop(&1, never, never)), Err(KErr::NotRunning));
            assert_eq!(sup.get(&1), Err(KErr::NotFound));
            assert!(sup.keys().is_empty());
            assert_eq!(sup.counts().free, 4);
        }

        /// A supervisor in a `static`, with the default parameters, driven and called from two arms.
        #[test]
        fn in_a_static() {
            static SUP: KeyedSupervisor<u32, u32, Error> = KeyedSupervisor::new();
            static ROOT: Ctx<'static> = Ctx::new();
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let setup = Setup::new(Sure(StaticTable::new(&[(1, 10)])), workers(&script, &log), &clock);
            let result = block_on(SUP.drive(&ROOT, &setup, async |_| {
                assert_eq!(SUP.get(&1).map(|e| e.state), Ok(State::Running));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(SUP.counts().free, 7);
        }

        /// The callback returning cancels the starts in flight (also the restored ones), and the
        /// drive returns only once they have returned.
        #[test]
        fn in_flight_starts_cancelled_when_the_callback_returns() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::Hold]).then(2, &[Act::Hold]);
            let tbl = keyed::map(&[(1, 10)]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock).initial_wait(Duration::ZERO);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(2, 20).unwrap();
                let mut start = Box::pin(sup.start(2));
                assert!(futures::poll!(start.as_mut()).is_pending());
                until_state(&sup, 2, State::Starting).await;
                drop(start); // cancel safe: the start goes on
                assert_eq!(sup.get(&2).map(|e| e.state), Ok(State::Starting));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let mut events = log.events();
            events.sort();
            assert_eq!(events, ["cancelled 1 (shutdown)", "cancelled 2 (shutdown)", "start 1=10", "start 2=20"]);
        }

        /// The shutdown is bounded by the setup's deadlines: a process that ignores cancellation is
        /// dropped, and the drive reports the overrun beside the callback's result.
        #[test]
        fn shutdown_drops_a_process_that_ignores_cancellation() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::Deaf]).then(2, &[Act::SlowStop]);
            let tbl = Sure(StaticTable::new(&[(1, 10), (2, 20)]));
            let setup =
                Setup::new(tbl, workers(&script, &log), &clock).shutdown_deadlines(after(&clock, 5), after(&clock, 1));
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(clock.auto_advance().until(sup.drive(&root, &setup, async |_| Err(at("main")))));
            assert_eq!(
                result,
                // In the order the keys ended: key 1 (never ready, so cancelled at once) is dropped
                // 1 s into the shutdown, key 2 is cancelled after its 5 s.
                Err(fails(&[
                    Fail::At("main".into()),
                    Fail::Overrun(StopLevel::Hard),
                    Fail::Overrun(StopLevel::Forced)
                ])),
                "{:?}",
                log.events()
            );
            // 1 s initial wait, then the shutdown: 5 s graceful for key 2, 1 s forced for key 1.
            assert_eq!(clock.now().elapsed(), Duration::from_secs(1 + 5));
        }

        /// A driver dropped mid-run: the handles waiting on it get `DriverGone` (never a hang), the
        /// keys read as stopped, and a new drive works.
        #[test]
        fn driver_dropped_mid_run() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(2, &[Act::Hold]).then(1, &[Act::DeafStop]);
            let tbl = keyed::map(&[(1, 10)]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            block_on(async {
                let mut drive = Box::pin(sup.drive(&root, &setup, async |_| core::future::pending().await));
                for _ in 0..10 {
                    assert!(futures::poll!(drive.as_mut()).is_pending());
                }
                tbl.insert(2, 20).unwrap();
                let mut start = pin!(sup.start(2));
                let mut stop = pin!(sup.stop(&1, never, never));
                for _ in 0..10 {
                    assert!(futures::poll!(start.as_mut()).is_pending());
                    assert!(futures::poll!(stop.as_mut()).is_pending());
                    assert!(futures::poll!(drive.as_mut()).is_pending());
                }
                drop(drive);
                assert_eq!(futures::poll!(start.as_mut()), Poll::Ready(Err(KErr::DriverGone)));
                assert_eq!(futures::poll!(stop.as_mut()), Poll::Ready(Err(KErr::DriverGone)));
            });
            assert!(!sup.is_driving());
            assert_eq!(sup.get(&1).map(|e| e.state), Ok(State::Stopped));
            assert_eq!(block_on(sup.drive(&root, &setup, async |_| Ok(()))), Ok(()));
        }

        /// A process that never becomes ready: the caller bounds `start` with its own deadline, then
        /// stops the key, whose forced deadline drops it.
        #[test]
        fn process_never_ready_is_bounded_by_the_caller() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::Deaf]);
            let tbl = keyed::map(&[]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(clock.auto_advance().until(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10).unwrap();
                let (start, deadline) = (pin!(sup.start(1)), pin!(clock.sleep(Duration::from_secs(3))));
                let timed = futures::future::select(start, deadline).await;
                assert!(matches!(timed, futures::future::Either::Right(_)), "never ready");
                let stopped = sup.stop(&1, never, || clock.sleep(Duration::from_secs(1))).await;
                assert_eq!(stopped, Ok(Stopped { level: StopLevel::Hard, result: Ok(()) }));
                Ok(())
            })));
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "deaf 1"]);
        }

        /// Cancelling the drive's context from outside is a forced stop in dependency order: the
        /// callback sees it first; the processes only after it has returned.
        #[test]
        fn outside_cancel_reaches_the_processes_after_the_callback() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::SlowStop]);
            let tbl = Sure(StaticTable::new(&[(1, 10)]));
            let setup = Setup::new(tbl, workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |ctx: &Ctx<'_>| {
                root.cancel_with(Cause::Deadline);
                ctx.cancelled().await;
                log.push("callback cancelled");
                settle(5).await;
                log.push("callback returns");
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(
                log.events(),
                ["start 1=10", "ready 1", "callback cancelled", "callback returns", "stop 1 (deadline)"]
            );
        }
    };
}

/// The fixed-capacity supervisor.
mod fixed {
    use super::*;

    type Sup<const N: usize = 4> = KeyedSupervisor<u32, u32, Error, N>;

    fn make<const N: usize>() -> Sup<N> {
        KeyedSupervisor::new()
    }

    cases!();
}

/// The supervisor on the heap, limited to the same number of keys.
#[cfg(feature = "alloc")]
mod dynamic {
    use super::*;
    use procession::table::DynKeyedSupervisor;

    type Sup<const N: usize = 4> = DynKeyedSupervisor<u32, u32, Error>;

    fn make<const N: usize>() -> Sup<N> {
        DynKeyedSupervisor::with_max_keys(N)
    }

    cases!();
}

/// The driver of a fixed supervisor in a `static`, over `Send` parts, is `Send`: it runs on
/// another thread (as it would on a multi-threaded runtime) while handles are called here.
#[test]
#[allow(clippy::result_large_err, reason = "the test error type")]
fn the_driver_is_send() {
    use procession::table::KeyedSupervisor;
    static SUP: KeyedSupervisor<u32, u32, Error> = KeyedSupervisor::new();
    static ROOT: Ctx<'static> = Ctx::new();
    static CLOCK: ManualClock = ManualClock::new();
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let (log, script) = (Log::new(), Script::new());
    // The setup lives on this stack; a scoped thread borrows it and is joined before it is
    // dropped (a leaked setup was reported by miri as a leak).
    let setup = Setup::new(Sure(StaticTable::new(&[(1, 10)])), workers(&script, &log), &CLOCK);
    let drive = assert_send(SUP.drive(&ROOT, &setup, async |ctx: &Ctx<'_>| {
        ctx.cancelled().await;
        Ok(())
    }));
    std::thread::scope(|scope| {
        let driver = scope.spawn(move || block_on(drive));
        while SUP.get(&1).map(|e| e.state) != Ok(State::Running) {
            std::thread::yield_now();
        }
        assert_eq!(block_on(SUP.stop(&1, never, never)).map(|s| s.level), Ok(StopLevel::Graceful));
        ROOT.cancel();
        assert_eq!(driver.join().unwrap(), Ok(()));
    });
    assert_eq!(log.events(), ["start 1=10", "ready 1", "stop 1"]);
}

/// Nothing spins: once every key runs and the driver waits (for its interval, its callback,
/// the handles), polling it wakes nobody; a handle call wakes it once, then it sleeps again.
#[test]
fn an_idle_driver_sleeps() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake, Waker};
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
    let setup = Setup::new(Sure(StaticTable::new(&[(1, 10), (2, 20)])), workers(&script, &log), &clock);
    let sup: procession::table::KeyedSupervisor<u32, u32, Error> = procession::table::KeyedSupervisor::new();
    let root = Ctx::new();
    let wakes = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut drive = pin!(sup.drive(&root, &setup, async |ctx: &Ctx<'_>| {
        ctx.cancelled().await;
        Ok(())
    }));
    for _ in 0..20 {
        assert!(drive.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(sup.counts().running, 2);
    wakes.0.store(0, Ordering::SeqCst);
    for _ in 0..5 {
        assert!(drive.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "an idle driver woke itself");
    assert_eq!(sup.request(1), Ok(true));
    let woken = wakes.0.load(Ordering::SeqCst);
    assert!(woken >= 1, "a request wakes the driver");
    for _ in 0..20 {
        assert!(drive.as_mut().poll(&mut cx).is_pending());
    }
    wakes.0.store(0, Ordering::SeqCst);
    for _ in 0..5 {
        assert!(drive.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "asleep again after serving the request");
    root.cancel();
    assert!((0..50).any(|_| drive.as_mut().poll(&mut cx).is_ready()), "the drive ends once cancelled");
}

/// Zero heap allocations: a heap-free table, runners and error type, polled by hand.
mod zero_alloc {
    use core::future::Future;
    use core::pin::pin;
    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use core::task::{Context, Poll, Waker};
    use core::time::Duration;

    use procession::retry::Constant;
    use procession::table::{ByEq, KeyedSupervisor, MapTable, Policy, Restart, Setup, State};
    use procession::time::ManualClock;
    use procession::{Ctx, Merge, Overrun, Runner, StopLevel, never, supervisor};

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum ZErr {
        Run(&'static str),
        Over(StopLevel),
        Sup(supervisor::Error),
    }
    impl Merge for ZErr {
        fn merge(self, _: Self) -> Self {
            self
        }
    }
    impl From<Overrun> for ZErr {
        fn from(o: Overrun) -> Self {
            Self::Over(o.level)
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

    impl From<core::convert::Infallible> for ZErr {
        fn from(e: core::convert::Infallible) -> Self {
            match e {}
        }
    }

    struct Counters {
        started: AtomicUsize,
        stopped: AtomicUsize,
        failed_once: AtomicBool,
        /// The next incarnation of key 6 fails once it has run a little.
        crash: AtomicBool,
    }

    impl Counters {
        const fn new() -> Self {
            Self {
                started: AtomicUsize::new(0),
                stopped: AtomicUsize::new(0),
                failed_once: AtomicBool::new(false),
                crash: AtomicBool::new(false),
            }
        }
    }

    struct Quiet<'c>(u8, &'c Counters);

    impl Runner<ZErr> for Quiet<'_> {
        async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), ZErr>
        where
            F: AsyncFnOnce(&Ctx<'_>) -> Result<(), ZErr>,
        {
            self.1.started.fetch_add(1, Ordering::Relaxed);
            if self.0 == 2 && !self.1.failed_once.swap(true, Ordering::Relaxed) {
                return Err(ZErr::Run("first start of 2"));
            }
            if self.0 == 6 && self.1.crash.swap(false, Ordering::Relaxed) {
                // Ready (the handle's restart waits for it), then fails a few polls later.
                let callback = pin!(ready(ctx));
                let trip = pin!(async {
                    for _ in 0..3 {
                        yield_now().await;
                    }
                });
                return match embassy_futures::select::select(callback, trip).await {
                    embassy_futures::select::Either::First(result) => result,
                    embassy_futures::select::Either::Second(()) => Err(ZErr::Run("6 while running")),
                };
            }
            let result = ready(ctx).await;
            self.1.stopped.fetch_add(1, Ordering::Relaxed);
            result
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

    /// A whole life: restore 6 keys from a `MapTable`, a start failure and its backoff, a stop, a
    /// restart, a request, a running failure and its backoff, edits of the table (a key added,
    /// one changed, one removed) converged by a pass on demand (replace and prune on), reads,
    /// and the shutdown.
    fn cycle(counters: &Counters) -> Option<Result<(), ZErr>> {
        let clock: ManualClock = ManualClock::new();
        let table: MapTable<u8, u32, 8> = MapTable::new();
        for (k, v) in [(1, 10), (2, 20), (3, 30), (4, 40), (5, 50), (6, 60)] {
            table.insert(k, v).unwrap();
        }
        let build = |key: &u8, _: &u32| Quiet(*key, counters);
        let policy = Policy::new().restart(Restart::Permanent).backoff(Constant::every(Duration::from_millis(10)));
        let setup = Setup::new(&table, build, &clock).policy(policy).prune().replace_on_change(ByEq);
        let sup: KeyedSupervisor<u8, u32, ZErr, 8> = KeyedSupervisor::new();
        let root = Ctx::new();
        let state = |k| sup.get(&k).ok().map(|e| e.state);
        let incarnation = |k| sup.get(&k).ok().map(|e| e.incarnation);
        poll_by_hand(
            sup.drive(&root, &setup, async |_: &Ctx<'_>| {
                assert_eq!(state(2), Some(State::BackingOff));
                clock.advance(Duration::from_millis(10));
                while state(2) != Some(State::Running) {
                    yield_now().await;
                }
                assert_eq!(sup.stop(&1, never, never).await.map(|s| s.level), Ok(StopLevel::Graceful));
                assert!(sup.restart(&3, never, never).await.is_ok());
                assert_eq!(sup.request(4), Ok(true));
                // A failure while running: key 6 fails once it is told to, backs off, restarts.
                counters.crash.store(true, Ordering::Relaxed);
                assert_eq!(sup.restart(&6, never, never).await.map(|s| s.result), Ok(Ok(())));
                while state(6) != Some(State::BackingOff) {
                    yield_now().await;
                }
                clock.advance(Duration::from_millis(10));
                while state(6) != Some(State::Running) {
                    yield_now().await;
                }
                // Edits, converged by a pass on demand.
                table.insert(7, 70).unwrap();
                table.insert(4, 41).unwrap();
                table.remove(&5);
                assert!(sup.reconcile_now());
                while !(state(7) == Some(State::Running)
                    && incarnation(4) == Some(2)
                    && state(4) == Some(State::Running)
                    && state(5).is_none())
                {
                    yield_now().await;
                }
                assert_eq!(sup.keys().as_slice().len(), 6);
                assert_eq!(sup.counts().running, 5, "all but the stopped key 1");
                Ok(())
            }),
            10_000,
        )
    }

    /// Zero heap allocations while the fixed-capacity supervisor runs a whole life (seen to
    /// fail with one `Box` per incarnation in the builder, and with one `Box` only in the start
    /// of the key that an edit added).
    #[test]
    fn a_whole_cycle_allocates_nothing() {
        let _ = waker();
        // Once unmeasured, so that lazily registered log or tracing call sites exist.
        assert_eq!(cycle(&Counters::new()), Some(Ok(())));
        let counters = Counters::new();
        let mut result = None;
        let info = allocation_counter::measure(|| result = cycle(&counters));
        assert_eq!(result, Some(Ok(())), "the drive did not finish");
        // 6 first starts, the restarts of 2 and 3, of 6 (twice: by the handle, after its
        // failure), the start of 7 and the replace of 4: 12; all but the two failed ones stopped.
        assert_eq!((counters.started.load(Ordering::Relaxed), counters.stopped.load(Ordering::Relaxed)), (12, 10));
        assert_eq!(info.count_total, 0, "allocations while the supervisor ran: {info:?}");
    }
}
