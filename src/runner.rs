//! The [`Runner`] contract, and adapters that build or wrap runners.

use core::future::Future;
use core::marker::PhantomData;
use core::task::Poll;

use crate::ctx::{Cause, Ctx, Latch};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Merge, Overrun, Phase, Prefix, StopLevel};

/// A process with a lifecycle: it starts, becomes ready, runs, and stops.
///
/// `run` starts the process. Once it is ready it calls `ready` (at most once: it is `FnOnce`)
/// and keeps running while `ready` runs; being inside `ready` means "running and ready for use".
/// There are three ways to stop it:
///
/// - **graceful**: `ready` returns. The process shuts down in an orderly way (its context is
///   still live, so it can flush, say goodbye, persist state) and `run` returns.
/// - **forced**: `ctx` is cancelled. The process stops promptly, still running its shutdown code.
/// - **hard**: the `run` future is dropped.
///
/// The contract, which every runner of this crate keeps and which its combinators rely on:
///
/// - `ready` is awaited *inside* the `run` future, so `run` returns only after `ready` has
///   returned (structured lifetimes; nothing outlives its parent).
/// - A runner may return without calling `ready`: that is a start failure.
/// - When the process fails or ends on its own while `ready` runs, it cancels the context it
///   passed to `ready` (a child of `ctx`), so that the callback returns soon after.
/// - A runner decides how to combine the callback's result with its own. The runners of this
///   crate give the callback's error precedence and never drop an error silently
///   ([`Merge`]).
/// - `&self`: a runner can run several times, also concurrently. State of one run lives in
///   the `run` future.
///
/// # Examples
///
/// Most runners are built with [`leaf`](crate::leaf), [`start_stop`](crate::start_stop) or
/// [`from_fn`]; implementing the trait by hand looks like this:
///
/// ```
/// use procession::{Ctx, Runner};
///
/// struct Led;
///
/// impl Runner<&'static str> for Led {
///     async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), &'static str>
///     where
///         F: AsyncFnOnce(&Ctx<'_>) -> Result<(), &'static str>,
///     {
///         // switch the LED on ...
///         let inner = ctx.child();
///         let result = ready(&inner).await;
///         // ... and off again.
///         result
///     }
/// }
///
/// let root = Ctx::new();
/// let result = embassy_futures::block_on(Led.run(&root, async |_ctx| Ok(())));
/// assert_eq!(result, Ok(()));
/// ```
pub trait Runner<E> {
    /// Runs the process; see the trait documentation for the contract.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future is the hard stop: the process and its callback are
    /// dropped wherever they are.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the runner's parts are")]
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>;
}

impl<E, R: Runner<E> + ?Sized> Runner<E> for &R {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        (**self).run(ctx, ready).await
    }
}

// === Nop ===

/// A runner that does nothing: it is ready at once and returns what its callback returns.
///
/// Returned by [`nop`]; also what every combinator does with zero children.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "a runner does nothing until it is run"]
pub struct Nop;

/// Returns a runner that performs no operations and returns when the callback does.
///
/// The callback gets the caller's context unchanged.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, Runner, nop};
///
/// let root = Ctx::new();
/// let result: Result<(), &str> = embassy_futures::block_on(nop().run(&root, async |_| Err("callback")));
/// assert_eq!(result, Err("callback"));
/// ```
pub const fn nop() -> Nop {
    Nop
}

impl<E> Runner<E> for Nop {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        ready(ctx).await
    }
}

// === FromFn ===

/// How a graceful or forced stop was asked of a [`from_fn`] process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stop {
    /// The callback returned: stop gracefully.
    Graceful,
    /// The run's context was cancelled: stop promptly.
    Forced(Cause),
}

/// The lifecycle of one run of a [`from_fn`] process, as seen by its closure.
///
/// The closure calls [`ready`](Self::ready) once the process is ready; the runner then calls
/// its own callback beside the closure. The closure waits for
/// [`stop_requested`](Self::stop_requested) and shuts down.
pub struct Lifecycle<'r> {
    run_ctx: &'r Ctx<'r>,
    ready: Latch,
    stopping: Latch,
}

