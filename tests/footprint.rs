//! What a process tree costs and where it can go: a tree of `Send` parts spawned on tokio's
//! multi-threaded runtime, and the sizes of typical tree futures, printed so they can be
//! tracked (`cargo test --test footprint -- --nocapture`).
//!
//! The zero-allocation check needs its own global allocator and lives in `tests/zero_alloc.rs`.

mod common;

use common::{Error, Log, probe};
use procession::{Ctx, MultiError, Runner, chain, leaf, parallel, sequential};

/// A tree of `Send` parts (a probe, a chain of two probes and a leaf under `parallel`) runs as
/// a `tokio::spawn`ed task on the multi-threaded runtime, with a callback that yields to the
/// runtime: it returns `Ok`, starts everything before the callback, and stops in reverse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_tree_spawned_on_tokio() {
    let log = Log::new();
    let leaf_log = log.clone();
    let tree = parallel((
        probe("a", &log),
        chain([probe("b", &log), probe("c", &log)]),
        leaf(async move |ctx: &Ctx<'_>| -> Result<(), Error> {
            leaf_log.push("run leaf");
            let cause = ctx.cancelled().await;
            leaf_log.push(format!("stop leaf ({cause})"));
            Ok(())
        }),
    ));
    let callback_log = log.clone();
    let task = tokio::spawn(async move {
        let root = Ctx::new();
        tree.run(&root, async move |ctx: &Ctx<'_>| {
            callback_log.push("callback");
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            assert!(!ctx.is_cancelled());
            callback_log.push("callback returns");
            Ok(())
        })
        .await
    });
    let result = task.await.expect("the spawned tree panicked");
    assert_eq!(result, Ok(()));

    let events = log.take();
    println!("events: {events:?}");
    let at =
        |event: &str| events.iter().position(|e| e == event).unwrap_or_else(|| panic!("no {event:?} in {events:?}"));
    let mut sorted = events.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "callback",
            "callback returns",
            "ready a",
            "ready b",
            "ready c",
            "run leaf",
            "start a",
            "start b",
            "start c",
            "stop a",
            "stop b",
            "stop c",
            "stop leaf (shutdown)",
        ],
        "events: {events:?}"
    );
    // Each probe is started, then ready.
    for name in ["a", "b", "c"] {
        assert!(at(&format!("start {name}")) < at(&format!("ready {name}")), "{events:?}");
    }
    // The chain starts `c` only once `b` is ready, and stops it first.
    assert!(at("ready b") < at("start c"), "{events:?}");
    assert!(at("stop c") < at("stop b"), "{events:?}");
    // The callback runs once every child is ready, and nothing stops before it returns.
    for event in ["ready a", "ready c", "run leaf"] {
        assert!(at(event) < at("callback"), "{events:?}");
    }
    for event in ["stop a", "stop b", "stop c", "stop leaf (shutdown)"] {
        assert!(at("callback returns") < at(event), "{events:?}");
    }
}

/// The error type of the measured trees: small and heap-free, as on a microcontroller.
type SmallError = MultiError<&'static str, 4>;

/// Prints `size_of_val(fut)` under `name` and checks it is below `bound`.
fn report<F: core::future::Future>(name: &str, fut: &F, bound: usize) -> usize {
    let size = core::mem::size_of_val(fut);
    println!("footprint: {name:<28} {size:>6} bytes (bound {bound})");
    assert!(size <= bound, "{name}: {size} bytes, more than the bound of {bound}");
    size
}

/// The size of typical tree futures, printed; the bounds are about twice the sizes measured
/// when this test was written (rustc 1.95, the same in debug and release), to catch a blow-up.
#[test]
fn future_sizes() {
    let wait = async |ctx: &Ctx<'_>| -> Result<(), SmallError> {
        ctx.cancelled().await;
        Ok(())
    };
    let one = leaf(wait);
    let other = leaf(async |ctx: &Ctx<'_>| -> Result<(), SmallError> {
        let _ = ctx.cause();
        ctx.cancelled().await;
        Ok(())
    });
    let root = Ctx::new();
    let done = async |_: &Ctx<'_>| -> Result<(), SmallError> { Ok(()) };

    report("leaf", &one.run(&root, done), 800);
    report("chain [leaf; 3]", &chain([one; 3]).run(&root, done), 5_000);
    let p8 = report("parallel [leaf; 8]", &parallel([one; 8]).run(&root, done), 12_000);
    let p64 = report("parallel [leaf; 64]", &parallel([one; 64]).run(&root, done), 90_000);
    report("sequential (leaf, leaf, nop)", &sequential((one, other, procession::nop())).run(&root, done), 4_500);
    report(
        "parallel (leaf, ..) x8 tuple",
        &parallel((one, one, one, one, one, one, one, one)).run(&root, done),
        12_000,
    );
    println!("footprint: parallel array, per extra child {:>6} bytes", (p64 - p8) / (64 - 8));
}

/// An array of children costs no more than a tuple of the same children (within 10 %), for
/// `parallel`, `chain` and `sequential`.
#[test]
fn array_children_cost_no_more_than_tuple() {
    let one = leaf(async |ctx: &Ctx<'_>| -> Result<(), SmallError> {
        ctx.cancelled().await;
        Ok(())
    });
    let root = Ctx::new();
    let done = async |_: &Ctx<'_>| -> Result<(), SmallError> { Ok(()) };
    let size = |array: usize, tuple: usize, name: &str| {
        println!("footprint: {name}: array {array} bytes, tuple {tuple} bytes");
        assert!(array * 10 <= tuple * 11, "{name}: array {array} bytes, tuple {tuple} bytes");
    };
    size(
        core::mem::size_of_val(&parallel([one; 8]).run(&root, done)),
        core::mem::size_of_val(&parallel((one, one, one, one, one, one, one, one)).run(&root, done)),
        "parallel of 8",
    );
    size(
        core::mem::size_of_val(&chain([one; 3]).run(&root, done)),
        core::mem::size_of_val(&chain((one, one, one)).run(&root, done)),
        "chain of 3",
    );
    size(
        core::mem::size_of_val(&sequential([one; 3]).run(&root, done)),
        core::mem::size_of_val(&sequential((one, one, one)).run(&root, done)),
        "sequential of 3",
    );
}
