//! The `proc` module: processes as async functions of a context, `concurrent`,
//! `concurrent_group`, `sequence`, `task`, `trace_region`, `main`, the runner conversions and
//! the error lists.
//!
//! go-proc has no tests of its own. The cases P1–P18 are derived from its code
//! (shot-proc-semantics.md §4.4); each test below is named after its case. Tests named
//! `deviation_*` show where this crate deliberately differs from upstream.
#![allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]
#![allow(clippy::result_large_err, reason = "the test error type keeps 16 failures inline")]

mod common;

use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll};
use std::sync::Arc;

use common::*;
use procession::proc::{
    Proc, TaskError, concurrent, concurrent_group, from_runner, into_runner, sequence, task, trace_region,
};
use procession::{Cause, Ctx, Merge, MultiError, Runner, chain};

// === helpers ===

/// A process that fails with `name` at once.
fn failing(name: &'static str) -> impl Proc<Error> + Clone {
    async move |_: &Ctx<'_>| -> Result<(), Error> { Err(fail(name)) }
}

/// A process that logs `name` and returns `Ok` at once.
fn logging(name: &'static str, log: &Log) -> impl Proc<Error> + Clone {
    let log = log.clone();
    async move |_: &Ctx<'_>| -> Result<(), Error> {
        log.push(name);
        Ok(())
    }
}

/// A process that waits until its context is cancelled, logs `NAME cancelled (CAUSE)` and
/// returns `result`.
fn until_cancelled(name: &'static str, log: &Log, result: Result<(), Error>) -> impl Proc<Error> + Clone {
    let log = log.clone();
    async move |ctx: &Ctx<'_>| -> Result<(), Error> {
        let cause = ctx.cancelled().await;
        log.push(format!("{name} cancelled ({cause})"));
        result.clone()
    }
}

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future>(fut: core::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
}

/// Polls `fut` up to `times` times; `Pending` if it has not completed.
fn poll_times<F: Future>(mut fut: core::pin::Pin<&mut F>, times: usize) -> Poll<F::Output> {
    for _ in 0..times {
        if let Poll::Ready(out) = poll_once(fut.as_mut()) {
            return Poll::Ready(out);
        }
    }
    Poll::Pending
}

/// A waker that counts its wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl futures::task::ArcWake for CountingWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A standard error for the `source()` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Boom;

impl core::fmt::Display for Boom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("boom")
    }
}

impl core::error::Error for Boom {}

/// `Boom` keeps the first failure when merged (P3: the identity is visible in the type itself).
impl Merge for Boom {
    fn merge(self, _: Self) -> Self {
        self
    }
}

// === P1–P11: concurrent and concurrent_group ===

