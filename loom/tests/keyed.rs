//! Loom models of the keyed supervisor's handle: a `start` on another thread racing a `stop`
//! of the same key in the drive's callback, and a `start` racing the end of the drive.
//!
//! No thread spins: the thread that starts the key is spawned by the callback (so the driver
//! is driving by then), and the callback waits for its answer on a [`Ctx`] that the thread
//! cancels, a wait that sleeps until woken. Every thread blocks in
//! [`block_on_counting`], which parks it until its waker is woken, so a lost wakeup is a
//! deadlock that loom reports.
#![cfg(loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use procession::runner::{Lifecycle, from_fn};
use procession::table::{Error, KeyedSupervisor, MapTable, Setup, State};
use procession::time::ManualClock;
use procession::{Ctx, TreeError, never};
use procession_loom::{block_on_counting, model};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dead;

impl core::fmt::Display for Dead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("dead")
    }
}

/// The supervisor's error: a tree (it absorbs the driver's own errors).
type Fail = TreeError<Dead>;
type Sup = KeyedSupervisor<u8, u8, Fail, 1>;
type Tbl = MapTable<u8, u8, 1>;

/// What the model sees of the incarnations (its own counters, not the crate's state).
#[derive(Default)]
struct Seen {
    /// Incarnations running now.
    live: AtomicUsize,
    /// The most incarnations that ran at once.
    most: AtomicUsize,
    /// An incarnation said it was ready.
    ready: AtomicBool,
}

/// A process per key that counts itself, is ready at once and serves until asked to stop.
macro_rules! worker {
    ($seen:expr) => {{
        let seen = $seen.clone();
        move |_key: &u8, _value: &u8| {
            let seen = seen.clone();
            from_fn(async move |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Fail> {
                let now = seen.live.fetch_add(1, Ordering::SeqCst) + 1;
                seen.most.fetch_max(now, Ordering::SeqCst);
                seen.ready.store(true, Ordering::SeqCst);
                lc.ready();
                lc.stop_requested().await;
                seen.live.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        }
    }};
}

/// Spawns the thread that puts key 1 in the table and starts it; it cancels `answered` once
/// the start has its answer.
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

/// A `start` of key 1 on another thread races a `stop` of key 1 in the drive's callback,
/// which then waits until the start has its answer. Never two incarnations at once; the start
/// succeeds (and the key was then ready) or is refused with `Exists` (the driver's pass took
/// the new row first) or ends `StoppedBeforeReady` (the stop came while it started); the stop
/// finds the key (`Ok`) or not yet (`NotFound`); afterwards the key is stopped or absent, or
/// still running only if the stop came before it; nothing runs once the drive has returned,
/// which it does with `Ok`.
#[test]
fn start_races_stop() {
    model("keyed: a start races a stop of the same key", 2, || {
        let seen = Arc::new(Seen::default());
        let sup = Arc::new(Sup::new());
        let table = Arc::new(Tbl::new());
        let answered = Arc::new(Ctx::new());
        let clock = ManualClock::new();
        let setup = Setup::new(&*table, worker!(seen), &clock);
        let root = Ctx::new();
        let mut outcome = None;
        let (result, _) = block_on_counting(sup.drive(&root, &setup, async |_ctx: &Ctx<'_>| {
            let starter = spawn_starter(&sup, &table, &answered);
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
            Ok(()) => assert!(seen.ready.load(Ordering::SeqCst), "started but never ready"),
            Err(Error::Exists | Error::StoppedBeforeReady) => {}
            Err(e) => panic!("start: {e:?}"),
        }
        match &stopped {
            Ok(_) | Err(Error::NotFound) => {}
            Err(e) => panic!("stop: {e:?}"),
        }
        match state {
            Ok(State::Stopped) | Err(Error::NotFound) => {}
            // Only a stop that found no slot (it came before the start) leaves it running.
            _ => assert_eq!(stopped, Err(Error::NotFound), "state {state:?} after {started:?}"),
        }
        assert_eq!(seen.live.load(Ordering::SeqCst), 0, "an incarnation outlived the drive");
    });
}

/// A `start` of key 1 on another thread races the end of the drive (the callback returns at
/// once, and the drive shuts down): the start is answered all the same, never left waiting
/// (loom reports a deadlock if it were), with `Ok` (it was ready before the shutdown stopped
/// it), `StoppedBeforeReady` (the shutdown came while it started), `Exists` (the driver's pass
/// took the row first) or `NotRunning` (the driver was shutting down or gone); nothing runs
/// once the drive has returned, which it does with `Ok`.
#[test]
fn start_races_the_end_of_the_drive() {
    model("keyed: a start races the end of the drive", 2, || {
        let seen = Arc::new(Seen::default());
        let sup = Arc::new(Sup::new());
        let table = Arc::new(Tbl::new());
        let answered = Arc::new(Ctx::new());
        let clock = ManualClock::new();
        let setup = Setup::new(&*table, worker!(seen), &clock);
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
