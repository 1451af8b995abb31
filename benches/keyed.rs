//! The keyed supervisor (`table::KeyedSupervisor`, `table::DynKeyedSupervisor`): per-key
//! start-to-ready and stop-to-returned, and reconcile passes over a table of 1000 keys, beside
//! the same work with `task-supervisor` and with tokio-util's `JoinMap`.
//!
//! The worker of every case is the same: it tells that it runs, then waits until it is told to
//! stop, then returns. For procession that is `leaf(async |ctx| { ctx.cancelled().await; Ok(()) })`
//! (a leaf is ready as soon as it runs) over a table whose lookup finds every key.
//!
//! - **start**: from the call that starts one key until its worker runs (procession:
//!   `start(key).await` returns once the key is ready; task-supervisor: `add_task(..).await`
//!   returns once the task is `Running`, then we wait for the task's body to have run;
//!   `JoinMap`: `spawn(key, ..)`, then we wait for the body to have run).
//! - **stop**: from the call that stops the key until its worker has returned (procession:
//!   `stop(&key, never, never).await`, then `forget(&key)` so the next start finds no slot;
//!   task-supervisor: `kill_task(..).await`, which returns once the task is `Dead`;
//!   `JoinMap`: cancel the key's token, then `join_next().await`).
//! - **pass, start all**: a table of 1000 keys, the supervisor empty: from the start of the drive
//!   until its callback runs, which is once the first pass has started every key and each is
//!   ready (the baselines start 1000 keyed workers and wait until every body has run).
//! - **pass, all running**: 1000 keys running; from `reconcile_now()` until the pass has ended
//!   (its `Event::PassDone`), a pass that finds every key running and changes nothing
//!   (`JoinMap`: 1000 `contains_key`; task-supervisor: one `task_statuses()` and a check that
//!   each of the 1000 is `Running`).
//!
//! Variants: the fixed `KeyedSupervisor` with N = 8 (per key only) and N = 1024, the heap
//! `DynKeyedSupervisor` (per key: fresh, with one slot, and "grown", after a drive of 1000 keys:
//! its slots are kept for reuse, 1000 of them free); executors `futures::executor::block_on` and tokio current-thread (the
//! baselines spawn tasks, so tokio only). Times are measured inside one drive (or one runtime)
//! with `iter_custom`, so that only the phase named is timed. The clock is a `ManualClock` that
//! is never advanced: no timer fires, no periodic pass runs.
//!
//! Run with `bash scripts/bench` (which writes the table into README.md and
//! benches/RESULTS.md), or `cargo bench --features std --bench keyed`.

#![allow(clippy::std_instead_of_alloc, clippy::std_instead_of_core, reason = "a std benchmark")]

use core::cell::Cell;
use core::convert::Infallible;
use core::future::Future;
use core::pin::pin;
use core::time::Duration;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{BenchmarkId, Criterion};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use procession::table::{Cursor, DynKeyedSupervisor, Event, KeyedSupervisor, Setup, Table};
use procession::time::ManualClock;
use procession::{Ctx, Merge, Overrun, Runner, leaf, never, supervisor};
use tokio_util::sync::CancellationToken;
use tokio_util::task::JoinMap;

/// Keys of a reconcile pass.
const KEYS: u32 = 1000;

/// The smallest error type: keeps the first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failed;

impl Merge for Failed {
    fn merge(self, _later: Self) -> Self {
        self
    }
}

impl From<supervisor::Error> for Failed {
    fn from(_: supervisor::Error) -> Self {
        Self
    }
}

impl From<Overrun> for Failed {
    fn from(_: Overrun) -> Self {
        Self
    }
}

impl From<Infallible> for Failed {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

/// A table whose lookup finds every key (its value is the key) and whose pass yields the keys
/// `0..pass`.
struct Keys {
    pass: u32,
}

/// The cursor of a pass over [`Keys`].
struct KeysCursor {
    next: u32,
    end: u32,
}

impl Table<u32, u32> for Keys {
    type Error = Infallible;
    type Cursor<'a> = KeysCursor;

    async fn get(&self, _: &Ctx<'_>, key: &u32) -> Result<Option<u32>, Infallible> {
        Ok(Some(*key))
    }

    async fn iter(&self, _: &Ctx<'_>) -> Result<KeysCursor, Infallible> {
        Ok(KeysCursor { next: 0, end: self.pass })
    }
}

impl Cursor<u32, u32> for KeysCursor {
    type Error = Infallible;

    async fn next(&mut self, _: &Ctx<'_>) -> Result<Option<(u32, u32)>, Infallible> {
        if self.next == self.end {
            return Ok(None);
        }
        self.next += 1;
        Ok(Some((self.next - 1, self.next - 1)))
    }
}

/// The worker of every key: runs until its context is cancelled.
fn worker(_key: &u32, _value: &u32) -> impl Runner<Failed> + use<> {
    leaf(async |ctx: &Ctx<'_>| -> Result<(), Failed> {
        ctx.cancelled().await;
        Ok(())
    })
}