impl Lifecycle<'_> {
    /// Marks the process ready: the runner's callback starts. Calling it again does nothing.
    pub fn ready(&self) {
        self.ready.set(Cause::Parent);
    }

    /// Whether [`ready`](Self::ready) was called.
    pub fn is_ready(&self) -> bool {
        self.ready.is_set()
    }

    /// Waits until a stop is asked: [`Stop::Graceful`] once the callback has returned,
    /// [`Stop::Forced`] once the run's context is cancelled, whichever comes first (graceful
    /// wins a tie).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: both conditions are sticky.
    pub async fn stop_requested(&self) -> Stop {
        let mut cancelled = core::pin::pin!(self.run_ctx.cancelled());
        core::future::poll_fn(|cx| {
            if self.stopping.poll_wait(cx).is_ready() {
                return Poll::Ready(Stop::Graceful);
            }
            cancelled.as_mut().poll(cx).map(Stop::Forced)
        })
        .await
    }
}

impl core::fmt::Debug for Lifecycle<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("ready", &self.is_ready())
            .field("stopping", &self.stopping.is_set())
            .finish_non_exhaustive()
    }
}

/// A runner made from an async closure (Go's `RunnerFunc`). Returned by [`from_fn`].
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct FromFn<G> {
    f: G,
}

impl<G> core::fmt::Debug for FromFn<G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FromFn").finish_non_exhaustive()
    }
}

/// Makes a runner from an async closure that gets the run's context and its [`Lifecycle`].
///
/// The closure starts the process and calls [`Lifecycle::ready`] once it is ready: the
/// runner's callback then starts, with a child of the run's context. The closure waits for
/// [`Lifecycle::stop_requested`] and shuts down, gracefully or forced as that says.
///
/// - A closure that returns without calling `ready` is a start failure: the callback never
///   runs, and the closure's result is returned.
/// - A closure that returns while the callback runs cancels the callback's context, with
///   [`Cause::DependencyFailed`] if it failed and [`Cause::Parent`] if it returned `Ok`, and
///   the runner waits for the callback to return.
/// - The result is the callback's error, then the closure's, merged ([`Merge`]).
///
/// Upstream's `RunnerFunc` hands the callback itself to the function; a closure cannot be
/// generic over the callback's type, so the runner calls it instead, which also keeps the
/// run's future `Send` whenever its parts are and needs no heap.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, MultiError, Runner, runner::{Lifecycle, Stop, from_fn}};
///
/// let sensor = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), MultiError<&str, 2>> {
///     // power the sensor up ...
///     lc.ready();
///     match lc.stop_requested().await {
///         Stop::Graceful => { /* finish the current sample, then power down */ }
///         Stop::Forced(_cause) => { /* power down now */ }
///     }
///     Ok(())
/// });
/// let root = Ctx::new();
/// assert!(embassy_futures::block_on(sensor.run(&root, async |_| Ok(()))).is_ok());
/// ```
pub const fn from_fn<G>(f: G) -> FromFn<G> {
    FromFn { f }
}

impl<E, G> Runner<E> for FromFn<G>
where
    E: Merge,
    G: AsyncFn(&Ctx<'_>, &Lifecycle<'_>) -> Result<(), E>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        use embassy_futures::select::{Either, select};

        let inner = ctx.child();
        let lc = Lifecycle { run_ctx: ctx, ready: Latch::new(), stopping: Latch::new() };
        let finished = Latch::new();
        // The callback arm comes first, so that the closure sees a graceful stop in the same poll.
        let callback = async {
            match select(lc.ready.wait(), finished.wait()).await {
                Either::First(_) => {
                    let result = ready(&inner).await;
                    lc.stopping.set(Cause::Parent);
                    result
                }
                Either::Second(_) => Ok(()),
            }
        };
        let body = async {
            let result = (self.f)(ctx, &lc).await;
            finished.set(Cause::Parent);
            inner.cancel_with(if result.is_ok() { Cause::Parent } else { Cause::DependencyFailed });
            result
        };
        let (callback, body) = embassy_futures::join::join(callback, body).await;
        crate::error::merge_results(callback, body)
    }
}

// === RunnerExt ===

/// Adapters for every [`Runner`].
pub trait RunnerExt<E>: Runner<E> + Sized {
    /// Marks every error of this runner with `prefix` (Go's `PrefixedError`), through the
    /// error type's [`Prefix`] implementation.
    ///
    /// Like upstream, this also prefixes an error that came from the callback and passed
    /// through this runner.
    fn prefix_err(self, prefix: &'static str) -> PrefixErr<Self> {
        PrefixErr { runner: self, prefix }
    }