/// A process type that can be named, for empty sets.
type Instant = fn(&Ctx<'_>) -> core::future::Ready<Result<(), Error>>;

/// P1: no processes → `Ok` at once, for `concurrent`, `concurrent_group` and `sequence`, as a
/// unit tuple, an empty array and (with `alloc`) an empty `Vec`.
#[test]
fn p1_no_processes_ok_at_once() {
    let root = Ctx::new();
    let none: [Instant; 0] = [];
    for result in [
        poll_once(pin!(concurrent(()).run(&root))),
        poll_once(pin!(concurrent_group(()).run(&root))),
        poll_once(pin!(sequence(()).run(&root))),
        poll_once(pin!(concurrent(none).run(&root))),
        poll_once(pin!(concurrent_group(none).run(&root))),
        poll_once(pin!(sequence(none).run(&root))),
    ] {
        assert_eq!(result, Poll::Ready(Ok::<(), Error>(())));
    }
    #[cfg(feature = "alloc")]
    {
        let empty: Vec<Instant> = Vec::new();
        assert_eq!(poll_once(pin!(concurrent(empty.clone()).run(&root))), Poll::Ready(Ok(())));
        assert_eq!(poll_once(pin!(concurrent_group(empty.clone()).run(&root))), Poll::Ready(Ok(())));
        assert_eq!(poll_once(pin!(sequence(empty).run(&root))), Poll::Ready(Ok(())));
    }
}

/// Two processes that each wait for the other to arrive: they complete only if they run at
/// the same time.
fn barrier_pair<'b>(a: &'b Ctx<'static>, b: &'b Ctx<'static>) -> [impl Proc<Error> + 'b; 2] {
    let arrive = async |me: &Ctx<'static>, other: &Ctx<'static>| -> Result<(), Error> {
        me.cancel();
        other.cancelled().await;
        Ok(())
    };
    [(a, b), (b, a)].map(move |(me, other)| async move |_: &Ctx<'_>| arrive(me, other).await)
}

/// P2: `concurrent(a, b)` (and `concurrent_group`) run both at the same time: a barrier that
/// each waits on completes; with `sequence` the same barrier never completes.
#[test]
fn p2_concurrent_runs_at_the_same_time() {
    let root = Ctx::new();
    let (a, b) = (Ctx::new(), Ctx::new());
    assert_eq!(block_on_within(10, concurrent(barrier_pair(&a, &b)).run(&root)), Ok(()));
    let (a, b) = (Ctx::new(), Ctx::new());
    assert_eq!(block_on_within(10, concurrent_group(barrier_pair(&a, &b)).run(&root)), Ok(()));
    let (a, b) = (Ctx::new(), Ctx::new());
    assert!(poll_times(pin!(sequence(barrier_pair(&a, &b)).run(&root)), 100).is_pending());
}

/// P3: `concurrent(ok, fail E)` → exactly `E`, unchanged (not wrapped in another list).
#[test]
fn p3_one_failure_comes_back_unchanged() {
    let root = Ctx::new();
    let ok = async |_: &Ctx<'_>| -> Result<(), Boom> { Ok(()) };
    let boom = async |_: &Ctx<'_>| -> Result<(), Boom> { Err(Boom) };
    assert_eq!(block_on(concurrent((ok, boom)).run(&root)), Err(Boom));
    assert_eq!(block_on(concurrent_group((ok, boom)).run(&root)), Err(Boom));
    let ok = async |_: &Ctx<'_>| -> Result<(), Error> { Ok(()) };
    assert_eq!(block_on(concurrent((ok, failing("e"))).run(&root)), Err(fail("e")));
}

/// P4: `concurrent(fail A, fail B)` → a list of two, A then B, "2 errors:" with one line each.
#[test]
fn p4_two_failures_make_a_list_of_two() {
    let root = Ctx::new();
    let error = block_on(concurrent((failing("A"), failing("B"))).run(&root)).unwrap_err();
    assert_eq!(error, fails(&["A", "B"]));
    assert_eq!(error.len(), 2);
    assert_eq!(error.to_string(), "2 errors:\n- A\n- B");
}

/// P5: in `concurrent`, a fast failure does not cancel a sibling that waits for its context:
/// the call returns only once the caller's context is cancelled, with both errors.
#[test]
fn p5_concurrent_failure_cancels_nothing() {
    let log = Log::new();
    let root = Ctx::new();
    let procs = (failing("fast"), until_cancelled("waiter", &log, Err(fail("cancelled"))));
    let both = concurrent(procs);
    let mut run = pin!(both.run(&root));
    assert!(poll_times(run.as_mut(), 50).is_pending());
    assert!(log.events().is_empty(), "the sibling was not cancelled");
    root.cancel();
    assert_eq!(poll_once(run), Poll::Ready(Err(fails(&["fast", "cancelled"]))));
    assert_eq!(log.events(), strings(&["waiter cancelled (shutdown)"]));
}

/// P6: in `concurrent_group`, the first failure cancels the siblings (cause "dependency
/// failed"); a sibling that returns `Ok` leaves just the failure, one that returns its own
/// cancellation error adds it, after the failure (index order).
#[test]
fn p6_group_failure_cancels_siblings() {
    let log = Log::new();
    let root = Ctx::new();
    let group = concurrent_group((failing("fast"), until_cancelled("waiter", &log, Ok(()))));
    assert_eq!(block_on_within(10, group.run(&root)), Err(fail("fast")));
    assert_eq!(log.take(), strings(&["waiter cancelled (dependency failed)"]));

    let group = concurrent_group((failing("fast"), until_cancelled("waiter", &log, Err(fail("cancelled")))));
    assert_eq!(block_on_within(10, group.run(&root)), Err(fails(&["fast", "cancelled"])));
    assert_eq!(log.take(), strings(&["waiter cancelled (dependency failed)"]));
    assert!(!root.is_cancelled(), "the caller's context is not cancelled");
}

/// P7: `concurrent_group(ok1, ok2)` → `Ok`; the group context the children saw is cancelled
/// by the time the call returns; the caller's context is not.
#[test]
fn p7_group_context_cancelled_on_return() {
    let root = Ctx::new();
    let counter = Arc::new(CountingWaker::default());
    let waker = futures::task::waker(counter.clone());
    // Registers a waker on the group context, then returns `Ok`: the waker is woken only if
    // the group context is cancelled.
    let watcher = async |ctx: &Ctx<'_>| -> Result<(), Error> {
        assert!(ctx.poll_cancelled(&mut Context::from_waker(&waker)).is_pending());
        Ok(())
    };
    let ok = async |_: &Ctx<'_>| -> Result<(), Error> { Ok(()) };
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    assert_eq!(block_on(concurrent_group((watcher, ok)).run(&root)), Ok(()));
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "the group context was cancelled");
    assert!(!root.is_cancelled());

    // `concurrent` hands out the caller's context itself and cancels nothing.
    let counter_before = counter.0.load(Ordering::SeqCst);
    assert_eq!(block_on(concurrent((watcher, ok)).run(&root)), Ok(()));
    assert_eq!(counter.0.load(Ordering::SeqCst), counter_before);
}

