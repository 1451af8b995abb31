//! [`GroupRunner`]: the [`Runner`] form of a [`Group`].

use core::fmt;

use embassy_futures::join::join;
use embassy_sync::blocking_mutex::raw::RawMutex;

use super::{Error, Group};
use crate::ctx::Ctx;
use crate::error::Overrun;
use crate::runner::Runner;

/// Runner for the [`Group::runner`] method: drives the group beside its callback, then
/// interrupts the generation and waits for every child.
#[must_use = "a runner does nothing until it is run"]
pub struct GroupRunner<'g, 'a, T, const N: usize, M: RawMutex, Mk, X> {
    pub(super) group: &'g Group<'a, T, N, M>,
    pub(super) make: Mk,
    pub(super) at_exit: X,
}

impl<T, const N: usize, M: RawMutex, Mk, X> fmt::Debug for GroupRunner<'_, '_, T, N, M, Mk, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupRunner").field("group", self.group).finish_non_exhaustive()
    }
}

impl<E, T, const N: usize, M, Mk, R, X> Runner<E> for GroupRunner<'_, '_, T, N, M, Mk, X>
where
    M: RawMutex,
    Mk: Fn(&T) -> R,
    R: Runner<E>,
    X: Fn(&T, Result<(), E>),
    E: From<Error> + From<Overrun>,
{
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        let group = self.group;
        if group.is_closed() {
            return Err(Error::Closed.into());
        }
        let claim = group.core.slots.claim().ok_or(Error::Busy)?;
        let drive = group.drive_claimed(&claim, ctx, &self.make, |item: &T, result| (self.at_exit)(item, result));
        let body = async {
            let inner = ctx.child();
            let result = ready(&inner).await;
            // A child handed over between the end of the wait and the release joins the next
            // generation: interrupt and wait again, so that none is left behind.
            loop {
                group.interrupt();
                // Polled after the driver, in its task: only the driver's progress ends the
                // generation, so this wait never needs a waiter slot of its own.
                group.wait_in_driver_task().await;
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
