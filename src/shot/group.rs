//! [`Group`]: up to `N` concurrent jobs on a shared, managed context (upstream
//! `shot.Group`).

use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_futures::join::join_array;
use embassy_sync::blocking_mutex::raw::RawMutex;
use heapless::Deque;

use super::Error;
use super::jobs::Jobs;
use crate::ctx::Ctx;

/// A group of up to `N` concurrent jobs on a managed context (upstream `Group`).
///
/// Nothing is spawned: [`go`](Self::go) hands the group a job (a value of type `T`), and the
/// driver [`run`](Self::run), polled by the group's owner, runs `job(context, item)` for every
/// item handed over, up to `N` at once, in the owner's task. The jobs watch the context, which
/// [`cancel`](Self::cancel) and [`close`](Self::close) cancel. [`wait`](Self::wait) waits until
/// no job is left; [`close`](Self::close) also refuses further jobs and ends the driver.
///
/// Upstream's `Go(fn func(ctx))` takes any function. Without a heap the group holds the items
/// (no futures: those live in the driver's frame, `N` slots of one `async` function), so a
/// `static` group has a nameable type. More than `N` jobs at once, or one after `close`, are
/// refused and the item is handed back ([`GoError`]). With `alloc`, `T` can be a boxed future
/// and `job` the function that awaits it: any futures, still at most `N` at once; `DynGroup`
/// takes any job functions with no limit.
///
/// Dropping the `run` future drops every running job where it is (the hard stop), drops the
/// queued items and closes the group, so `wait` and `close` complete instead of waiting for
/// jobs that are gone.
///
/// # Examples
///
/// ```
/// use embassy_futures::{block_on, join::join};
/// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
/// use procession::Ctx;
/// use procession::shot::{GoError, Group};
///
/// static ROOT: Ctx<'static> = Ctx::new();
/// // Up to two connections at once; an item is a connection number.
/// static CONNECTIONS: Group<'static, CriticalSectionRawMutex, u32, 2> = Group::new(&ROOT);
///
/// async fn serve(ctx: &Ctx<'_>, connection: u32) {
///     ctx.cancelled().await; // serve until the group is closed
/// }
///
/// CONNECTIONS.go(1).unwrap();
/// CONNECTIONS.go(2).unwrap();
/// assert_eq!(CONNECTIONS.go(3), Err(GoError::Full(3)));
///
/// let driver = CONNECTIONS.run(serve);
/// let (ran, closed) = block_on(join(driver, CONNECTIONS.close(core::future::pending())));
/// assert_eq!((ran, closed), (Ok(()), Ok(())));
/// assert_eq!(CONNECTIONS.go(4), Err(GoError::Closed(4)));
/// ```
pub struct Group<'a, M: RawMutex, T, const N: usize> {
    /// The items handed to `go`, not yet taken by a worker of the driver, are its queue.
    jobs: Jobs<'a, M, Deque<T, N>>,
}

/// Why [`Group::go`] refused an item; holds the item.
///
/// Its `Debug` does not show the item, so that items need not be `Debug` (futures are not).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum GoError<T> {
    /// `N` jobs are queued or running already. Wait for one to end, or use a larger `N`.
    Full(T),
    /// The group is closed (or its driver was dropped): it runs nothing more.
    Closed(T),
}

impl<T> GoError<T> {
    /// The refused item.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) => item,
        }
    }
}

impl<T> fmt::Display for GoError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "group full",
            Self::Closed(_) => "closed",
        })
    }
}

impl<T> fmt::Debug for GoError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "Full(..)",
            Self::Closed(_) => "Closed(..)",
        })
    }
}

#[cfg(feature = "defmt")]
impl<T> defmt::Format for GoError<T> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Self::Full(_) => defmt::write!(f, "Full(..)"),
            Self::Closed(_) => defmt::write!(f, "Closed(..)"),
        }
    }
}

impl<T> core::error::Error for GoError<T> {}

// === impl Group ===

impl<M: RawMutex, T, const N: usize> Group<'static, M, T, N> {
    /// Creates a group whose context is a root of its own (no parent).
    pub const fn detached() -> Self {
        Self::with_ctx(Ctx::new())
    }
}

