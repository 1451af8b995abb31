//! Single-instance primitives: [`One`], [`Many`], [`Job`], [`Group`] and, with `alloc`,
//! `DynGroup`.
//!
//! The resource (the code that must run at most once at a time) calls `start`, keeps the
//! returned [`Run`] guard while it runs, watches the run's context, and drops the guard when it
//! exits. A controller in another task asks it to end with `close` (for good) or, on a
//! [`Many`], `end_run` (it may start again), and waits for it with `done` or with the deadline
//! those methods take.
//!
//! | type | runs |
//! |---|---|
//! | [`One`] | once; at most one instance |
//! | [`Many`] | again and again; at most one instance at a time; a fresh context per run |
//! | [`Job`] | a future, once, keeping its error |
//! | [`Group`] | up to `N` jobs of one type on a shared context |
//! | `DynGroup` (`alloc`) | any number of jobs of any types on a shared context; its driver is `Send` |
//!
//! All of them are handles with interior state, usable from a `static` (or an `Arc`), generic
//! over a [`RawMutex`](embassy_sync::blocking_mutex::raw::RawMutex) like embassy-sync, by
//! default [`CriticalSectionRawMutex`](crate::mutex::CriticalSectionRawMutex) (so they are
//! `Send` and `Sync`, and `Many::detached()` needs no annotation beyond `Many<'_>`). Nothing is
//! spawned: the resource runs in whatever task called `start` ([`Job::drive`],
//! [`Group::drive`] and `DynGroup::drive` are the futures their owner polls).
//!
//! The state and the wakers of the tasks waiting on a handle change together, under the
//! handle's one lock of `M` (with `NoopRawMutex` no critical section is taken for them while
//! the waiters fit; the handle's context, a [`Ctx`](crate::Ctx), keeps its own waiters behind a
//! critical section). [`WAITER_SLOTS`](crate::ctx::WAITER_SLOTS) distinct tasks wait in slots
//! of the handle's own, more in the program-wide spill table
//! ([`SPILL_SLOTS`](crate::ctx::SPILL_SLOTS) entries without `alloc`, unbounded with it); nobody
//! is ever woken early because another task arrived. Only when the spill table is full too
//! (without `alloc`) can a waiter not be kept: that wait ends at once, and nobody else is
//! disturbed. `close` and `end_run` return [`Error::Overflow`] (the request stays in force);
//! `done` and `poll_done` complete while `is_done` is still `false`.
//!
//! # Operations
//!
//! The same operation has the same name on every handle of the crate (and on
//! [`Process`](crate::Process)). No `shot` handle has a graceful level: the only thing a run is
//! told is that its context is cancelled, so there is no `stop` here; `close` is the bounded
//! wait (one deadline future), `cancel` its non-waiting form.
//!
//! | operation | [`One`] | [`Many`] | [`Job`] | [`Group`], `DynGroup` |
//! |---|---|---|---|---|
//! | start | `start() -> Result<`[`Run`]`, Error>` | `start() -> Result<Run, Error>` | – | `go(job) -> Result<(), GoError<_>>` |
//! | start, owned guard (`alloc`) | `start_owned(Arc<Self>) -> Result<``OwnedRun``, Error>` | the same | – | – |
//! | the driver its owner polls | – | – | `drive(f)`, `drive_in(parent, f)` `-> Result<(), Error>` | `drive(..) -> Result<(), Error>` |
//! | end this run, wait (one deadline) | – | `end_run(deadline) -> Result<State, Error>` | – | – |
//! | end this run, do not wait | – | `cancel_run() -> bool` | – | – |
//! | end for good, wait (one deadline) | `close(deadline) -> Result<State, Error>` | the same | the same | `close(deadline) -> Result<(), Error>` |
//! | end for good, do not wait | `cancel() -> bool` | `cancel() -> bool` | `cancel() -> bool` | `cancel() -> bool` (cancels; `go` still accepts) |
//! | wait for the end | `done()`: [`Done`] | `done()`: [`Done`] (this run) | `done()`: [`Done`] | `done()`: [`GroupDone`] (idle) |
//! | poll / check the end | `poll_done(cx) -> Poll<()>`, `is_done() -> bool` | the same | the same | the same |
//! | state | `state() -> `[`State`] | `state() -> State` | `state() -> State` | `is_closed() -> bool` |
//! | error | – | – | `error() -> Option<E>`, `take_error() -> Option<E>` | – |
//! | context | `context() -> &Ctx` | `context() -> `[`RunContext`] | – | `context() -> &Ctx` |
//!
//! `Result<State, Error>` is the state before the call; `-> bool` says whether the call changed
//! anything. A second driver is [`Error::Running`]; a closed handle is [`Error::Closed`]; a
//! deadline that passed is [`Error::Deadline`], and the request stays in force.
//!
//! # Behaviour worth knowing
//!
//! - **The end of a run is a guard bound to its run.** `start` returns a [`Run`] guard:
//!   dropping it or consuming it ([`Run::finish`]) ends the run. A second end is impossible by
//!   type, and a stale guard cannot end a later run of a `Many`. A task dropped while holding
//!   the guard ends its run, so nothing waits for a resource that is gone.
//! - **State and done change together**, under one lock.
//! - **Done is a future** ([`One::done`], [`Many::done`]) bound to the run that was current
//!   when it was made; `is_done` is the non-blocking check.
//! - **Deadlines.** Waits take a deadline future (an embassy-time `Timer`, a tokio `sleep`, a
//!   manual clock, [`never`](crate::never)) and report [`Error::Deadline`]; when the run ends
//!   at the same poll as the deadline, the end wins. The request itself stays in force.
//! - **[`Many::context`] is a view, [`RunContext`]**, not a context: a `Many` reuses one
//!   context for its runs (no heap), so the view remembers its run and stays cancelled once
//!   that run has ended. The run itself gets the full [`Ctx`](crate::Ctx) through its guard
//!   ([`Run::context`]). [`One::context`] is a plain `&Ctx`, since a `One` has one context for
//!   ever.
//! - **A `Many` ends in Closed only when asked to**, or when its parent context is cancelled;
//!   `end_run`/`cancel_run` end the run in Stopped.
//! - **[`Job`]** is a handle plus the future [`Job::drive`] that its owner polls. A `Job`
//!   closed before its driver starts returns [`Error::Closed`] from the driver; `error()` holds
//!   only the job's own error.
//! - **[`Group`]** holds up to `N` jobs of one type (no heap); [`Group::go`] hands the job back
//!   when the group is full or closed. With `alloc`, `DynGroup` takes any job (a closure
//!   returning a boxed `Send` future) with no capacity limit, and its driver is `Send`.
//! - **From a spawned handler.** With `alloc`, a `One` or `Many` in an `Arc` gives an owned
//!   guard (`OwnedRun`, `'static` for a detached handle) that moves into a `tokio::spawn`ed
//!   task; a `Job` or group in an `Arc` is driven by a spawned task that owns a clone.
//! - To replace a running instance of a `Many`, `end_run` it and `start` again.

#[cfg(feature = "alloc")]
mod dyn_group;
mod error;
mod group;
mod job;
mod many;
mod one;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
mod owned;
mod run;
mod state;

#[cfg(feature = "alloc")]
pub use dyn_group::{DynGroup, DynGroupDone, JobFuture};
pub use error::{Error, GoError};
pub use group::{Group, GroupDone};
pub use job::Job;
pub use many::Many;
pub use one::One;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use owned::OwnedRun;
pub use run::{Done, Run, RunCancelled, RunContext};
pub use state::State;
