//! More distinct tasks waiting on one context than it can keep: alone in this binary, because
//! the spill table is shared by the whole program.

extern crate alloc;

use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

use procession::ctx::SPILL_SLOTS;
use procession::{Cause, Ctx};

struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counters(n: usize) -> Vec<(Arc<Counter>, Waker)> {
    (0..n)
        .map(|_| {
            let c = Arc::new(Counter(AtomicUsize::new(0)));
            (c.clone(), Waker::from(c))
        })
        .collect()
}

/// Without `alloc`: a root keeps one task inline and the spill table `SPILL_SLOTS` more; the
/// next distinct task cannot be kept, so the context cancels itself with `Cause::Overflow`
/// and every waiter is woken once. Nobody was woken early before that: no loop of wakeups.
#[test]
#[cfg(not(feature = "alloc"))]
fn overflow_cancels_with_its_cause() {
    let ctx = Ctx::new();
    let fits = 1 + SPILL_SLOTS;
    let tasks = counters(fits + 1);
    let mut futures: Vec<_> = tasks.iter().map(|_| Box::pin(ctx.cancelled())).collect();
    for (fut, (_, waker)) in futures.iter_mut().zip(&tasks).take(fits) {
        assert!(fut.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
    }
    assert!(tasks.iter().all(|(c, _)| c.0.load(Ordering::SeqCst) == 0), "a waiter was woken early");
    assert!(!ctx.is_cancelled());
    let (_, last) = &tasks[fits];
    assert_eq!(futures[fits].as_mut().poll(&mut Context::from_waker(last)), Poll::Ready(Cause::Overflow));
    assert_eq!(ctx.cause(), Some(Cause::Overflow));
    for (i, (counter, waker)) in tasks.iter().enumerate().take(fits) {
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "waiter {i} woken once");
        assert_eq!(futures[i].as_mut().poll(&mut Context::from_waker(waker)), Poll::Ready(Cause::Overflow));
    }
}

/// With `alloc`: any number of distinct tasks sleep on one root, none is woken before the
/// cancel, each exactly once by it.
#[test]
#[cfg(feature = "alloc")]
fn any_number_of_waiters_sleep() {
    let ctx = Ctx::new();
    let tasks = counters(4 * SPILL_SLOTS);
    let mut futures: Vec<_> = tasks.iter().map(|_| Box::pin(ctx.cancelled())).collect();
    for _ in 0..2 {
        for (fut, (_, waker)) in futures.iter_mut().zip(&tasks) {
            assert!(fut.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
        }
    }
    assert!(tasks.iter().all(|(c, _)| c.0.load(Ordering::SeqCst) == 0), "a waiter was woken early");
    ctx.cancel();
    for (fut, (counter, waker)) in futures.iter_mut().zip(&tasks) {
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(fut.as_mut().poll(&mut Context::from_waker(waker)), Poll::Ready(Cause::Shutdown));
    }
}
