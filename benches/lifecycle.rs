//! The cost of one lifecycle cycle, against the floor of plain joined futures and against the
//! usual ways of doing the same on tokio, side by side in one criterion run.
//!
//! One **cycle** builds `N` children, starts them, waits until all are ready, runs the main
//! callback (which returns at once), stops every child gracefully and waits until all have
//! returned. It is measured for `N` = 10, 100 and 1000, for:
//!
//! - `parallel([leaf; N])` and `chain([leaf; N])` (each leaf `async |ctx| { ctx.cancelled().await;
//!   Ok(()) }`, a one-byte error), on `futures::executor::block_on` and on a tokio current-thread
//!   runtime;
//! - the **floor**: `N` futures joined with `embassy_futures::join::join_array`, each waiting on
//!   one shared no-alloc latch (an `AtomicBool` and a `futures::task::AtomicWaker`) that an extra
//!   arm releases once all are pending, so that each is polled exactly twice. No lifecycle at all;
//! - `FuturesUnordered` of `N` futures that count themselves ready and wait on a latch of many
//!   wakers, released once all are ready (heap; both executors);
//! - tokio-util: `N` tasks spawned on a `TaskTracker`, each waiting on a child token of one
//!   `CancellationToken`, cancelled once all are running (heap, spawning; tokio only);
//! - tokio-graceful-shutdown: a `Toplevel` of `N` subsystems, each waiting until shutdown is
//!   requested, requested once all are running (heap, spawning; tokio only).
//!
//! A second group measures the **cancel fan-out** of one `Ctx` to `N` waiters: `N`
//! `ctx.cancelled()` futures in a `join_array`, cancelled from an extra arm once all are pending,
//! on a root and on a grandchild (three levels, as a leaf's context in a `parallel`).
//!
//! Before criterion runs, one cycle of each case is run outside the timing to count heap
//! allocations (the counting global allocator of `allocation-counter`, per thread) and polls (a
//! wrapper future that counts its polls, compiled in only for that run), and the figures are
//! printed as a markdown table; then **polls per wake**: a tree of 1000 children, all waiting,
//! one of which is woken: how many children the tree polls for it (an array without `alloc`, a
//! `Vec` with it).
//!
//! Run with `cargo bench --bench lifecycle -- --warm-up-time 1 --measurement-time 2`; add
//! `--features alloc` for the `Vec` case, and `LIFECYCLE_REPORT_ONLY=1` to print the counts
//! without timing. Results are in `benches/RESULTS.md`.

extern crate alloc;

use alloc::sync::Arc;
use alloc::task::Wake;
use core::cell::Cell;
use core::convert::Infallible;
use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::Mutex;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use embassy_futures::join::{join, join_array};
use embassy_futures::select::select;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use futures::task::AtomicWaker;
use procession::{Ctx, Merge, MultiError, Runner, chain, leaf, parallel};
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio_graceful_shutdown::{SubsystemBuilder, SubsystemHandle, Toplevel};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Polls of the measured child futures (leaf run futures, floor waiters, fan-out waiters).
static CHILD_POLLS: AtomicUsize = AtomicUsize::new(0);
/// Polls of the whole cycle future by the executor.
static TASK_POLLS: AtomicUsize = AtomicUsize::new(0);

/// The smallest error type a tree can have: one byte, keeps the first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failed;

impl Merge for Failed {
    fn merge(self, _later: Self) -> Self {
        self
    }
}

/// A typical error type: a bounded list of failures (80 bytes).
type ListError = MultiError<&'static str, 4>;

/// Runs `fut`, counting each of its polls in `polls`.
///
/// Only for counting: as an `async fn` it holds `fut` twice.
async fn counted<F: Future>(polls: &AtomicUsize, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        polls.fetch_add(1, Ordering::Relaxed);
        fut.as_mut().poll(cx)
    })
    .await
}

// === the cases ===

