//! The cost of a start/stop round trip of the `shot` handles, driven from another task on tokio,
//! against two baselines of plain cross-task signalling.
//!
//! Every case runs on a tokio current-thread runtime: a *resource* task is spawned once and
//! loops; the benchmark's own task (the *controller*, in `rt.block_on`) drives one round trip
//! per iteration:
//!
//! - **`Many`**: the resource starts a run of a `static` `Many`, signals "started" (an
//!   embassy-sync `Signal`), waits for the run's context to be cancelled and drops the guard;
//!   the controller waits for "started" and calls `end_run(pending())`, which returns once the run
//!   has ended. Three task hops: started, cancel, end.
//! - **`One`**: a `One` runs once, so each round trip uses a fresh `Arc<One>` (one allocation),
//!   handed to the resource through a `Signal`; the controller waits for "started" and calls
//!   `close(pending())`. Three hops as for `Many`, plus the hand-over.
//! - **`Signal` ping-pong**: the controller signals one embassy-sync `Signal`, the resource
//!   waits for it and signals a second one back. Two hops: the floor of any cross-task round
//!   trip.
//! - **`tokio::sync::Mutex` flag**: the controller sets a flag under a `tokio::sync::Mutex` and
//!   notifies the resource (`tokio::sync::Notify`); the resource clears it under the lock and
//!   notifies back. Two hops.
//!
//! Run with `cargo bench --bench handles`; results are in `benches/RESULTS.md`.

use core::future::pending;
use core::time::Duration;
extern crate alloc;

use alloc::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex as Cs;
use embassy_sync::signal::Signal;
use procession::shot::{Many, One};
use tokio::runtime::Runtime;
use tokio::sync::{Mutex, Notify};

static MANY: Many<'static, Cs> = Many::detached();
static MANY_STARTED: Signal<Cs, ()> = Signal::new();

static ONE_HANDOVER: Signal<Cs, Arc<One<'static, Cs>>> = Signal::new();
static ONE_STARTED: Signal<Cs, ()> = Signal::new();

static PING: Signal<Cs, ()> = Signal::new();
static PONG: Signal<Cs, ()> = Signal::new();

/// The resource side of the `Many` case: start, report, run until stopped, again.
async fn many_resource() {
    loop {
        let run = MANY.start().expect("the controller never closes it");
        MANY_STARTED.signal(());
        run.context().cancelled().await;
    }
}

async fn many_round_trip() {
    MANY_STARTED.wait().await;
    MANY.end_run(pending()).await.expect("not closed");
}

/// The resource side of the `One` case: take the next `One`, run it until closed.
async fn one_resource() {
    loop {
        let one = ONE_HANDOVER.wait().await;
        let run = one.start().expect("a fresh One");
        ONE_STARTED.signal(());
        run.context().cancelled().await;
    }
}

async fn one_round_trip() {
    let one = Arc::new(One::detached());
    ONE_HANDOVER.signal(one.clone());
    ONE_STARTED.wait().await;
    one.close(pending()).await.expect("closes");
}

async fn signal_resource() {
    loop {
        PING.wait().await;
        PONG.signal(());
    }
}

async fn signal_round_trip() {
    PING.signal(());
    PONG.wait().await;
}

/// The `tokio::sync::Mutex`-guarded flag with a `Notify` each way.
struct Flag {
    running: Mutex<bool>,
    to_resource: Notify,
    to_controller: Notify,
}

async fn flag_resource(flag: Arc<Flag>) {
    loop {
        flag.to_resource.notified().await;
        let mut running = flag.running.lock().await;
        assert!(*running);
        *running = false;
        drop(running);
        flag.to_controller.notify_one();
    }
}

async fn flag_round_trip(flag: &Flag) {
    *flag.running.lock().await = true;
    flag.to_resource.notify_one();
    flag.to_controller.notified().await;
}

fn handles(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.spawn(many_resource());
    rt.spawn(one_resource());
    rt.spawn(signal_resource());
    let flag = Arc::new(Flag { running: Mutex::new(false), to_resource: Notify::new(), to_controller: Notify::new() });
    rt.spawn(flag_resource(flag.clone()));

    let mut group = c.benchmark_group("round trip from another task (tokio current-thread)");
    group.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    group.bench_function("shot::Many start/stop", |b| b.iter_custom(|iters| timed(&rt, iters, many_round_trip)));
    group.bench_function("shot::One start/close", |b| b.iter_custom(|iters| timed(&rt, iters, one_round_trip)));
    group.bench_function("embassy-sync Signal ping-pong", |b| {
        b.iter_custom(|iters| timed(&rt, iters, signal_round_trip));
    });
    group.bench_function("tokio Mutex flag + Notify", |b| {
        b.iter_custom(|iters| timed(&rt, iters, || flag_round_trip(&flag)));
    });
    group.finish();
}

/// Runs `iters` round trips in the controller task and returns the time they took.
fn timed<F: Future<Output = ()>>(rt: &Runtime, iters: u64, mut round_trip: impl FnMut() -> F) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            round_trip().await;
        }
        start.elapsed()
    })
}

criterion_group!(benches, handles);
criterion_main!(benches);
