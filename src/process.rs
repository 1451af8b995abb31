//! [`Process`]: a handle that starts and stops one run of a [`Runner`] from other tasks.
//!
//! Its state machine is `Initial → Starting → Running → Stopped`, with exactly these
//! transitions:
//!
//! | from \ to | `Starting` | `Running` | `Stopped` |
//! |---|---|---|---|
//! | `Initial`  | [`start`](Process::start) | – | [`stop`](Process::stop) before start |
//! | `Starting` | – | the runner is ready | a stop during start, the runner ended early |
//! | `Running`  | – | – | [`stop`](Process::stop), the runner ended |
//! | `Stopped`  | – | – | – (terminal) |
//!
//! Nothing is spawned: the run happens inside a **driver future**, [`Process::drive`], that
//! the owner polls (an embassy task, a tokio task, a `join` arm). The handle itself is plain
//! interior state behind a blocking mutex `M` (`const fn new`, so a `static` works); the other
//! operations are called from any task and talk to the driver through that state. The state
//! and the wakers of the waiting tasks change together under that one lock (with
//! `NoopRawMutex`, no critical section while the waiters fit in the slots). Waiting tasks
//! register in `N` waker slots; more distinct tasks than that go to the program-wide spill
//! table ([`SPILL_SLOTS`](crate::ctx::SPILL_SLOTS) entries without `alloc`, unbounded with it,
//! behind a critical section of its own), so no waiting task is ever woken early because
//! another one arrived.
//!
//! Only when the spill table is full too (without `alloc`) can a waiter not be kept. The wait
//! that cannot be kept then ends at once, and nobody else is disturbed: `start` and `stop`
//! return [`Error::Overflow`] (what they asked for goes on, as when their future is dropped),
//! and [`done`](Process::done) and [`poll_done`](Process::poll_done) complete while
//! [`is_done`](Process::is_done) is still `false`. Choose `N` for the tasks that wait at once.
//!
//! # Operations
//!
//! The same operation has the same name on every handle of the crate (and on the
//! [`shot`](crate::shot) handles).
//!
//! | operation | method | returns |
//! |---|---|---|
//! | the driver its owner polls | [`drive(ctx, runner)`](Process::drive) | `async`, `Result<(), Error<E>>`; a second driver is [`Error::Busy`] |
//! | start and wait until ready | [`start(deadline, forced)`](Process::start) | `async`, `Result<(), Error<E>>` |
//! | bounded stop, escalating | [`stop(graceful, forced)`](Process::stop) | `async`, `Result<(), Error<E>>`; [`Error::Overrun`] names the level reached |
//! | ask for a graceful stop, do not wait | [`request_stop()`](Process::request_stop) | `bool`: whether this call changed anything |
//! | cancel (forced), do not wait | [`cancel()`](Process::cancel) | `bool`: whether this call changed anything |
//! | wait for the end | [`done()`](Process::done) | the future [`Done`] |
//! | poll / check the end | [`poll_done(cx)`](Process::poll_done), [`is_done()`](Process::is_done) | `Poll<()>`, `bool` |
//! | read the state | [`state()`](Process::state) | [`State`] |
//! | read the runner's error | [`error()`](Process::error) | `Option<E>` (a clone) |
//!
//! There is no `take_error`: the runner's error is handed to every caller of `start` and
//! `stop` (each gets a clone), and taking it would let one caller hide it from another. There
//! is no `context()` either: the run's context lives in the driver and is handed to the runner.
//!
//! The deadlines of `start` and `stop` are closures, one per level, each made when the
//! escalation reaches it; [`never`](crate::never) is the one that never passes:
//! `process.stop(never, never)`.
//!
//! # Behaviour worth knowing
//!
//! - **State and done agree.** The state becomes `Stopped` exactly when the run has ended and
//!   [`done`](Process::done) completes, never before: a stop in progress keeps `Starting` or
//!   `Running` until the runner returns.
//! - **Exiting before ready is its own error**, [`Error::ExitedBeforeReady`]. A stop that
//!   interrupted the start is [`Error::StoppedBeforeReady`].
//! - **No racing outcomes.** The order is fixed: readiness (for `start`) and the end of the
//!   run (for `stop`) win a tie with a deadline. A stop requested before the runner is ready
//!   keeps it from becoming `Running`, so `start` never returns `Ok` for a process that a
//!   concurrent stop interrupted.
//! - **A stop during start cannot hang** on a runner that hands its callback a context that is
//!   not derived from the run's: the callback watches the stop request itself, not only its
//!   context.
//! - **Deadlines are futures and escalate to the hard stop.** `start` and `stop` take two
//!   deadlines, as [`RunnerExt::with_start_deadline`] and [`RunnerExt::with_stop_deadline`]
//!   do: when the first passes the run's context is cancelled with [`Cause::Deadline`]
//!   (forced); when the second passes the driver drops the runner's future (hard). Either call
//!   reports an overrun as [`Error::Overrun`] with its phase and level.
//! - **The runner's error is cloned to every caller** that reports it (`start`, `stop`,
//!   [`error`](Process::error)), so it can be read many times; this needs `E: Clone` (wrap a
//!   non-`Clone` error in an `Arc`).
//! - **A dropped driver is reported**: a driver dropped during the run leaves the process
//!   `Stopped` with [`Error::DriverGone`] and wakes every waiter.
//! - The process does not own its runner or its parent context: both are given to
//!   [`drive`](Process::drive), so that a `static` process needs neither in its type.
//! - **On tokio's multi-threaded runtime** the driver can be `tokio::spawn`ed when the runner's
//!   future is `Send` (the compiler checks it where the driver is spawned); a process in a
//!   `static` or an `Arc` is started and stopped from handlers on any worker thread.
//!
//! [`RunnerExt::with_start_deadline`]: crate::RunnerExt::with_start_deadline
//! [`RunnerExt::with_stop_deadline`]: crate::RunnerExt::with_stop_deadline

