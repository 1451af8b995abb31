//! The restart supervisor: run a process again when it fails, under a retry policy, with hooks
//! around each incarnation and an interrupt usable from any task.
//!
//! A [`Supervisor`] runs one process (a [`Runner`], or a [`Build`] that makes a fresh runner per
//! incarnation) under a retry [`Executor`]: each attempt of the executor is one incarnation,
//! `runner.run` from start to stop. Restart on failure is entirely the executor's policy
//! ([`retry`]): a process that returns `Ok` ends supervision under the crate's
//! executors; one that fails is run again after its backoff.
//!
//! The supervisor is itself a [`Runner`], so it nests in chains and groups. Its callback runs
//! **beside** the supervised process, from the start, not once the process is ready (upstream's
//! timeline); [`Supervisor::callback_after_ready`] makes it wait for the first readiness
//! instead. When the callback returns, the supervisor interrupts the process (a graceful stop)
//! and returns once everything has stopped.
//!
//! # Timeline of [`Supervisor::run`] (upstream §3.4)
//!
//! 1. If a run of this supervisor is already active (a recursive or concurrent call), return
//!    [`Error::RecursiveOrConcurrentRun`] at once, without calling the callback.
//! 2. Join two arms in the caller's task, with a child context `ctx'` of the caller's:
//!    - the executor runs attempts with `ctx'`; when it returns, for any reason, `ctx'` is
//!      cancelled ([`Cause::Parent`]) so that the callback returns;
//!    - the callback runs with `ctx'`; when it returns the supervisor interrupts.
//! 3. Each attempt: if an interrupt came, return an internal error without starting the
//!    process. Otherwise build the runner and run it; inside its ready callback run
//!    [`Hook::pre`], wait for an interrupt or for the process's context to end, and return
//!    what [`Hook::post`] returns (after a `pre` failure, `post` still runs and its result is
//!    ignored; the `pre` failure is the callback's result). After the runner has returned, if an
//!    interrupt came, cancel `ctx'` ([`Cause::Shutdown`]) so that the executor returns.
//! 4. An interrupt while an incarnation runs is graceful (its callback returns); while none runs
//!    (backing off) it cancels `ctx'` with [`Cause::Shutdown`], which ends the executor's sleep.
//! 5. The result: the callback's error, then the executor's; both are kept ([`Merge`]), the
//!    callback's first. An interrupt is not an error.
//!
//! # Upstream
//!
//! From pact's new `supervisor` package: `Supervisor`, `Hook`, `BuilderFunc`, `Identity`,
//! `Builder` (reference §3.1, §3.2, §3.4). `Group` is not here. Deliberate deviations:
//!
//! - A faulty executor that calls the operation again after an interrupt gets
//!   [`retry::Error::Internal`] back on every call instead of a panic.
//! - A run that is dropped (hard stop) releases the supervisor, so the next run works.
//! - Beyond upstream: an incarnation counter and a [`State`] readable from any task
//!   ([`Control`]), [`Control::ready`] to wait for readiness, and
//!   [`Supervisor::callback_after_ready`]. The old incarnation is completely stopped before the
//!   next one starts (the executor awaits each attempt to its end).
//! - The hooks get the supervisor's [`Control`] (interrupt, state) and the live runner
//!   instance, instead of the `*Supervisor` and a `Builder.Runner()` slot that concurrent runs
//!   overwrite: a [`Builder`] hands the instance to its callback for the same reason.
//! - [`Build`] unifies upstream's `BuilderFunc` and `Identity`; a build error is an attempt's
//!   failure (retried like a runner error) and is returned unchanged.
//! - A process marks a failure permanent through the supervisor's classifier
//!   ([`Supervisor::permanent_if`]) instead of wrapping it (`flaky.Permanent`), since the tree's
//!   error type is the user's.
//! - The interrupt and the stop of a run are typed: [`Error`] is converted into the tree's error
//!   type, the restart intensity ([`retry::Retry::intensity`]) gives up with
//!   [`Error::IntensityExceeded`] merged after the last failure.

