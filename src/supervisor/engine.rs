//! The engine: [`Supervisor`], its builder methods, and its [`Runner`] implementation.

use core::fmt;
use core::future::{Future, poll_fn};
use core::marker::PhantomData;
use core::pin::pin;
use core::task::Poll;

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use super::control::Active;
use super::{AllTransient, Build, Classify, Control, Error, Hook, HookFn, Identity, State};
use crate::ctx::{Cause, Ctx};
use crate::deadline::Never;
use crate::error::{Merge, TreeError};
use crate::retry::{self, Executor};
use crate::runner::Runner;

/// The deadline of a supervisor without [`callback_deadline`](Supervisor::callback_deadline):
/// [`never`](crate::never()), so the wait for the callback is unbounded.
pub type NoDeadline = fn() -> Never;

/// Why an attempt of the supervisor's operation failed.
enum Failure<E> {
    /// The process (or its builder) failed.
    Process(E),
    /// A stop was requested before the attempt.
    Interrupted,
}

/// The operation that the executor runs: one incarnation. A named type rather than a closure,
/// so that the run's future is `Send` whenever its parts are.
struct Attempt<'s, 'c, B, X, E, H, M: RawMutex, K, D> {
    supervisor: &'s Supervisor<B, X, E, H, M, K, D>,
    process_ctx: &'s Ctx<'c>,
}

