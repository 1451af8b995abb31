//! The `Clock` trait, the `ManualClock` (upstream `fakeclock` and `observeclock` ports) and the
//! clock adapters.
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::{Arc, Mutex};
use std::task::Wake;

use common::{Fail, block_on, yield_now};
use procession::time::{Clock, Instant, ManualClock};
use procession::{Ctx, MultiError, Runner, RunnerExt, StopLevel};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(s: u64) -> Instant {
    Instant::from_elapsed(secs(s))
}

/// A waker that logs its id when woken.
struct LogWaker {
    id: usize,
    log: Arc<Mutex<Vec<usize>>>,
}

impl Wake for LogWaker {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.id);
    }
}

fn log_waker(id: usize, log: &Arc<Mutex<Vec<usize>>>) -> Waker {
    Waker::from(Arc::new(LogWaker { id, log: log.clone() }))
}

fn poll_once<F: Future>(f: core::pin::Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

/// Upstream: `TestClockNow` (Add, Set backwards).
#[test]
fn clock_now() {
    let clock: ManualClock = ManualClock::new();
    assert_eq!(clock.now(), Instant::ZERO);
    assert_eq!(clock.advance(secs(2)), at(2));
    assert_eq!(clock.set(at(1)), at(1), "set may go backwards");
    assert_eq!(clock.now(), at(1));
    assert_eq!(clock.advance(Duration::MAX), Instant::MAX, "advance saturates");
}

/// Upstream: `TestClockNext`: with nothing scheduled, `next` keeps the time and says so.
#[test]
fn clock_next_without_sleepers() {
    let clock: ManualClock = ManualClock::new();
    clock.advance(secs(5));
    assert_eq!(clock.next(), None);
    assert_eq!(clock.now(), at(5));
}

/// Upstream: `TestEvent` and `TestTimerStep`: a sleep completes at its full duration, not
/// before.
#[test]
fn sleep_completes_at_its_deadline_only() {
    let clock: ManualClock = ManualClock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let waker = log_waker(0, &log);
    let mut sleep = pin!(clock.sleep(secs(3)));
    assert!(poll_once(sleep.as_mut(), &waker).is_pending());
    clock.advance(secs(1));
    clock.advance(secs(1));
    assert!(log.lock().unwrap().is_empty(), "not woken before the deadline");
    assert!(poll_once(sleep.as_mut(), &waker).is_pending());
    clock.advance(secs(1));
    assert_eq!(*log.lock().unwrap(), [0]);
    assert!(poll_once(sleep.as_mut(), &waker).is_ready());
    assert_eq!(clock.sleeping(), 0);
}

/// Upstream: `TestEventStop`, `TestEventReset`: dropping a sleep is `Stop` (nothing left to
/// fire), a new sleep is `Reset` (fires at the new time).
#[test]
fn dropping_a_sleep_stops_it_and_a_new_one_resets() {
    let clock: ManualClock = ManualClock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let waker = log_waker(0, &log);
    {
        let mut sleep = pin!(clock.sleep(secs(1)));
        assert!(poll_once(sleep.as_mut(), &waker).is_pending());
        assert_eq!(clock.sleeping(), 1);
    }
    assert_eq!(clock.sleeping(), 0, "dropped = stopped");
    assert_eq!(clock.next(), None);
    let mut sleep = pin!(clock.sleep(secs(2)));
    assert!(poll_once(sleep.as_mut(), &waker).is_pending());
    assert_eq!(clock.next(), Some(at(2)), "fires at the new time");
    assert!(poll_once(sleep.as_mut(), &waker).is_ready());
}

/// Upstream: `TestTimer` and `TestTimerNext` (deviation): a zero or past deadline completes at
/// the first poll, like real timers, without an advance; upstream fires it on the next advance.
#[test]
fn a_due_sleep_completes_at_once_without_registering() {
    let clock: ManualClock = ManualClock::new();
    clock.advance(secs(10));
    let waker = Waker::noop();
    assert!(poll_once(pin!(clock.sleep(Duration::ZERO)), waker).is_ready());
    assert!(poll_once(pin!(clock.sleep_until(at(3))), waker).is_ready());
    assert_eq!(clock.registrations(), 0);
    assert_eq!(clock.now(), at(10), "time did not move");
}

/// Due sleepers are woken in deadline order, ties in the order they started waiting (upstream:
/// Go map order).
#[test]
fn due_sleepers_wake_in_deadline_then_registration_order() {
    let clock: ManualClock = ManualClock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let deadlines = [3, 1, 2, 1, 3];
    let mut sleeps: Vec<_> = deadlines.iter().map(|&s| Box::pin(clock.sleep_until(at(s)))).collect();
    for (id, sleep) in sleeps.iter_mut().enumerate() {
        assert!(poll_once(sleep.as_mut(), &log_waker(id, &log)).is_pending());
    }
    clock.advance(secs(5));
    assert_eq!(*log.lock().unwrap(), [1, 3, 2, 0, 4]);
}

/// `next` jumps to the earliest deadline and wakes only the sleepers due then; a moment already
/// due is fired without moving time (upstream `Next`).
#[test]
fn next_jumps_to_the_earliest_deadline() {
    let clock: ManualClock = ManualClock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut a = pin!(clock.sleep_until(at(4)));
    let mut b = pin!(clock.sleep_until(at(2)));
    assert!(poll_once(a.as_mut(), &log_waker(0, &log)).is_pending());
    assert!(poll_once(b.as_mut(), &log_waker(1, &log)).is_pending());
    assert_eq!(clock.next(), Some(at(2)));
    assert_eq!(*log.lock().unwrap(), [1]);
    clock.set(at(7)); // both due now ...
    clock.set(at(1)); // ... but time goes back before `a` is polled
    assert!(poll_once(a.as_mut(), &log_waker(0, &log)).is_pending(), "not due any more: waits again");
    assert_eq!(clock.next(), Some(at(4)));
    assert!(poll_once(a.as_mut(), &log_waker(0, &log)).is_ready());
}

/// Upstream: `TestTicker`, `TestTickerNonBlocking`: a loop of sleeps ticks once per advance,
/// without catching up.
#[test]
fn a_loop_of_sleeps_ticks_once_per_advance() {
    let clock: ManualClock = ManualClock::new();
    let ticks = Mutex::new(Vec::new());
    let ticker = async {
        for _ in 0..3 {
            clock.sleep(secs(1)).await;
            ticks.lock().unwrap().push(clock.now());
        }
    };
    let test = async {
        clock.wait_sleeping(1).await;
        clock.advance(secs(5)); // one tick, not five
        yield_now().await;
        for _ in 0..2 {
            clock.wait_sleeping(1).await;
            clock.next();
        }
    };
    block_on(futures::future::join(ticker, test));
    assert_eq!(*ticks.lock().unwrap(), [at(5), at(6), at(7)]);
}

/// Upstream: `observeclock.TestObserve`: `observe` completes at the next new sleeper, not at
/// one that was already waiting.
#[test]
fn observe_completes_at_the_next_new_sleeper() {
    let clock: ManualClock = ManualClock::new();
    let waker = Waker::noop();
    let mut early = pin!(clock.sleep(secs(1)));
    assert!(poll_once(early.as_mut(), waker).is_pending());
    let log = Arc::new(Mutex::new(Vec::new()));
    let observer = log_waker(7, &log);
    let mut observe = pin!(clock.observe());
    assert!(poll_once(observe.as_mut(), &observer).is_pending(), "an earlier sleeper does not count");
    let mut later = pin!(clock.sleep(secs(1)));
    assert!(poll_once(later.as_mut(), waker).is_pending());
    assert_eq!(*log.lock().unwrap(), [7], "the observer is woken by the new sleeper");
    assert!(poll_once(observe.as_mut(), &observer).is_ready());
    assert_eq!(clock.registrations(), 2);
}

/// A test waits until the code under test sleeps, then moves time: no real time passes.
#[test]
fn wait_sleeping_synchronises_with_the_code_under_test() {
    let clock: ManualClock = ManualClock::new();
    let code = async {
        clock.sleep(secs(60)).await;
        "done"
    };
    let test = async {
        clock.wait_sleeping(1).await;
        clock.next();
    };
    assert_eq!(block_on(futures::future::join(code, test)).0, "done");
    assert_eq!(clock.now(), at(60));
}

/// More sleepers than tracked slots: none is lost, `next` still sees their deadlines.
#[test]
fn sleepers_beyond_the_table_are_not_lost() {
    let clock: ManualClock<2> = ManualClock::with_capacity();
    let done = Mutex::new(Vec::new());
    let sleeper = |s: u64| {
        let clock = &clock;
        let done = &done;
        async move {
            clock.sleep_until(at(s)).await;
            done.lock().unwrap().push((s, clock.now()));
        }
    };
    let test = async {
        clock.wait_sleeping(5).await;
        while clock.next().is_some() {
            yield_now().await;
        }
    };
    let sleepers = futures::future::join5(sleeper(5), sleeper(4), sleeper(3), sleeper(2), sleeper(1));
    block_on(futures::future::join(sleepers, test));
    let mut done = done.into_inner().unwrap();
    done.sort();
    assert_eq!(done, (1..=5).map(|s| (s, at(s))).collect::<Vec<_>>(), "each woke at its own deadline");
}

/// A waker that counts its wakes.
#[derive(Default)]
struct CountWaker(std::sync::atomic::AtomicUsize);

impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Sleepers beyond the table: `next` sees a deadline that no change of time reached, without
/// the sleeper being polled again; each sleeper counts once in `sleeping` however often it is
/// polled, leaves the count when dropped, and counts again when polled after being woken,
/// which wakes `wait_sleeping`.
#[test]
fn sleepers_beyond_the_table_are_counted_once_and_seen_by_next() {
    let clock: ManualClock<1> = ManualClock::with_capacity();
    let noop = Waker::noop();
    let mut a = pin!(clock.sleep_until(at(30))); // in the table
    let mut b = pin!(clock.sleep_until(at(10))); // beyond it
    let mut c = pin!(clock.sleep_until(at(20))); // beyond it
    for _ in 0..3 {
        assert!(poll_once(a.as_mut(), noop).is_pending());
        assert!(poll_once(b.as_mut(), noop).is_pending());
        assert!(poll_once(c.as_mut(), noop).is_pending());
    }
    assert_eq!(clock.sleeping(), 3, "polled three times, counted once");
    {
        let mut d = pin!(clock.sleep_until(at(40)));
        assert!(poll_once(d.as_mut(), noop).is_pending());
        assert_eq!(clock.sleeping(), 4);
    }
    assert_eq!(clock.sleeping(), 3, "a dropped sleeper leaves the count");

    // The earliest, beyond the table: b and c are woken and must be polled again.
    assert_eq!(clock.next(), Some(at(10)));
    assert_eq!(clock.sleeping(), 1);
    let counter = Arc::new(CountWaker::default());
    let waker = Waker::from(counter.clone());
    let mut two = pin!(clock.wait_sleeping(2));
    assert!(poll_once(two.as_mut(), &waker).is_pending());
    assert!(poll_once(b.as_mut(), noop).is_ready());
    assert!(poll_once(c.as_mut(), noop).is_pending());
    assert_eq!(clock.sleeping(), 2);
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1, "c counting again woke the waiter");
    assert!(poll_once(two.as_mut(), &waker).is_ready());

    // c's deadline (beyond the table) wakes c and e; e counts again when polled.
    let mut e = pin!(clock.sleep_until(at(50)));
    assert!(poll_once(e.as_mut(), noop).is_pending()); // beyond the table: its 50 s do not hide c's 20 s
    assert_eq!(clock.next(), Some(at(20)));
    assert!(poll_once(c.as_mut(), noop).is_ready());
    assert!(poll_once(e.as_mut(), noop).is_pending());
    assert_eq!(clock.next(), Some(at(30)));
    assert!(poll_once(a.as_mut(), noop).is_ready());
    assert_eq!(clock.next(), Some(at(50)));
    assert!(poll_once(e.as_mut(), noop).is_ready());
    assert_eq!(clock.next(), None);
    assert_eq!(clock.sleeping(), 0);
}

