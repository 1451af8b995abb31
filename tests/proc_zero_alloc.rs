//! Zero heap allocations while a `proc` tree runs, fails and is cancelled.
//!
//! A file of its own because it counts allocations with the global allocator of the
//! `allocation-counter` crate (per thread). The processes count with atomics instead of
//! logging, and every future is polled by hand with a no-op waker (`futures::executor` allocates
//! the first time it runs on a thread). `task` with `std` lists itself only while `proc::main`
//! runs, so it allocates nothing here either, whatever the features.
//!
//! Under miri the spill table of wakers is grown before each count (`common/spill_room.rs`):
//! there a waker's clones may compare unequal, which can take spill entries a native run does
//! not; the count then proves that nothing but that table allocates.

use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll};

#[path = "common/spill_room.rs"]
mod spill_room;

use allocation_counter::measure;
use procession::proc::{MultiError, Proc, TaskError, concurrent, concurrent_group, sequence, task, trace_region};
use procession::{Ctx, Merge};

/// A heap-free error type, as on a microcontroller.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fail {
    Plain(&'static str),
    Task(TaskError<&'static str>),
}

impl From<TaskError<&'static str>> for Fail {
    fn from(e: TaskError<&'static str>) -> Self {
        Self::Task(e)
    }
}

type Error = MultiError<Fail, 4>;

/// Polls `fut` up to `limit` times with a no-op waker.
fn poll_by_hand<F: Future>(fut: F, limit: usize) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    (0..limit).find_map(|_| match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    })
}

/// A group whose named task fails while the others wait for cancellation, inside a sequence:
/// every combinator, the failure path, the group cancellation and the error lists.
#[test]
fn failing_group_allocates_nothing() {
    let ran = AtomicUsize::new(0);
    let root = Ctx::new();
    let step = async |_: &Ctx<'_>| -> Result<(), Error> {
        ran.fetch_add(1, Ordering::Relaxed);
        Ok(())
    };
    let wait = async |ctx: &Ctx<'_>| -> Result<(), Error> {
        ctx.cancelled().await;
        ran.fetch_add(1, Ordering::Relaxed);
        Err(MultiError::from_error(Fail::Plain("cancelled")))
    };
    let broken = async |_: &Ctx<'_>| -> Result<(), &'static str> { Err("broken") };
    let tree = sequence((
        step,
        concurrent_group((concurrent([wait, wait]), trace_region("r", wait), task("t", broken))),
        step,
    ));
    let mut result = None;
    spill_room::make_room();
    let info = measure(|| result = poll_by_hand(tree.run(&root), 10));
    assert_eq!(info.count_total, 0, "allocations while the tree ran: {info:?}");
    let expected = [Fail::Plain("cancelled"), Fail::Plain("cancelled"), Fail::Plain("cancelled")]
        .into_iter()
        .map(MultiError::from_error)
        .fold(MultiError::new(), Merge::merge)
        .merge(MultiError::from_error(Fail::Task(TaskError::new("t", "broken"))));
    assert_eq!(result, Some(Err(expected)));
    assert_eq!(ran.load(Ordering::Relaxed), 4, "one step, three cancelled waiters; the last step never ran");
}

/// Cancelling the caller's context stops a running tree, without allocating.
#[test]
fn cancelled_tree_allocates_nothing() {
    let root = Ctx::new();
    let wait = async |ctx: &Ctx<'_>| -> Result<(), Error> {
        ctx.cancelled().await;
        Ok(())
    };
    let tree = concurrent((concurrent_group([wait, wait, wait]), wait));
    spill_room::make_room();
    let info = measure(|| {
        let mut run = pin!(tree.run(&root));
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        assert!(run.as_mut().poll(&mut cx).is_pending());
        root.cancel();
        assert_eq!(run.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    });
    assert_eq!(info.count_total, 0, "allocations while the tree ran: {info:?}");
}

/// The ready-made tree error, with a named task, a plain message and an overrun, allocates
/// nothing either: its failures live inline.
#[test]
fn tree_error_allocates_nothing() {
    use core::future::{pending, ready};
    use procession::proc::stop_deadline;
    use procession::{TreeError, fail};

    let root = Ctx::new();
    let stubborn = async |_: &Ctx<'_>| -> Result<(), TreeError> { pending().await };
    let refused = async |_: &Ctx<'_>| -> Result<(), TreeError> { fail("refused") };
    let broken = async |_: &Ctx<'_>| -> Result<(), &'static str> { Err("broken") };
    let tree = concurrent_group((stop_deadline(|| ready(()), stubborn), refused, task("t", broken)));
    let mut result = None;
    spill_room::make_room();
    let info = measure(|| result = poll_by_hand(tree.run(&root), 10));
    assert_eq!(info.count_total, 0, "allocations while the tree ran: {info:?}");
    let error = result.expect("the tree returned").unwrap_err();
    assert_eq!(error.to_string(), "3 errors:\n- stop deadline passed, dropped\n- refused\n- t: broken");
}