/// P8: in `concurrent_group`, a process that succeeds early does not cancel the others: a
/// slow sibling runs to completion.
#[test]
fn p8_group_early_success_cancels_nothing() {
    let log = Log::new();
    let root = Ctx::new();
    let gate = Ctx::new();
    let slow = async |ctx: &Ctx<'_>| -> Result<(), Error> {
        use embassy_futures::select::{Either, select};
        match select(gate.cancelled(), ctx.cancelled()).await {
            Either::First(_) => log.push("slow: done"),
            Either::Second(cause) => log.push(format!("slow: cancelled ({cause})")),
        }
        Ok(())
    };
    let group = concurrent_group((logging("early", &log), slow));
    let mut run = pin!(group.run(&root));
    assert!(poll_times(run.as_mut(), 50).is_pending());
    assert_eq!(log.events(), strings(&["early"]));
    gate.cancel();
    assert_eq!(poll_once(run), Poll::Ready(Ok(())));
    assert_eq!(log.events(), strings(&["early", "slow: done"]));
}

/// P9: cancelling the caller's context reaches the children of both `concurrent` and
/// `concurrent_group`, with the caller's cause.
#[test]
fn p9_parent_cancellation_reaches_children() {
    let log = Log::new();
    let root = Ctx::new();
    let procs = (until_cancelled("a", &log, Ok(())), until_cancelled("b", &log, Ok(())));
    let (plain, group) = (concurrent(procs.clone()), concurrent_group(procs));
    let mut plain = pin!(plain.run(&root));
    let mut group = pin!(group.run(&root));
    assert!(poll_times(plain.as_mut(), 10).is_pending());
    assert!(poll_times(group.as_mut(), 10).is_pending());
    root.cancel();
    assert_eq!(poll_once(plain), Poll::Ready(Ok(())));
    assert_eq!(poll_once(group), Poll::Ready(Ok(())));
    assert_eq!(log.events(), strings(&["a cancelled (shutdown)", "b cancelled (shutdown)"].repeat(2)));
}

/// P10: nested lists are flattened: `concurrent(concurrent(e1, e2), concurrent(e3, e4))` is
/// one list of four.
#[test]
fn p10_nested_failures_are_flattened() {
    let root = Ctx::new();
    let left = concurrent((failing("e1"), failing("e2")));
    let right = concurrent_group([failing("e3"), failing("e4")]);
    let error = block_on(concurrent((left, right)).run(&root)).unwrap_err();
    assert_eq!(error, fails(&["e1", "e2", "e3", "e4"]));
    assert_eq!(error.len(), 4);
}

/// P11 (the upstream `appendErrs` bug, fixed): `concurrent(fast e1, slower concurrent(e2,
/// e3))` keeps all three failures; upstream returns `e1` alone.
#[test]
fn p11_nested_failures_after_a_plain_one_are_kept() {
    let root = Ctx::new();
    let e1_done = Ctx::new();
    let fast = async |_: &Ctx<'_>| -> Result<(), Error> {
        e1_done.cancel();
        Err(fail("e1"))
    };
    let slower = async |_: &Ctx<'_>| -> Result<(), Error> {
        e1_done.cancelled().await; // e1 has failed before the nested list arrives
        Err(fails(&["e2", "e3"]))
    };
    assert_eq!(block_on_within(10, concurrent((fast, slower)).run(&root)), Err(fails(&["e1", "e2", "e3"])));
}

/// Deviation: failures are merged in the order of the processes in the set, not in the order
/// they happened (upstream: completion order).
#[test]
fn deviation_failures_in_index_order() {
    let root = Ctx::new();
    let b_failed = Ctx::new();
    let a = async |_: &Ctx<'_>| -> Result<(), Error> {
        b_failed.cancelled().await;
        Err(fail("a (failed second)"))
    };
    let b = async |_: &Ctx<'_>| -> Result<(), Error> {
        b_failed.cancel();
        Err(fail("b (failed first)"))
    };
    assert_eq!(
        block_on_within(10, concurrent((a, b)).run(&root)),
        Err(fails(&["a (failed second)", "b (failed first)"]))
    );
}