use core::cell::RefCell;
use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use crate::ctx::{Cause, Ctx};
use crate::error::{Overrun, Phase, StopLevel};
use crate::runner::Runner;
use crate::waitqueue::{Full, Slot, WaitList, Woken};

/// The state of a [`Process`]; see the [module documentation](self) for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Made, not started. [`Process::start`] moves it to `Starting`; [`Process::stop`] to
    /// `Stopped`, which prevents any start.
    Initial,
    /// [`Process::start`] was called; the runner is not ready yet (or no driver runs it yet).
    Starting,
    /// The runner is ready and runs.
    Running,
    /// The run has ended, or never happened. Terminal: a process is single-use.
    Stopped,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Initial => "initial",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopped => "stopped",
        })
    }
}

/// An error of a [`Process`]: the runner's own error, or one of the process's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E> {
    /// The runner returned this error. Also readable with
    /// [`Process::error`].
    Run(E),
    /// The call is not allowed in this state: `start`
    /// when the process is not `Initial`, `stop` when it is already `Stopped`. A process is
    /// single-use; make a new one to run again.
    InvalidState(State),
    /// The runner returned `Ok` without becoming ready.
    /// Remedy: a runner that cannot start should return an error saying why.
    ExitedBeforeReady,
    /// [`Process::stop`] was called before the runner became ready: the start was cancelled.
    StoppedBeforeReady,
    /// A deadline passed: the run was cancelled ([`StopLevel::Forced`]) or its future was
    /// dropped ([`StopLevel::Hard`]). The runner's own error, if any, is in
    /// [`Process::error`].
    Overrun(Overrun),
    /// The driver future was dropped before the run ended, so the runner's future was dropped
    /// with it. Remedy: keep polling [`Process::drive`] until the process is stopped.
    DriverGone,
    /// This call could not wait (without `alloc` only): more distinct tasks waited on the
    /// process than its `N` slots and the program-wide spill table
    /// ([`SPILL_SLOTS`](crate::ctx::SPILL_SLOTS)) hold. The start or stop it asked for goes on,
    /// as when its future is dropped; nobody else was disturbed. Remedy: a larger `N`.
    Overflow,
    /// Another driver is attached to this process now; this one runs nothing. Only one driver
    /// ever runs the runner (a driver polled once the process has stopped returns `Ok` at
    /// once, without running it).
    Busy,
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Run(e) => write!(f, "run: {e}"),
            Self::InvalidState(state) => write!(f, "invalid process state: {state}"),
            Self::ExitedBeforeReady => f.write_str("process exited before it was ready"),
            Self::StoppedBeforeReady => f.write_str("process stopped before it was ready"),
            Self::Overrun(overrun) => overrun.fmt(f),
            Self::DriverGone => f.write_str("process driver dropped during the run"),
            Self::Busy => f.write_str("process already has a driver"),
            Self::Overflow => f.write_str("too many tasks waiting on the process"),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for Error<E> {
    /// The runner's error for [`Error::Run`], the overrun for [`Error::Overrun`].
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Run(e) => Some(e),
            Self::Overrun(o) => Some(o),
            _ => None,
        }
    }
}

