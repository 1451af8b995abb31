//! [`DynGroup`]: any number of jobs of any types on a shared, managed context (needs
//! `alloc`).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::error::{Error, GoError};
use crate::ctx::Ctx;
use crate::slots::{Claim, Slots};

/// The future of a job of a [`DynGroup`]: boxed, `Send`, and free to borrow the group's
/// context for `'c`.
///
/// A job is a closure that makes one from the context: `|ctx| Box::pin(async move { .. })`.
pub type JobFuture<'c> = Pin<Box<dyn Future<Output = ()> + Send + 'c>>;

/// A job handed to `go`, boxed, with its type erased.
type Erased<'a> = Box<dyn Start<'a> + Send + 'a>;

/// The jobs handed to `go` and not yet started, in the order they came.
type Queue<'a> = VecDeque<Erased<'a>>;

/// A boxed job that starts on the group's context.
trait Start<'a> {
    fn start<'c>(self: Box<Self>, ctx: &'c Ctx<'a>) -> JobFuture<'c>
    where
        'a: 'c;
}

/// A job, boxed as it is (so that `go` can hand it back), then erased.
struct Boxed<F>(F);

impl<'a, F> Start<'a> for Boxed<F>
where
    F: for<'c> FnOnce(&'c Ctx<'a>) -> JobFuture<'c>,
{
    fn start<'c>(self: Box<Self>, ctx: &'c Ctx<'a>) -> JobFuture<'c>
    where
        'a: 'c,
    {
        (self.0)(ctx)
    }
}

/// A group of any number of concurrent jobs of any types on a managed context (with
/// `alloc`).
///
/// Nothing is spawned: [`go`](Self::go) hands the group a job (a closure that makes the job's
/// future from the group's context), which is boxed; the driver [`drive`](Self::drive), polled
/// by the group's owner, runs every job handed over concurrently, in the owner's task. The jobs
/// watch the context they receive, which [`cancel`](Self::cancel) and [`close`](Self::close)
/// cancel. [`done`](Self::done) waits until no job is left; [`close`](Self::close) also refuses
/// further jobs and ends the driver.
///
/// Unlike [`Group`](super::Group) there is no capacity: [`go`](Self::go) refuses a job only
/// once the group is closed ([`GoError::Closed`], with the job handed back; never
/// [`GoError::Full`]). Every job costs two allocations (the closure, then its future).
///
/// # Servers on every core
///
/// The jobs and their futures ([`JobFuture`]) are `Send`, so with the default mutex
/// ([`CriticalSectionRawMutex`]) the group is `Send` and `Sync` and its driver future is
/// `Send`: a group in a `static` or an `Arc` is driven by a `tokio::spawn`ed task on the
/// multi-threaded runtime, and handlers on any worker thread hand it jobs.
///
/// What stable Rust does not allow: a job given as an `async` closure (`async |ctx| ..`), since
/// the future of an `AsyncFnOnce` cannot be bounded by `Send` in a generic signature, and a
/// `dyn` future without the bound would make the driver not `Send`. Write the closure as
/// `|ctx| Box::pin(async move { .. })`, or `|ctx| Box::pin(serve(ctx))` for an `async fn`. A
/// job whose future is not `Send` (it holds an `Rc` across an `.await`) does not compile here;
/// run it in a [`Group`](super::Group) of boxed futures on a local executor instead.
///
/// Dropping the `drive` future drops every running job where it is (the hard stop), drops
/// the queued jobs and closes the group, so `done` and `close` complete instead of waiting for
/// jobs that are gone.
///
/// # Examples
///
/// ```
/// use embassy_futures::{block_on, join::join};
/// use procession::{Ctx, never};
/// use procession::shot::{DynGroup, GoError};
///
/// static ROOT: Ctx<'static> = Ctx::new();
/// static JOBS: DynGroup<'static> = DynGroup::new(&ROOT);
///
/// async fn serve(ctx: &Ctx<'_>) {
///     ctx.cancelled().await; // serve until the group is closed
/// }
///
/// // Jobs of different types, as many as needed.
/// JOBS.go(|ctx| Box::pin(serve(ctx))).unwrap();
/// let greeting = "hello";
/// JOBS.go(move |_ctx| Box::pin(async move { assert_eq!(greeting, "hello") })).unwrap();
/// for n in 0..10 {
///     JOBS.go(move |ctx| {
///         Box::pin(async move {
///             ctx.cancelled().await;
///             assert!(n < 10);
///         })
///     })
///     .unwrap();
/// }
///
/// let driver = JOBS.drive();
/// let (ran, closed) = block_on(join(driver, JOBS.close(never())));
/// assert_eq!((ran, closed), (Ok(()), Ok(())));
/// assert!(matches!(JOBS.go(|ctx| Box::pin(serve(ctx))), Err(GoError::Closed(_))));
/// ```
///
/// A job whose future is not `Send` is refused where it is handed over, not later where the
/// driver is spawned:
///
/// ```compile_fail
/// use std::rc::Rc;
/// use procession::shot::DynGroup;
///
/// let group: DynGroup<'static> = DynGroup::detached();
/// let _ = group.go(|ctx| {
///     Box::pin(async move {
///         let local = Rc::new(0); // not `Send`, held across an `.await`
///         ctx.cancelled().await;
///         drop(local);
///     })
/// });
/// ```
pub struct DynGroup<'a, M: RawMutex = CriticalSectionRawMutex> {
    /// The jobs handed to `go`, not yet started by the driver, are its queue.
    jobs: Slots<'a, M, Queue<'a>, ()>,
}

