//! Single-instance primitives: [`One`], [`Many`], [`G`], [`Group`] and, with `alloc`,
//! `DynGroup` (seed 004, the Go package `shot`).
//!
//! The resource (the code that must run at most once at a time) calls `start`, keeps the
//! returned [`Run`] guard while it runs, watches the run's context, and drops the guard when it
//! exits. A controller in another task asks it to end with `close` (for good) or, on a
//! [`Many`], `stop` (it may start again), and waits for it with `done` or with the deadline
//! those methods take.
//!
//! | type | upstream | runs |
//! |---|---|---|
//! | [`One`] | `One` | once; at most one instance |
//! | [`Many`] | `Many` | again and again; at most one instance at a time; a fresh context per run |
//! | [`G`] | `G`, `Go`, `GoCtx` | a future, once, keeping its error |
//! | [`Group`] | `Group` | up to `N` jobs of one type on a shared context |
//! | `DynGroup` (`alloc`) | `Group` | any number of jobs of any types on a shared context |
//!
//! All of them are handles with interior state, usable from a `static`, generic over a
//! [`RawMutex`](embassy_sync::blocking_mutex::raw::RawMutex) like embassy-sync. Nothing is
//! spawned: the resource runs in whatever task called `start` ([`G::go`] and [`Group::run`] are
//! the futures its owner polls). Waiters use bounded slots that never lose a wakeup (more
//! waiters than slots are woken early and register again).
//!
//! # From upstream
//!
//! The semantics follow `github.com/infastin/gorack/shot` (the source available) and the
//! documented contract of `codeberg.org/go-toolbox/shot` v0.4.3 (`Stop`, `Stop2`, `Halt`,
//! `Close2`, `Cancel`, `Group`, `Go` without a parent). Upstream's `context.Context` is a
//! [`Ctx`](crate::Ctx); upstream's `Close(ctx)` and `Stop(ctx)` take a deadline: any
//! `Future<Output = ()>` (an embassy-time `Timer`, a tokio `sleep`, a manual clock), and
//! `core::future::pending()` waits without limit. The pure waits (`done`, [`Group::wait`])
//! are plain futures that change nothing; bound them with `select` against a deadline.
//!
//! # Deliberate deviations
//!
//! - **`stop` is a guard bound to its run.** `Start` returns a [`Run`] guard instead of a
//!   `stop` function: dropping it or consuming it ([`Run::stop`]) is the stop. A second stop is
//!   impossible by type (upstream panics), and a stale stop cannot end a later run of a `Many`
//!   (upstream corrupts the new run). A task dropped while holding the guard ends its run, so
//!   nothing waits for a resource that is gone.
//! - **State and done change together.** Upstream `One` stores Closed before it closes `done`,
//!   so `Close` can return before `Done` fires; here both change under one lock.
//! - **Done is a future** ([`One::done`], [`Many::done`]) bound to the run that was current
//!   when it was made, like upstream's channel; [`One::is_done`] is the non-blocking check.
//! - **Deadlines.** Waits take a deadline future and report [`Error::Deadline`] instead of
//!   `ctx.Err()`; when the run ends at the same poll as the deadline, the end wins (upstream
//!   picks at random). The request itself stays in force.
//! - **[`Many::context`] is a view, [`RunContext`]**, not a context: a `Many` reuses one
//!   context for its runs (no heap), so the view remembers its run and stays cancelled once
//!   that run has ended, as a Go context of a finished run does. The run itself gets the full
//!   [`Ctx`](crate::Ctx) through its guard ([`Run::context`]). [`One::context`] is a plain
//!   `&Ctx`, since a `One` has one context for ever.
//! - **`Many` ends in Closed only when asked to**, or when its parent context is cancelled; a
//!   `stop`/`halt` request ends the run in Stopped (upstream before `Stop` existed: any
//!   cancelled context meant Closed).
//! - **`close2`/`stop2`/`halt` return `Result<State, Error>`** (the previous state): an
//!   [`Error::Deadline`] can only come from a previous state of Running.
//! - **[`G`]** is a handle plus the future [`G::go`] (or [`G::go_ctx`]) that its owner polls.
//!   A `G` closed before its future starts returns [`Error::Closed`] from that future; `err()`
//!   holds only the future's own error (upstream stores `ErrClosed` there).
//! - **[`Group`]** holds up to `N` jobs of one type (no heap); [`Group::go`] hands the job
//!   back when the group is full or closed. With `alloc`, `DynGroup` is upstream's `Group`
//!   proper: `go` takes any `async` function of the context and boxes it, with no capacity
//!   limit (it refuses only when closed); the jobs must be `Send`, their futures need not be
//!   (so its driver is not `Send`). Both need their driver (`run`) polled by the owner; waits
//!   take deadlines.
//! - `Xor` (in gorack, gone from v0.4.3) is not provided: `many.stop(deadline)` followed by
//!   `many.start()` replaces a running instance.
//! - `State` has no invalid values, so its `Display` never panics.

#[cfg(feature = "alloc")]
mod dyn_group;
mod g;
mod group;
mod jobs;
mod many;
mod one;
mod run;

use core::fmt;

#[cfg(feature = "alloc")]
pub use dyn_group::{DynGroup, DynWait};
pub use g::G;
pub use group::{GoError, Group, Wait};
pub use many::Many;
pub use one::One;
pub use run::{Done, Run, RunCancelled, RunContext};

/// The state of a [`One`], a [`Many`] or a [`G`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Made, never started.
    Created,
    /// An instance runs: its [`Run`] guard exists.
    Running,
    /// The last run ended and a [`Many`] may start again.
    Stopped,
    /// Closed: it will never start again.
    Closed,
}

impl State {
    /// Whether the current cycle has ended: Stopped or Closed (the state in which `done` is
    /// complete).
    pub const fn is_done(self) -> bool {
        matches!(self, Self::Stopped | Self::Closed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Closed => "closed",
        })
    }
}

/// Why a `shot` operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// `start` while an instance runs (upstream `ErrRunning`). Wait for `done` and try again
    /// (a [`Many`]), or leave it: the instance is running.
    Running,
    /// The instance is closed and never starts again (upstream `ErrClosed`); also `stop` on a
    /// closed [`Many`].
    Closed,
    /// The deadline passed before the instance ended. The request stays in force: the
    /// instance was cancelled and still ends when it returns; wait again with `done`.
    Deadline,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "already running",
            Self::Closed => "closed",
            Self::Deadline => "deadline passed",
        })
    }
}

impl core::error::Error for Error {}
