//! [`Group`]: up to `N` concurrent jobs on a shared, managed context.

use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_futures::join::join_array;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use heapless::Deque;

use super::error::{Error, GoError};
use crate::ctx::Ctx;
use crate::slots::{Claim, Slots};

/// A group of up to `N` concurrent jobs on a managed context.
///
/// Nothing is spawned: [`go`](Self::go) hands the group a job (a value of type `T`), and the
/// driver [`drive`](Self::drive), polled by the group's owner, runs `job(context, item)` for
/// every item handed over, up to `N` at once, in the owner's task. The jobs watch the context,
/// which [`cancel`](Self::cancel) and [`close`](Self::close) cancel. [`done`](Self::done)
/// waits until no job is left; [`close`](Self::close) also refuses further jobs and ends the
/// driver.
///
/// Without a heap the group holds the items (no futures: those live in the driver's frame, `N`
/// slots of one `async` function), so a `static` group has a nameable type. More than `N` jobs
/// at once, or one after `close`, are refused and the item is handed back ([`GoError`]). With
/// `alloc`, `T` can be a boxed future and `job` the function that awaits it: any futures,
/// still at most `N` at once; `DynGroup` takes any job functions with no limit.
///
/// `N` (by default 4) is the capacity; `M` the blocking mutex of the bookkeeping (by default
/// [`CriticalSectionRawMutex`], which makes the group `Send` and `Sync` when `T` is `Send`).
/// The driver's future is `Send` when the job's future is, which the compiler checks where
/// the driver is spawned (a generic bound cannot say it for an `AsyncFn`). On stable Rust that
/// check succeeds only for a job function that captures nothing: a capture is borrowed by the
/// future of every call, and the compiler cannot prove that borrow `Send` for every lifetime
/// ("implementation of `Send` is not general enough"). Pass what a job needs in its item
/// (`T = (Request, Arc<State>)`), or use `DynGroup`, whose jobs are boxed `Send` futures.
///
/// The job function receives the context as a `&Ctx<'_>` of any lifetime (an `async fn
/// serve(ctx: &Ctx<'_>, item: T)` fits).
///
/// Dropping the `drive` future drops every running job where it is (the hard stop), drops the
/// queued items and closes the group, so `done` and `close` complete instead of waiting for
/// jobs that are gone.
///
/// # Examples
///
/// ```
/// use embassy_futures::{block_on, join::join};
/// use procession::{Ctx, never};
/// use procession::shot::{GoError, Group};
///
/// static ROOT: Ctx<'static> = Ctx::new();
/// // Up to two connections at once; an item is a connection number.
/// static CONNECTIONS: Group<'static, u32, 2> = Group::new(&ROOT);
///
/// async fn serve(ctx: &Ctx<'_>, connection: u32) {
///     ctx.cancelled().await; // serve until the group is closed
/// }
///
/// CONNECTIONS.go(1).unwrap();
/// CONNECTIONS.go(2).unwrap();
/// assert_eq!(CONNECTIONS.go(3), Err(GoError::Full(3)));
///
/// let driver = CONNECTIONS.drive(serve);
/// let (ran, closed) = block_on(join(driver, CONNECTIONS.close(never())));
/// assert_eq!((ran, closed), (Ok(()), Ok(())));
/// assert_eq!(CONNECTIONS.go(4), Err(GoError::Closed(4)));
/// ```
pub struct Group<'a, T, const N: usize = 4, M: RawMutex = CriticalSectionRawMutex> {
    /// The items handed to `go`, not yet taken by a worker of the driver, are its queue.
    jobs: Slots<'a, M, Deque<T, N>, ()>,
}

// === impl Group ===

impl<T, const N: usize, M: RawMutex> Group<'static, T, N, M> {
    /// Creates a group whose context is a root of its own (no parent).
    pub const fn detached() -> Self {
        Self::with_ctx(Ctx::new())
    }
}

impl<'a, T, const N: usize, M: RawMutex> Group<'a, T, N, M> {
    /// Creates a group whose context is a child of `parent`.
    pub const fn new(parent: &'a Ctx<'a>) -> Self {
        Self::with_ctx(parent.child())
    }

    const fn with_ctx(ctx: Ctx<'a>) -> Self {
        Self { jobs: Slots::new(ctx, Deque::new(), ()) }
    }