/// Without `alloc`, a list that is full counts the failures that do not fit: nothing panics
/// and the count is reported.
#[test]
fn bounded_list_counts_what_does_not_fit() {
    type Small = MultiError<&'static str, 2>;
    let root = Ctx::new();
    let fail = |msg| async move |_: &Ctx<'_>| -> Result<(), Small> { Err(MultiError::from_error(msg)) };
    let error = block_on(concurrent([fail("a"), fail("b"), fail("c")]).run(&root)).unwrap_err();
    assert_eq!(error.errors(), &["a", "b"]);
    assert_eq!(error.overflow(), 1);
    assert_eq!(error.to_string(), "3 errors:\n- a\n- b\n(1 more not kept)");
}

/// Tuples of processes of different types, arrays and vectors are all sets; the group's
/// failure cancels with "dependency failed" whatever the set.
#[test]
fn sets_of_every_kind() {
    let log = Log::new();
    let root = Ctx::new();
    let tuple = concurrent_group((logging("a", &log), failing("b"), until_cancelled("c", &log, Ok(()))));
    assert_eq!(block_on_within(10, tuple.run(&root)), Err(fail("b")));
    let array = concurrent_group([until_cancelled("d", &log, Ok(())), until_cancelled("e", &log, Ok(()))]);
    let with_failure = concurrent_group((array, failing("f")));
    assert_eq!(block_on_within(10, with_failure.run(&root)), Err(fail("f")));
    assert_eq!(
        log.take(),
        strings(&[
            "a",
            "c cancelled (dependency failed)",
            "d cancelled (dependency failed)",
            "e cancelled (dependency failed)"
        ])
    );
    #[cfg(feature = "alloc")]
    {
        let procs: Vec<_> = ["v0", "v1", "v2"].into_iter().map(failing).collect();
        assert_eq!(block_on(concurrent(procs.clone()).run(&root)), Err(fails(&["v0", "v1", "v2"])));
        assert_eq!(block_on(concurrent_group(procs.clone()).run(&root)), Err(fails(&["v0", "v1", "v2"])));
        assert_eq!(block_on(sequence(procs).run(&root)), Err(fail("v0")));
        let waiters: Vec<_> = ["w0", "w1"].into_iter().map(|n| until_cancelled(n, &log, Ok(()))).collect();
        let group = concurrent_group((concurrent_group(waiters), failing("x")));
        assert_eq!(block_on_within(10, group.run(&root)), Err(fail("x")));
        assert_eq!(log.take(), strings(&["w0 cancelled (dependency failed)", "w1 cancelled (dependency failed)"]));
    }
}

// === P12–P13: sequence ===

/// P12: `sequence(a, b, c)` runs a, b, c in order; `sequence(a, fail b, c)` returns b's
/// failure unchanged and c never runs.
#[test]
fn p12_sequence_in_order_stops_at_first_failure() {
    let log = Log::new();
    let root = Ctx::new();
    let all = sequence((logging("a", &log), logging("b", &log), logging("c", &log)));
    assert_eq!(block_on(all.run(&root)), Ok(()));
    assert_eq!(log.take(), strings(&["a", "b", "c"]));

    // A plain error type with no `Merge`: the failure is the value b returned.
    let step = |name: &'static str, result: Result<(), Boom>| {
        let log = log.clone();
        async move |_: &Ctx<'_>| {
            log.push(name);
            result.clone()
        }
    };
    let stopped = sequence([step("a", Ok(())), step("b", Err(Boom)), step("c", Ok(()))]);
    assert_eq!(block_on(stopped.run(&root)), Err(Boom));
    assert_eq!(log.take(), strings(&["a", "b"]));
    // The same with a tuple of processes of different types.
    let stopped = sequence((logging("a", &log), failing("b"), logging("c", &log)));
    assert_eq!(block_on(stopped.run(&root)), Err(fail("b")));
    assert_eq!(log.take(), strings(&["a"]));
}

/// P13: `sequence` with an already-cancelled context whose processes return `Ok`: every
/// process runs, and the result is `Ok` (the context is not checked between steps).
#[test]
fn p13_sequence_ignores_cancellation_between_steps() {
    let log = Log::new();
    let root = Ctx::new();
    root.cancel();
    let all = sequence((logging("a", &log), logging("b", &log), logging("c", &log)));
    assert_eq!(block_on(all.run(&root)), Ok(()));
    assert_eq!(log.take(), strings(&["a", "b", "c"]));
}

