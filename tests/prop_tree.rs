//! Property tests of the combinators: random trees of `chain`, `parallel` and `sequential`
//! (depth up to 4; arrays and tuples in a few fixed shapes with random leaves, and, with
//! `alloc`, fully random trees of `Vec`s of boxed runners) with random leaf behaviour, run on
//! a strict executor that polls only when woken and fails on a lost wakeup or a spin, and
//! stopped from outside at random points.
//!
//! Each case checks, from the log of what every leaf and the main callback did:
//!
//! - the main callback runs at most once, and only once every leaf is ready and none has
//!   stopped;
//! - no leaf is released (its callback returns, its context is cancelled, it returns) while
//!   the main callback runs;
//! - at every level of `chain` and `sequential`, a child starts only once the ones before it
//!   are ready, and the children stop in the reverse order: nothing of a child is stopped
//!   before every child after it has returned, at every stop level (graceful and forced);
//! - every leaf that started returned (none is dropped);
//! - the tree returns exactly the errors the leaves and the callback returned, the callback's
//!   first, then the leaves' in tree order;
//! - never more than a bound of polls between two external events (no spin), and no pending
//!   tree without a wake outstanding once every external event has fired (no lost wakeup).
//!
//! Seeds and cases: [`harness::SEED`] is fixed and no persistence file is written, so every run
//! explores the same cases ([`CASES`] per test; `PROPTEST_CASES` runs more). A failure prints
//! the shrunk case.

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, reason = "the tests run on std")]
#![allow(missing_docs)]

#[path = "common/prop.rs"]
mod harness;

use std::cell::RefCell;
use std::pin::pin;
use std::rc::Rc;

use embassy_futures::select::{Either, select};
use procession::{Cause, Ctx, Merge, Runner, chain, parallel, sequential};
use proptest::prelude::*;

use harness::{Gate, Strict, with_own_waker};

/// Cases per test ([`MIRI_CASES`] under miri).
const CASES: u32 = 192;

/// Cases per test under miri, where one case takes seconds to minutes (a tenth of
/// [`CASES`] took more than ten minutes for one test on two shared cores).
const MIRI_CASES: u32 = 4;

// === errors ===

/// Who failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Main,
    Leaf(usize),
}

/// The error of the trees: every failure, in order (unbounded, so none is lost to capacity).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Errs(Vec<Who>);

impl Merge for Errs {
    fn merge(mut self, other: Self) -> Self {
        self.0.extend(other.0);
        self
    }
}

fn merge(a: Result<(), Errs>, b: Result<(), Errs>) -> Result<(), Errs> {
    match (a, b) {
        (Err(a), Err(b)) => Err(a.merge(b)),
        (a, b) => a.and(b),
    }
}

// === leaves ===

/// What a leaf does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Ready, runs until its callback returns, returns `Ok`.
    Ok,
    /// Fails before it is ready.
    FailStart,
    /// Ready; when its trigger fires, cancels its callback's context
    /// ([`Cause::DependencyFailed`]), waits for the callback and fails.
    FailRunning,
    /// Ready, runs until its callback returns, fails.
    FailStop,
    /// Returns `Ok` without ever being ready.
    OkWithoutReady,
    /// Never ready; returns `Ok` once its context is cancelled.
    NeverReady,
    /// Ready; once its callback returned, runs on until its trigger fires or its context is
    /// cancelled.
    IgnoreGraceful,
    /// Ready; returns only once its context is cancelled, dropping its callback if it still
    /// runs then.
    ForcedOnly,
    /// As `Ok`, polling its callback with a waker of its own.
    OwnWaker,
    /// Ready; when its trigger fires before its callback returned, drops the callback and
    /// fails.
    DropCallback,
    /// As `Ok`, handing its callback a context of its own making (a root, not derived from
    /// the one it was given), which nobody else cancels.
    OwnCtx,
}

