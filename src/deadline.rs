//! Deadlines: any `Future<Output = ()>` is one, and [`never()`] is the one that never passes.
//!
//! Every wait in this crate that depends on another process's cooperation takes a deadline
//! future (an embassy `Timer`, a tokio `sleep`, a [`ManualClock`](crate::time::ManualClock)
//! sleep): when it completes, the wait escalates. A stop that escalates over several levels
//! takes one closure per level, so that the deadline of a later level is made only when the
//! escalation reaches it; `never` fits there as it is: `process.stop(never, never)`.

/// The deadline that never passes: a future that is always pending.
///
/// Use it where a wait must be unbounded on purpose, as a future (`select(work, never())`) or
/// as a deadline closure (`stop(never, never)`). It holds no state and registers no waker.
///
/// # Examples
///
/// ```
/// use core::pin::pin;
/// use core::task::{Context, Poll, Waker};
/// use core::future::Future;
///
/// let mut deadline = pin!(procession::never());
/// let mut cx = Context::from_waker(Waker::noop());
/// assert_eq!(deadline.as_mut().poll(&mut cx), Poll::Pending);
/// ```
pub fn never() -> Never {
    core::future::pending()
}

/// The future [`never()`] returns.
pub type Never = core::future::Pending<()>;
