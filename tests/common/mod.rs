//! Helpers shared by the integration tests: an event log, a test error type, probe runners.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::result_large_err)]
#![allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]

use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use procession::{Ctx, MultiError, Overrun, Phase, Runner, StopLevel};

/// One failure in a test tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    /// A named failure injected by a test.
    At(&'static str),
    /// A stop deadline passed.
    Overrun(StopLevel),
    /// A start deadline passed.
    StartOverrun(StopLevel),
}

impl From<Overrun> for Fail {
    fn from(o: Overrun) -> Self {
        match o.phase {
            Phase::Stop => Self::Overrun(o.level),
            _ => Self::StartOverrun(o.level),
        }
    }
}

impl core::fmt::Display for Fail {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::At(name) => f.write_str(name),
            Self::Overrun(level) => write!(f, "stop overrun: {level}"),
            Self::StartOverrun(level) => write!(f, "start overrun: {level}"),
        }
    }
}

/// The error type of test trees: every failure kept.
pub type Error = MultiError<Fail, 16>;

/// An error holding the named failures, in order.
pub fn fails(names: &[&'static str]) -> Error {
    names.iter().map(|n| Fail::At(n)).collect()
}

pub fn fail(name: &'static str) -> Error {
    fails(&[name])
}

/// A shared, ordered log of events.
#[derive(Clone, Default, Debug)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }

    pub fn take(&self) -> Vec<String> {
        core::mem::take(&mut *self.0.lock().unwrap())
    }

    pub fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// What a probe does at each step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Becomes ready, waits for the callback to return, stops.
    #[default]
    Normal,
    /// Fails before it is ready.
    FailStart,
    /// Becomes ready, then fails (cancels the callback's context) as soon as the callback runs.
    FailRunning,
    /// Becomes ready and stops normally, but reports an error when it stops.
    FailStop,
}

/// A runner that logs `start NAME`, `ready NAME`, `stop NAME` and behaves as told.
#[derive(Clone, Debug)]
pub struct Probe {
    pub name: &'static str,
    pub log: Log,
    pub behaviour: Behaviour,
}

pub fn probe(name: &'static str, log: &Log) -> Probe {
    Probe { name, log: log.clone(), behaviour: Behaviour::Normal }
}

pub fn probe_with(name: &'static str, log: &Log, behaviour: Behaviour) -> Probe {
    Probe { name, log: log.clone(), behaviour }
}

impl Runner<Error> for Probe {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        self.log.push(format!("start {}", self.name));
        if self.behaviour == Behaviour::FailStart {
            self.log.push(format!("failed {}", self.name));
            return Err(fail(self.name));
        }
        let inner = ctx.child();
        self.log.push(format!("ready {}", self.name));
        let mut callback = core::pin::pin!(ready(&inner));
        let result = match futures::poll!(callback.as_mut()) {
            core::task::Poll::Ready(result) => result,
            core::task::Poll::Pending => {
                if self.behaviour == Behaviour::FailRunning {
                    // Fails once it runs: after one round of the executor, in which what
                    // depends on it starts.
                    let mut yielded = false;
                    core::future::poll_fn(|cx| {
                        if yielded {
                            return core::task::Poll::Ready(());
                        }
                        yielded = true;
                        cx.waker().wake_by_ref();
                        core::task::Poll::Pending
                    })
                    .await;
                    inner.cancel_with(procession::Cause::DependencyFailed);
                }
                callback.await
            }
        };
        let cause = ctx.cause().map(|c| format!(" ({c})")).unwrap_or_default();
        self.log.push(format!("stop {}{}", self.name, cause));
        match self.behaviour {
            Behaviour::FailRunning | Behaviour::FailStop => {
                let mine: Result<(), Error> = Err(fail(self.name));
                match (result, mine) {
                    (Err(a), Err(b)) => Err(procession::Merge::merge(a, b)),
                    (a, b) => a.and(b),
                }
            }
            _ => result,
        }
    }
}

pub fn block_on<F: core::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// What the main callback of a test tree does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Main {
    /// Logs `main` and returns `Ok` at once.
    Return,
    /// Logs `main` and fails with `main`.
    Fail,
    /// Logs `main`, waits for its context to be cancelled, logs `main cancelled (CAUSE)`.
    UntilCancelled,
}

/// Runs `tree` under `ctx` with a main callback that behaves as told and logs to `log`.
pub async fn run_main<R: Runner<Error>>(tree: &R, ctx: &Ctx<'_>, log: &Log, main: Main) -> Result<(), Error> {
    tree.run(ctx, async |c: &Ctx<'_>| {
        log.push("main");
        match main {
            Main::Return => Ok(()),
            Main::Fail => Err(fail("main")),
            Main::UntilCancelled => {
                let cause = c.cancelled().await;
                log.push(format!("main cancelled ({cause})"));
                Ok(())
            }
        }
    })
    .await
}

/// Runs `tree` on a fresh root with `futures::executor::block_on`.
pub fn run<R: Runner<Error>>(tree: &R, log: &Log, main: Main) -> Result<(), Error> {
    let root = Ctx::new();
    block_on(run_main(tree, &root, log, main))
}

/// Names for sets of up to 8 probes.
pub const NAMES: [&str; 8] = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];

