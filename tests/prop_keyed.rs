//! Property tests of the keyed supervisor, on both variants: convergence under random edits,
//! failures, time and handle calls; and a state-machine test of its handle against a model.
//!
//! Every case runs on the strict executor of `tests/common/prop.rs`: a task is polled only
//! once it was woken, and a step that polls more than a budget is a spin. A handle call still
//! pending once everything has settled is a lost wakeup (or a hang).
//!
//! Seeds and cases: the seed is fixed and no persistence file is written; a tenth of the cases
//! under miri (`PROPTEST_CASES` runs more).
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc, reason = "the tests run on std")]

mod common;
#[path = "common/prop.rs"]
mod harness;
#[path = "common/keyed.rs"]
mod keyed;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use core::time::Duration;

use common::Log;
use harness::{Gate, Out, Poller, out};
use keyed::{Act, Error, Events, Script, Sure, workers};
use procession::retry::Constant;
use procession::table::{self, ByEq, KeyedSupervisor, Policy, Restart, Setup, State, StaticTable};
use procession::time::ManualClock;
use procession::{Ctx, StopLevel, never};
use proptest::prelude::*;

type KErr = table::Error<u32, Error>;

/// Keys of the cases: `0..KEYS`.
const KEYS: u32 = 6;
/// Slots of the supervisors: room for every key.
const SLOTS: usize = 8;
/// Polls allowed for one step.
const BUDGET: usize = 5_000;
const BACKOFF: Duration = Duration::from_millis(10);
const INTERVAL: Duration = Duration::from_secs(1);
/// The longest case, in steps: shorter under miri (a hundred times slower), where a case of
/// 40 steps takes about a minute.
const STEPS: usize = if cfg!(miri) { 12 } else { 40 };

// === convergence ===

/// One step of a convergence case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// The table gets the key, or a new value for it.
    Insert(u32, u32),
    /// The table loses the key.
    Remove(u32),
    /// The key's next start fails before it is ready.
    FailNextStart(u32),
    /// The key's running process fails (nothing if none runs).
    Crash(u32),
    /// The clock moves on, in milliseconds.
    Tick(u64),
    /// `reconcile_now`.
    Reconcile,
    /// `start`, from a task of its own.
    Start(u32),
    /// `stop`, from a task of its own.
    Stop(u32),
    /// `restart`, from a task of its own.
    Restart(u32),
    /// `request`.
    Request(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS, 0..3u32).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (0..KEYS).prop_map(Op::Remove),
        2 => (0..KEYS).prop_map(Op::FailNextStart),
        2 => (0..KEYS).prop_map(Op::Crash),
        3 => prop_oneof![Just(0u64), Just(5), Just(10), Just(500), Just(1_000)].prop_map(Op::Tick),
        1 => Just(Op::Reconcile),
        2 => (0..KEYS).prop_map(Op::Start),
        1 => (0..KEYS).prop_map(Op::Stop),
        1 => (0..KEYS).prop_map(Op::Restart),
        1 => (0..KEYS).prop_map(Op::Request),
    ]
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if ok { Ok(()) } else { Err(TestCaseError::fail(what())) }
}

/// Each key's incarnations, from the runners' own start and end: never two at once, each
/// begins after the previous one ended; with `closed`, every one has ended.
fn check_spans(spans: &[(u32, bool)], closed: bool) -> Result<(), TestCaseError> {
    let mut live = BTreeMap::<u32, bool>::new();
    for (i, &(key, start)) in spans.iter().enumerate() {
        let was = live.insert(key, start).unwrap_or(false);
        ensure(was != start, || {
            format!("key {key}: {} twice in a row at {i}: {spans:?}", if start { "start" } else { "end" })
        })?;
    }
    if closed {
        ensure(live.values().all(|l| !l), || format!("an incarnation never ended: {spans:?}"))?;
    }
    Ok(())
}

