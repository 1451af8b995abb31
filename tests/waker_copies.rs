//! A task whose waker comes with a copy of its vtable on every poll (tokio's `block_on` does
//! this: `Waker::will_wake` then says no to the waker it stored) is still one task: its waits on
//! a context and in a tree keep one registration, and without `alloc` they never fill the spill
//! table.

use core::future::poll_fn;
use core::task::Poll;

use procession::{Cause, Ctx, Runner, TreeError, leaf, parallel};

/// Polls itself `polls` times (waking itself each time) before it completes: every poll is a
/// new registration of the task's waits.
async fn spin_polls(polls: usize) {
    let mut left = polls;
    poll_fn(|cx| {
        if left == 0 {
            return Poll::Ready(());
        }
        left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

/// The premise of these tests: on tokio's `block_on` (optimized, as Cargo.toml has it for the
/// tests), the waker of a later poll is not `will_wake` of the one stored, though it has the
/// same data and functions.
#[test]
#[cfg_attr(miri, ignore = "the copies come from tokio's optimized code, which miri does not reproduce")]
fn tokio_block_on_polls_with_vtable_copies() {
    let same = current_thread().block_on(async {
        let mut first: Option<core::task::Waker> = None;
        poll_fn(|cx| match &first {
            None => {
                first = Some(cx.waker().clone());
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(stored) => {
                let copy = stored.data() == cx.waker().data() && stored.vtable() == cx.waker().vtable();
                Poll::Ready((stored.will_wake(cx.waker()), copy))
            }
        })
        .await
    });
    assert_eq!(same, (false, true), "(will_wake, same data and functions)");
}

/// Many more polls than the spill table has entries (without `alloc`): a tree on tokio's
/// `block_on` whose leaves and callback poll often neither overflows nor fails.
#[test]
fn a_tree_on_tokio_block_on_keeps_one_registration_per_wait() {
    let polls = 4 * procession::ctx::SPILL_SLOTS;
    let root = Ctx::new();
    let tree = parallel([(); 3].map(|()| {
        leaf(async move |ctx: &Ctx<'_>| -> Result<(), TreeError> {
            spin_polls(polls).await;
            ctx.cancelled().await;
            Ok(())
        })
    }));
    let result = current_thread().block_on(tree.run(&root, async |_ctx: &Ctx<'_>| {
        spin_polls(polls).await;
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert_eq!(root.cause(), None, "the root was not cancelled (no Cause::Overflow)");
}

/// A second task waiting on a context whose inline slot holds the first task's waker is still
/// woken by the cancel, and the first task polled many times with vtable copies of its own
/// waker does not crowd the table.
#[test]
fn a_context_polled_on_tokio_block_on_sleeps_and_wakes() {
    let ctx = Ctx::new();
    let rt = current_thread();
    let polls = 4 * procession::ctx::SPILL_SLOTS;
    let cause = rt.block_on(async {
        let waiter = async {
            // Registers the context's engine-free wait on every poll.
            let mut left = polls;
            poll_fn(|cx| match ctx.poll_cancelled(cx) {
                Poll::Ready(cause) => Poll::Ready(cause),
                Poll::Pending if left > 0 => {
                    left -= 1;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Poll::Pending => Poll::Pending,
            })
            .await
        };
        let canceller = async {
            spin_polls(polls + 1).await;
            ctx.cancel();
        };
        futures::join!(waiter, canceller).0
    });
    assert_eq!(cause, Cause::Shutdown);
}
