//! `start_stop`: start something in the background, run the callback, stop it.

mod common;

use common::*;
use procession::{Ctx, Runner, start_stop};

/// Runs a `start_stop` whose start, callback and stop log their name and return the given
/// results, and returns the runner's result and the log.
fn run_with(
    start: Result<(), Error>,
    callback: Result<(), Error>,
    stop: Result<(), Error>,
) -> (Result<(), Error>, Vec<String>) {
    let log = Log::new();
    let tree = start_stop(
        async |_: &Ctx<'_>| -> Result<(), Error> {
            log.push("start");
            start.clone()
        },
        async |_: &Ctx<'_>| -> Result<(), Error> {
            log.push("stop");
            stop.clone()
        },
    );
    let root = Ctx::new();
    let result = block_on(tree.run(&root, async |_: &Ctx<'_>| {
        log.push("callback");
        callback
    }));
    (result, log.take())
}

// === upstream ===

/// Upstream `TestStartStopErrorOnStart`: start fails (upstream's stop panics "unreachable").
/// The start error is the result; neither the callback nor stop is called.
#[test]
fn upstream_start_stop_error_on_start() {
    let (result, events) = run_with(Err(fail("oops")), Ok(()), Err(fail("unreachable")));
    assert!(result.as_ref().is_err_and(|e| e.errors().contains(&Fail::At("oops"))), "{result:?}");
    assert_eq!(result, Err(fail("oops")));
    assert_eq!(events, strings(&["start"]));
}

/// Upstream `TestStartStopErrorOnCallback`: start and stop succeed, the callback fails; its
/// error is the result.
#[test]
fn upstream_start_stop_error_on_callback() {
    let (result, events) = run_with(Ok(()), Err(fail("oops")), Ok(()));
    assert!(result.as_ref().is_err_and(|e| e.errors().contains(&Fail::At("oops"))), "{result:?}");
    assert_eq!(result, Err(fail("oops")));
    assert_eq!(events, strings(&["start", "callback", "stop"]));
}

/// Upstream `TestStartStopErrorOnCallbackAndStop`: the callback fails with `oops` and stop with
/// `ignored`; upstream checks that the result is `oops`.
///
/// Deviation from upstream (which drops the stop error): both errors are kept, the callback's
/// first.
#[test]
fn upstream_start_stop_error_on_callback_and_stop() {
    let (result, events) = run_with(Ok(()), Err(fail("oops")), Err(fail("ignored")));
    assert!(result.as_ref().is_err_and(|e| e.errors().contains(&Fail::At("oops"))), "{result:?}");
    assert_eq!(result, Err(fails(&["oops", "ignored"])));
    assert_eq!(events, strings(&["start", "callback", "stop"]));
}

/// Upstream `TestStartStopErrorOnStop`: only stop fails; its error is the result.
#[test]
fn upstream_start_stop_error_on_stop() {
    let (result, events) = run_with(Ok(()), Ok(()), Err(fail("oops")));
    assert!(result.as_ref().is_err_and(|e| e.errors().contains(&Fail::At("oops"))), "{result:?}");
    assert_eq!(result, Err(fail("oops")));
    assert_eq!(events, strings(&["start", "callback", "stop"]));
}

// === ours ===

/// Start, the callback and stop run in that order, one after the other, and all three get the
/// caller's context, live.
#[test]
fn order_and_callers_ctx() {
    let log = Log::new();
    let root = Ctx::new();
    let note = |what: &str, ctx: &Ctx<'_>| {
        log.push(format!("{what} (caller's ctx: {}, cancelled: {})", core::ptr::eq(ctx, &root), ctx.is_cancelled()));
    };
    let tree = start_stop(
        async |ctx: &Ctx<'_>| -> Result<(), Error> {
            note("start", ctx);
            yield_now().await;
            log.push("start returns");
            Ok(())
        },
        async |ctx: &Ctx<'_>| -> Result<(), Error> {
            note("stop", ctx);
            Ok(())
        },
    );
    let result = block_on(tree.run(&root, async |c: &Ctx<'_>| {
        note("callback", c);
        yield_now().await;
        log.push("callback returns");
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert_eq!(
        log.events(),
        strings(&[
            "start (caller's ctx: true, cancelled: false)",
            "start returns",
            "callback (caller's ctx: true, cancelled: false)",
            "callback returns",
            "stop (caller's ctx: true, cancelled: false)",
        ])
    );
}

/// All three succeeding returns `Ok`; with all three set to fail, start's error is returned alone
/// (it short-circuits: the callback and stop never run).
#[test]
fn ok_and_start_failure_short_circuits() {
    assert_eq!(run_with(Ok(()), Ok(()), Ok(())), (Ok(()), strings(&["start", "callback", "stop"])));
    let all_fail = run_with(Err(fail("start")), Err(fail("callback")), Err(fail("stop")));
    assert_eq!(all_fail, (Err(fail("start")), strings(&["start"])));
}

/// Cancelling the caller's context reaches the callback (it has the caller's context), and stop
/// is still called afterwards, with that cancelled context, so that it can stop forced.
#[test]
fn parent_cancellation_then_stop_with_cancelled_ctx() {
    let log = Log::new();
    let root = Ctx::new();
    let tree = start_stop(
        async |_: &Ctx<'_>| -> Result<(), Error> { Ok(()) },
        async |ctx: &Ctx<'_>| -> Result<(), Error> {
            log.push(format!("stop (cancelled: {})", ctx.is_cancelled()));
            Ok(())
        },
    );
    let controller = async {
        yield_now().await;
        root.cancel();
    };
    let callback = async |c: &Ctx<'_>| {
        log.push(format!("callback cancelled ({})", c.cancelled().await));
        Ok(())
    };
    let (result, ()) = block_on(futures::future::join(tree.run(&root, callback), controller));
    assert_eq!(result, Ok(()));
    assert_eq!(log.events(), strings(&["callback cancelled (shutdown)", "stop (cancelled: true)"]));
}
