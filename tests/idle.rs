//! Polls while idle: a task waiting on a context, or a tree with nothing to do, must sleep until
//! something changes, and be woken once when it does.
//!
//! The executor here polls a task only after its waker was woken, as an embedded executor does
//! before it goes to sleep (WFE), and counts every poll and every wake. A task that keeps waking
//! itself (a busy loop) shows as a poll count that reaches the budget of [`BUDGET`] polls.
//!
//! The trees are made of children that poll their callback with a waker of their own
//! ([`OwnWaker`]), as a runner does when it runs its callback beside other futures inside a
//! `FuturesUnordered` or a `select` of its own: each child then registers a distinct waker
//! wherever its callback waits.
//!
//! Nothing in the measured paths needs `alloc`: run this file without it too
//! (`cargo test --no-default-features --test idle`). The test's own executor uses `Arc` wakers.

extern crate alloc;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::Mutex;

use embassy_futures::select::select;
use procession::{Ctx, Merge, Runner, chain, leaf, parallel, sequential};

/// More polls than any of these cases needs: reaching it means a task wakes itself for ever.
const BUDGET: usize = 10_000;

// === the executor ===

/// The waker of one task: a flag the executor reads, and a count of wakes.
#[derive(Debug, Default)]
struct TaskWaker {
    woken: AtomicBool,
    wakes: AtomicUsize,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.woken.store(true, Ordering::Relaxed);
    }
}

/// One task of a [`Poller`].
struct Task<'f> {
    fut: Pin<Box<dyn Future<Output = ()> + 'f>>,
    flag: Arc<TaskWaker>,
    waker: Waker,
    polls: usize,
    done: bool,
}

/// A deterministic single-threaded executor that polls a task only after its waker was woken.
#[derive(Default)]
struct Poller<'f> {
    tasks: Vec<Task<'f>>,
}

impl<'f> Poller<'f> {
    /// Adds a task, woken so that the next [`run`](Self::run) polls it once.
    fn spawn(&mut self, fut: impl Future<Output = ()> + 'f) {
        let fut = Box::pin(fut);
        let flag = Arc::new(TaskWaker::default());
        flag.woken.store(true, Ordering::Relaxed);
        let waker = Waker::from(flag.clone());
        self.tasks.push(Task { fut, flag, waker, polls: 0, done: false });
    }

    /// Polls the woken tasks, in rounds, until no task is woken or `budget` polls were made in
    /// all. Returns the number of polls made.
    fn run(&mut self, budget: usize) -> usize {
        let mut polls = 0;
        loop {
            let mut any = false;
            for task in &mut self.tasks {
                if task.done || !task.flag.woken.swap(false, Ordering::Relaxed) {
                    continue;
                }
                any = true;
                task.polls += 1;
                polls += 1;
                let mut cx = Context::from_waker(&task.waker);
                if task.fut.as_mut().poll(&mut cx).is_ready() {
                    task.done = true;
                }
                if polls >= budget {
                    return polls;
                }
            }
            if !any {
                return polls;
            }
        }
    }

    /// Polls and wakes of each task so far.
    fn counts(&self) -> Vec<(usize, usize)> {
        self.tasks.iter().map(|t| (t.polls, t.flag.wakes.load(Ordering::Relaxed))).collect()
    }

    fn all_done(&self) -> bool {
        self.tasks.iter().all(|t| t.done)
    }
}

// === test parts ===

/// The smallest error type a tree can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failed;

impl Merge for Failed {
    fn merge(self, _later: Self) -> Self {
        self
    }
}

/// A gate the test opens: the main callback waits on it (one flag, one waker slot).
#[derive(Debug, Default)]
struct Gate {
    open: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Gate {
    fn open(&self) {
        self.open.store(true, Ordering::Release);
        if let Some(waker) = self.waker.lock().expect("not poisoned").take() {
            waker.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.open.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            *self.waker.lock().expect("not poisoned") = Some(cx.waker().clone());
            if self.open.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
    }
}

/// A waker of its own that forwards its wakes to the waker it was last polled with.
#[derive(Debug, Default)]
struct Forward {
    to: Mutex<Option<Waker>>,
}

impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(waker) = self.to.lock().expect("not poisoned").as_ref() {
            waker.wake_by_ref();
        }
    }
}

