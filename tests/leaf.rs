//! `leaf` and `leaf_with_stop`: a process running in the foreground, its callback beside it.

mod common;

use core::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use procession::{Ctx, Runner, leaf, leaf_with_stop};

/// Yields until `done` holds; panics after 100 yields, so that a broken test fails instead of
/// hanging.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        yield_now().await;
    }
    panic!("never happened: {what}");
}

/// Runs `run` with `callback` on a fresh root, once as a `leaf` and once as a `leaf_with_stop`
/// whose stop does nothing (upstream passes `nil` for the stop), and returns both results.
fn as_leaf_and_leaf_with_stop<R, C>(run: R, callback: C) -> [Result<(), Error>; 2]
where
    R: AsyncFn(&Ctx<'_>) -> Result<(), Error> + Clone,
    C: AsyncFn(&Ctx<'_>) -> Result<(), Error>,
{
    let root = Ctx::new();
    let plain = block_on(leaf(run.clone()).run(&root, async |c: &Ctx<'_>| callback(c).await));
    let root = Ctx::new();
    let with_stop = leaf_with_stop(run, async |_: &Ctx<'_>| -> Result<(), Error> { Ok(()) });
    let stopped = block_on(with_stop.run(&root, async |c: &Ctx<'_>| callback(c).await));
    [plain, stopped]
}

/// Checks what upstream checks with `errors.Is(err, oops)`: the result is an error holding the
/// failure `oops`. Here it is also the only failure.
fn assert_is_oops(result: &Result<(), Error>) {
    let err = result.as_ref().expect_err("expected the failure oops");
    assert!(err.errors().contains(&Fail::At("oops")), "{err:?}");
    assert_eq!(*err, fail("oops"));
}

// === upstream ===

/// Upstream `TestLeafCallbackReturns`: `run` waits for its context and then fails; the callback
/// returns `Ok` at once. The callback's return cancels `run`'s context, and `run`'s error is the
/// result since the callback (and stop) returned `Ok`.
#[test]
fn upstream_leaf_callback_returns() {
    let results = as_leaf_and_leaf_with_stop(
        async |ctx: &Ctx<'_>| -> Result<(), Error> {
            ctx.cancelled().await;
            Err(fail("oops"))
        },
        async |_: &Ctx<'_>| Ok(()),
    );
    results.iter().for_each(assert_is_oops);
}

/// Upstream `TestLeafCallbackError`: `run` waits for its context and returns `Ok`; the callback
/// fails. The callback's error is the result.
#[test]
fn upstream_leaf_callback_error() {
    let results = as_leaf_and_leaf_with_stop(
        async |ctx: &Ctx<'_>| -> Result<(), Error> {
            ctx.cancelled().await;
            Ok(())
        },
        async |_: &Ctx<'_>| Err(fail("oops")),
    );
    results.iter().for_each(assert_is_oops);
}

/// Upstream `TestLeafRunReturns`: `run` returns `Ok` at once; the callback waits for its context
/// and then fails. This shows that `run` returning cancels the callback's context, and that the
/// callback's error is the result.
#[test]
fn upstream_leaf_run_returns() {
    let results = as_leaf_and_leaf_with_stop(
        async |_: &Ctx<'_>| -> Result<(), Error> { Ok(()) },
        async |c: &Ctx<'_>| {
            c.cancelled().await;
            Err(fail("oops"))
        },
    );
    results.iter().for_each(assert_is_oops);
}

/// Upstream `TestLeafRunError`: `run` fails at once; the callback waits for its context and
/// returns `Ok`. `run`'s error is the result.
#[test]
fn upstream_leaf_run_error() {
    let results = as_leaf_and_leaf_with_stop(
        async |_: &Ctx<'_>| -> Result<(), Error> { Err(fail("oops")) },
        async |c: &Ctx<'_>| {
            c.cancelled().await;
            Ok(())
        },
    );
    results.iter().for_each(assert_is_oops);
}

// === ours ===

/// The callback starts at once, before `run` has done anything: a leaf has no readiness. Both
/// get the same context, a child of the caller's.
#[test]
fn callback_starts_at_once_with_runs_ctx() {
    let log = Log::new();
    let run_ctx = AtomicUsize::new(0);
    let run_started = Ctx::new();
    let root = Ctx::new();
    let tree = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> {
        log.push("run");
        run_ctx.store(core::ptr::from_ref(ctx).addr(), Ordering::Relaxed);
        run_started.cancel();
        ctx.cancelled().await;
        Ok(())
    });
    let result = block_on(tree.run(&root, async |c: &Ctx<'_>| {
        log.push("callback");
        run_started.cancelled().await;
        log.push(format!("same ctx as run: {}", core::ptr::from_ref(c).addr() == run_ctx.load(Ordering::Relaxed)));
        log.push(format!("child of the caller's: {}", c.parent().is_some_and(|p| core::ptr::eq(p, &root))));
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert_eq!(log.events(), strings(&["callback", "run", "same ctx as run: true", "child of the caller's: true"]));
}

/// Without a stop function, the callback's return cancels `run`'s context with cause
/// `Shutdown`, and the leaf waits for `run`.
#[test]
fn callback_return_cancels_run_with_shutdown() {
    let log = Log::new();
    let tree = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> {
        log.push("run");
        let cause = ctx.cancelled().await;
        log.push(format!("run cancelled ({cause})"));
        yield_now().await;
        log.push("run returns");
        Ok(())
    });
    let root = Ctx::new();
    let result = block_on(tree.run(&root, async |_: &Ctx<'_>| {
        yield_now().await;
        log.push("callback returns");
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    assert_eq!(log.events(), strings(&["run", "callback returns", "run cancelled (shutdown)", "run returns"]));
}

/// With `leaf_with_stop`, the stop function is called once the callback has returned, with the
/// caller's context (live, so a graceful stop can still do I/O); `run`'s context is cancelled,
/// with cause `Shutdown`, only once stop has returned.
#[test]
fn stop_gets_callers_ctx_then_run_is_cancelled() {
    let log = Log::new();
    let root = Ctx::new();
    let stop_gate = Ctx::new();
    let tree = leaf_with_stop(
        async |ctx: &Ctx<'_>| -> Result<(), Error> {
            log.push("run");
            let cause = ctx.cancelled().await;
            log.push(format!("run cancelled ({cause})"));
            Ok(())
        },
        async |ctx: &Ctx<'_>| -> Result<(), Error> {
            log.push(format!("stop (caller's ctx: {}, cancelled: {})", core::ptr::eq(ctx, &root), ctx.is_cancelled()));
            stop_gate.cancelled().await;
            log.push("stop returns");
            Ok(())
        },
    );
    let controller = async {
        until("stop called", || log.events().iter().any(|e| e.starts_with("stop"))).await;
        for _ in 0..3 {
            yield_now().await;
        }
        // Stop is still running: run's context is live.
        assert!(!log.events().iter().any(|e| e.starts_with("run cancelled")), "{:?}", log.events());
        stop_gate.cancel();
    };
    let callback = async |_: &Ctx<'_>| {
        log.push("callback returns");
        Ok(())
    };
    let (result, ()) = block_on(futures::future::join(tree.run(&root, callback), controller));
    assert_eq!(result, Ok(()));
    assert_eq!(
        log.events(),
        strings(&[
            "callback returns",
            "stop (caller's ctx: true, cancelled: false)",
            "run",
            "stop returns",
            "run cancelled (shutdown)",
        ])
    );
}

/// Like upstream, the stop function is called even when `run` has already returned (with `Ok`
/// and with an error).
#[test]
fn stop_called_even_when_run_returned() {
    for run_fails in [false, true] {
        let log = Log::new();
        let tree = leaf_with_stop(
            async |_: &Ctx<'_>| -> Result<(), Error> {
                log.push("run returns");
                if run_fails { Err(fail("run")) } else { Ok(()) }
            },
            async |_: &Ctx<'_>| -> Result<(), Error> {
                log.push("stop");
                Ok(())
            },
        );
        let root = Ctx::new();
        let result = block_on(tree.run(&root, async |c: &Ctx<'_>| {
            c.cancelled().await;
            log.push("callback returns");
            Ok(())
        }));
        assert_eq!(result, if run_fails { Err(fail("run")) } else { Ok(()) });
        assert_eq!(log.events(), strings(&["run returns", "callback returns", "stop"]), "run fails: {run_fails}");
    }
}

