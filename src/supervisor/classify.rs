//! Which failures are permanent: [`Classify`] and [`AllTransient`].

/// Tells whether a failure of the supervised process is permanent: the executor does not restart
/// after it ([`Supervisor::permanent_if`](super::Supervisor::permanent_if)). Implemented by [`AllTransient`] and by every
/// `Fn(&E) -> bool`.
pub trait Classify<E> {
    /// Whether `error` must not be retried.
    fn is_permanent(&self, error: &E) -> bool;
}

/// Every failure is transient: the executor's policy alone decides about restarts (the
/// default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllTransient;

impl<E> Classify<E> for AllTransient {
    fn is_permanent(&self, _: &E) -> bool {
        false
    }
}

impl<E, F: Fn(&E) -> bool> Classify<E> for F {
    fn is_permanent(&self, error: &E) -> bool {
        self(error)
    }
}
