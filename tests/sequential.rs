//! `sequential`: start in order, each once the previous is ready; stop in reverse, each once the
//! one after it has returned.

#![allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]

mod common;

use common::*;
use procession::{Ctx, sequential};

/// Zero children behave as `nop`; one child as that child.
#[test]
fn zero_and_one_child() {
    let log = Log::new();
    assert_eq!(run(&sequential(()), &log, Main::Return), Ok(()));
    assert_eq!(log.take(), strings(&["main"]));
    assert_eq!(run(&sequential([probe("a", &log)]), &log, Main::Return), Ok(()));
    assert_eq!(log.take(), strings(&["start a", "ready a", "main", "stop a"]));
    assert_eq!(run(&sequential((probe("a", &log),)), &log, Main::Return), Ok(()));
    assert_eq!(log.take(), strings(&["start a", "ready a", "main", "stop a"]));
}

/// Deviation from upstream (which stops in start order, `pact-semantics.md` §8 item 4): two
/// and eight children, tuple and array, start in order and stop in reverse.
#[test]
fn order_two_and_eight() {
    let log = Log::new();
    assert_eq!(run(&sequential((probe("p0", &log), probe("p1", &log))), &log, Main::Return), Ok(()));
    expect_lifecycle(log.take(), &NAMES[..2], StopOrder::Reverse);
    assert_eq!(run(&sequential(probes::<2>(&log, None)), &log, Main::Return), Ok(()));
    expect_lifecycle(log.take(), &NAMES[..2], StopOrder::Reverse);
    let l = &log;
    let tuple = sequential((
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
    assert_eq!(run(&sequential(probes::<8>(&log, None)), &log, Main::Return), Ok(()));
    expect_lifecycle(log.take(), &NAMES, StopOrder::Reverse);
}

/// A child starts only once the one before it is ready, even when that takes several polls.
#[test]
fn next_child_waits_for_readiness() {
    let log = Log::new();
    let gate = Ctx::new();
    let slow =
        procession::runner::from_fn(async |_: &Ctx<'_>, lc: &procession::runner::Lifecycle<'_>| -> Result<(), Error> {
            log.push("start slow");
            gate.cancelled().await;
            log.push("ready slow");
            lc.ready();
            lc.stop_requested().await;
            log.push("stop slow");
            Ok(())
        });
    let tree = sequential((slow, probe("b", &log)));
    let root = Ctx::new();
    let opener = async {
        yield_now().await;
        yield_now().await;
        log.push("open");
        gate.cancel();
    };
    let (result, ()) = block_on(futures::future::join(run_main(&tree, &root, &log, Main::Return), opener));
    assert_eq!(result, Ok(()));
    assert_eq!(
        log.events(),
        strings(&["start slow", "open", "ready slow", "start b", "ready b", "main", "stop b", "stop slow"])
    );
}

/// A child stops only once the one after it has returned, even when that takes several polls.
#[test]
fn stop_waits_for_the_child_after() {
    let log = Log::new();
    let gate = Ctx::new();
    let slow_stop =
        procession::runner::from_fn(async |_: &Ctx<'_>, lc: &procession::runner::Lifecycle<'_>| -> Result<(), Error> {
            lc.ready();
            lc.stop_requested().await;
            log.push("stopping slow");
            gate.cancelled().await;
            log.push("stop slow");
            Ok(())
        });
    let tree = sequential((probe("a", &log), slow_stop));
    let root = Ctx::new();
    let opener = async {
        while !log.events().contains(&"stopping slow".to_string()) {
            yield_now().await;
        }
        yield_now().await;
        log.push("open");
        gate.cancel();
    };
    let (result, ()) = block_on(futures::future::join(run_main(&tree, &root, &log, Main::Return), opener));
    assert_eq!(result, Ok(()));
    assert_eq!(log.events(), strings(&["start a", "ready a", "main", "stopping slow", "open", "stop slow", "stop a"]));
}

/// Deviation from upstream (which keeps calling `Start` after a failure, §8 item 5): a start
/// failure at each position of 8 starts nothing further, the callback does not run, and what
/// started stops in reverse.
#[test]
fn start_failure_at_each_position() {
    check_start_failure_at_each_position(sequential, StopOrder::Reverse);
}

/// A child failing while running cancels only the callback's context; every child then stops
/// gracefully, from the top down.
#[test]
fn failure_while_running() {
    let log = Log::new();
    let result = run(&sequential(probes::<3>(&log, Some((1, Behaviour::FailRunning)))), &log, Main::UntilCancelled);
    assert_eq!(result, Err(fail("p1")));
    let mut expected = started(&NAMES[..3]);
    expected.extend(strings(&["main", "main cancelled (dependency failed)", "stop p2", "stop p1", "stop p0"]));
    assert_eq!(log.events(), expected);
}

/// Cancelling the parent cancels every child and the callback.
#[test]
fn parent_cancellation() {
    check_parent_cancellation(sequential, StopOrder::Reverse);
}

/// The callback's error comes first, then every child's, in child order.
#[test]
fn callback_error_first_then_children_in_order() {
    check_callback_error_first(sequential);
}

/// A child in the middle that abandons its callback (drops it unfinished) and returns while the
/// callback and the children after it still run: the callback is told, the children after it
/// stop, then the ones before it, and the group returns (it used to wait for ever).
#[test]
fn middle_child_abandoning_its_callback_does_not_hang() {
    let log = Log::new();
    let tree = sequential((probe("a", &log), Abandoner { log: log.clone() }, probe("c", &log)));
    let root = Ctx::new();
    let result = block_on_within(1_000, run_main(&tree, &root, &log, Main::UntilCancelled));
    assert_eq!(result, Err(fail("abandoner")));
    let events = log.events();
    let at = |e: &str| events.iter().position(|x| x == e).unwrap_or_else(|| panic!("no {e} in {events:?}"));
    assert!(at("abandoned") < at("main cancelled (dependency failed)"), "{events:?}");
    assert!(at("main cancelled (dependency failed)") < at("stop a"), "{events:?}");
    assert!(events.iter().position(|x| x.starts_with("stop c")).unwrap() < at("stop a"), "{events:?}");
}

/// The group's context cancelled while children start: the ones not started yet never start,
/// the callback does not run, and what started stops (upstream keeps starting them).
#[test]
fn parent_cancelled_during_start_starts_nothing_further() {
    let log = Log::new();
    let root = Ctx::new();
    let canceller =
        procession::runner::from_fn(async |_: &Ctx<'_>, lc: &procession::runner::Lifecycle<'_>| -> Result<(), Error> {
            log.push("start canceller");
            root.cancel();
            lc.ready();
            lc.stop_requested().await;
            log.push("stop canceller");
            Ok(())
        });
    let tree = sequential((probe("a", &log), canceller, probe("c", &log)));
    let result = block_on_within(1_000, run_main(&tree, &root, &log, Main::Return));
    assert_eq!(result, Ok(()));
    assert_eq!(
        log.events(),
        strings(&["start a", "ready a", "start canceller", "stop canceller", "stop a (shutdown)"])
    );
}
