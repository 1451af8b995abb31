//! Tests of [`Ctx`]: the tree of contexts, cancellation and its cause, and the wakeups of tasks
//! waiting in [`Ctx::cancelled`], on one thread and across threads, with more waiters than
//! there are slots.
//!
//! Wakeups are counted exactly with hand-polled futures and counting wakers; the cross-thread
//! test synchronises with channels and never sleeps.

extern crate alloc;

use alloc::sync::Arc;
use core::future::Future;
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::mpsc;
use std::thread;

use futures::executor::block_on;
use futures::task::{ArcWake, waker};
use procession::ctx::{Cancelled, WAITER_SLOTS, WaiterPool};
use procession::{Cause, Ctx};

/// A waker that counts how often it is woken.
#[derive(Default)]
struct Counter {
    wakes: AtomicUsize,
}

impl ArcWake for Counter {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counter {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

/// Polls `fut` once with `counter`'s waker.
fn poll_with<F: Future + ?Sized>(fut: Pin<&mut F>, counter: &Arc<Counter>) -> Poll<F::Output> {
    let waker: Waker = waker(counter.clone());
    fut.poll(&mut Context::from_waker(&waker))
}

// === the tree and the cause ===

/// A root in a `static` works: it starts live, can be cancelled, and its children see it.
#[test]
fn static_root() {
    static ROOT: Ctx<'static> = Ctx::new();
    assert!(!ROOT.is_cancelled());
    assert_eq!(ROOT.cause(), None);
    assert!(ROOT.parent().is_none());
    let child = ROOT.child();
    assert!(child.parent().is_some());
    assert!(!child.is_cancelled());
    assert!(ROOT.cancel());
    assert!(ROOT.is_cancelled());
    assert!(child.is_cancelled());
    assert_eq!(child.cause(), Some(Cause::Shutdown));
}

/// A child and a grandchild are cancelled when an ancestor is, with the ancestor's cause.
#[test]
fn descendants_see_ancestor_cancellation() {
    let root = Ctx::new();
    let child = root.child();
    let grandchild = child.child();
    let sibling = root.child();
    assert!(!grandchild.is_cancelled());

    // Cancelling the middle level reaches down, not up or sideways.
    assert!(child.cancel_with(Cause::Restart));
    assert!(grandchild.is_cancelled());
    assert_eq!(grandchild.cause(), Some(Cause::Restart));
    assert!(!root.is_cancelled());
    assert!(!sibling.is_cancelled());

    // Cancelling the root reaches every level.
    assert!(root.cancel_with(Cause::Deadline));
    assert!(sibling.is_cancelled());
    assert_eq!(sibling.cause(), Some(Cause::Deadline));
}

/// A grandchild sees the cancellation of its root through a live middle level.
#[test]
fn grandchild_sees_root_cancellation() {
    let root = Ctx::new();
    let child = root.child();
    let grandchild = child.child();
    root.cancel_with(Cause::DependencyFailed);
    assert!(child.is_cancelled());
    assert!(grandchild.is_cancelled());
    assert_eq!(grandchild.cause(), Some(Cause::DependencyFailed));
}

/// Cancelling a child leaves its parent (and the parent's other children) live.
#[test]
fn cancelling_child_does_not_cancel_parent() {
    let root = Ctx::new();
    let child = root.child();
    let other = root.child();
    assert!(child.cancel());
    assert!(child.is_cancelled());
    assert!(!root.is_cancelled());
    assert_eq!(root.cause(), None);
    assert!(!other.is_cancelled());
}

/// `cancel` returns `true` the first time and `false` every time after.
#[test]
fn cancel_returns_true_once() {
    let ctx = Ctx::new();
    assert!(ctx.cancel());
    assert!(!ctx.cancel());
    assert!(!ctx.cancel());
    assert!(!ctx.cancel_with(Cause::Restart));
    assert!(ctx.is_cancelled());
}

/// `cancel_with` sets the cause; `cancel` sets `Shutdown`.
#[test]
fn cancel_with_sets_cause() {
    for cause in [Cause::Shutdown, Cause::Parent, Cause::DependencyFailed, Cause::Deadline, Cause::Restart] {
        let ctx = Ctx::new();
        assert!(ctx.cancel_with(cause));
        assert_eq!(ctx.cause(), Some(cause));
    }
    let ctx = Ctx::new();
    ctx.cancel();
    assert_eq!(ctx.cause(), Some(Cause::Shutdown));
}

/// A later cancellation keeps the earlier cause and returns `false`.
#[test]
fn later_cancel_keeps_first_cause() {
    let ctx = Ctx::new();
    assert!(ctx.cancel_with(Cause::Deadline));
    assert!(!ctx.cancel_with(Cause::Restart));
    assert!(!ctx.cancel());
    assert_eq!(ctx.cause(), Some(Cause::Deadline));
}

/// A child cancelled after its parent keeps the parent's cause; its own `cancel_with` returns `false`.
#[test]
fn child_cancelled_after_parent_keeps_parent_cause() {
    let root = Ctx::new();
    let child = root.child();
    let grandchild = child.child();
    assert!(root.cancel_with(Cause::Restart));
    assert!(!child.cancel_with(Cause::Deadline));
    assert!(!grandchild.cancel_with(Cause::DependencyFailed));
    assert_eq!(child.cause(), Some(Cause::Restart));
    assert_eq!(grandchild.cause(), Some(Cause::Restart));
}

/// A child cancelled before its parent reports its own cause, also after the parent is cancelled.
#[test]
fn child_cancelled_before_parent_keeps_own_cause() {
    let root = Ctx::new();
    let child = root.child();
    let grandchild = child.child();
    assert!(child.cancel_with(Cause::Deadline));
    assert!(root.cancel_with(Cause::Restart));
    assert_eq!(root.cause(), Some(Cause::Restart));
    assert_eq!(child.cause(), Some(Cause::Deadline));
    assert_eq!(grandchild.cause(), Some(Cause::Deadline));
}

/// `cause()` is `None` at every level while nothing is cancelled.
#[test]
fn cause_is_none_while_live() {
    let root = Ctx::new();
    let child = root.child();
    let grandchild = child.child();
    assert_eq!(root.cause(), None);
    assert_eq!(child.cause(), None);
    assert_eq!(grandchild.cause(), None);
    grandchild.cancel();
    assert_eq!(root.cause(), None);
    assert_eq!(child.cause(), None);
}

/// `Display` of every cause.
#[test]
fn cause_display() {
    assert_eq!(Cause::Shutdown.to_string(), "shutdown");
    assert_eq!(Cause::Parent.to_string(), "parent ended");
    assert_eq!(Cause::DependencyFailed.to_string(), "dependency failed");
    assert_eq!(Cause::Deadline.to_string(), "deadline");
    assert_eq!(Cause::Restart.to_string(), "restart");
}

// === cancelled() on one thread ===

/// `cancelled()` completes at the first poll, with the cause, when the context is already cancelled.
#[test]
fn cancelled_ready_when_already_cancelled() {
    let root = Ctx::new();
    let child = root.child();
    root.cancel_with(Cause::Parent);
    let counter = Counter::new();
    let mut fut = pin!(child.cancelled());
    assert_eq!(poll_with(fut.as_mut(), &counter), Poll::Ready(Cause::Parent));
    // Fused: polling again gives the cause again.
    assert_eq!(poll_with(fut.as_mut(), &counter), Poll::Ready(Cause::Parent));
    assert_eq!(counter.wakes(), 0);
    assert_eq!(block_on(root.cancelled()), Cause::Parent);
}

/// `cancelled()` stays pending while the context is live. A sibling's cancellation wakes it
/// once (wakers are kept at the root of the chain); it sees that its own context is live and
/// sleeps again, without another wakeup.
#[test]
fn cancelled_pending_while_live() {
    let root = Ctx::new();
    let child = root.child();
    let counter = Counter::new();
    let mut fut = pin!(child.cancelled());
    assert!(poll_with(fut.as_mut(), &counter).is_pending());
    assert!(poll_with(fut.as_mut(), &counter).is_pending());
    // A sibling's cancellation does not concern it.
    assert_eq!(counter.wakes(), 0);
    let sibling = root.child();
    sibling.cancel();
    assert_eq!(counter.wakes(), 1);
    assert!(poll_with(fut.as_mut(), &counter).is_pending());
    assert!(poll_with(fut.as_mut(), &counter).is_pending());
    assert_eq!(counter.wakes(), 1);
    root.cancel();
    assert_eq!(counter.wakes(), 2);
    assert_eq!(poll_with(fut.as_mut(), &counter), Poll::Ready(Cause::Shutdown));
}

/// A pending `cancelled()` is woken exactly once by the cancel, then is ready.
#[test]
fn pending_cancelled_woken_once() {
    let ctx = Ctx::new();
    let counter = Counter::new();
    let mut fut = pin!(ctx.cancelled());
    assert!(poll_with(fut.as_mut(), &counter).is_pending());
    assert_eq!(counter.wakes(), 0);
    ctx.cancel_with(Cause::Deadline);
    assert_eq!(counter.wakes(), 1);
    // A second cancel wakes nobody: the waker was consumed.
    ctx.cancel();
    assert_eq!(counter.wakes(), 1);
    assert_eq!(poll_with(fut.as_mut(), &counter), Poll::Ready(Cause::Deadline));
}

/// Polling the same future twice with the same waker takes one slot: the cancel wakes it once.
#[test]
fn same_waker_registered_once() {
    let ctx = Ctx::new();
    let counter = Counter::new();
    let mut fut = pin!(ctx.cancelled());
    assert!(poll_with(fut.as_mut(), &counter).is_pending());
    assert!(poll_with(fut.as_mut(), &counter).is_pending());
    // A second future of the same task shares the slot too.
    let mut again = pin!(ctx.cancelled());
    assert!(poll_with(again.as_mut(), &counter).is_pending());
    ctx.cancel();
    assert_eq!(counter.wakes(), 1);
    assert!(poll_with(fut.as_mut(), &counter).is_ready());
    assert!(poll_with(again.as_mut(), &counter).is_ready());
}

/// A task waiting on a grandchild is woken by cancelling the root, and by cancelling the middle level.
#[test]
fn waiter_on_grandchild_woken_by_ancestor() {
    // By the root.
    let root = Ctx::new();
    let child = root.child();
    let grandchild = child.child();
    let counter = Counter::new();
    let mut fut = pin!(grandchild.cancelled());
    assert!(poll_with(fut.as_mut(), &counter).is_pending());
    root.cancel_with(Cause::Restart);
    assert_eq!(counter.wakes(), 1);
    assert_eq!(poll_with(fut.as_mut(), &counter), Poll::Ready(Cause::Restart));

    // By the middle level.
    let root = Ctx::new();
    let child = root.child();
    let grandchild = child.child();
    let counter = Counter::new();
    let mut fut = pin!(grandchild.cancelled());
    assert!(poll_with(fut.as_mut(), &counter).is_pending());
    child.cancel_with(Cause::DependencyFailed);
    assert_eq!(counter.wakes(), 1);
    assert_eq!(poll_with(fut.as_mut(), &counter), Poll::Ready(Cause::DependencyFailed));
    assert!(!root.is_cancelled());
}

/// Waiters on several levels of one chain are all woken by cancelling the root.
#[test]
fn waiters_on_every_level_woken_by_root() {
    let root = Ctx::new();
    let child = root.child();
    let grandchild = child.child();
    let counters = [Counter::new(), Counter::new(), Counter::new()];
    let mut on_root = pin!(root.cancelled());
    let mut on_child = pin!(child.cancelled());
    let mut on_grandchild = pin!(grandchild.cancelled());
    assert!(poll_with(on_root.as_mut(), &counters[0]).is_pending());
    assert!(poll_with(on_child.as_mut(), &counters[1]).is_pending());
    assert!(poll_with(on_grandchild.as_mut(), &counters[2]).is_pending());
    root.cancel();
    assert_eq!(counters.each_ref().map(|c| c.wakes()), [1, 1, 1]);
    assert!(poll_with(on_root.as_mut(), &counters[0]).is_ready());
    assert!(poll_with(on_child.as_mut(), &counters[1]).is_ready());
    assert!(poll_with(on_grandchild.as_mut(), &counters[2]).is_ready());
}

// === other threads ===

/// A `static` root cancelled from another thread wakes tasks blocked in `block_on` on three
/// other threads, waiting on the root, a child and a grandchild.
#[test]
fn static_root_cancelled_from_other_thread_wakes_three_threads() {
    static ROOT: Ctx<'static> = Ctx::new();

    let (registered_tx, registered_rx) = mpsc::channel::<usize>();
    let (done_tx, done_rx) = mpsc::channel::<(usize, Cause)>();
    let mut waiters = Vec::new();
    for depth in 0..3 {
        let registered = registered_tx.clone();
        let done = done_tx.clone();
        waiters.push(thread::spawn(move || {
            let child = ROOT.child();
            let grandchild = child.child();
            let ctx = match depth {
                0 => &ROOT,
                1 => &child,
                _ => &grandchild,
            };
            let mut cancelled = pin!(ctx.cancelled());
            let mut announced = false;
            // `block_on` polls with this thread's waker; after the first `Pending` the waker is
            // registered, and only a wakeup from the cancel can make `block_on` poll again.
            let cause = block_on(core::future::poll_fn(|cx| {
                let poll = cancelled.as_mut().poll(cx);
                if poll.is_pending() && !announced {
                    announced = true;
                    registered.send(depth).unwrap();
                }
                poll
            }));
            done.send((depth, cause)).unwrap();
        }));
    }
    drop((registered_tx, done_tx));

    // Every waiter has registered; none has finished.
    let mut seen = [false; 3];
    for _ in 0..3 {
        let depth = registered_rx.recv_timeout(Duration::from_secs(10)).expect("a waiter did not register");
        seen[depth] = true;
    }
    assert_eq!(seen, [true; 3]);
    assert!(done_rx.try_recv().is_err(), "a waiter finished before the cancel");

    thread::spawn(|| assert!(ROOT.cancel_with(Cause::Shutdown))).join().unwrap();

    // Safety net: a lost wakeup fails the test instead of hanging it.
    let mut finished = [false; 3];
    for _ in 0..3 {
        let (depth, cause) = done_rx.recv_timeout(Duration::from_secs(10)).expect("a waiter was not woken");
        assert_eq!(cause, Cause::Shutdown);
        finished[depth] = true;
    }
    assert_eq!(finished, [true; 3]);
    for waiter in waiters {
        waiter.join().unwrap();
    }
}

// === more waiters than slots ===

/// With `n` distinct waiting tasks on one context, every task is woken after its last poll
/// and every future is ready after the cancel: no wakeup is lost.
fn many_waiters(n: usize) {
    // Without `alloc` the spill table is shared by every test running at once: give the
    // context a pool of its own, as a program with many waiting tasks would.
    static POOL: WaiterPool<16> = WaiterPool::new();
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ctx = Ctx::with_waiters(&POOL);
    let counters: Vec<_> = (0..n).map(|_| Counter::new()).collect();
    let mut futures: Vec<_> = (0..n).map(|_| Box::pin(ctx.cancelled())).collect();
    for (fut, counter) in futures.iter_mut().zip(&counters) {
        assert!(poll_with(fut.as_mut(), counter).is_pending());
    }
    // The wakes so far are the early ones of overflow; note them.
    let before: Vec<_> = counters.iter().map(|c| c.wakes()).collect();
    ctx.cancel();
    for (i, counter) in counters.iter().enumerate() {
        // A task is owed a wakeup if it was not woken since it registered; a task woken early
        // (overflow) was already told to poll again.
        assert!(counter.wakes() >= 1, "waiter {i} of {n} was never woken");
        if i + 1 == n {
            assert_eq!(counter.wakes(), before[i] + 1, "the last waiter of {n} was not woken by the cancel");
        }
    }
    for (i, (fut, counter)) in futures.iter_mut().zip(&counters).enumerate() {
        assert_eq!(poll_with(fut.as_mut(), counter), Poll::Ready(Cause::Shutdown), "waiter {i} of {n}");
    }
}

/// `WAITER_SLOTS + 3` distinct tasks waiting on one context are all woken by the cancel.
#[test]
fn more_waiters_than_slots() {
    many_waiters(WAITER_SLOTS + 3);
}

/// Sixteen distinct tasks (and a range of other counts) waiting on one context are all woken.
#[test]
fn sixteen_waiters() {
    many_waiters(16);
    for n in 1..=3 * WAITER_SLOTS + 1 {
        many_waiters(n);
    }
}

/// With `alloc`: a `cancelled()` future that is dropped before the cancel takes its waker out
/// of the spill table again, so a long-lived root does not collect the wakers of tasks that
/// stopped waiting (and does not wake them). The first task's waker, kept in the root's own
/// slot, stays there until the cancel (woken once, spuriously).
#[test]
#[cfg(feature = "alloc")]
fn dropped_waiters_are_removed() {
    static ROOT: Ctx<'static> = Ctx::new();
    let n = 4 * WAITER_SLOTS;
    let counters: Vec<_> = (0..n).map(|_| Counter::new()).collect();
    let children: Vec<_> = (0..n).map(|_| ROOT.child()).collect();
    for (child, counter) in children.iter().zip(&counters) {
        let mut fut = Box::pin(child.cancelled());
        assert!(poll_with(fut.as_mut(), counter).is_pending());
        // Polled again with the same waker: nothing changes.
        assert!(poll_with(fut.as_mut(), counter).is_pending());
    }
    let stays = Counter::new();
    let mut waiting = Box::pin(children[0].cancelled());
    assert!(poll_with(waiting.as_mut(), &stays).is_pending());
    ROOT.cancel();
    assert!(counters[1..].iter().all(|c| c.wakes() == 0), "a dropped waiter was woken");
    assert!(counters[0].wakes() <= 1);
    assert_eq!(stays.wakes(), 1);
    assert_eq!(poll_with(waiting.as_mut(), &stays), Poll::Ready(Cause::Shutdown));
}

// === run_until_cancelled ===

/// `run_until_cancelled` gives `Ok(output)` when the future finishes first, also on a
/// cancelled context when both are ready at once.
#[test]
fn run_until_cancelled_future_first() {
    let ctx = Ctx::new();
    assert_eq!(block_on(ctx.run_until_cancelled(async { 7 })), Ok(7));
    ctx.cancel();
    assert_eq!(block_on(ctx.run_until_cancelled(async { 8 })), Ok(8));
}

/// `run_until_cancelled` gives `Err(cause)` when the context is cancelled first, also when
/// the cancel comes while the future waits, and drops the future.
#[test]
fn run_until_cancelled_cancel_first() {
    let root = Ctx::new();
    let child = root.child();
    root.cancel_with(Cause::Deadline);
    assert_eq!(block_on(child.run_until_cancelled(core::future::pending::<()>())), Err(Cause::Deadline));

    let ctx = Ctx::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let guard = OnDrop(dropped.clone());
    let counter = Counter::new();
    let mut fut = pin!(ctx.run_until_cancelled(async move {
        let _guard = guard;
        core::future::pending::<u32>().await
    }));
    assert!(poll_with(fut.as_mut(), &counter).is_pending());
    ctx.cancel_with(Cause::Restart);
    assert_eq!(counter.wakes(), 1);
    assert_eq!(poll_with(fut.as_mut(), &counter), Poll::Ready(Err(Cause::Restart)));
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

// === auto traits ===

static_assertions::assert_impl_all!(Ctx<'static>: Send, Sync);
static_assertions::assert_impl_all!(Cancelled<'static, 'static>: Send);
static_assertions::assert_impl_all!(Cause: Send, Sync, Copy);

/// `Ctx` is `Send + Sync` and `Cancelled` is `Send` (checked at compile time above); a
/// `Cancelled` future can be moved to another thread and completed there.
#[test]
fn auto_traits() {
    static ROOT: Ctx<'static> = Ctx::new();
    let fut = ROOT.cancelled();
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = thread::spawn(move || done_tx.send(block_on(fut)).unwrap());
    ROOT.cancel_with(Cause::Parent);
    // Safety net: a lost wakeup fails the test instead of hanging it.
    let cause = done_rx.recv_timeout(Duration::from_secs(10)).expect("the waiter was not woken");
    assert_eq!(cause, Cause::Parent);
    waiter.join().unwrap();
}

// === found by mutation testing (scripts/mutants) ===

/// Every cause, `Overflow` included, is kept by `cancel_with` and read back by `cause()` at the
/// context and below it, and has its text. Pins down the encoding of a cause in the context's
/// state byte: a cause that did not decode would leave a cancelled context looking live.
#[test]
fn every_cause_is_kept_and_read_back() {
    let all = [
        (Cause::Shutdown, "shutdown"),
        (Cause::Parent, "parent ended"),
        (Cause::DependencyFailed, "dependency failed"),
        (Cause::Deadline, "deadline"),
        (Cause::Restart, "restart"),
        (Cause::Overflow, "too many waiters"),
    ];
    for (cause, text) in all {
        let root = Ctx::new();
        let child = root.child();
        assert!(root.cancel_with(cause));
        assert!(root.is_cancelled() && child.is_cancelled(), "{cause:?}");
        assert_eq!(root.cause(), Some(cause));
        assert_eq!(child.cause(), Some(cause));
        let mut fut = pin!(child.cancelled());
        assert_eq!(poll_with(fut.as_mut(), &Counter::new()), Poll::Ready(cause));
        assert_eq!(cause.to_string(), text);
    }
}

/// The waiter set of the crate's handles (here the one behind `ManualClock::wait_sleeping`)
/// keeps a waker without waking it: a wait that registered sleeps until the change it waits
/// for, and is then woken once. A set that woke every waker it kept would make each waiting
/// task spin.
#[test]
fn a_registered_waiter_sleeps_until_the_change() {
    use procession::time::{Clock, ManualClock};
    let clock: ManualClock = ManualClock::new();
    let counter = Counter::new();
    let mut wait = pin!(clock.wait_sleeping(1));
    assert!(poll_with(wait.as_mut(), &counter).is_pending());
    assert!(poll_with(wait.as_mut(), &counter).is_pending());
    assert_eq!(counter.wakes(), 0, "woken with nothing changed");
    let mut sleep = pin!(clock.sleep(Duration::from_secs(1)));
    assert!(poll_with(sleep.as_mut(), &Counter::new()).is_pending());
    assert_eq!(counter.wakes(), 1, "not woken once by the sleep it waits for");
    assert_eq!(poll_with(wait.as_mut(), &counter), Poll::Ready(()));
}

/// Without `alloc`: a root with a `WaiterPool` of more slots than the spill table has keeps
/// that many distinct waiting tasks in the pool itself. None of them is woken early and the
/// root does not cancel itself with `Cause::Overflow`; the cancel wakes each of them once.
#[test]
#[cfg(not(feature = "alloc"))]
fn a_pool_keeps_its_waiters_without_the_spill_table() {
    use procession::ctx::SPILL_SLOTS;
    const N: usize = 2 * SPILL_SLOTS + 2;
    static POOL: WaiterPool<N> = WaiterPool::new();
    let ctx = Ctx::with_waiters(&POOL);
    let counters: Vec<_> = (0..N).map(|_| Counter::new()).collect();
    let mut futures: Vec<_> = (0..N).map(|_| Box::pin(ctx.cancelled())).collect();
    for (fut, counter) in futures.iter_mut().zip(&counters) {
        assert!(poll_with(fut.as_mut(), counter).is_pending());
    }
    assert_eq!(ctx.cause(), None, "the pool did not keep its {N} waiters");
    assert!(counters.iter().all(|c| c.wakes() == 0), "a waiter was woken early");
    ctx.cancel();
    assert!(counters.iter().all(|c| c.wakes() == 1), "a waiter was not woken once by the cancel");
    for (fut, counter) in futures.iter_mut().zip(&counters) {
        assert_eq!(poll_with(fut.as_mut(), counter), Poll::Ready(Cause::Shutdown));
    }
}

/// Roots whose waiters overflow into the spill table keep them apart there: cancelling one
/// root wakes its own waiters, each once, and none of another root's; dropping a third root
/// whose `poll_cancelled` waits took shared entries takes none of the others' entries away.
#[test]
fn spilled_waiters_stay_with_their_root() {
    fn wait_all<'c>(ctx: &'c Ctx<'static>, counters: &[Arc<Counter>]) -> Vec<Pin<Box<Cancelled<'c, 'static>>>> {
        counters
            .iter()
            .map(|counter| {
                let mut fut = Box::pin(ctx.cancelled());
                assert!(poll_with(fut.as_mut(), counter).is_pending());
                fut
            })
            .collect()
    }
    // One waiter per root is kept inline; the other two go to the spill table.
    let a = Ctx::new();
    let b = Ctx::new();
    let on_a: Vec<_> = (0..3).map(|_| Counter::new()).collect();
    let on_b: Vec<_> = (0..3).map(|_| Counter::new()).collect();
    let mut futures_a = wait_all(&a, &on_a);
    let mut futures_b = wait_all(&b, &on_b);
    {
        let c = Ctx::new();
        for _ in 0..3 {
            let waker: Waker = waker(Counter::new());
            assert!(c.poll_cancelled(&mut Context::from_waker(&waker)).is_pending());
        }
    }
    a.cancel();
    assert!(on_a.iter().all(|c| c.wakes() == 1), "a waiter of the cancelled root was not woken once");
    assert!(on_b.iter().all(|c| c.wakes() == 0), "a waiter of another root was woken");
    b.cancel_with(Cause::Restart);
    assert!(on_b.iter().all(|c| c.wakes() == 1), "a waiter of the second root was not woken once");
    for (fut, counter) in futures_a.iter_mut().zip(&on_a) {
        assert_eq!(poll_with(fut.as_mut(), counter), Poll::Ready(Cause::Shutdown));
    }
    for (fut, counter) in futures_b.iter_mut().zip(&on_b) {
        assert_eq!(poll_with(fut.as_mut(), counter), Poll::Ready(Cause::Restart));
    }
}

/// `poll_cancelled` from three distinct tasks on one root (the first kept in the root's slot,
/// the others in shared entries of the spill table): all wait without the root cancelling
/// itself and without an early wakeup, and the cancel wakes each exactly once.
#[test]
fn poll_cancelled_from_three_tasks() {
    let ctx = Ctx::new();
    let counters: Vec<_> = (0..3).map(|_| Counter::new()).collect();
    let wakers: Vec<Waker> = counters.iter().map(|c| waker(c.clone())).collect();
    for w in &wakers {
        assert!(ctx.poll_cancelled(&mut Context::from_waker(w)).is_pending());
    }
    assert_eq!(ctx.cause(), None, "the root cancelled itself");
    assert!(counters.iter().all(|c| c.wakes() == 0), "a task was woken early");
    ctx.cancel_with(Cause::Deadline);
    for (i, c) in counters.iter().enumerate() {
        assert_eq!(c.wakes(), 1, "task {i} was not woken exactly once");
    }
    for w in &wakers {
        assert_eq!(ctx.poll_cancelled(&mut Context::from_waker(w)), Poll::Ready(Cause::Deadline));
    }
}

/// A root that is dropped takes its shared entries in the spill table with it: a new root made
/// at the same address does not inherit the wakers its predecessor's `poll_cancelled` waits
/// left there, and cancelling it wakes none of them.
#[test]
fn a_dropped_root_leaves_nothing_in_the_spill_table() {
    let stale: Vec<_> = (0..3).map(|_| Counter::new()).collect();
    let mut place: Option<Ctx<'static>> = None;
    let first = place.insert(Ctx::new());
    for counter in &stale {
        let waker: Waker = waker(counter.clone());
        assert!(first.poll_cancelled(&mut Context::from_waker(&waker)).is_pending());
    }
    let address = core::ptr::from_ref(first) as usize;
    // Drops the first root in place and makes the second where it was.
    let second = place.insert(Ctx::new());
    assert_eq!(core::ptr::from_ref(second) as usize, address);
    // Two waiters, so that the second root has entries in the table too.
    let fresh: Vec<_> = (0..2).map(|_| Counter::new()).collect();
    for counter in &fresh {
        let waker: Waker = waker(counter.clone());
        assert!(second.poll_cancelled(&mut Context::from_waker(&waker)).is_pending());
    }
    second.cancel();
    assert!(fresh.iter().all(|c| c.wakes() == 1));
    assert!(stale.iter().all(|c| c.wakes() == 0), "a waker of the dropped root was woken");
}

/// A `cancelled()` future whose waker went to the spill table, polled again from another task
/// (a new waker), swaps its entry's waker: the cancel wakes the task that polled it last, once,
/// and not the one before.
#[test]
fn a_spilled_waiter_polled_with_a_new_waker_wakes_the_new_one() {
    let ctx = Ctx::new();
    let (inline, before, after) = (Counter::new(), Counter::new(), Counter::new());
    let mut first = pin!(ctx.cancelled());
    assert!(poll_with(first.as_mut(), &inline).is_pending());
    let mut spilled = pin!(ctx.cancelled());
    assert!(poll_with(spilled.as_mut(), &before).is_pending());
    assert!(poll_with(spilled.as_mut(), &after).is_pending());
    ctx.cancel();
    assert_eq!(inline.wakes(), 1);
    assert_eq!(after.wakes(), 1, "the task that polled last was not woken");
    assert_eq!(before.wakes(), 0, "the replaced waker was woken");
    assert_eq!(poll_with(spilled.as_mut(), &after), Poll::Ready(Cause::Shutdown));
}