/// How far a stop has been asked to go. Only ever grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Request {
    None,
    Graceful,
    Forced,
    Hard,
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Not ended, or stopped without ever running.
    NotRun,
    /// The runner returned.
    Returned,
    /// The runner's future was dropped on a hard stop.
    Dropped,
    /// The driver was dropped during the run.
    DriverGone,
}

/// The state shared by the handle's callers and the driver.
///
/// # Invariants
///
/// 1. `state` only moves along the table of the module docs; `Stopped` is terminal.
/// 2. `state == Stopped` exactly when the run has ended or will never happen. Every change of
///    `state` wakes every observer, and every change of `request` or a move out of `Initial`
///    wakes the driver, under the same lock as the change.
/// 3. `ready` is set only together with the move to `Running`, and only while `request` is
///    `None`; so after any stop request the process never becomes `Running`.
/// 4. `request` and `overrun` only grow.
/// 5. At most one driver is `attached`; only an attached driver moves the state to `Running`,
///    or to `Stopped` once it has left `Initial` (besides a stop or escalation when no driver
///    is attached, which ends a run that never began).
struct Shared<E, const N: usize> {
    state: State,
    attached: bool,
    ready: bool,
    request: Request,
    forced_cause: Cause,
    stop_before_ready: bool,
    overrun: Option<Overrun>,
    end: End,
    error: Option<E>,
    /// Tasks waiting for a change of `state`: `start`, `stop`, `done`.
    observers: WaitList<N>,
    /// The driver waiting for a start, then its watcher waiting for a forced or hard stop.
    driver: Slot,
    /// The runner's callback waiting for a stop request. Apart from `driver`: the runner may
    /// poll its callback with a waker of its own (a `FuturesUnordered`), and one slot for both
    /// would have them wake each other for ever.
    callback: Slot,
}

/// Wakers taken out under the lock, woken after it is released (a waker may run code that
/// uses the process again).
struct Wake<const N: usize> {
    observers: Woken<N>,
    driver: Option<core::task::Waker>,
    callback: Option<core::task::Waker>,
}

impl<const N: usize> Wake<N> {
    fn wake(self) {
        // The driver and the callback are woken even if an observer's waker panics.
        let (driver, callback) = (self.driver, self.callback);
        let _rest =
            crate::waitqueue::Finally::new(move || crate::waitqueue::wake_each(driver.into_iter().chain(callback)));
        self.observers.wake();
    }
}

/// Which single future a wait of `poll_slot` is.
#[derive(Clone, Copy)]
enum Side {
    Driver,
    Callback,
}

impl<E, const N: usize> Shared<E, N> {
    /// The request of `stop` and `request_stop`: `Initial` stops at once, `Starting` is
    /// cancelled (a forced stop), `Running` stopped gracefully. Returns whether it changed
    /// anything.
    fn request_stop(&mut self) -> bool {
        match self.state {
            State::Stopped => false,
            State::Initial => {
                self.state = State::Stopped;
                true
            }
            State::Starting => {
                // A forced stop asked already (by `cancel`, or by a start deadline) changes
                // nothing here: marking it as asked before ready would not change what `start`
                // reports (a start deadline's overrun comes first).
                let changed = self.request < Request::Forced;
                self.stop_before_ready = true;
                self.escalate(Request::Forced, Cause::Shutdown, None);
                changed
            }
            State::Running => {
                let changed = self.request < Request::Graceful;
                self.escalate(Request::Graceful, Cause::Shutdown, None);
                changed
            }
        }
    }

    /// Asks the run to stop at `level`. A run that no driver has picked up yet ends at once.
    fn escalate(&mut self, level: Request, cause: Cause, overrun: Option<Overrun>) {
        if self.state == State::Stopped {
            return;
        }
        if level > self.request {
            if level >= Request::Forced && self.request < Request::Forced {
                self.forced_cause = cause;
            }
            self.request = level;
        }
        if let Some(new) = overrun
            && self.overrun.is_none_or(|old| old.level < new.level)
        {
            self.overrun = Some(new);
        }
        if !self.attached && self.state == State::Starting {
            self.state = State::Stopped;
        }
    }