/// The supervisor's own view of the incarnations (its `started`/`exited` events): for each key,
/// `started #n` and `exited #n` alternate, the same `n`.
fn check_incarnation_events(events: &[String]) -> Result<(), TestCaseError> {
    let mut open = BTreeMap::<u32, Option<u32>>::new();
    for e in events {
        let (started, rest) = match (e.strip_prefix("started "), e.strip_prefix("exited ")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            _ => continue,
        };
        let (key, rest) = rest.split_once('#').expect("KEY#N");
        let key: u32 = key.parse().unwrap();
        let n: u32 = rest.split(' ').next().unwrap().parse().unwrap();
        let was = open.insert(key, started.then_some(n)).flatten();
        match (started, was) {
            (true, None) => {}
            (false, Some(m)) if m == n => {}
            _ => return Err(TestCaseError::fail(format!("key {key}: `{e}` after {was:?}: {events:?}"))),
        }
    }
    Ok(())
}

/// Every failure a runner made (`failed K` before ready, `crash K` while running) is reported
/// as an `exited K#n … err` event: none swallowed, none invented.
fn check_failures_reported(log: &[String], events: &[String]) -> Result<(), TestCaseError> {
    for key in 0..KEYS {
        let made = log.iter().filter(|e| **e == format!("failed {key}") || **e == format!("crash {key}")).count();
        let reported =
            events.iter().filter(|e| e.starts_with(&format!("exited {key}#")) && e.ends_with(" err")).count();
        ensure(made == reported, || format!("key {key}: {made} failures, {reported} reported: {log:?} {events:?}"))?;
    }
    Ok(())
}

/// The value the key's last incarnation was built from (`start K=V` in the log).
fn last_value(log: &[String], key: u32) -> Option<u32> {
    let prefix = format!("start {key}=");
    log.iter().rev().find_map(|e| e.strip_prefix(&prefix)).map(|v| v.parse().unwrap())
}