    /// Converts the errors of this runner with `f`, so that a runner with its own error type
    /// fits into a tree with another one.
    ///
    /// The callback's error (of the outer type) is not passed through `f`: the inner runner
    /// sees its callback return `Ok` (a graceful stop), and the callback's error is given
    /// back unchanged with precedence, merged with the inner runner's converted error.
    fn map_err<F>(self, f: F) -> MapErr<Self, F, E> {
        MapErr { runner: self, f, inner_error: PhantomData }
    }

    /// Bounds the stop of this runner (graceful, then forced, then hard).
    ///
    /// When the callback returns, `graceful()` is called and the runner gets until that future
    /// completes to return by itself. Then its context is cancelled with
    /// [`Cause::Deadline`] and `forced()` is called: the runner gets until
    /// that future completes to return. Then its future is dropped.
    ///
    /// The deadlines are closures making any `Future<Output = ()>` (an embassy-time `Timer`, a
    /// tokio `sleep`, a manual clock's sleep) so that each run measures from its own stop.
    ///
    /// The result is the callback's error, then the runner's own (there is none after a hard
    /// stop), then, if the graceful deadline passed, an [`Overrun`] of phase [`Phase::Stop`]
    /// naming the level, converted into the error type; all merged. The callback's error is
    /// kept aside so that a hard stop cannot lose it: the wrapped runner sees its callback
    /// return `Ok`.
    ///
    /// The deadlines run from the moment the callback returns, whatever made it return (a
    /// graceful stop, or a failure that cancelled its context). A start failure never calls the
    /// callback and is not subject to them.
    fn with_stop_deadline<G, H>(self, graceful: G, forced: H) -> StopDeadline<Self, G, H> {
        StopDeadline { runner: self, graceful, forced }
    }

    /// Bounds the start of this runner: if it is not ready when `deadline()` completes, its
    /// context is cancelled with [`Cause::Deadline`] and `forced()` is
    /// called; if it has not returned (or become ready) when that completes, its future is
    /// dropped.
    ///
    /// Once the runner is ready the deadlines no longer apply. The result is the runner's own,
    /// merged, when the start deadline passed, with an [`Overrun`] of phase
    /// [`Phase::Start`] converted into the error type. A runner that returns `Ok` without
    /// becoming ready after the deadline still yields the overrun: a start that timed out
    /// is never reported as a success.
    fn with_start_deadline<G, H>(self, deadline: G, forced: H) -> StartDeadline<Self, G, H> {
        StartDeadline { runner: self, deadline, forced }
    }
}

impl<E, R: Runner<E>> RunnerExt<E> for R {}

/// Runner for the [`RunnerExt::prefix_err`] method.
#[derive(Debug, Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct PrefixErr<R> {
    runner: R,
    prefix: &'static str,
}

impl<E: Prefix, R: Runner<E>> Runner<E> for PrefixErr<R> {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.runner.run(ctx, ready).await.map_err(|e| e.prefix(self.prefix))
    }
}

/// Runner for the [`RunnerExt::map_err`] method.
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct MapErr<R, F, E> {
    runner: R,
    f: F,
    inner_error: PhantomData<fn() -> E>,
}

impl<R: core::fmt::Debug, F, E> core::fmt::Debug for MapErr<R, F, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MapErr").field("runner", &self.runner).finish_non_exhaustive()
    }
}

impl<E1, E2, R, M> Runner<E2> for MapErr<R, M, E1>
where
    R: Runner<E1>,
    M: Fn(E1) -> E2,
    E2: Merge,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E2>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E2>,
    {
        let mut callback_result = Ok(());
        let inner = self
            .runner
            .run(ctx, async |c: &Ctx<'_>| {
                callback_result = ready(c).await;
                Ok(())
            })
            .await;
        crate::error::merge_results(callback_result, inner.map_err(&self.f))
    }
}

/// Runner for the [`RunnerExt::with_stop_deadline`] method.
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct StopDeadline<R, G, H> {
    runner: R,
    graceful: G,
    forced: H,
}

impl<R: core::fmt::Debug, G, H> core::fmt::Debug for StopDeadline<R, G, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StopDeadline").field("runner", &self.runner).finish_non_exhaustive()
    }
}