    /// The result of the run as `stop` reports it.
    fn stop_result(&self) -> Result<(), Error<E>>
    where
        E: Clone,
    {
        if let Some(overrun) = self.overrun {
            return Err(Error::Overrun(overrun));
        }
        if let Some(e) = &self.error {
            return Err(Error::Run(e.clone()));
        }
        if self.end == End::DriverGone {
            return Err(Error::DriverGone);
        }
        Ok(())
    }

    /// The result of the run as `start` reports it, once it is ready or stopped.
    fn start_result(&self) -> Result<(), Error<E>>
    where
        E: Clone,
    {
        if self.ready {
            return Ok(());
        }
        if let Some(overrun) = self.overrun.filter(|o| o.phase == Phase::Start) {
            return Err(Error::Overrun(overrun));
        }
        if self.stop_before_ready {
            return Err(Error::StoppedBeforeReady);
        }
        self.stop_result()?;
        Err(Error::ExitedBeforeReady)
    }
}

/// A handle that starts and stops one run of a [`Runner`] from other tasks.
///
/// The owner polls the driver, [`drive`](Self::drive), which runs the runner once
/// [`start`](Self::start) is called; any task can then wait for readiness, stop it gracefully
/// with deadlines, wait for [`done`](Self::done), and read [`state`](Self::state) and
/// [`error`](Self::error). A process is single-use: once `Stopped` it stays so.
///
/// - `E` is the runner's error type.
/// - `N` (by default 4) is the number of waker slots (at least 1): how many distinct tasks can
///   wait in `start`, `stop` or `done` at once without touching the program-wide spill table
///   (see the [module docs](self) for what happens when that is full too). The driver and the
///   runner's callback have a slot each of their own.
/// - `M` is the blocking mutex of the shared state, as in embassy-sync: by default
///   [`CriticalSectionRawMutex`], to share it between tasks of different priorities or
///   threads (the process is then `Send` and `Sync` when `E` is `Send`); `NoopRawMutex` inside
///   one executor (then it is not `Sync`).
///
/// So `static P: Process<MyError> = Process::new();` needs no other annotation.
///
/// Use a `Process` when the run must be started and stopped from somewhere else than where it
/// runs (a command handler, a supervisor); inside one future, run the runner directly.
///
/// Dropping a `Process` is only possible once nothing borrows it, so no driver runs then.
///
/// # Examples
///
/// ```
/// use embassy_futures::join::join;
/// use procession::process::{Process, State};
/// use procession::{Ctx, MultiError, leaf, never};
///
/// type Error = MultiError<&'static str, 2>;
/// static RADIO: Process<Error> = Process::new();
///
/// let radio = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> {
///     ctx.cancelled().await; // serve until told to stop
///     Ok(())
/// });
/// let root = Ctx::new();
/// let control = async {
///     RADIO.start(never, never).await.unwrap(); // no start deadline
///     assert_eq!(RADIO.state(), State::Running);
///     RADIO.stop(never, never).await.unwrap();
/// };
/// // The driver runs in its owner's task; here a join arm.
/// let (driven, ()) = embassy_futures::block_on(join(RADIO.drive(&root, &radio), control));
/// assert_eq!(driven, Ok(()));
/// assert_eq!(RADIO.state(), State::Stopped);
/// ```
pub struct Process<E, const N: usize = 4, M: RawMutex = CriticalSectionRawMutex> {
    shared: Mutex<M, RefCell<Shared<E, N>>>,
}

impl<E, const N: usize, M: RawMutex> Drop for Process<E, N, M> {
    fn drop(&mut self) {
        // Nobody can wait on a process that is going away: forget its spilled observers.
        self.shared.get_mut().get_mut().observers.forget_spilled();
    }
}

// === impl Process ===