/// An array of `N` probes named `p0`.., the one at `at` behaving as told.
pub fn probes<const N: usize>(log: &Log, at: Option<(usize, Behaviour)>) -> [Probe; N] {
    core::array::from_fn(|i| {
        let behaviour = match at {
            Some((j, b)) if j == i => b,
            _ => Behaviour::Normal,
        };
        probe_with(NAMES[i], log, behaviour)
    })
}

/// The events of probes `names` in order, each as `"{verb} {name}"`.
pub fn each(verb: &str, names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("{verb} {n}")).collect()
}

/// `start N, ready N` for each name in order.
pub fn started(names: &[&str]) -> Vec<String> {
    names.iter().flat_map(|n| [format!("start {n}"), format!("ready {n}")]).collect()
}

/// Yields once to the executor, waking the task so that it is polled again.
pub async fn yield_now() {
    let mut yielded = false;
    core::future::poll_fn(|cx| {
        if yielded {
            return core::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        core::task::Poll::Pending
    })
    .await;
}

/// Runs `fut` with `block_on`, panicking if it has not completed within `polls` polls of
/// another arm, so that a deadlock fails the test instead of hanging it.
pub fn block_on_within<F: core::future::Future>(polls: usize, fut: F) -> F::Output {
    let limit = async {
        for _ in 0..polls {
            yield_now().await;
        }
    };
    match block_on(futures::future::select(core::pin::pin!(fut), core::pin::pin!(limit))) {
        futures::future::Either::Left((output, _)) => output,
        futures::future::Either::Right(_) => panic!("still running after {polls} polls: deadlock"),
    }
}

/// A runner that becomes ready, then abandons its callback (drops it unfinished) after a few
/// polls and fails with `abandoner`.
#[derive(Clone, Debug)]
pub struct Abandoner {
    pub log: Log,
}

impl Runner<Error> for Abandoner {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        use futures::future::Either;
        let inner = ctx.child();
        self.log.push("ready abandoner");
        let trip = async {
            for _ in 0..3 {
                yield_now().await;
            }
        };
        let callback = ready(&inner);
        match futures::future::select(core::pin::pin!(callback), core::pin::pin!(trip)).await {
            Either::Left((result, _)) => result,
            Either::Right(((), _)) => {
                self.log.push("abandoned");
                Err(fail("abandoner"))
            }
        }
    }
}

/// The order in which a combinator stops its children, as seen in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopOrder {
    /// The reverse of the start order (`chain`, `sequential`).
    Reverse,
    /// Together, polled in child order (`parallel`).
    Together,
}

/// `stop N` for each name, in the order given.
pub fn stops(names: &[&str], order: StopOrder) -> Vec<String> {
    match order {
        StopOrder::Reverse => names.iter().rev().map(|n| format!("stop {n}")).collect(),
        StopOrder::Together => each("stop", names),
    }
}

/// Checks a whole lifecycle: every child started and ready in order, the callback, the stops.
pub fn expect_lifecycle(events: Vec<String>, names: &[&str], order: StopOrder) {
    let mut expected = started(names);
    expected.push("main".into());
    expected.extend(stops(names, order));
    assert_eq!(events, expected);
}

/// A start failure at each position of 8: nothing after it starts, the callback does not run,
/// what started stops (in `order`), and the error is the failed child's.
pub fn check_start_failure_at_each_position<R: Runner<Error>>(make: impl Fn([Probe; 8]) -> R, order: StopOrder) {
    for at in 0..8 {
        let log = Log::new();
        let result = run(&make(probes::<8>(&log, Some((at, Behaviour::FailStart)))), &log, Main::Return);
        assert_eq!(result, Err(fail(NAMES[at])), "failure at {at}");
        let mut expected = started(&NAMES[..at]);
        expected.push(format!("start {}", NAMES[at]));
        expected.push(format!("failed {}", NAMES[at]));
        expected.extend(stops(&NAMES[..at], order));
        assert_eq!(log.events(), expected, "failure at {at}");
    }
}

/// Cancelling the parent while the callback runs cancels the callback and every child, which
/// stop (in `order`) with the parent's cause.
pub fn check_parent_cancellation<R: Runner<Error>>(make: impl Fn([Probe; 3]) -> R, order: StopOrder) {
    let log = Log::new();
    let root = Ctx::new();
    let tree = make(probes::<3>(&log, None));
    let result = block_on(tree.run(&root, async |c: &Ctx<'_>| {
        log.push("main");
        root.cancel();
        log.push(format!("main cancelled ({})", c.cancelled().await));
        Ok(())
    }));
    assert_eq!(result, Ok(()));
    let mut expected = started(&NAMES[..3]);
    expected.extend(strings(&["main", "main cancelled (shutdown)"]));
    expected.extend(stops(&NAMES[..3], order).into_iter().map(|s| format!("{s} (shutdown)")));
    assert_eq!(log.events(), expected);
}

/// The callback's error comes first, then every child's, in child order; none is lost.
pub fn check_callback_error_first<R: Runner<Error>>(make: impl Fn((Probe, Probe, Probe)) -> R) {
    let log = Log::new();
    let tree = make((
        probe_with("a", &log, Behaviour::FailStop),
        probe("b", &log),
        probe_with("c", &log, Behaviour::FailStop),
    ));
    assert_eq!(run(&tree, &log, Main::Fail), Err(fails(&["main", "a", "c"])));
    assert_eq!(run(&tree, &log, Main::Return), Err(fails(&["a", "c"])));
}