/// A change of time that reaches no sleeper beyond the table does not wake them, so `next`
/// still sees their deadlines without a new poll: with one slot, sleepers at 10 s (in the
/// table) and 30 s (beyond it), `next` goes to 10 s, then to 30 s.
#[test]
fn next_sees_a_sleeper_beyond_the_table_that_was_not_woken() {
    let clock: ManualClock<1> = ManualClock::with_capacity();
    let noop = Waker::noop();
    let mut early = pin!(clock.sleep_until(at(10)));
    let mut late = pin!(clock.sleep_until(at(30)));
    assert!(poll_once(early.as_mut(), noop).is_pending());
    assert!(poll_once(late.as_mut(), noop).is_pending());
    assert_eq!(clock.next(), Some(at(10)));
    assert!(poll_once(early.as_mut(), noop).is_ready());
    assert_eq!(clock.sleeping(), 1);
    assert_eq!(clock.next(), Some(at(30)));
    assert!(poll_once(late.as_mut(), noop).is_ready());
}

/// A clock's sleep is a deadline: a stop that hangs is forced, then dropped, on manual time.
#[test]
fn a_sleep_bounds_a_stop() {
    let clock: ManualClock = ManualClock::new();
    let stubborn = procession::runner::from_fn(async |_ctx: &Ctx<'_>, lc: &procession::runner::Lifecycle<'_>| {
        lc.ready();
        core::future::pending::<()>().await;
        Ok::<(), MultiError<Fail, 4>>(())
    })
    .with_stop_deadline(|| clock.sleep(secs(5)), || clock.sleep(secs(1)));
    let root = Ctx::new();
    let run = stubborn.run(&root, async |_| Ok(()));
    let time = async {
        for _ in 0..2 {
            clock.wait_sleeping(1).await;
            clock.next();
        }
    };
    let (result, ()) = block_on(futures::future::join(run, time));
    assert_eq!(result, Err(MultiError::from_error(Fail::Overrun(StopLevel::Hard))));
    assert_eq!(clock.now(), at(6));
}