impl Kind {
    fn fails_start(self) -> bool {
        matches!(self, Self::FailStart | Self::OkWithoutReady | Self::NeverReady)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LeafSpec {
    kind: Kind,
    /// Becomes ready only once its trigger fired (the first time), or returns `Ok` unready if
    /// its context is cancelled first.
    slow: bool,
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Start(usize),
    Ready(usize),
    /// The leaf's callback returned.
    Released(usize),
    /// The leaf saw its context cancelled.
    Cancelled(usize),
    /// The leaf decided to fail while running (`FailRunning`).
    Failing(usize),
    /// The leaf dropped its callback unfinished on its own (`DropCallback`).
    Abandoned(usize),
    /// The leaf dropped its callback unfinished because its context was cancelled.
    Dropped(usize),
    End(usize, Result<(), Errs>),
    MainStart,
    /// The main callback saw its context cancelled (a forced stop of the callback).
    MainCancelled,
    MainEnd(Result<(), Errs>),
    /// The test fired an external event.
    Fired(Event),
}

/// The shared record of one case: the log and the gates the test opens.
#[derive(Debug, Default)]
struct Rec {
    log: RefCell<Vec<Ev>>,
    gates: Vec<Gate>,
    main_gate: Gate,
}

impl Rec {
    fn new(leaves: usize) -> Rc<Self> {
        Rc::new(Self { gates: (0..leaves).map(|_| Gate::default()).collect(), ..Self::default() })
    }

    fn push(&self, ev: Ev) {
        self.log.borrow_mut().push(ev);
    }
}

struct Leaf {
    i: usize,
    spec: LeafSpec,
    rec: Rc<Rec>,
}

impl Runner<Errs> for Leaf {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Errs>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Errs>,
    {
        let result = self.run_inner(ctx, ready).await;
        self.rec.push(Ev::End(self.i, result.clone()));
        result
    }
}

impl Leaf {
    async fn run_inner<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Errs>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Errs>,
    {
        let (i, rec) = (self.i, &self.rec);
        let gate = &rec.gates[i];
        let mine = || Err(Errs(vec![Who::Leaf(i)]));
        rec.push(Ev::Start(i));
        match self.spec.kind {
            Kind::FailStart => return mine(),
            Kind::OkWithoutReady => return Ok(()),
            Kind::NeverReady => {
                ctx.cancelled().await;
                rec.push(Ev::Cancelled(i));
                return Ok(());
            }
            _ => {}
        }
        // The trigger of the running behaviour: the next opening of the gate.
        let mut trigger = 1;
        if self.spec.slow {
            if let Either::Second(_) = select(gate.wait_for(1), ctx.cancelled()).await {
                rec.push(Ev::Cancelled(i));
                return Ok(());
            }
            trigger = 2;
        }
        rec.push(Ev::Ready(i));
        match self.spec.kind {
            Kind::Ok | Kind::FailStop => {
                let result = ready(ctx).await;
                rec.push(Ev::Released(i));
                if self.spec.kind == Kind::FailStop { merge(result, mine()) } else { result }
            }
            Kind::OwnCtx => {
                let own = Ctx::new();
                let result = ready(&own).await;
                rec.push(Ev::Released(i));
                result
            }
            Kind::OwnWaker => {
                let result = with_own_waker(ready(ctx)).await;
                rec.push(Ev::Released(i));
                result
            }
            Kind::FailRunning => {
                let inner = ctx.child();
                let mut callback = pin!(ready(&inner));
                match select(callback.as_mut(), gate.wait_for(trigger)).await {
                    Either::First(result) => {
                        rec.push(Ev::Released(i));
                        result
                    }
                    Either::Second(()) => {
                        rec.push(Ev::Failing(i));
                        inner.cancel_with(Cause::DependencyFailed);
                        let result = callback.await;
                        rec.push(Ev::Released(i));
                        merge(result, mine())
                    }
                }
            }
            Kind::IgnoreGraceful => {
                let result = ready(ctx).await;
                rec.push(Ev::Released(i));
                if let Either::Second(_) = select(gate.wait_for(trigger), ctx.cancelled()).await {
                    rec.push(Ev::Cancelled(i));
                }
                result
            }
            Kind::ForcedOnly => {
                let mut callback = pin!(ready(ctx));
                let mut result = None;
                let run = async {
                    result = Some(callback.as_mut().await);
                    rec.push(Ev::Released(i));
                    core::future::pending::<()>().await;
                };
                let _ = select(run, ctx.cancelled()).await;
                rec.push(Ev::Cancelled(i));
                match result {
                    Some(result) => result,
                    None => {
                        rec.push(Ev::Dropped(i));
                        Ok(())
                    }
                }
            }
            Kind::DropCallback => {
                let mut callback = pin!(ready(ctx));
                match select(callback.as_mut(), gate.wait_for(trigger)).await {
                    Either::First(result) => {
                        rec.push(Ev::Released(i));
                        result
                    }
                    Either::Second(()) => {
                        rec.push(Ev::Abandoned(i));
                        mine()
                    }
                }
            }
            Kind::FailStart | Kind::OkWithoutReady | Kind::NeverReady => unreachable!(),
        }
    }
}

// === shapes ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Chain,
    Parallel,
    Sequential,
}

/// The structure of a tree, leaves numbered in tree order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Leaf(usize),
    Group(Mode, Vec<Self>),
}

