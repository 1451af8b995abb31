//! The waiter storage of the handles: one lock per change of state (none but the handle's own
//! `M`, so no critical section with `NoopRawMutex`), no early wakeups, and the one capacity
//! behaviour without `alloc` once the program-wide spill table is full.
//!
//! The tests share the spill table and the critical section of the program, so they take a
//! lock of their own and run one at a time.

extern crate alloc;

use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::Mutex;
use std::sync::mpsc;

use procession::ctx::{SPILL_SLOTS, WAITER_SLOTS};
use procession::mutex::NoopRawMutex;
use procession::process::{Error, Process, State};
use procession::shot::Group;
use procession::{Ctx, never};

/// One test at a time: they fill the spill table, or hold the critical section.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counters(n: usize) -> Vec<(Arc<Counter>, Waker)> {
    (0..n)
        .map(|_| {
            let c = Arc::new(Counter(AtomicUsize::new(0)));
            (c.clone(), Waker::from(c))
        })
        .collect()
}

fn wakes(tasks: &[(Arc<Counter>, Waker)]) -> Vec<usize> {
    tasks.iter().map(|(c, _)| c.0.load(Ordering::SeqCst)).collect()
}

fn poll<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// Runs `f` on this thread while another thread holds the critical section: if `f` entered
/// a critical section it would block until the other thread gives up (after a generous
/// bound, a failure, not a timing the test relies on).
fn without_critical_section(f: impl FnOnce()) {
    let (held_tx, held_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        critical_section::with(|_| {
            held_tx.send(()).unwrap();
            done_rx.recv_timeout(Duration::from_secs(20)).is_ok()
        })
    });
    held_rx.recv().unwrap();
    f();
    let _ = done_tx.send(());
    assert!(holder.join().unwrap(), "the code entered a critical section");
}

/// A `Process` on `NoopRawMutex` takes no critical section: its state and its waiters (two
/// observers, in its slots) change under its own lock only, also when a stop wakes them.
#[test]
fn a_noop_process_takes_no_critical_section() {
    let _serial = serial();
    let process: Process<(), 2, NoopRawMutex> = Process::new();
    let tasks = counters(2);
    without_critical_section(|| {
        let mut start = pin!(process.start(never, never));
        let mut done = pin!(process.done());
        assert!(poll(start.as_mut(), &tasks[0].1).is_pending());
        assert!(poll(done.as_mut(), &tasks[1].1).is_pending());
        assert_eq!(process.state(), State::Starting);
        assert!(process.request_stop());
        assert_eq!(wakes(&tasks), [1, 1]);
        assert_eq!(poll(start.as_mut(), &tasks[0].1), Poll::Ready(Err(Error::StoppedBeforeReady)));
        assert_eq!(poll(done.as_mut(), &tasks[1].1), Poll::Ready(()));
        assert!(process.is_done());
    });
}