/// One full lifecycle cycle of `parallel([leaf; N])`, tree built inside the cycle.
async fn lifecycle<E: Merge, const N: usize>() -> Result<(), E> {
    let root = Ctx::new();
    let tree = parallel(core::array::from_fn::<_, N, _>(|_| {
        leaf(async |ctx: &Ctx<'_>| -> Result<(), E> {
            ctx.cancelled().await;
            Ok(())
        })
    }));
    tree.run(&root, async |_: &Ctx<'_>| Ok(())).await
}

/// [`lifecycle`] with each leaf's run future counting its polls in `CHILD_POLLS`.
async fn lifecycle_counted<E: Merge, const N: usize>() -> Result<(), E> {
    let root = Ctx::new();
    let tree = parallel(core::array::from_fn::<_, N, _>(|_| {
        leaf(async |ctx: &Ctx<'_>| -> Result<(), E> {
            counted(&CHILD_POLLS, async { ctx.cancelled().await }).await;
            Ok(())
        })
    }));
    tree.run(&root, async |_: &Ctx<'_>| Ok(())).await
}

/// One full lifecycle cycle of `chain([leaf; N])`; with `COUNT`, leaves count their polls.
async fn chain_cycle<const N: usize, const COUNT: bool>() -> Result<(), Failed> {
    let root = Ctx::new();
    let tree = chain(core::array::from_fn::<_, N, _>(|_| {
        leaf(async |ctx: &Ctx<'_>| -> Result<(), Failed> {
            if COUNT {
                counted(&CHILD_POLLS, async { ctx.cancelled().await }).await;
            } else {
                ctx.cancelled().await;
            }
            Ok(())
        })
    }));
    tree.run(&root, async |_: &Ctx<'_>| Ok(())).await
}

/// A no-alloc latch: a flag and one waker slot.
struct Latch {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Latch {
    fn new() -> Self {
        Self { set: AtomicBool::new(false), waker: AtomicWaker::new() }
    }

    fn poll_wait(&self, cx: &core::task::Context<'_>) -> Poll<()> {
        if self.set.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.set.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending }
    }

