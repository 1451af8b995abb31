//! Zero heap allocations while a no-alloc process tree runs.
//!
//! This test binary counts allocations with the global allocator of the `allocation-counter`
//! crate, which counts per thread; that is why it is a file of its own. The trees are built
//! from runners that do not allocate (no `format!`, no `Log`): they count with atomics. Every
//! future is polled by hand with a no-op waker: `futures::executor::block_on` allocates the
//! first time it runs on a thread.
//!
//! With `alloc` too: a context's waiters go to the heap only beyond its inline slots, which one
//! task never fills.
//!
//! Under miri the spill table of wakers is grown before each count (`common/spill_room.rs`):
//! there a waker's clones may compare unequal, which can take spill entries a native run does
//! not; the count then proves that nothing but that table allocates.

use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

#[path = "common/spill_room.rs"]
mod spill_room;

use allocation_counter::measure;
use procession::{Cause, Ctx, MultiError, Runner, chain, leaf, parallel, sequential, start_stop};

/// A heap-free error type, as on a microcontroller.
type Error = MultiError<&'static str, 4>;

/// Counts of what the runners of one tree did.
#[derive(Debug, Default)]
struct Counters {
    started: AtomicUsize,
    ready: AtomicUsize,
    stopped: AtomicUsize,
    leaves: AtomicUsize,
    callbacks: AtomicUsize,
}

impl Counters {
    fn get(&self) -> [usize; 5] {
        [&self.started, &self.ready, &self.stopped, &self.leaves, &self.callbacks].map(|c| c.load(Ordering::Relaxed))
    }
}

/// A probe that counts instead of logging: starts, becomes ready, waits for its callback, stops.
#[derive(Debug, Clone, Copy)]
struct Quiet<'c> {
    counters: &'c Counters,
    fail_start: bool,
}

impl Runner<Error> for Quiet<'_> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        self.counters.started.fetch_add(1, Ordering::Relaxed);
        if self.fail_start {
            return Err(MultiError::from_error("start failed"));
        }
        let inner = ctx.child();
        self.counters.ready.fetch_add(1, Ordering::Relaxed);
        let result = ready(&inner).await;
        self.counters.stopped.fetch_add(1, Ordering::Relaxed);
        result
    }
}

/// Returns `Pending` once (waking its task), then `Ready`: a task switch, without an executor.
async fn yield_now() {
    let mut yielded = false;
    core::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// Polls `fut` to completion by hand with a no-op waker (which allocates nothing), at most
/// `limit` times.
/// A waker that does nothing, made once per process (before anything is measured) from an
/// `Arc`, so that its clones compare equal with `will_wake` as a real executor's do.
/// (`Waker::noop()`'s clones may not: its vtable is promoted separately in each crate.)
#[allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]
fn waker() -> &'static Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    static WAKER: std::sync::OnceLock<Waker> = std::sync::OnceLock::new();
    WAKER.get_or_init(|| Waker::from(std::sync::Arc::new(Noop)))
}

fn poll_by_hand<F: Future>(fut: F, limit: usize) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(waker());
    for _ in 0..limit {
        if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            return Some(output);
        }
    }
    None
}

/// Builds a tree on the stack (a parallel array of 8 leaves, a chain of 3 counting probes and a
/// `start_stop`, in a chain), runs it through a graceful stop and returns its result.
fn graceful_tree(counters: &Counters) -> Option<Result<(), Error>> {
    let probe = Quiet { counters, fail_start: false };
    let wait = async |ctx: &Ctx<'_>| -> Result<(), Error> {
        counters.leaves.fetch_add(1, Ordering::Relaxed);
        ctx.cancelled().await;
        Ok(())
    };
    let nothing = async |_: &Ctx<'_>| -> Result<(), Error> { Ok(()) };
    let tree = chain((parallel([leaf(wait); 8]), chain([probe; 3]), start_stop(nothing, nothing)));
    let root = Ctx::new();
    poll_by_hand(
        tree.run(&root, async |ctx: &Ctx<'_>| {
            counters.callbacks.fetch_add(1, Ordering::Relaxed);
            for _ in 0..3 {
                yield_now().await;
            }
            assert!(!ctx.is_cancelled());
            Ok(())
        }),
        1_000,
    )
}