impl<E, const N: usize, M: RawMutex> Process<E, N, M> {
    /// Creates a process in the `Initial` state. `const`, so it can be a `static`.
    ///
    /// `N` must be at least 1; `Process<_, _, 0>` does not compile.
    pub const fn new() -> Self {
        const { assert!(N > 0, "a Process needs at least one waker slot") };
        Self {
            shared: Mutex::new(RefCell::new(Shared {
                state: State::Initial,
                attached: false,
                ready: false,
                request: Request::None,
                forced_cause: Cause::Shutdown,
                stop_before_ready: false,
                overrun: None,
                end: End::NotRun,
                error: None,
                observers: WaitList::new(),
                driver: Slot::new(),
                callback: Slot::new(),
            })),
        }
    }

    /// Runs `f` on the shared state and wakes whom the change concerns (invariant 2), after
    /// releasing the lock.
    fn update<T>(&self, f: impl FnOnce(&mut Shared<E, N>) -> T) -> T {
        let mut woken = Wake { observers: Woken::NONE, driver: None, callback: None };
        let out = self.shared.lock(|shared| {
            let mut shared = shared.borrow_mut();
            let (state, request) = (shared.state, shared.request);
            let out = f(&mut shared);
            if shared.state != state {
                woken.observers = shared.observers.take();
            }
            if shared.request != request || (state == State::Initial && shared.state != state) {
                woken.driver = shared.driver.take();
                woken.callback = shared.callback.take();
            }
            out
        });
        woken.wake();
        out
    }

    /// Reads the shared state.
    fn read<T>(&self, f: impl FnOnce(&Shared<E, N>) -> T) -> T {
        self.shared.lock(|shared| f(&shared.borrow()))
    }

    /// `Ready` once `f` returns `Some`; otherwise registers the waker among the observers,
    /// under the same lock as the check, so that no change between them is missed.
    ///
    /// An observer beyond the `N` slots goes to the spill table; `Ready(Err(Full))` if that is
    /// full too (without `alloc`): nothing was stored, and nobody else was disturbed.
    fn poll_until<T>(&self, cx: &Context<'_>, f: impl FnOnce(&Shared<E, N>) -> Option<T>) -> Poll<Result<T, Full>> {
        self.shared.lock(|shared| {
            let mut shared = shared.borrow_mut();
            match f(&shared) {
                Some(out) => Poll::Ready(Ok(out)),
                None => match shared.observers.register(cx.waker()) {
                    Ok(()) => Poll::Pending,
                    Err(full) => Poll::Ready(Err(full)),
                },
            }
        })
    }

    /// As `poll_until`, for the one future of the driver or of the callback, which has a slot
    /// of its own (it cannot overflow).
    fn poll_slot<T>(&self, cx: &Context<'_>, side: Side, f: impl FnOnce(&Shared<E, N>) -> Option<T>) -> Poll<T> {
        self.shared.lock(|shared| {
            let mut shared = shared.borrow_mut();
            if let Some(out) = f(&shared) {
                return Poll::Ready(out);
            }
            match side {
                Side::Driver => shared.driver.register(cx.waker()),
                Side::Callback => shared.callback.register(cx.waker()),
            }
            Poll::Pending
        })
    }

    /// Waits, as an observer, until `f` returns `Some`; `f` must depend only on `state` and
    /// what changes with it.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] if the waiter could be kept nowhere (without `alloc`).
    async fn until<T>(&self, f: impl Fn(&Shared<E, N>) -> Option<T>) -> Result<T, Error<E>> {
        poll_fn(|cx| self.poll_until(cx, &f)).await.map_err(|Full| Error::Overflow)
    }

    /// Waits, in the driver, until `f` returns `Some`; `f` must depend only on `request` and
    /// on `state` leaving `Initial`.
    async fn until_driver<T>(&self, f: impl Fn(&Shared<E, N>) -> Option<T>) -> T {
        poll_fn(|cx| self.poll_slot(cx, Side::Driver, &f)).await
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.read(|s| s.state)
    }

    /// The runner's error, once it has returned one; `None` before, and when it
    /// returned `Ok` or never ran.
    ///
    /// Any number of callers can read it: each gets a clone.
    pub fn error(&self) -> Option<E>
    where
        E: Clone,
    {
        self.read(|s| s.error.clone())
    }

