//! [`Group`]: up to `N` runners at once, made from items, with no heap.

use core::cell::Cell;
use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_futures::join::join_array;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use heapless::Deque;

use super::core::Core;
use super::run::GroupRunner;
use super::{Error, GoError};
use crate::ctx::Ctx;
use crate::error::Overrun;
use crate::runner::Runner;
use crate::slots::Claim;
use crate::waitqueue::Full;

pub(super) type FixedClaim<'s, 'a, T, const N: usize, M> = Claim<'s, 'a, M, Deque<T, N>, super::core::Gen>;

/// A group of up to `N` runners started at runtime and stopped together, gracefully first.
///
/// [`go`](Self::go) hands the group an item (a value of type `T`: a device, a connection,
/// a job description) and returns at once. The driver, [`drive`](Self::drive), polled by the
/// group's owner, runs `make(&item)`'s [`Runner`] for each item, up to `N` at once, in the
/// owner's task, and calls `at_exit(&item, result)` when it returns. The children run until
/// their generation is [interrupted](Self::interrupt) (their ready callbacks return, a
/// graceful stop), their context is cancelled, or they end by themselves;
/// [`wait`](Self::wait) waits for all of them and opens a new generation. See the
/// [module docs](crate::group) for generations and the differences from pact's `Group`.
///
/// Without a heap the group holds the items, and the children's futures live in the driver's
/// frame (`N` slots of one `async` function), so a `static` group has a nameable type. More
/// than `N` children queued or running at once, or one after [`stop`](Self::stop), are
/// refused and the item is handed back ([`GoError`]).
///
/// `N` (by default 4) is the capacity; `M` the blocking mutex of the bookkeeping (by default
/// [`CriticalSectionRawMutex`], which makes the group `Send` and `Sync` when `T` is `Send`).
///
/// Dropping the driver while children run drops them (the hard stop) and closes the group, so
/// that every wait completes; see the module docs.
///
/// # Examples
///
/// One worker per device; the devices are stopped gracefully when the run's callback
/// returns:
///
/// ```
/// use embassy_futures::{block_on, join::join};
/// use procession::{Ctx, TreeError, never, nop};
/// use procession::group::Group;
///
/// static ROOT: Ctx<'static> = Ctx::new();
/// static DEVICES: Group<'static, u8> = Group::new(&ROOT);
///
/// // The runner of one device (here one that is ready at once and serves until stopped).
/// let worker = |_device: &u8| nop();
///
/// let run = async {
///     DEVICES.go(1).unwrap(); // does not wait for the start
///     DEVICES.go(2).unwrap();
///     DEVICES.interrupt(); // both stop gracefully
///     DEVICES.wait().await; // both returned; a new generation opens
///     DEVICES.stop(never, never).await
/// };
/// let at_exit = |device: &u8, result: Result<(), TreeError>| assert!(result.is_ok());
/// let (driven, stopped) = block_on(join(DEVICES.drive(&ROOT, worker, at_exit), run));
/// assert_eq!((driven, stopped), (Ok(()), Ok(())));
/// ```
pub struct Group<'a, T, const N: usize = 4, M: RawMutex = CriticalSectionRawMutex> {
    pub(super) core: Core<'a, M, Deque<T, N>>,
}

impl<T, const N: usize, M: RawMutex> Group<'static, T, N, M> {
    /// Creates a group whose context is a root of its own (no parent).
    pub const fn detached() -> Self {
        Self::with_ctx(Ctx::new())
    }
}

impl<'a, T, const N: usize, M: RawMutex> Group<'a, T, N, M> {
    /// Creates a group whose context is a child of `parent`: the children run on children of
    /// it, so cancelling `parent` cancels them all.
    pub const fn new(parent: &'a Ctx<'a>) -> Self {
        Self::with_ctx(parent.child())
    }

    const fn with_ctx(ctx: Ctx<'a>) -> Self {
        Self { core: Core::new(ctx, Deque::new()) }
    }

    /// Hands `item` to the group and returns at once; the driver starts its runner. The
    /// child belongs to the current generation: if that was interrupted, the child is
    /// stopped gracefully as soon as it is ready.
    ///
    /// # Errors
    ///
    /// - [`GoError::Full`] when `N` children are queued or running.
    /// - [`GoError::Closed`] after [`stop`](Self::stop), or once a driver was dropped while
    ///   children ran.
    pub fn go(&self, item: T) -> Result<(), GoError<T>> {
        self.core.slots.go(item, N, Deque::push_back)
    }