impl Shape {
    fn leaves(&self, out: &mut Vec<usize>) {
        match self {
            Self::Leaf(i) => out.push(*i),
            Self::Group(_, children) => children.iter().for_each(|c| c.leaves(out)),
        }
    }

    /// The leaf that runs the main callback itself: a group of one child is that child, so a
    /// tree that reduces to one leaf hands that leaf the callback.
    fn root_leaf(&self) -> Option<usize> {
        match self {
            Self::Leaf(i) => Some(*i),
            Self::Group(_, children) if children.len() == 1 => children[0].root_leaf(),
            Self::Group(..) => None,
        }
    }

    fn leaf_list(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.leaves(&mut out);
        out
    }
}

fn l(i: usize) -> Shape {
    Shape::Leaf(i)
}

fn g(mode: Mode, children: impl IntoIterator<Item = Shape>) -> Shape {
    Shape::Group(mode, children.into_iter().collect())
}

// === the main callback and the script ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MainSpec {
    /// Returns at once (else when the test opens its gate, or its context is cancelled).
    immediate: bool,
    fails: bool,
}

/// An external event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// Opens the gate of leaf `n % leaves`.
    Trigger(usize),
    /// Opens the gate of the main callback: it returns (a graceful stop).
    MainReturns,
    /// Cancels the root context (a forced stop from outside).
    CancelRoot,
}

#[derive(Debug, Clone)]
struct Case {
    leaves: Vec<LeafSpec>,
    main: MainSpec,
    script: Vec<Event>,
    /// Whether to fire the next event before a poll (instead of waiting until idle), by poll.
    eager: Vec<bool>,
}