    /// The group's context: cancelled by [`cancel`](Self::cancel),
    /// [`close`](Self::close) and the parent.
    pub fn context(&self) -> &Ctx<'a> {
        self.jobs.context()
    }

    /// Cancels the context without waiting; the jobs keep running until they return, and
    /// the group still accepts items (their jobs see a cancelled context). Returns `true` if
    /// this call cancelled it.
    pub fn cancel(&self) -> bool {
        self.jobs.context().cancel()
    }

    /// Hands `item` to the group; the driver ([`drive`](Self::drive)) runs its job.
    ///
    /// # Errors
    ///
    /// - [`GoError::Full`] when `N` jobs are queued or running.
    /// - [`GoError::Closed`] after [`close`](Self::close), or once the driver was dropped.
    pub fn go(&self, item: T) -> Result<(), GoError<T>> {
        self.jobs.go(item, N, Deque::push_back)
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
    pub fn done(&self) -> GroupDone<'_, 'a, T, N, M> {
        GroupDone { group: self, from: self.jobs.idle_from() }
    }

    /// Polls for an idle group: `Ready` while no job is queued or running; otherwise registers
    /// the waker of `cx`. Unlike the [`GroupDone`] future it does not remember an idle moment
    /// that a new job has already ended.
    pub fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.jobs.poll_idle(self.jobs.idle_from(), cx).map(|_| ())
    }

    /// Whether no job is queued or running: `done` would complete at once.
    pub fn is_done(&self) -> bool {
        self.jobs.idle_from().is_none()
    }

    /// Cancels the context, refuses further items, and waits until every job has returned or
    /// `deadline` completes. The driver returns once the group is closed and idle.
    ///
    /// # Errors
    ///
    /// - [`Error::Deadline`] if `deadline` completed first; the group stays closed and
    ///   cancelled.
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

    /// The driver: runs `job(context, item)` for every item handed to [`go`](Self::go), up to
    /// `N` at once, until the group is closed and idle. Its owner polls it (an embassy task, a
    /// tokio task, a `join` arm).
    ///
    /// # Errors
    ///
    /// - [`Error::Running`] if another driver runs this group now.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops every running job where it is (the hard stop), drops the queued
    /// items and closes the group: `done` and `close` complete.
    pub async fn drive<J>(&self, job: J) -> Result<(), Error>
    where
        J: AsyncFn(&Ctx<'_>, T),
    {
        // Its drop, when the driver returns or is dropped, ends the group.
        let claim = self.jobs.claim().ok_or(Error::Running)?;
        join_array(core::array::from_fn::<_, N, _>(|_| self.worker(&claim, &job))).await;
        Ok(())
    }

    /// One slot of the driver: takes items and runs their jobs until the group is closed and
    /// nothing is queued.
    async fn worker<J>(&self, claim: &Claim<'_, 'a, M, Deque<T, N>, ()>, job: &J)
    where
        J: AsyncFn(&Ctx<'_>, T),
    {
        while let Some(item) = poll_fn(|cx| self.jobs.poll_take(cx, claim, Deque::pop_front)).await {
            job(self.jobs.context(), item).await;
            self.jobs.ended();
        }
    }
}

impl<T, const N: usize, M: RawMutex> fmt::Debug for Group<'_, T, N, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (active, closed) = self.jobs.with(|book| (book.active, book.closed));
        f.debug_struct("Group")
            .field("capacity", &N)
            .field("active", &active)
            .field("closed", &closed)
            .finish_non_exhaustive()
    }
}

/// Future for the [`Group::done`] method.
///
/// Completes when no job of the group is queued or running: at once if none was when it
/// was made, otherwise the next time the group becomes idle. Dropping it loses nothing.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct GroupDone<'g, 'a, T, const N: usize = 4, M: RawMutex = CriticalSectionRawMutex> {
    group: &'g Group<'a, T, N, M>,
    from: Option<u32>,
}

impl<T, const N: usize, M: RawMutex> Future for GroupDone<'_, '_, T, N, M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.group.jobs.poll_idle(self.from, cx).map(|_| ())
    }
}

impl<T, const N: usize, M: RawMutex> fmt::Debug for GroupDone<'_, '_, T, N, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupDone").field("pending", &self.from.is_some()).finish_non_exhaustive()
    }
}