    /// Waits until every child of the current generation has returned, then opens a new
    /// generation. A child handed over while the wait is pending joins the generation being
    /// waited on. On a group with no child, completes at once and opens a new generation
    /// (this happens when `wait` is called).
    ///
    /// Items queued while no driver is attached are waited for until a driver runs them. To
    /// bound the wait, race it with a deadline, or use [`stop`](Self::stop).
    ///
    /// Without `alloc`, a wait that fits neither in the group's waiter slots nor in the spill
    /// table completes at once, before its generation has ended (see the
    /// [module docs](crate::group)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future withdraws the wait.
    pub fn wait(&self) -> Wait<'_, 'a, T, N, M> {
        Wait { group: self, epoch: self.core.wait_begin(), in_driver_task: false }
    }

    /// A [`wait`](Self::wait) polled in the driver's own task, after the driver (see
    /// `Wait`'s `in_driver_task`).
    pub(super) fn wait_in_driver_task(&self) -> Wait<'_, 'a, T, N, M> {
        Wait { group: self, epoch: self.core.wait_begin(), in_driver_task: true }
    }

    /// Waits until no child is queued or running: at once if none is, otherwise until the
    /// group next becomes idle. Unlike [`wait`](Self::wait) it leaves the generation as it
    /// is. As for `wait`, one that fits in no waiter slot completes at once.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn done(&self) -> Done<'_, 'a, T, N, M> {
        Done { group: self, from: self.core.slots.idle_from() }
    }

    /// The driver: runs `make(&item)`'s runner for every item handed to [`go`](Self::go), up
    /// to `N` at once, and calls `at_exit(&item, result)` when each returns, until the group
    /// is closed and idle. Its owner polls it (an embassy task, a tokio task, a `join` arm).
    ///
    /// Cancelling `ctx` cancels every child's context with
    /// [`Cause::Parent`](crate::Cause::Parent) (a forced stop), also those handed over later,
    /// while `ctx` stays cancelled; the driver goes on until the group is closed.
    ///
    /// `E: From<`[`Overrun`]`>` reports a child dropped by [`stop`](Self::stop).
    ///
    /// # Errors
    ///
    /// - [`Error::Busy`] at once if another driver (or a run of [`runner`](Self::runner))
    ///   drives this group now.
    ///
    /// # Cancel safety
    ///
    /// Dropping it while children run drops them (the hard stop; `at_exit` is not called for
    /// them), drops the queued items and closes the group, so that every wait completes.
    /// Dropping it while no child runs only gives its place up.
    pub async fn drive<E, R, Mk, X>(&self, ctx: &Ctx<'_>, make: Mk, at_exit: X) -> Result<(), Error>
    where
        Mk: Fn(&T) -> R,
        R: Runner<E>,
        X: FnMut(&T, Result<(), E>),
        E: From<Overrun>,
    {
        let claim = self.core.slots.claim().ok_or(Error::Busy)?;
        self.drive_claimed(&claim, ctx, &make, at_exit).await;
        Ok(())
    }

    /// The driver of `claim`; ends once the group is closed and idle, or once the claim is
    /// released.
    pub(super) async fn drive_claimed<E, R, Mk, X>(
        &self,
        claim: &FixedClaim<'_, 'a, T, N, M>,
        ctx: &Ctx<'_>,
        make: &Mk,
        at_exit: X,
    ) where
        Mk: Fn(&T) -> R,
        R: Runner<E>,
        X: FnMut(&T, Result<(), E>),
        E: From<Overrun>,
    {
        // Taken out while it is called (the children's slots never call it at once), so that
        // no lock is held during the call.
        let exit = Mutex::<M, _>::new(Cell::new(Some(at_exit)));
        join_array(core::array::from_fn::<_, N, _>(|_| self.worker(claim, ctx, make, &exit))).await;
    }

    /// One slot of the driver: takes items and runs their children.
    async fn worker<E, R, Mk, X>(
        &self,
        claim: &FixedClaim<'_, 'a, T, N, M>,
        ctx: &Ctx<'_>,
        make: &Mk,
        exit: &Mutex<M, Cell<Option<X>>>,
    ) where
        Mk: Fn(&T) -> R,
        R: Runner<E>,
        X: FnMut(&T, Result<(), E>),
        E: From<Overrun>,
    {
        while let Some(item) = poll_fn(|cx| self.core.slots.poll_take(cx, claim, Deque::pop_front)).await {
            let result = {
                let runner = make(&item);
                self.core.run_child(ctx, &runner).await
            };
            if let Some(mut at_exit) = exit.lock(Cell::take) {
                at_exit(&item, result);
                exit.lock(|cell| cell.set(Some(at_exit)));
            }
            drop(item);
            self.core.slots.ended();
        }
    }

    /// The [`Runner`] form: a runner whose run drives this group beside its callback, then
    /// interrupts the generation and waits for every child.
    ///
    /// `run(ctx, ready)` calls `ready` at once (the group is ready when its driver runs), and
    /// when `ready` returns, interrupts the current generation and waits until every child
    /// has returned (a child handed over meanwhile is interrupted too). It returns `ready`'s
    /// result; the children's results go to `at_exit`. Cancelling `ctx` cancels every
    /// child with [`Cause::Parent`](crate::Cause::Parent), so a cancelled run leaves no
    /// child behind. Bound its stop with
    /// [`with_stop_deadline`](crate::RunnerExt::with_stop_deadline); its hard level drops the
    /// run's future, which drops the children still running and closes the group (see
    /// [`drive`](Self::drive)).
    ///
    /// The group can run again afterwards (its items and generations are its own); a run
    /// while another driver drives it fails at once with [`Error::Busy`], a run of a
    /// closed group with [`Error::Closed`], without calling `ready` (converted with
    /// `E: From<Error>`).
    ///
    /// # Examples
    ///
    /// ```
    /// use embassy_futures::block_on;
    /// use procession::error::Kind;
    /// use procession::{Ctx, Runner, TreeError, never, nop};
    /// use procession::group::{self, Group};
    ///
    /// let root = Ctx::new();
    /// let group: Group<'_, &str> = Group::new(&root);
    /// let runner = group.runner(|_: &&str| nop(), |_: &&str, _: Result<(), TreeError>| {});
    /// let result = block_on(runner.run(&root, async |_| {
    ///     group.go("child").unwrap(); // stopped when the callback returns
    ///     Ok(())
    /// }));
    /// assert_eq!(result, Ok(()));
    ///
    /// // A `TreeError` takes the group's own errors as they are: a closed group does not run.
    /// assert_eq!(block_on(group.stop(never, never)), Ok(()));
    /// let result: Result<(), TreeError> = block_on(runner.run(&root, async |_| Ok(())));
    /// let error = result.unwrap_err();
    /// assert_eq!(error.errors()[0].kind(), &Kind::Group(group::Error::Closed));
    /// ```
    pub fn runner<Mk, X>(&self, make: Mk, at_exit: X) -> GroupRunner<'_, 'a, T, N, M, Mk, X> {
        GroupRunner { group: self, make, at_exit }
    }
}

