//! `chain`: start in order, each once the previous is ready; stop in reverse; forced cascade.

#![allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]

mod common;

use common::*;
use procession::{Ctx, Runner, chain};
use std::sync::{Arc, Mutex};

/// Upstream `TestChain`: for 0..=4 children, each appends its index and calls its callback; the
/// values come out in start order and the main callback runs.
#[test]
fn upstream_chain() {
    fn check<const N: usize>() {
        let values = Arc::new(Mutex::new(Vec::new()));
        let deps: [_; N] = core::array::from_fn(|i| {
            let values = values.clone();
            procession::runner::from_fn(
                async move |_: &Ctx<'_>, lc: &procession::runner::Lifecycle<'_>| -> Result<(), Error> {
                    values.lock().unwrap().push(i);
                    lc.ready();
                    lc.stop_requested().await;
                    Ok(())
                },
            )
        });
        let called = Mutex::new(false);
        let root = Ctx::new();
        let result = block_on(chain(deps).run(&root, async |_| {
            *called.lock().unwrap() = true;
            Ok(())
        }));
        assert_eq!(result, Ok(()));
        assert!(*called.lock().unwrap());
        assert_eq!(*values.lock().unwrap(), (0..N).collect::<Vec<_>>());
    }
    check::<0>();
    check::<1>();
    check::<2>();
    check::<3>();
    check::<4>();
}

/// Zero children: the callback runs with the caller's context, as `nop`.
#[test]
fn zero_children_is_nop() {
    let root = Ctx::new();
    let same = block_on(chain(()).run(&root, async |c: &Ctx<'_>| -> Result<(), Error> {
        assert!(core::ptr::eq(c, &root));
        Ok(())
    }));
    assert_eq!(same, Ok(()));
    let empty: [Probe; 0] = [];
    let log = Log::new();
    assert_eq!(run(&chain(empty), &log, Main::Return), Ok(()));
    assert_eq!(log.events(), strings(&["main"]));
}

/// One child behaves exactly as that child.
#[test]
fn one_child_is_that_child() {
    let log = Log::new();
    assert_eq!(run(&chain((probe("a", &log),)), &log, Main::Return), Ok(()));
    let alone = log.take();
    assert_eq!(run(&probe("a", &log), &log, Main::Return), Ok(()));
    assert_eq!(alone, log.take());
    assert_eq!(run(&chain([probe("a", &log)]), &log, Main::Return), Ok(()));
    assert_eq!(alone, log.take());
    assert_eq!(alone, strings(&["start a", "ready a", "main", "stop a"]));
}

/// Two and eight children, as a tuple and as an array: start in order, stop in reverse.
#[test]
fn order_two_and_eight() {
    let log = Log::new();
    assert_eq!(run(&chain((probe("p0", &log), probe("p1", &log))), &log, Main::Return), Ok(()));
    expect_lifecycle(log.take(), &NAMES[..2], StopOrder::Reverse);
    assert_eq!(run(&chain(probes::<2>(&log, None)), &log, Main::Return), Ok(()));
    expect_lifecycle(log.take(), &NAMES[..2], StopOrder::Reverse);
    let l = &log;
    let tuple = chain((
        probe("p0", l),
        probe("p1", l),
        probe("p2", l),
        probe("p3", l),
        probe("p4", l),
        probe("p5", l),
        probe("p6", l),
        probe("p7", l),
    ));
    assert_eq!(run(&tuple, &log, Main::Return), Ok(()));
    expect_lifecycle(log.take(), &NAMES, StopOrder::Reverse);
    assert_eq!(run(&chain(probes::<8>(&log, None)), &log, Main::Return), Ok(()));
    expect_lifecycle(log.take(), &NAMES, StopOrder::Reverse);
}

/// A start failure at each position of 8: nothing after it starts, the callback does not run,
/// what started stops in reverse, and the error is the failed child's.
#[test]
fn start_failure_at_each_position() {
    check_start_failure_at_each_position(chain, StopOrder::Reverse);
}