/// A tree of no-alloc parts runs start, ready, callback and graceful stop without one heap
/// allocation.
#[test]
fn graceful_run_allocates_nothing() {
    let counters = Counters::default();
    let mut result = None;
    let _ = waker();
    spill_room::make_room();
    let info = measure(|| result = graceful_tree(&counters));
    assert_eq!(result, Some(Ok(())), "the tree did not finish");
    // 3 probes started, ready and stopped; 8 leaves ran; the callback ran once.
    assert_eq!(counters.get(), [3, 3, 3, 8, 1]);
    assert_eq!(info.count_total, 0, "allocations while the tree ran: {info:?}");
}

/// A forced stop (the root cancelled while the callback runs) allocates nothing either.
#[test]
fn forced_stop_allocates_nothing() {
    let counters = Counters::default();
    let mut result = None;
    let _ = waker();
    spill_room::make_room();
    let info = measure(|| {
        let probe = Quiet { counters: &counters, fail_start: false };
        let wait = async |ctx: &Ctx<'_>| -> Result<(), Error> {
            counters.leaves.fetch_add(1, Ordering::Relaxed);
            ctx.cancelled().await;
            Ok(())
        };
        let tree = sequential((parallel([leaf(wait); 8]), chain([probe; 3])));
        let root = Ctx::new();
        result = poll_by_hand(
            tree.run(&root, async |ctx: &Ctx<'_>| {
                counters.callbacks.fetch_add(1, Ordering::Relaxed);
                yield_now().await;
                root.cancel_with(Cause::Deadline);
                ctx.cancelled().await;
                Ok(())
            }),
            1_000,
        );
    });
    assert_eq!(result, Some(Ok(())), "the tree did not finish");
    assert_eq!(counters.get(), [3, 3, 3, 8, 1]);
    assert_eq!(info.count_total, 0, "allocations while the tree ran: {info:?}");
}

/// A start failure, reported through the heap-free error type, allocates nothing.
#[test]
fn start_failure_allocates_nothing() {
    let counters = Counters::default();
    let mut result = None;
    let _ = waker();
    spill_room::make_room();
    let info = measure(|| {
        let good = Quiet { counters: &counters, fail_start: false };
        let bad = Quiet { counters: &counters, fail_start: true };
        let tree = chain((good, good, bad, good));
        let root = Ctx::new();
        result = poll_by_hand(
            tree.run(&root, async |_: &Ctx<'_>| {
                counters.callbacks.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }),
            1_000,
        );
    });
    assert_eq!(result, Some(Err(MultiError::from_error("start failed"))));
    // Two started and stopped, the third failed to start, the fourth never started.
    assert_eq!(counters.get(), [3, 2, 2, 0, 0]);
    assert_eq!(info.count_total, 0, "allocations while the tree ran: {info:?}");
}

/// The counter sees an allocation made inside a tree polled by hand: the tests above can fail.
#[test]
fn counter_sees_allocations_in_a_tree() {
    let mut result = None;
    let _ = waker();
    spill_room::make_room();
    let info = measure(|| {
        let boxed = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> {
            let held = core::hint::black_box(Box::new(1_u64));
            ctx.cancelled().await;
            drop(held);
            Ok(())
        });
        let root = Ctx::new();
        result = poll_by_hand(parallel([boxed; 2]).run(&root, async |_: &Ctx<'_>| Ok(())), 100);
    });
    assert_eq!(result, Some(Ok(())));
    assert!(info.count_total >= 2, "{info:?}");
    assert_eq!(info.count_current, 0, "{info:?}");
}