/// The tokio adapter follows tokio's (paused) time.
#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn tokio_clock_sleeps_on_tokio_time() {
    use procession::time::TokioClock;
    let clock = TokioClock::new();
    let start = tokio::time::Instant::now();
    clock.sleep(secs(3600)).await;
    assert_eq!(start.elapsed(), secs(3600), "paused time auto-advances exactly");
    assert_eq!(clock.now().elapsed(), secs(3600));
    clock.sleep_until(at(1)).await; // past: at once
    assert_eq!(start.elapsed(), secs(3600));
    // A deadline past the end of time is a sleep that never ends, not a panic.
    let never = tokio::time::timeout(secs(1), clock.sleep_until(Instant::MAX)).await;
    assert!(never.is_err());
}

/// The embassy-time adapter follows the time driver (the mock driver in tests).
#[cfg(feature = "embassy-time")]
#[test]
fn embassy_clock_sleeps_on_the_time_driver() {
    use embassy_time::MockDriver;
    use procession::time::EmbassyClock;
    let driver = MockDriver::get();
    let clock = EmbassyClock;
    let start = clock.now();
    let mut sleep = pin!(clock.sleep(Duration::from_millis(1500)));
    assert!(poll_once(sleep.as_mut(), Waker::noop()).is_pending());
    driver.advance(embassy_time::Duration::from_millis(1000));
    assert!(poll_once(sleep.as_mut(), Waker::noop()).is_pending());
    driver.advance(embassy_time::Duration::from_millis(500));
    assert!(poll_once(sleep.as_mut(), Waker::noop()).is_ready());
    assert_eq!(clock.now() - start, Duration::from_millis(1500));
    let mut never = pin!(clock.sleep_until(Instant::MAX));
    assert!(poll_once(never.as_mut(), Waker::noop()).is_pending(), "saturates instead of panicking");
}