/// When `run` returns first, the callback's context is cancelled: with cause `Parent` when
/// `run` returned `Ok`, `DependencyFailed` when it failed; for both forms.
#[test]
fn callback_told_why_run_ended() {
    for (run_fails, cause) in [(false, "parent ended"), (true, "dependency failed")] {
        let log = Log::new();
        let run = async |_: &Ctx<'_>| -> Result<(), Error> { if run_fails { Err(fail("run")) } else { Ok(()) } };
        let results = as_leaf_and_leaf_with_stop(run, async |c: &Ctx<'_>| {
            log.push(format!("callback cancelled ({})", c.cancelled().await));
            Ok(())
        });
        let expected = if run_fails { Err(fail("run")) } else { Ok(()) };
        assert_eq!(results, [expected.clone(), expected]);
        let line = format!("callback cancelled ({cause})");
        assert_eq!(log.events(), [line.clone(), line]);
    }
}

/// Deviation from upstream (which keeps only the first error): with the callback, stop and
/// `run` all failing, all three errors are kept, in the order callback, stop, `run`. Every pair
/// keeps that order too.
#[test]
fn errors_merged_callback_then_stop_then_run() {
    // The error, if any.
    let check = |callback_fails: bool, stop_fails: bool, run_fails: bool| {
        let tree = leaf_with_stop(
            async |_: &Ctx<'_>| -> Result<(), Error> { if run_fails { Err(fail("run")) } else { Ok(()) } },
            async |_: &Ctx<'_>| -> Result<(), Error> { if stop_fails { Err(fail("stop")) } else { Ok(()) } },
        );
        let root = Ctx::new();
        // The callback returns only once run has returned, so that all three have failed.
        block_on(tree.run(&root, async |c: &Ctx<'_>| {
            c.cancelled().await;
            if callback_fails { Err(fail("callback")) } else { Ok(()) }
        }))
        .err()
    };
    assert_eq!(check(true, true, true), Some(fails(&["callback", "stop", "run"])));
    assert_eq!(check(true, true, false), Some(fails(&["callback", "stop"])));
    assert_eq!(check(true, false, true), Some(fails(&["callback", "run"])));
    assert_eq!(check(false, true, true), Some(fails(&["stop", "run"])));
    assert_eq!(check(false, false, false), None);
}