// === P14–P16: task and trace_region ===

/// P14: `task("t", ok)` → `Ok`; `task("t", fail boom)` → `TaskError { name: "t", error: boom }`,
/// displayed "t: boom", with boom as its `source()` (upstream: `Cause()`).
#[test]
fn p14_task_wraps_failures() {
    use core::error::Error as _;
    let root = Ctx::new();
    let ok = task("t", async |_: &Ctx<'_>| -> Result<(), Boom> { Ok(()) });
    assert_eq!(block_on(Proc::<TaskError<Boom>>::run(&ok, &root)), Ok(()));
    let boom = task("t", async |_: &Ctx<'_>| -> Result<(), Boom> { Err(Boom) });
    let error: TaskError<Boom> = block_on(boom.run(&root)).unwrap_err();
    assert_eq!(error, TaskError { name: "t", error: Boom });
    assert_eq!(error.to_string(), "t: boom");
    let source = error.source().expect("the cause is the source");
    assert_eq!(source.to_string(), "boom");
    assert!(source.downcast_ref::<Boom>().is_some());
    assert_eq!(boom.name(), "t");
}

/// The error of a tree with named tasks: a task's failure, or a plain one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "a test type, never moved in a hot path")]
enum Outer {
    Task(TaskError<Error>),
    Plain(Fail),
}

impl From<TaskError<Error>> for Outer {
    fn from(e: TaskError<Error>) -> Self {
        Self::Task(e)
    }
}

/// P15: `concurrent(task("x", concurrent(e1, e2)), fail e3)`: the task's failure is one entry
/// (its list is not flattened into the outer one), followed by e3.
#[test]
fn p15_task_error_is_one_entry() {
    let root = Ctx::new();
    let inner = task("x", concurrent((failing("e1"), failing("e2"))));
    let e3 = async |_: &Ctx<'_>| -> Result<(), MultiError<Outer, 4>> {
        Err(MultiError::from_error(Outer::Plain(Fail::At("e3"))))
    };
    let error = block_on(concurrent((inner, e3)).run(&root)).unwrap_err();
    assert_eq!(error.errors(), &[Outer::Task(TaskError::new("x", fails(&["e1", "e2"]))), Outer::Plain(Fail::At("e3"))]);
    assert_eq!(error.len(), 2);
}

/// P16: `trace_region("r", f)` returns f's result unchanged (both `Ok` and an error), and f
/// gets the caller's context itself.
#[test]
fn p16_trace_region_passes_through() {
    let root = Ctx::new();
    let same_ctx = async |ctx: &Ctx<'_>| -> Result<(), Error> {
        assert!(core::ptr::eq(ctx, &root), "the caller's context itself");
        Ok(())
    };
    assert_eq!(block_on(trace_region("r", same_ctx).run(&root)), Ok(()));
    let region = trace_region("r", failing("boom"));
    assert_eq!(block_on(region.run(&root)), Err(fail("boom")));
    assert_eq!(region.name(), "r");
    // A task passes the context unchanged too.
    assert_eq!(block_on(Proc::<TaskError<Error>>::run(&task("t", same_ctx), &root)), Ok(()));
}

// === P17: MultiError ===