/// The two executors.
#[derive(Clone, Copy)]
enum Exec<'r> {
    BlockOn,
    Tokio(&'r tokio::runtime::Runtime),
}

impl Exec<'_> {
    fn name(self) -> &'static str {
        match self {
            Self::BlockOn => "block_on",
            Self::Tokio(_) => "tokio_ct",
        }
    }

    /// Runs `fut` to its end, pinned in place (tokio would box a large future given by value).
    fn run<T>(self, fut: impl Future<Output = T>) -> T {
        let fut = pin!(fut);
        match self {
            Self::BlockOn => futures::executor::block_on(fut),
            Self::Tokio(rt) => rt.block_on(fut),
        }
    }
}

/// The figures of one variant of the keyed supervisor. `$sup` is an expression of a
/// `&'static` supervisor; the handle methods are inherent, so the cases are a macro.
macro_rules! keyed_cases {
    ($exec:expr, $sup:expr, $iters:expr, $case:ident) => {{
        let exec: Exec<'_> = $exec;
        let sup = $sup;
        let iters: u64 = $iters;
        let clock = ManualClock::<16>::new();
        let root = Ctx::new();
        let total = Cell::new(Duration::ZERO);
        keyed_cases!(@$case exec, sup, iters, clock, root, total);
        total.get()
    }};
    (@start $exec:ident, $sup:ident, $iters:ident, $clock:ident, $root:ident, $total:ident) => {{
        let setup = Setup::new(Keys { pass: 0 }, worker, &$clock).every(Duration::MAX);
        let result = $exec.run($sup.drive(&$root, &setup, async |_: &Ctx<'_>| {
            for _ in 0..$iters {
                let t = Instant::now();
                $sup.start(1).await.unwrap();
                $total.set($total.get() + t.elapsed());
                $sup.stop(&1, never, never).await.unwrap();
                $sup.forget(&1).unwrap();
            }
            Ok(())
        }));
        assert_eq!(result, Ok(()));
    }};
    (@stop $exec:ident, $sup:ident, $iters:ident, $clock:ident, $root:ident, $total:ident) => {{
        let setup = Setup::new(Keys { pass: 0 }, worker, &$clock).every(Duration::MAX);
        let result = $exec.run($sup.drive(&$root, &setup, async |_: &Ctx<'_>| {
            for _ in 0..$iters {
                $sup.start(1).await.unwrap();
                let t = Instant::now();
                let stopped = $sup.stop(&1, never, never).await.unwrap();
                $total.set($total.get() + t.elapsed());
                assert_eq!(stopped.result, Ok(()));
                $sup.forget(&1).unwrap();
            }
            Ok(())
        }));
        assert_eq!(result, Ok(()));
    }};
    (@pass_start $exec:ident, $sup:ident, $iters:ident, $clock:ident, $root:ident, $total:ident) => {{
        let setup = Setup::new(Keys { pass: KEYS }, worker, &$clock).every(Duration::MAX);
        for _ in 0..$iters {
            let t = Instant::now();
            let result = $exec.run($sup.drive(&$root, &setup, async |_: &Ctx<'_>| {
                $total.set($total.get() + t.elapsed());
                assert_eq!($sup.counts().running, KEYS as usize);
                Ok(())
            }));
            assert_eq!(result, Ok(()));
        }
    }};
    (@pass_running $exec:ident, $sup:ident, $iters:ident, $clock:ident, $root:ident, $total:ident) => {{
        let pass_done = Signal::<CriticalSectionRawMutex, usize>::new();
        let observe = |event: &Event<'_, u32, Failed>| {
            if let Event::PassDone { seen, .. } = event {
                pass_done.signal(*seen);
            }
        };
        let setup = Setup::new(Keys { pass: KEYS }, worker, &$clock).every(Duration::MAX).observe(observe);
        let result = $exec.run($sup.drive(&$root, &setup, async |_: &Ctx<'_>| {
            assert_eq!($sup.counts().running, KEYS as usize);
            pass_done.reset();
            for _ in 0..$iters {
                let t = Instant::now();
                assert!($sup.reconcile_now());
                let seen = pass_done.wait().await;
                $total.set($total.get() + t.elapsed());
                assert_eq!(seen, KEYS as usize);
            }
            assert_eq!($sup.counts().running, KEYS as usize);
            Ok(())
        }));
        assert_eq!(result, Ok(()));
    }};
}