impl<E, R, G, GF, H, HF> Runner<E> for StopDeadline<R, G, H>
where
    R: Runner<E>,
    G: Fn() -> GF,
    GF: Future<Output = ()>,
    H: Fn() -> HF,
    HF: Future<Output = ()>,
    E: Merge + From<Overrun>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        let inner = ctx.child();
        // Set when the callback has returned: the graceful stop has begun.
        let stopping = Latch::new();
        // The callback's result, kept here so that a hard stop does not lose it; the runner
        // gets `Ok` and the result is merged back first.
        let mut callback_result = None;
        let run = self.runner.run(&inner, async |c: &Ctx<'_>| {
            callback_result = Some(ready(c).await);
            stopping.set(Cause::Shutdown);
            Ok(())
        });
        let forced = AtomicBool::new(false);
        let watchdog = async {
            stopping.wait().await;
            escalate(&inner, (self.graceful)(), &forced, &self.forced).await;
        };
        let (own, level) = bounded(run, watchdog, &forced).await;
        let callback = callback_result.unwrap_or(Ok(()));
        report(callback, own, Phase::Stop, level)
    }
}

/// Runner for the [`RunnerExt::with_start_deadline`] method.
#[derive(Clone, Copy)]
#[must_use = "a runner does nothing until it is run"]
pub struct StartDeadline<R, G, H> {
    runner: R,
    deadline: G,
    forced: H,
}

impl<R: core::fmt::Debug, G, H> core::fmt::Debug for StartDeadline<R, G, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StartDeadline").field("runner", &self.runner).finish_non_exhaustive()
    }
}

impl<E, R, G, GF, H, HF> Runner<E> for StartDeadline<R, G, H>
where
    R: Runner<E>,
    G: Fn() -> GF,
    GF: Future<Output = ()>,
    H: Fn() -> HF,
    HF: Future<Output = ()>,
    E: Merge + From<Overrun>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        use embassy_futures::select::{Either, select};

        let inner = ctx.child();
        // Set when the runner calls its callback: it is ready, the deadlines no longer apply.
        let started = Latch::new();
        let run = self.runner.run(&inner, async |c: &Ctx<'_>| {
            started.set(Cause::Parent);
            ready(c).await
        });
        let forced = AtomicBool::new(false);
        let watchdog = async {
            if let Either::First(_) = select(started.wait(), (self.deadline)()).await {
                return core::future::pending().await;
            }
            let escalation = escalate(&inner, core::future::ready(()), &forced, &self.forced);
            if let Either::First(_) = select(started.wait(), escalation).await {
                // Ready after all, while forced: it runs on, and the overrun is reported.
                core::future::pending::<()>().await;
            }
        };
        let (own, level) = bounded(run, watchdog, &forced).await;
        report(Ok(()), own, Phase::Start, level)
    }
}

/// Waits for `first`, cancels `ctx` with `Cause::Deadline` (noting it in `forced`), then makes
/// the second deadline and waits for it: a deadline made at creation (a timer) measures from the
/// forced stop.
async fn escalate<S: Future<Output = ()>>(
    ctx: &Ctx<'_>,
    first: impl Future<Output = ()>,
    forced: &AtomicBool,
    second: impl FnOnce() -> S,
) {
    first.await;
    forced.store(true, Ordering::Relaxed);
    ctx.cancel_with(Cause::Deadline);
    second().await;
}

/// Runs `run` against a `watchdog` that completes when the hard deadline passed, and says at
/// which level `run` ended. The run wins a tie.
async fn bounded<T>(
    run: impl Future<Output = T>,
    watchdog: impl Future<Output = ()>,
    forced: &AtomicBool,
) -> (Option<T>, StopLevel) {
    use embassy_futures::select::{Either, select};

    match select(run, watchdog).await {
        Either::First(own) if forced.load(Ordering::Relaxed) => (Some(own), StopLevel::Forced),
        Either::First(own) => (Some(own), StopLevel::Graceful),
        Either::Second(()) => (None, StopLevel::Hard),
    }
}

/// The result of a deadline-bounded run: the callback's, then the runner's, then the overrun.
fn report<E: Merge + From<Overrun>>(
    callback: Result<(), E>,
    own: Option<Result<(), E>>,
    phase: Phase,
    level: StopLevel,
) -> Result<(), E> {
    let result = crate::error::merge_results(callback, own.unwrap_or(Ok(())));
    match level {
        StopLevel::Graceful => result,
        level => crate::error::merge_results(result, Err(E::from(Overrun { phase, level }))),
    }
}