/// P17: `Display` of a list: `[]` → "no errors"; `[a]` → "a"; `[a, b, c]` → "3 errors:" and one
/// line per failure, each after `"- "`, for the bounded list and,
/// with `alloc`, the unbounded one.
#[test]
fn p17_multi_error_display() {
    let list = |names: &[&'static str]| names.iter().copied().collect::<MultiError<&str, 4>>();
    assert_eq!(list(&[]).to_string(), "no errors");
    assert_eq!(list(&["a"]).to_string(), "a");
    assert_eq!(list(&["a", "b", "c"]).to_string(), "3 errors:\n- a\n- b\n- c");
    #[cfg(feature = "alloc")]
    {
        use procession::proc::UnboundedMultiError;
        let list = |names: &[&'static str]| names.iter().copied().collect::<UnboundedMultiError<&str>>();
        assert_eq!(list(&[]).to_string(), "no errors");
        assert_eq!(list(&["a"]).to_string(), "a");
        assert_eq!(list(&["a", "b", "c"]).to_string(), "3 errors:\n- a\n- b\n- c");
    }
}

/// A list's `source()` is its first failure; a task failure converts into a list of one.
#[test]
fn multi_error_source_and_task_conversion() {
    use core::error::Error as _;
    let list: MultiError<Boom, 2> = [Boom, Boom].into_iter().collect();
    assert_eq!(list.source().map(|s| s.to_string()), Some("boom".into()));
    let from_task: MultiError<TaskError<Boom>, 2> = TaskError::new("t", Boom).into();
    assert_eq!(from_task.errors(), &[TaskError::new("t", Boom)]);
}

/// With `alloc`, the unbounded list keeps every failure, flattens nested lists, and
/// `MultiError<E, N>` keeps its meaning (still bounded): the features are additive.
#[cfg(feature = "alloc")]
#[test]
fn unbounded_multi_error_keeps_everything() {
    use core::error::Error as _;
    use procession::proc::UnboundedMultiError;
    type Big = UnboundedMultiError<&'static str>;
    let root = Ctx::new();
    let fail = |msg| async move |_: &Ctx<'_>| -> Result<(), Big> { Err(Big::from_error(msg)) };
    let procs: Vec<_> = ["a", "b", "c", "d", "e"].into_iter().map(fail).collect();
    let nested = concurrent((concurrent(procs), fail("f")));
    let error = block_on(nested.run(&root)).unwrap_err();
    assert_eq!(error.errors(), &["a", "b", "c", "d", "e", "f"]);
    assert_eq!(error.len(), 6);

    let bounded: MultiError<&str, 2> = ["x", "y", "z"].into_iter().collect();
    assert_eq!(bounded.errors(), &["x", "y"], "still bounded with alloc");
    assert_eq!(Big::from(bounded).into_vec(), ["x", "y"]);

    let with_source: UnboundedMultiError<Boom> = [Boom].into_iter().collect();
    assert!(with_source.source().is_some());
    let from_task: UnboundedMultiError<TaskError<Boom>> = TaskError::new("t", Boom).into();
    assert_eq!(from_task.len(), 1);
}

// === runner conversions ===

/// `from_runner`: once the runner is ready, cancelling the process's context is the runner's
/// graceful stop (its callback returns; its own context is not cancelled).
#[test]
fn from_runner_cancel_when_ready_is_graceful() {
    let log = Log::new();
    let root = Ctx::new();
    let process = from_runner(probe("p", &log));
    let mut run = pin!(process.run(&root));
    assert!(poll_times(run.as_mut(), 10).is_pending());
    assert_eq!(log.events(), strings(&["start p", "ready p"]));
    root.cancel();
    assert_eq!(poll_once(run), Poll::Ready(Ok(())));
    assert_eq!(log.events(), strings(&["start p", "ready p", "stop p"]), "no cause: graceful");
}

/// `from_runner`: cancelling while the runner is still starting cancels the runner's context
/// with the same cause (there is nothing to stop gracefully yet).
#[test]
fn from_runner_cancel_while_starting_is_forced() {
    let log = Log::new();
    let root = Ctx::new();
    let slow_start = procession::runner::from_fn(
        async |ctx: &Ctx<'_>, _lc: &procession::runner::Lifecycle<'_>| -> Result<(), Error> {
            let cause = ctx.cancelled().await; // never ready
            log.push(format!("start cancelled ({cause})"));
            Ok(())
        },
    );
    let process = from_runner(slow_start);
    let mut run = pin!(process.run(&root));
    assert!(poll_times(run.as_mut(), 10).is_pending());
    root.cancel_with(Cause::Restart);
    assert_eq!(poll_times(run, 10), Poll::Ready(Ok(())));
    assert_eq!(log.events(), strings(&["start cancelled (restart)"]));
}

/// `from_runner`: a runner that fails to start, or fails while running, ends the process with
/// its error.
#[test]
fn from_runner_failures_end_the_process() {
    let log = Log::new();
    let root = Ctx::new();
    let start = from_runner(probe_with("s", &log, Behaviour::FailStart));
    assert_eq!(block_on_within(10, start.run(&root)), Err(fail("s")));
    let running = from_runner(probe_with("r", &log, Behaviour::FailRunning));
    assert_eq!(block_on_within(10, running.run(&root)), Err(fail("r")));
    assert!(!root.is_cancelled());
}

/// `into_runner`: a process is a leaf runner: ready at once; the callback's return cancels
/// the process (cause "shutdown"); a failing process cancels the callback ("dependency
/// failed"); errors merge callback first. It composes with the runner combinators.
#[test]
fn into_runner_is_a_leaf() {
    let log = Log::new();
    let root = Ctx::new();
    let workers =
        into_runner(concurrent_group((until_cancelled("w1", &log, Ok(())), until_cancelled("w2", &log, Ok(())))));
    let tree = chain((probe("storage", &log), workers));
    assert_eq!(run_main(&tree, &root, &log, Main::Return).now_or_never_bounded(), Ok(()));
    assert_eq!(
        log.take(),
        strings(&[
            "start storage",
            "ready storage",
            "main",
            "w1 cancelled (shutdown)",
            "w2 cancelled (shutdown)",
            "stop storage"
        ])
    );

    let failing_proc = into_runner(failing("worker"));
    let result = block_on_within(
        10,
        failing_proc.run(&root, async |ctx: &Ctx<'_>| {
            let cause = ctx.cancelled().await;
            log.push(format!("callback cancelled ({cause})"));
            Err(fail("callback"))
        }),
    );
    assert_eq!(result, Err(fails(&["callback", "worker"])));
    assert_eq!(log.take(), strings(&["callback cancelled (dependency failed)"]));
}

/// Bounded `block_on` as a method, for readability.
trait NowOrNeverBounded: Future + Sized {
    fn now_or_never_bounded(self) -> Self::Output {
        block_on_within(20, self)
    }
}

impl<F: Future> NowOrNeverBounded for F {}

// === P18: main (the signal cases are in examples-std/tests/proc_main.rs) ===

/// P18 (without signals): `main(f)` returns what f returns: its error, or `Ok`.
#[cfg(all(feature = "std", unix))]
#[cfg_attr(miri, ignore = "installs signal handlers (`sigaction`), which miri does not support")]
#[test]
fn p18_main_returns_the_process_result() {
    use procession::proc::main;
    assert_eq!(main(failing("e")), Err(fail("e")));
    assert_eq!(
        main(async |ctx: &Ctx<'_>| -> Result<(), Error> {
            assert!(!ctx.is_cancelled());
            Ok(())
        }),
        Ok(())
    );
    assert_eq!(main(task("named", failing("e"))), Err(TaskError::new("named", fail("e"))));
    // `try_main` reports a setup failure apart; here setting up works.
    assert_eq!(procession::proc::try_main(failing("e")).expect("signal handling set up"), Err(fail("e")));
}

