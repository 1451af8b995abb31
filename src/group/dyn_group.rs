//! [`DynGroup`]: any number of boxed runners of any types (needs `alloc`).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_futures::join::join;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::core::{Core, Gen};
use super::{Error, GoError};
use crate::ctx::Ctx;
use crate::error::Overrun;
use crate::runner::{DynRunner, LocalBoxFuture, Runner};
use crate::slots::Claim;

/// A child handed to `go`: its runner and its at-exit function, boxed, with their types
/// erased.
type Entry<'a, E> = Box<dyn Child<'a, E> + Send + 'a>;

type Queue<'a, E> = VecDeque<Entry<'a, E>>;

type DynClaim<'s, 'a, E, M> = Claim<'s, 'a, M, Queue<'a, E>, Gen>;

/// A boxed runner with its at-exit function.
trait Child<'a, E> {
    fn runner(&self) -> &(dyn DynRunner<E> + 'a);
    fn exit(self: Box<Self>, result: Result<(), E>);
}

/// A child, boxed as it is (so that `go` can hand it back), then erased.
struct Pair<R, X> {
    runner: R,
    at_exit: X,
}

impl<'a, E, R, X> Child<'a, E> for Pair<R, X>
where
    R: Runner<E> + 'a,
    X: FnOnce(Result<(), E>),
{
    fn runner(&self) -> &(dyn DynRunner<E> + 'a) {
        &self.runner
    }

    fn exit(self: Box<Self>, result: Result<(), E>) {
        (self.at_exit)(result);
    }
}

/// A group of any number of runners of any types started at runtime and stopped together,
/// gracefully first (with `alloc`).
///
/// The boxed form of [`Group`](super::Group), with the same semantics (see the
/// [module docs](crate::group)) and pact's shape: [`go`](Self::go) takes a runner and the
/// function to call with its result, and the group is itself a [`Runner`]. There is no
/// capacity: `go` refuses a child only once the group is closed ([`GoError::Closed`]; never
/// [`GoError::Full`]). Every child costs two allocations (the pair of runner and at-exit
/// function, and its run future).
///
/// `E` is the children's error type, also that of the `Runner` form. The runners and at-exit
/// functions must be `Send` (so that a `static` group is `Sync`); the driver's future is not
/// `Send`, since the run futures of boxed runners are not (see
/// [`DynRunner`](crate::runner::DynRunner)).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use procession::{Ctx, Runner, TreeError, nop, parallel};
/// use procession::group::DynGroup;
///
/// // `TreeError` takes the group's own errors and the children's overruns as they are.
/// static EXITS: AtomicUsize = AtomicUsize::new(0);
/// let root = Ctx::new();
/// let group: DynGroup<'_, TreeError> = DynGroup::new(&root);
/// let count = |result: Result<(), TreeError>| {
///     assert!(result.is_ok());
///     EXITS.fetch_add(1, Ordering::SeqCst);
/// };
/// let result = embassy_futures::block_on(group.run(&root, async |_| {
///     // Runners of different types, as many as needed.
///     group.go(nop(), count).unwrap();
///     group.go(parallel([nop(), nop()]), count).unwrap();
///     Ok(())
/// }));
/// assert_eq!(result, Ok(()));
/// assert_eq!(EXITS.load(Ordering::SeqCst), 2);
/// ```
pub struct DynGroup<'a, E, M: RawMutex = CriticalSectionRawMutex> {
    core: Core<'a, M, Queue<'a, E>>,
}

impl<E, M: RawMutex> DynGroup<'static, E, M> {
    /// Creates a group whose context is a root of its own (no parent).
    pub const fn detached() -> Self {
        Self::with_ctx(Ctx::new())
    }
}

impl<'a, E, M: RawMutex> DynGroup<'a, E, M> {
    /// Creates a group whose context is a child of `parent`. Allocates nothing until the
    /// first [`go`](Self::go).
    pub const fn new(parent: &'a Ctx<'a>) -> Self {
        Self::with_ctx(parent.child())
    }

    const fn with_ctx(ctx: Ctx<'a>) -> Self {
        Self { core: Core::new(ctx, VecDeque::new()) }
    }