impl<'a, M: RawMutex, T, const N: usize> Group<'a, M, T, N> {
    /// Creates a group whose context is a child of `parent` (upstream `NewGroup(ctx)`).
    pub const fn new(parent: &'a Ctx<'a>) -> Self {
        Self::with_ctx(parent.child())
    }

    const fn with_ctx(ctx: Ctx<'a>) -> Self {
        Self { jobs: Jobs::new(ctx, Deque::new()) }
    }

    /// The group's context (upstream `Context`): cancelled by [`cancel`](Self::cancel),
    /// [`close`](Self::close) and the parent.
    pub fn context(&self) -> &Ctx<'a> {
        self.jobs.context()
    }

    /// Cancels the context (upstream `Cancel`); the jobs keep running until they return, and
    /// the group still accepts items (their jobs see a cancelled context). Returns `true` if
    /// this call cancelled it.
    pub fn cancel(&self) -> bool {
        self.jobs.context().cancel()
    }

    /// Hands `item` to the group (upstream `Go`); the driver ([`run`](Self::run)) runs its job.
    ///
    /// # Errors
    ///
    /// - [`GoError::Full`] when `N` jobs are queued or running.
    /// - [`GoError::Closed`] after [`close`](Self::close), or once the driver was dropped.
    pub fn go(&self, item: T) -> Result<(), GoError<T>> {
        self.jobs.go(item, N, Deque::push_back)
    }

    /// Waits until no job is queued or running (upstream `Wait`): at once if none is,
    /// otherwise until the group becomes idle.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn wait(&self) -> Wait<'_, 'a, M, T, N> {
        Wait { group: self, from: self.jobs.wait_from() }
    }

    /// Cancels the context, refuses further items, and waits until every job has returned or
    /// `deadline` completes (upstream `Close`). The driver returns once the group is closed and
    /// idle.
    ///
    /// # Errors
    ///
    /// - [`Error::Deadline`] if `deadline` completed first; the group stays closed and
    ///   cancelled.
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
    /// items and closes the group: `wait` and `close` complete.
    pub async fn run<J>(&self, job: J) -> Result<(), Error>
    where
        J: AsyncFn(&Ctx<'a>, T),
    {
        let _end = self.jobs.claim()?;
        join_array(core::array::from_fn::<_, N, _>(|_| self.worker(&job))).await;
        Ok(())
    }

    /// One slot of the driver: takes items and runs their jobs until the group is closed and
    /// nothing is queued.
    async fn worker<J>(&self, job: &J)
    where
        J: AsyncFn(&Ctx<'a>, T),
    {
        while let Some(item) = poll_fn(|cx| self.poll_take(cx)).await {
            job(self.jobs.context(), item).await;
            self.jobs.job_ended();
        }
    }

    /// The next item, or `None` once the group is closed and nothing is queued.
    fn poll_take(&self, cx: &Context<'_>) -> Poll<Option<T>> {
        let take = || {
            self.jobs.with_queue(|queue, closed| match queue.pop_front() {
                Some(item) => Some(Some(item)),
                None if closed => Some(None),
                None => None,
            })
        };
        if let Some(next) = take() {
            return Poll::Ready(next);
        }
        self.jobs.register_driver(cx);
        match take() {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
    }
}

impl<M: RawMutex, T, const N: usize> fmt::Debug for Group<'_, M, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (active, closed) = self.jobs.active_and_closed();
        f.debug_struct("Group")
            .field("capacity", &N)
            .field("active", &active)
            .field("closed", &closed)
            .finish_non_exhaustive()
    }
}

/// Future for the [`Group::wait`] method.
///
/// Completes when no job of the group is queued or running: at once if none was when it
/// was made, otherwise the next time the group becomes idle. Dropping it loses nothing.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Wait<'g, 'a, M: RawMutex, T, const N: usize> {
    group: &'g Group<'a, M, T, N>,
    from: Option<u32>,
}

impl<M: RawMutex, T, const N: usize> Future for Wait<'_, '_, M, T, N> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.group.jobs.poll_idle(self.from, cx)
    }
}

impl<M: RawMutex, T, const N: usize> fmt::Debug for Wait<'_, '_, M, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").field("pending", &self.from.is_some()).finish_non_exhaustive()
    }
}