// === boxed runners ===

#[cfg(feature = "alloc")]
pub use boxed::{BoxRunner, DynReady, DynRunner, LocalBoxFuture};

#[cfg(feature = "alloc")]
mod boxed {
    use alloc::boxed::Box;
    use core::future::Future;
    use core::marker::PhantomData;
    use core::pin::Pin;

    use super::Runner;
    use crate::ctx::Ctx;

    /// A boxed future that is not `Send`.
    pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

    /// The readiness callback of a [`DynRunner`], boxed.
    ///
    /// The second argument only ties the lifetimes: the callback is called with a context that
    /// lives no longer than the run (`'a: 'c`).
    pub type DynReady<'a, E> =
        Box<dyn for<'c> FnOnce(&'c Ctx<'c>, PhantomData<&'c &'a ()>) -> LocalBoxFuture<'c, Result<(), E>> + 'a>;

    /// The object-safe form of [`Runner`] (`alloc`), implemented for every runner.
    ///
    /// Use it through [`BoxRunner`] to keep runners of different types in one `Vec`; `dyn
    /// DynRunner<E>` (also `+ Send`, `+ Send + Sync`) is itself a [`Runner`], and so are `Box<R>`
    /// and `Arc<R>` of any runner. The trait is sealed: every [`Runner`] implements it. Boxed
    /// runners are not `Send`: stable Rust cannot yet say that the future of a generic runner
    /// is `Send` (return type notation is unstable). For a `Send` set of runners of different
    /// types, use a tuple.
    pub trait DynRunner<E>: sealed::Sealed<E> {
        /// Runs the runner with a boxed callback; see [`Runner::run`].
        fn run_boxed<'a>(&'a self, ctx: &'a Ctx<'a>, ready: DynReady<'a, E>) -> LocalBoxFuture<'a, Result<(), E>>
        where
            E: 'a;
    }

    impl<E, R: Runner<E>> DynRunner<E> for R {
        fn run_boxed<'a>(&'a self, ctx: &'a Ctx<'a>, ready: DynReady<'a, E>) -> LocalBoxFuture<'a, Result<(), E>>
        where
            E: 'a,
        {
            Box::pin(self.run(ctx, async move |c: &Ctx<'_>| ready(c, PhantomData).await))
        }
    }

    /// A boxed runner of any type (`alloc`): `Box<dyn DynRunner<E> + 'a>`, itself a [`Runner`].
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{Ctx, Runner, nop, parallel, runner::BoxRunner};
    /// use procession::MultiError;
    ///
    /// type Error = MultiError<&'static str, 4>;
    /// let children: Vec<BoxRunner<'_, Error>> = vec![Box::new(nop()), Box::new(parallel([nop(), nop()]))];
    /// let root = Ctx::new();
    /// let result = embassy_futures::block_on(parallel(children).run(&root, async |_| Ok(())));
    /// assert!(result.is_ok());
    /// ```
    pub type BoxRunner<'a, E> = Box<dyn DynRunner<E> + 'a>;

    macro_rules! dyn_runner {
        ($($bounds:tt)*) => {
            impl<E> Runner<E> for dyn DynRunner<E> $($bounds)* {
                async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
                where
                    F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
                {
                    let ready: DynReady<'_, E> = Box::new(move |c, _| Box::pin(ready(c)));
                    self.run_boxed(ctx, ready).await
                }
            }
        };
    }

    dyn_runner!(+ '_);
    dyn_runner!(+ Send + '_);
    dyn_runner!(+ Send + Sync + '_);

    impl<E, R: Runner<E> + ?Sized> Runner<E> for Box<R> {
        async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
        where
            F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
        {
            (**self).run(ctx, ready).await
        }
    }

    #[cfg(target_has_atomic = "ptr")]
    impl<E, R: Runner<E> + ?Sized> Runner<E> for alloc::sync::Arc<R> {
        async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
        where
            F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
        {
            (**self).run(ctx, ready).await
        }
    }

    mod sealed {
        /// Only the blanket implementation over [`Runner`](super::Runner) implements `DynRunner`.
        pub trait Sealed<E> {}
        impl<E, R: super::Runner<E>> Sealed<E> for R {}
    }
}
