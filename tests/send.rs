//! Trees of `Send` parts are `tokio::spawn`ed on the multi-threaded runtime: built inline, and
//! built in helper functions (returning a `SendRunner` made with `send_runner!`, or a type of
//! their own with a hand-written `Runner` impl).
//!
//! The closures own what they use (`async move`, `Arc`): today's compiler cannot prove `Send`
//! for a spawned tree whose async closures borrow locals of the spawned future, nor for one
//! whose error type has a lifetime parameter (hence `Message` rather than `&'static str`).
#![cfg(feature = "alloc")]
#![allow(clippy::std_instead_of_alloc, clippy::std_instead_of_core, reason = "the tests run on std")]

use core::future::{pending, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use procession::runner::SendRunner;
use procession::{Ctx, Runner, RunnerExt, TreeError, chain, fail, leaf, never, parallel, send_runner, start_stop};

/// Plain messages ([`procession::error::Message`], the default), eight failures kept.
type Error = TreeError<procession::error::Message, 8>;

/// A service that serves until it is told to stop, counting its stops.
fn service(stops: Arc<AtomicUsize>) -> SendRunner<Error> {
    send_runner!(
        leaf(async move |ctx: &Ctx<'_>| -> Result<(), Error> {
            ctx.cancelled().await;
            tokio::task::yield_now().await; // an await point on the worker thread
            stops.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .with_stop_deadline(never, never)
        .named("service")
    )
}

/// A helper that builds a whole subtree, with combinators and deadlines.
fn storage(stops: Arc<AtomicUsize>) -> SendRunner<Error> {
    send_runner!(chain((service(stops.clone()), parallel((service(stops.clone()), service(stops))))).named("storage"))
}

/// A part that ignores its stop: its deadline drops it.
fn stubborn() -> SendRunner<Error> {
    send_runner!(
        leaf(async |_: &Ctx<'_>| -> Result<(), Error> { pending().await })
            .with_stop_deadline(|| ready(()), || ready(()))
            .named("stubborn")
    )
}

/// A type of its own with a hand-written `Runner` impl that builds its tree in `run`: its run
/// future is a concrete type, so `Send` is seen through it without a box.
struct Radio {
    stops: Arc<AtomicUsize>,
}

impl Runner<Error> for Radio {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        let stops = self.stops.clone();
        let power = start_stop(
            async |_: &Ctx<'_>| Ok(()),
            async move |_: &Ctx<'_>| {
                stops.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
        );
        chain((
            power,
            leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> {
                ctx.cancelled().await;
                Ok(())
            }),
        ))
        .with_stop_deadline(never, never)
        .named("radio")
        .run(ctx, ready)
        .await
    }
}

/// A tree built where it is spawned: chain, parallel, leaf and deadlines, on worker threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_tree_is_spawned() {
    let stops = Arc::new(AtomicUsize::new(0));
    let counted = stops.clone();
    let handle = tokio::spawn(async move {
        let tree = chain((
            leaf(async move |ctx: &Ctx<'_>| -> Result<(), Error> {
                ctx.cancelled().await;
                tokio::task::yield_now().await;
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .with_stop_deadline(never, never)
            .named("storage"),
            parallel((
                leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> {
                    ctx.cancelled().await;
                    Ok(())
                }),
                leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> {
                    ctx.cancelled().await;
                    Ok(())
                }),
            ))
            .with_start_deadline(never, never),
        ));
        let root = Ctx::new();
        tree.run(&root, async |_| {
            tokio::task::yield_now().await;
            Ok(())
        })
        .await
    });
    assert_eq!(handle.await.unwrap(), Ok(()));
    assert_eq!(stops.load(Ordering::SeqCst), 1);
}

/// Trees built in helper functions returning `SendRunner`s, nested in a tree built inline, are
/// spawned; every service is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_trees_are_spawned() {
    let stops = Arc::new(AtomicUsize::new(0));
    let tree = chain((storage(stops.clone()), service(stops.clone()), Radio { stops: stops.clone() }));
    let handle = tokio::spawn(async move {
        let root = Ctx::new();
        tree.run(&root, async |ctx: &Ctx<'_>| {
            assert!(!ctx.is_cancelled());
            Ok(())
        })
        .await
    });
    assert_eq!(handle.await.unwrap(), Ok(()));
    // Three services in storage, one beside it, the radio's power.
    assert_eq!(stops.load(Ordering::SeqCst), 5);
}

/// A `SendRunner` gives the callback's error back first, its own after it, named; a failure
/// inside it cancels the callback's context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_tree_reports_errors_and_failures() {
    let tree = chain((stubborn(), send_runner!(leaf(async |_: &Ctx<'_>| fail("crashed")).named("worker"))));
    let handle = tokio::spawn(async move {
        let root = Ctx::new();
        tree.run(&root, async |ctx: &Ctx<'_>| {
            ctx.cancelled().await; // the worker's failure reaches the callback
            fail("callback")
        })
        .await
    });
    let error = handle.await.unwrap().unwrap_err();
    assert_eq!(
        error.to_string(),
        "3 errors:\n- callback\n- stubborn: stop deadline passed, dropped\n- worker: crashed"
    );
}

/// A `SendRunner` whose runner returns before it is ready does not call the callback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_start_failure_skips_callback() {
    let runner: SendRunner<Error> =
        send_runner!(start_stop(async |_: &Ctx<'_>| fail("no device"), async |_: &Ctx<'_>| Ok(())));
    let handle = tokio::spawn(async move {
        let root = Ctx::new();
        runner.run(&root, async |_| panic!("the callback of a start failure runs")).await
    });
    assert_eq!(handle.await.unwrap().unwrap_err().to_string(), "no device");
}

/// A `SendRunner` is `Send + Sync` itself, so it can live in an `Arc` shared by tasks.
#[test]
fn send_runner_is_send_and_sync() {
    static_assertions::assert_impl_all!(SendRunner<Error>: Send, Sync);
}

/// The default tree error, plain `&'static str` messages, in a helper tree that is spawned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_message_helper_tree_is_spawned() {
    fn worker(name: &'static str) -> SendRunner<TreeError> {
        send_runner!(
            leaf(async |ctx: &Ctx<'_>| -> Result<(), TreeError> {
                ctx.cancelled().await;
                fail("stopped badly")
            })
            .named(name)
        )
    }
    let tree = parallel((worker("a"), worker("b")));
    let handle = tokio::spawn(async move {
        let root = Ctx::new();
        tree.run(&root, async |_| Ok(())).await
    });
    let error = handle.await.unwrap().unwrap_err();
    assert_eq!(error.to_string(), "2 errors:\n- a: stopped badly\n- b: stopped badly");
}
