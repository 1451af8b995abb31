//! The claim seam: [`Claim`], and [`Everything`], the claim of a supervisor that runs alone.

use crate::ctx::Ctx;

/// Whether this supervisor may run a key now: the seam for supervisors on several machines
/// sharing one table, where each key must run on one of them only (a lease per key, a lock per
/// node).
///
/// Before each incarnation the driver [`acquire`](Self::acquire)s the key's claim: `Some(guard)`
/// means the key is ours for as long as the guard says, `None` that another holder has it (the
/// key's slot is freed and a later pass tries again). While the incarnation runs, the driver
/// watches [`lost`](Self::lost): once it completes, that key alone is stopped (its context is
/// cancelled; the setup's shutdown deadlines bound it) and becomes
/// [`Exited`](super::State::Exited), so that a later pass acquires it again. The guard is
/// dropped when the incarnation has ended: dropping it should release the claim.
///
/// [`Everything`] (the default) claims every key, for ever.
pub trait Claim<K, E> {
    /// Proof of a held claim, kept while the key's incarnation runs.
    type Guard;

    /// Acquires the claim on `key`: `Ok(Some(guard))` if it is ours, `Ok(None)` if another
    /// holder has it, or an error (reported, and the key's slot is freed).
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the claim's is")]
    async fn acquire(&self, ctx: &Ctx<'_>, key: &K) -> Result<Option<Self::Guard>, E>;

    /// Completes once the claim behind `guard` is lost (a lease that could not be renewed).
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the claim's is")]
    async fn lost(&self, guard: &Self::Guard);
}

/// Every key is ours, for ever: the claim of a supervisor that runs alone (the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Everything;

impl<K, E> Claim<K, E> for Everything {
    type Guard = ();

    async fn acquire(&self, _: &Ctx<'_>, _: &K) -> Result<Option<()>, E> {
        Ok(Some(()))
    }

    async fn lost(&self, _: &()) {
        core::future::pending::<()>().await;
    }
}

impl<K, E, C: Claim<K, E> + ?Sized> Claim<K, E> for &C {
    type Guard = C::Guard;

    async fn acquire(&self, ctx: &Ctx<'_>, key: &K) -> Result<Option<C::Guard>, E> {
        (**self).acquire(ctx, key).await
    }

    async fn lost(&self, guard: &C::Guard) {
        (**self).lost(guard).await;
    }
}