// === what task and trace_region emit ===

/// The tracing and log tests run one at a time: with both features on, a task run without a
/// subscriber (in the log test) caches the interest of the callsites the tracing test records.
#[cfg(any(feature = "tracing", feature = "log"))]
static TRACING_AND_LOG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// With `tracing`: each run of a task is inside an `INFO` span `task` with its name, and a
/// region inside a `DEBUG` span `region`; the span is entered while the process is polled.
#[cfg(feature = "tracing")]
#[test]
fn task_and_region_open_tracing_spans() {
    use std::sync::Mutex;
    let _serial = TRACING_AND_LOG.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, field};

    /// Records `new KIND NAME LEVEL` and `enter KIND`.
    #[derive(Default)]
    struct Recorder {
        events: Mutex<Vec<String>>,
        spans: Mutex<Vec<&'static str>>,
    }

    struct NameField(String);

    impl field::Visit for NameField {
        fn record_str(&mut self, field: &field::Field, value: &str) {
            if field.name() == "name" {
                self.0 = value.to_string();
            }
        }
        fn record_debug(&mut self, _: &field::Field, _: &dyn core::fmt::Debug) {}
    }

    impl tracing::Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut name = NameField(String::new());
            span.record(&mut name);
            let meta = span.metadata();
            self.events.lock().unwrap().push(format!("new {} {} {}", meta.name(), name.0, meta.level()));
            let mut spans = self.spans.lock().unwrap();
            spans.push(meta.name());
            Id::from_u64(spans.len() as u64)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, span: &Id) {
            let kind = self.spans.lock().unwrap()[span.into_u64() as usize - 1];
            self.events.lock().unwrap().push(format!("enter {kind}"));
        }
        fn exit(&self, _: &Id) {}
    }

    let recorder = Arc::new(Recorder::default());
    let root = Ctx::new();
    let tree = task("web", trace_region("load", failing("boom")));
    let result: Result<(), TaskError<Error>> = tracing::subscriber::with_default(recorder.clone(), || {
        // Tests on other threads run tasks with no subscriber and may have cached a "never"
        // interest for these callsites meanwhile.
        tracing::callsite::rebuild_interest_cache();
        block_on(tree.run(&root))
    });
    assert_eq!(result, Err(TaskError::new("web", fail("boom"))));
    let events = recorder.events.lock().unwrap().clone();
    // (`Instrumented` enters the spans again to drop the process inside them.)
    assert!(events.len() >= 4, "{events:?}");
    assert_eq!(events[..4], strings(&["new task web INFO", "enter task", "new region load DEBUG", "enter region"]));
}