impl<E, B, X, P, Q, M, K, D> retry::Operation<(), Failure<E>> for Attempt<'_, '_, B, X, E, Hook<P, Q>, M, K, D>
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
        if !control.before_attempt() {
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
                        select(rc.cancelled(), poll_fn(|cx| control.poll_stop_requested(cx))).await;
                        hook.post.call(rc, control, instance).await
                    })
                    .await
            })
            .await;
        if control.after_attempt() {
            self.process_ctx.cancel_with(Cause::Shutdown);
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
/// incarnation; itself a [`Runner`]. See the [module docs](super) for the timeline.
///
/// By default its callback runs once the first incarnation is ready, as every runner's does:
/// a supervisor inside a [`chain`](crate::chain) starts what comes after it only then.
/// [`callback_beside_process`](Self::callback_beside_process) runs it from the start instead.
///
/// `B` makes the runner of each incarnation ([`identity`](super::identity) for a plain runner,
/// which [`Supervisor::new`] applies), `X` is the executor, `H` the hooks, `M` the raw mutex of
/// its [`Control`] (the default critical-section mutex works from any task and interrupt
/// handler; `NoopRawMutex` suffices when everything runs in one task), `K` the classifier of
/// failures and `D` the [callback deadline](Self::callback_deadline).
///
/// The error type `E` of the tree must implement [`Merge`] (the callback's and the
/// executor's errors are both kept) and `From<`[`Error`]`>`.
///
/// The run's future is `Send` (it can be `tokio::spawn`ed) whenever the runner's, the
/// executor's, the hooks' and the deadline's futures are. Today's compiler cannot prove it for
/// async closures that capture references (a `from_fn` closure borrowing a counter, say): give
/// such closures owned state (`Arc`, `'static` references) when the run must be spawned.
///
/// Dropping a supervisor drops its runner, executor and hooks; none of its runs can be active
/// then, since a run borrows it.
///
/// # Examples
///
/// Restart a flaky process with exponential backoff; the callback runs once it is ready:
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
/// let sup = Supervisor::new(link, Retry::new(Exp2::new(Duration::from_millis(100)).limit(5), &clock));
/// let root = Ctx::new();
/// let run = sup.run(&root, async |_ctx: &Ctx<'_>| {
///     assert_eq!(sup.state(), State::Running);
///     assert_eq!(sup.incarnation(), 3);
///     Ok(()) // done: stop, return
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
pub struct Supervisor<
    B,
    X,
    E = TreeError,
    H = Hook,
    M: RawMutex = CriticalSectionRawMutex,
    K = AllTransient,
    D = NoDeadline,
> {
    build: B,
    executor: X,
    hook: H,
    classify: K,
    beside: bool,
    deadline: D,
    control: Control<M>,
    error: PhantomData<fn() -> E>,
}

impl<B: fmt::Debug, X: fmt::Debug, E, H, M: RawMutex, K, D> fmt::Debug for Supervisor<B, X, E, H, M, K, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("build", &self.build)
            .field("executor", &self.executor)
            .field("callback_beside_process", &self.beside)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

// === impl Supervisor ===

impl<R, X, E> Supervisor<Identity<R>, X, E> {
    /// Supervises `runner` under `executor`, without hooks. `const`, so a supervisor can be a
    /// `static`.
    ///
    /// `E`, the tree's error type, must hold the supervisor's own failures and several
    /// failures at once ([`TreeError`] does); a type that does not is reported here.
    pub const fn new(runner: R, executor: X) -> Self
    where
        R: Runner<E>,
        E: Merge + From<Error>,
    {
        Self::with_builder(Identity(runner), executor)
    }
}

impl<B, X, E> Supervisor<B, X, E> {
    /// Supervises the runners made by `build`, a fresh one per incarnation.
    ///
    /// `E` must hold the supervisor's own failures and several failures at once, as for
    /// [`new`](Supervisor::new).
    pub const fn with_builder(build: B, executor: X) -> Self
    where
        B: Build<E>,
        E: Merge + From<Error>,
    {
        Self {
            build,
            executor,
            hook: Hook::new(),
            classify: AllTransient,
            beside: false,
            deadline: crate::deadline::never as NoDeadline,
            control: Control::new(),
            error: PhantomData,
        }
    }
}

impl<B, X, E, H, M: RawMutex, K, D> Supervisor<B, X, E, H, M, K, D> {
    /// Sets the hooks around each incarnation.
    pub fn hook<H2>(self, hook: H2) -> Supervisor<B, X, E, H2, M, K, D> {
        Supervisor {
            build: self.build,
            executor: self.executor,
            hook,
            classify: self.classify,
            beside: self.beside,
            deadline: self.deadline,
            control: self.control,
            error: PhantomData,
        }
    }

    /// Uses the raw mutex `M2` for the [`Control`].
    pub fn mutex<M2: RawMutex>(self) -> Supervisor<B, X, E, H, M2, K, D> {
        Supervisor {
            build: self.build,
            executor: self.executor,
            hook: self.hook,
            classify: self.classify,
            beside: self.beside,
            deadline: self.deadline,
            control: Control::new(),
            error: PhantomData,
        }
    }

    /// Marks the process's failures for which `classify` says so as permanent: the executor
    /// does not restart after them. By default every failure is transient ([`AllTransient`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::retry::UntilPermanent;
    /// use procession::{TreeError, nop, supervisor::Supervisor};
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum AppError { BadConfig, LinkDown }
    /// let sup = Supervisor::new(nop(), UntilPermanent).permanent_if(|e: &TreeError<AppError>| {
    ///     e.iter().any(|failure| failure.own_error() == Some(&AppError::BadConfig))
    /// });
    /// ```
    pub fn permanent_if<K2: Classify<E>>(self, classify: K2) -> Supervisor<B, X, E, H, M, K2, D> {
        Supervisor {
            build: self.build,
            executor: self.executor,
            hook: self.hook,
            classify,
            beside: self.beside,
            deadline: self.deadline,
            control: self.control,
            error: PhantomData,
        }
    }

    /// Calls the run's callback at once, beside the first incarnation, instead of once it is
    /// ready (the default). The callback then no longer means "ready": a supervisor inside a
    /// [`chain`](crate::chain) lets what comes after it start while the process is still
    /// starting, and the callback also runs when no incarnation ever becomes ready.
    #[must_use]
    pub fn callback_beside_process(self) -> Self {
        Self { beside: true, ..self }
    }

    /// Bounds the wait for the run's callback once its context is cancelled: a callback that
    /// has not returned when `deadline()` completes is dropped (a hard stop of the callback),
    /// the process is then stopped as if the callback had returned, and the run reports
    /// [`Error::CallbackOverrun`] in the callback's place.
    ///
    /// The callback's context is cancelled when the caller's is (a forced stop from outside),
    /// and when the executor returns (the process failed for good, or its restarts are
    /// exhausted); `deadline()` is called at that moment, so each run measures from its own
    /// cancellation. Without it the wait is unbounded: a callback that ignores its context
    /// then keeps the run (and the process, in a forced stop) going until the run's future is
    /// dropped.
    ///
    /// The deadline is any `Future<Output = ()>` (an embassy-time `Timer`, a tokio `sleep`, a
    /// [`ManualClock`](crate::time::ManualClock) sleep).
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use procession::retry::Once;
    /// use procession::supervisor::{self, Supervisor};
    /// use procession::time::{Clock, ManualClock};
    /// use procession::{Ctx, MultiError, Runner, runner::{Lifecycle, from_fn}};
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum Fail { Crash, Supervisor(supervisor::Error) }
    /// impl From<supervisor::Error> for Fail {
    ///     fn from(e: supervisor::Error) -> Self { Fail::Supervisor(e) }
    /// }
    ///
    /// let clock: ManualClock = ManualClock::new();
    /// let crashes = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| {
    ///     lc.ready();
    ///     Err(MultiError::<Fail, 2>::from_error(Fail::Crash))
    /// });
    /// let sup = Supervisor::new(crashes, Once).callback_deadline(|| clock.sleep(Duration::from_secs(1)));
    /// let root = Ctx::new();
    /// // A callback that ignores its context: dropped one second after the process gave up.
    /// let run = sup.run(&root, async |_| core::future::pending().await);
    /// let time = async {
    ///     clock.wait_sleeping(1).await;
    ///     clock.next();
    /// };
    /// let (result, ()) = embassy_futures::block_on(embassy_futures::join::join(run, time));
    /// let errors = result.unwrap_err();
    /// assert_eq!(errors.errors(), [Fail::Supervisor(supervisor::Error::CallbackOverrun), Fail::Crash]);
    /// ```
    pub fn callback_deadline<D2, DF>(self, deadline: D2) -> Supervisor<B, X, E, H, M, K, D2>
    where
        D2: Fn() -> DF,
        DF: Future<Output = ()>,
    {
        Supervisor {
            build: self.build,
            executor: self.executor,
            hook: self.hook,
            classify: self.classify,
            beside: self.beside,
            deadline,
            control: self.control,
            error: PhantomData,
        }
    }

    /// The part usable from other tasks and the hooks.
    pub fn control(&self) -> &Control<M> {
        &self.control
    }

    /// [`Control::request_stop`].
    pub fn request_stop(&self) -> bool {
        self.control.request_stop()
    }

    /// [`Control::cancel`].
    pub fn cancel(&self) -> bool {
        self.control.cancel()
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

impl<E, B, X, P, Q, M, K, D, DF> Runner<E> for Supervisor<B, X, E, Hook<P, Q>, M, K, D>
where
    E: Merge + From<Error>,
    B: Build<E>,
    K: Classify<E>,
    X: Executor,
    P: HookFn<E, B::Runner, M>,
    Q: HookFn<E, B::Runner, M>,
    M: RawMutex,
    D: Fn() -> DF,
    DF: Future<Output = ()>,
{
    /// Runs the supervised process and, once it is ready (or at once, with
    /// [`callback_beside_process`](Supervisor::callback_beside_process)), `ready`; see the
    /// [module docs](super) for the timeline.
    ///
    /// # Errors
    ///
    /// - [`Error::RecursiveOrConcurrentRun`] at once if a run of this supervisor is active;
    /// - otherwise the callback's error (or [`Error::CallbackOverrun`] if it was dropped at its
    ///   [deadline](Supervisor::callback_deadline)), then the executor's last failure, merged;
    ///   an exhausted restart intensity adds [`Error::IntensityExceeded`] after the last
    ///   failure. A stop request is not an error; a stop request during a backoff returns the
    ///   failure that led to it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the process and the callback hard and releases the supervisor
    /// for the next run.
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        use embassy_futures::select::{Either, select};

        if !self.control.begin() {
            return Err(E::from(Error::RecursiveOrConcurrentRun));
        }
        let _active = Active(&self.control);
        let control = &self.control;
        // The process's context: not a child of the caller's, so that a forced stop from
        // outside reaches the callback (the process's dependents) first, and the process only
        // once the callback no longer runs.
        let process_ctx = Ctx::new();
        // The callback's context: cancelled with the caller's, and when the executor returns.
        let callback_ctx = ctx.child();
        // Cancelled once the callback no longer runs: returned, dropped at its deadline, or
        // never called.
        let released = Ctx::new();

        let op = Attempt { supervisor: self, process_ctx: &process_ctx };
        let executor = async {
            let mut execute = pin!(self.executor.execute(&process_ctx, op));
            // A forced stop (the caller's context, or `Control::cancel`) reaches the callback's
            // context first, the process's once the callback no longer runs.
            let mut forward = pin!(async {
                let cause = callback_ctx.cancelled().await;
                released.cancelled().await;
                cause
            });
            let mut forwarded = false;
            let result = poll_fn(|cx| {
                if control.poll_take_cancel(cx) {
                    process_ctx.cancel_with(Cause::Shutdown);
                }
                if control.poll_take_forced(cx) {
                    callback_ctx.cancel_with(Cause::Shutdown);
                }
                if !forwarded && let Poll::Ready(cause) = forward.as_mut().poll(cx) {
                    forwarded = true;
                    process_ctx.cancel_with(cause);
                }
                execute.as_mut().poll(cx)
            })
            .await;
            callback_ctx.cancel_with(match (&result, process_ctx.cause()) {
                // Asked to stop (a stop request, a forced stop from outside): the same cause.
                (_, Some(cause)) => cause,
                // The process gave up while its dependents ran.
                (Err(retry::Error::Transient(_) | retry::Error::Permanent(_) | retry::Error::Exhausted(_)), None) => {
                    Cause::DependencyFailed
                }
                (Ok(()) | Err(retry::Error::Internal(_)), None) => Cause::Parent,
            });
            control.finish();
            result
        };
        let callback = async {
            // Without readiness (the executor returned first, or a forced stop from outside
            // came first) the callback is never called.
            let open = self.beside
                || match select(poll_fn(|cx| control.poll_first_ready(cx)), callback_ctx.cancelled()).await {
                    Either::First(open) => open,
                    Either::Second(_) => false,
                };
            let result = if open {
                let watchdog = async {
                    callback_ctx.cancelled().await;
                    (self.deadline)().await;
                };
                // The callback wins a tie with its deadline.
                match select(ready(&callback_ctx), watchdog).await {
                    Either::First(result) => result,
                    Either::Second(()) => Err(E::from(Error::CallbackOverrun)),
                }
            } else {
                Ok(())
            };
            control.request_stop();
            released.cancel();
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