/// A child failing while running cancels everything after it (forced, with the child's cause)
/// and the callback's context; what is before it stops gracefully.
#[test]
fn failure_while_running_cascades() {
    let log = Log::new();
    let result = run(&chain(probes::<4>(&log, Some((1, Behaviour::FailRunning)))), &log, Main::UntilCancelled);
    assert_eq!(result, Err(fail("p1")));
    let mut expected = started(&NAMES[..4]);
    expected.extend(strings(&[
        "main",
        "main cancelled (dependency failed)",
        "stop p3 (dependency failed)",
        "stop p2 (dependency failed)",
        "stop p1",
        "stop p0",
    ]));
    assert_eq!(log.events(), expected);
}

/// Cancelling the parent cancels every child and the callback, with the parent's cause.
#[test]
fn parent_cancellation() {
    check_parent_cancellation(chain, StopOrder::Reverse);
}

/// The callback's error comes first; the children's errors follow in child order; none is lost.
#[test]
fn callback_error_first_then_children_in_order() {
    check_callback_error_first(chain);
}

/// A child that becomes ready and ends in the same poll, before anything after it started,
/// gives up at its start: nothing after it starts, the callback does not run, what started
/// stops, and its error is the result. (It used to let the children after it start, and then
/// everything stopped in start order.)
#[test]
fn child_abandoning_its_callback_is_a_failure() {
    let log = Log::new();
    let quitter =
        procession::runner::from_fn(async |_: &Ctx<'_>, lc: &procession::runner::Lifecycle<'_>| -> Result<(), Error> {
            lc.ready();
            Err(fail("quitter"))
        });
    let tree = chain((probe("a", &log), quitter, probe("c", &log)));
    let result = run(&tree, &log, Main::UntilCancelled);
    assert_eq!(result, Err(fail("quitter")));
    assert_eq!(log.events(), strings(&["start a", "ready a", "stop a"]));
}

/// A child in the middle that abandons its callback (drops it unfinished) and returns while the
/// callback and the children after it still run: the callback is told, the children after it
/// stop, then the ones before it, and the group returns (it used to wait for ever).
#[test]
fn middle_child_abandoning_its_callback_does_not_hang() {
    let log = Log::new();
    let tree = chain((probe("a", &log), Abandoner { log: log.clone() }, probe("c", &log)));
    let root = Ctx::new();
    let result = block_on_within(1_000, run_main(&tree, &root, &log, Main::UntilCancelled));
    assert_eq!(result, Err(fail("abandoner")));
    let events = log.events();
    let at = |e: &str| events.iter().position(|x| x == e).unwrap_or_else(|| panic!("no {e} in {events:?}"));
    assert!(at("abandoned") < at("main cancelled (dependency failed)"), "{events:?}");
    assert!(at("main cancelled (dependency failed)") < at("stop a"), "{events:?}");
    assert!(events.iter().position(|x| x.starts_with("stop c")).unwrap() < at("stop a"), "{events:?}");
}

// === found by mutation testing (scripts/mutants) ===

/// A child that hands its callback a context of its own making, outside the context the chain
/// gave it, and gives up by cancelling that context.
struct GivesUpThroughOwnCtx<'o> {
    own: &'o Ctx<'static>,
    log: Log,
}

impl Runner<Error> for GivesUpThroughOwnCtx<'_> {
    async fn run<F>(&self, _: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        self.log.push("ready own");
        let result = ready(self.own).await;
        self.log.push("stop own");
        result
    }
}

/// A waker that counts its wakes.
struct Wakes(core::sync::atomic::AtomicUsize);

impl std::task::Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
    }
}

