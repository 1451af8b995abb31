//! How often a cycle polls each child: the poll budget of the core's targets, asserted on an
//! executor that polls only after a wake (polls are deterministic there; times are not, and are
//! left to `benches/lifecycle.rs`).

extern crate alloc;

use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

use procession::{Ctx, Runner, chain, leaf, parallel};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failed;

impl procession::Merge for Failed {
    fn merge(self, _later: Self) -> Self {
        self
    }
}

/// A task waker that records that it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls `fut` while it was woken since its last poll, at most `budget` times: the polls made
/// and the output if it completed.
fn poll_while_woken<F: Future + ?Sized>(
    mut fut: Pin<&mut F>,
    flag: &Arc<Flag>,
    budget: usize,
) -> (usize, Option<F::Output>) {
    let waker = Waker::from(flag.clone());
    let mut polls = 0;
    while polls < budget && flag.0.swap(false, Ordering::SeqCst) {
        polls += 1;
        if let Poll::Ready(output) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            return (polls, Some(output));
        }
    }
    (polls, None)
}

/// Runs `fut` to the end on the woken-only executor: (task polls, output).
fn run<F: Future>(fut: F) -> (usize, F::Output) {
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let (polls, output) = poll_while_woken(pin!(fut), &flag, 1_000_000);
    (polls, output.expect("the cycle went to sleep before it ended (a lost wakeup)"))
}

/// A leaf that waits until its context is cancelled and counts the polls of its future.
fn counted_leaf(polls: &AtomicUsize) -> impl Runner<Failed> + Copy + '_ {
    leaf(async move |ctx: &Ctx<'_>| -> Result<(), Failed> {
        let mut cancelled = pin!(ctx.cancelled());
        poll_fn(|cx| {
            polls.fetch_add(1, Ordering::SeqCst);
            cancelled.as_mut().poll(cx)
        })
        .await;
        Ok(())
    })
}

/// Polls of each child and task polls of one full cycle of `tree` (start, all ready, the
/// callback returns at once, graceful stop).
fn cycle<R: Runner<Failed>>(tree: &R, polls: &AtomicUsize, children: usize) -> (f64, usize) {
    let root = Ctx::new();
    let (task_polls, output) = run(tree.run(&root, async |_: &Ctx<'_>| Ok(())));
    assert_eq!(output, Ok(()));
    (polls.load(Ordering::SeqCst) as f64 / children as f64, task_polls)
}

/// `parallel([leaf; N])` polls each child exactly twice per cycle (once to start it, once to
/// stop it), in two task polls, whatever N.
#[test]
fn parallel_polls_each_child_twice() {
    let polls = AtomicUsize::new(0);
    let (per_child, task_polls) = cycle(&parallel([counted_leaf(&polls); 10]), &polls, 10);
    assert_eq!((per_child, task_polls), (2.0, 2));

    let polls = AtomicUsize::new(0);
    let (per_child, task_polls) = cycle(&parallel([counted_leaf(&polls); 100]), &polls, 100);
    assert_eq!((per_child, task_polls), (2.0, 2));
}

/// A `chain` of a tuple starts every child in one task poll (each child's readiness lets the next
/// arm, polled after it, start at once); the stop goes from the top down, one child per task
/// poll, and re-polls the children still waiting: (N + 3) / 2 polls per child without `alloc`.
#[test]
fn chain_starts_in_one_poll_and_stops_one_child_per_poll() {
    let polls = AtomicUsize::new(0);
    let leaf = counted_leaf(&polls);
    let (per_child, task_polls) = cycle(&chain((leaf, leaf, leaf, leaf)), &polls, 4);
    assert_eq!((per_child, task_polls), (3.5, 5));
}

/// With `alloc`, a `Vec` of 1000 waiting children (100 under miri), one of which is woken, re-polls that child
/// alone (each arm has a waker of its own), and the tree sleeps in between.
#[cfg(feature = "alloc")]
#[test]
fn vec_wake_repolls_only_the_woken_child() {
    use futures::task::AtomicWaker;

    struct Latch {
        set: AtomicBool,
        waker: AtomicWaker,
    }
    impl Latch {
        fn poll_wait(&self, cx: &Context<'_>) -> Poll<()> {
            self.waker.register(cx.waker());
            if self.set.load(Ordering::SeqCst) { Poll::Ready(()) } else { Poll::Pending }
        }
        fn release(&self) {
            self.set.store(true, Ordering::SeqCst);
            self.waker.wake();
        }
    }

    let polls = AtomicUsize::new(0);
    let poke = Latch { set: AtomicBool::new(false), waker: AtomicWaker::new() };
    let gate = Latch { set: AtomicBool::new(false), waker: AtomicWaker::new() };
    // 1000 children, a hundred under miri (a hundred times slower).
    let n = if cfg!(miri) { 100 } else { 1000 };
    let children: Vec<_> = (0..n)
        .map(|i| {
            let (polls, poke) = (&polls, &poke);
            leaf(async move |ctx: &Ctx<'_>| -> Result<(), Failed> {
                let mut cancelled = pin!(ctx.cancelled());
                let mut poked = i != 0;
                poll_fn(|cx| {
                    polls.fetch_add(1, Ordering::SeqCst);
                    if !poked && poke.poll_wait(cx).is_ready() {
                        poked = true;
                    }
                    cancelled.as_mut().poll(cx)
                })
                .await;
                Ok(())
            })
        })
        .collect();
    let tree = parallel(children);
    let root = Ctx::new();
    let mut fut = pin!(tree.run(&root, async |_: &Ctx<'_>| {
        poll_fn(|cx| gate.poll_wait(cx)).await;
        Ok(())
    }));
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let (_, output) = poll_while_woken(fut.as_mut(), &flag, 10_000);
    assert!(output.is_none());
    assert!(!flag.0.load(Ordering::SeqCst), "the tree sleeps while nothing happens");

    polls.store(0, Ordering::SeqCst);
    poke.release();
    let (task_polls, output) = poll_while_woken(fut.as_mut(), &flag, 1);
    assert!(output.is_none());
    assert_eq!((task_polls, polls.load(Ordering::SeqCst)), (1, 1), "one wake re-polls the woken child alone");

    gate.release();
    let (_, output) = poll_while_woken(fut.as_mut(), &flag, 1_000_000);
    assert_eq!(output, Some(Ok(())));
}
