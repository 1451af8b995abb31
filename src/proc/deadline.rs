//! [`stop_deadline`]: a bound on how long a process may take to return once cancelled.

use core::future::Future;

use embassy_futures::select::{Either, select};

use super::Proc;
use crate::ctx::Ctx;
use crate::error::{Overrun, Phase, StopLevel};

/// Process for the [`stop_deadline`] function.
#[derive(Clone, Copy)]
#[must_use = "a process does nothing until it is run"]
pub struct StopDeadline<G, P> {
    deadline: G,
    process: P,
}

impl<G, P> core::fmt::Debug for StopDeadline<G, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StopDeadline").finish_non_exhaustive()
    }
}

/// Bounds how long a process may take to return once its context is cancelled: when
/// `deadline()` completes, the process is dropped.
///
/// For a process, cancelling its context is already the forced stop; this adds the hard one.
/// `deadline` is called when the context is cancelled (so each run measures from its own
/// cancellation) and makes any `Future<Output = ()>`: an embassy-time `Timer`, a tokio
/// `sleep`, a test's manual gate. If the process has not returned when it completes, its
/// future is dropped wherever it is and the result is an [`Overrun`] of phase
/// [`Phase::Stop`] and level [`StopLevel::Hard`], converted into the error type. If the
/// process returns in the same poll as the deadline completes, its own result wins.
///
/// A process whose context is never cancelled is never bounded: this is a stop deadline, not
/// a run time limit.
///
/// # Examples
///
/// ```
/// use core::future::{pending, ready};
/// use procession::error::{Overrun, StopLevel};
/// use procession::Ctx;
/// use procession::proc::{Proc, stop_deadline};
///
/// // A process that ignores cancellation, bounded by a deadline that has already passed.
/// let stubborn = async |_: &Ctx<'_>| -> Result<(), Overrun> { pending().await };
/// let bounded = stop_deadline(|| ready(()), stubborn);
///
/// let root = Ctx::new();
/// root.cancel();
/// let error = embassy_futures::block_on(bounded.run(&root)).unwrap_err();
/// assert_eq!(error.level, StopLevel::Hard);
/// ```
pub const fn stop_deadline<G, P>(deadline: G, process: P) -> StopDeadline<G, P> {
    StopDeadline { deadline, process }
}

impl<E, G, GF, P> Proc<E> for StopDeadline<G, P>
where
    P: Proc<E>,
    G: Fn() -> GF,
    GF: Future<Output = ()>,
    E: From<Overrun>,
{
    /// Runs the process, dropping it if it has not returned when the deadline that starts at
    /// cancellation completes; see [`stop_deadline`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the process and the deadline future.
    async fn run(&self, ctx: &Ctx<'_>) -> Result<(), E> {
        let bound = async {
            ctx.cancelled().await;
            (self.deadline)().await;
        };
        match select(self.process.run(ctx), bound).await {
            Either::First(result) => result,
            Either::Second(()) => Err(E::from(Overrun::new(Phase::Stop, StopLevel::Hard))),
        }
    }
}
