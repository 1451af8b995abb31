//! The restart supervisor: run a process again when it fails, under a retry policy, with hooks
//! around each incarnation and a stop request usable from any task.
//!
//! A [`Supervisor`] runs one process (a [`Runner`], or a [`Build`] that makes a fresh runner per
//! incarnation) under a retry [`Executor`]: each attempt of the executor is one incarnation,
//! `runner.run` from start to stop. Restart on failure is entirely the executor's policy
//! ([`retry`]): a process that returns `Ok` ends supervision under the crate's executors; one
//! that fails is run again after its backoff.
//!
//! The supervisor is itself a [`Runner`], so it nests in chains and groups, and its callback
//! means what every runner's does: the process is ready. It runs once the first incarnation is
//! ready, so a supervisor inside a [`chain`](crate::chain) starts what comes after it only
//! then; [`Supervisor::callback_beside_process`] runs it from the start instead. When the
//! callback returns, the supervisor stops the process gracefully and returns once everything
//! has stopped.
//!
//! | file | what |
//! |---|---|
//! | `engine.rs` | [`Supervisor`], its builder methods and its run |
//! | `control.rs` | [`Control`] and [`State`], over a state machine whose invariants are written there |
//! | `build.rs` | [`Build`], [`identity`], [`build_fn`], [`Builder`] |
//! | `hook.rs` | [`Hook`], [`HookFn`], [`Skip`] |
//! | `classify.rs` | [`Classify`], [`AllTransient`] |
//! | `error.rs` | [`Error`] |
//!
//! # Operations
//!
//! A supervisor is driven by its run (the [`Runner::run`] future, polled by its owner);
//! everything else goes through its [`Control`], usable from any task, the hooks and the
//! executor:
//!
//! | operation | on [`Control`] (and [`Supervisor`]) |
//! |---|---|
//! | the future its owner polls to do the work | [`Runner::run`] on the supervisor |
//! | ask for a stop, without waiting | [`request_stop`](Control::request_stop) `-> bool` |
//! | ask for a forced stop, without waiting | [`cancel`](Control::cancel) `-> bool`, or cancel the context given to the run |
//! | read the state | [`state`](Control::state): [`State`] `Initial`, `Starting`, `Running`, `BackingOff`, `Stopped` |
//! | wait until ready | [`ready`](Control::ready), [`poll_ready`](Control::poll_ready) |
//! | count the incarnations | [`incarnation`](Control::incarnation) |
//! | whether a run is active | [`is_active`](Control::is_active) |
//!
//! There is no `done()`: the control outlives its runs (a supervisor can run again), and the
//! end of a run is the end of its future.
//!
//! # Timeline of a run
//!
//! 1. If a run of this supervisor is already active (a recursive or concurrent call), return
//!    [`Error::RecursiveOrConcurrentRun`] at once, without calling the callback.
//! 2. Join two arms in the caller's task. The executor runs attempts with the process's
//!    context, which the supervisor alone cancels; the callback gets a child of the caller's
//!    context.
//! 3. Each attempt: if a stop was requested, return an internal error without starting the
//!    process. Otherwise build the runner and run it; inside its ready callback run
//!    [`Hook::pre`], wait for a stop request or for the process's context to end, and return
//!    what [`Hook::post`] returns (after a `pre` failure, `post` still runs and its result is
//!    ignored; the `pre` failure is the callback's result). After the runner has returned, if a
//!    stop was requested meanwhile, cancel the process's context ([`Cause::Shutdown`]) so that
//!    the executor returns.
//! 4. The callback waits until an incarnation has been ready (not with
//!    [`callback_beside_process`](Supervisor::callback_beside_process)); if the executor
//!    returns first, or a forced stop from outside comes first, it is never called. Then it
//!    runs. When it returns, the supervisor requests a stop.
//! 5. A stop request while an incarnation runs is graceful (its callback returns); while none
//!    runs (backing off) it cancels the process's context with [`Cause::Shutdown`], which ends
//!    the executor's sleep and returns the failure that led to it.
//! 6. A forced stop from outside (the caller's context cancelled, or [`Control::cancel`])
//!    follows the dependency order: the callback's context is cancelled at once; the
//!    process's (with the same cause) only once the callback no longer runs, so the process
//!    outlives what depends on it.
//! 7. When the executor returns, for any reason, the callback's context is cancelled so that
//!    the callback returns: with the cause of the stop if one was asked for, with
//!    [`Cause::DependencyFailed`] if the process failed for good (its failures are permanent,
//!    its backoff ended, or its restart intensity is exhausted), and with [`Cause::Parent`]
//!    if it returned `Ok`. A callback that ignores its context
//!    is waited for without bound, unless [`Supervisor::callback_deadline`] bounds the wait:
//!    then it is dropped when that deadline passes, and the run reports
//!    [`Error::CallbackOverrun`].
//! 8. The result: the callback's error, then the executor's; both are kept ([`Merge`]), the
//!    callback's first. A stop request is not an error.
//!
//! # The error type
//!
//! The tree's error type is the supervisor's parameter `E` (by default
//! [`TreeError`](crate::TreeError), inferred from the runner or from the run). It must hold
//! the supervisor's own failures (`From<`[`Error`]`>`) and several failures at once
//! ([`Merge`]); the ready-made tree error, with plain messages or the user's own enum, has
//! both, so no impl is written. A type that lacks one is reported where the supervisor is
//! built, by [`Supervisor::new`] or [`Supervisor::with_builder`]. A supervisor of a runner
//! that is generic over its error (such as [`nop`](crate::nop())) and never run says its error
//! type where it is declared: `let sup: Supervisor<_, _> = Supervisor::new(nop(), Once);`.
//!
//! # Bounding the stop of a supervised tree
//!
//! Each wait of a stop that depends on someone's cooperation has its own bound:
//!
//! - the supervised process's own stop: wrap the runner given to the supervisor in
//!   [`with_stop_deadline`](crate::RunnerExt::with_stop_deadline) (each incarnation then stops
//!   within its deadlines, and an overrun is an attempt's failure);
//! - the callback, once its context is cancelled: [`Supervisor::callback_deadline`];
//! - the whole run, from outside: the owner drops the run's future (the hard stop), for
//!   example through a [`Process`](crate::Process)'s `stop` deadlines.
//!
//! A deadline on the supervisor's stop from outside
//! ([`with_stop_deadline`](crate::RunnerExt::with_stop_deadline) around the supervisor)
//! starts counting only when the callback returns, so it cannot bound a callback that ignores
//! its context: that is what the callback deadline is for.
//!
//! Other properties: a faulty executor that calls the operation again after a stop request
//! gets [`retry::Error::Internal`] back on every call, never a panic; a run that is dropped
//! (hard stop) releases the supervisor, so the next run works; the old incarnation is
//! completely stopped before the next one starts (the executor awaits each attempt to its
//! end); a build error is an attempt's failure (retried like a runner error) and is returned
//! unchanged; a failure is made permanent by the supervisor's classifier
//! ([`Supervisor::permanent_if`]), since the tree's error type is the user's.
//!
//! [`Executor`]: crate::retry::Executor
//! [`Runner`]: crate::Runner
//! [`Runner::run`]: crate::Runner::run
//! [`Cause::Shutdown`]: crate::Cause::Shutdown
//! [`Cause::Parent`]: crate::Cause::Parent
//! [`Cause::DependencyFailed`]: crate::Cause::DependencyFailed
//! [`Merge`]: crate::Merge
//! [`retry`]: crate::retry
//! [`retry::Error::Internal`]: crate::retry::Error::Internal

mod build;
mod classify;
mod control;
mod engine;
mod error;
mod hook;

pub use build::{Build, BuildFn, Builder, Identity, build_fn, identity};
pub use classify::{AllTransient, Classify};
pub use control::{Control, State};
pub use engine::{NoDeadline, Supervisor};
pub use error::Error;
pub use hook::{Hook, HookFn, Skip};