/// A runner that polls its callback with a waker of its own (one per run), forwarding wakes to
/// the task's waker: the callback's waits register a waker distinct from those of its siblings.
#[derive(Debug, Clone, Copy)]
struct OwnWaker<R>(R);

impl<E, R: Runner<E>> Runner<E> for OwnWaker<R> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.0
            .run(ctx, async move |inner: &Ctx<'_>| {
                let forward = Arc::new(Forward::default());
                let waker = Waker::from(forward.clone());
                let mut callback = pin!(ready(inner));
                poll_fn(|cx| {
                    let mut to = forward.to.lock().expect("not poisoned");
                    if !to.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        *to = Some(cx.waker().clone());
                    }
                    drop(to);
                    callback.as_mut().poll(&mut Context::from_waker(&waker))
                })
                .await
            })
            .await
    }
}

/// The child of the measured trees: a leaf that waits until its context is cancelled, polling
/// its callback with a waker of its own.
fn child() -> OwnWaker<impl Runner<Failed> + Copy> {
    OwnWaker(leaf(async |ctx: &Ctx<'_>| -> Result<(), Failed> {
        ctx.cancelled().await;
        Ok(())
    }))
}

/// Runs `tree` on the [`Poller`], once stopped gracefully and once forced, and checks that it
/// sleeps once started (at most `max_start` polls) and returns once stopped (at most
/// `max_stop` polls), printing the polls of both runs.
/// The spill table of wakers is one for the whole program: the cases of this file run one at a
/// time, so that one case's waiters never take the room another counts on.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn idle_tree<R: Runner<Failed>>(name: &str, tree: &R, max_start: usize, max_stop: usize) {
    let _serial = one_at_a_time();
    for forced in [false, true] {
        let root = Ctx::new();
        let gate = Gate::default();
        let running = AtomicBool::new(false);
        let result = Mutex::new(None);
        let task = async {
            let outcome = tree
                .run(&root, async |ctx: &Ctx<'_>| {
                    running.store(true, Ordering::Relaxed);
                    select(gate.wait(), ctx.cancelled()).await;
                    Ok(())
                })
                .await;
            *result.lock().expect("not poisoned") = Some(outcome);
        };
        let mut poller = Poller::default();
        poller.spawn(task);
        let how = if forced { "forced" } else { "graceful" };

        let start = poller.run(BUDGET);
        assert!(running.load(Ordering::Relaxed), "{name} ({how}): the main callback does not run after {start} polls");
        assert!(
            start <= max_start,
            "{name} ({how}): {start} polls while starting and idle (at most {max_start}; budget {BUDGET})"
        );
        // Idle: nothing is woken, a further round polls nothing.
        assert_eq!(poller.run(BUDGET), 0, "{name} ({how}): woken while idle");

        if forced {
            root.cancel();
        } else {
            gate.open();
        }
        let stop = poller.run(BUDGET);
        assert!(poller.all_done(), "{name} ({how}): not returned after {stop} polls of the stop (budget {BUDGET})");
        assert!(stop <= max_stop, "{name} ({how}): {stop} polls to stop (at most {max_stop})");
        let outcome = result.lock().expect("not poisoned").take().expect("the task stored its result");
        if !forced {
            assert_eq!(outcome, Ok(()), "{name} ({how})");
        }
        println!("{name} ({how}): {start} polls to start and sleep, {stop} to stop");
    }
}

// === tasks waiting on one `static` context ===

/// `TASKS` tasks wait on `ctx`: each is polled at most twice while nothing happens, then woken
/// exactly once and polled exactly once when `ctx` is cancelled.
fn tasks_on_static<const TASKS: usize>(ctx: &'static Ctx<'static>) {
    let _serial = one_at_a_time();
    let done = AtomicUsize::new(0);
    let mut poller = Poller::default();
    for _ in 0..TASKS {
        poller.spawn(async {
            ctx.cancelled().await;
            done.fetch_add(1, Ordering::Relaxed);
        });
    }
    let idle = poller.run(BUDGET);
    let counts = poller.counts();
    println!("{TASKS} tasks on one static Ctx: {idle} polls while idle, (polls, wakes) per task {counts:?}");
    assert!(counts.iter().all(|&(polls, _)| polls <= 2), "{TASKS} tasks while idle: (polls, wakes) {counts:?}");
    assert_eq!(done.load(Ordering::Relaxed), 0);

    ctx.cancel();
    let stop = poller.run(BUDGET);
    let after: Vec<_> = poller.counts().iter().zip(&counts).map(|(a, b)| (a.0 - b.0, a.1 - b.1)).collect();
    println!("{TASKS} tasks on one static Ctx, cancelled: {stop} polls, (polls, wakes) per task {after:?}");
    assert!(poller.all_done(), "{TASKS} tasks: not all returned after the cancel: {after:?}");
    assert!(after.iter().all(|&c| c == (1, 1)), "{TASKS} tasks, after the cancel: (polls, wakes) {after:?}");
    assert_eq!(done.load(Ordering::Relaxed), TASKS);
}