    /// Polls for the end of the process: `Ready` once the state is `Stopped`; otherwise
    /// registers the waker of `cx`. Without `alloc`, a waiter that can be kept nowhere is
    /// `Ready` at once (see the [module docs](self)): [`is_done`](Self::is_done) tells.
    pub fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_until(cx, |s| (s.state == State::Stopped).then_some(())).map(|_| ())
    }

    /// Whether the process is `Stopped`: [`done`](Self::done) would complete at once.
    pub fn is_done(&self) -> bool {
        self.state() == State::Stopped
    }

    /// Waits until the process is `Stopped`: the run has ended, the process was stopped before
    /// it started, or its driver was dropped.
    ///
    /// Any number of tasks can wait at once; see the [module docs](self) for the one case,
    /// without `alloc`, in which it completes before the end.
    /// To bound the wait, race it with a deadline (`embassy_futures::select::select`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the state is sticky, and a new call observes it.
    pub fn done(&self) -> Done<'_, E, N, M> {
        Done { process: self }
    }

    /// Asks for a graceful stop without waiting: as [`stop`](Self::stop) with deadlines that
    /// never pass, but returns at once. `Initial` becomes `Stopped`; a `Running` process is
    /// stopped gracefully (its callback returns); a `Starting` one is cancelled, as `stop`
    /// does. Returns whether this call changed anything: `false` once a stop was asked, or the
    /// process has stopped, and for a `Starting` process once its run was cancelled (by
    /// [`cancel`](Self::cancel), or by a start deadline that passed). Watch the end with
    /// [`done`](Self::done).
    pub fn request_stop(&self) -> bool {
        self.update(|s| s.request_stop())
    }

    /// Cancels the run's context without waiting (a forced stop, with [`Cause::Shutdown`]):
    /// `Initial` becomes `Stopped`; a `Starting` or `Running` process is cancelled and stops
    /// when its runner returns (a `Starting` one never becomes `Running`). Returns whether this
    /// call changed anything (`false` once a forced stop was asked, or the process has
    /// stopped). There is no hard level here: for that, [`stop`](Self::stop) with a deadline,
    /// or drop the driver.
    pub fn cancel(&self) -> bool {
        self.update(|s| match s.state {
            State::Stopped => false,
            State::Initial => {
                s.state = State::Stopped;
                true
            }
            State::Starting | State::Running => {
                let changed = s.request < Request::Forced;
                if s.state == State::Starting {
                    s.stop_before_ready = true;
                }
                s.escalate(Request::Forced, Cause::Shutdown, None);
                changed
            }
        })
    }

    /// Starts the process and waits until its runner is ready.
    ///
    /// Moves the process from `Initial` to `Starting`; the driver then runs the runner. If it
    /// is not ready when `deadline()` completes, the run's context is cancelled with
    /// [`Cause::Deadline`] (forced); if it has not returned when `forced()` completes, the
    /// driver drops its future (hard). Pass [`never`](crate::never) for no deadline.
    /// The deadlines are closures so that each measures from its own escalation.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidState`] if the process is not `Initial` (a second start, a start after
    ///   a stop); nothing changes.
    /// - [`Error::Overrun`] of phase [`Phase::Start`] if a deadline passed; the process is then
    ///   `Stopped`, and the runner's own error, if any, is in [`error`](Self::error).
    /// - [`Error::StoppedBeforeReady`] if [`stop`](Self::stop) was called meanwhile (whatever
    ///   the runner then returned).
    /// - [`Error::Run`] if the runner failed before it was ready.
    /// - [`Error::DriverGone`] if the driver was dropped.
    /// - [`Error::ExitedBeforeReady`] if the runner returned `Ok` without becoming ready.
    /// - [`Error::Overflow`] if this call could not wait (without `alloc`, more tasks waiting
    ///   than the slots and the spill table hold), at once; what it asked for goes on.
    ///
    /// The first that applies, in this order.
    ///
    /// Readiness wins a tie with the deadline: a runner that is ready by the time the deadline
    /// is seen counts as started.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the start: the process goes on starting, and the
    /// deadlines that had not passed yet no longer apply. Watch it with [`state`](Self::state)
    /// and [`done`](Self::done), or stop it with [`stop`](Self::stop).
    pub async fn start<G, GF, H, HF>(&self, deadline: G, forced: H) -> Result<(), Error<E>>
    where
        E: Clone,
        G: FnOnce() -> GF,
        GF: Future<Output = ()>,
        H: FnOnce() -> HF,
        HF: Future<Output = ()>,
    {
        self.update(|s| {
            if s.state != State::Initial {
                return Err(Error::InvalidState(s.state));
            }
            s.state = State::Starting;
            Ok(())
        })?;
        let settled = |s: &Shared<E, N>| (s.ready || s.state == State::Stopped).then_some(());
        match select(self.until(settled), deadline()).await {
            Either::First(waited) => waited?,
            Either::Second(()) => {
                let escalated = self.update(|s| {
                    if settled(s).is_some() {
                        return false;
                    }
                    s.escalate(Request::Forced, Cause::Deadline, Some(Overrun::new(Phase::Start, StopLevel::Forced)));
                    true
                });
                if escalated {
                    match select(self.until(settled), forced()).await {
                        Either::First(waited) => waited?,
                        Either::Second(()) => {
                            let overrun = Overrun::new(Phase::Start, StopLevel::Hard);
                            self.update(|s| s.escalate(Request::Hard, Cause::Deadline, Some(overrun)));
                            self.until(settled).await?;
                        }
                    }
                }
            }
        }
        self.read(Shared::start_result)
    }

    /// Stops the process and waits until it is `Stopped`.
    ///
    /// - `Initial`: the process becomes `Stopped` at once and can never start; returns `Ok`.
    /// - `Running`: a graceful stop: the callback that the driver gave the runner returns. If
    ///   the runner has not returned when `graceful()` completes, the run's context is
    ///   cancelled with [`Cause::Deadline`] (forced); if it has not returned when `forced()`
    ///   completes, the driver drops its future (hard).
    /// - `Starting`: a forced stop at once: the run's context is cancelled with
    ///   [`Cause::Shutdown`] and the process never becomes `Running`; `graceful` is not used,
    ///   and the driver drops the runner's future if it has not returned when `forced()`
    ///   completes.
    ///
    /// Several tasks may stop a process at once; each waits for the end and may escalate.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidState`]`(`[`State::Stopped`]`)` if the process has already stopped
    ///   (also when the runner ended by itself); nothing changes.
    /// - [`Error::Overrun`] if a deadline passed (of phase [`Phase::Stop`], or [`Phase::Start`]
    ///   if a start deadline ended the run first).
    /// - [`Error::Run`] if the runner returned an error.
    /// - [`Error::DriverGone`] if the driver was dropped during the run.
    /// - [`Error::Overflow`] if this call could not wait (without `alloc`, more tasks waiting
    ///   than the slots and the spill table hold), at once; what it asked for goes on.
    ///
    /// The first that applies, in this order; every task that stops the process gets the same.
    /// The end of the run wins a tie with a deadline.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the stop: the process goes on stopping at the level
    /// asked so far, without further escalation. [`done`](Self::done) tells when it has
    /// stopped.
    pub async fn stop<G, GF, H, HF>(&self, graceful: G, forced: H) -> Result<(), Error<E>>
    where
        E: Clone,
        G: FnOnce() -> GF,
        GF: Future<Output = ()>,
        H: FnOnce() -> HF,
        HF: Future<Output = ()>,
    {
        let from = self.update(|s| {
            let from = s.state;
            if from == State::Stopped {
                return Err(Error::InvalidState(State::Stopped));
            }
            s.request_stop();
            Ok(from)
        })?;
        let stopped = |s: &Shared<E, N>| (s.state == State::Stopped).then_some(());
        let mut pending = from != State::Initial;
        if pending && from == State::Running {
            match select(self.until(stopped), graceful()).await {
                Either::First(waited) => {
                    waited?;
                    pending = false;
                }
                Either::Second(()) => {
                    let overrun = Overrun::new(Phase::Stop, StopLevel::Forced);
                    pending = self.update(|s| {
                        s.escalate(Request::Forced, Cause::Deadline, Some(overrun));
                        s.state != State::Stopped
                    });
                }
            }
        }
        if pending {
            match select(self.until(stopped), forced()).await {
                Either::First(waited) => waited?,
                Either::Second(()) => {
                    let overrun = Overrun::new(Phase::Stop, StopLevel::Hard);
                    self.update(|s| s.escalate(Request::Hard, Cause::Deadline, Some(overrun)));
                    self.until(stopped).await?;
                }
            }
        }
        self.read(Shared::stop_result)
    }

    /// The driver: runs `runner` under a child of `ctx` once [`start`](Self::start) is called,
    /// and carries out the stops asked of the process. The owner polls it, in its own task or
    /// as a `join` arm, until it completes.
    ///
    /// It waits for a start (or a stop before start, which ends it at once), runs the runner,
    /// moves the process to `Running` when the runner is ready and to `Stopped` when it
    /// returns, and keeps the runner's error for [`error`](Self::error), `start` and `stop`.
    /// A graceful stop returns the runner's callback; a forced one cancels the run's context
    /// (its cause is [`Cause::Shutdown`] for a stop during start, [`Cause::Deadline`] after a
    /// deadline); a hard one drops the runner's future, which is then never polled again.
    /// Cancelling `ctx` is a forced stop from outside.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] at once if another driver is attached; then this one runs nothing. The
    /// outcome of the run is not returned here but kept in the process.
    ///
    /// # Cancel safety
    ///
    /// Dropping the driver before a start detaches it: another driver can take over. Dropping
    /// it after a start drops the runner's future (a hard stop) and leaves the process
    /// `Stopped` with [`Error::DriverGone`], waking every waiter.
    pub async fn drive<R: Runner<E>>(&self, ctx: &Ctx<'_>, runner: &R) -> Result<(), Error<E>> {
        self.update(|s| {
            if s.attached {
                return Err(Error::Busy);
            }
            s.attached = true;
            Ok(())
        })?;
        // Declared first so that it is dropped last, after the runner's future.
        let guard = DriverGuard { process: self };
        let go = self
            .until_driver(|s| match s.state {
                State::Initial => None,
                State::Starting => Some(true),
                State::Running | State::Stopped => Some(false),
            })
            .await;
        if !go {
            self.update(|s| s.attached = false);
            core::mem::forget(guard);
            return Ok(());
        }
        let run_ctx = ctx.child();
        let run = runner.run(&run_ctx, async |cb_ctx: &Ctx<'_>| {
            let ready = self.update(|s| {
                if s.request != Request::None || s.state != State::Starting {
                    return false;
                }
                s.state = State::Running;
                s.ready = true;
                true
            });
            if ready {
                let stop =
                    poll_fn(|cx| self.poll_slot(cx, Side::Callback, |s| (s.request != Request::None).then_some(())));
                select(stop, cb_ctx.cancelled()).await;
            }
            Ok(())
        });
        // The watcher comes first: after a hard stop the runner's future is not polled again.
        let watcher = async {
            let cause = self.until_driver(|s| (s.request >= Request::Forced).then_some(s.forced_cause)).await;
            run_ctx.cancel_with(cause);
            self.until_driver(|s| (s.request == Request::Hard).then_some(())).await;
        };
        let (end, result) = match select(watcher, run).await {
            Either::First(()) => (End::Dropped, Ok(())),
            Either::Second(result) => (End::Returned, result),
        };
        self.update(|s| {
            s.state = State::Stopped;
            s.end = end;
            s.error = result.err();
            s.attached = false;
        });
        core::mem::forget(guard);
        Ok(())
    }
}