    fn release(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// The floor: `N` futures in a `join_array` waiting on one latch, released by an extra arm
/// polled after them (so each waiter is polled twice). No lifecycle.
async fn floor<const N: usize, const COUNT: bool>() {
    let latch = Latch::new();
    let latch = &latch;
    let waiters: [_; N] = core::array::from_fn(|_| {
        poll_fn(move |cx| {
            if COUNT {
                CHILD_POLLS.fetch_add(1, Ordering::Relaxed);
            }
            latch.poll_wait(cx)
        })
    });
    join(join_array(waiters), async { latch.release() }).await;
}

/// A latch of many wakers (heap): every waiter that registers is woken by the release.
struct ListLatch {
    set: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl ListLatch {
    fn new() -> Self {
        Self { set: AtomicBool::new(false), wakers: Mutex::new(Vec::new()) }
    }

    fn poll_wait(&self, cx: &Context<'_>) -> Poll<()> {
        if self.set.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let mut wakers = self.wakers.lock().expect("not poisoned");
        if self.set.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        // No search for a waker already there: each waiter here is polled once before the
        // release (a spurious poll would only add a wake).
        wakers.push(cx.waker().clone());
        Poll::Pending
    }

    fn release(&self) {
        self.set.store(true, Ordering::Release);
        let wakers = core::mem::take(&mut *self.wakers.lock().expect("not poisoned"));
        for waker in wakers {
            waker.wake();
        }
    }
}

/// `FuturesUnordered` of `N` futures that count themselves ready and wait on a [`ListLatch`]
/// (each with a waker of its own), released once all are ready; then drained.
async fn unordered<const N: usize, const COUNT: bool>() {
    let latch = ListLatch::new();
    let ready = Cell::new(0);
    let (latch, ready) = (&latch, &ready);
    let mut set: FuturesUnordered<_> = (0..N)
        .map(|_| async move {
            ready.set(ready.get() + 1);
            let wait = poll_fn(|cx| latch.poll_wait(cx));
            if COUNT {
                counted(&CHILD_POLLS, wait).await;
            } else {
                wait.await;
            }
        })
        .collect();
    poll_fn(|cx| {
        while let Poll::Ready(Some(())) = set.poll_next_unpin(cx) {}
        if ready.get() == N { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    latch.release();
    while set.next().await.is_some() {}
}

/// tokio-util: `N` tasks spawned on a `TaskTracker`, each waiting on a child token, cancelled
/// once all are running; then the tracker is waited for. Only on a tokio runtime.
async fn tracker<const N: usize, const COUNT: bool>() {
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    let running = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(Notify::new());
    for _ in 0..N {
        let child = token.child_token();
        let (running, all) = (running.clone(), all.clone());
        tracker.spawn(async move {
            if running.fetch_add(1, Ordering::Relaxed) + 1 == N {
                all.notify_one();
            }
            if COUNT {
                counted(&CHILD_POLLS, child.cancelled()).await;
            } else {
                child.cancelled().await;
            }
        });
    }
    tracker.close();
    all.notified().await;
    token.cancel();
    tracker.wait().await;
}

/// tokio-graceful-shutdown: a `Toplevel` of `N` subsystems, each waiting until shutdown is
/// requested, requested once all are running. Only on a tokio runtime.
async fn graceful_shutdown<const N: usize, const COUNT: bool>() {
    Toplevel::<Infallible>::new(|s| async move {
        let running = Arc::new(AtomicUsize::new(0));
        let all = Arc::new(Notify::new());
        for _ in 0..N {
            let (running, all) = (running.clone(), all.clone());
            s.start(SubsystemBuilder::new("leaf", move |sub: SubsystemHandle<Infallible>| async move {
                if running.fetch_add(1, Ordering::Relaxed) + 1 == N {
                    all.notify_one();
                }
                if COUNT {
                    counted(&CHILD_POLLS, sub.on_shutdown_requested()).await;
                } else {
                    sub.on_shutdown_requested().await;
                }
                Ok::<(), Infallible>(())
            }));
        }
        all.notified().await;
        s.request_shutdown();
    })
    .handle_shutdown_requests(Duration::from_secs(60))
    .await
    .expect("every subsystem returns Ok");
}

/// Cancel fan-out: `N` waiters on one context `DEPTH` levels below a root (1 = the root itself),
/// the root cancelled by an extra arm polled after them. With `COUNT`, waiters count their polls.
async fn fanout<const N: usize, const DEPTH: usize, const COUNT: bool>() {
    let root = Ctx::new();
    let mid = root.child();
    let low = mid.child();
    let ctx = match DEPTH {
        1 => &root,
        2 => &mid,
        _ => &low,
    };
    let waiters: [_; N] = core::array::from_fn(|_| {
        let mut cancelled = ctx.cancelled();
        poll_fn(move |cx| {
            if COUNT {
                CHILD_POLLS.fetch_add(1, Ordering::Relaxed);
            }
            Pin::new(&mut cancelled).poll(cx)
        })
    });
    join(join_array(waiters), async { root.cancel() }).await;
}

// === executors ===

#[derive(Clone, Copy)]
enum Exec<'r> {
    BlockOn,
    Tokio(&'r Runtime),
}

impl Exec<'_> {
    fn name(self) -> &'static str {
        match self {
            Self::BlockOn => "block_on",
            Self::Tokio(_) => "tokio_ct",
        }
    }

    /// Runs a future pinned by the caller, as a user with a large tree future would: passed by
    /// value, tokio's `block_on` boxes any future larger than 16 KiB.
    fn run<F: Future>(self, fut: Pin<&mut F>) -> F::Output {
        match self {
            Self::BlockOn => futures::executor::block_on(fut),
            Self::Tokio(rt) => rt.block_on(fut),
        }
    }
}

// === counting outside the timing ===

/// What one cycle cost, counted outside criterion's timing.
struct Counts {
    allocations: u64,
    bytes: u64,
    child_polls: usize,
    task_polls: usize,
}

/// Runs one cycle of `make()` on `exec` and counts allocations and polls.
fn count<F: Future>(exec: Exec<'_>, make: impl Fn() -> F) -> Counts {
    // A first cycle outside the count: lazily initialised executor state (thread-locals).
    exec.run(pin!(make()));
    CHILD_POLLS.store(0, Ordering::Relaxed);
    TASK_POLLS.store(0, Ordering::Relaxed);
    let info = allocation_counter::measure(|| {
        let mut fut = pin!(make());
        exec.run(pin!(poll_fn(|cx| {
            TASK_POLLS.fetch_add(1, Ordering::Relaxed);
            fut.as_mut().poll(cx)
        })));
    });
    Counts {
        allocations: info.count_total,
        bytes: info.bytes_total,
        child_polls: CHILD_POLLS.load(Ordering::Relaxed),
        task_polls: TASK_POLLS.load(Ordering::Relaxed),
    }
}

fn print_row(case: &str, n: usize, exec: Exec<'_>, size: usize, c: &Counts) {
    #[allow(clippy::cast_precision_loss, reason = "small counts")]
    let per_child = c.child_polls as f64 / n as f64;
    println!(
        "| {case} | {n} | {} | {size} | {} | {} | {per_child:.2} | {} |",
        exec.name(),
        c.allocations,
        c.bytes,
        c.task_polls,
    );
}

fn report_n<const N: usize>(rt: &Runtime) {
    for exec in [Exec::BlockOn, Exec::Tokio(rt)] {
        let size = core::mem::size_of_val(&lifecycle::<Failed, N>());
        let counts = count(exec, || async { assert_eq!(lifecycle_counted::<Failed, N>().await, Ok(())) });
        print_row("parallel([leaf; N])", N, exec, size, &counts);
        let size = core::mem::size_of_val(&chain_cycle::<N, false>());
        let counts = count(exec, || async { assert_eq!(chain_cycle::<N, true>().await, Ok(())) });
        print_row("chain([leaf; N])", N, exec, size, &counts);
        let size = core::mem::size_of_val(&floor::<N, false>());
        print_row("floor", N, exec, size, &count(exec, floor::<N, true>));
        let size = core::mem::size_of_val(&unordered::<N, false>());
        print_row("FuturesUnordered + latch", N, exec, size, &count(exec, unordered::<N, true>));
    }
    let tokio = Exec::Tokio(rt);
    let size = core::mem::size_of_val(&tracker::<N, false>());
    print_row("TaskTracker + child tokens", N, tokio, size, &count(tokio, tracker::<N, true>));
    let size = core::mem::size_of_val(&graceful_shutdown::<N, false>());
    print_row("tokio-graceful-shutdown", N, tokio, size, &count(tokio, graceful_shutdown::<N, true>));
    // The same cycle handed to tokio by value: tokio boxes futures larger than 16 KiB.
    rt.block_on(lifecycle::<Failed, N>()).expect("ok");
    let info = allocation_counter::measure(|| rt.block_on(lifecycle::<Failed, N>()).expect("ok"));
    println!(
        "| parallel, future passed by value | {N} | tokio_ct | {} | {} | {} | | |",
        core::mem::size_of_val(&lifecycle::<Failed, N>()),
        info.count_total,
        info.bytes_total
    );
    let size = core::mem::size_of_val(&lifecycle::<ListError, N>());
    let counts = count(Exec::BlockOn, || async { assert!(lifecycle_counted::<ListError, N>().await.is_ok()) });
    print_row("parallel, E = MultiError<_, 4>", N, Exec::BlockOn, size, &counts);
    let size = core::mem::size_of_val(&fanout::<N, 1, false>());
    print_row("cancel fan-out, root", N, Exec::BlockOn, size, &count(Exec::BlockOn, fanout::<N, 1, true>));
    let size = core::mem::size_of_val(&fanout::<N, 3, false>());
    print_row("cancel fan-out, depth 3", N, Exec::BlockOn, size, &count(Exec::BlockOn, fanout::<N, 3, true>));
}

// === polls per wake ===

/// The waker of a task polled by hand: counts its wakes.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Polls `fut` while its waker was woken since the last poll (at most `budget` polls); returns
/// the polls made and the output, if it completed.
fn poll_while_woken<F: Future + ?Sized>(
    mut fut: Pin<&mut F>,
    flag: &Arc<Flag>,
    budget: usize,
) -> (usize, Option<F::Output>) {
    let waker = Waker::from(flag.clone());
    let mut polls = 0;
    while polls < budget && flag.0.swap(false, Ordering::Relaxed) {
        polls += 1;
        if let Poll::Ready(output) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            return (polls, Some(output));
        }
    }
    (polls, None)
}

/// One tree of children all waiting, child 0 also on a latch that the test releases: how many
/// child polls (and task polls) the release of that one child's latch costs.
struct PerWake {
    child_polls: usize,
    task_polls: usize,
    /// The tree went to sleep before the wake (it does not busy-loop).
    slept: bool,
}

/// Measures [`PerWake`] for `tree`, one of whose children waits on `poke`; its main callback
/// waits on a latch of its own.
fn per_wake<R: Runner<Failed>>(poke: &Latch, tree: &R) -> PerWake {
    let gate = Latch::new();
    let root = Ctx::new();
    let mut fut = pin!(tree.run(&root, async |_: &Ctx<'_>| {
        poll_fn(|cx| gate.poll_wait(cx)).await;
        Ok(())
    }));
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let (_, output) = poll_while_woken(fut.as_mut(), &flag, 10_000);
    assert!(output.is_none(), "the tree returned before its callback was released");
    // A tree that keeps waking itself never sleeps: then the figure below is what one poll of
    // it costs, the poke included.
    let slept = !flag.0.swap(false, Ordering::Relaxed);
    CHILD_POLLS.store(0, Ordering::Relaxed);
    poke.release();
    let (task_polls, output) = poll_while_woken(fut.as_mut(), &flag, 1);
    assert!(output.is_none(), "the tree returned before its callback was released");
    let child_polls = CHILD_POLLS.load(Ordering::Relaxed);
    gate.release();
    flag.0.store(true, Ordering::Relaxed);
    let (_, output) = poll_while_woken(fut.as_mut(), &flag, 1_000_000);
    assert_eq!(output, Some(Ok(())), "the tree returns once its callback is released");
    PerWake { child_polls, task_polls, slept }
}

/// A leaf that waits until its context is cancelled, counting the polls of its run future;
/// child `i == 0` first also waits on `poke` (and keeps waiting on its context after it).
fn poked_leaf(i: usize, poke: &Latch) -> impl Runner<Failed> + '_ {
    leaf(async move |ctx: &Ctx<'_>| -> Result<(), Failed> {
        counted(&CHILD_POLLS, async {
            if i == 0 {
                select(ctx.cancelled(), poll_fn(|cx| poke.poll_wait(cx))).await;
            }
            ctx.cancelled().await;
        })
        .await;
        Ok(())
    })
}