/// A `shot::Group` on `NoopRawMutex` takes no critical section for its bookkeeping and its
/// waiters: `go`, `poll_done` with as many tasks as it has slots, the driver's registration.
/// (Its context, a [`Ctx`], is not generic over the mutex: without `std`, cancelling it, as
/// `close` does, takes the critical section of the context's own waker slot.)
#[test]
fn a_noop_group_takes_no_critical_section() {
    let _serial = serial();
    let group: Group<'_, u32, 2, NoopRawMutex> = Group::detached();
    let tasks = counters(WAITER_SLOTS);
    // Dropped after the check: dropping the driver cancels the group's context.
    let mut driver = pin!(group.drive(async |_ctx: &Ctx<'_>, _item: u32| {}));
    without_critical_section(|| {
        group.go(1).unwrap();
        for (_, waker) in &tasks {
            assert!(group.poll_done(&mut Context::from_waker(waker)).is_pending());
        }
        // The job runs and ends at once: the group is idle, its waiters are woken once each.
        assert!(poll(driver.as_mut(), &tasks[0].1).is_pending());
        assert!(group.is_done());
        assert_eq!(wakes(&tasks)[1..], [1; WAITER_SLOTS - 1]);
    });
}

/// With `std`, a `shot::One` on `NoopRawMutex` takes no critical section for a whole run: its
/// run's context (a [`Ctx`], whose waker slot has a lock of its own with `std`) is waited on,
/// cancelled by `cancel`, and the run ends. Without `std` a `Ctx`'s slot is a critical section.
#[cfg(feature = "std")]
#[test]
fn a_noop_one_run_takes_no_critical_section_with_std() {
    let _serial = serial();
    let one: procession::shot::One<'_, NoopRawMutex> = procession::shot::One::detached();
    let tasks = counters(1);
    without_critical_section(|| {
        let run = one.start().unwrap();
        {
            let mut cancelled = pin!(run.context().cancelled());
            assert!(poll(cancelled.as_mut(), &tasks[0].1).is_pending());
            assert!(one.cancel());
            assert_eq!(wakes(&tasks), [1]);
            assert!(poll(cancelled.as_mut(), &tasks[0].1).is_ready());
        }
        drop(run);
        assert_eq!(one.state(), procession::shot::State::Closed);
    });
}

/// Fills the spill table: one task waits on a root context inline, `SPILL_SLOTS` more in the
/// table. Returns the context's futures, to be dropped (or the context cancelled) at the end.
#[cfg(not(feature = "alloc"))]
fn fill_spill<'c>(
    ctx: &'c Ctx<'static>,
    tasks: &[(Arc<Counter>, Waker)],
) -> Vec<Pin<Box<procession::ctx::Cancelled<'c, 'static>>>> {
    assert_eq!(tasks.len(), 1 + SPILL_SLOTS);
    let mut futures: Vec<_> = tasks.iter().map(|_| Box::pin(ctx.cancelled())).collect();
    for (fut, (_, waker)) in futures.iter_mut().zip(tasks) {
        assert!(poll(fut.as_mut(), waker).is_pending());
    }
    assert!(!ctx.is_cancelled(), "the spill table had room for every waiter");
    futures
}

/// Without `alloc`, a process whose slot and the spill table are full: a `stop` from another
/// task returns `Error::Overflow` at once (the stop stays requested), a `done` completes at
/// once (while `is_done` says the truth), nobody is woken early, and the waiter that was kept
/// is woken once by the end.
#[test]
#[cfg(not(feature = "alloc"))]
fn a_process_reports_a_waiter_that_fits_nowhere() {
    let _serial = serial();
    let ctx = Ctx::new();
    let filler = counters(1 + SPILL_SLOTS);
    let spilled = fill_spill(&ctx, &filler);

    let process: Process<(), 1> = Process::new();
    let runner = procession::runner::nop();
    let root = Ctx::new();
    let tasks = counters(4);
    let mut driver = Box::pin(process.drive(&root, &runner));
    assert!(poll(driver.as_mut(), &tasks[3].1).is_pending(), "the driver waits for a start");
    let mut start = pin!(process.start(never, never));
    assert!(poll(start.as_mut(), &tasks[0].1).is_pending(), "the start waits in the slot");
    let mut stop = pin!(process.stop(never, never));
    assert_eq!(poll(stop.as_mut(), &tasks[1].1), Poll::Ready(Err(Error::Overflow)));
    assert_eq!(process.state(), State::Starting, "the stop goes on");
    let mut late = pin!(process.done());
    assert_eq!(poll(late.as_mut(), &tasks[2].1), Poll::Ready(()), "a done that fits nowhere completes at once");
    assert!(!process.is_done());
    assert_eq!(wakes(&tasks)[..3], [0, 0, 0], "nobody was woken early");
    assert_eq!(wakes(&filler), vec![0; 1 + SPILL_SLOTS]);

    drop(driver); // ends the run: Stopped, `DriverGone`
    assert_eq!(process.state(), State::Stopped);
    assert_eq!(wakes(&tasks)[..3], [1, 0, 0], "the end woke the waiter that was kept");
    assert_eq!(poll(start.as_mut(), &tasks[0].1), Poll::Ready(Err(Error::StoppedBeforeReady)));
    ctx.cancel();
    drop(spilled);
    assert_eq!(wakes(&filler), vec![1; 1 + SPILL_SLOTS]);
}

/// Without `alloc`, a `Many` whose slots and the spill table are full: `close` from one more
/// task is `shot::Error::Overflow` (the close stays requested), `done` completes at once, and
/// the waiters in the slots are woken once each by the end of the run, nobody before.
#[test]
#[cfg(not(feature = "alloc"))]
fn a_many_reports_a_waiter_that_fits_nowhere() {
    let _serial = serial();
    let ctx = Ctx::new();
    let filler = counters(1 + SPILL_SLOTS);
    let spilled = fill_spill(&ctx, &filler);

    let many: procession::shot::Many<'_> = procession::shot::Many::detached();
    let run = many.start().unwrap();
    let tasks = counters(WAITER_SLOTS + 2);
    let mut kept: Vec<_> = (0..WAITER_SLOTS).map(|_| Box::pin(many.done())).collect();
    for (fut, (_, waker)) in kept.iter_mut().zip(&tasks) {
        assert!(poll(fut.as_mut(), waker).is_pending());
    }
    let mut close = pin!(many.close(core::future::pending()));
    assert_eq!(poll(close.as_mut(), &tasks[WAITER_SLOTS].1), Poll::Ready(Err(procession::shot::Error::Overflow)));
    assert!(run.context().is_cancelled(), "the close stays requested");
    let mut late = pin!(many.done());
    assert_eq!(poll(late.as_mut(), &tasks[WAITER_SLOTS + 1].1), Poll::Ready(()));
    assert!(!many.is_done());
    assert_eq!(wakes(&tasks), vec![0; WAITER_SLOTS + 2], "nobody was woken early");

    drop(run);
    assert_eq!(many.state(), procession::shot::State::Closed);
    let mut expected = vec![1; WAITER_SLOTS];
    expected.extend([0, 0]);
    assert_eq!(wakes(&tasks), expected);
    ctx.cancel_with(procession::Cause::Shutdown);
    drop(spilled);
}

/// With `alloc`, any number of distinct tasks wait on a process with one slot: none is woken
/// before the end, each once by it.
#[test]
#[cfg(feature = "alloc")]
fn any_number_of_tasks_wait_on_a_process() {
    let _serial = serial();
    let process: Process<(), 1> = Process::new();
    let tasks = counters(4 * SPILL_SLOTS);
    let mut futures: Vec<_> = tasks.iter().map(|_| Box::pin(process.done())).collect();
    for _ in 0..2 {
        for (fut, (_, waker)) in futures.iter_mut().zip(&tasks) {
            assert!(poll(fut.as_mut(), waker).is_pending());
        }
    }
    assert_eq!(wakes(&tasks), vec![0; 4 * SPILL_SLOTS], "a waiter was woken early");
    assert!(process.request_stop());
    assert_eq!(wakes(&tasks), vec![1; 4 * SPILL_SLOTS]);
    for (fut, (_, waker)) in futures.iter_mut().zip(&tasks) {
        assert_eq!(poll(fut.as_mut(), waker), Poll::Ready(()));
    }
}

/// A waker that panics when woken (an executor torn down under its task).
struct Panics;

impl Wake for Panics {
    fn wake(self: Arc<Self>) {
        panic!("waker panics");
    }
}

/// More tasks wait on a context than one batch of the spill table's wakeups (eight) holds, and
/// the last of them to register has a waker that panics when the context is cancelled: the panic
/// unwinds through the cancel, and every other task is still woken, the ones of the later
/// batches too. (A batch takes the first entry of the key, then the entries swapped into its
/// place, the last first: the panicking waker is in the first batch.)
#[test]
fn a_panicking_waker_does_not_lose_the_later_batches_of_the_spill_table() {
    let _serial = serial();
    let ctx = Ctx::new();
    // The context's own slot, then ten tasks and the panicking one in the spill table (room for
    // them without `alloc`).
    let tasks = counters(11);
    assert!(tasks.len() <= SPILL_SLOTS);
    let panics = Waker::from(Arc::new(Panics));
    let mut futures: Vec<_> = (0..=tasks.len()).map(|_| Box::pin(ctx.cancelled())).collect();
    let wakers = tasks.iter().map(|(_, waker)| waker).chain([&panics]);
    for (fut, waker) in futures.iter_mut().zip(wakers) {
        assert!(poll(fut.as_mut(), waker).is_pending());
    }
    let cancel = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| ctx.cancel()));
    assert!(cancel.is_err(), "the panicking waker was woken");
    assert!(ctx.is_cancelled());
    assert_eq!(wakes(&tasks), vec![1; tasks.len()], "a waiter was lost to the panic");
}