/// Four tasks on one `static` context sleep while idle and are woken once by the cancel.
#[test]
fn four_tasks_on_one_static_ctx_sleep_and_wake_once() {
    static CTX: Ctx<'static> = Ctx::new();
    tasks_on_static::<4>(&CTX);
}

/// Twelve tasks on one `static` context sleep while idle and are woken once by the cancel:
/// one in the root's own slot, eleven in the spill table.
#[test]
fn twelve_tasks_on_one_static_ctx_sleep_and_wake_once() {
    static CTX: Ctx<'static> = Ctx::new();
    tasks_on_static::<12>(&CTX);
}

/// Twelve tasks on a `static` context with a pool of twelve slots (the way for a firmware with
/// many tasks on one shutdown context): the spill table is not touched.
#[test]
fn twelve_tasks_on_a_pooled_static_ctx_sleep_and_wake_once() {
    static WAITERS: procession::ctx::WaiterPool<12> = procession::ctx::WaiterPool::new();
    static CTX: Ctx<'static> = Ctx::with_waiters(&WAITERS);
    tasks_on_static::<12>(&CTX);
}

// === trees whose children poll their callbacks with wakers of their own ===

/// Children of the big trees: 32 (beyond every inline slot and the 30 of `join_all`), 10 under
/// miri, where one run of a tree of 32 takes minutes (still beyond the inline slots, so the spill
/// table is used).
const MANY: usize = if cfg!(miri) { 10 } else { 32 };

/// Polls of the tree's task allowed while it starts and goes to sleep, and while it stops:
/// a few per child (a chain starts and stops its children one after another).
const fn max_polls(children: usize) -> usize {
    4 * children + 8
}

#[test]
fn parallel_of_4_sleeps_when_idle() {
    idle_tree("parallel([r; 4])", &parallel([child(); 4]), max_polls(4), max_polls(4));
}

#[test]
fn parallel_of_5_sleeps_when_idle() {
    idle_tree("parallel([r; 5])", &parallel([child(); 5]), max_polls(5), max_polls(5));
}

#[test]
fn chain_of_8_sleeps_when_idle() {
    let r = child();
    idle_tree("chain((r, ..) x8)", &chain((r, r, r, r, r, r, r, r)), max_polls(8), max_polls(8));
}

#[test]
fn sequential_of_6_sleeps_when_idle() {
    idle_tree("sequential([r; 6])", &sequential([child(); 6]), max_polls(6), max_polls(6));
}

#[test]
fn parallel_of_32_sleeps_when_idle() {
    idle_tree("parallel([r; MANY])", &parallel([child(); MANY]), max_polls(MANY), max_polls(MANY));
}

#[test]
fn chain_of_32_sleeps_when_idle() {
    idle_tree("chain([r; MANY])", &chain([child(); MANY]), max_polls(MANY), max_polls(MANY));
}

#[test]
fn sequential_of_32_sleeps_when_idle() {
    idle_tree("sequential([r; MANY])", &sequential([child(); MANY]), max_polls(MANY), max_polls(MANY));
}

/// A tree of trees: `parallel` of four `chain`s of eight, 32 leaves in all (four of
/// two under miri: `MANY / 4`).
#[test]
fn parallel_of_chains_of_32_sleeps_when_idle() {
    let branch = chain([child(); MANY / 4]);
    idle_tree("parallel([chain([r; MANY / 4]); 4])", &parallel([branch; 4]), max_polls(MANY), max_polls(MANY));
}