fn report_per_wake() {
    println!("Polls per wake: a parallel of 1000 waiting leaves, one of which is woken (one task poll).");
    println!();
    println!("| children | slept before the wake | task polls | child polls for the wake |");
    println!("|---|---|---:|---:|");
    let poke = Latch::new();
    let w = per_wake(&poke, &parallel(core::array::from_fn::<_, 1000, _>(|i| poked_leaf(i, &poke))));
    println!("| array of 1000 (no alloc) | {} | {} | {} |", w.slept, w.task_polls, w.child_polls);
    #[cfg(feature = "alloc")]
    {
        let poke = Latch::new();
        let w = per_wake(&poke, &parallel((0..1000).map(|i| poked_leaf(i, &poke)).collect::<Vec<_>>()));
        println!("| Vec of 1000 (alloc) | {} | {} | {} |", w.slept, w.task_polls, w.child_polls);
    }
    #[cfg(not(feature = "alloc"))]
    println!("| Vec of 1000 (alloc) | | | run with `--features alloc` |");
    println!();
}

fn report(rt: &Runtime) {
    println!("One cycle, counted outside the timing.");
    println!("polls/child: polls of each child's run future (floor, fan-out: of each waiter);");
    println!("task polls: polls of the whole cycle future by the executor (not counted for spawned tasks).");
    println!();
    println!("| case | N | executor | future bytes | allocations | bytes allocated | polls/child | task polls |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    report_n::<10>(rt);
    report_n::<100>(rt);
    report_n::<1000>(rt);
    println!();
    report_per_wake();
}

// === timing ===

fn lifecycle_n<const N: usize>(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime) {
    group.throughput(Throughput::Elements(N as u64));
    for exec in [Exec::BlockOn, Exec::Tokio(rt)] {
        let name = exec.name();
        group.bench_with_input(BenchmarkId::new(format!("parallel/{name}"), N), &N, |b, _| {
            b.iter(|| exec.run(pin!(lifecycle::<Failed, N>())));
        });
        group.bench_with_input(BenchmarkId::new(format!("chain/{name}"), N), &N, |b, _| {
            b.iter(|| exec.run(pin!(chain_cycle::<N, false>())));
        });
        group.bench_with_input(BenchmarkId::new(format!("floor/{name}"), N), &N, |b, _| {
            b.iter(|| exec.run(pin!(floor::<N, false>())));
        });
        group.bench_with_input(BenchmarkId::new(format!("unordered/{name}"), N), &N, |b, _| {
            b.iter(|| exec.run(pin!(unordered::<N, false>())));
        });
    }
    let tokio = Exec::Tokio(rt);
    group.bench_with_input(BenchmarkId::new("task_tracker/tokio_ct", N), &N, |b, _| {
        b.iter(|| tokio.run(pin!(tracker::<N, false>())));
    });
    group.bench_with_input(BenchmarkId::new("graceful_shutdown/tokio_ct", N), &N, |b, _| {
        b.iter(|| tokio.run(pin!(graceful_shutdown::<N, false>())));
    });
}

fn fanout_n<const N: usize>(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.throughput(Throughput::Elements(N as u64));
    group.bench_with_input(BenchmarkId::new("root/block_on", N), &N, |b, _| {
        b.iter(|| Exec::BlockOn.run(pin!(fanout::<N, 1, false>())));
    });
    group.bench_with_input(BenchmarkId::new("depth3/block_on", N), &N, |b, _| {
        b.iter(|| Exec::BlockOn.run(pin!(fanout::<N, 3, false>())));
    });
}

fn main() {
    // A 1000-leaf tree future is about 1.4 MB and its first poll needs about 7.5 MiB of stack
    // (the array of arm futures is copied several times on the way into place): more than the
    // main thread has.
    std::thread::Builder::new()
        .name("bench".into())
        .stack_size(STACK)
        .spawn(bench)
        .expect("a bench thread")
        .join()
        .expect("the bench thread");
}

/// Stack of the thread that runs the benchmarks.
const STACK: usize = 64 << 20;

fn bench() {
    // The timer is for tokio-graceful-shutdown's shutdown timeout.
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a tokio current-thread runtime");
    report(&rt);
    if std::env::var_os("LIFECYCLE_REPORT_ONLY").is_some() {
        return;
    }

    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    let mut group = c.benchmark_group("lifecycle");
    lifecycle_n::<10>(&mut group, &rt);
    lifecycle_n::<100>(&mut group, &rt);
    lifecycle_n::<1000>(&mut group, &rt);
    group.throughput(Throughput::Elements(1000));
    group.bench_function(BenchmarkId::new("parallel_multierror/block_on", 1000), |b| {
        b.iter(|| Exec::BlockOn.run(pin!(lifecycle::<ListError, 1000>())));
    });
    group.finish();

    let mut group = c.benchmark_group("cancel_fanout");
    fanout_n::<10>(&mut group);
    fanout_n::<100>(&mut group);
    fanout_n::<1000>(&mut group);
    group.finish();

    c.final_summary();
}
