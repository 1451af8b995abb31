//! State-machine property tests of the handles used from other tasks: random sequences of
//! operations, each from a task of its own (or made by the resource or the runner), checked
//! after every step against a model of the documented state machine.
//!
//! The tasks run on a deterministic executor that polls a task only once it was woken. After
//! each operation every task is run until all sleep; then the handle's state, its `is_done`,
//! its error and every task's outcome must be those of the model: a task that the model says
//! has finished but that still sleeps is a lost wakeup, one that finished with another result
//! is a wrong transition, and more than a budget of polls for one step is a spin.
//!
//! Seeds and cases: the seed is fixed and no persistence file is written (see
//! `tests/common/prop.rs`); [`CASES`] cases per test (`PROPTEST_CASES` runs more).

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, reason = "the tests run on std")]
#![allow(missing_docs)]

#[path = "common/prop.rs"]
mod harness;

use std::cell::Cell;

use embassy_futures::select::{Either3, select3};
use procession::process::{self, Process};
use procession::{Ctx, Overrun, Phase, Runner, StopLevel};
use proptest::prelude::*;

use harness::{Gate, Out, Poller, out};

/// Cases per test ([`MIRI_CASES`] under miri).
const CASES: u32 = 256;

/// Cases per test under miri, where one case takes seconds to minutes (a tenth of
/// [`CASES`] took more than ten minutes for one test on two shared cores).
const MIRI_CASES: u32 = 4;

/// The waiter spill table is one for the whole program: the tests of this file run one at a
/// time, so that one test's waiters never take the room another counts on (without `alloc`).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Polls allowed for one step of a case.
const BUDGET: usize = 200;

// === Process ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fail(&'static str);

type PError = process::Error<Fail>;

/// The runner under a [`Process`]: ready, exits and obeys as the test says.
struct Sim {
    ready: Gate,
    exit: Gate,
    exit_fails: Cell<bool>,
    /// Ignores both the graceful and the forced stop: only an exit or the hard stop end it.
    stubborn: bool,
    /// Returns an error when it stops.
    stop_fails: bool,
    runs: Cell<u32>,
}

impl Sim {
    fn exit_result(&self) -> Result<(), Fail> {
        if self.exit_fails.get() { Err(Fail("exit")) } else { Ok(()) }
    }

    fn stop_result(&self) -> Result<(), Fail> {
        if self.stop_fails { Err(Fail("stop")) } else { Ok(()) }
    }
}