/// The std adapter: one millisecond of real time (the only test that uses real time), a past
/// deadline at once, and no panic for the end of time.
#[cfg(feature = "std")]
#[cfg_attr(miri, ignore = "real time, and the timer thread of `futures-timer` outlives the test")]
#[test]
fn std_clock_sleeps_on_the_os_clock() {
    use procession::time::StdClock;
    let clock = StdClock::new();
    block_on(clock.sleep(Duration::from_millis(1)));
    assert!(clock.now().elapsed() >= Duration::from_millis(1));
    block_on(clock.sleep_until(Instant::ZERO));
    let mut never = pin!(clock.sleep_until(Instant::MAX));
    assert!(poll_once(never.as_mut(), Waker::noop()).is_pending());
}

/// Finding 6: a sleep until `Instant::MAX` ("past the end of time") never completes, neither by
/// `next` nor by `advance(Duration::MAX)`; `next` does not jump to it.
#[test]
fn a_sleep_past_the_end_of_time_never_completes() {
    let clock: ManualClock = ManualClock::new();
    let waker = Waker::noop();
    let mut forever = pin!(clock.sleep(Duration::MAX));
    assert_eq!(forever.deadline(), Instant::MAX);
    assert!(poll_once(forever.as_mut(), waker).is_pending());
    assert_eq!(clock.sleeping(), 1, "it waits like any other sleep");
    assert_eq!(clock.next(), None, "nothing that can pass is pending");
    assert_eq!(clock.now(), Instant::ZERO);
    assert!(poll_once(forever.as_mut(), waker).is_pending());
    let mut soon = pin!(clock.sleep(secs(1)));
    assert!(poll_once(soon.as_mut(), waker).is_pending());
    assert_eq!(clock.advance(Duration::MAX), Instant::MAX);
    assert!(poll_once(soon.as_mut(), waker).is_ready(), "a finite deadline has passed");
    assert!(poll_once(forever.as_mut(), waker).is_pending(), "the end of time never comes");
    assert_eq!(clock.next(), None);
    let mut new_forever = pin!(clock.sleep_until(Instant::MAX));
    assert!(poll_once(new_forever.as_mut(), waker).is_pending(), "not even at Instant::MAX");
}