/// Runs `tree` (whose structure is `shape`) as `case` says, and checks every property.
fn check_case<R: Runner<Errs>>(shape: &Shape, tree: &R, rec: &Rc<Rec>, case: &Case) -> Result<(), String> {
    let leaves = rec.gates.len();
    let root = Ctx::new();
    let main = case.main;
    let fut = async {
        tree.run(&root, async |ctx: &Ctx<'_>| {
            rec.push(Ev::MainStart);
            if !main.immediate
                && let Either::Second(_) = select(rec.main_gate.wait_for(1), ctx.cancelled()).await
            {
                rec.push(Ev::MainCancelled);
            }
            let result = if main.fails { Err(Errs(vec![Who::Main])) } else { Ok(()) };
            rec.push(Ev::MainEnd(result.clone()));
            result
        })
        .await
    };
    let mut exec = Strict::new(fut, 6 * leaves + 24);
    // The script, then a graceful stop, then a forced one: every leaf obeys the latter.
    let mut script: Vec<Event> = case.script.clone();
    script.extend([Event::MainReturns, Event::CancelRoot]);
    let mut script = script.into_iter();
    let fire = |e: Event| {
        rec.push(Ev::Fired(e));
        match e {
            Event::Trigger(n) => rec.gates[n % leaves].open(),
            Event::MainReturns => rec.main_gate.open(),
            Event::CancelRoot => {
                root.cancel();
            }
        }
    };
    let mut eager = case.eager.iter().copied().cycle();
    let mut first_idle = true;
    let mut fired = 0;
    while !exec.is_finished() {
        if exec.is_woken() {
            // Eager events only once the first has fired: the first idle point checks that a
            // tree of quick leaves reaches its callback by itself.
            if fired > 0
                && eager.next().unwrap_or(false)
                && let Some(e) = script.next()
            {
                fire(e);
                fired += 1;
                exec.event();
            }
            exec.poll_once().map_err(|e| format!("{e}; log {:?}", rec.log.borrow()))?;
            continue;
        }
        if first_idle {
            first_idle = false;
            let quick = case.leaves.iter().all(|s| !s.slow && !s.kind.fails_start());
            if quick && !rec.log.borrow().contains(&Ev::MainStart) {
                return Err(format!("every leaf is ready at once, yet no callback: {:?}", rec.log.borrow()));
            }
        }
        match script.next() {
            Some(e) => {
                fire(e);
                fired += 1;
                exec.event();
            }
            None => {
                return Err(format!(
                    "lost wakeup or hang: pending, no wake outstanding, root cancelled; log {:?}",
                    rec.log.borrow()
                ));
            }
        }
    }
    let result = exec.take().expect("finished");
    drop(exec);
    let log = rec.log.borrow().clone();
    check_log(shape, &log, &result)
}

fn pos(log: &[Ev], f: impl Fn(&Ev) -> bool) -> Vec<usize> {
    log.iter().enumerate().filter(|(_, e)| f(e)).map(|(p, _)| p).collect()
}

/// Positions of the events that stop leaf `i` from outside: its callback returns, it sees its
/// context cancelled, it returns (unless it abandoned its callback on its own first).
fn stop_events(log: &[Ev], i: usize) -> Vec<usize> {
    let abandoned = log.contains(&Ev::Abandoned(i));
    pos(log, |e| match e {
        Ev::Released(j) | Ev::Cancelled(j) => *j == i,
        Ev::End(j, _) => *j == i && !abandoned,
        _ => false,
    })
}