/// With `log`: a task writes `DEBUG` records when it starts and ends, a region `TRACE` ones.
#[cfg(feature = "log")]
#[test]
fn task_and_region_write_log_records() {
    use std::sync::Mutex;
    let _serial = TRACING_AND_LOG.lock().unwrap_or_else(std::sync::PoisonError::into_inner);

    static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    struct Recorder;

    impl log::Log for Recorder {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            RECORDS.lock().unwrap().push(format!("{} {}", record.level(), record.args()));
        }
        fn flush(&self) {}
    }

    log::set_logger(&Recorder).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Trace);
    let root = Ctx::new();
    let log = Log::new();
    let ok = task("log-ok", trace_region("log-region", logging("inside", &log)));
    assert_eq!(block_on(Proc::<TaskError<Error>>::run(&ok, &root)), Ok(()));
    let failed = task("log-failed", failing("boom"));
    assert!(block_on(Proc::<TaskError<Error>>::run(&failed, &root)).is_err());
    let records: Vec<String> = RECORDS.lock().unwrap().iter().filter(|r| r.contains(" log-")).cloned().collect();
    assert_eq!(
        records,
        strings(&[
            "DEBUG task log-ok: started",
            "TRACE region log-region: started",
            "TRACE region log-region: ended",
            "DEBUG task log-ok: done",
            "DEBUG task log-failed: started",
            "DEBUG task log-failed: failed",
        ])
    );
}

// === stop_deadline ===

/// Logs `what` when dropped.
struct OnDrop(Log, &'static str);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}

/// `stop_deadline`: a process that ignores cancellation is dropped when the deadline (started
/// at cancellation) completes, and the result is a hard stop overrun; one that returns in time
/// keeps its own result; an uncancelled process is never bounded.
#[test]
fn stop_deadline_drops_a_process_that_ignores_cancellation() {
    use procession::StopLevel;
    use procession::proc::stop_deadline;
    let log = Log::new();
    let root = Ctx::new();
    let gate = Ctx::new();
    let deadline = || {
        log.push("deadline started");
        let gate = &gate;
        async move {
            gate.cancelled().await;
        }
    };
    let stubborn = async |_: &Ctx<'_>| -> Result<(), Error> {
        let _guard = OnDrop(log.clone(), "stubborn dropped");
        core::future::pending().await
    };
    let bounded = stop_deadline(deadline, stubborn);
    let mut run = pin!(bounded.run(&root));
    assert!(poll_times(run.as_mut(), 10).is_pending());
    assert!(log.events().is_empty(), "no deadline before cancellation");
    root.cancel();
    assert!(poll_times(run.as_mut(), 10).is_pending());
    assert_eq!(log.events(), strings(&["deadline started"]));
    gate.cancel();
    assert_eq!(poll_once(run), Poll::Ready(Err(MultiError::from_error(Fail::Overrun(StopLevel::Hard)))));
    assert_eq!(log.take(), strings(&["deadline started", "stubborn dropped"]));

    // A process that returns once cancelled keeps its own result, even with a passed deadline.
    let root = Ctx::new();
    root.cancel();
    let polite = stop_deadline(|| core::future::ready(()), until_cancelled("polite", &log, Err(fail("polite"))));
    assert_eq!(block_on(polite.run(&root)), Err(fail("polite")));
}

// === auto traits ===

/// A tree of `Send` processes is `Send` as a whole (so it can be spawned on a multi-threaded
/// runtime), also with named tasks, regions and runners inside. (Built in one body: processes
/// returned as `impl Proc` from helpers hide their future's `Send`, as for runners.)
#[test]
fn tree_of_send_processes_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let log = Log::new();
    let fail = async |_: &Ctx<'_>| -> Result<(), Error> { Err(fail("a")) };
    let wait = async |ctx: &Ctx<'_>| -> Result<(), Error> {
        ctx.cancelled().await;
        Ok(())
    };
    let tree = concurrent_group((
        concurrent([fail, fail]),
        sequence((wait, trace_region("r", wait))),
        from_runner(probe("p", &log)),
    ));
    let root = Ctx::new();
    let run = async { Proc::<Error>::run(&tree, &root).await };
    assert_send(&run);
    drop(run);
    let named = task("named", tree);
    let run = async { Proc::<TaskError<Error>>::run(&named, &root).await };
    assert_send(&run);
    drop(run);
    static_assertions::assert_impl_all!(procession::proc::TaskError<Error>: Send, Sync, Clone);
}