impl<M: RawMutex> DynGroup<'static, M> {
    /// Creates a group whose context is a root of its own (no parent). Its jobs must be
    /// `'static`; for jobs that borrow locals, give the group a local parent with
    /// [`new`](Self::new).
    pub const fn detached() -> Self {
        Self::with_ctx(Ctx::new())
    }
}

impl<'a, M: RawMutex> DynGroup<'a, M> {
    /// Creates a group whose context is a child of `parent`.
    ///
    /// Allocates nothing until the first [`go`](Self::go).
    pub const fn new(parent: &'a Ctx<'a>) -> Self {
        Self::with_ctx(parent.child())
    }

    const fn with_ctx(ctx: Ctx<'a>) -> Self {
        Self { jobs: Slots::new(ctx, VecDeque::new(), ()) }
    }

    /// The group's context, the one every job receives: cancelled by
    /// [`cancel`](Self::cancel), [`close`](Self::close), a dropped driver and the parent.
    pub fn context(&self) -> &Ctx<'a> {
        self.jobs.context()
    }

    /// Cancels the context without waiting; the jobs keep running until they return, and
    /// the group still accepts jobs (they see a cancelled context). Returns `true` if this call
    /// cancelled it.
    pub fn cancel(&self) -> bool {
        self.jobs.context().cancel()
    }

    /// Hands `job` to the group; the driver ([`drive`](Self::drive)) calls it with the
    /// group's context and runs the future it returns beside the other jobs.
    ///
    /// `job` is a closure of a `&Ctx` returning a [`JobFuture`]: `|ctx| Box::pin(async move {
    /// .. })`. It is boxed, and it and its future must be `Send` (so that the driver is). It may
    /// borrow anything that outlives the group's lifetime `'a`. There is no capacity limit.
    ///
    /// # Errors
    ///
    /// - [`GoError::Closed`] after [`close`](Self::close), or once the driver ended or was
    ///   dropped; the job is handed back, never called. ([`GoError::Full`] never happens.)
    pub fn go<F>(&self, job: F) -> Result<(), GoError<F>>
    where
        F: for<'c> FnOnce(&'c Ctx<'a>) -> JobFuture<'c> + Send + 'a,
    {
        // Allocated outside the lock; coerced under it, which allocates nothing.
        let boxed = Box::new(Boxed(job));
        let push = |queue: &mut Queue<'a>, boxed: Box<Boxed<F>>| {
            queue.push_back(boxed);
            Ok(())
        };
        self.jobs.go(boxed, usize::MAX, push).map_err(|refused| match refused {
            GoError::Full(boxed) | GoError::Closed(boxed) => GoError::Closed(boxed.0),
        })
    }

    /// Waits until no job is queued or running: at once if none is, otherwise until the group
    /// next becomes idle (even if a new job is handed over right after).
    ///
    /// A group is done whenever it is idle, so it can be done many times; it ends for good
    /// when it is closed ([`is_closed`](Self::is_closed)) and idle.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn done(&self) -> DynGroupDone<'_, 'a, M> {
        DynGroupDone { group: self, from: self.jobs.idle_from() }
    }

    /// Polls for an idle group: `Ready` while no job is queued or running; otherwise registers
    /// the waker of `cx`. Unlike the [`DynGroupDone`] future it does not remember an idle
    /// moment that a new job has already ended.
    pub fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.jobs.poll_idle(self.jobs.idle_from(), cx).map(|_| ())
    }

    /// Whether no job is queued or running: `done` would complete at once.
    pub fn is_done(&self) -> bool {
        self.jobs.idle_from().is_none()
    }

    /// Cancels the context, refuses further jobs, and waits until every job has returned or
    /// `deadline` completes. The driver returns once the group is closed and idle.
    ///
    /// # Errors
    ///
    /// - [`Error::Deadline`] if `deadline` completed first; the group stays closed and
    ///   cancelled, and the jobs still running keep running until they return (or the driver
    ///   is dropped).
    /// - [`Error::Overflow`] if this call could not wait (without `alloc`, more tasks waiting
    ///   than the slots and the spill table hold); the request stays in force.
    ///
    /// # Cancel safety
    ///
    /// The close happens at the first poll; dropping the future after that only stops the
    /// waiting.
    pub async fn close(&self, deadline: impl Future<Output = ()>) -> Result<(), Error> {
        self.jobs.close_cancel(deadline).await
    }

    /// Whether [`close`](Self::close) was called or the driver ended or was dropped.
    pub fn is_closed(&self) -> bool {
        self.jobs.with(|book| book.closed)
    }

    /// The driver: runs every job handed to [`go`](Self::go), all at once, until the group is
    /// closed and idle. Its owner polls it (an embassy task, a `tokio::spawn`ed task, a `join`
    /// arm); the jobs run inside it, in that task. The future is `Send` (see the type docs).
    ///
    /// # Errors
    ///
    /// - [`Error::Running`] if another driver runs this group now.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops every running job where it is (the hard stop), drops the queued jobs
    /// uncalled, cancels the context and closes the group: `done` and `close` complete, `go`
    /// refuses.
    pub async fn drive(&self) -> Result<(), Error> {
        // Its drop, when the driver returns or is dropped, ends the group.
        let claim = self.jobs.claim().ok_or(Error::Running)?;
        // Declared after `claim`, so dropped before it: the jobs go first.
        let mut running: FuturesUnordered<JobFuture<'_>> = FuturesUnordered::new();
        poll_fn(|cx| self.poll_drive(&claim, &mut running, cx)).await;
        Ok(())
    }

    fn poll_drive<'g>(
        &'g self,
        claim: &Claim<'_, 'a, M, Queue<'a>, ()>,
        running: &mut FuturesUnordered<JobFuture<'g>>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        loop {
            // Starts what is queued; `Pending` registered the driver for the next `go` or
            // `close`, under the lock of the look at the queue.
            let closed = loop {
                match self.jobs.poll_take(cx, claim, VecDeque::pop_front) {
                    Poll::Ready(Some(job)) => running.push(job.start(self.jobs.context())),
                    Poll::Ready(None) => break true,
                    Poll::Pending => break false,
                }
            };
            if running.is_empty() {
                // Nothing queued after the close (go refuses then), nothing running: idle.
                return if closed { Poll::Ready(()) } else { Poll::Pending };
            }
            loop {
                match running.poll_next_unpin(cx) {
                    Poll::Ready(Some(())) => self.jobs.ended(),
                    Poll::Ready(None) => break,
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
    }
}

impl<M: RawMutex> fmt::Debug for DynGroup<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (active, closed) = self.jobs.with(|book| (book.active, book.closed));
        f.debug_struct("DynGroup").field("active", &active).field("closed", &closed).finish_non_exhaustive()
    }
}

/// Future for the [`DynGroup::done`] method.
///
/// Completes when no job of the group is queued or running: at once if none was when it
/// was made, otherwise the next time the group becomes idle. Dropping it loses nothing.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct DynGroupDone<'g, 'a, M: RawMutex = CriticalSectionRawMutex> {
    group: &'g DynGroup<'a, M>,
    from: Option<u32>,
}

impl<M: RawMutex> Future for DynGroupDone<'_, '_, M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.group.jobs.poll_idle(self.from, cx).map(|_| ())
    }
}

impl<M: RawMutex> fmt::Debug for DynGroupDone<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynGroupDone").field("pending", &self.from.is_some()).finish_non_exhaustive()
    }
}
