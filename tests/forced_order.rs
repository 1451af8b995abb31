//! Forced stops in dependency order, and the callback of a group that was cancelled while it
//! started: cases that the combinators got wrong before the engine passed cancellation down
//! itself.

#![allow(clippy::result_large_err, reason = "the common test error is a bounded list")]

mod common;

use core::future::pending;

use common::{Error, Log, block_on, fail, strings};
use embassy_futures::select::{Either, select};
use embassy_futures::yield_now;
use procession::{Cause, Ctx, Runner, chain, parallel, sequential};

/// Becomes ready at once, ignores the graceful stop, and returns only once its context is
/// cancelled, a few polls later (its shutdown takes time).
struct Stubborn {
    name: &'static str,
    log: Log,
}

impl Runner<Error> for Stubborn {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        let cause = match select(
            async {
                let _ = ready(ctx).await;
                pending::<()>().await;
            },
            ctx.cancelled(),
        )
        .await
        {
            Either::First(()) => unreachable!(),
            Either::Second(cause) => cause,
        };
        self.log.push(format!("cancelled {} ({cause})", self.name));
        for _ in 0..3 {
            yield_now().await;
        }
        self.log.push(format!("returned {}", self.name));
        Ok(())
    }
}

fn stubborn(name: &'static str, log: &Log) -> Stubborn {
    Stubborn { name, log: log.clone() }
}

fn cancel_root_in_callback<R: Runner<Error>>(tree: &R, log: &Log) -> Result<(), Error> {
    let root = Ctx::new();
    block_on(tree.run(&root, async |c: &Ctx<'_>| {
        log.push("main");
        root.cancel();
        log.push(format!("main cancelled ({})", c.cancelled().await));
        Ok(())
    }))
}

const TOP_DOWN: [&str; 8] = [
    "main",
    "main cancelled (shutdown)",
    "cancelled c (shutdown)",
    "returned c",
    "cancelled b (shutdown)",
    "returned b",
    "cancelled a (shutdown)",
    "returned a",
];

/// Cancelling the caller's context of a `chain` (a signal handler cancelling the root) stops
/// the callback first, then the last child, and each child below only once the one above it
/// has returned. (All children used to be cancelled at once.)
#[test]
fn forced_stop_of_chain_goes_from_the_top_down() {
    let log = Log::new();
    let tree = chain((stubborn("a", &log), stubborn("b", &log), stubborn("c", &log)));
    assert_eq!(cancel_root_in_callback(&tree, &log), Ok(()));
    assert_eq!(log.events(), strings(&TOP_DOWN));
}

/// The same for `sequential`, over an array.
#[test]
fn forced_stop_of_sequential_goes_from_the_top_down() {
    let log = Log::new();
    let tree = sequential([stubborn("a", &log), stubborn("b", &log), stubborn("c", &log)]);
    assert_eq!(cancel_root_in_callback(&tree, &log), Ok(()));
    assert_eq!(log.events(), strings(&TOP_DOWN));
}

/// Nested: the forced stop of an outer chain reaches an inner chain as one child, which
/// stops its own children from the top down before the outer one goes on below it.
#[test]
fn forced_stop_of_nested_chains_is_ordered_at_every_level() {
    let log = Log::new();
    let tree = chain((stubborn("a", &log), chain((stubborn("b", &log), stubborn("c", &log)))));
    assert_eq!(cancel_root_in_callback(&tree, &log), Ok(()));
    assert_eq!(log.events(), strings(&TOP_DOWN));
}

/// `parallel`: the callback is stopped first; the children, which have no order among
/// themselves, only once it returned.
#[test]
fn forced_stop_of_parallel_stops_the_callback_first() {
    let log = Log::new();
    let tree = parallel((stubborn("a", &log), stubborn("b", &log)));
    assert_eq!(cancel_root_in_callback(&tree, &log), Ok(()));
    let events = log.events();
    assert_eq!(&events[..2], strings(&["main", "main cancelled (shutdown)"]).as_slice());
    assert_eq!(events.len(), 6);
}

/// Becomes ready only after a few polls, whatever happens to its context meanwhile; `during`
/// runs at its start.
struct Late<'l> {
    during: &'l (dyn Fn() + Sync),
}

impl Runner<Error> for Late<'_> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        (self.during)();
        for _ in 0..3 {
            yield_now().await;
        }
        ready(ctx).await
    }
}