    /// Hands `runner` to the group and returns at once; the driver runs it and calls
    /// `at_exit` with its result (an [`Overrun`] of the hard level if [`stop`](Self::stop)
    /// dropped it). See [`Group::go`](super::Group::go) for the generation it joins.
    ///
    /// # Errors
    ///
    /// - [`GoError::Closed`] after [`stop`](Self::stop), or once a driver was dropped while
    ///   children ran; the pair is handed back, never run.
    pub fn go<R, X>(&self, runner: R, at_exit: X) -> Result<(), GoError<(R, X)>>
    where
        R: Runner<E> + Send + 'a,
        X: FnOnce(Result<(), E>) + Send + 'a,
        E: 'a,
    {
        // Allocated outside the lock; coerced under it, which allocates nothing.
        let boxed = Box::new(Pair { runner, at_exit });
        let push = |queue: &mut Queue<'a, E>, boxed: Box<Pair<R, X>>| {
            queue.push_back(boxed);
            Ok(())
        };
        self.core.slots.go(boxed, usize::MAX, push).map_err(|refused| {
            let pair = *refused.into_inner();
            GoError::Closed((pair.runner, pair.at_exit))
        })
    }

    /// As [`Group::wait`](super::Group::wait).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future withdraws the wait.
    pub fn wait(&self) -> DynWait<'_, 'a, E, M> {
        DynWait { group: self, epoch: self.core.wait_begin() }
    }

    /// As [`Group::done`](super::Group::done).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn done(&self) -> DynDone<'_, 'a, E, M> {
        DynDone { group: self, from: self.core.slots.idle_from() }
    }

    /// The driver: runs every child handed to [`go`](Self::go), all at once, and calls its
    /// at-exit function when it returns, until the group is closed and idle. Cancelling `ctx`
    /// cancels every child with [`Cause::Parent`](crate::Cause::Parent).
    ///
    /// # Errors
    ///
    /// - [`Error::Busy`] at once if another driver (or a [`run`](Runner::run)) drives this
    ///   group now.
    ///
    /// # Cancel safety
    ///
    /// As [`Group::drive`](super::Group::drive): dropped while children run, it drops them
    /// and closes the group; otherwise it only gives its place up.
    pub async fn drive(&self, ctx: &Ctx<'_>) -> Result<(), Error>
    where
        E: From<Overrun>,
    {
        let claim = self.core.slots.claim().ok_or(Error::Busy)?;
        self.drive_claimed(&claim, ctx).await;
        Ok(())
    }

    async fn drive_claimed(&self, claim: &DynClaim<'_, 'a, E, M>, ctx: &Ctx<'_>)
    where
        E: From<Overrun>,
    {
        let mut running: FuturesUnordered<LocalBoxFuture<'_, ()>> = FuturesUnordered::new();
        poll_fn(|cx| self.poll_drive(claim, ctx, &mut running, cx)).await;
    }

    fn poll_drive<'f>(
        &'f self,
        claim: &DynClaim<'_, 'a, E, M>,
        ctx: &'f Ctx<'_>,
        running: &mut FuturesUnordered<LocalBoxFuture<'f, ()>>,
        cx: &mut Context<'_>,
    ) -> Poll<()>
    where
        E: From<Overrun>,
    {
        let mut ended = false;
        loop {
            match self.core.slots.poll_take(cx, claim, VecDeque::pop_front) {
                Poll::Ready(Some(entry)) => running.push(Box::pin(self.child(ctx, entry))),
                Poll::Ready(None) => {
                    ended = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {}
        if ended && running.is_empty() { Poll::Ready(()) } else { Poll::Pending }
    }

    async fn child(&self, ctx: &Ctx<'_>, entry: Entry<'a, E>)
    where
        E: From<Overrun>,
    {
        let result = self.core.run_child(ctx, entry.runner()).await;
        entry.exit(result);
        self.core.slots.ended();
    }
}

/// The `Runner` form: `run(ctx, ready)` drives the group beside `ready`, and when `ready`
/// returns, interrupts the current generation and waits for every child; see
/// [`Group::runner`](super::Group::runner), whose semantics it has. It returns `ready`'s
/// result, or fails at once with [`Error::Busy`] (another driver) or [`Error::Closed`]
/// without calling `ready`.
impl<E, M: RawMutex> Runner<E> for DynGroup<'_, E, M>
where
    E: From<Error> + From<Overrun>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        if self.is_closed() {
            return Err(Error::Closed.into());
        }
        let claim = self.core.slots.claim().ok_or(Error::Busy)?;
        let drive = self.drive_claimed(&claim, ctx);
        let body = async {
            let inner = ctx.child();
            let result = ready(&inner).await;
            loop {
                self.interrupt();
                self.wait().await;
                if claim.release_if_idle() {
                    break;
                }
            }
            result
        };
        let ((), result) = join(drive, body).await;
        result
    }
}

group_methods!(
    impl['a, E, M: RawMutex] DynGroup<'a, E, M>,
    overflow: "- [`Error::Overflow`] never: it happens only without `alloc`, where there is no `DynGroup`.",
);

impl<E, M: RawMutex> fmt::Debug for DynGroup<'_, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (active, closed, interrupted) = self.core.summary();
        f.debug_struct("DynGroup")
            .field("active", &active)
            .field("interrupted", &interrupted)
            .field("closed", &closed)
            .finish_non_exhaustive()
    }
}

/// Future for the [`DynGroup::wait`] method; as [`Wait`](super::Wait).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct DynWait<'g, 'a, E, M: RawMutex = CriticalSectionRawMutex> {
    group: &'g DynGroup<'a, E, M>,
    epoch: Option<u32>,
}

impl<E, M: RawMutex> Future for DynWait<'_, '_, E, M> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(epoch) = self.epoch else { return Poll::Ready(()) };
        let poll = self.group.core.poll_wait(epoch, cx).map(|_| ());
        if poll.is_ready() {
            self.epoch = None;
        }
        poll
    }
}

impl<E, M: RawMutex> Drop for DynWait<'_, '_, E, M> {
    fn drop(&mut self) {
        if let Some(epoch) = self.epoch {
            self.group.core.wait_abandon(epoch);
        }
    }
}

impl<E, M: RawMutex> fmt::Debug for DynWait<'_, '_, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynWait").field("pending", &self.epoch.is_some()).finish_non_exhaustive()
    }
}

/// Future for the [`DynGroup::done`] method; as [`Done`](super::Done).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct DynDone<'g, 'a, E, M: RawMutex = CriticalSectionRawMutex> {
    group: &'g DynGroup<'a, E, M>,
    from: Option<u32>,
}

done_future!(impl[E, M: RawMutex] DynDone<'_, '_, E, M>, "DynDone");
