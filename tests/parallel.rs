//! `parallel`: start together, callback once all are ready, stop together after the callback.

#![allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]

mod common;

use common::*;
use procession::{Ctx, Runner, parallel};
use std::sync::{Arc, Mutex};

/// Upstream `TestParallel`: for 0..=4 children, each sets `values[i] = i` and calls its
/// callback; every child ran and `run` returned after all of them.
#[test]
fn upstream_parallel() {
    fn check<const N: usize>() {
        let values = Arc::new(Mutex::new(vec![usize::MAX; N]));
        let deps: [_; N] = core::array::from_fn(|i| {
            let values = values.clone();
            procession::runner::from_fn(
                async move |_: &Ctx<'_>, lc: &procession::runner::Lifecycle<'_>| -> Result<(), Error> {
                    values.lock().unwrap()[i] = i;
                    lc.ready();
                    lc.stop_requested().await;
                    Ok(())
                },
            )
        });
        let root = Ctx::new();
        assert_eq!(block_on(parallel(deps).run(&root, async |_| Ok(()))), Ok(()));
        assert_eq!(*values.lock().unwrap(), (0..N).collect::<Vec<_>>());
    }
    check::<0>();
    check::<1>();
    check::<2>();
    check::<3>();
    check::<4>();
}

/// Zero children behave as `nop`; one child as that child.
#[test]
fn zero_and_one_child() {
    let log = Log::new();
    assert_eq!(run(&parallel(()), &log, Main::Return), Ok(()));
    assert_eq!(log.take(), strings(&["main"]));
    assert_eq!(run(&parallel([probe("a", &log)]), &log, Main::Return), Ok(()));
    assert_eq!(log.take(), strings(&["start a", "ready a", "main", "stop a"]));
    assert_eq!(run(&parallel((probe("a", &log),)), &log, Main::Return), Ok(()));
    assert_eq!(log.take(), strings(&["start a", "ready a", "main", "stop a"]));
}

/// Two and eight children, tuple and array: all start, the callback runs after all are ready,
/// and all are released together once it returned (polled in child order).
#[test]
fn order_two_and_eight() {
    let log = Log::new();
    assert_eq!(run(&parallel((probe("p0", &log), probe("p1", &log))), &log, Main::Return), Ok(()));
    expect_lifecycle(log.take(), &NAMES[..2], StopOrder::Together);
    assert_eq!(run(&parallel(probes::<2>(&log, None)), &log, Main::Return), Ok(()));
    expect_lifecycle(log.take(), &NAMES[..2], StopOrder::Together);
    let l = &log;
    let tuple = parallel((
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
    expect_lifecycle(log.take(), &NAMES, StopOrder::Together);
    assert_eq!(run(&parallel(probes::<8>(&log, None)), &log, Main::Return), Ok(()));
    expect_lifecycle(log.take(), &NAMES, StopOrder::Together);
}

/// The callback does not run before the slowest child is ready.
#[test]
fn callback_waits_for_slowest_child() {
    let log = Log::new();
    let gate = Ctx::new();
    let slow =
        procession::runner::from_fn(async |_: &Ctx<'_>, lc: &procession::runner::Lifecycle<'_>| -> Result<(), Error> {
            gate.cancelled().await;
            log.push("slow ready");
            lc.ready();
            lc.stop_requested().await;
            Ok(())
        });
    let tree = parallel((probe("a", &log), slow));
    let root = Ctx::new();
    let opener = async {
        yield_now().await;
        log.push("open");
        gate.cancel();
    };
    let (result, ()) = block_on(futures::future::join(run_main(&tree, &root, &log, Main::Return), opener));
    assert_eq!(result, Ok(()));
    assert_eq!(log.events(), strings(&["start a", "ready a", "open", "slow ready", "main", "stop a"]));
}

/// A start failure at each position of 8: children after it do not start, the callback does
/// not run, the ready ones stop, and the error is the failed child's.
#[test]
fn start_failure_at_each_position() {
    check_start_failure_at_each_position(parallel, StopOrder::Together);
}

/// A start failure cancels (forced) the children still starting, and stops gracefully the
/// ones already ready.
#[test]
fn start_failure_forces_children_still_starting() {
    let log = Log::new();
    let gate = Ctx::new();
    let starting = procession::runner::from_fn(
        async |ctx: &Ctx<'_>, lc: &procession::runner::Lifecycle<'_>| -> Result<(), Error> {
            log.push("starting");
            let cause = ctx.cancelled().await;
            log.push(format!("start abandoned ({cause})"));
            let _ = lc;
            Ok(())
        },
    );
    let failing =
        procession::runner::from_fn(async |_: &Ctx<'_>, _: &procession::runner::Lifecycle<'_>| -> Result<(), Error> {
            gate.cancelled().await;
            Err(fail("late"))
        });
    let tree = parallel((probe("a", &log), starting, failing));
    let root = Ctx::new();
    let opener = async {
        yield_now().await;
        gate.cancel();
    };
    let (result, ()) = block_on(futures::future::join(run_main(&tree, &root, &log, Main::Return), opener));
    assert_eq!(result, Err(fail("late")));
    assert_eq!(
        log.events(),
        strings(&["start a", "ready a", "starting", "stop a", "start abandoned (dependency failed)"])
    );
}

/// A child failing while running cancels only the callback's context; the others stop
/// gracefully once the callback returned.
#[test]
fn failure_while_running() {
    let log = Log::new();
    let result = run(&parallel(probes::<3>(&log, Some((1, Behaviour::FailRunning)))), &log, Main::UntilCancelled);
    assert_eq!(result, Err(fail("p1")));
    let mut expected = started(&NAMES[..3]);
    expected.extend(strings(&["main", "main cancelled (dependency failed)", "stop p0", "stop p1", "stop p2"]));
    assert_eq!(log.events(), expected);
}

/// Cancelling the parent cancels every child and the callback.
#[test]
fn parent_cancellation() {
    check_parent_cancellation(parallel, StopOrder::Together);
}

/// The callback's error comes first, then every child's, in child order.
#[test]
fn callback_error_first_then_children_in_order() {
    check_callback_error_first(parallel);
}

/// Deviation from upstream: a callback returning an error does not mask a child's failure
/// (upstream keeps only the callback's error, `pact-semantics.md` §8 item 3).
#[test]
fn callback_error_does_not_mask_child_failure() {
    let log = Log::new();
    let tree = parallel(probes::<2>(&log, Some((0, Behaviour::FailRunning))));
    assert_eq!(run(&tree, &log, Main::Fail), Err(fails(&["main", "p0"])));
}
