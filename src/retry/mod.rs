//! Retry executors and backoffs: run an operation until it succeeds, fails for good, or the
//! policy gives up.
//!
//! An operation is an async closure `AsyncFnMut(&Ctx) -> Result<T, Error<E>>` (or any
//! [`Operation`]); its failures are classified with [`Error`]:
//! [`Transient`](Error::Transient) failures may be retried, [`Permanent`](Error::Permanent) and
//! [`Internal`](Error::Internal) ones never are. An [`Executor`] decides when to run it again:
//!
//! - [`Once`]: exactly one attempt.
//! - [`UntilPermanent`]: again at once after every transient failure, yielding to the executor
//!   in between, until it succeeds, fails permanently or its context is cancelled.
//! - [`Retry`]: again after the delays of a [`Backoff`] measured on a [`Clock`], optionally
//!   bounded by a restart [intensity](Retry::intensity) (as in OTP: at most `R` restarts within
//!   a period, then give up with [`Error::Exhausted`]) and with the backoff
//!   [reset](Retry::reset_after) after a stable run.
//!
//! Every executor returns soon after its context is cancelled and never runs the operation on
//! a cancelled context; it then returns the last failure, as a transient one.
//!
//! Backoffs are pure: [`Constant`], [`Limit`], [`Exp2`] (saturating), [`Jittered`] (integer
//! math, seedable [`XorShift64`] or any [`Rng`]), and any `Iterator<Item = Duration> + Clone` or
//! [`backoff_fn`] closure, so that schedules from crates like `backon` plug in.
//!
//! | file | what |
//! |---|---|
//! | `error.rs` | [`Error`], [`transient`], [`permanent`], [`internal`] |
//! | `executor.rs` | [`Operation`], [`Executor`], [`Once`], [`UntilPermanent`], [`Retry`] |
//! | `backoff.rs` | [`Backoff`], [`BackoffExt`], [`Constant`], [`Limit`], [`Exp2`], [`BackoffFn`] |
//! | `jitter.rs` | [`Jittered`] |
//! | `rng.rs` | [`Rng`], [`XorShift64`] |
//!
//! # Examples
//!
//! ```
//! use core::time::Duration;
//! use procession::Ctx;
//! use procession::retry::{self, BackoffExt, Executor, Exp2, Retry};
//! use procession::time::ManualClock;
//!
//! let clock: ManualClock = ManualClock::new();
//! let retry = Retry::new(Exp2::new(Duration::from_millis(10)).limit(3), &clock);
//! let root = Ctx::new();
//! let mut attempts = 0;
//! let work = retry.execute(&root, async |_ctx: &Ctx<'_>| {
//!     attempts += 1;
//!     if attempts < 3 { Err(retry::Error::Transient("busy")) } else { Ok(attempts) }
//! });
//! // The test moves time: wait until the executor sleeps, jump to the end of the sleep.
//! let drive = async {
//!     for _ in 0..2 {
//!         clock.wait_sleeping(1).await;
//!         clock.next();
//!     }
//! };
//! let (result, ()) = embassy_futures::block_on(embassy_futures::join::join(work, drive));
//! assert_eq!(result, Ok(3));
//! assert_eq!(clock.now().elapsed(), Duration::from_millis(20 + 40));
//! ```
//!
//! [`Clock`]: crate::time::Clock

mod backoff;
mod error;
mod executor;
mod jitter;
mod rng;

pub use backoff::{Backoff, BackoffExt, BackoffFn, Constant, ConstantDelays, Exp2, Exp2Delays, Limit, backoff_fn};
pub use error::{Error, internal, permanent, transient};
pub use executor::{Executor, Once, Operation, Retry, UntilPermanent};
pub use jitter::{Jittered, JitteredDelays};
pub use rng::{Rng, XorShift64};