/// Finding 6, beyond the table: a sleeper at `Instant::MAX` that did not fit is not woken by
/// time reaching the end, and `next` ignores it.
#[test]
fn a_sleep_past_the_end_of_time_beyond_the_table_never_completes() {
    let clock: ManualClock<1> = ManualClock::with_capacity();
    let waker = Waker::noop();
    let mut tabled = pin!(clock.sleep(secs(3)));
    let mut forever = pin!(clock.sleep(Duration::MAX));
    assert!(poll_once(tabled.as_mut(), waker).is_pending());
    assert!(poll_once(forever.as_mut(), waker).is_pending());
    assert_eq!(clock.sleeping(), 2);
    assert_eq!(clock.next(), Some(at(3)));
    assert!(poll_once(tabled.as_mut(), waker).is_ready());
    assert_eq!(clock.next(), None);
    clock.set(Instant::MAX);
    assert!(poll_once(forever.as_mut(), waker).is_pending());
}

/// Finding 7: a sleeper that was due, but saw time set back before it ran, waits again; that
/// wakes a `wait_sleeping` that was waiting meanwhile (no lost wake-up).
#[test]
fn wait_sleeping_sees_a_sleeper_that_waits_again_after_time_went_back() {
    let clock: ManualClock = ManualClock::new();
    let waker = Waker::noop();
    let mut sleep = pin!(clock.sleep(secs(5)));
    assert!(poll_once(sleep.as_mut(), waker).is_pending());
    clock.set(at(10)); // due: taken out of the table and woken ...
    clock.set(at(0)); // ... but time goes back before it runs
    assert_eq!(clock.sleeping(), 0);
    let log = Arc::new(Mutex::new(Vec::new()));
    let observer = log_waker(1, &log);
    let mut waiting = pin!(clock.wait_sleeping(1));
    assert!(poll_once(waiting.as_mut(), &observer).is_pending());
    assert!(poll_once(sleep.as_mut(), waker).is_pending(), "not due any more: waits again");
    assert_eq!(clock.sleeping(), 1);
    assert_eq!(*log.lock().unwrap(), [1], "the waiting test is woken");
    assert!(poll_once(waiting.as_mut(), &observer).is_ready());
}

