//! [`from_fn`]: a runner made from an async closure, and the [`Lifecycle`] it sees.

use core::future::Future;
use core::task::Poll;

use super::Runner;
use crate::ctx::{Cause, Ctx};
use crate::error::Merge;
use crate::waitqueue::Event;

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
    ready: Event,
    stopping: Event,
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
    /// Without `alloc`, a wait that can be kept nowhere (more distinct tasks waiting on this
    /// lifecycle than its slots and the spill table hold) reports
    /// `Stop::Forced(`[`Cause::Overflow`]`)` at once, as a [`Ctx`] that cannot keep a waiter
    /// cancels itself.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: both conditions are sticky.
    pub async fn stop_requested(&self) -> Stop {
        let mut cancelled = core::pin::pin!(self.run_ctx.cancelled());
        core::future::poll_fn(|cx| {
            if let Poll::Ready(cause) = self.stopping.poll_wait(cx) {
                // An event that could not keep this waiter set itself with `Overflow`.
                return Poll::Ready(if cause == Cause::Overflow { Stop::Forced(cause) } else { Stop::Graceful });
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
/// The closure does not get the callback itself: a closure cannot be generic over the
/// callback's type, so the runner calls it instead, which also keeps the run's future `Send`
/// whenever its parts are and needs no heap.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, Runner, TreeError, runner::{Lifecycle, Stop, from_fn}};
///
/// let sensor = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), TreeError> {
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
        let lc = Lifecycle { run_ctx: ctx, ready: Event::new(), stopping: Event::new() };
        let finished: Event = Event::new();
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
