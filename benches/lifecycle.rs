//! The cost of one lifecycle cycle, against the floor of plain joined futures.
//!
//! One **cycle** builds `N` children, starts them, waits until all are ready, runs the main
//! callback (which returns at once), stops every child gracefully and waits until all have
//! returned. It is measured for `parallel([leaf; N])` on `futures::executor::block_on` and on a
//! tokio current-thread runtime, for `N` = 10, 100 and 1000.
//!
//! Beside it, in the same criterion group, the **floor**: `N` futures joined with
//! `embassy_futures::join::join_array`, each waiting on one shared no-alloc latch (an `AtomicBool`
//! and a `futures::task::AtomicWaker`) that an extra arm releases once all are pending, so that
//! each is polled exactly twice. No lifecycle at all.
//!
//! A second group measures the **cancel fan-out** of one `Ctx` to `N` waiters: `N`
//! `ctx.cancelled()` futures in a `join_array`, cancelled from an extra arm once all are pending,
//! on a root and on a grandchild (three levels, as a leaf's context in a `parallel`).
//!
//! Before criterion runs, one cycle of each case is run outside the timing to count heap
//! allocations (the counting global allocator of `allocation-counter`, per thread) and polls (a
//! wrapper future that counts its polls, compiled in only for that run), and the figures are
//! printed as a markdown table.
//!
//! Run with `cargo bench --bench lifecycle`; results are in `benches/RESULTS.md`.

use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::Poll;
use core::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use embassy_futures::join::{join, join_array};
use futures::task::AtomicWaker;
use procession::{Ctx, Merge, MultiError, Runner, leaf, parallel};
use tokio::runtime::Runtime;

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
        let size = core::mem::size_of_val(&floor::<N, false>());
        print_row("floor", N, exec, size, &count(exec, floor::<N, true>));
    }
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

fn report(rt: &Runtime) {
    println!("One cycle, counted outside the timing.");
    println!("polls/child: polls of each leaf's run future (floor, fan-out: of each waiter);");
    println!("task polls: polls of the whole cycle future by the executor.");
    println!();
    println!("| case | N | executor | future bytes | allocations | bytes allocated | polls/child | task polls |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    report_n::<10>(rt);
    report_n::<100>(rt);
    report_n::<1000>(rt);
    println!();
}

// === timing ===

fn lifecycle_n<const N: usize>(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime) {
    group.throughput(Throughput::Elements(N as u64));
    for exec in [Exec::BlockOn, Exec::Tokio(rt)] {
        group.bench_with_input(BenchmarkId::new(format!("parallel/{}", exec.name()), N), &N, |b, _| {
            b.iter(|| exec.run(pin!(lifecycle::<Failed, N>())));
        });
        group.bench_with_input(BenchmarkId::new(format!("floor/{}", exec.name()), N), &N, |b, _| {
            b.iter(|| exec.run(pin!(floor::<N, false>())));
        });
    }
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
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a tokio current-thread runtime");
    report(&rt);

    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
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