static FIXED_8: KeyedSupervisor<u32, u32, Failed, 8> = KeyedSupervisor::new();
static FIXED_1024: KeyedSupervisor<u32, u32, Failed, 1024> = KeyedSupervisor::new();
static DYN: DynKeyedSupervisor<u32, u32, Failed> = DynKeyedSupervisor::new();
/// A `DynKeyedSupervisor` that held 1000 keys once: its slots are not given back.
static DYN_GROWN: DynKeyedSupervisor<u32, u32, Failed> = DynKeyedSupervisor::new();
/// The per-key figures of `DynKeyedSupervisor`, never grown beyond one slot.
static DYN_KEY: DynKeyedSupervisor<u32, u32, Failed> = DynKeyedSupervisor::new();

/// The worker of the baselines: says it runs, waits for its token, returns.
async fn baseline_worker(
    cancel: CancellationToken,
    running: Arc<AtomicUsize>,
    all: Arc<tokio::sync::Notify>,
    want: usize,
) {
    if running.fetch_add(1, Ordering::AcqRel) + 1 == want {
        all.notify_one();
    }
    cancel.cancelled().await;
}

/// The task of the task-supervisor baseline.
#[derive(Clone)]
struct Worker {
    running: Arc<AtomicUsize>,
    all: Arc<tokio::sync::Notify>,
    want: usize,
}

impl task_supervisor::SupervisedTask for Worker {
    async fn run(self, cancel: task_supervisor::CancellationToken) -> task_supervisor::TaskResult {
        if self.running.fetch_add(1, Ordering::AcqRel) + 1 == self.want {
            self.all.notify_one();
        }
        cancel.cancelled().await;
        Ok(())
    }
}

/// A task-supervisor with no task, its defaults otherwise (a killed task stays dead).
fn task_supervisor() -> task_supervisor::SupervisorHandle {
    task_supervisor::SupervisorBuilder::new().spawn()
}

/// task-supervisor: per key `add_task` until its body runs (`start`), or `kill_task` until it is
/// dead (`stop`). Names are fresh: 0.5 has no removal, a killed task stays `Dead` under its name.
async fn task_supervisor_key(iters: u64, time_start: bool) -> Duration {
    let handle = task_supervisor();
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let worker =
            Worker { running: Arc::new(AtomicUsize::new(0)), all: Arc::new(tokio::sync::Notify::new()), want: 1 };
        let name = format!("k{i}");
        let t = Instant::now();
        handle.add_task(&name, worker.clone()).await.unwrap();
        worker.all.notified().await;
        if time_start {
            total += t.elapsed();
        }
        let t = Instant::now();
        handle.kill_task(&name).await.unwrap();
        if !time_start {
            total += t.elapsed();
        }
    }
    let _ = handle.shutdown().await;
    total
}

/// task-supervisor: add 1000 tasks and wait until each body runs (`start_all`), or one
/// `task_statuses` that finds each of them running.
async fn task_supervisor_pass(iters: u64, start_all: bool) -> Duration {
    let mut total = Duration::ZERO;
    let names: Vec<String> = (0..KEYS).map(|k| format!("k{k}")).collect();
    let mut handle = None;
    for i in 0..iters {
        if start_all || i == 0 {
            if let Some(old) = handle.take() {
                let old: task_supervisor::SupervisorHandle = old;
                let _ = old.shutdown().await;
            }
            let fresh = task_supervisor();
            let worker = Worker {
                running: Arc::new(AtomicUsize::new(0)),
                all: Arc::new(tokio::sync::Notify::new()),
                want: KEYS as usize,
            };
            let t = Instant::now();
            for name in &names {
                fresh.add_task(name, worker.clone()).await.unwrap();
            }
            worker.all.notified().await;
            if start_all {
                total += t.elapsed();
            }
            handle = Some(fresh);
        }
        if !start_all {
            let handle = handle.as_ref().unwrap();
            let t = Instant::now();
            let statuses = handle.task_statuses().await.unwrap();
            let all = names.iter().all(|n| statuses.get(n.as_str()) == Some(&task_supervisor::TaskStatus::Running));
            total += t.elapsed();
            assert!(all);
        }
    }
    if let Some(handle) = handle {
        let _ = handle.shutdown().await;
    }
    total
}

/// `JoinMap` with a token per key: per key `spawn` until its body runs (`start`), or cancel and
/// `join_next` (`stop`).
async fn join_map_key(iters: u64, time_start: bool) -> Duration {
    let mut map = JoinMap::new();
    let mut tokens = HashMap::new();
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (running, all) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Notify::new()));
        let t = Instant::now();
        let token = CancellationToken::new();
        map.spawn(1u32, baseline_worker(token.clone(), running, all.clone(), 1));
        tokens.insert(1u32, token);
        all.notified().await;
        if time_start {
            total += t.elapsed();
        }
        let t = Instant::now();
        tokens.remove(&1).unwrap().cancel();
        let (key, result) = map.join_next().await.unwrap();
        if !time_start {
            total += t.elapsed();
        }
        assert_eq!(key, 1);
        result.unwrap();
    }
    total
}