impl<E, const N: usize, M: RawMutex> Default for Process<E, N, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, const N: usize, M: RawMutex> fmt::Debug for Process<E, N, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.read(|s| {
            f.debug_struct("Process")
                .field("state", &s.state)
                .field("driver", &s.attached)
                .field("failed", &s.error.is_some())
                .finish_non_exhaustive()
        })
    }
}

/// Reports a driver that is dropped while it runs (armed until the driver ends by itself).
struct DriverGuard<'p, E, const N: usize, M: RawMutex> {
    process: &'p Process<E, N, M>,
}

impl<E, const N: usize, M: RawMutex> Drop for DriverGuard<'_, E, N, M> {
    fn drop(&mut self) {
        self.process.update(|s| {
            s.attached = false;
            if s.state != State::Initial && s.state != State::Stopped {
                s.state = State::Stopped;
                s.end = End::DriverGone;
            }
        });
    }
}

/// Future for the [`Process::done`] method: completes once the process is `Stopped`.
///
/// Dropping it loses nothing; it holds no resource but a waker slot until the next change of
/// state.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Done<'p, E, const N: usize = 4, M: RawMutex = CriticalSectionRawMutex> {
    process: &'p Process<E, N, M>,
}

impl<E, const N: usize, M: RawMutex> Future for Done<'_, E, N, M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.process.poll_done(cx)
    }
}

impl<E, const N: usize, M: RawMutex> fmt::Debug for Done<'_, E, N, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Done").field("process", self.process).finish()
    }
}