/// The chain waits on a child's own context too, not only on the one it gave the child: when
/// the child gives up by cancelling a context of its own, cancelled from outside the task while
/// the chain is idle, the chain's task is woken, and the dependency failure reaches the main
/// callback. Polled by hand, so that a lost wakeup fails the test instead of hanging it.
#[test]
fn child_giving_up_through_its_own_context_wakes_the_chain() {
    use core::sync::atomic::Ordering;
    use core::task::{Context, Poll, Waker};
    let log = Log::new();
    let own = Ctx::new();
    let tree = chain((GivesUpThroughOwnCtx { own: &own, log: log.clone() }, probe("b", &log)));
    let root = Ctx::new();
    let wakes = Arc::new(Wakes(core::sync::atomic::AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = core::pin::pin!(run_main(&tree, &root, &log, Main::UntilCancelled));
    // Poll while the tree wakes itself, until it is idle waiting for the main callback's end.
    let mut seen = usize::MAX;
    while wakes.0.load(Ordering::SeqCst) != seen {
        seen = wakes.0.load(Ordering::SeqCst);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(log.take(), strings(&["ready own", "start b", "ready b", "main"]));
    assert!(own.cancel_with(procession::Cause::DependencyFailed));
    assert!(wakes.0.load(Ordering::SeqCst) > seen, "the chain missed its child giving up: a lost wakeup");
    let result = loop {
        if let Poll::Ready(result) = fut.as_mut().poll(&mut cx) {
            break result;
        }
    };
    assert_eq!(result, Ok(()));
    assert_eq!(log.take(), strings(&["main cancelled (dependency failed)", "stop b (dependency failed)", "stop own"]));
}

/// Polls `fut` with the waker of `wakes` for as long as it wakes itself; returns its output if
/// it completed, `None` once it is idle (pending and not woken). Panics if it is still woken
/// after 200 polls: a task that spins.
fn poll_until_idle<F: core::future::Future>(mut fut: core::pin::Pin<&mut F>, wakes: &Arc<Wakes>) -> Option<F::Output> {
    use core::sync::atomic::Ordering;
    let waker = core::task::Waker::from(wakes.clone());
    let mut cx = core::task::Context::from_waker(&waker);
    for _ in 0..200 {
        let before = wakes.0.load(Ordering::SeqCst);
        if let core::task::Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            return Some(output);
        }
        if wakes.0.load(Ordering::SeqCst) == before {
            return None;
        }
    }
    panic!("still woken after 200 polls: the task spins");
}

fn new_wakes() -> Arc<Wakes> {
    Arc::new(Wakes(core::sync::atomic::AtomicUsize::new(0)))
}

/// A child that gives up while the main callback is still busy (it ignores its cancelled
/// context until the test lets it go) leaves the chain idle: the chain passes the failure on
/// once, and its task does not spin while it waits for the callback.
#[test]
fn child_giving_up_while_the_callback_is_busy_leaves_the_chain_idle() {
    let log = Log::new();
    let tree = chain((probe_with("a", &log, Behaviour::FailRunning), probe("b", &log)));
    let root = Ctx::new();
    let go = Ctx::new();
    let wakes = new_wakes();
    let mut fut = core::pin::pin!(tree.run(&root, async |main: &Ctx<'_>| {
        go.cancelled().await;
        log.push(format!("main done ({})", main.cause().map(|c| c.to_string()).unwrap_or_default()));
        Ok(())
    }));
    assert!(poll_until_idle(fut.as_mut(), &wakes).is_none());
    assert_eq!(log.take(), strings(&["start a", "ready a", "start b", "ready b"]));
    go.cancel();
    assert_eq!(poll_until_idle(fut.as_mut(), &wakes), Some(Err(fail("a"))));
    assert_eq!(log.take(), strings(&["main done (dependency failed)", "stop b (dependency failed)", "stop a"]));
}

/// The caller's context cancelled as the first child becomes ready (both seen in one poll):
/// the next child never starts, and the first is stopped with the caller's cause.
#[test]
fn caller_cancelled_as_a_child_becomes_ready_starts_nothing_more() {
    struct Gated<'g> {
        gate: &'g Ctx<'static>,
        log: Log,
    }
    impl Runner<Error> for Gated<'_> {
        async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
        where
            F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
        {
            self.gate.cancelled().await;
            self.log.push("ready gated");
            let result = ready(ctx).await;
            self.log.push(format!("stop gated ({})", ctx.cause().map(|c| c.to_string()).unwrap_or_default()));
            result
        }
    }
    let log = Log::new();
    let gate = Ctx::new();
    let tree = chain((Gated { gate: &gate, log: log.clone() }, probe("b", &log)));
    let root = Ctx::new();
    let wakes = new_wakes();
    let mut fut = core::pin::pin!(run_main(&tree, &root, &log, Main::Return));
    assert!(poll_until_idle(fut.as_mut(), &wakes).is_none());
    assert!(log.take().is_empty());
    root.cancel_with(procession::Cause::Restart);
    gate.cancel();
    assert_eq!(poll_until_idle(fut.as_mut(), &wakes), Some(Ok(())));
    assert_eq!(log.take(), strings(&["ready gated", "stop gated (restart)"]));
}