impl Runner<Fail> for Sim {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Fail>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Fail>,
    {
        self.runs.set(self.runs.get() + 1);
        let cancelled = async {
            if self.stubborn {
                core::future::pending::<()>().await;
            }
            ctx.cancelled().await;
        };
        let mut cancelled = core::pin::pin!(cancelled);
        match select3(self.ready.wait_for(1), self.exit.wait_for(1), cancelled.as_mut()).await {
            Either3::First(()) => {}
            Either3::Second(()) => return self.exit_result(),
            Either3::Third(()) => return Ok(()),
        }
        let callback = async {
            let _ = ready(ctx).await;
            if self.stubborn {
                core::future::pending::<()>().await;
            }
        };
        match select3(callback, self.exit.wait_for(1), cancelled).await {
            Either3::First(()) | Either3::Third(()) => self.stop_result(),
            Either3::Second(()) => self.exit_result(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum POp {
    /// `start(deadline, forced)` from a new task, the deadlines being two gates of the test.
    Start,
    /// The start deadline of every `start` passes.
    StartDeadline,
    /// The forced deadline of every `start` passes.
    StartForced,
    /// `stop(graceful, forced)` from a new task, the deadlines being the test's two gates.
    Stop,
    /// `done()` from a new task.
    Done,
    RequestStop,
    Cancel,
    /// The runner becomes ready.
    Ready,
    /// The runner returns on its own, `Err` if `true`.
    Exit(bool),
    /// The graceful deadline of every `stop` passes.
    GracefulDeadline,
    /// The forced deadline of every `stop` passes.
    ForcedDeadline,
    /// The driver's future is dropped.
    DropDriver,
    /// A second driver: `Busy` while the first is attached.
    SecondDriver,
}

fn pop() -> impl Strategy<Value = POp> {
    prop_oneof![
        3 => Just(POp::Start),
        2 => Just(POp::Stop),
        2 => Just(POp::Done),
        1 => Just(POp::RequestStop),
        1 => Just(POp::Cancel),
        3 => Just(POp::Ready),
        1 => any::<bool>().prop_map(POp::Exit),
        1 => Just(POp::GracefulDeadline),
        1 => Just(POp::ForcedDeadline),
        1 => Just(POp::DropDriver),
        1 => Just(POp::SecondDriver),
        1 => Just(POp::StartDeadline),
        1 => Just(POp::StartForced),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Req {
    None,
    Graceful,
    Forced,
    Hard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase3 {
    NotStarted,
    /// Running, not ready.
    Starting,
    /// Ready (its callback was called, whether or not the process became `Running`).
    Ready,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndM {
    NotRun,
    Returned,
    Dropped,
    DriverGone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopWait {
    Graceful,
    Forced,
    Final,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MTask {
    Start(StopWait),
    Stop(StopWait),
    Done,
}

/// The model of a [`Process`] and its runner.
#[derive(Debug)]
struct PModel {
    state: process::State,
    request: Req,
    ready: bool,
    stop_before_ready: bool,
    overrun: Option<Overrun>,
    end: EndM,
    error: Option<Fail>,
    attached: bool,
    driver_alive: bool,
    runner: Phase3,
    ready_ev: bool,
    exit_ev: Option<bool>,
    graceful_passed: bool,
    forced_passed: bool,
    start_deadline_passed: bool,
    start_forced_passed: bool,
    stubborn: bool,
    stop_fails: bool,
    /// Pending tasks of the model, by poller index.
    tasks: Vec<(usize, MTask)>,
    /// Outcomes the model expects, by poller index.
    outcomes: Vec<(usize, String)>,
}

impl PModel {
    fn escalate(&mut self, level: Req, overrun: Option<Overrun>) {
        use process::State::*;
        if self.state == Stopped {
            return;
        }
        self.request = self.request.max(level);
        if let Some(new) = overrun
            && self.overrun.is_none_or(|old| old.level < new.level)
        {
            self.overrun = Some(new);
        }
        if !self.attached && self.state == Starting {
            self.state = Stopped;
        }
    }

    fn request_stop(&mut self) -> bool {
        use process::State::*;
        match self.state {
            Stopped => false,
            Initial => {
                self.state = Stopped;
                true
            }
            Starting => {
                let changed = self.request < Req::Forced;
                self.stop_before_ready = true;
                self.escalate(Req::Forced, None);
                changed
            }
            Running => {
                let changed = self.request < Req::Graceful;
                self.escalate(Req::Graceful, None);
                changed
            }
        }
    }

    fn cancel(&mut self) -> bool {
        use process::State::*;
        match self.state {
            Stopped => false,
            Initial => {
                self.state = Stopped;
                true
            }
            Starting | Running => {
                let changed = self.request < Req::Forced;
                if self.state == Starting {
                    self.stop_before_ready = true;
                }
                self.escalate(Req::Forced, None);
                changed
            }
        }
    }

    fn stop_result(&self) -> Result<(), PError> {
        if let Some(o) = self.overrun {
            return Err(PError::Overrun(o));
        }
        if let Some(e) = self.error {
            return Err(PError::Run(e));
        }
        if self.end == EndM::DriverGone {
            return Err(PError::DriverGone);
        }
        Ok(())
    }

    fn start_result(&self) -> Result<(), PError> {
        if self.ready {
            return Ok(());
        }
        if let Some(o) = self.overrun.filter(|o| o.phase == Phase::Start) {
            return Err(PError::Overrun(o));
        }
        if self.stop_before_ready {
            return Err(PError::StoppedBeforeReady);
        }
        self.stop_result()?;
        Err(PError::ExitedBeforeReady)
    }

    fn runner_returns(&mut self, result: Result<(), Fail>) {
        self.state = process::State::Stopped;
        self.end = EndM::Returned;
        self.error = result.err();
        self.runner = Phase3::Ended;
        self.attached = false;
    }

    fn exit_result(&self) -> Result<(), Fail> {
        if self.exit_ev == Some(true) { Err(Fail("exit")) } else { Ok(()) }
    }

    fn stop_res(&self) -> Result<(), Fail> {
        if self.stop_fails { Err(Fail("stop")) } else { Ok(()) }
    }

    /// The driver and the runner do what they can until they sleep.
    fn settle(&mut self) {
        use process::State::*;
        loop {
            let before = (self.state, self.runner, self.attached);
            if self.attached && self.runner == Phase3::NotStarted {
                match self.state {
                    Initial => {}
                    Starting => self.runner = Phase3::Starting,
                    Running | Stopped => {
                        // The driver finds nothing to run and detaches.
                        self.attached = false;
                        self.runner = Phase3::Ended;
                    }
                }
            }
            if matches!(self.runner, Phase3::Starting | Phase3::Ready) && self.request == Req::Hard {
                self.state = Stopped;
                self.end = EndM::Dropped;
                self.runner = Phase3::Ended;
                self.attached = false;
            }
            let cancelled = self.request >= Req::Forced && !self.stubborn;
            match self.runner {
                Phase3::Starting => {
                    if self.ready_ev {
                        self.runner = Phase3::Ready;
                        if self.request == Req::None && self.state == Starting {
                            self.state = Running;
                            self.ready = true;
                        }
                    } else if self.exit_ev.is_some() {
                        self.runner_returns(self.exit_result());
                    } else if cancelled {
                        self.runner_returns(Ok(()));
                    }
                }
                Phase3::Ready => {
                    if (self.request != Req::None && !self.stubborn) || cancelled {
                        self.runner_returns(self.stop_res());
                    } else if self.exit_ev.is_some() {
                        self.runner_returns(self.exit_result());
                    }
                }
                Phase3::NotStarted | Phase3::Ended => {}
            }
            if (self.state, self.runner, self.attached) == before {
                break;
            }
        }
    }

    /// The waiting tasks see what changed, escalate, and finish.
    fn wake_tasks(&mut self) {
        use process::State::*;
        let mut escalated = false;
        for k in 0..self.tasks.len() {
            let (_, task) = self.tasks[k].clone();
            if let MTask::Stop(wait) = task {
                let mut wait = wait;
                if wait == StopWait::Graceful && self.state != Stopped && self.graceful_passed {
                    self.escalate(Req::Forced, Some(Overrun::new(Phase::Stop, StopLevel::Forced)));
                    escalated = true;
                    wait = StopWait::Forced;
                }
                if wait == StopWait::Forced && self.state != Stopped && self.forced_passed {
                    self.escalate(Req::Hard, Some(Overrun::new(Phase::Stop, StopLevel::Hard)));
                    escalated = true;
                    wait = StopWait::Final;
                }
                self.tasks[k].1 = MTask::Stop(wait);
            }
            if let MTask::Start(wait) = task {
                // `Graceful` stands for the start deadline here.
                let mut wait = wait;
                let settled = self.ready || self.state == Stopped;
                if wait == StopWait::Graceful && !settled && self.start_deadline_passed {
                    self.escalate(Req::Forced, Some(Overrun::new(Phase::Start, StopLevel::Forced)));
                    escalated = true;
                    wait = StopWait::Forced;
                }
                let settled = self.ready || self.state == Stopped;
                if wait == StopWait::Forced && !settled && self.start_forced_passed {
                    self.escalate(Req::Hard, Some(Overrun::new(Phase::Start, StopLevel::Hard)));
                    escalated = true;
                    wait = StopWait::Final;
                }
                self.tasks[k].1 = MTask::Start(wait);
            }
        }
        if escalated {
            self.settle();
        }
        let mut pending = Vec::new();
        for (id, task) in core::mem::take(&mut self.tasks) {
            let finished = match task {
                MTask::Start(_) => (self.ready || self.state == Stopped).then(|| format!("{:?}", self.start_result())),
                MTask::Stop(_) => (self.state == Stopped).then(|| format!("{:?}", self.stop_result())),
                MTask::Done => (self.state == Stopped).then(|| "()".to_string()),
            };
            match finished {
                Some(outcome) => self.outcomes.push((id, outcome)),
                None => pending.push((id, task)),
            }
        }
        self.tasks = pending;
    }
}

fn bail<M: core::fmt::Debug, O: core::fmt::Debug>(log: &[O], model: &M, what: String) -> String {
    format!("after {log:?}: {what}; model {model:?}")
}

fn check_process(stubborn: bool, stop_fails: bool, ops: &[POp]) -> Result<(), String> {
    let sim = Sim {
        ready: Gate::default(),
        exit: Gate::default(),
        exit_fails: Cell::new(false),
        stubborn,
        stop_fails,
        runs: Cell::new(0),
    };
    let graceful = Gate::default();
    let forced = Gate::default();
    let start_deadline = Gate::default();
    let start_forced = Gate::default();
    // Two observer slots: more waiting tasks go to the spill table.
    let process: Process<Fail, 2> = Process::new();
    let root = Ctx::new();
    let mut model = PModel {
        state: process::State::Initial,
        request: Req::None,
        ready: false,
        stop_before_ready: false,
        overrun: None,
        end: EndM::NotRun,
        error: None,
        attached: true,
        driver_alive: true,
        runner: Phase3::NotStarted,
        ready_ev: false,
        exit_ev: None,
        graceful_passed: false,
        forced_passed: false,
        start_deadline_passed: false,
        start_forced_passed: false,
        stubborn,
        stop_fails,
        tasks: Vec::new(),
        outcomes: Vec::new(),
    };
    let mut poller = Poller::default();
    let outs: Vec<Out<String>> = Vec::new();
    let mut outs = outs;
    let driver_out: Out<Result<(), PError>> = out();
    let driver = {
        let o = driver_out.clone();
        let (process, root, sim) = (&process, &root, &sim);
        poller.spawn(async move { *o.borrow_mut() = Some(process.drive(root, sim).await) })
    };
    outs.push(out());
    if std::env::var("PROP_TRACE").is_ok() {
        eprintln!("CASE stubborn={stubborn} stop_fails={stop_fails} {ops:?}");
    }
    // The driver attaches and waits for a start.
    poller.run(BUDGET)?;
    let mut log = Vec::new();
    for &op in ops {
        log.push(op);
        match op {
            POp::Start | POp::Stop | POp::Done => {
                let o: Out<String> = out();
                let o2 = o.clone();
                let p = &process;
                let (g, f) = (&graceful, &forced);
                let (sd, sf) = (&start_deadline, &start_forced);
                let id = match op {
                    POp::Start => poller.spawn(async move {
                        let r = p.start(|| sd.wait_for(1), || sf.wait_for(1)).await;
                        *o2.borrow_mut() = Some(format!("{r:?}"));
                    }),
                    POp::Stop => poller.spawn(async move {
                        let r = p.stop(|| g.wait_for(1), || f.wait_for(1)).await;
                        *o2.borrow_mut() = Some(format!("{r:?}"));
                    }),
                    _ => poller.spawn(async move {
                        p.done().await;
                        *o2.borrow_mut() = Some("()".to_string());
                    }),
                };
                outs.push(o);
                debug_assert_eq!(outs.len(), poller.len());
                // The operation's own first poll, before anything else reacts.
                poller.poll_task(id);
                match op {
                    POp::Start => {
                        if model.state == process::State::Initial {
                            model.state = process::State::Starting;
                            model.tasks.push((id, MTask::Start(StopWait::Graceful)));
                            model.wake_tasks();
                        } else {
                            model.outcomes.push((id, format!("{:?}", Err::<(), _>(PError::InvalidState(model.state)))));
                        }
                    }
                    POp::Stop => {
                        let from = model.state;
                        if from == process::State::Stopped {
                            model.outcomes.push((
                                id,
                                format!("{:?}", Err::<(), _>(PError::InvalidState(process::State::Stopped))),
                            ));
                        } else {
                            model.request_stop();
                            let wait = match from {
                                process::State::Running => StopWait::Graceful,
                                process::State::Starting => StopWait::Forced,
                                _ => StopWait::Final,
                            };
                            model.tasks.push((id, MTask::Stop(wait)));
                            model.wake_tasks();
                        }
                    }
                    _ => model.tasks.push((id, MTask::Done)),
                }
            }
            POp::RequestStop => {
                let got = process.request_stop();
                let want = model.request_stop();
                if got != want {
                    return Err(bail(&log, &model, format!("request_stop returned {got}, model {want}")));
                }
            }
            POp::Cancel => {
                let got = process.cancel();
                let want = model.cancel();
                if got != want {
                    return Err(bail(&log, &model, format!("cancel returned {got}, model {want}")));
                }
            }
            POp::Ready => {
                sim.ready.open();
                model.ready_ev = true;
            }
            POp::Exit(fails) => {
                if model.exit_ev.is_none() {
                    sim.exit_fails.set(fails);
                    model.exit_ev = Some(fails);
                }
                sim.exit.open();
            }
            POp::GracefulDeadline => {
                graceful.open();
                model.graceful_passed = true;
            }
            POp::StartDeadline => {
                start_deadline.open();
                model.start_deadline_passed = true;
            }
            POp::StartForced => {
                start_forced.open();
                model.start_forced_passed = true;
            }
            POp::ForcedDeadline => {
                forced.open();
                model.forced_passed = true;
            }
            POp::DropDriver => {
                if model.driver_alive {
                    poller.drop_task(driver);
                    model.driver_alive = false;
                    if model.attached {
                        use process::State::*;
                        if model.state != Initial && model.state != Stopped {
                            model.state = Stopped;
                            model.end = EndM::DriverGone;
                        }
                        model.attached = false;
                        if model.runner != Phase3::NotStarted {
                            model.runner = Phase3::Ended;
                        }
                    }
                }
            }
            POp::SecondDriver => {
                let expect = if model.attached {
                    Err(PError::Busy)
                } else if model.state == process::State::Stopped {
                    Ok(())
                } else {
                    // A driver that would take over: not modelled.
                    continue;
                };
                let got = embassy_futures::block_on(process.drive(&root, &sim));
                if got != expect {
                    return Err(bail(&log, &model, format!("second driver returned {got:?}, model {expect:?}")));
                }
            }
        }
        model.settle();
        model.wake_tasks();
        poller.run(BUDGET).map_err(|e| format!("after {log:?}: {e}"))?;
        // The handle agrees with the model.
        if process.state() != model.state {
            return Err(bail(&log, &model, format!("state {:?}", process.state())));
        }
        if process.is_done() != (model.state == process::State::Stopped) {
            return Err(bail(&log, &model, "is_done disagrees with state".into()));
        }
        if process.error() != model.error {
            return Err(bail(&log, &model, format!("error {:?}", process.error())));
        }
        if sim.runs.get() > 1 {
            return Err(bail(&log, &model, "the runner ran twice".into()));
        }
        // Every task finished as the model says; none sleeps that should have finished.
        for &(id, ref want) in &model.outcomes {
            match outs[id].borrow().as_ref() {
                Some(got) if got == want => {}
                Some(got) => return Err(bail(&log, &model, format!("task {id} returned {got}, model {want}"))),
                None => return Err(bail(&log, &model, format!("task {id} still waits (lost wakeup?), model {want}"))),
            }
        }
        for (id, task) in &model.tasks {
            if let Some(got) = outs[*id].borrow().as_ref() {
                return Err(bail(&log, &model, format!("task {id} ({task:?}) returned {got}, model: still waiting")));
            }
        }
        // The driver returns once it ran the runner, or found nothing to run.
        if model.driver_alive && poller.is_finished(driver) != (model.runner == Phase3::Ended) {
            return Err(bail(&log, &model, format!("driver finished: {}", poller.is_finished(driver))));
        }
    }
    if let Some(r) = driver_out.borrow().as_ref()
        && *r != Ok(())
    {
        return Err(format!("driver returned {r:?}"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(harness::config_with_miri(CASES, MIRI_CASES))]

    /// Random operations on a `Process` from several tasks, against the model.
    #[test]
    fn process_follows_its_model(stubborn in prop::bool::weighted(0.25), stop_fails in any::<bool>(),
                                 ops in prop::collection::vec(pop(), 1..24)) {
        let _serial = serial();
        check_process(stubborn, stop_fails, &ops).map_err(TestCaseError::fail)?;
    }
}

// === shot::One and shot::Many ===

/// An operation on a `One` or a `Many`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SOp {
    /// The resource starts a run and keeps its guard.
    Start,
    /// The resource drops its guard.
    DropGuard,
    /// `close(deadline)` from a new task.
    Close,
    Cancel,
    /// `end_run(deadline)` from a new task (`Many` only).
    EndRun,
    /// `cancel_run()` (`Many` only).
    CancelRun,
    /// `done()` from a new task.
    Done,
    /// The deadline of every `close` and `end_run` passes.
    Deadline,
    /// The parent context is cancelled.
    CancelParent,
}

fn sop(restartable: bool) -> BoxedStrategy<SOp> {
    let common = prop_oneof![
        3 => Just(SOp::Start),
        3 => Just(SOp::DropGuard),
        1 => Just(SOp::Close),
        1 => Just(SOp::Cancel),
        2 => Just(SOp::Done),
        1 => Just(SOp::Deadline),
        1 => Just(SOp::CancelParent),
    ];
    if restartable {
        // Not a weight of 0 for a `One`: shrinking would still reach those variants.
        prop_oneof![11 => common, 2 => Just(SOp::EndRun), 2 => Just(SOp::CancelRun)].boxed()
    } else {
        common.boxed()
    }
}

/// The model of the state machine shared by `One` and `Many`.
#[derive(Debug, Default)]
struct SModel {
    restartable: bool,
    state: Option<shot::State>,
    ends: u32,
    closing: bool,
    ctx_cancelled: bool,
    parent_cancelled: bool,
    guard: bool,
    deadline_passed: bool,
    /// Pending tasks: poller index, the run count they wait on, the outcome once it ends.
    waiting: Vec<(usize, u32, String)>,
    outcomes: Vec<(usize, String)>,
}

use procession::shot;

impl SModel {
    fn state(&self) -> shot::State {
        self.state.unwrap_or(shot::State::Initial)
    }

    fn cancelled(&self) -> bool {
        self.ctx_cancelled || self.parent_cancelled
    }

    fn cancel_ctx(&mut self) -> bool {
        if self.cancelled() {
            return false;
        }
        self.ctx_cancelled = true;
        true
    }

    fn start(&mut self) -> Result<(), shot::Error> {
        use shot::State::*;
        match self.state() {
            Initial => {}
            Stopped if self.restartable => self.ctx_cancelled = false,
            Running => return Err(shot::Error::Running),
            Stopped | Closed => return Err(shot::Error::Closed),
        }
        self.state = Some(Running);
        self.guard = true;
        Ok(())
    }

    fn finish(&mut self) {
        self.cancel_ctx();
        self.state = Some(if self.restartable && !self.closing && !self.parent_cancelled {
            shot::State::Stopped
        } else {
            shot::State::Closed
        });
        self.closing = false;
        self.ends += 1;
        self.guard = false;
    }

    /// `(prev, changed, wait)`, as the handle's request.
    fn request_close(&mut self) -> (shot::State, bool, Option<u32>) {
        use shot::State::*;
        let prev = self.state();
        match prev {
            Initial => {
                self.cancel_ctx();
                self.state = Some(Closed);
                self.ends += 1;
                (prev, true, None)
            }
            Running => {
                let changed = !self.closing;
                self.closing = true;
                self.cancel_ctx();
                (prev, changed, Some(self.ends))
            }
            Stopped => {
                self.state = Some(Closed);
                (prev, true, None)
            }
            Closed => (prev, false, None),
        }
    }

    fn request_end_run(&mut self) -> Result<(shot::State, bool, Option<u32>), shot::Error> {
        use shot::State::*;
        let prev = self.state();
        match prev {
            Initial => {
                self.cancel_ctx();
                self.state = Some(Stopped);
                self.ends += 1;
                Ok((prev, true, None))
            }
            Running => {
                let changed = self.cancel_ctx();
                Ok((prev, changed, Some(self.ends)))
            }
            Stopped => Ok((prev, false, None)),
            Closed => Err(shot::Error::Closed),
        }
    }

    /// A task waiting for the end of run `ends` (or finished at once), `Ok(prev)` once it ends,
    /// `Err(Deadline)` if the deadline passes first; `deadline` says whether it has one.
    fn wait(&mut self, id: usize, wait: Option<u32>, ok: String, deadline: bool) {
        match wait {
            None => self.outcomes.push((id, ok)),
            Some(_) if deadline && self.deadline_passed => {
                self.outcomes.push((id, format!("{:?}", Err::<(), _>(shot::Error::Deadline))));
            }
            Some(ends) => self.waiting.push((id, if deadline { ends | 1 << 31 } else { ends }, ok)),
        }
    }

    fn wake(&mut self) {
        let mut pending = Vec::new();
        for (id, key, ok) in core::mem::take(&mut self.waiting) {
            let (ends, deadline) = (key & !(1 << 31), key & (1 << 31) != 0);
            if self.ends != ends {
                self.outcomes.push((id, ok));
            } else if deadline && self.deadline_passed {
                self.outcomes.push((id, format!("{:?}", Err::<(), _>(shot::Error::Deadline))));
            } else {
                pending.push((id, key, ok));
            }
        }
        self.waiting = pending;
    }
}

/// The `One` or the `Many` under test, behind one interface.
enum Shot<'a> {
    One(shot::One<'a>),
    Many(shot::Many<'a>),
}

type Guard<'s, 'a> = shot::Run<'s, 'a, procession::mutex::CriticalSectionRawMutex>;

impl<'a> Shot<'a> {
    fn start(&self) -> Result<Guard<'_, 'a>, shot::Error> {
        match self {
            Self::One(h) => h.start(),
            Self::Many(h) => h.start(),
        }
    }

    async fn close(&self, deadline: impl core::future::Future<Output = ()>) -> Result<shot::State, shot::Error> {
        match self {
            Self::One(h) => h.close(deadline).await,
            Self::Many(h) => h.close(deadline).await,
        }
    }

    fn cancel(&self) -> bool {
        match self {
            Self::One(h) => h.cancel(),
            Self::Many(h) => h.cancel(),
        }
    }

    async fn done(&self) {
        match self {
            Self::One(h) => h.done().await,
            Self::Many(h) => h.done().await,
        }
    }

    fn state(&self) -> shot::State {
        match self {
            Self::One(h) => h.state(),
            Self::Many(h) => h.state(),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Self::One(h) => h.is_done(),
            Self::Many(h) => h.is_done(),
        }
    }

    fn many(&self) -> &shot::Many<'a> {
        match self {
            Self::Many(h) => h,
            Self::One(_) => unreachable!("a Many operation on a One"),
        }
    }
}

fn check_shot(restartable: bool, ops: &[SOp]) -> Result<(), String> {
    let parent = Ctx::new();
    let handle = if restartable { Shot::Many(shot::Many::new(&parent)) } else { Shot::One(shot::One::new(&parent)) };
    let deadline = Gate::default();
    let mut model = SModel { restartable, ..SModel::default() };
    let mut poller = Poller::default();
    let mut outs: Vec<Out<String>> = Vec::new();
    let mut guard = None;
    let mut log = Vec::new();
    for &op in ops {
        log.push(op);
        match op {
            SOp::Start => {
                let got = handle.start();
                let want = model.start();
                if got.as_ref().err() != want.as_ref().err() {
                    return Err(bail(&log, &model, format!("start returned {:?}", got.as_ref().err())));
                }
                if let Ok(g) = got {
                    guard = Some(g);
                }
            }
            SOp::DropGuard => {
                if guard.take().is_some() {
                    model.finish();
                }
            }
            SOp::Cancel => {
                let (got, (_, want, _)) = (handle.cancel(), model.request_close());
                if got != want {
                    return Err(bail(&log, &model, format!("cancel returned {got}")));
                }
            }
            SOp::CancelRun => {
                let got = handle.many().cancel_run();
                let want = model.request_end_run().is_ok_and(|(_, changed, _)| changed);
                if got != want {
                    return Err(bail(&log, &model, format!("cancel_run returned {got}")));
                }
            }
            SOp::Close | SOp::EndRun | SOp::Done => {
                let o: Out<String> = out();
                let o2 = o.clone();
                let (h, d) = (&handle, &deadline);
                let id = match op {
                    SOp::Close => poller.spawn(async move {
                        let r = h.close(d.wait_for(1)).await;
                        *o2.borrow_mut() = Some(format!("{r:?}"));
                    }),
                    SOp::EndRun => poller.spawn(async move {
                        let r = h.many().end_run(d.wait_for(1)).await;
                        *o2.borrow_mut() = Some(format!("{r:?}"));
                    }),
                    _ => poller.spawn(async move {
                        h.done().await;
                        *o2.borrow_mut() = Some("()".to_string());
                    }),
                };
                outs.push(o);
                poller.poll_task(id);
                match op {
                    SOp::Close => {
                        let (prev, _, wait) = model.request_close();
                        model.wait(id, wait, format!("{:?}", Ok::<_, shot::Error>(prev)), true);
                    }
                    SOp::EndRun => match model.request_end_run() {
                        Ok((prev, _, wait)) => model.wait(id, wait, format!("{:?}", Ok::<_, shot::Error>(prev)), true),
                        Err(e) => model.outcomes.push((id, format!("{:?}", Err::<shot::State, _>(e)))),
                    },
                    _ => {
                        let wait = match model.state() {
                            shot::State::Initial | shot::State::Running => Some(model.ends),
                            _ => None,
                        };
                        model.wait(id, wait, "()".to_string(), false);
                    }
                }
            }
            SOp::Deadline => {
                deadline.open();
                model.deadline_passed = true;
            }
            SOp::CancelParent => {
                parent.cancel();
                model.parent_cancelled = true;
            }
        }
        model.wake();
        poller.run(BUDGET).map_err(|e| format!("after {log:?}: {e}"))?;
        if handle.state() != model.state() {
            return Err(bail(&log, &model, format!("state {:?}", handle.state())));
        }
        if handle.is_done() != model.state().is_done() {
            return Err(bail(&log, &model, "is_done disagrees with state".into()));
        }
        if let Some(g) = &guard
            && g.context().is_cancelled() != model.cancelled()
        {
            return Err(bail(&log, &model, format!("the run's context cancelled: {}", g.context().is_cancelled())));
        }
        if let Shot::One(one) = &handle
            && one.context().is_cancelled() != (model.cancelled() || model.state().is_done())
        {
            return Err(bail(&log, &model, format!("the One's context cancelled: {}", one.context().is_cancelled())));
        }
        for &(id, ref want) in &model.outcomes {
            match outs[id].borrow().as_ref() {
                Some(got) if got == want => {}
                Some(got) => return Err(bail(&log, &model, format!("task {id} returned {got}, model {want}"))),
                None => return Err(bail(&log, &model, format!("task {id} still waits (lost wakeup?), model {want}"))),
            }
        }
        for &(id, _, _) in &model.waiting {
            if let Some(got) = outs[id].borrow().as_ref() {
                return Err(bail(&log, &model, format!("task {id} returned {got}, model: still waiting")));
            }
        }
    }
    drop(guard);
    Ok(())
}

proptest! {
    #![proptest_config(harness::config_with_miri(CASES, MIRI_CASES))]

    /// Random operations on a `shot::Many` from a resource and several tasks, against the model.
    #[test]
    fn many_follows_its_model(ops in prop::collection::vec(sop(true), 1..32)) {
        let _serial = serial();
        check_shot(true, &ops).map_err(TestCaseError::fail)?;
    }

    /// Random operations on a `shot::One` from a resource and several tasks, against the model.
    #[test]
    fn one_follows_its_model(ops in prop::collection::vec(sop(false), 1..32)) {
        let _serial = serial();
        check_shot(false, &ops).map_err(TestCaseError::fail)?;
    }
}

// === supervisor::Control ===

/// The error of the supervised trees.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SupFail {
    Crash,
    Sup(supervisor::Error),
}

impl From<supervisor::Error> for SupFail {
    fn from(e: supervisor::Error) -> Self {
        Self::Sup(e)
    }
}

impl procession::Merge for SupFail {
    fn merge(self, _later: Self) -> Self {
        self
    }
}

use procession::supervisor;

/// The supervised process: each incarnation becomes ready, fails or exits when the test says
/// (the next opening of the gate after it started), and obeys every stop.
struct Incarnation {
    ready: Gate,
    fail: Gate,
    exit: Gate,
}

impl Runner<SupFail> for Incarnation {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), SupFail>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), SupFail>,
    {
        let (r, f, e) = (self.ready.opened() + 1, self.fail.opened() + 1, self.exit.opened() + 1);
        let ended = async {
            match embassy_futures::select::select(self.fail.wait_for(f), self.exit.wait_for(e)).await {
                embassy_futures::select::Either::First(()) => Err(SupFail::Crash),
                embassy_futures::select::Either::Second(()) => Ok(()),
            }
        };
        let mut ended = core::pin::pin!(ended);
        match select3(self.ready.wait_for(r), ended.as_mut(), ctx.cancelled()).await {
            Either3::First(()) => {}
            Either3::Second(result) => return result,
            Either3::Third(_) => return Ok(()),
        }
        match embassy_futures::select::select(ready(ctx), ended).await {
            embassy_futures::select::Either::First(result) => result,
            embassy_futures::select::Either::Second(result) => result,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum COp {
    /// `run` from a new task (refused while a run is active).
    Run,
    RequestStop,
    Cancel,
    /// The current incarnation becomes ready.
    Ready,
    /// The current incarnation fails.
    Fail,
    /// The current incarnation returns `Ok` (which ends supervision).
    Exit,
    /// The clock passes the backoff.
    Advance,
    /// The run's callback returns.
    MainReturns,
    /// `ready()` from a new task.
    ReadyWaiter,
}

fn cop() -> impl Strategy<Value = COp> {
    prop_oneof![
        2 => Just(COp::Run),
        1 => Just(COp::RequestStop),
        1 => Just(COp::Cancel),
        3 => Just(COp::Ready),
        2 => Just(COp::Fail),
        1 => Just(COp::Exit),
        2 => Just(COp::Advance),
        1 => Just(COp::MainReturns),
        2 => Just(COp::ReadyWaiter),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inc {
    None,
    Starting,
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MainM {
    NotStarted,
    Running,
    Done,
}

/// The model of a supervisor's control, its run and its incarnations.
#[derive(Debug)]
struct CModel {
    ever_run: bool,
    active: bool,
    incarnation: u32,
    inc: Inc,
    stop: bool,
    cancel: bool,
    process_cancelled: bool,
    exec_done: bool,
    main: MainM,
    run_task: Option<usize>,
    ready_waiters: Vec<usize>,
    /// Waiters whose outcome depends on a transient state: not checked.
    uncertain: Vec<usize>,
    outcomes: Vec<(usize, String)>,
}

impl CModel {
    fn state(&self) -> supervisor::State {
        use supervisor::State::*;
        if !self.ever_run {
            return Initial;
        }
        if !self.active || self.exec_done {
            return Stopped;
        }
        match self.inc {
            Inc::Starting => Starting,
            Inc::Ready => Running,
            Inc::None => BackingOff,
        }
    }

    fn request_stop(&mut self) -> bool {
        if !self.active || self.exec_done || self.stop {
            return false;
        }
        self.stop = true;
        true
    }

    fn attempt_end(&mut self, ok: bool) {
        self.inc = Inc::None;
        if self.stop || self.process_cancelled || ok {
            self.exec_done = true;
        }
    }

    fn became_running(&mut self) {
        let waiters = core::mem::take(&mut self.ready_waiters);
        self.outcomes.extend(waiters.into_iter().map(|id| (id, "()".to_string())));
    }

    /// One event reaches the incarnation, if one runs: `Ready`, `Fail` or `Exit`.
    fn event(&mut self, op: COp) {
        if !self.active || self.exec_done {
            return;
        }
        match (self.inc, op) {
            (Inc::Starting, COp::Ready) => {
                if self.stop {
                    // Ready after a stop request: it stops at once; a waiter may or may not
                    // see it ready.
                    self.uncertain.append(&mut self.ready_waiters);
                    self.attempt_end(true);
                } else {
                    self.inc = Inc::Ready;
                    self.became_running();
                    if self.main == MainM::NotStarted {
                        self.main = MainM::Running;
                    }
                }
            }
            (Inc::Starting | Inc::Ready, COp::Fail) => self.attempt_end(false),
            (Inc::Starting | Inc::Ready, COp::Exit) => self.attempt_end(true),
            (Inc::None, COp::Advance) => {
                self.incarnation += 1;
                self.inc = Inc::Starting;
            }
            _ => {}
        }
    }

    fn settle(&mut self) {
        for _ in 0..8 {
            if self.active && !self.exec_done {
                if self.cancel {
                    if self.main == MainM::Running {
                        // Its context cancelled, the callback returns, which asks for a stop.
                        self.main = MainM::Done;
                        self.stop = true;
                    }
                    self.process_cancelled = true;
                }
                match self.inc {
                    Inc::Starting if self.process_cancelled => self.attempt_end(true),
                    Inc::Ready if self.stop || self.process_cancelled => self.attempt_end(true),
                    Inc::None if self.stop || self.process_cancelled => self.exec_done = true,
                    _ => {}
                }
            }
            if self.active && self.exec_done {
                if self.main == MainM::Running {
                    self.main = MainM::Done;
                }
                self.active = false;
                if let Some(id) = self.run_task.take() {
                    self.outcomes.push((id, "ended".to_string()));
                }
            }
        }
    }
}

fn check_control(ops: &[COp]) -> Result<(), String> {
    use procession::retry::{Constant, Retry};
    let clock: procession::time::ManualClock = procession::time::ManualClock::new();
    let inc = Incarnation { ready: Gate::default(), fail: Gate::default(), exit: Gate::default() };
    let main_gate = Gate::default();
    let sup =
        supervisor::Supervisor::new(&inc, Retry::new(Constant::every(core::time::Duration::from_secs(1)), &clock));
    let control = sup.control();
    let root = Ctx::new();
    let mut model = CModel {
        ever_run: false,
        active: false,
        incarnation: 0,
        inc: Inc::None,
        stop: false,
        cancel: false,
        process_cancelled: false,
        exec_done: false,
        main: MainM::NotStarted,
        run_task: None,
        ready_waiters: Vec::new(),
        uncertain: Vec::new(),
        outcomes: Vec::new(),
    };
    let mut poller = Poller::default();
    let mut outs: Vec<Out<String>> = Vec::new();
    let mut log = Vec::new();
    for &op in ops {
        log.push(op);
        match op {
            COp::Run => {
                let o: Out<String> = out();
                let o2 = o.clone();
                let (sup, root, main_gate) = (&sup, &root, &main_gate);
                let id = poller.spawn(async move {
                    let r = sup
                        .run(root, async |ctx: &Ctx<'_>| {
                            let next = main_gate.opened() + 1;
                            let _ = embassy_futures::select::select(main_gate.wait_for(next), ctx.cancelled()).await;
                            Ok(())
                        })
                        .await;
                    *o2.borrow_mut() = Some(match r {
                        Err(SupFail::Sup(supervisor::Error::RecursiveOrConcurrentRun)) => "refused".to_string(),
                        _ => "ended".to_string(),
                    });
                });
                outs.push(o);
                if model.active {
                    model.outcomes.push((id, "refused".to_string()));
                } else {
                    model.ever_run = true;
                    model.active = true;
                    model.stop = false;
                    model.cancel = false;
                    model.process_cancelled = false;
                    model.exec_done = false;
                    model.main = MainM::NotStarted;
                    model.incarnation += 1;
                    model.inc = Inc::Starting;
                    model.run_task = Some(id);
                }
            }
            COp::RequestStop => {
                let (got, want) = (control.request_stop(), model.request_stop());
                if got != want {
                    return Err(bail(&log, &model, format!("request_stop returned {got}")));
                }
            }
            COp::Cancel => {
                let got = control.cancel();
                let want = model.active && !model.exec_done && !model.cancel;
                model.cancel |= want;
                if got != want {
                    return Err(bail(&log, &model, format!("cancel returned {got}")));
                }
            }
            COp::Ready => {
                inc.ready.open();
                model.event(op);
            }
            COp::Fail => {
                inc.fail.open();
                model.event(op);
            }
            COp::Exit => {
                inc.exit.open();
                model.event(op);
            }
            COp::Advance => {
                clock.advance(core::time::Duration::from_secs(1));
                model.event(op);
            }
            COp::MainReturns => {
                main_gate.open();
                if model.main == MainM::Running {
                    model.main = MainM::Done;
                    model.request_stop();
                }
            }
            COp::ReadyWaiter => {
                let o: Out<String> = out();
                let o2 = o.clone();
                let id = poller.spawn(async move {
                    control.ready().await;
                    *o2.borrow_mut() = Some("()".to_string());
                });
                outs.push(o);
                if model.state() == supervisor::State::Running {
                    model.outcomes.push((id, "()".to_string()));
                } else {
                    model.ready_waiters.push(id);
                }
            }
        }
        model.settle();
        poller.run(BUDGET).map_err(|e| format!("after {log:?}: {e}"))?;
        if control.state() != model.state() {
            return Err(bail(&log, &model, format!("state {:?}", control.state())));
        }
        if control.is_active() != model.active {
            return Err(bail(&log, &model, format!("is_active {}", control.is_active())));
        }
        if control.incarnation() != model.incarnation {
            return Err(bail(&log, &model, format!("incarnation {}", control.incarnation())));
        }
        for &(id, ref want) in &model.outcomes {
            match outs[id].borrow().as_ref() {
                Some(got) if got == want => {}
                Some(got) => return Err(bail(&log, &model, format!("task {id} returned {got}, model {want}"))),
                None => return Err(bail(&log, &model, format!("task {id} still waits (lost wakeup?), model {want}"))),
            }
        }
        for &id in model.ready_waiters.iter().chain(&model.run_task) {
            if let Some(got) = outs[id].borrow().as_ref() {
                return Err(bail(&log, &model, format!("task {id} returned {got}, model: still waiting")));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(harness::config_with_miri(CASES, MIRI_CASES))]

    /// Random operations on a supervisor's `Control` from several tasks, with incarnations that
    /// become ready, fail and exit at random, against the model.
    #[test]
    fn control_follows_its_model(ops in prop::collection::vec(cop(), 1..32)) {
        let _serial = serial();
        check_control(&ops).map_err(TestCaseError::fail)?;
    }
}

// === beyond the waiter slots and the spill table ===

/// How many of the tests' waiters fit neither in the handle's slots nor in the spill table: 3
/// without `alloc` (the table is bounded), none with it.
const OVERFLOWING: usize = if cfg!(feature = "alloc") { 0 } else { 3 };

/// More tasks wait for the end of a `Process` than its slot and the spill table hold (without
/// `alloc`, where the table is bounded): the waits that fit sleep until the end; each of the
/// three that fit nowhere completes at once (the documented overflow of `Process::done`), and
/// nobody is woken early or spins; all see the end. With `alloc`, all of them sleep.
#[test]
fn process_waiters_beyond_the_spill_table_sleep() {
    let _serial = serial();
    let process: Process<Fail, 1> = Process::new();
    let woken = Cell::new(0);
    let mut poller = Poller::default();
    let tasks = 1 + procession::ctx::SPILL_SLOTS + 3;
    for _ in 0..tasks {
        let (p, w) = (&process, &woken);
        poller.spawn(async move {
            p.done().await;
            w.set(w.get() + 1);
        });
    }
    let polls = poller.run(20 * tasks).map_err(|e| format!("{tasks} waiters: {e}"));
    assert!(polls.is_ok(), "{polls:?}");
    assert_eq!(woken.get(), OVERFLOWING, "only the waits that fit nowhere end before the stop");
    assert!(process.request_stop());
    assert!(poller.run(20 * tasks).is_ok(), "spin after the stop");
    assert_eq!(woken.get(), tasks, "every waiter sees the end");
}

/// The same for a context.
#[test]
fn ctx_waiters_beyond_the_spill_table_sleep() {
    let _serial = serial();
    let ctx = Ctx::new();
    let woken = Cell::new(0);
    let mut poller = Poller::default();
    let tasks = 1 + procession::ctx::SPILL_SLOTS + 3;
    for _ in 0..tasks {
        let (c, w) = (&ctx, &woken);
        poller.spawn(async move {
            c.cancelled().await;
            w.set(w.get() + 1);
        });
    }
    let polls = poller.run(20 * tasks).map_err(|e| format!("{tasks} waiters: {e}"));
    assert!(polls.is_ok(), "{polls:?}");
    ctx.cancel();
    assert!(poller.run(20 * tasks).is_ok(), "spin after the cancel");
    assert_eq!(woken.get(), tasks, "every waiter sees the cancel");
}

/// The same for a `shot::One`.
#[test]
fn one_waiters_beyond_the_spill_table_sleep() {
    let _serial = serial();
    let one: shot::One<'static> = shot::One::detached();
    let woken = Cell::new(0);
    let mut poller = Poller::default();
    let tasks = procession::ctx::WAITER_SLOTS + procession::ctx::SPILL_SLOTS + 3;
    for _ in 0..tasks {
        let (o, w) = (&one, &woken);
        poller.spawn(async move {
            o.done().await;
            w.set(w.get() + 1);
        });
    }
    let polls = poller.run(20 * tasks).map_err(|e| format!("{tasks} waiters: {e}"));
    assert!(polls.is_ok(), "{polls:?}");
    assert_eq!(woken.get(), OVERFLOWING, "only the waits that fit nowhere end before the cancel");
    assert!(one.cancel());
    assert!(poller.run(20 * tasks).is_ok(), "spin after the close");
    assert_eq!(woken.get(), tasks, "every waiter sees the end");
}