fn run_logging_main<R: Runner<Error>>(tree: &R, root: &Ctx<'_>, log: &Log) -> Result<(), Error> {
    block_on(tree.run(root, async |_| {
        log.push("main");
        Ok(())
    }))
}

/// `parallel` whose caller is cancelled before every child is ready: the callback never runs,
/// even though the late child becomes ready anyway. (It used to run.)
#[test]
fn parallel_cancelled_while_starting_never_runs_the_callback() {
    let log = Log::new();
    let root = Ctx::new();
    let cancel = || {
        root.cancel();
    };
    let tree = parallel((common::probe("a", &log), Late { during: &cancel }));
    assert_eq!(run_logging_main(&tree, &root, &log), Ok(()));
    assert!(!log.events().contains(&"main".to_string()), "{:?}", log.events());
}

/// `chain` whose last child is cancelled during its start and becomes ready anyway: the
/// callback never runs. (It used to run.)
#[test]
fn chain_cancelled_during_last_start_never_runs_the_callback() {
    let log = Log::new();
    let root = Ctx::new();
    let cancel = || {
        root.cancel();
    };
    let tree = chain((common::probe("a", &log), Late { during: &cancel }));
    assert_eq!(run_logging_main(&tree, &root, &log), Ok(()));
    let events = log.events();
    assert!(!events.contains(&"main".to_string()), "{events:?}");
    assert_eq!(events, strings(&["start a", "ready a", "stop a (shutdown)"]));
}

/// Gives up while running, the way a supervisor whose restart intensity is exhausted does: it
/// cancels its callback's context with `Cause::Parent` and returns its error.
struct GivesUp;

impl Runner<Error> for GivesUp {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        let attempt = ctx.child();
        let callback = async {
            let _ = ready(&attempt).await;
        };
        let give_up = async {
            for _ in 0..3 {
                yield_now().await;
            }
            attempt.cancel_with(Cause::Parent);
        };
        embassy_futures::join::join(callback, give_up).await;
        Err(fail("gives up"))
    }
}

/// A child of a `chain` that gives up while running is a dependency failure for what depends
/// on it, whatever cause it used itself. (The callback used to see `Cause::Parent`.)
#[test]
fn chain_child_giving_up_is_a_dependency_failure() {
    let log = Log::new();
    let tree = chain((GivesUp, stubborn("b", &log)));
    let root = Ctx::new();
    let result = block_on(tree.run(&root, async |c: &Ctx<'_>| {
        log.push(format!("main cancelled ({})", c.cancelled().await));
        Ok(())
    }));
    assert_eq!(result, Err(fail("gives up")));
    assert_eq!(
        log.events(),
        strings(&["main cancelled (dependency failed)", "cancelled b (dependency failed)", "returned b"])
    );
}

// === found by mutation testing (scripts/mutants) ===

/// Waits on its callback and its context together, the callback first, and logs which ended
/// first: `graceful NAME` or `forced NAME (CAUSE)`.
struct CallbackFirst {
    name: &'static str,
    log: Log,
}

impl Runner<Error> for CallbackFirst {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        match select(ready(ctx), ctx.cancelled()).await {
            Either::First(_) => self.log.push(format!("graceful {}", self.name)),
            Either::Second(cause) => self.log.push(format!("forced {} ({cause})", self.name)),
        }
        Ok(())
    }
}

/// A forced stop reaches a child before its callback returns: a child that polls its callback
/// before its context sees the forced stop, not a graceful one, in every mode (the callback
/// returns one poll after the context is cancelled).
#[test]
fn a_forced_stop_is_seen_before_the_callback_returns() {
    fn check<R: Runner<Error>>(tree: R, log: &Log) {
        let root = Ctx::new();
        let result = block_on(tree.run(&root, async |main: &Ctx<'_>| {
            root.cancel_with(Cause::Deadline);
            main.cancelled().await;
            Ok(())
        }));
        assert_eq!(result, Ok(()));
        let mut events = log.take();
        events.sort();
        assert_eq!(events, strings(&["forced a (deadline)", "forced b (deadline)"]));
    }
    let log = Log::new();
    let pair = || (CallbackFirst { name: "a", log: log.clone() }, CallbackFirst { name: "b", log: log.clone() });
    check(chain(pair()), &log);
    check(parallel(pair()), &log);
    check(sequential(pair()), &log);
}
