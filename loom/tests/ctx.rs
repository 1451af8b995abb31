//! Loom models of [`Ctx`]: cancellation racing the registration and the drop of waiters, at the
//! root and on a child, and past the waiter slots (issue 15, loom items 1 and 2).
//!
//! The contexts are leaked (`&'static`, as loom's threads need), built inside each execution.
#![cfg(loom)]

use loom::thread;
use procession::ctx::WaiterPool;
use procession::{Cause, Ctx};
use procession_loom::{block_on_counting, leak, model, poll_once_and_drop};

/// A waiter on a child and a waiter on the root (after one dropped there) race a cancellation
/// of the child and then of the root: each waiter ends, with the cause of its chain. The
/// child's waiter is woken at most once; the root's at most twice (the child's cancellation
/// wakes the whole chain, and the root's waiter goes back to sleep once: no loop).
#[test]
fn cancel_child_then_root_while_waiters_come_and_go() {
    model("ctx: cancel child then root, waiters at both levels", 3, || {
        let root = leak(Ctx::new());
        let child = leak(root.child());
        let on_child = thread::spawn(move || block_on_counting(child.cancelled()));
        let on_root = thread::spawn(move || {
            poll_once_and_drop(root.cancelled());
            block_on_counting(root.cancelled())
        });
        assert!(child.cancel_with(Cause::Restart));
        assert!(root.cancel());
        let (cause, wakes) = on_child.join().unwrap();
        // Not always `Restart`: `cause()` reads the levels one after the other, so a reader
        // that read the child's level before its cancellation and the root's after the root's
        // sees `Shutdown`, though the child's own cause is `Restart` from then on (loom found
        // this; reported in issue 15).
        assert!(matches!(cause, Cause::Restart | Cause::Shutdown), "{cause:?}");
        assert_eq!(child.cause(), Some(Cause::Restart));
        assert!(wakes <= 1, "the child's waiter was woken {wakes} times");
        let (cause, wakes) = on_root.join().unwrap();
        assert_eq!(cause, Cause::Shutdown);
        assert!(wakes <= 2, "the root's waiter was woken {wakes} times");
    });
}

/// Two waiters on a child (each after one it dropped) race a cancellation of the root: both
/// end, with the cause that came down from the root, woken at most once each.
#[test]
fn cancel_root_while_child_waiters_come_and_go() {
    model("ctx: cancel root, two waiters on a child", 2, || {
        let root = leak(Ctx::new());
        let child = leak(root.child());
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    poll_once_and_drop(child.cancelled());
                    block_on_counting(child.cancelled())
                })
            })
            .collect();
        assert!(root.cancel());
        for waiter in waiters {
            let (cause, wakes) = waiter.join().unwrap();
            assert_eq!(cause, Cause::Shutdown);
            assert!(wakes <= 1, "a waiter was woken {wakes} times");
        }
    });
}

/// A root with a pool of one slot and two waiting tasks: one waits in the pool, the other in
/// the spill table (unbounded with `alloc`). A cancellation racing both wakes each at most once
/// (exactly once if it found it waiting), and both end.
#[test]
fn waiters_past_the_pool_are_woken_once() {
    model("ctx: pool of 1, two waiters (one spills)", 3, || {
        let root = leak(Ctx::with_waiters(leak(WaiterPool::<1>::new())));
        let waiters: Vec<_> = (0..2).map(|_| thread::spawn(move || block_on_counting(root.cancelled()))).collect();
        assert!(root.cancel());
        for waiter in waiters {
            let (cause, wakes) = waiter.join().unwrap();
            assert_eq!(cause, Cause::Shutdown);
            assert!(wakes <= 1, "a waiter was woken {wakes} times");
        }
    });
}

/// The inline slot of a plain root holds one task's waker; a second task spills. A child's
/// cancellation (which wakes the root's waiters, who sleep again) and then the root's race
/// both: each ends, woken at most twice.
#[test]
fn second_waiter_of_an_inline_root_spills_and_is_woken_once_per_cancellation() {
    model("ctx: inline root, two waiters (one spills), child then root cancelled", 2, || {
        let root = leak(Ctx::new());
        let child = leak(root.child());
        let waiters: Vec<_> = (0..2).map(|_| thread::spawn(move || block_on_counting(root.cancelled()))).collect();
        child.cancel();
        root.cancel_with(Cause::Deadline);
        for waiter in waiters {
            let (cause, wakes) = waiter.join().unwrap();
            assert_eq!(cause, Cause::Deadline);
            assert!(wakes <= 2, "a waiter was woken {wakes} times");
        }
    });
}