/// Without a stop function the callback's error comes first, then `run`'s.
#[test]
fn errors_merged_callback_then_run() {
    let tree = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> {
        ctx.cancelled().await;
        Err(fail("run"))
    });
    let root = Ctx::new();
    let result = block_on(tree.run(&root, async |_: &Ctx<'_>| Err(fail("callback"))));
    assert_eq!(result, Err(fails(&["callback", "run"])));
}

/// Cancelling the caller's context reaches `run` and the callback, with the caller's cause; a
/// stop function is still called after the callback returns, with the (now cancelled) caller's
/// context, so that it can stop forced.
#[test]
fn parent_cancellation_reaches_run() {
    let log = Log::new();
    let root = Ctx::new();
    let run = async |ctx: &Ctx<'_>| -> Result<(), Error> {
        log.push("run");
        log.push(format!("run cancelled ({})", ctx.cancelled().await));
        Ok(())
    };
    let callback = async |c: &Ctx<'_>| {
        log.push(format!("callback cancelled ({})", c.cancelled().await));
        Ok(())
    };
    let controller = async {
        until("run started", || log.events().contains(&"run".to_string())).await;
        root.cancel();
    };
    let (result, ()) = block_on(futures::future::join(leaf(run).run(&root, callback), controller));
    assert_eq!(result, Ok(()));
    let mut events = log.take();
    events.sort();
    assert_eq!(events, strings(&["callback cancelled (shutdown)", "run", "run cancelled (shutdown)"]));

    let root = Ctx::new();
    let tree = leaf_with_stop(run, async |ctx: &Ctx<'_>| -> Result<(), Error> {
        log.push(format!("stop (caller's ctx: {}, cancelled: {})", core::ptr::eq(ctx, &root), ctx.is_cancelled()));
        Ok(())
    });
    let controller = async {
        until("run started", || log.events().contains(&"run".to_string())).await;
        root.cancel();
    };
    let (result, ()) = block_on(futures::future::join(tree.run(&root, callback), controller));
    assert_eq!(result, Ok(()));
    let events = log.take();
    let position = |e: &str| events.iter().position(|x| x == e).unwrap_or_else(|| panic!("no {e:?} in {events:?}"));
    assert!(position("run cancelled (shutdown)") > position("run"));
    assert!(position("stop (caller's ctx: true, cancelled: true)") > position("callback cancelled (shutdown)"));
    assert_eq!(events.len(), 4, "{events:?}");
}

/// A leaf is reusable: it can run twice in a row, each run with its own context.
#[test]
fn runs_again() {
    let runs = AtomicUsize::new(0);
    let tree = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> {
        runs.fetch_add(1, Ordering::Relaxed);
        ctx.cancelled().await;
        Ok(())
    });
    let root = Ctx::new();
    for _ in 0..2 {
        let result = block_on(tree.run(&root, async |c: &Ctx<'_>| {
            assert!(!c.is_cancelled());
            Ok(())
        }));
        assert_eq!(result, Ok(()));
    }
    assert_eq!(runs.load(Ordering::Relaxed), 2);
}