use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::task::{Context, Poll};

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use crate::ctx::{Cause, Ctx, Waiters};
use crate::error::{Merge, MultiError};
use crate::retry::{self, Executor};
use crate::runner::Runner;

/// The errors of a [`Supervisor`] itself, converted into the tree's error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// [`Supervisor::run`] was called while a run of the same supervisor was active (from
    /// its own callback, a hook, or another task). Upstream: `errRecursiveOrConcurrentRun`.
    RecursiveOrConcurrentRun,
    /// The process failed more often than the executor's restart intensity allows
    /// ([`retry::Error::Exhausted`]); merged after the last failure.
    IntensityExceeded,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RecursiveOrConcurrentRun => "supervisor: recursive or concurrent run",
            Self::IntensityExceeded => "supervisor: restart intensity exceeded",
        })
    }
}

impl core::error::Error for Error {}

impl<E, const N: usize> From<Error> for MultiError<E, N>
where
    E: From<Error>,
{
    fn from(error: Error) -> Self {
        Self::from_error(E::from(error))
    }
}

/// Where a supervised process is, as seen from any task ([`Control::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// No incarnation runs: before the first, after the last, or after an interrupt.
    #[default]
    Stopped,
    /// An incarnation is being built or started and is not ready yet.
    Starting,
    /// An incarnation is ready (inside its ready callback, hooks included).
    Ready,
    /// An incarnation ended and the executor has not started the next one (its backoff).
    BackingOff,
}

impl fmt::Display for State {
    /// Lower case, as the other states of the crate: "stopped", "starting", "ready",
    /// "backing off".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::BackingOff => "backing off",
        })
    }
}

// === Build ===

/// Makes the runner for one run (upstream `BuilderFunc`): single-use runners get a fresh
/// instance per run, for example per supervisor restart.
pub trait Build<E> {
    /// The runner made.
    type Runner: Runner<E>;

    /// Makes a runner and calls `f` with it; the runner lives until `f` returns. A build error
    /// is returned as is, without calling `f`; otherwise `f`'s result.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the builder's is")]
    async fn with_runner<F>(&self, ctx: &Ctx<'_>, f: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Self::Runner) -> Result<(), E>;
}

/// A [`Build`] that always gives the same runner (upstream `Identity`). Also a [`Runner`]
/// that runs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "a runner does nothing until it is run"]
pub struct Identity<R>(pub R);

/// A [`Build`] that always gives `runner` (upstream `Identity`).
///
/// # Examples
///
/// ```
/// use procession::{Ctx, Runner, nop, supervisor::identity};
///
/// let root = Ctx::new();
/// let result: Result<(), ()> = embassy_futures::block_on(identity(nop()).run(&root, async |_| Ok(())));
/// assert_eq!(result, Ok(()));
/// ```
pub const fn identity<R>(runner: R) -> Identity<R> {
    Identity(runner)
}

impl<E, R: Runner<E>> Build<E> for Identity<R> {
    type Runner = R;

    async fn with_runner<F>(&self, _ctx: &Ctx<'_>, f: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&R) -> Result<(), E>,
    {
        f(&self.0).await
    }
}

impl<E, R: Runner<E>> Runner<E> for Identity<R> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.0.run(ctx, ready).await
    }
}

/// A [`Build`] made from an async closure (upstream `BuilderFunc`). Also a [`Runner`]: it
/// builds, then runs what it built; a build error is returned unchanged and the callback is not
/// called.
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct BuildFn<F> {
    f: F,
}

impl<F> fmt::Debug for BuildFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildFn").finish_non_exhaustive()
    }
}