fn check_log(shape: &Shape, log: &[Ev], result: &Result<(), Errs>) -> Result<(), String> {
    let all = shape.leaf_list();
    let end_of = |i: usize| pos(log, |e| matches!(e, Ev::End(j, _) if *j == i));
    // The callback: at most once, only after every leaf is ready and before any stopped.
    let main_starts = pos(log, |e| *e == Ev::MainStart);
    let main_ends = pos(log, |e| matches!(e, Ev::MainEnd(_)));
    // A tree that reduces to one leaf is that leaf: it holds the callback, and may drop it.
    let root_leaf = shape.root_leaf();
    let dropped_main = root_leaf.is_some_and(|r| log.contains(&Ev::Abandoned(r)) || log.contains(&Ev::Dropped(r)));
    if main_starts.len() > 1 || (main_ends.len() != main_starts.len() && !dropped_main) {
        return Err(format!("callback ran {} times, returned {} times", main_starts.len(), main_ends.len()));
    }
    if let (Some(&p), Some(&q)) = (main_starts.first(), main_ends.first()) {
        for &i in all.iter().filter(|&&i| Some(i) != root_leaf) {
            if !log[..p].contains(&Ev::Ready(i)) {
                return Err(format!("callback before leaf {i} is ready"));
            }
            if let Some(&s) = stop_events(log, i).first()
                && s < q
            {
                return Err(format!("leaf {i} stopped at {s} while the callback ran ({p}..{q})"));
            }
            if pos(log, |e| *e == Ev::Abandoned(i)).first().is_some_and(|&a| a < p) {
                return Err(format!("callback after leaf {i} abandoned its callback"));
            }
        }
    }
    // The callback runs unless something kept it from running: a leaf never ready, a stop
    // from outside, a leaf that failed or gave up before every leaf was ready.
    let readies: Vec<usize> = all.iter().filter_map(|&i| pos(log, |e| *e == Ev::Ready(i)).first().copied()).collect();
    if main_starts.is_empty() && readies.len() == all.len() && root_leaf.is_none() {
        // Once every leaf is ready, the callback starts before the tree goes idle, that is
        // before the test fires its next event, unless something stops the tree meanwhile.
        let last_ready = readies.iter().copied().max().unwrap_or(0);
        let until =
            log[last_ready..].iter().position(|e| matches!(e, Ev::Fired(_))).map_or(log.len(), |p| last_ready + p);
        let excuse = log[..until].iter().any(|e| {
            matches!(
                e,
                Ev::Fired(Event::CancelRoot) | Ev::Failing(_) | Ev::Abandoned(_) | Ev::End(..) | Ev::Cancelled(_)
            )
        });
        if !excuse {
            return Err(format!("every leaf ready and nothing stopped them, yet no callback: {log:?}"));
        }
    }
    // The callback's context is cancelled only for a reason: a stop from outside, a leaf that
    // failed or gave up.
    if let Some(c) = pos(log, |e| *e == Ev::MainCancelled).first() {
        let excuse = log[..*c].iter().any(|e| {
            matches!(e, Ev::Fired(Event::CancelRoot) | Ev::Failing(_) | Ev::Abandoned(_) | Ev::Dropped(_) | Ev::End(..))
        });
        if !excuse {
            return Err(format!("the callback's context was cancelled for no reason: {log:?}"));
        }
    }
    // Every started leaf returned, once; none started twice.
    for &i in &all {
        let starts = pos(log, |e| *e == Ev::Start(i)).len();
        let ends = end_of(i).len();
        if starts > 1 || ends != starts {
            return Err(format!("leaf {i}: started {starts} times, returned {ends} times"));
        }
    }
    // Order at every level of chain and sequential.
    check_order(shape, log)?;
    // Exactly the errors returned, the callback's first, then the leaves' in tree order.
    let mut expected = Vec::new();
    if root_leaf.is_none()
        && let Some(Ev::MainEnd(Err(e))) = main_ends.first().map(|&q| &log[q])
    {
        expected.extend(e.0.iter().copied());
    }
    for &i in &all {
        if let Some(Ev::End(_, Err(e))) = end_of(i).first().map(|&p| &log[p]) {
            expected.extend(e.0.iter().copied());
        }
    }
    let got = match result {
        Ok(()) => Vec::new(),
        Err(e) => e.0.clone(),
    };
    if got != expected || matches!(result, Err(e) if e.0.is_empty()) {
        return Err(format!("errors: got {got:?}, expected {expected:?}"));
    }
    Ok(())
}

fn check_order(shape: &Shape, log: &[Ev]) -> Result<(), String> {
    let Shape::Group(mode, children) = shape else { return Ok(()) };
    for child in children {
        check_order(child, log)?;
    }
    if *mode == Mode::Parallel {
        return Ok(());
    }
    let sets: Vec<Vec<usize>> = children.iter().map(Shape::leaf_list).collect();
    for (a, below) in sets.iter().enumerate() {
        for (b, above) in sets.iter().enumerate().skip(a + 1) {
            let above_starts: Vec<usize> = above.iter().flat_map(|&i| pos(log, |e| *e == Ev::Start(i))).collect();
            let Some(&first_start) = above_starts.iter().min() else { continue };
            // Start order: everything below is ready before anything above starts.
            for &i in below {
                if pos(log, |e| *e == Ev::Ready(i)).first().is_none_or(|&r| r >= first_start) {
                    return Err(format!(
                        "{mode:?}: child {b} started at {first_start} before leaf {i} of child {a} was ready"
                    ));
                }
            }
            // Stop order: nothing below is stopped before everything above has returned.
            let last_end =
                above.iter().flat_map(|&i| pos(log, |e| matches!(e, Ev::End(j, _) if *j == i))).max().unwrap_or(0);
            for &i in below {
                if let Some(&s) = stop_events(log, i).first()
                    && s < last_end
                {
                    return Err(format!(
                        "{mode:?}: leaf {i} of child {a} stopped at {s}, before child {b} returned at {last_end}"
                    ));
                }
            }
        }
    }
    Ok(())
}

