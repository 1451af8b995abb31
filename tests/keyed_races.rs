//! The keyed supervisor's reconcile loop, restart policy and convergence, and every race of its
//! design notes as a deterministic test on the manual clock.
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;
#[path = "common/keyed.rs"]
mod keyed;

use core::time::Duration;

use common::{Log, block_on, yield_now};
use keyed::{Act, Error, Events, Fail, Script, Sure, TableFail, Tbl, fails, workers};
use procession::retry::{BackoffExt, Constant, Exp2};
use procession::table::{self, ByEq, KeyedSupervisor, Policy, Restart, Setup, State, StaticTable, Stopped, Table};
use procession::time::{Clock, ManualClock};
use procession::{Ctx, StopLevel, never, supervisor};

type KErr = table::Error<u32, Error>;

/// Every case, once per variant (the modules below give `Sup` and `make`).
macro_rules! cases {
    () => {
        const MS: fn(u64) -> Duration = Duration::from_millis;

        async fn until_state(sup: &Sup, key: u32, state: State) {
            for _ in 0..1_000 {
                if sup.get(&key).map(|e| e.state) == Ok(state) {
                    return;
                }
                yield_now().await;
            }
            panic!("key {key} never reached {state}: {:?}", sup.get(&key));
        }

        async fn settle(n: usize) {
            for _ in 0..n {
                yield_now().await;
            }
        }

        fn state(sup: &Sup, key: u32) -> Option<State> {
            sup.get(&key).ok().map(|e| e.state)
        }

        /// A test table whose passes take time on the clock: each step of the cursor sleeps `step`.
        struct Slow<'c> {
            inner: Tbl,
            clock: &'c ManualClock,
            step: Duration,
        }

        struct SlowCursor<'c> {
            inner: keyed::TblCursor,
            clock: &'c ManualClock,
            step: Duration,
        }

        impl<'c> Table<u32, u32> for Slow<'c> {
            type Error = TableFail;
            type Cursor<'a>
                = SlowCursor<'c>
            where
                Self: 'a;

            async fn get(&self, ctx: &Ctx<'_>, key: &u32) -> Result<Option<u32>, TableFail> {
                self.inner.get(ctx, key).await
            }

            async fn iter(&self, ctx: &Ctx<'_>) -> Result<SlowCursor<'c>, TableFail> {
                Ok(SlowCursor { inner: self.inner.iter(ctx).await?, clock: self.clock, step: self.step })
            }
        }

        impl table::Cursor<u32, u32> for SlowCursor<'_> {
            type Error = TableFail;

            async fn next(&mut self, ctx: &Ctx<'_>) -> Result<Option<(u32, u32)>, TableFail> {
                self.clock.sleep(self.step).await;
                self.inner.next(ctx).await
            }
        }

        // --- the reconcile loop ---

        /// The interval is measured from the start of a pass, not its end: with passes of 10 s and an
        /// interval of 60 s, passes start at 0, 60, 120 s.
        #[test]
        fn interval_from_the_start_of_a_pass() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            let tbl = Tbl::new(&[(1, 10)]);
            let slow = Slow { inner: tbl.clone(), clock: &clock, step: Duration::from_secs(5) };
            let setup = Setup::new(slow, workers(&script, &log), &clock)
                .initial_wait(Duration::from_secs(30))
                .observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let starts = std::sync::Mutex::new(Vec::new());
            let result = block_on(clock.auto_advance().until(sup.drive(&root, &setup, async |_| {
                // The first pass took two steps (one entry, then the end): 10 s.
                assert_eq!(clock.now().elapsed(), Duration::from_secs(10));
                while tbl.passes() < 3 {
                    let n = tbl.passes();
                    while tbl.passes() == n {
                        clock.sleep(Duration::from_secs(1)).await;
                    }
                    starts.lock().unwrap().push(clock.now().elapsed().as_secs());
                }
                Ok(())
            })));
            assert_eq!(result, Ok(()));
            // `passes` counts at `iter`, the start of a pass (seen at the next whole second).
            assert_eq!(*starts.lock().unwrap(), [60, 120]);
        }

        /// The initial wait gates the callback on the restored keys and reports which made it: one
        /// ready, one failed (settled), one still starting when the wait ends.
        #[test]
        fn initial_wait_reports_which_made_it() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            script.then(2, &[Act::Hold]).then(3, &[Act::FailStart]);
            let tbl = Sure(StaticTable::new(&[(1, 10), (2, 20), (3, 30)]));
            let setup =
                Setup::new(tbl, workers(&script, &log), &clock).initial_wait(MS(500)).observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(clock.auto_advance().until(sup.drive(&root, &setup, async |_| {
                assert_eq!(clock.now().elapsed(), MS(500));
                assert_eq!(
                    (state(&sup, 1), state(&sup, 2), state(&sup, 3)),
                    (Some(State::Running), Some(State::Starting), Some(State::Exited))
                );
                Ok(())
            })));
            assert_eq!(result, Ok(()));
            let all = events.all();
            let end = all.iter().position(|e| e == "restored 1/3 complete=true").expect("restored");
            assert_eq!(all[end - 2..end], ["late 2", "late 3"], "{all:?}");
        }

        /// A table that fails its first pass: the callback still runs after the initial wait, and the
        /// failure is an event.
        #[test]
        fn initial_wait_with_a_failing_table() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            let tbl = Tbl::new(&[(1, 10)]);
            tbl.set_iter_error(true);
            tbl.set_get_error(true);
            let setup = Setup::new(tbl.clone(), workers(&script, &log), &clock).observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                assert_eq!(sup.counts().keys, 0);
                assert_eq!(sup.start(1).await, Err(KErr::Table(fails(&[Fail::Table("get")]))));
                assert_eq!(sup.request(1), Ok(true));
                settle(10).await;
                assert_eq!(sup.counts().keys, 0, "a failed lookup frees the slot");
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let all = events.all();
            assert_eq!(
                all[..3],
                ["table error", "pass seen=0 started=0 pruned=0 clean=false", "restored 0/0 complete=true"],
                "{all:?}"
            );
            assert!(all.iter().filter(|e| *e == "table error 1").count() == 2, "{all:?}");
        }

        /// `reconcile_now` runs a pass at once; asking twice before it runs is one pass.
        #[test]
        fn reconcile_now_coalesces() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = Tbl::new(&[]);
            let setup = Setup::new(tbl.clone(), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10);
                assert!(sup.reconcile_now());
                assert!(!sup.reconcile_now(), "already asked");
                until_state(&sup, 1, State::Running).await;
                settle(10).await;
                assert_eq!(tbl.passes(), 2, "the first pass and one more");
                assert_eq!(clock.now().elapsed(), Duration::ZERO);
                Ok(())
            }));
            assert_eq!(result, Ok(()));
        }

        /// Duplicate requests coalesce (one lookup, one start); a request revives an exited key.
        #[test]
        fn duplicate_requests_coalesce() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = Tbl::new(&[]);
            let setup = Setup::new(tbl.clone(), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10);
                assert_eq!(sup.request(1), Ok(true));
                assert_eq!(sup.request(1), Ok(false));
                assert_eq!(sup.request(1), Ok(false));
                until_state(&sup, 1, State::Running).await;
                script.crash(1);
                until_state(&sup, 1, State::Exited).await;
                let gets = tbl.gets();
                assert_eq!(sup.request(1), Ok(true));
                assert_eq!(sup.request(1), Ok(false));
                until_state(&sup, 1, State::Running).await;
                settle(10).await;
                assert_eq!(tbl.gets(), gets + 1, "one lookup for the coalesced requests");
                assert_eq!(sup.get(&1).map(|e| e.incarnation), Ok(2));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(log.events().iter().filter(|e| e.starts_with("start")).count(), 2);
        }

        /// A pass brings back a key that exited (temporary, the default), and leaves a stopped one.
        #[test]
        fn a_pass_revives_exited_keys_not_stopped_ones() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = Sure(StaticTable::new(&[(1, 10), (2, 20)]));
            let setup = Setup::new(tbl, workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                script.crash(1);
                sup.stop(&2, never, never).await.unwrap();
                until_state(&sup, 1, State::Exited).await;
                assert!(sup.reconcile_now());
                until_state(&sup, 1, State::Running).await;
                settle(10).await;
                assert_eq!(state(&sup, 2), Some(State::Stopped));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
        }

        // --- the restart policy ---

        /// A permanent key restarts after its backoff; the delays grow only with real failed attempts:
        /// passes during a backoff neither start it early nor count. A stable run resets the backoff.
        #[test]
        fn backoff_per_key_counts_real_failures_only() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            let tbl = Sure(StaticTable::new(&[(1, 10)]));
            let policy = Policy::new()
                .restart(Restart::Permanent)
                .backoff(Exp2::new(MS(50)))
                .reset_after(Duration::from_secs(10));
            let setup =
                Setup::new(tbl, workers(&script, &log), &clock).policy(policy).every(MS(10)).observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                for (round, delay) in [(1, 100), (2, 200), (3, 400)] {
                    script.crash(1);
                    until_state(&sup, 1, State::BackingOff).await;
                    let since = clock.now();
                    // Passes every 10 ms during the backoff: no early start.
                    while clock.now() < since + MS(delay - 1) {
                        clock.advance(MS(5).min(since + MS(delay - 1) - clock.now()));
                        settle(3).await;
                        assert_eq!(
                            state(&sup, 1),
                            Some(State::BackingOff),
                            "round {round} at {:?}: {:?}",
                            clock.now(),
                            events.all()
                        );
                    }
                    clock.advance(MS(1));
                    until_state(&sup, 1, State::Running).await;
                    assert_eq!(sup.get(&1).map(|e| e.restarts), Ok(round));
                }
                // A stable run of 10 s: the next delay is the first again.
                clock.advance(Duration::from_secs(10));
                script.crash(1);
                until_state(&sup, 1, State::BackingOff).await;
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let backoffs: Vec<_> = events.all().into_iter().filter(|e| e.starts_with("backoff")).collect();
            assert_eq!(backoffs, ["backoff 1 100ms", "backoff 1 200ms", "backoff 1 400ms", "backoff 1 100ms"]);
        }

        /// A per-key intensity quarantines the looping key alone; its sibling runs on; a restart
        /// revives it.
        #[test]
        fn key_intensity_quarantines_that_key_alone() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            script.then(1, &[Act::FailStart; 8]);
            let tbl = Sure(StaticTable::new(&[(1, 10), (2, 20)]));
            let policy = Policy::new()
                .restart(Restart::Permanent)
                .backoff(Constant::every(MS(10)))
                .key_intensity::<2>(Duration::from_secs(1));
            let setup = Setup::new(tbl, workers(&script, &log), &clock).policy(policy).observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(clock.auto_advance().until(sup.drive(&root, &setup, async |_| {
                until_state(&sup, 1, State::Failed).await;
                assert_eq!(sup.get(&1).map(|e| (e.incarnation, e.restarts)), Ok((3, 2)));
                assert_eq!(state(&sup, 2), Some(State::Running));
                assert_eq!(sup.start(1).await, Err(KErr::Exists));
                Ok(())
            })));
            assert_eq!(result, Ok(()));
            assert!(events.has("quarantined 1"), "{:?}", events.all());
        }

        /// The supervisor-wide intensity ends the run: the callback's context is cancelled with
        /// `DependencyFailed`, and the drive returns the last failure and `IntensityExceeded`.
        #[test]
        fn supervisor_intensity_ends_the_run() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = Sure(StaticTable::new(&[(1, 10), (2, 20)]));
            let policy = Policy::new()
                .restart(Restart::Permanent)
                .backoff(Constant::every(MS(1)))
                .intensity::<1>(Duration::from_secs(1));
            let setup = Setup::new(tbl, workers(&script, &log), &clock).policy(policy);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(clock.auto_advance().until(sup.drive(&root, &setup, async |ctx: &Ctx<'_>| {
                script.crash(1);
                until_state(&sup, 1, State::Running).await;
                script.crash(2);
                let cause = ctx.cancelled().await;
                assert_eq!(cause, procession::Cause::DependencyFailed);
                Ok(())
            })));
            assert_eq!(
                result,
                Err(fails(&[Fail::At("crash 2".into()), Fail::Sup(supervisor::Error::IntensityExceeded)]))
            );
        }

        /// A transient key that returns `Ok` is done (`Stopped`), one that fails is restarted.
        #[test]
        fn transient_keys() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::ExitEarly]).then(2, &[Act::FailStart]);
            let tbl = Sure(StaticTable::new(&[(1, 10), (2, 20)]));
            let policy = Policy::new().restart(Restart::Transient).backoff(Constant::every(MS(1)).limit(3));
            let setup = Setup::new(tbl, workers(&script, &log), &clock).policy(policy);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(clock.auto_advance().until(sup.drive(&root, &setup, async |_| {
                until_state(&sup, 2, State::Running).await;
                assert_eq!(state(&sup, 1), Some(State::Stopped));
                assert_eq!(sup.get(&2).map(|e| e.restarts), Ok(1));
                Ok(())
            })));
            assert_eq!(result, Ok(()));
        }

        /// `restart` is one operation: the old incarnation has returned before the new one is built,
        /// and the new one is built from a fresh value of the table.
        #[test]
        fn restart_stops_fully_then_starts_fresh() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = keyed::map(&[(1, 10)]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 11).unwrap();
                assert_eq!(
                    sup.restart(&1, never, never).await,
                    Ok(Stopped { level: StopLevel::Graceful, result: Ok(()) })
                );
                assert_eq!(sup.get(&1).map(|e| (e.state, e.incarnation, e.restarts)), Ok((State::Running, 2, 0)));
                // A stopped key is revived by a restart.
                sup.stop(&1, never, never).await.unwrap();
                assert_eq!(sup.restart(&1, never, never).await.map(|s| s.level), Ok(StopLevel::Graceful));
                assert_eq!(state(&sup, 1), Some(State::Running));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(
                log.events(),
                [
                    "start 1=10",
                    "ready 1",
                    "stop 1",
                    "start 1=11",
                    "ready 1",
                    "stop 1",
                    "start 1=11",
                    "ready 1",
                    "stop 1"
                ]
            );
            assert_eq!(script.overlaps(), 0);
        }

        /// A restart whose new incarnation fails before it is ready, in the same poll of the
        /// driver as the old one's stop: the restart returns the start's error (it used to wait
        /// for ever, the old incarnation's end overwritten by the new one's; found by
        /// `prop_keyed`). Also when the new one is stopped before the restart is polled again.
        #[test]
        fn restart_into_a_failing_start_returns() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::Normal, Act::FailStart]);
            let tbl = Sure(StaticTable::new(&[(1, 10)]));
            let setup = Setup::new(tbl, workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = common::block_on_within(
                1_000,
                sup.drive(&root, &setup, async |_| {
                    assert_eq!(sup.restart(&1, never, never).await, Err(KErr::Start(keyed::at("start 1"))));
                    assert_eq!(sup.get(&1).map(|e| (e.state, e.incarnation)), Ok((State::Exited, 2)));
                    Ok(())
                }),
            );
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "ready 1", "stop 1", "start 1=10", "failed 1"]);
        }

        // --- races (each deterministic) ---

        /// Stop during a backoff: the pending restart is dropped, never undone later.
        #[test]
        fn stop_during_backoff_is_never_undone() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = Sure(StaticTable::new(&[(1, 10)]));
            let policy = Policy::new().restart(Restart::Permanent).backoff(Constant::every(MS(100)));
            let setup = Setup::new(tbl, workers(&script, &log), &clock).policy(policy).every(MS(30));
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                script.crash(1);
                until_state(&sup, 1, State::BackingOff).await;
                assert_eq!(
                    sup.stop(&1, never, never).await,
                    Ok(Stopped { level: StopLevel::Graceful, result: Ok(()) })
                );
                for _ in 0..10 {
                    clock.advance(MS(50));
                    settle(5).await;
                }
                assert_eq!(state(&sup, 1), Some(State::Stopped));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "ready 1", "crash 1"]);
        }

        /// A restart racing a failure: whichever comes first, exactly one new incarnation, never two
        /// at once, and the pending backoff restart is dropped.
        #[test]
        fn restart_racing_a_failure() {
            for crash_first in [true, false] {
                let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
                let tbl = Sure(StaticTable::new(&[(1, 10)]));
                let policy = Policy::new().restart(Restart::Permanent).backoff(Constant::every(MS(100)));
                let setup = Setup::new(tbl, workers(&script, &log), &clock).policy(policy);
                let sup = make::<4>();
                let root = Ctx::new();
                let result = block_on(sup.drive(&root, &setup, async |_| {
                    if crash_first {
                        script.crash(1);
                    }
                    let restart = sup.restart(&1, never, never);
                    let crash = async {
                        if !crash_first {
                            script.crash(1);
                        }
                    };
                    let (restarted, ()) = futures::join!(restart, crash);
                    assert!(restarted.is_ok(), "{restarted:?}");
                    clock.advance(MS(500));
                    settle(20).await;
                    assert_eq!(
                        sup.get(&1).map(|e| (e.state, e.incarnation)),
                        Ok((State::Running, 2)),
                        "crash first: {crash_first}"
                    );
                    Ok(())
                }));
                assert_eq!(result, Ok(()));
                assert_eq!(script.overlaps(), 0);
            }
        }

        /// A failed start after a stop and a new start of the same key does not touch the new
        /// incarnation (the by-key removal of the old supervisor evicted it).
        #[test]
        fn stale_failure_does_not_evict_the_new_incarnation() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::Hold, Act::Normal]);
            let tbl = keyed::map(&[]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10).unwrap();
                let first = sup.start(1);
                let again = async {
                    until_state(&sup, 1, State::Starting).await;
                    sup.stop(&1, never, never).await.unwrap();
                    sup.forget(&1).unwrap();
                    sup.start(1).await
                };
                let (first, again) = futures::join!(first, again);
                assert_eq!((first, again), (Err(KErr::StoppedBeforeReady), Ok(())));
                assert_eq!(state(&sup, 1), Some(State::Running));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
        }

        /// Duplicates from the cursor: a key seen twice in one pass starts once, with the last value,
        /// and is no error.
        #[test]
        fn duplicates_from_the_cursor() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            let tbl = Tbl::new(&[(1, 10), (2, 20)]);
            tbl.set_duplicates(true);
            let setup = Setup::new(tbl, workers(&script, &log), &clock).observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| Ok(())));
            assert_eq!(result, Ok(()));
            let mut starts: Vec<_> = log.events().into_iter().filter(|e| e.starts_with("start")).collect();
            starts.sort();
            assert_eq!(starts, ["start 1=1010", "start 2=1020"]);
            assert!(events.has("pass seen=4 started=2 pruned=0 clean=true"), "{:?}", events.all());
        }

        /// The table changing during a pass: a key added behind the cursor is started by this pass;
        /// one changed behind it is seen with its new value; nothing else moves.
        #[test]
        fn table_changing_during_a_pass() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = Tbl::new(&[(1, 10), (2, 20)]);
            tbl.during_pass(1, &[(3, Some(30)), (2, Some(21))]);
            let setup = Setup::new(tbl, workers(&script, &log), &clock).prune();
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                assert_eq!(sup.keys().as_slice(), [1, 3, 2]);
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let mut starts: Vec<_> = log.events().into_iter().filter(|e| e.starts_with("start")).collect();
            starts.sort();
            assert_eq!(starts, ["start 1=10", "start 2=21", "start 3=30"]);
        }

        /// A start stopped while starting, whose process becomes ready during the stop (it ignores
        /// nothing: it is ready only once cancelled), is answered `StoppedBeforeReady`, and the
        /// stop returns. The drive once left such a start unanswered: its process had been ready,
        /// so the end of the incarnation took the start for answered.
        #[test]
        fn a_start_stopped_while_starting_is_answered_when_ready_comes_during_the_stop() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::ReadyOnCancel]);
            let tbl = keyed::map(&[]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = common::block_on_within(
                2_000,
                sup.drive(&root, &setup, async |_| {
                    tbl.insert(1, 10).unwrap();
                    let start = sup.start(1);
                    let stop = async {
                        until_state(&sup, 1, State::Starting).await;
                        sup.stop(&1, never, never).await
                    };
                    let (started, stopped) = futures::join!(start, stop);
                    assert_eq!(started, Err(KErr::StoppedBeforeReady));
                    assert!(matches!(stopped, Ok(Stopped { result: Ok(()), .. })), "{stopped:?}");
                    assert_eq!(state(&sup, 1), Some(State::Stopped));
                    Ok(())
                }),
            );
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "late ready 1 (shutdown)", "stop 1"]);
        }

        /// A restart during a start: the starting incarnation is cancelled (`Restart`), the first
        /// `start` says `StoppedBeforeReady`, the restart returns once the new one is ready.
        #[test]
        fn restart_during_start() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::Hold]);
            let tbl = keyed::map(&[]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 10).unwrap();
                let start = sup.start(1);
                let restart = async {
                    until_state(&sup, 1, State::Starting).await;
                    tbl.insert(1, 11).unwrap();
                    sup.restart(&1, never, never).await
                };
                let (started, restarted) = futures::join!(start, restart);
                assert_eq!(started, Err(KErr::StoppedBeforeReady));
                assert_eq!(restarted, Ok(Stopped { level: StopLevel::Graceful, result: Ok(()) }));
                assert_eq!(sup.get(&1).map(|e| (e.state, e.incarnation)), Ok((State::Running, 2)));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert_eq!(log.events(), ["start 1=10", "cancelled 1 (restart)", "start 1=11", "ready 1", "stop 1"]);
        }

        // --- convergence ---

        /// Prune: a key gone from the table is stopped and freed after the next clean pass; a pass that
        /// ends with an error prunes nothing.
        #[test]
        fn prune_only_after_a_clean_pass() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            let tbl = Tbl::new(&[(1, 10), (2, 20), (3, 30)]);
            let setup = Setup::new(tbl.clone(), workers(&script, &log), &clock).prune().observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.remove(3);
                // The pass fails after its first entry: keys 2 and 3 were not seen, and stay.
                tbl.set_next_error_at(Some(1));
                assert!(sup.reconcile_now());
                settle(20).await;
                assert_eq!(sup.keys().as_slice(), [1, 2, 3]);
                assert_eq!(state(&sup, 3), Some(State::Running));
                tbl.set_next_error_at(None);
                assert!(sup.reconcile_now());
                for _ in 0..100 {
                    if sup.get(&3).is_err() {
                        break;
                    }
                    settle(1).await;
                }
                assert_eq!(sup.keys().as_slice(), [1, 2]);
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert!(log.events().contains(&"stop 3".to_string()));
            let all = events.all();
            assert!(all.contains(&"pass seen=1 started=0 pruned=0 clean=false".to_string()), "{all:?}");
            assert!(all.contains(&"pass seen=2 started=0 pruned=1 clean=true".to_string()), "{all:?}");
            assert!(all.contains(&"freed 3".to_string()), "{all:?}");
        }

        /// Replace on change: a running key whose value changed is restarted gracefully with the new
        /// value; an unchanged one is left alone.
        #[test]
        fn replace_on_change() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let tbl = keyed::map(&[(1, 10), (2, 20)]);
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock).replace_on_change(ByEq);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                tbl.insert(1, 11).unwrap();
                assert!(sup.reconcile_now());
                for _ in 0..100 {
                    if sup.get(&1).map(|e| (e.state, e.incarnation)) == Ok((State::Running, 2)) {
                        break;
                    }
                    settle(1).await;
                }
                assert_eq!(sup.get(&1).map(|e| (e.state, e.incarnation)), Ok((State::Running, 2)));
                assert_eq!(sup.get(&2).map(|e| e.incarnation), Ok(1));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let events = log.events();
            assert!(
                events.contains(&"stop 1 (restart)".to_string()) || events.contains(&"stop 1".to_string()),
                "{events:?}"
            );
            assert!(events.contains(&"start 1=11".to_string()), "{events:?}");
            assert_eq!(script.overlaps(), 0);
        }

        /// A quarantined key whose value changes is started again by the next pass (with replace on
        /// change); while its value stays, passes leave it.
        #[test]
        fn a_changed_value_lifts_a_quarantine() {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            script.then(1, &[Act::FailStart; 2]);
            let tbl = keyed::map(&[(1, 10)]);
            let policy = Policy::new()
                .restart(Restart::Permanent)
                .backoff(Constant::every(MS(1)))
                .key_intensity::<1>(Duration::from_secs(60));
            let setup = Setup::new(Sure(&tbl), workers(&script, &log), &clock).policy(policy).replace_on_change(ByEq);
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(clock.auto_advance().until(sup.drive(&root, &setup, async |_| {
                until_state(&sup, 1, State::Failed).await;
                assert!(sup.reconcile_now());
                settle(20).await;
                assert_eq!(state(&sup, 1), Some(State::Failed), "same value: still quarantined");
                tbl.insert(1, 11).unwrap();
                assert!(sup.reconcile_now());
                until_state(&sup, 1, State::Running).await;
                Ok(())
            })));
            assert_eq!(result, Ok(()));
            assert_eq!(
                log.events().iter().filter(|e| e.starts_with("start")).cloned().collect::<Vec<_>>(),
                ["start 1=10", "start 1=10", "start 1=11"]
            );
        }

        /// A table that errors on every call: nothing starts, every failure is an event, the
        /// supervisor keeps running and shuts down cleanly.
        #[test]
        fn a_table_erroring_on_every_call() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            let tbl = Tbl::new(&[(1, 10)]);
            tbl.set_iter_error(true);
            tbl.set_get_error(true);
            let setup = Setup::new(tbl, workers(&script, &log), &clock).every(MS(10)).observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                for _ in 0..5 {
                    clock.advance(MS(10));
                    settle(3).await;
                }
                assert_eq!(sup.request(1), Ok(true));
                assert_eq!(sup.start(2).await, Err(KErr::Table(fails(&[Fail::Table("get")]))));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            let all = events.all();
            assert_eq!(all.iter().filter(|e| *e == "table error").count(), 6, "{all:?}");
            assert!(log.events().is_empty());
        }

        // --- the claim seam ---

        /// A claim per key that the test refuses or revokes.
        #[derive(Default)]
        struct Leases {
            refused: std::sync::Mutex<Vec<u32>>,
            held: std::sync::Mutex<std::collections::HashMap<u32, std::sync::Arc<Ctx<'static>>>>,
        }

        impl Leases {
            fn revoke(&self, key: u32) {
                self.held.lock().unwrap().remove(&key).expect("held").cancel();
            }
        }

        impl table::Claim<u32, Error> for Leases {
            type Guard = std::sync::Arc<Ctx<'static>>;

            async fn acquire(&self, _: &Ctx<'_>, key: &u32) -> Result<Option<Self::Guard>, Error> {
                if self.refused.lock().unwrap().contains(key) {
                    return Ok(None);
                }
                let lease = std::sync::Arc::new(Ctx::new());
                self.held.lock().unwrap().insert(*key, lease.clone());
                Ok(Some(lease))
            }

            async fn lost(&self, guard: &Self::Guard) {
                guard.cancelled().await;
            }
        }

        /// A key whose claim another holder has is not started; a lost claim stops that key alone
        /// (forced), leaves it exited, and a later pass claims and starts it again.
        #[test]
        fn a_lost_claim_stops_that_key_alone() {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            let tbl = Sure(StaticTable::new(&[(1, 10), (2, 20), (3, 30)]));
            let leases = Leases::default();
            leases.refused.lock().unwrap().push(1);
            let setup = Setup::new(tbl, workers(&script, &log), &clock).claim(&leases).observe(events.observer());
            let sup = make::<4>();
            let root = Ctx::new();
            let result = block_on(sup.drive(&root, &setup, async |_| {
                assert_eq!(sup.get(&1), Err(KErr::NotFound));
                assert_eq!(sup.start(1).await, Err(KErr::NotClaimed));
                leases.revoke(2);
                until_state(&sup, 2, State::Exited).await;
                assert_eq!(state(&sup, 3), Some(State::Running));
                assert!(sup.reconcile_now());
                until_state(&sup, 2, State::Running).await;
                assert_eq!(sup.get(&2).map(|e| e.incarnation), Ok(2));
                Ok(())
            }));
            assert_eq!(result, Ok(()));
            assert!(log.events().contains(&"stop 2 (claim lost)".to_string()), "its own cause: {:?}", log.events());
            assert!(events.has("claim lost 2") && events.has("not claimed 1"), "{:?}", events.all());
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