/// Ignores the graceful stop; once its context is cancelled, waits for `gate` before it
/// returns. Logs `graceful NAME`, `forced NAME (CAUSE)` and `stop NAME`.
struct SlowForcedStop<'g> {
    gate: &'g Ctx<'static>,
    log: Log,
}

impl Runner<Error> for SlowForcedStop<'_> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        let result = ready(ctx).await;
        self.log.push("graceful slow");
        let cause = ctx.cancelled().await;
        self.log.push(format!("forced slow ({cause})"));
        self.gate.cancelled().await;
        self.log.push("stop slow");
        result
    }
}

/// After a child gave up and the chain stopped what depends on it, the children below it stop
/// gracefully; the caller's context cancelled then still forces them (with the stop's first
/// cause), and while the forced stop waits for a slow child the chain's task stays idle.
#[test]
fn caller_cancelled_after_a_child_gave_up_forces_the_rest_without_spinning() {
    let log = Log::new();
    let gate = Ctx::new();
    let tree = chain((
        SlowForcedStop { gate: &gate, log: log.clone() },
        probe_with("b", &log, Behaviour::FailRunning),
        probe("c", &log),
    ));
    let root = Ctx::new();
    let wakes = new_wakes();
    let mut fut = core::pin::pin!(run_main(&tree, &root, &log, Main::UntilCancelled));
    assert!(poll_until_idle(fut.as_mut(), &wakes).is_none());
    assert_eq!(
        log.take(),
        strings(&[
            "start b",
            "ready b",
            "start c",
            "ready c",
            "main",
            "main cancelled (dependency failed)",
            "stop c (dependency failed)",
            "stop b",
            "graceful slow",
        ])
    );
    root.cancel_with(procession::Cause::Restart);
    assert!(poll_until_idle(fut.as_mut(), &wakes).is_none());
    assert_eq!(log.take(), strings(&["forced slow (dependency failed)"]));
    gate.cancel();
    assert_eq!(poll_until_idle(fut.as_mut(), &wakes), Some(Err(fail("b"))));
    assert_eq!(log.take(), strings(&["stop slow"]));
}

/// A probe that waits for `gate` before it starts.
#[cfg(feature = "alloc")]
struct AfterGate<'g> {
    gate: &'g Ctx<'static>,
    probe: Probe,
}

#[cfg(feature = "alloc")]
impl Runner<Error> for AfterGate<'_> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        self.gate.cancelled().await;
        self.probe.run(ctx, ready).await
    }
}

/// A chain of a `Vec` of 40 children (beyond 30, each arm is polled only when its own waker is
/// woken), each waiting for its own gate before it starts: a child that becomes ready wakes the
/// arm of the next one, and the last wakes the main callback.
#[test]
#[cfg(feature = "alloc")]
fn vec_of_forty_wakes_each_child_when_the_one_below_is_ready() {
    let log = Log::new();
    let gates: Vec<Ctx<'static>> = (0..40).map(|_| Ctx::new()).collect();
    let tree = chain(gates.iter().map(|gate| AfterGate { gate, probe: probe("p", &log) }).collect::<Vec<_>>());
    let root = Ctx::new();
    let open = async {
        for gate in &gates {
            yield_now().await;
            gate.cancel();
        }
    };
    let run = async { futures::join!(run_main(&tree, &root, &log, Main::Return), open).0 };
    assert_eq!(block_on_within(2000, run), Ok(()));
    let events = log.take();
    assert_eq!(events.iter().filter(|e| *e == "ready p").count(), 40);
    assert_eq!(events[80], "main");
}