/// `JoinMap`: spawn 1000 keyed tasks and wait until each body runs (`start_all`), or a pass of
/// `contains_key` over the 1000 keys that finds each running.
async fn join_map_pass(iters: u64, start_all: bool) -> Duration {
    let mut total = Duration::ZERO;
    let mut map: JoinMap<u32, ()> = JoinMap::new();
    let mut tokens = HashMap::new();
    for i in 0..iters {
        if start_all || i == 0 {
            for token in tokens.values() {
                CancellationToken::cancel(token);
            }
            while map.join_next().await.is_some() {}
            tokens.clear();
            let (running, all) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Notify::new()));
            let t = Instant::now();
            for key in 0..KEYS {
                if !map.contains_key(&key) {
                    let token = CancellationToken::new();
                    map.spawn(key, baseline_worker(token.clone(), running.clone(), all.clone(), KEYS as usize));
                    tokens.insert(key, token);
                }
            }
            all.notified().await;
            if start_all {
                total += t.elapsed();
            }
        }
        if !start_all {
            let t = Instant::now();
            let mut started = 0;
            for key in 0..KEYS {
                if !core::hint::black_box(&map).contains_key(&key) {
                    started += 1;
                }
            }
            total += t.elapsed();
            assert_eq!(started, 0);
        }
    }
    for token in tokens.values() {
        token.cancel();
    }
    while map.join_next().await.is_some() {}
    total
}

fn keyed(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let execs = [Exec::BlockOn, Exec::Tokio(&rt)];
    // One drive of 1000 keys, so that DYN_GROWN keeps 1000 free slots.
    keyed_cases!(Exec::BlockOn, &DYN_GROWN, 1, pass_start);
    let mut group = c.benchmark_group("keyed");
    for exec in execs {
        let x = exec.name();
        group.bench_function(BenchmarkId::new("start/fixed_8", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &FIXED_8, n, start));
        });
        group.bench_function(BenchmarkId::new("start/fixed_1024", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &FIXED_1024, n, start));
        });
        group.bench_function(BenchmarkId::new("start/dyn", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &DYN_KEY, n, start));
        });
        group.bench_function(BenchmarkId::new("start/dyn_grown", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &DYN_GROWN, n, start));
        });
        group.bench_function(BenchmarkId::new("stop/fixed_8", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &FIXED_8, n, stop));
        });
        group.bench_function(BenchmarkId::new("stop/fixed_1024", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &FIXED_1024, n, stop));
        });
        group.bench_function(BenchmarkId::new("stop/dyn", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &DYN_KEY, n, stop));
        });
        group.bench_function(BenchmarkId::new("stop/dyn_grown", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &DYN_GROWN, n, stop));
        });
        group.bench_function(BenchmarkId::new("pass_start/fixed_1024", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &FIXED_1024, n, pass_start));
        });
        group.bench_function(BenchmarkId::new("pass_start/dyn", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &DYN, n, pass_start));
        });
        group.bench_function(BenchmarkId::new("pass_running/fixed_1024", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &FIXED_1024, n, pass_running));
        });
        group.bench_function(BenchmarkId::new("pass_running/dyn", x), |b| {
            b.iter_custom(|n| keyed_cases!(exec, &DYN, n, pass_running));
        });
    }
    let x = "tokio_ct";
    group.bench_function(BenchmarkId::new("start/task_supervisor", x), |b| {
        b.iter_custom(|n| rt.block_on(task_supervisor_key(n, true)));
    });
    group.bench_function(BenchmarkId::new("stop/task_supervisor", x), |b| {
        b.iter_custom(|n| rt.block_on(task_supervisor_key(n, false)));
    });
    group.bench_function(BenchmarkId::new("pass_start/task_supervisor", x), |b| {
        b.iter_custom(|n| rt.block_on(task_supervisor_pass(n, true)));
    });
    group.bench_function(BenchmarkId::new("pass_running/task_supervisor", x), |b| {
        b.iter_custom(|n| rt.block_on(task_supervisor_pass(n, false)));
    });
    group.bench_function(BenchmarkId::new("start/join_map", x), |b| {
        b.iter_custom(|n| rt.block_on(join_map_key(n, true)));
    });
    group.bench_function(BenchmarkId::new("stop/join_map", x), |b| {
        b.iter_custom(|n| rt.block_on(join_map_key(n, false)));
    });
    group.bench_function(BenchmarkId::new("pass_start/join_map", x), |b| {
        b.iter_custom(|n| rt.block_on(join_map_pass(n, true)));
    });
    group.bench_function(BenchmarkId::new("pass_running/join_map", x), |b| {
        b.iter_custom(|n| rt.block_on(join_map_pass(n, false)));
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    keyed(&mut c);
    c.final_summary();
}