// === strategies ===

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => Just(Kind::Ok),
        1 => Just(Kind::FailStart),
        2 => Just(Kind::FailRunning),
        2 => Just(Kind::FailStop),
        1 => Just(Kind::OkWithoutReady),
        1 => Just(Kind::NeverReady),
        2 => Just(Kind::IgnoreGraceful),
        2 => Just(Kind::ForcedOnly),
        2 => Just(Kind::OwnWaker),
        2 => Just(Kind::DropCallback),
        1 => Just(Kind::OwnCtx),
    ]
}

fn leaf_spec(healthy_start: bool) -> impl Strategy<Value = LeafSpec> {
    (kind(), prop::bool::weighted(0.2)).prop_map(move |(kind, slow)| {
        let kind = if healthy_start && kind.fails_start() { Kind::Ok } else { kind };
        LeafSpec { kind, slow }
    })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (0usize..64).prop_map(Event::Trigger),
        1 => Just(Event::MainReturns),
        1 => Just(Event::CancelRoot),
    ]
}

fn case(leaves: usize) -> impl Strategy<Value = Case> {
    (
        prop::bool::weighted(0.6),
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::collection::vec(event(), 0..8),
        prop::collection::vec(prop::bool::weighted(0.2), 1..16),
    )
        .prop_flat_map(move |(healthy, immediate, fails, script, eager)| {
            prop::collection::vec(leaf_spec(healthy), leaves).prop_map(move |leaves| Case {
                leaves,
                main: MainSpec { immediate, fails },
                script: script.clone(),
                eager: eager.clone(),
            })
        })
}

// === fixed shapes of arrays and tuples ===

/// How many leaves the fixed shapes have.
const FIXED_LEAVES: usize = 6;

fn leaf(i: usize, case: &Case, rec: &Rc<Rec>) -> Leaf {
    Leaf { i, spec: case.leaves[i], rec: rec.clone() }
}

/// Runs fixed shape `n` (of [`SHAPES`]) with the leaves of `case`.
fn run_fixed(n: usize, case: &Case) -> Result<(), String> {
    use Mode::{Chain, Parallel, Sequential};
    let rec = Rec::new(FIXED_LEAVES);
    let f = |i| leaf(i, case, &rec);
    match n {
        0 => {
            let shape = g(Chain, [l(0), g(Parallel, [l(1), l(2)]), g(Sequential, [l(3), g(Chain, [l(4), l(5)])])]);
            let tree = chain((f(0), parallel([f(1), f(2)]), sequential((f(3), chain([f(4), f(5)])))));
            check_case(&shape, &tree, &rec, case)
        }
        1 => {
            let shape = g(Parallel, [g(Chain, [l(0), l(1)]), g(Sequential, [l(2), l(3), l(4)]), l(5)]);
            let tree = parallel((chain((f(0), f(1))), sequential([f(2), f(3), f(4)]), f(5)));
            check_case(&shape, &tree, &rec, case)
        }
        2 => {
            // Depth 4.
            let shape = g(Sequential, [l(0), g(Parallel, [l(1), g(Chain, [l(2), g(Parallel, [l(3), l(4)])])]), l(5)]);
            let tree = sequential((f(0), parallel((f(1), chain((f(2), parallel([f(3), f(4)]))))), f(5)));
            check_case(&shape, &tree, &rec, case)
        }
        3 => {
            let shape = g(Chain, (0..6).map(l));
            let tree = chain([f(0), f(1), f(2), f(3), f(4), f(5)]);
            check_case(&shape, &tree, &rec, case)
        }
        4 => {
            let shape = g(Parallel, [g(Sequential, [l(0), l(1), l(2)]), g(Sequential, [l(3), l(4), l(5)])]);
            let tree = parallel([sequential([f(0), f(1), f(2)]), sequential([f(3), f(4), f(5)])]);
            check_case(&shape, &tree, &rec, case)
        }
        5 => {
            let shape = g(Sequential, [g(Chain, [l(0), l(1)]), g(Chain, [l(2), l(3)]), g(Chain, [l(4), l(5)])]);
            let tree = sequential([chain((f(0), f(1))), chain((f(2), f(3))), chain((f(4), f(5)))]);
            check_case(&shape, &tree, &rec, case)
        }
        _ => {
            // Depth 4 of chains: each level depends on the one below.
            let shape = g(Chain, [l(0), g(Chain, [l(1), g(Chain, [l(2), g(Chain, [l(3), l(4)])])]), l(5)]);
            let tree = chain((f(0), chain((f(1), chain((f(2), chain([f(3), f(4)]))))), f(5)));
            check_case(&shape, &tree, &rec, case)
        }
    }
}