group_methods!(
    impl['a, T, const N: usize, M: RawMutex] Group<'a, T, N, M>,
    overflow: "- [`Error::Overflow`] if this call could not wait (without `alloc`, more tasks waiting than the group's slots and the spill table hold); the stop stays in force.",
);

impl<T, const N: usize, M: RawMutex> fmt::Debug for Group<'_, T, N, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (active, closed, interrupted) = self.core.summary();
        f.debug_struct("Group")
            .field("capacity", &N)
            .field("active", &active)
            .field("interrupted", &interrupted)
            .field("closed", &closed)
            .finish_non_exhaustive()
    }
}

/// Future for the [`Group::wait`] method: completes once every child of the generation that
/// was current when it was made has returned, which opens a new generation.
///
/// A wait made on a group with no child is complete at once. Dropping a pending wait
/// withdraws it: if no other wait is pending, the generation stays as it is when the group
/// next becomes idle.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Wait<'g, 'a, T, const N: usize = 4, M: RawMutex = CriticalSectionRawMutex> {
    group: &'g Group<'a, T, N, M>,
    /// The generation waited on; `None` once complete.
    epoch: Option<u32>,
    /// Polled by the driver's own task, after the driver (the `Runner` form): only the
    /// driver's progress ends the generation, and the task is polled again after each, so a
    /// wait that fits in no waiter slot stays pending instead of ending early.
    in_driver_task: bool,
}

impl<T, const N: usize, M: RawMutex> Future for Wait<'_, '_, T, N, M> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(epoch) = self.epoch else { return Poll::Ready(()) };
        match self.group.core.poll_wait(epoch, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(Full)) if self.in_driver_task => Poll::Pending,
            Poll::Ready(_) => {
                self.epoch = None;
                Poll::Ready(())
            }
        }
    }
}

impl<T, const N: usize, M: RawMutex> Drop for Wait<'_, '_, T, N, M> {
    fn drop(&mut self) {
        if let Some(epoch) = self.epoch {
            self.group.core.wait_abandon(epoch);
        }
    }
}

impl<T, const N: usize, M: RawMutex> fmt::Debug for Wait<'_, '_, T, N, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").field("pending", &self.epoch.is_some()).finish_non_exhaustive()
    }
}

/// Future for the [`Group::done`] method: completes when no child is queued or running, at
/// once if none was when it was made, otherwise the next time the group becomes idle. It
/// leaves the generation as it is. Dropping it loses nothing.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Done<'g, 'a, T, const N: usize = 4, M: RawMutex = CriticalSectionRawMutex> {
    group: &'g Group<'a, T, N, M>,
    from: Option<u32>,
}

done_future!(impl[T, const N: usize, M: RawMutex] Done<'_, '_, T, N, M>, "Done");