/// Every case, once per variant (the modules below give `Sup` and `make`).
macro_rules! cases {
    () => {
        /// One convergence case: the table starts as `initial`, the steps run one by one (each
        /// followed by running every task until all sleep), then quiescence: no more edits, the
        /// clock past every backoff and interval, a pass on demand. Then the keys that run and
        /// are ready are exactly the table's (less those a handle stopped), built from the
        /// table's current values; no other key has a slot; every handle call has returned;
        /// no incarnation of a key overlapped another; every failure was reported.
        fn converge(initial: &[(u32, u32)], ops: &[Op], permanent: bool) -> Result<(), TestCaseError> {
            let (clock, log, script, events) = (ManualClock::new(), Log::new(), Script::new(), Events::new());
            let table = keyed::map(initial);
            let restart = if permanent { Restart::Permanent } else { Restart::Temporary };
            let policy = Policy::new().restart(restart).backoff(Constant::every(BACKOFF));
            let setup = Setup::new(Sure(&table), workers(&script, &log), &clock)
                .policy(policy)
                .every(INTERVAL)
                .initial_wait(Duration::ZERO)
                .prune()
                .replace_on_change(ByEq)
                .observe(events.observer());
            let sup = make::<SLOTS>();
            let root = Ctx::new();
            let end = Gate::default();
            let driven: Out<Result<(), Error>> = out();
            let (sup, setup, root, end_ref) = (&sup, &setup, &root, &end);
            let mut poller = Poller::default();
            {
                let driven = driven.clone();
                poller.spawn(async move {
                    let result = sup
                        .drive(root, setup, async |_: &Ctx<'_>| {
                            end_ref.wait_for(1).await;
                            Ok(())
                        })
                        .await;
                    *driven.borrow_mut() = Some(result);
                });
            }
            let calls: Rc<RefCell<Vec<String>>> = Rc::default();
            let mut stopped = BTreeSet::new();
            poller.run(BUDGET).map_err(TestCaseError::fail)?;
            for (step, &op) in ops.iter().enumerate() {
                let record = |what: String| {
                    let calls = calls.clone();
                    move |result: String| calls.borrow_mut().push(format!("{what}: {result}"))
                };
                match op {
                    Op::Insert(k, v) => {
                        table.insert(k, v).expect("room");
                    }
                    Op::Remove(k) => {
                        table.remove(&k);
                    }
                    Op::FailNextStart(k) => {
                        script.then(k, &[Act::FailStart]);
                    }
                    Op::Crash(k) => {
                        script.try_crash(k);
                    }
                    Op::Tick(ms) => {
                        clock.advance(Duration::from_millis(ms));
                    }
                    Op::Reconcile => {
                        sup.reconcile_now();
                    }
                    Op::Request(k) => {
                        let _ = sup.request(k);
                    }
                    Op::Start(k) => {
                        let done = record(format!("start {k}"));
                        poller.spawn(async move { done(format!("{:?}", sup.start(k).await)) });
                    }
                    Op::Stop(k) => {
                        stopped.insert(k);
                        let done = record(format!("stop {k}"));
                        poller.spawn(async move { done(format!("{:?}", sup.stop(&k, never, never).await)) });
                    }
                    Op::Restart(k) => {
                        let done = record(format!("restart {k}"));
                        poller.spawn(async move { done(format!("{:?}", sup.restart(&k, never, never).await)) });
                    }
                }
                poller.run(BUDGET).map_err(|e| TestCaseError::fail(format!("step {step} {op:?}: {e}")))?;
                ensure(script.overlaps() == 0, || format!("step {step} {op:?}: a key ran twice at once"))?;
                check_spans(&script.spans(), false)?;
            }
            // Quiescence: the clock past every backoff and interval, a pass on demand, until no
            // key is on its way anywhere (each queued start failure costs one backoff).
            let unsettled = |c: table::Counts| c.reserved + c.starting + c.stopping + c.backing_off + c.exited;
            let mut rounds = 0;
            loop {
                clock.advance(INTERVAL);
                poller.run(BUDGET).map_err(TestCaseError::fail)?;
                sup.reconcile_now();
                poller.run(BUDGET).map_err(TestCaseError::fail)?;
                rounds += 1;
                if rounds > 2 && unsettled(sup.counts()) == 0 {
                    break;
                }
                ensure(rounds < 4 * ops.len() + 8, || format!("never settled: {:?}", sup.counts()))?;
            }
            let (log_now, events_now) = (log.events(), events.all());
            for id in 1..poller.len() {
                ensure(poller.is_finished(id), || {
                    format!("handle call {id} still pending once settled (lost wakeup): {:?}", calls.borrow())
                })?;
            }
            for key in 0..KEYS {
                let state = sup.get(&key).map(|e| e.state);
                match table.lookup(&key) {
                    None => ensure(state == Err(KErr::NotFound), || {
                        format!("key {key} not in the table but {state:?}: {log_now:?} {events_now:?}")
                    })?,
                    Some(value) => {
                        let ok = state == Ok(State::Running) || (state == Ok(State::Stopped) && stopped.contains(&key));
                        ensure(ok, || format!("key {key} in the table but {state:?}: {log_now:?} {events_now:?}"))?;
                        if state == Ok(State::Running) {
                            ensure(script.live(key) == 1, || {
                                format!("key {key} running but {} live", script.live(key))
                            })?;
                            let built = last_value(&log_now, key);
                            ensure(built == Some(value), || {
                                format!("key {key} runs with {built:?}, the table says {value}: {log_now:?}")
                            })?;
                        } else {
                            ensure(script.live(key) == 0, || format!("key {key} stopped but live"))?;
                        }
                    }
                }
            }
            ensure(sup.counts().keys <= table.len(), || format!("extra slots: {:?}", sup.keys()))?;
            // The end: every key stops, the drive returns `Ok`.
            end.open();
            poller.run(BUDGET).map_err(TestCaseError::fail)?;
            let result = driven.borrow_mut().take();
            ensure(result == Some(Ok(())), || format!("the drive ended with {result:?}"))?;
            let (log_all, events_all) = (log.events(), events.all());
            check_spans(&script.spans(), true)?;
            check_incarnation_events(&events_all)?;
            check_failures_reported(&log_all, &events_all)?;
            ensure(script.overlaps() == 0, || "a key ran twice at once".to_string())?;
            Ok(())
        }

        proptest! {
            #![proptest_config(harness::config(64))]

            /// Convergence under random edits, failures, time and handle calls (prune and
            /// replace on change on), with a permanent or a temporary policy.
            #[test]
            fn convergence(
                initial in prop::collection::vec((0..KEYS, 0..3u32), 0..KEYS as usize),
                ops in prop::collection::vec(op(), 1..STEPS),
                permanent in any::<bool>(),
            ) {
                converge(&initial, &ops, permanent)?;
            }
        }

        /// Cases of the property written out: one of each kind of step, and the case it found.
        #[test]
        fn convergence_smoke() {
            let ops = [
                Op::FailNextStart(1),
                Op::Insert(1, 1),
                Op::Start(1),
                Op::Tick(10),
                Op::Crash(1),
                Op::Insert(2, 0),
                Op::Insert(2, 2),
                Op::Stop(0),
                Op::Remove(3),
                Op::Reconcile,
            ];
            converge(&[(0, 0), (3, 1)], &ops, true).unwrap();
            converge(&[(0, 0), (3, 1)], &ops, false).unwrap();
            // Found by the property: a restart into a start that fails at once hung.
            let found = [Op::Insert(2, 0), Op::Reconcile, Op::FailNextStart(2), Op::Restart(2)];
            converge(&[], &found, false).unwrap();
        }

        // === the handle against a model ===

        proptest! {
            #![proptest_config(harness::config(128))]

            /// The handle's calls, several at once from tasks of their own, checked after every
            /// step against the model.
            #[test]
            fn handle_model(steps in prop::collection::vec(prop::collection::vec(hop(), 1..4), 1..STEPS)) {
                handle_case(&steps)?;
            }
        }

        /// Runs one case of [`handle_model`].
        fn handle_case(steps: &[Vec<HOp>]) -> Result<(), TestCaseError> {
            let (clock, log, script) = (ManualClock::new(), Log::new(), Script::new());
            let setup = Setup::new(Sure(StaticTable::new(&TABLE)), workers(&script, &log), &clock)
                .initial_wait(Duration::ZERO)
                .every(Duration::MAX);
            let sup = make::<SLOTS>();
            let root = Ctx::new();
            let end = Gate::default();
            let driven: Out<Result<(), Error>> = out();
            let (sup, setup, root, end_ref) = (&sup, &setup, &root, &end);
            let mut poller = Poller::default();
            {
                let driven = driven.clone();
                poller.spawn(async move {
                    let result = sup
                        .drive(root, setup, async |_: &Ctx<'_>| {
                            end_ref.wait_for(1).await;
                            Ok(())
                        })
                        .await;
                    *driven.borrow_mut() = Some(result);
                });
            }
            poller.run(BUDGET).map_err(TestCaseError::fail)?;
            let mut model = Model::default();
            // The table's keys are restored by the first pass.
            for (k, _) in TABLE {
                model.keys.insert(k, (MState::Running, 1));
            }
            for (n, step) in steps.iter().enumerate() {
                let mut expected = Vec::new();
                let mut results: Vec<Out<String>> = Vec::new();
                // One call per key in a step: calls on distinct keys commute, so the model may
                // take them in any order.
                let mut used = BTreeSet::new();
                for &op in step.iter().filter(|op| used.insert(op.key())) {
                    let want = model.apply(op);
                    match op {
                        HOp::Crash(k) => {
                            script.try_crash(k);
                        }
                        HOp::Request(k) => {
                            let got = format!("{:?}", sup.request(k));
                            ensure(got == want, || format!("step {n} {op:?}: {got}, the model says {want}"))?;
                        }
                        HOp::Forget(k) => {
                            let got = format!("{:?}", sup.forget(&k));
                            ensure(got == want, || format!("step {n} {op:?}: {got}, the model says {want}"))?;
                        }
                        HOp::Start(k) | HOp::Stop(k) | HOp::Restart(k) => {
                            let slot = out();
                            let done = slot.clone();
                            poller.spawn(async move {
                                let got = match op {
                                    HOp::Start(_) => format!("{:?}", sup.start(k).await),
                                    HOp::Stop(_) => format!("{:?}", sup.stop(&k, never, never).await),
                                    _ => format!("{:?}", sup.restart(&k, never, never).await),
                                };
                                *done.borrow_mut() = Some(got);
                            });
                            results.push(slot);
                            expected.push((op, want));
                        }
                    }
                }
                poller.run(BUDGET).map_err(|e| TestCaseError::fail(format!("step {n}: {e}")))?;
                for (slot, (op, want)) in results.iter().zip(&expected) {
                    let got = slot.borrow_mut().take();
                    ensure(got.as_deref() == Some(want.as_str()), || {
                        format!("step {n} {op:?}: {got:?} (None: still pending), the model says {want}")
                    })?;
                }
                // Reads: get, keys, counts.
                for key in 0..KEYS + 1 {
                    let got = sup.get(&key).map(|e| (e.state, e.incarnation));
                    let want = model.keys.get(&key).map(|&(s, i)| (s.state(), i)).ok_or(KErr::NotFound);
                    ensure(got == want, || {
                        format!("step {n}: get({key}) = {got:?}, the model says {want:?}: {step:?}")
                    })?;
                }
                let mut keys: Vec<u32> = sup.keys().iter().copied().collect();
                keys.sort_unstable();
                let want: Vec<u32> = model.keys.keys().copied().collect();
                ensure(keys == want, || format!("step {n}: keys {keys:?}, the model says {want:?}"))?;
                let c = sup.counts();
                let count = |s: MState| model.keys.values().filter(|(m, _)| *m == s).count();
                let got = (
                    c.keys,
                    c.free,
                    c.running,
                    c.stopped,
                    c.exited,
                    c.starting + c.reserved + c.stopping + c.backing_off + c.failed,
                );
                let want = (
                    model.keys.len(),
                    SLOTS - model.keys.len(),
                    count(MState::Running),
                    count(MState::Stopped),
                    count(MState::Exited),
                    0,
                );
                ensure(got == want, || format!("step {n}: counts {c:?}, the model says {want:?}"))?;
                ensure(script.overlaps() == 0, || format!("step {n}: a key ran twice at once"))?;
            }
            end.open();
            poller.run(BUDGET).map_err(TestCaseError::fail)?;
            let result = driven.borrow_mut().take();
            ensure(result == Some(Ok(())), || format!("the drive ended with {result:?}"))?;
            check_spans(&script.spans(), true)?;
            Ok(())
        }
    };
}

