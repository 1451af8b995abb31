//! [`DynGroup`]: any number of jobs of any types on a shared, managed context (upstream
//! `shot.Group` with any functions and no capacity limit; needs `alloc`).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_sync::blocking_mutex::raw::RawMutex;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::jobs::Jobs;
use super::{Error, GoError};
use crate::ctx::Ctx;

/// A job body, boxed.
type Body<'c> = Pin<Box<dyn Future<Output = ()> + 'c>>;

/// A job handed to `go`, boxed, with its type erased.
type Erased<'a> = Box<dyn Start<'a> + 'a>;

/// A boxed job that starts on the group's context.
trait Start<'a>: Send {
    fn start<'c>(self: Box<Self>, ctx: &'c Ctx<'a>) -> Body<'c>
    where
        'a: 'c;
}

/// A job, boxed as it is (so that `go` can hand it back), then erased.
struct Boxed<F>(F);

impl<'a, F> Start<'a> for Boxed<F>
where
    F: AsyncFnOnce(&Ctx<'a>) + Send + 'a,
{
    fn start<'c>(self: Box<Self>, ctx: &'c Ctx<'a>) -> Body<'c>
    where
        'a: 'c,
    {
        Box::pin((self.0)(ctx))
    }
}

/// A group of any number of concurrent jobs of any types on a managed context (upstream
/// `Group`, with `alloc`).
///
/// Nothing is spawned: [`go`](Self::go) hands the group a job (an `async` function of the
/// group's context, upstream `Go(fn func(ctx))`), which is boxed; the driver
/// [`run`](Self::run), polled by the group's owner, runs every job handed over concurrently, in
/// the owner's task. The jobs watch the context they receive, which [`cancel`](Self::cancel)
/// and [`close`](Self::close) cancel. [`wait`](Self::wait) waits until no job is left;
/// [`close`](Self::close) also refuses further jobs and ends the driver.
///
/// Unlike [`Group`](super::Group) there is no capacity: [`go`](Self::go) refuses a job only
/// once the group is closed ([`GoError::Closed`], with the job handed back; never
/// [`GoError::Full`]). Every job costs two allocations (the function, then its future).
///
/// The jobs (the functions) must be `Send`, so that a group in a `static` is `Sync` and `go`
/// works from any thread; their futures need not be, so the driver is not `Send`: poll it in
/// an embassy task, a `join`, `block_on` or a tokio `LocalSet`, not a `tokio::spawn`. (Stable
/// Rust cannot yet require the future of an `AsyncFnOnce` to be `Send`.)
///
/// Dropping the `run` future drops every running job where it is (the hard stop), drops the
/// queued jobs and closes the group, so `wait` and `close` complete instead of waiting for
/// jobs that are gone.
///
/// # Examples
///
/// ```
/// use embassy_futures::{block_on, join::join};
/// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
/// use procession::Ctx;
/// use procession::shot::{DynGroup, GoError};
///
/// static ROOT: Ctx<'static> = Ctx::new();
/// static JOBS: DynGroup<'static, CriticalSectionRawMutex> = DynGroup::new(&ROOT);
///
/// async fn serve(ctx: &Ctx<'_>) {
///     ctx.cancelled().await; // serve until the group is closed
/// }
///
/// // Jobs of different types, as many as needed.
/// JOBS.go(serve).unwrap();
/// let greeting = "hello";
/// JOBS.go(async move |_ctx| assert_eq!(greeting, "hello")).unwrap();
/// for n in 0..10 {
///     JOBS.go(async move |ctx| {
///         ctx.cancelled().await;
///         assert!(n < 10);
///     })
///     .unwrap();
/// }
///
/// let driver = JOBS.run();
/// let (ran, closed) = block_on(join(driver, JOBS.close(core::future::pending())));
/// assert_eq!((ran, closed), (Ok(()), Ok(())));
/// assert!(matches!(JOBS.go(serve), Err(GoError::Closed(_))));
/// ```
pub struct DynGroup<'a, M: RawMutex> {
    /// The jobs handed to `go`, not yet started by the driver, are its queue.
    jobs: Jobs<'a, M, Vec<Erased<'a>>>,
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
    /// Creates a group whose context is a child of `parent` (upstream `NewGroup(ctx)`).
    ///
    /// Allocates nothing until the first [`go`](Self::go).
    pub const fn new(parent: &'a Ctx<'a>) -> Self {
        Self::with_ctx(parent.child())
    }

    const fn with_ctx(ctx: Ctx<'a>) -> Self {
        Self { jobs: Jobs::new(ctx, Vec::new()) }
    }

    /// The group's context (upstream `Context`), the one every job receives: cancelled by
    /// [`cancel`](Self::cancel), [`close`](Self::close), a dropped driver and the parent.
    pub fn context(&self) -> &Ctx<'a> {
        self.jobs.context()
    }

    /// Cancels the context (upstream `Cancel`); the jobs keep running until they return, and
    /// the group still accepts jobs (they see a cancelled context). Returns `true` if this call
    /// cancelled it.
    pub fn cancel(&self) -> bool {
        self.jobs.context().cancel()
    }

    /// Hands `job` to the group (upstream `Go`); the driver ([`run`](Self::run)) calls it with
    /// the group's context and runs its future beside the other jobs.
    ///
    /// `job` is any `async` function of a `&Ctx` (an `async` closure, an `async fn`, a closure
    /// returning a future); it is boxed, and must be `Send` (its future need not be). It may
    /// borrow anything that outlives the group's lifetime `'a`. There is no capacity limit.
    ///
    /// # Errors
    ///
    /// - [`GoError::Closed`] after [`close`](Self::close), or once the driver was dropped; the
    ///   job is handed back, never called. ([`GoError::Full`] never happens.)
    pub fn go<F>(&self, job: F) -> Result<(), GoError<F>>
    where
        F: AsyncFnOnce(&Ctx<'a>) + Send + 'a,
    {
        // Allocated outside the lock; coerced under it, which allocates nothing.
        let boxed = Box::new(Boxed(job));
        let push = |queue: &mut Vec<Erased<'a>>, boxed: Box<Boxed<F>>| {
            queue.push(boxed);
            Ok(())
        };
        self.jobs.go(boxed, usize::MAX, push).map_err(|refused| match refused {
            GoError::Full(boxed) | GoError::Closed(boxed) => GoError::Closed(boxed.0),
        })
    }

    /// Waits until no job is queued or running (upstream `Wait`): at once if none is,
    /// otherwise until the group becomes idle.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn wait(&self) -> DynWait<'_, 'a, M> {
        DynWait { group: self, from: self.jobs.wait_from() }
    }

    /// Cancels the context, refuses further jobs, and waits until every job has returned or
    /// `deadline` completes (upstream `Close`). The driver returns once the group is closed and
    /// idle.
    ///
    /// # Errors
    ///
    /// - [`Error::Deadline`] if `deadline` completed first; the group stays closed and
    ///   cancelled, and the jobs still running keep running until they return (or the driver
    ///   is dropped).
    ///
    /// # Cancel safety
    ///
    /// The close happens at the first poll; dropping the future after that only stops the
    /// waiting.
    pub async fn close(&self, deadline: impl Future<Output = ()>) -> Result<(), Error> {
        self.jobs.close(deadline).await
    }

    /// Whether [`close`](Self::close) was called or the driver was dropped.
    pub fn is_closed(&self) -> bool {
        self.jobs.is_closed()
    }

    /// The driver: runs every job handed to [`go`](Self::go), all at once, until the group is
    /// closed and idle. Its owner polls it (an embassy task, a tokio task, a `join` arm); the
    /// jobs run inside it, in that task.
    ///
    /// # Errors
    ///
    /// - [`Error::Running`] if another driver runs this group now.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops every running job where it is (the hard stop), drops the queued jobs
    /// uncalled, cancels the context and closes the group: `wait` and `close` complete, `go`
    /// refuses.
    pub async fn run(&self) -> Result<(), Error> {
        let _end = self.jobs.claim()?;
        // Declared after `_end`, so dropped before it: the jobs go first.
        let mut running: FuturesUnordered<Body<'_>> = FuturesUnordered::new();
        poll_fn(|cx| self.poll_drive(&mut running, cx)).await;
        Ok(())
    }

    fn poll_drive<'g>(&'g self, running: &mut FuturesUnordered<Body<'g>>, cx: &mut Context<'_>) -> Poll<()> {
        // Registered before looking at the queue: a `go` or `close` after the look wakes us.
        self.jobs.register_driver(cx);
        loop {
            let (jobs, closed) = self.jobs.with_queue(|queue, closed| (core::mem::take(queue), closed));
            if jobs.is_empty() && running.is_empty() {
                // Nothing queued after `closed` (go refuses then), nothing running: idle.
                return if closed { Poll::Ready(()) } else { Poll::Pending };
            }
            for job in jobs {
                running.push(job.start(self.jobs.context()));
            }
            loop {
                match running.poll_next_unpin(cx) {
                    Poll::Ready(Some(())) => self.jobs.job_ended(),
                    Poll::Ready(None) => break,
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
    }
}

impl<M: RawMutex> fmt::Debug for DynGroup<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (active, closed) = self.jobs.active_and_closed();
        f.debug_struct("DynGroup").field("active", &active).field("closed", &closed).finish_non_exhaustive()
    }
}

/// Future for the [`DynGroup::wait`] method.
///
/// Completes when no job of the group is queued or running: at once if none was when it
/// was made, otherwise the next time the group becomes idle. Dropping it loses nothing.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct DynWait<'g, 'a, M: RawMutex> {
    group: &'g DynGroup<'a, M>,
    from: Option<u32>,
}

impl<M: RawMutex> Future for DynWait<'_, '_, M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.group.jobs.poll_idle(self.from, cx)
    }
}

impl<M: RawMutex> fmt::Debug for DynWait<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynWait").field("pending", &self.from.is_some()).finish_non_exhaustive()
    }
}
