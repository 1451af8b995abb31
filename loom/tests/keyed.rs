//! Loom models of the keyed supervisor's handle, each for both variants (`KeyedSupervisor` with
//! one slot, `DynKeyedSupervisor`): a `start` on another thread racing a `stop` of the same key
//! in the drive's callback (with a process ready at once, and with one that becomes ready only
//! once asked to stop), a `start` racing the end of the drive, and a `start` racing a drive
//! that is dropped.
//!
//! No thread spins: the thread that starts the key is spawned by the callback (so the driver
//! is driving by then), and the callback waits for its answer on a [`Ctx`] that the thread
//! cancels, a wait that sleeps until woken. Every thread blocks in
//! [`block_on_counting`], which parks it until its waker is woken, so a lost wakeup or a start
//! left unanswered is a deadlock that loom reports.
#![cfg(loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use procession::table::{Error, MapTable, Setup, State};
use procession::time::ManualClock;
use procession::{Ctx, Runner, TreeError, never};
use procession_loom::{block_on_counting, model, poll_once_and_drop};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dead;

impl core::fmt::Display for Dead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("dead")
    }
}

/// The supervisor's error: a tree (it absorbs the driver's own errors).
type Fail = TreeError<Dead>;
type Tbl = MapTable<u8, u8, 1>;

/// What the model sees of the incarnations (its own counters, not the crate's state).
#[derive(Default)]
struct Seen {
    /// Incarnations running now (a process dropped unfinished counts itself out too).
    live: AtomicUsize,
    /// The most incarnations that ran at once.
    most: AtomicUsize,
    /// An incarnation said it was ready.
    ready: AtomicBool,
    /// Cancelled when an incarnation starts.
    launched: Ctx<'static>,
}