/// The table of the handle model: keys `0..KEYS` but the last (which a start finds absent).
static TABLE: [(u32, u32); KEYS as usize - 1] = [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)];

/// One call of the handle model. `start`, `stop`, `restart` run in tasks of their own (several
/// in one step run together); the others are plain calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HOp {
    Start(u32),
    Stop(u32),
    Restart(u32),
    Forget(u32),
    Request(u32),
    /// The key's running process fails (its policy, temporary, leaves it exited).
    Crash(u32),
}

impl HOp {
    fn key(self) -> u32 {
        match self {
            Self::Start(k) | Self::Stop(k) | Self::Restart(k) | Self::Forget(k) | Self::Request(k) | Self::Crash(k) => {
                k
            }
        }
    }
}

fn hop() -> impl Strategy<Value = HOp> {
    let key = 0..KEYS + 1;
    prop_oneof![
        3 => key.clone().prop_map(HOp::Start),
        2 => key.clone().prop_map(HOp::Stop),
        2 => key.clone().prop_map(HOp::Restart),
        2 => key.clone().prop_map(HOp::Forget),
        1 => key.clone().prop_map(HOp::Request),
        2 => key.prop_map(HOp::Crash),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MState {
    Running,
    Stopped,
    Exited,
}

impl MState {
    fn state(self) -> State {
        match self {
            Self::Running => State::Running,
            Self::Stopped => State::Stopped,
            Self::Exited => State::Exited,
        }
    }
}

/// The model of the handle: each key's state and incarnation. Every process is ready at once,
/// stops gracefully, and fails only when crashed; the policy is temporary, no pass runs.
#[derive(Debug, Default)]
struct Model {
    keys: BTreeMap<u32, (MState, u32)>,
}

impl Model {
    fn in_table(key: u32) -> bool {
        TABLE.iter().any(|(k, _)| *k == key)
    }

    /// Applies one call; returns its result as the handle prints it.
    fn apply(&mut self, op: HOp) -> String {
        let graceful =
            format!("{:?}", Ok::<_, KErr>(table::Stopped::<Error> { level: StopLevel::Graceful, result: Ok(()) }));
        let not_found = format!("{:?}", Err::<(), _>(KErr::NotFound));
        match (op, self.keys.get(&op.key()).copied()) {
            (HOp::Start(k), None) => {
                if Self::in_table(k) {
                    self.keys.insert(k, (MState::Running, 1));
                    format!("{:?}", Ok::<(), KErr>(()))
                } else {
                    format!("{:?}", Err::<(), _>(KErr::NotInTable))
                }
            }
            (HOp::Start(_), Some(_)) => format!("{:?}", Err::<(), _>(KErr::Exists)),
            (HOp::Stop(_) | HOp::Restart(_) | HOp::Forget(_), None) => not_found,
            (HOp::Stop(k), Some((_, i))) => {
                self.keys.insert(k, (MState::Stopped, i));
                graceful
            }
            (HOp::Restart(k), Some((_, i))) => {
                self.keys.insert(k, (MState::Running, i + 1));
                graceful
            }
            (HOp::Forget(_), Some((MState::Running, _))) => format!("{:?}", Err::<(), _>(KErr::Busy(State::Running))),
            (HOp::Forget(k), Some(_)) => {
                self.keys.remove(&k);
                format!("{:?}", Ok::<(), KErr>(()))
            }
            (HOp::Request(k), None) => {
                if Self::in_table(k) {
                    self.keys.insert(k, (MState::Running, 1));
                }
                format!("{:?}", Ok::<bool, KErr>(true))
            }
            (HOp::Request(k), Some((s, i))) => {
                if s == MState::Exited {
                    self.keys.insert(k, (MState::Running, i + 1));
                }
                format!("{:?}", Ok::<bool, KErr>(true))
            }
            (HOp::Crash(k), Some((MState::Running, i))) => {
                self.keys.insert(k, (MState::Exited, i));
                String::new()
            }
            (HOp::Crash(_), _) => String::new(),
        }
    }
}

/// The fixed-capacity supervisor.
mod fixed {
    use super::*;

    type Sup<const N: usize = SLOTS> = KeyedSupervisor<u32, u32, Error, N>;

    fn make<const N: usize>() -> Sup<N> {
        KeyedSupervisor::new()
    }

    cases!();
}

/// The supervisor on the heap, limited to the same number of keys.
#[cfg(feature = "alloc")]
mod dynamic {
    use super::*;
    use procession::table::DynKeyedSupervisor;

    type Sup<const N: usize = SLOTS> = DynKeyedSupervisor<u32, u32, Error>;

    fn make<const N: usize>() -> Sup<N> {
        DynKeyedSupervisor::with_max_keys(N)
    }

    cases!();
}