/// A process dropped while tasks that waited on it had spilled into the spill table takes their
/// entries with it: a new process in the same place (the same key in the table) that spills
/// too, and stops, wakes its own waiters only, never the tasks of the old one.
#[test]
fn a_dropped_process_leaves_nothing_in_the_spill_table() {
    let _serial = serial();
    let old = counters(3);
    let new = counters(2);
    let mut process: Process<(), 1> = Process::new();
    {
        let mut futures: Vec<_> = old.iter().map(|_| Box::pin(process.done())).collect();
        for (fut, (_, waker)) in futures.iter_mut().zip(&old) {
            assert!(poll(fut.as_mut(), waker).is_pending());
        }
    }
    // Dropped in place, and a new one there: the same address, so the same key.
    process = Process::new();
    let mut futures: Vec<_> = new.iter().map(|_| Box::pin(process.done())).collect();
    for (fut, (_, waker)) in futures.iter_mut().zip(&new) {
        assert!(poll(fut.as_mut(), waker).is_pending());
    }
    assert!(process.request_stop());
    assert_eq!(wakes(&new), vec![1; 2]);
    assert_eq!(wakes(&old), vec![0; 3], "a task of the dropped process was woken: its spill entries outlived it");
}

/// A `from_fn` runner whose closure marks itself ready, then waits for a stop from one future
/// per task of `tasks`, each polled with that task's waker (as a `FuturesUnordered` in the
/// closure would poll them), and never returns.
fn waits_for_a_stop(tasks: &[(Arc<Counter>, Waker)]) -> impl procession::Runner<core::convert::Infallible> + '_ {
    use procession::runner::{Lifecycle, from_fn};
    from_fn(async move |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), core::convert::Infallible> {
        lc.ready();
        let mut stops: Vec<_> = tasks.iter().map(|_| Box::pin(lc.stop_requested())).collect();
        for (stop, (_, waker)) in stops.iter_mut().zip(tasks) {
            assert!(poll(stop.as_mut(), waker).is_pending());
        }
        core::future::pending::<()>().await;
        drop(stops);
        Ok(())
    })
}

