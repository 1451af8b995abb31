//! Restart latency of the restart `Supervisor`, against a hand-written tokio retry loop and the
//! `task-supervisor` crate, all on one tokio current-thread runtime.
//!
//! One **iteration** runs a process that becomes ready and fails at once, `RESTARTS` times in a
//! row, with zero backoff, and then stays up; the iteration ends when the last incarnation is
//! ready and has been stopped. Criterion's throughput is set to `RESTARTS` elements, so the
//! reported time per element is the time from one failure to the next incarnation being ready,
//! including the supervision work per restart:
//!
//! - **procession, UntilPermanent**: `Supervisor::new(process, UntilPermanent)`;
//! - **procession, Retry(zero)**: `Supervisor::new(process, Retry::new(Constant::every(0),
//!   TokioClock))`, a zero-length tokio sleep between attempts;
//! - **hand-written loop**: `loop { match process().await { Ok => break, Err => continue } }`,
//!   the floor: no readiness signal, no hooks, no stop request;
//! - **task-supervisor**: a `SupervisedTask` that fails until the `RESTARTS`-th run, with a zero
//!   base restart delay, no jitter and unlimited restarts; each iteration spawns the supervisor
//!   (a tokio task) and shuts it down, which is part of its per-iteration cost.
//!
//! Run with `cargo bench --bench restart`; results are in `benches/RESULTS.md`.

#![allow(clippy::std_instead_of_alloc, reason = "a std benchmark")]

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use procession::retry::{Constant, Retry, UntilPermanent};
use procession::runner::{Lifecycle, from_fn};
use procession::supervisor::{self, Supervisor};
use procession::time::TokioClock;
use procession::{Ctx, Merge, Runner};

/// Restarts per iteration.
const RESTARTS: u32 = 100;

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

/// One iteration under the crate's supervisor with executor `executor`.
async fn procession_iteration<X: procession::retry::Executor>(executor: X) {
    let starts = AtomicU32::new(0);
    let done = Ctx::new();
    let process = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
        let n = starts.fetch_add(1, Ordering::Relaxed) + 1;
        lc.ready();
        if n <= RESTARTS {
            return Err(Failed);
        }
        done.cancel();
        lc.stop_requested().await;
        Ok(())
    });
    let sup = Supervisor::new(process, executor);
    let root = Ctx::new();
    let result = sup
        .run(&root, async |_| {
            done.cancelled().await;
            Ok(())
        })
        .await;
    assert_eq!(result, Ok(()));
    assert_eq!(starts.load(Ordering::Relaxed), RESTARTS + 1);
}

/// The floor: a hand-written retry loop around an async function.
async fn hand_written_iteration() {
    let starts = AtomicU32::new(0);
    let process = async || -> Result<(), Failed> {
        let n = starts.fetch_add(1, Ordering::Relaxed) + 1;
        // ready here
        if n <= RESTARTS { Err(Failed) } else { Ok(()) }
    };
    loop {
        match process().await {
            Ok(()) => break,
            Err(Failed) => continue,
        }
    }
    assert_eq!(starts.load(Ordering::Relaxed), RESTARTS + 1);
}

/// The task of the `task-supervisor` baseline.
#[derive(Clone)]
struct Flaky {
    starts: Arc<AtomicU32>,
    done: Arc<tokio::sync::Notify>,
}

impl task_supervisor::SupervisedTask for Flaky {
    async fn run(self, cancel: task_supervisor::CancellationToken) -> task_supervisor::TaskResult {
        let n = self.starts.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= RESTARTS {
            return Err("crash".into());
        }
        self.done.notify_one();
        cancel.cancelled().await;
        Ok(())
    }
}

async fn task_supervisor_iteration() {
    let task = Flaky { starts: Arc::new(AtomicU32::new(0)), done: Arc::new(tokio::sync::Notify::new()) };
    let handle = task_supervisor::SupervisorBuilder::new()
        .with_task("flaky", task.clone())
        .with_base_restart_delay(Duration::ZERO)
        .with_max_restart_delay(Duration::ZERO)
        .with_restart_jitter(0.0)
        .with_unlimited_restarts()
        .spawn();
    task.done.notified().await;
    let _ = handle.shutdown().await;
    assert_eq!(task.starts.load(Ordering::Relaxed), RESTARTS + 1);
}

fn restart(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let mut group = c.benchmark_group("restart");
    group.throughput(Throughput::Elements(u64::from(RESTARTS)));
    group.bench_function("procession UntilPermanent", |b| {
        b.iter(|| rt.block_on(procession_iteration(UntilPermanent)));
    });
    group.bench_function("procession Retry(zero, tokio)", |b| {
        b.iter(|| {
            rt.block_on(async {
                procession_iteration(Retry::new(Constant::every(Duration::ZERO), TokioClock::new())).await;
            });
        });
    });
    group.bench_function("hand-written loop", |b| b.iter(|| rt.block_on(hand_written_iteration())));
    group.bench_function("task-supervisor", |b| b.iter(|| rt.block_on(task_supervisor_iteration())));
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    restart(&mut c);
    c.final_summary();
}
