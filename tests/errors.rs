//! The ready-made tree error: a user's own enum, or plain messages, with deadlines, the
//! supervisor, tasks and groups, and no trait impl written; every overrun and task failure
//! names its node.
#![cfg(feature = "alloc")]
#![allow(clippy::std_instead_of_alloc, clippy::std_instead_of_core, reason = "the tests run on std")]

use core::future::{pending, ready};
use core::time::Duration;

use embassy_futures::block_on;
use procession::error::{Failure, Kind, Message, UnboundedTreeError};
use procession::proc::{self, Proc, concurrent_group, stop_deadline, task};
use procession::retry::{Constant, Once, Retry};
use procession::runner::{Lifecycle, from_fn};
use procession::supervisor::{self, Supervisor};
use procession::time::ManualClock;
use procession::{
    Ctx, Merge, MultiError, Overrun, Phase, Runner, RunnerExt, StopLevel, TreeError, chain, fail, leaf, never, parallel,
};

/// A user's own error: no `Merge`, no `From<Overrun>`, no `From<supervisor::Error>`, no
/// `From<TaskError<_>>`, no `Display`; only what `assert_eq!` needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppError {
    LinkDown,
    BadConfig,
}

type AppTree = TreeError<AppError, 8>;

/// A leaf that serves until told to stop, then ignores it: only a deadline ends it.
fn stubborn<E: Merge>() -> impl Runner<E> {
    leaf(async |ctx: &Ctx<'_>| -> Result<(), E> {
        ctx.cancelled().await;
        pending().await
    })
}

/// A leaf that serves until told to stop.
fn serving<E: Merge>() -> impl Runner<E> {
    leaf(async |ctx: &Ctx<'_>| -> Result<(), E> {
        ctx.cancelled().await;
        Ok(())
    })
}