/// A [`Build`] that makes a fresh runner with `f` for every run.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, Runner, nop, supervisor::build_fn};
///
/// let fresh = build_fn(async |_ctx: &Ctx<'_>| Ok::<_, &str>(nop()));
/// let root = Ctx::new();
/// assert_eq!(embassy_futures::block_on(fresh.run(&root, async |_| Ok(()))), Ok(()));
///
/// let broken = build_fn(async |_ctx: &Ctx<'_>| Err::<procession::runner::Nop, _>("no config"));
/// assert_eq!(embassy_futures::block_on(broken.run(&root, async |_| Ok(()))), Err("no config"));
/// ```
pub const fn build_fn<F>(f: F) -> BuildFn<F> {
    BuildFn { f }
}

impl<E, R, F> Build<E> for BuildFn<F>
where
    R: Runner<E>,
    F: AsyncFn(&Ctx<'_>) -> Result<R, E>,
{
    type Runner = R;

    async fn with_runner<H>(&self, ctx: &Ctx<'_>, f: H) -> Result<(), E>
    where
        H: AsyncFnOnce(&R) -> Result<(), E>,
    {
        let runner = (self.f)(ctx).await?;
        f(&runner).await
    }
}

impl<E, R, G> Runner<E> for BuildFn<G>
where
    R: Runner<E>,
    G: AsyncFn(&Ctx<'_>) -> Result<R, E>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        (self.f)(ctx).await?.run(ctx, ready).await
    }
}

/// A reusable [`Runner`] over a [`Build`] that also hands the live instance to its callback
/// (upstream `Builder`, whose `Runner()` accessor becomes the callback's argument).
///
/// # Examples
///
/// ```
/// use procession::{Ctx, nop, runner::Nop, supervisor::{Builder, identity}};
///
/// let builder = Builder::new(identity(nop()));
/// let root = Ctx::new();
/// let result: Result<(), ()> = embassy_futures::block_on(builder.run_with(&root, async |_ctx, live: &Nop| {
///     assert_eq!(*live, nop()); // the instance that is running
///     Ok(())
/// }));
/// assert_eq!(result, Ok(()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use = "a runner does nothing until it is run"]
pub struct Builder<B> {
    build: B,
}

impl<B> Builder<B> {
    /// A runner that builds with `build` on every run.
    pub const fn new(build: B) -> Self {
        Self { build }
    }

    /// Builds a runner and runs it; its callback gets the live instance too. A build error is
    /// returned unchanged and the callback is not called.
    pub async fn run_with<E, F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        B: Build<E>,
        F: AsyncFnOnce(&Ctx<'_>, &B::Runner) -> Result<(), E>,
    {
        self.build
            .with_runner(ctx, async |instance: &B::Runner| {
                instance.run(ctx, async |c: &Ctx<'_>| ready(c, instance).await).await
            })
            .await
    }
}

impl<E, B: Build<E>> Runner<E> for Builder<B> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.run_with(ctx, async |c: &Ctx<'_>, _: &B::Runner| ready(c).await).await
    }
}

// === Hooks ===

/// One hook of a [`Hook`]: an async function of the incarnation's context, the supervisor's
/// [`Control`] and the live runner instance.
///
/// Implemented by [`Skip`] (returns `Ok`) and by every
/// `AsyncFn(&Ctx<'_>, &Control<M>, &R) -> Result<(), E>` closure.
pub trait HookFn<E, R, M: RawMutex> {
    /// Runs the hook.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the closure's is")]
    async fn call(&self, ctx: &Ctx<'_>, control: &Control<M>, runner: &R) -> Result<(), E>;
}

/// A hook that does nothing and returns `Ok` (upstream: a nil hook).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skip;

impl<E, R, M: RawMutex> HookFn<E, R, M> for Skip {
    async fn call(&self, _: &Ctx<'_>, _: &Control<M>, _: &R) -> Result<(), E> {
        Ok(())
    }
}

impl<E, R, M, F> HookFn<E, R, M> for F
where
    M: RawMutex,
    F: AsyncFn(&Ctx<'_>, &Control<M>, &R) -> Result<(), E>,
{
    async fn call(&self, ctx: &Ctx<'_>, control: &Control<M>, runner: &R) -> Result<(), E> {
        self(ctx, control, runner).await
    }
}

/// Hooks around each incarnation (upstream `Hook{Pre, Post}`), both run inside the runner's
/// ready callback.
///
/// - `pre` runs as soon as the incarnation is ready. An error is returned from the runner's
///   callback at once (after `post` has run; its result is then ignored), so the runner stops
///   and the attempt fails with it (unless the runner decides otherwise).
/// - `post` runs when the incarnation is asked to stop (an interrupt, or its context ended);
///   its result is the runner's callback's result.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, runner::Nop, supervisor::{Control, Hook}};
///
/// let hook = Hook::new()
///     .pre(async |_ctx: &Ctx<'_>, _sup: &Control, _live: &Nop| -> Result<(), ()> { Ok(()) /* announce */ })
///     .post(async |_ctx: &Ctx<'_>, _sup: &Control, _live: &Nop| -> Result<(), ()> { Ok(()) /* withdraw */ });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Hook<P = Skip, Q = Skip> {
    /// Called once the incarnation is ready.
    pub pre: P,
    /// Called before the incarnation's ready callback returns.
    pub post: Q,
}

impl Hook {
    /// Hooks that do nothing.
    pub const fn new() -> Self {
        Self { pre: Skip, post: Skip }
    }
}

impl<P, Q> Hook<P, Q> {
    /// Sets the `pre` hook.
    pub fn pre<P2>(self, pre: P2) -> Hook<P2, Q> {
        Hook { pre, post: self.post }
    }

    /// Sets the `post` hook.
    pub fn post<Q2>(self, post: Q2) -> Hook<P, Q2> {
        Hook { pre: self.pre, post }
    }
}

// === Classify ===

/// Tells whether a failure of the supervised process is permanent: the executor does not restart
/// after it ([`Supervisor::permanent_if`]). Implemented by [`AllTransient`] and by every
/// `Fn(&E) -> bool`.
pub trait Classify<E> {
    /// Whether `error` must not be retried.
    fn is_permanent(&self, error: &E) -> bool;
}

/// Every failure is transient: the executor's policy alone decides about restarts (the
/// default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllTransient;

impl<E> Classify<E> for AllTransient {
    fn is_permanent(&self, _: &E) -> bool {
        false
    }
}

impl<E, F: Fn(&E) -> bool> Classify<E> for F {
    fn is_permanent(&self, error: &E) -> bool {
        self(error)
    }
}

// === Control ===

struct Shared {
    /// A run is active.
    active: bool,
    /// An interrupt came during this run (upstream `stopped`).
    stopped: bool,
    /// An attempt is between `before_runner` and `after_runner` (upstream `running`); stays set
    /// after an interrupted attempt, to recognise a faulty executor.
    running: bool,
    /// An interrupt came while no attempt ran: the run must cancel its context.
    cancel: bool,
    /// The executor of this run has returned.
    finished: bool,
    /// An incarnation of this run has been ready.
    was_ready: bool,
    incarnation: u32,
    state: State,
}

/// The part of a [`Supervisor`] that other tasks and the hooks use: interrupt, state,
/// incarnation, readiness. Every method is non-blocking (a short critical section of `M`).
///
/// Tasks waiting on it (the run itself, [`Control::ready`]) register in the crate's bounded
/// waiter slots ([`WAITER_SLOTS`](crate::ctx::WAITER_SLOTS) of them, behind a critical
/// section, like a [`Ctx`]): more waiters wake each other early and register again; no wakeup is
/// lost.
pub struct Control<M: RawMutex = CriticalSectionRawMutex> {
    shared: Mutex<M, RefCell<Shared>>,
    waiters: Waiters,
}

impl<M: RawMutex> fmt::Debug for Control<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.lock(|s| {
            let s = s.borrow();
            f.debug_struct("Control")
                .field("active", &s.active)
                .field("state", &s.state)
                .field("incarnation", &s.incarnation)
                .finish_non_exhaustive()
        })
    }
}

impl<M: RawMutex> Default for Control<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: RawMutex> Control<M> {
    const fn new() -> Self {
        Self {
            shared: Mutex::new(RefCell::new(Shared {
                active: false,
                stopped: false,
                running: false,
                cancel: false,
                finished: false,
                was_ready: false,
                incarnation: 0,
                state: State::Stopped,
            })),
            waiters: Waiters::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> T {
        self.shared.lock(|s| f(&mut s.borrow_mut()))
    }

    /// Asks the active run to stop (upstream `Interrupt`): gracefully if an incarnation runs
    /// (its ready callback returns, or returns as soon as it is ready if it is starting), by
    /// cancelling the run's context with [`Cause::Shutdown`] if none runs (ending a backoff).
    /// The run then returns once everything has stopped.
    ///
    /// Non-blocking and callable from any task, a hook, or the executor. Does nothing when no
    /// run is active (an interrupt before a run does not affect it) or if the run was already
    /// interrupted.
    pub fn interrupt(&self) {
        let changed = self.with(|s| {
            if !s.active || s.stopped {
                return false;
            }
            s.stopped = true;
            if !s.running {
                s.cancel = true;
            }
            true
        });
        if changed {
            self.waiters.wake();
        }
    }

    /// The state of the supervised process.
    pub fn state(&self) -> State {
        self.with(|s| s.state)
    }

    /// How many incarnations have been started since this supervisor was made (wrapping).
    /// An attempt that the executor makes after an interrupt is not counted.
    pub fn incarnation(&self) -> u32 {
        self.with(|s| s.incarnation)
    }

    /// Whether a run is active.
    pub fn is_active(&self) -> bool {
        self.with(|s| s.active)
    }

    /// Completes once an incarnation is ready ([`State::Ready`]), now or later.
    ///
    /// It looks at the state whenever it is woken: an incarnation that is ready and fails again
    /// before this future is polled can be missed, and it then waits for the next one.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe.
    pub async fn ready(&self) {
        core::future::poll_fn(|cx| {
            self.waiters.register(cx);
            if self.state() == State::Ready { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
    }

    fn change(&self, f: impl FnOnce(&mut Shared)) {
        self.with(f);
        self.waiters.wake();
    }

    /// Starts a run; `false` if one is active.
    fn begin(&self) -> bool {
        self.with(|s| {
            if s.active {
                return false;
            }
            s.active = true;
            s.stopped = false;
            s.running = false;
            s.cancel = false;
            s.finished = false;
            s.was_ready = false;
            true
        })
    }

    fn end(&self) {
        self.change(|s| {
            s.active = false;
            s.state = State::Stopped;
        });
    }

    /// Before an attempt: `true` to start the process (upstream `shouldStopBeforeRunner`).
    fn before_runner(&self) -> bool {
        let start = self.with(|s| {
            s.running = true;
            if s.stopped {
                // Interrupted (or a faulty executor calling again): do not start anything.
                return false;
            }
            s.incarnation = s.incarnation.wrapping_add(1);
            s.state = State::Starting;
            true
        });
        if start {
            self.waiters.wake();
        }
        start
    }

    fn on_ready(&self) {
        self.change(|s| {
            s.state = State::Ready;
            s.was_ready = true;
        });
    }

    /// After an attempt: `true` if the run's context must be cancelled (upstream `afterRunner`).
    fn after_runner(&self) -> bool {
        let mut cancel = false;
        self.change(|s| {
            if s.stopped {
                cancel = true;
                s.state = State::Stopped;
            } else {
                s.running = false;
                s.state = State::BackingOff;
            }
        });
        cancel
    }

    fn finish(&self) {
        self.change(|s| {
            s.finished = true;
            s.state = State::Stopped;
        });
    }

    /// Whether the run must cancel its context now; registers the waker either way.
    fn poll_cancel(&self, cx: &Context<'_>) -> bool {
        self.waiters.register(cx);
        self.with(|s| core::mem::take(&mut s.cancel))
    }

    fn poll_stopped(&self, cx: &Context<'_>) -> Poll<()> {
        self.waiters.register(cx);
        if self.with(|s| s.stopped) { Poll::Ready(()) } else { Poll::Pending }
    }

    /// Ready with `true` once an incarnation of this run was ready, `false` once the run's
    /// executor has returned without one.
    fn poll_first_ready(&self, cx: &Context<'_>) -> Poll<bool> {
        self.waiters.register(cx);
        self.with(|s| {
            if s.was_ready {
                Poll::Ready(true)
            } else if s.finished {
                Poll::Ready(false)
            } else {
                Poll::Pending
            }
        })
    }
}

/// Releases the supervisor when a run ends, also when its future is dropped.
struct Active<'a, M: RawMutex>(&'a Control<M>);

impl<M: RawMutex> Drop for Active<'_, M> {
    fn drop(&mut self) {
        self.0.end();
    }
}

// === Supervisor ===

/// Why an attempt of the supervisor's operation failed.
enum Failure<E> {
    /// The process (or its builder) failed.
    Process(E),
    /// The run was interrupted before the attempt.
    Interrupted,
}

/// The operation that the executor runs: one incarnation. A named type rather than a closure,
/// so that the run's future is `Send` whenever its parts are.
struct Attempt<'s, 'c, B, X, H, M: RawMutex, K> {
    supervisor: &'s Supervisor<B, X, H, M, K>,
    run_ctx: &'s Ctx<'c>,
}

impl<E, B, X, P, Q, M, K> retry::Operation<(), Failure<E>> for Attempt<'_, '_, B, X, Hook<P, Q>, M, K>
where
    B: Build<E>,
    K: Classify<E>,
    P: HookFn<E, B::Runner, M>,
    Q: HookFn<E, B::Runner, M>,
    M: RawMutex,
{
    async fn attempt(&mut self, c: &Ctx<'_>) -> Result<(), retry::Error<Failure<E>>> {
        use embassy_futures::select::select;

        let control = &self.supervisor.control;
        let hook = &self.supervisor.hook;
        if !control.before_runner() {
            return Err(retry::Error::Internal(Failure::Interrupted));
        }
        let result = self
            .supervisor
            .build
            .with_runner(c, async |instance: &B::Runner| {
                instance
                    .run(c, async |rc: &Ctx<'_>| {
                        control.on_ready();
                        if let Err(e) = hook.pre.call(rc, control, instance).await {
                            let _ = hook.post.call(rc, control, instance).await;
                            return Err(e);
                        }
                        select(rc.cancelled(), core::future::poll_fn(|cx| control.poll_stopped(cx))).await;
                        hook.post.call(rc, control, instance).await
                    })
                    .await
            })
            .await;
        if control.after_runner() {
            self.run_ctx.cancel_with(Cause::Shutdown);
        }
        result.map_err(|e| {
            if self.supervisor.classify.is_permanent(&e) {
                retry::Error::Permanent(Failure::Process(e))
            } else {
                retry::Error::Transient(Failure::Process(e))
            }
        })
    }
}

/// Runs a process again and again under a retry [`Executor`], with [`Hook`]s around each
/// incarnation; itself a [`Runner`] (upstream `Supervisor`). See the [module docs](self) for
/// the timeline.
///
/// `B` makes the runner of each incarnation ([`identity`] for a plain runner, which
/// [`Supervisor::new`] applies), `X` is the executor, `H` the hooks, and `M` the raw mutex of
/// its [`Control`]: the default critical-section mutex works from any task and interrupt
/// handler; `NoopRawMutex` suffices when everything runs in one task.
///
/// The error type `E` of the tree must implement [`Merge`] (the callback's and the
/// executor's errors are both kept) and `From<`[`Error`]`>`.
///
/// The run's future is `Send` (it can be `tokio::spawn`ed) whenever the runner's, the
/// executor's and the hooks' futures are. Today's compiler cannot prove it for async closures
/// that capture references (a `from_fn` closure borrowing a counter, say): give such closures
/// owned state (`Arc`, `'static` references) when the run must be spawned.
///
/// # Examples
///
/// Restart a flaky process with exponential backoff until the callback is done:
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use core::time::Duration;
/// use procession::{Ctx, Merge, Runner, runner::{Lifecycle, from_fn}};
/// use procession::retry::{BackoffExt, Exp2, Retry};
/// use procession::supervisor::{self, State, Supervisor};
/// use procession::time::ManualClock;
///
/// #[derive(Debug, PartialEq)]
/// enum AppError { LinkDown, Supervisor(supervisor::Error), Many }
/// impl Merge for AppError { fn merge(self, _: Self) -> Self { AppError::Many } }
/// impl From<supervisor::Error> for AppError { fn from(e: supervisor::Error) -> Self { AppError::Supervisor(e) } }
///
/// let starts = AtomicU32::new(0);
/// let link = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| {
///     if starts.fetch_add(1, Ordering::SeqCst) < 2 {
///         return Err(AppError::LinkDown); // the first two attempts fail
///     }
///     lc.ready();
///     lc.stop_requested().await;
///     Ok(())
/// });
/// let clock: ManualClock = ManualClock::new();
/// let sup = Supervisor::new(link, Retry::new(Exp2::new(Duration::from_millis(100)).limit(5), &clock))
///     .callback_after_ready();
/// let root = Ctx::new();
/// let run = sup.run(&root, async |_ctx: &Ctx<'_>| {
///     assert_eq!(sup.state(), State::Ready);
///     assert_eq!(sup.incarnation(), 3);
///     Ok(()) // done: interrupt, stop, return
/// });
/// let time = async {
///     for _ in 0..2 {
///         clock.wait_sleeping(1).await;
///         clock.next();
///     }
/// };
/// let (result, ()) = embassy_futures::block_on(embassy_futures::join::join(run, time));
/// assert_eq!(result, Ok(()));
/// assert_eq!(clock.now().elapsed(), Duration::from_millis(200 + 400));
/// ```
pub struct Supervisor<B, X, H = Hook, M: RawMutex = CriticalSectionRawMutex, K = AllTransient> {
    build: B,
    executor: X,
    hook: H,
    classify: K,
    after_ready: bool,
    control: Control<M>,
}

impl<B: fmt::Debug, X: fmt::Debug, H, M: RawMutex, K> fmt::Debug for Supervisor<B, X, H, M, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("build", &self.build)
            .field("executor", &self.executor)
            .field("callback_after_ready", &self.after_ready)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl<R, X> Supervisor<Identity<R>, X> {
    /// Supervises `runner` under `executor`, without hooks (upstream `NewSupervisor`). `const`,
    /// so a supervisor can be a `static`.
    pub const fn new(runner: R, executor: X) -> Self {
        Self::with_builder(Identity(runner), executor)
    }
}

impl<B, X> Supervisor<B, X> {
    /// Supervises the runners made by `build`, a fresh one per incarnation.
    pub const fn with_builder(build: B, executor: X) -> Self {
        Self { build, executor, hook: Hook::new(), classify: AllTransient, after_ready: false, control: Control::new() }
    }
}

impl<B, X, H, M: RawMutex, K> Supervisor<B, X, H, M, K> {
    /// Sets the hooks around each incarnation.
    pub fn hook<H2>(self, hook: H2) -> Supervisor<B, X, H2, M, K> {
        Supervisor {
            build: self.build,
            executor: self.executor,
            hook,
            classify: self.classify,
            after_ready: self.after_ready,
            control: self.control,
        }
    }

    /// Uses the raw mutex `M2` for the [`Control`].
    pub fn mutex<M2: RawMutex>(self) -> Supervisor<B, X, H, M2, K> {
        Supervisor {
            build: self.build,
            executor: self.executor,
            hook: self.hook,
            classify: self.classify,
            after_ready: self.after_ready,
            control: Control::new(),
        }
    }

    /// Marks the process's failures for which `classify` says so as permanent: the executor
    /// does not restart after them (upstream: the runner returns `flaky.Permanent(err)`). By
    /// default every failure is transient ([`AllTransient`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::retry::UntilPermanent;
    /// use procession::{nop, supervisor::Supervisor};
    ///
    /// #[derive(Debug)]
    /// enum AppError { BadConfig, LinkDown }
    /// let sup = Supervisor::new(nop(), UntilPermanent)
    ///     .permanent_if(|e: &AppError| matches!(e, AppError::BadConfig));
    /// ```
    pub fn permanent_if<K2>(self, classify: K2) -> Supervisor<B, X, H, M, K2> {
        Supervisor {
            build: self.build,
            executor: self.executor,
            hook: self.hook,
            classify,
            after_ready: self.after_ready,
            control: self.control,
        }
    }

    /// Calls the run's callback only once the first incarnation is ready, which makes the
    /// supervisor an ordinary [`Runner`] whose callback means "ready" (upstream calls it at
    /// once). If the executor gives up before any incarnation was ready, the callback is not
    /// called and the run returns the executor's error (a start failure).
    #[must_use]
    pub fn callback_after_ready(self) -> Self {
        Self { after_ready: true, ..self }
    }

    /// The part usable from other tasks and the hooks.
    pub fn control(&self) -> &Control<M> {
        &self.control
    }

    /// [`Control::interrupt`].
    pub fn interrupt(&self) {
        self.control.interrupt();
    }

    /// [`Control::state`].
    pub fn state(&self) -> State {
        self.control.state()
    }

    /// [`Control::incarnation`].
    pub fn incarnation(&self) -> u32 {
        self.control.incarnation()
    }
}

impl<E, B, X, P, Q, M, K> Runner<E> for Supervisor<B, X, Hook<P, Q>, M, K>
where
    E: Merge + From<Error>,
    B: Build<E>,
    K: Classify<E>,
    X: Executor,
    P: HookFn<E, B::Runner, M>,
    Q: HookFn<E, B::Runner, M>,
    M: RawMutex,
{
    /// Runs the supervised process beside `ready`; see the [module docs](self) for the
    /// timeline.
    ///
    /// # Errors
    ///
    /// [`Error::RecursiveOrConcurrentRun`] at once if a run of this supervisor is active; the
    /// callback's error, then the executor's last failure, merged; an exhausted restart
    /// intensity adds [`Error::IntensityExceeded`] after the last failure.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the process hard and releases the supervisor for the next run.
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        if !self.control.begin() {
            return Err(E::from(Error::RecursiveOrConcurrentRun));
        }
        let _active = Active(&self.control);
        let run_ctx = ctx.child();
        let run_ctx = &run_ctx;
        let control = &self.control;

        let op = Attempt { supervisor: self, run_ctx };
        let executor = async {
            let mut execute = core::pin::pin!(self.executor.execute(run_ctx, op));
            let result = core::future::poll_fn(|cx| {
                if control.poll_cancel(cx) {
                    run_ctx.cancel_with(Cause::Shutdown);
                }
                execute.as_mut().poll(cx)
            })
            .await;
            run_ctx.cancel_with(Cause::Parent);
            control.finish();
            result
        };
        let callback = async {
            if self.after_ready && !core::future::poll_fn(|cx| control.poll_first_ready(cx)).await {
                return Ok(());
            }
            let result = ready(run_ctx).await;
            control.interrupt();
            result
        };
        let (executed, called) = embassy_futures::join::join(executor, callback).await;

        let executed = match executed {
            Ok(()) | Err(retry::Error::Internal(Failure::Interrupted)) => None,
            Err(retry::Error::Exhausted(Failure::Process(e))) => Some(e.merge(E::from(Error::IntensityExceeded))),
            Err(other) => match other.into_inner() {
                Failure::Process(e) => Some(e),
                Failure::Interrupted => None,
            },
        };
        crate::error::merge_results(called, executed.map_or(Ok(()), Err))
    }
}