/// `ManualClock::new()` needs no type annotation; other capacities come from `with_capacity`.
#[test]
fn manual_clock_new_needs_no_annotation() {
    let clock = ManualClock::new();
    assert_eq!(clock.now(), Instant::ZERO);
    let small = ManualClock::<2>::with_capacity();
    assert_eq!(small.sleeping(), 0);
    let default: ManualClock<3> = ManualClock::default();
    assert_eq!(default.now(), Instant::ZERO);
}

/// A record of who woke when, shared by the sleepers of the `auto_advance` tests.
type Woke = Mutex<Vec<(&'static str, u64)>>;

fn record(woke: &Woke, clock: &ManualClock, name: &'static str) {
    woke.lock().unwrap().push((name, clock.now().elapsed().as_secs()));
}

/// Three sleepers with different deadlines and one that sleeps twice: `auto_advance` joined
/// beside them on `futures::executor::block_on` wakes each at its own deadline, in order, and
/// completes once nobody sleeps.
#[test]
fn auto_advance_wakes_several_sleepers_at_their_deadlines_on_block_on() {
    let clock = ManualClock::new();
    let woke = Woke::default();
    let sleeper = |name, s| {
        let (clock, woke) = (&clock, &woke);
        async move {
            clock.sleep(secs(s)).await;
            record(woke, clock, name);
        }
    };
    let twice = async {
        clock.sleep(secs(2)).await;
        record(&woke, &clock, "twice/1");
        clock.sleep(secs(2)).await;
        record(&woke, &clock, "twice/2");
    };
    let code = futures::future::join4(sleeper("c", 5), sleeper("a", 1), sleeper("b", 3), twice);
    block_on(futures::future::join(code, clock.auto_advance()));
    assert_eq!(*woke.lock().unwrap(), [("a", 1), ("twice/1", 2), ("b", 3), ("twice/2", 4), ("c", 5)]);
    assert_eq!(clock.now(), at(5), "no further than the last deadline");
    assert_eq!(clock.sleeping(), 0);
}

/// The same on `embassy_futures::block_on`, with `until`.
#[test]
fn auto_advance_until_drives_several_sleepers_on_embassy_block_on() {
    let clock = ManualClock::new();
    let woke = Woke::default();
    let sleeper = |name, s| {
        let (clock, woke) = (&clock, &woke);
        async move {
            clock.sleep(secs(s)).await;
            record(woke, clock, name);
            s
        }
    };
    let code = embassy_futures::join::join3(sleeper("b", 20), sleeper("c", 30), sleeper("a", 10));
    let out = embassy_futures::block_on(clock.auto_advance().until(code));
    assert_eq!(out, (20, 30, 10));
    assert_eq!(*woke.lock().unwrap(), [("a", 10), ("b", 20), ("c", 30)]);
}

/// Spawned tasks on a `LocalPool`, with the driver spawned beside them: the pool runs until
/// everything ended.
#[test]
fn auto_advance_drives_spawned_tasks_on_a_local_pool() {
    use futures::task::LocalSpawnExt;
    static CLOCK: ManualClock = ManualClock::new();
    let woke = Arc::new(Woke::default());
    let mut pool = futures::executor::LocalPool::new();
    let spawner = pool.spawner();
    for (name, s) in [("c", 7), ("a", 2), ("b", 4)] {
        let woke = woke.clone();
        spawner
            .spawn_local(async move {
                for _ in 0..2 {
                    CLOCK.sleep(secs(s)).await;
                    record(&woke, &CLOCK, name);
                }
            })
            .unwrap();
    }
    spawner.spawn_local(CLOCK.auto_advance()).unwrap();
    pool.run();
    assert_eq!(
        *woke.lock().unwrap(),
        [("a", 2), ("b", 4), ("a", 4), ("c", 7), ("b", 8), ("c", 14)],
        "ties in the order the sleeps started: b at 0, a at 2"
    );
}

/// A sleeper hands its wake-up through three tasks that do not touch the clock before the
/// last one sleeps again: the driver waits for the hand-offs before it moves time past them.
#[test]
fn auto_advance_waits_for_hand_offs_between_tasks() {
    use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex as M;
    use embassy_sync::signal::Signal;
    let clock = ManualClock::new();
    let woke = Woke::default();
    let hops: [Signal<M, ()>; 3] = [Signal::new(), Signal::new(), Signal::new()];
    let first = async {
        clock.sleep(secs(1)).await;
        record(&woke, &clock, "first");
        hops[0].signal(());
    };
    let relay = |k: usize| {
        let hops = &hops;
        async move {
            hops[k].wait().await;
            hops[k + 1].signal(());
        }
    };
    let last = async {
        hops[2].wait().await;
        record(&woke, &clock, "last");
        clock.sleep(secs(1)).await;
        record(&woke, &clock, "last again");
    };
    let other = async {
        clock.sleep(secs(5)).await;
        record(&woke, &clock, "other");
    };
    // The relays are polled in the order that makes each hand-off take one more poll.
    let code = futures::future::join5(last, relay(1), relay(0), first, other);
    block_on(clock.auto_advance().until(code));
    assert_eq!(*woke.lock().unwrap(), [("first", 1), ("last", 1), ("last again", 2), ("other", 5)]);
}

/// `until` ends with the code under test, also beside a ticker that sleeps for ever.
#[test]
fn auto_advance_until_ends_with_the_code_beside_a_ticker() {
    let clock = ManualClock::new();
    let ticks = Mutex::new(0);
    let ticker = async {
        loop {
            clock.sleep(secs(1)).await;
            *ticks.lock().unwrap() += 1;
        }
    };
    let code = async {
        clock.sleep(secs(5)).await;
        clock.now()
    };
    let (code, ticker) = (pin!(code), pin!(ticker));
    let result = block_on(clock.auto_advance().until(futures::future::select(code, ticker)));
    match result {
        futures::future::Either::Left((now, _)) => assert_eq!(now, at(5)),
        futures::future::Either::Right(_) => unreachable!("the ticker never ends"),
    }
    assert!(*ticks.lock().unwrap() >= 4, "the ticker ticked meanwhile");
}

/// Sleeps until the end of time are not a deadline to advance to: the driver completes.
#[test]
fn auto_advance_completes_when_only_endless_sleeps_remain() {
    let clock = ManualClock::new();
    let forever = async {
        clock.sleep(secs(3)).await;
        clock.sleep(Duration::MAX).await;
    };
    let forever = pin!(forever);
    let result = block_on(futures::future::select(forever, clock.auto_advance()));
    assert!(matches!(result, futures::future::Either::Right(_)));
    assert_eq!(clock.now(), at(3));
    assert_eq!(clock.sleeping(), 1);
}