/// The trial's situation: an own enum with deadlines, a supervisor, a task and a group, in one
/// tree, and not one trait impl.
#[test]
fn own_enum_with_deadlines_supervisor_task_and_group() {
    let radio = Supervisor::new(leaf(async |_: &Ctx<'_>| fail(AppError::LinkDown)), Once).named("radio");
    let storage = stubborn().with_stop_deadline(|| ready(()), || ready(())).named("storage");
    let config = proc::into_runner(concurrent_group((
        task("config", async |_: &Ctx<'_>| -> Result<(), AppError> { Err(AppError::BadConfig) }),
        stop_deadline(|| ready(()), async |_: &Ctx<'_>| -> Result<(), AppTree> { pending().await }),
    )));
    let app = chain((storage, parallel((radio, config)).with_start_deadline(never, never)));
    let root = Ctx::new();
    let error = block_on(app.run(&root, async |_| Ok(()))).unwrap_err();
    let failures: Vec<String> = error.iter().map(|f| format!("{:?} {:?}", f.node(), f.kind())).collect();
    assert_eq!(
        failures,
        [
            "Some(\"storage\") Overrun(Overrun { phase: Stop, level: Hard })",
            "Some(\"radio\") Own(LinkDown)",
            "Some(\"config\") Own(BadConfig)",
            "None Overrun(Overrun { phase: Stop, level: Hard })",
        ]
    );
}

/// Plain messages: the default `TreeError`, `fail`, `.into()` and `?` on a `&'static str`.
#[test]
fn plain_messages_need_no_impl_and_have_short_spellings() {
    let a = leaf(async |_: &Ctx<'_>| -> Result<(), TreeError> { fail("a") });
    let b = leaf(async |_: &Ctx<'_>| -> Result<(), TreeError> { Err("b".into()) });
    let c = leaf(async |_: &Ctx<'_>| -> Result<(), TreeError> {
        let parsed: Result<(), &'static str> = Err("c");
        parsed?;
        Ok(())
    });
    let tree = parallel((a, b, c)).with_stop_deadline(never, never);
    let root = Ctx::new();
    let error: TreeError = block_on(tree.run(&root, async |_| Ok(()))).unwrap_err();
    assert_eq!(error.to_string(), "3 errors:\n- a\n- b\n- c");
    assert_eq!(error.errors()[0].own_error(), Some(&Message("a")));
    assert_eq!(error.errors()[1].own_error().unwrap(), &"b");
}

/// "storage: stop deadline passed, dropped", and the three other overruns, on `Display`.
#[test]
fn overruns_name_their_node() {
    let root = Ctx::new();
    // Hard stop: the runner ignores cancellation.
    let hard = stubborn().with_stop_deadline(|| ready(()), || ready(())).named("storage");
    let error: TreeError = block_on(hard.run(&root, async |_| Ok(()))).unwrap_err();
    assert_eq!(error.to_string(), "storage: stop deadline passed, dropped");
    assert_eq!(error.errors()[0].overrun(), Some(Overrun::new(Phase::Stop, StopLevel::Hard)));

    // Forced stop: the graceful deadline passed, the runner returned once cancelled.
    let forced = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), TreeError> {
        lc.ready();
        lc.stop_requested().await; // graceful: ignored
        ctx.cancelled().await; // forced: obeyed
        Ok(())
    })
    .with_stop_deadline(|| ready(()), never)
    .named("network");
    let error = block_on(forced.run(&root, async |_| Ok(()))).unwrap_err();
    assert_eq!(error.to_string(), "network: stop deadline passed, cancelled");

    // Start deadlines.
    let never_ready = leaf_never_ready();
    let dropped = never_ready.with_start_deadline(|| ready(()), || ready(())).named("radio");
    let error: TreeError = block_on(dropped.run(&root, async |_| Ok(()))).unwrap_err();
    assert_eq!(error.to_string(), "radio: start deadline passed, dropped");

    let cancelled = from_fn(async |ctx: &Ctx<'_>, _lc: &Lifecycle<'_>| {
        ctx.cancelled().await;
        Ok(())
    })
    .with_start_deadline(|| ready(()), never)
    .named("modem");
    let error: TreeError = block_on(cancelled.run(&root, async |_| Ok(()))).unwrap_err();
    assert_eq!(error.to_string(), "modem: start deadline passed, cancelled");
}

/// A runner that never becomes ready and ignores cancellation.
fn leaf_never_ready() -> impl Runner<TreeError> {
    from_fn(async |_: &Ctx<'_>, _lc: &Lifecycle<'_>| pending().await)
}

/// `named` names the node's own failures, not the callback's; the innermost name is kept.
#[test]
fn named_names_own_failures_and_keeps_the_innermost_name() {
    let root = Ctx::new();
    let inner = leaf(async |_: &Ctx<'_>| -> Result<(), TreeError> { fail("disk full") }).named("disk");
    let outer = chain((inner, serving())).named("storage");
    let error = block_on(outer.run(&root, async |_| fail("callback"))).unwrap_err();
    assert_eq!(error.to_string(), "2 errors:\n- callback\n- disk: disk full");
    assert_eq!(error.errors()[0].node(), None);

    let unnamed_inside =
        chain((leaf(async |_: &Ctx<'_>| -> Result<(), TreeError> { fail("disk full") }), serving())).named("storage");
    let error = block_on(unnamed_inside.run(&root, async |_| Ok(()))).unwrap_err();
    assert_eq!(error.to_string(), "storage: disk full");
}

/// A task names the failures of its process: a plain error, and every failure of a tree.
#[test]
fn tasks_name_their_failures() {
    let root = Ctx::new();
    let web = task("web", async |_: &Ctx<'_>| -> Result<(), &'static str> { Err("address in use") });
    let error: TreeError = block_on(web.run(&root)).unwrap_err();
    assert_eq!(error.to_string(), "web: address in use");

    let bounded =
        task("db", stop_deadline(|| ready(()), async |_: &Ctx<'_>| -> Result<(), TreeError> { pending().await }));
    root.cancel();
    let error: TreeError = block_on(bounded.run(&root)).unwrap_err();
    assert_eq!(error.to_string(), "db: stop deadline passed, dropped");

    let own = task("radio", async |_: &Ctx<'_>| -> Result<(), AppError> { Err(AppError::LinkDown) });
    let error: AppTree = block_on(own.run(&root)).unwrap_err();
    assert_eq!(error.errors(), &[Failure::own(AppError::LinkDown).named("radio")]);
}

/// The supervisor's own failures go into the tree error: intensity exceeded after the last
/// failure, and a second run at once.
#[test]
fn supervisor_failures_go_into_the_tree_error() {
    let clock: ManualClock = ManualClock::new();
    let retry = Retry::new(Constant::every(Duration::ZERO), &clock).intensity::<1>(Duration::from_secs(1));
    let sup = Supervisor::new(leaf(async |_: &Ctx<'_>| fail(AppError::LinkDown)), retry).named("radio");
    let root = Ctx::new();
    let error: AppTree = block_on(sup.run(&root, async |ctx: &Ctx<'_>| {
        ctx.cancelled().await; // until the supervisor gives up
        Ok(())
    }))
    .unwrap_err();
    assert_eq!(
        error.errors(),
        &[
            Failure::own(AppError::LinkDown).named("radio"),
            Failure::from(supervisor::Error::IntensityExceeded).named("radio"),
        ]
    );
    let named: Failure<Message> = Failure::from(supervisor::Error::IntensityExceeded).named("radio");
    assert_eq!(named.to_string(), "radio: supervisor: restart intensity exceeded");

    let sup = Supervisor::new(serving(), Once);
    let error: TreeError = block_on(sup.run(&root, async |_| sup.run(&root, async |_| Ok(())).await)).unwrap_err();
    assert!(matches!(error.errors()[0].kind(), Kind::Supervisor(supervisor::Error::RecursiveOrConcurrentRun)));
}

/// Without `alloc` the list is bounded and counts what did not fit; with it, the unbounded tree
/// error keeps every failure, with the same conversions.
#[test]
fn bounded_counts_and_unbounded_keeps_every_failure() {
    let root = Ctx::new();
    let five =
        || {
            parallel([(); 5].map(|()| {
                stubborn::<TreeError<Message, 2>>().with_stop_deadline(|| ready(()), || ready(())).named("w")
            }))
        };
    let error = block_on(five().run(&root, async |_| Ok(()))).unwrap_err();
    assert_eq!(error.errors().len(), 2);
    assert_eq!(error.overflow(), 3);

    let all = parallel(
        [(); 5].map(|()| stubborn::<UnboundedTreeError>().with_stop_deadline(|| ready(()), || ready(())).named("w")),
    );
    let error = block_on(all.run(&root, async |_| Ok(()))).unwrap_err();
    assert_eq!(error.len(), 5);
    assert!(error.iter().all(|f| f.to_string() == "w: stop deadline passed, dropped"));

    let task_over_unbounded = task("t", async |_: &Ctx<'_>| -> Result<(), UnboundedTreeError> { fail("x") });
    let error: UnboundedTreeError = block_on(task_over_unbounded.run(&root)).unwrap_err();
    assert_eq!(error.to_string(), "t: x");
}

/// A tree error of messages is a `core::error::Error`: it goes into a `Box<dyn Error>`, and an
/// overrun is the source of its failure.
#[test]
fn tree_error_is_an_error() {
    let failure: Failure<Message> = Overrun::new(Phase::Stop, StopLevel::Hard).into();
    let failure = failure.named("storage");
    assert!(core::error::Error::source(&failure).is_some());
    let error: TreeError = failure.into();
    let boxed: Box<dyn core::error::Error + Send + Sync> = Box::new(error);
    assert_eq!(boxed.to_string(), "storage: stop deadline passed, dropped");
    assert!(boxed.source().is_some());
}

/// The plain list keeps its meaning: `MultiError<E, N>` has a conversion when `E` has it.
#[test]
fn plain_multi_error_forwards_to_its_entries() {
    #[derive(Debug, PartialEq)]
    struct Own(Overrun);
    impl From<Overrun> for Own {
        fn from(o: Overrun) -> Self {
            Self(o)
        }
    }
    let list: MultiError<Own, 2> = Overrun::new(Phase::Start, StopLevel::Forced).into();
    assert_eq!(list.errors(), &[Own(Overrun::new(Phase::Start, StopLevel::Forced))]);
    let merged = list.merge(MultiError::from_error(Own(Overrun::new(Phase::Stop, StopLevel::Hard))));
    assert_eq!(merged.len(), 2);
}

/// `Display` of every overrun, unnamed.
#[test]
fn overrun_display() {
    assert_eq!(Overrun::new(Phase::Stop, StopLevel::Hard).to_string(), "stop deadline passed, dropped");
    assert_eq!(Overrun::new(Phase::Stop, StopLevel::Forced).to_string(), "stop deadline passed, cancelled");
    assert_eq!(Overrun::new(Phase::Start, StopLevel::Hard).to_string(), "start deadline passed, dropped");
    assert_eq!(Overrun::new(Phase::Start, StopLevel::Forced).to_string(), "start deadline passed, cancelled");
}

/// A part that cannot fail (a table whose error is `Infallible`, as `StaticTable`'s) fits a
/// tree error with no impl written: the keyed supervisor asks `E: From<T::Error>`.
#[test]
#[allow(clippy::result_large_err, reason = "a tree error is large by design; this only converts")]
fn an_infallible_part_fits_a_tree_error() {
    fn lookup() -> Result<u8, core::convert::Infallible> {
        Ok(7)
    }
    fn tree() -> Result<u8, procession::TreeError> {
        Ok(lookup()?)
    }
    #[cfg(feature = "alloc")]
    fn unbounded() -> Result<u8, procession::error::UnboundedTreeError> {
        Ok(lookup()?)
    }
    assert_eq!(tree(), Ok(7));
    #[cfg(feature = "alloc")]
    assert_eq!(unbounded(), Ok(7));
}