/// The number of fixed shapes.
const SHAPES: usize = 7;

proptest! {
    #![proptest_config(harness::config_with_miri(CASES, MIRI_CASES))]

    /// Fixed shapes of arrays and tuples, random leaves, random stops.
    #[test]
    fn fixed_shapes_keep_every_promise(n in 0..SHAPES, case in case(FIXED_LEAVES)) {
        run_fixed(n, &case).map_err(TestCaseError::fail)?;
    }
}

// === random trees of `Vec`s ===

#[cfg(feature = "alloc")]
mod vecs {
    use super::*;
    use procession::runner::BoxRunner;

    /// A random tree before its leaves are numbered.
    #[derive(Debug, Clone)]
    pub(super) enum Gen {
        Leaf,
        Group(Mode, Vec<Self>),
    }

    fn mode() -> impl Strategy<Value = Mode> {
        prop_oneof![Just(Mode::Chain), Just(Mode::Parallel), Just(Mode::Sequential)]
    }

    /// Trees of depth up to 4 (groups nested four deep), up to 3 children per group.
    pub(super) fn gen_tree() -> impl Strategy<Value = Gen> {
        let leaf = Just(Gen::Leaf);
        leaf.prop_recursive(4, 24, 3, |inner| {
            (mode(), prop::collection::vec(inner, 0..=3)).prop_map(|(m, c)| Gen::Group(m, c))
        })
    }

    /// Numbers the leaves in tree order; returns the shape and the runner.
    fn build(spec: &Gen, next: &mut usize, case: &Case, rec: &Rc<Rec>) -> (Shape, BoxRunner<'static, Errs>) {
        match spec {
            Gen::Leaf => {
                let i = *next;
                *next += 1;
                (Shape::Leaf(i), Box::new(leaf(i, case, rec)))
            }
            Gen::Group(m, children) => {
                let (shapes, runners): (Vec<_>, Vec<_>) = children.iter().map(|c| build(c, next, case, rec)).unzip();
                let runner: BoxRunner<'static, Errs> = match m {
                    Mode::Chain => Box::new(chain(runners)),
                    Mode::Parallel => Box::new(parallel(runners)),
                    Mode::Sequential => Box::new(sequential(runners)),
                };
                (Shape::Group(*m, shapes), runner)
            }
        }
    }

    fn count(spec: &Gen) -> usize {
        match spec {
            Gen::Leaf => 1,
            Gen::Group(_, c) => c.iter().map(count).sum(),
        }
    }

    pub(super) fn tree_and_case() -> impl Strategy<Value = (Gen, Case)> {
        gen_tree().prop_flat_map(|spec| {
            let n = count(&spec).max(1);
            (Just(spec), case(n))
        })
    }

    pub(super) fn run_vec(spec: &Gen, case: &Case) -> Result<(), String> {
        let rec = Rec::new(case.leaves.len());
        let mut next = 0;
        let (shape, tree) = build(spec, &mut next, case, &rec);
        check_case(&shape, &tree, &rec, case)
    }
}

#[cfg(feature = "alloc")]
proptest! {
    #![proptest_config(harness::config_with_miri(CASES, MIRI_CASES))]

    /// Fully random trees of `Vec`s of boxed runners, random leaves, random stops.
    #[test]
    fn random_vec_trees_keep_every_promise((spec, case) in vecs::tree_and_case()) {
        vecs::run_vec(&spec, &case).map_err(TestCaseError::fail)?;
    }
}
