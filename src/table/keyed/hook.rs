//! Hooks around each incarnation of a key, and the cleanup of a key that leaves: [`Hooks`],
//! [`PreFn`], [`PostFn`], [`RemovedFn`] and [`Ended`].

use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::ctx::Ctx;
use crate::error::StopLevel;
use crate::supervisor::Skip;

/// The future of a [`Skip`] hook: `Ok` at once, zero-sized, so that a setup without hooks
/// keeps nothing for them in the driver's future.
struct Nothing<E>(PhantomData<fn() -> E>);

impl<E> Future for Nothing<E> {
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }
}

const fn nothing<E>() -> Nothing<E> {
    Nothing(PhantomData)
}

/// How an incarnation ended, as the [`post`](Hooks::post) hook sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Ended<'e, E> {
    /// Its incarnation number ([`Entry::incarnation`](super::Entry::incarnation)).
    pub incarnation: u32,
    /// Whether it had been ready.
    pub was_ready: bool,
    /// The level of the stop that ended it ([`StopLevel::Graceful`] also when it ended by
    /// itself; [`StopLevel::Hard`] when its future was dropped).
    pub level: StopLevel,
    /// What it returned (its `pre` hook's error, if that failed).
    pub result: &'e Result<(), E>,
}

/// The `pre` hook of [`Hooks`]: an async function of the incarnation's context, the key, the
/// value it is built from and its runner, called before the runner runs.
///
/// Implemented by [`Skip`] (returns `Ok`, costs nothing) and by every
/// `AsyncFn(&Ctx<'_>, &K, &V, &R) -> Result<(), E>` closure.
pub trait PreFn<K, V, E, R> {
    /// Runs the hook (an `async fn` implements it).
    fn call(&self, ctx: &Ctx<'_>, key: &K, value: &V, runner: &R) -> impl Future<Output = Result<(), E>>;
}

impl<K, V, E, R> PreFn<K, V, E, R> for Skip {
    fn call(&self, _: &Ctx<'_>, _: &K, _: &V, _: &R) -> impl Future<Output = Result<(), E>> {
        nothing()
    }
}

impl<K, V, E, R, F> PreFn<K, V, E, R> for F
where
    F: AsyncFn(&Ctx<'_>, &K, &V, &R) -> Result<(), E>,
{
    async fn call(&self, ctx: &Ctx<'_>, key: &K, value: &V, runner: &R) -> Result<(), E> {
        self(ctx, key, value, runner).await
    }
}

/// The `post` hook of [`Hooks`]: an async function of a context, the key, the value the
/// incarnation was built from and how it [`Ended`], called once it has ended.
///
/// Implemented by [`Skip`] (returns `Ok`, costs nothing) and by every
/// `AsyncFn(&Ctx<'_>, &K, &V, &Ended<'_, E>) -> Result<(), E>` closure.
pub trait PostFn<K, V, E> {
    /// Runs the hook (an `async fn` implements it). `ended` is handed over by value, so that
    /// a hook that does nothing keeps nothing of it.
    fn call(&self, ctx: &Ctx<'_>, key: &K, value: &V, ended: Ended<'_, E>) -> impl Future<Output = Result<(), E>>;
}

impl<K, V, E> PostFn<K, V, E> for Skip {
    fn call(&self, _: &Ctx<'_>, _: &K, _: &V, _: Ended<'_, E>) -> impl Future<Output = Result<(), E>> {
        nothing()
    }
}

impl<K, V, E, F> PostFn<K, V, E> for F
where
    F: AsyncFn(&Ctx<'_>, &K, &V, &Ended<'_, E>) -> Result<(), E>,
{
    async fn call(&self, ctx: &Ctx<'_>, key: &K, value: &V, ended: Ended<'_, E>) -> Result<(), E> {
        self(ctx, key, value, &ended).await
    }
}

/// The `removed` hook of [`Hooks`]: an async function of a context, the key and the value its
/// last incarnation was built from, called once the key leaves the supervisor.
///
/// Implemented by [`Skip`] (does nothing; with it, a leaving key is freed at once, as without
/// hooks) and by every `AsyncFn(&Ctx<'_>, &K, &V) -> Result<(), E>` closure.
pub trait RemovedFn<K, V, E> {
    /// Whether there is a hook to run: `false` only for [`Skip`], whose keys are freed at once.
    const ACTIVE: bool = true;

    /// Runs the hook (an `async fn` implements it).
    fn call(&self, ctx: &Ctx<'_>, key: &K, value: &V) -> impl Future<Output = Result<(), E>>;
}

impl<K, V, E> RemovedFn<K, V, E> for Skip {
    const ACTIVE: bool = false;

    fn call(&self, _: &Ctx<'_>, _: &K, _: &V) -> impl Future<Output = Result<(), E>> {
        nothing()
    }
}

impl<K, V, E, F> RemovedFn<K, V, E> for F
where
    F: AsyncFn(&Ctx<'_>, &K, &V) -> Result<(), E>,
{
    async fn call(&self, ctx: &Ctx<'_>, key: &K, value: &V) -> Result<(), E> {
        self(ctx, key, value).await
    }
}

/// Hooks around each incarnation of a key, and the cleanup of a key that leaves, for
/// [`Setup::hooks`](super::Setup::hooks). Each hook runs in the key's slot of the driver, so
/// the hooks of one key never overlap one another nor the key's next incarnation. The default,
/// [`Hooks::new`], has none: it is zero-sized and costs nothing.
///
/// The shape and the names are those of the restart supervisor's
/// [`supervisor::Hook`](crate::supervisor::Hook) (and its no-op [`Skip`]); each hook receives
/// the key and the value as well. Unlike there, `pre` runs before the runner runs, not once it
/// is ready, so that its error is the incarnation's start failure.
///
/// - **`pre`** runs before each incarnation's runner runs (after the builder made it), with
///   the incarnation's context: a stop cancels it as it cancels the process. An error is that
///   incarnation's start failure: the runner does not run, the incarnation ends with it
///   ([`Error::Start`](super::Error::Start) for a waiting [`start`](super::KeyedSupervisor::start),
///   an [`Event::Exited`](super::Event::Exited) with it), and the restart policy decides as
///   for any failure before ready.
/// - **`post`** runs after each incarnation has ended (by itself, stopped, or dropped at the
///   hard level; also after a failed `pre`), with how it [`Ended`], before the end is
///   recorded: until it returns the key stays [`Running`](super::State::Running) or
///   [`Stopping`](super::State::Stopping), so that a [`stop`](super::KeyedSupervisor::stop)
///   returns after it. Its error is merged ([`Merge`](crate::error::Merge)) after the
///   incarnation's result, which the restart policy and [`Event::Exited`](super::Event::Exited)
///   then see. It runs on a child of the drive's context of the processes, to completion: bound
///   it yourself.
/// - **`removed`** runs once the key leaves: its process stopped because the key left the
///   table ([`Setup::prune`](super::Setup::prune)), or it was
///   [`forget`](super::KeyedSupervisor::forget)-ten. It runs after the last incarnation's
///   `post` and its [`Event::Exited`](super::Event::Exited), only for a key that ran an
///   incarnation (its value is the one that incarnation was built from), in the key's slot of
///   the driver; the slot is freed only after it returns. Meanwhile the key keeps its slot
///   ([`Stopped`](super::State::Stopped) if it was running, otherwise in the state it had), so
///   a [`start`](super::KeyedSupervisor::start) of it is refused with
///   [`Error::Exists`](super::Error::Exists), a `forget` with
///   [`Error::Busy`](super::Error::Busy), and a reconcile pass leaves it alone; a
///   [`restart`](super::KeyedSupervisor::restart) asked meanwhile gets
///   [`Error::StoppedBeforeReady`](super::Error::StoppedBeforeReady) when the slot is freed. It is bounded by the setup's
///   [`shutdown_deadlines`](super::Setup::shutdown_deadlines): when `graceful()` completes its
///   context is cancelled ([`Cause::Deadline`](crate::Cause::Deadline)), when `forced()`
///   completes it is dropped. Its result (an [`Overrun`](crate::error::Overrun) of the hard
///   level if dropped) is reported as [`Event::Removed`](super::Event::Removed), before
///   [`Event::Freed`](super::Event::Freed). A key freed at the end of a drive (every key is
///   forgotten when the next drive begins) does not run it.
///
/// A hook that panics unwinds through the driver (as the process would): the drive's future
/// is gone, and every handle waiting on a key gets [`Error::DriverGone`](super::Error::DriverGone).
///
/// # Examples
///
/// ```
/// use procession::table::{Ended, Hooks};
/// use procession::{Ctx, runner::Nop};
///
/// let hooks = Hooks::new()
///     .pre(async |_ctx: &Ctx<'_>, key: &u8, _value: &u32, _live: &Nop| -> Result<(), ()> {
///         let _ = key; // announce the key
///         Ok(())
///     })
///     .post(async |_ctx: &Ctx<'_>, _key: &u8, _value: &u32, ended: &Ended<'_, ()>| ended.result.clone())
///     .removed(async |_ctx: &Ctx<'_>, _key: &u8, _value: &u32| -> Result<(), ()> {
///         Ok(()) // release what the key held outside the process
///     });
/// # let _ = hooks;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Hooks<P = Skip, Q = Skip, D = Skip> {
    /// Called before each incarnation's runner runs.
    pub pre: P,
    /// Called after each incarnation has ended.
    pub post: Q,
    /// Called once the key leaves, before its slot is freed.
    pub removed: D,
}

impl Hooks {
    /// Hooks that do nothing.
    pub const fn new() -> Self {
        Self { pre: Skip, post: Skip, removed: Skip }
    }
}

impl<P, Q, D> Hooks<P, Q, D> {
    /// Sets the `pre` hook.
    pub fn pre<P2>(self, pre: P2) -> Hooks<P2, Q, D> {
        Hooks { pre, post: self.post, removed: self.removed }
    }

    /// Sets the `post` hook.
    pub fn post<Q2>(self, post: Q2) -> Hooks<P, Q2, D> {
        Hooks { pre: self.pre, post, removed: self.removed }
    }

    /// Sets the `removed` hook.
    pub fn removed<D2>(self, removed: D2) -> Hooks<P, Q, D2> {
        Hooks { pre: self.pre, post: self.post, removed }
    }
}