/// The public API reaches more waiters on one internal `Event` than its two slots:
/// `Lifecycle::stop_requested` of a `from_fn` runner, from three tasks. The third spills into
/// the spill table under the event's key. Two runs at once: the stop of one wakes its own three
/// waiters, never the spilled waiter of the other (every event under one key would), and the
/// other, dropped before its stop, takes its spilled entry with it (counts the wakers'
/// references: the spill table would keep a clone).
#[test]
fn the_stop_events_of_two_lifecycles_keep_their_spilled_waiters_apart() {
    use procession::Runner;
    let _serial = serial();
    let (a, b) = (counters(3), counters(3));
    let (runner_a, runner_b) = (waits_for_a_stop(&a), waits_for_a_stop(&b));
    let (ctx_a, ctx_b) = (Ctx::new(), Ctx::new());
    // A's callback returns at once (its lifecycle then reports a graceful stop); B's never.
    let mut run_a = Box::pin(runner_a.run(&ctx_a, async |_: &Ctx<'_>| Ok(())));
    let mut run_b = Box::pin(runner_b.run(&ctx_b, async |_: &Ctx<'_>| {
        core::future::pending::<()>().await;
        Ok(())
    }));
    // The first poll marks the run ready and registers the waiters, the second runs the callback.
    for _ in 0..2 {
        assert!(poll(run_b.as_mut(), Waker::noop()).is_pending());
        assert!(poll(run_a.as_mut(), Waker::noop()).is_pending());
    }
    assert_eq!(wakes(&a), vec![1; 3], "A's stop wakes each of its waiters once");
    assert_eq!(wakes(&b), vec![0; 3], "A's stop woke a waiter of B");
    drop(run_b);
    drop(ctx_b);
    assert_eq!(wakes(&b), vec![0; 3]);
    let refs: Vec<_> = b.iter().map(|(c, _)| Arc::strong_count(c)).collect();
    assert_eq!(refs, vec![2; 3], "a waker of B's dropped run was left in the spill table");
    drop(run_a);
}