/// Counts an incarnation out when its process ends or is dropped.
struct Live(Arc<Seen>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A process per key that counts itself and serves until asked to stop. It is ready at once,
/// or, when `late`, only once its context is cancelled (a key stopped while it starts is
/// stopped at the forced level): it becomes ready during its stop, and calls the callback
/// all the same, as a runner may.
struct Worker {
    seen: Arc<Seen>,
    late: bool,
}

impl Runner<Fail> for Worker {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Fail>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Fail>,
    {
        let now = self.seen.live.fetch_add(1, Ordering::SeqCst) + 1;
        let _live = Live(self.seen.clone());
        self.seen.most.fetch_max(now, Ordering::SeqCst);
        self.seen.launched.cancel();
        if self.late {
            ctx.cancelled().await;
        }
        self.seen.ready.store(true, Ordering::SeqCst);
        // The driver's callback returns once the key is asked to stop.
        ready(ctx).await
    }
}

/// The setup's builder of [`Worker`]s.
macro_rules! worker {
    ($seen:expr, $late:expr) => {{
        let seen = $seen.clone();
        let late: bool = $late;
        move |_key: &u8, _value: &u8| Worker { seen: seen.clone(), late }
    }};
}

/// The models, for the supervisor type `$sup`.
macro_rules! models {
    ($variant:ident, $sup:ty) => {
        mod $variant {
            use super::*;

            type Sup = $sup;

            /// Spawns the thread that puts key 1 in the table and starts it; it cancels
            /// `answered` once the start has its answer.
            fn spawn_starter(
                sup: &Arc<Sup>,
                table: &Arc<Tbl>,
                answered: &Arc<Ctx<'static>>,
            ) -> thread::JoinHandle<Result<(), Error<u8, Fail>>> {
                let (sup, table, answered) = (sup.clone(), table.clone(), answered.clone());
                thread::spawn(move || {
                    table.insert(1, 1).unwrap();
                    let (result, _) = block_on_counting(sup.start(1));
                    answered.cancel();
                    result
                })
            }

            /// A `start` of key 1 on another thread races a `stop` of key 1 in the drive's
            /// callback, which then waits until the start has its answer; the process is
            /// ready at once, or (`late`) only once asked to stop. Never two incarnations at
            /// once; the start succeeds (and the key was then ready) or is refused with
            /// `Exists` (the driver's pass took the new row first) or ends
            /// `StoppedBeforeReady` (the stop came while it started); the stop finds the key
            /// (`Ok`) or not yet (`NotFound`); afterwards the key is stopped or absent, or
            /// still running only if the stop came before it; nothing runs once the drive
            /// has returned, which it does with `Ok`.
            ///
            /// With a `late` process, the callback waits until the key's process has started
            /// before it stops the key: the stop always comes while the key starts, and the
            /// process becomes ready during it (the race that once left the start
            /// unanswered).
            fn start_races_stop(name: &str, late: bool) {
                model(name, 2, move || {
                    let seen = Arc::new(Seen::default());
                    let sup = Arc::new(Sup::new());
                    let table = Arc::new(Tbl::new());
                    let answered = Arc::new(Ctx::new());
                    let clock = ManualClock::new();
                    let setup = Setup::new(&*table, worker!(seen, late), &clock);
                    let root = Ctx::new();
                    let mut outcome = None;
                    let (result, _) = block_on_counting(sup.drive(&root, &setup, async |_ctx: &Ctx<'_>| {
                        let starter = spawn_starter(&sup, &table, &answered);
                        if late {
                            seen.launched.cancelled().await;
                        }
                        let stopped = sup.stop(&1, never, never).await;
                        answered.cancelled().await;
                        let state = sup.get(&1).map(|e| e.state);
                        outcome = Some((stopped, state, starter));
                        Ok(())
                    }));
                    assert_eq!(result, Ok(()), "the drive");
                    let (stopped, state, starter) = outcome.expect("the callback ran");
                    let started = starter.join().unwrap();
                    assert!(seen.most.load(Ordering::SeqCst) <= 1, "two incarnations at once");
                    match &started {
                        Ok(()) => assert!(!late && seen.ready.load(Ordering::SeqCst), "started but never ready"),
                        Err(Error::Exists | Error::StoppedBeforeReady) => {}
                        Err(e) => panic!("start: {e:?}"),
                    }
                    match &stopped {
                        Ok(_) => {}
                        Err(Error::NotFound) if !late => {}
                        Err(e) => panic!("stop: {e:?}"),
                    }
                    match state {
                        Ok(State::Stopped) | Err(Error::NotFound) => {}
                        // Only a stop that found no slot (it came before the start) leaves it
                        // running.
                        _ => assert_eq!(stopped, Err(Error::NotFound), "state {state:?} after {started:?}"),
                    }
                    assert_eq!(seen.live.load(Ordering::SeqCst), 0, "an incarnation outlived the drive");
                });
            }

            #[test]
            fn a_start_races_a_stop() {
                start_races_stop(concat!(stringify!($variant), ": a start races a stop of the same key"), false);
            }

            /// The race that once left a start unanswered: the stop comes while the key
            /// starts, and its process becomes ready during that stop.
            #[test]
            fn a_start_races_a_stop_that_makes_it_ready() {
                start_races_stop(concat!(stringify!($variant), ": a start races a stop, ready during the stop"), true);
            }

            /// A `start` of key 1 on another thread races the end of the drive (the callback
            /// returns at once, and the drive shuts down): the start is answered all the
            /// same, never left waiting (loom reports a deadlock if it were), with `Ok` (it
            /// was ready before the shutdown stopped it), `StoppedBeforeReady` (the shutdown
            /// came while it started), `Exists` (the driver's pass took the row first) or
            /// `NotRunning` (the driver was shutting down or gone); nothing runs once the
            /// drive has returned, which it does with `Ok`.
            #[test]
            fn a_start_races_the_end_of_the_drive() {
                model(concat!(stringify!($variant), ": a start races the end of the drive"), 2, || {
                    let seen = Arc::new(Seen::default());
                    let sup = Arc::new(Sup::new());
                    let table = Arc::new(Tbl::new());
                    let answered = Arc::new(Ctx::new());
                    let clock = ManualClock::new();
                    let setup = Setup::new(&*table, worker!(seen, false), &clock);
                    let root = Ctx::new();
                    let mut starter = None;
                    let (result, _) = block_on_counting(sup.drive(&root, &setup, async |_ctx: &Ctx<'_>| {
                        starter = Some(spawn_starter(&sup, &table, &answered));
                        Ok(())
                    }));
                    assert_eq!(result, Ok(()), "the drive");
                    let started = starter.expect("the callback ran").join().unwrap();
                    assert!(answered.is_cancelled());
                    assert!(seen.most.load(Ordering::SeqCst) <= 1, "two incarnations at once");
                    match &started {
                        Ok(()) => assert!(seen.ready.load(Ordering::SeqCst), "started but never ready"),
                        Err(Error::Exists | Error::StoppedBeforeReady | Error::NotRunning | Error::DriverGone) => {}
                        Err(e) => panic!("start: {e:?}"),
                    }
                    assert!(!sup.is_driving());
                    assert_eq!(seen.live.load(Ordering::SeqCst), 0, "an incarnation outlived the drive");
                });
            }

            /// A drive polled once on one thread and dropped unfinished races a `start` of
            /// key 1 on another: the start is answered (`DriverGone` when the drop found it
            /// waiting, `NotRunning` when it came before or after the drive, `Exists` or
            /// `Ok` when the drive's single poll took the key), nothing of the dropped drive
            /// runs on, and the same supervisor drives again.
            #[test]
            fn a_start_races_a_dropped_drive() {
                model(concat!(stringify!($variant), ": a start races a dropped drive"), 2, || {
                    let seen = Arc::new(Seen::default());
                    let sup = Arc::new(Sup::new());
                    let table = Arc::new(Tbl::new());
                    let driver = {
                        let (sup, table, seen) = (sup.clone(), table.clone(), seen.clone());
                        thread::spawn(move || {
                            let clock = ManualClock::new();
                            let setup = Setup::new(&*table, worker!(seen, false), &clock);
                            let root = Ctx::new();
                            poll_once_and_drop(sup.drive(&root, &setup, async |ctx: &Ctx<'_>| {
                                ctx.cancelled().await;
                                Ok(())
                            }));
                        })
                    };
                    let starter = {
                        let (sup, table) = (sup.clone(), table.clone());
                        thread::spawn(move || {
                            table.insert(1, 1).unwrap();
                            block_on_counting(sup.start(1)).0
                        })
                    };
                    driver.join().unwrap();
                    let started = starter.join().unwrap();
                    match &started {
                        Ok(()) => assert!(seen.ready.load(Ordering::SeqCst), "started but never ready"),
                        Err(Error::Exists | Error::NotRunning | Error::DriverGone | Error::StoppedBeforeReady) => {}
                        Err(e) => panic!("start: {e:?}"),
                    }
                    assert!(!sup.is_driving());
                    assert_eq!(seen.live.load(Ordering::SeqCst), 0, "an incarnation outlived the dropped drive");
                    assert!(seen.most.load(Ordering::SeqCst) <= 1, "two incarnations at once");
                    let clock = ManualClock::new();
                    let setup = Setup::new(&*table, worker!(seen, false), &clock);
                    let root = Ctx::new();
                    let (again, _) = block_on_counting(sup.drive(&root, &setup, async |_ctx: &Ctx<'_>| Ok(())));
                    assert_eq!(again, Ok(()), "the second drive");
                    assert_eq!(seen.live.load(Ordering::SeqCst), 0, "an incarnation outlived the second drive");
                });
            }
        }
    };
}

models!(fixed, procession::table::KeyedSupervisor<u8, u8, Fail, 1>);
models!(dynamic, procession::table::DynKeyedSupervisor<u8, u8, Fail>);
