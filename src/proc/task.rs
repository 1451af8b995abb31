//! [`task`] and [`trace_region`]: named processes, for tracing and for error reports.

use core::fmt;
use core::marker::PhantomData;

use super::Proc;
use crate::ctx::Ctx;

/// A failure of a named process: the name given to [`task`] and the process's own error.
///
/// `Display` is `"<name>: <error>"`; [`source`](core::error::Error::source) is the
/// process's error.
///
/// A `TaskError` is one failure: when it wraps a list of failures, combinators keep it whole
/// and do not flatten the list into theirs.
///
/// # Examples
///
/// ```
/// use core::error::Error;
/// use procession::Overrun;
/// use procession::error::{Phase, StopLevel};
/// use procession::proc::TaskError;
///
/// let error = TaskError::new("web", Overrun::new(Phase::Stop, StopLevel::Hard));
/// assert_eq!(error.to_string(), "web: stop deadline passed, dropped");
/// assert!(error.source().is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TaskError<E> {
    /// The name given to [`task`].
    pub name: &'static str,
    /// What the process returned.
    pub error: E,
}

// === impl TaskError ===

impl<E> TaskError<E> {
    /// The failure `error` of the task `name`.
    pub const fn new(name: &'static str, error: E) -> Self {
        Self { name, error }
    }

    /// The process's own error, without the name.
    pub fn into_inner(self) -> E {
        self.error
    }
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.error)
    }
}

impl<E: core::error::Error + 'static> core::error::Error for TaskError<E> {
    /// The process's own error.
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.error)
    }
}

// === Task ===

/// Process for the [`task`] function.
#[must_use = "a process does nothing until it is run"]
pub struct Task<P, E> {
    name: &'static str,
    process: P,
    error: PhantomData<fn() -> E>,
}

impl<P: Clone, E> Clone for Task<P, E> {
    fn clone(&self) -> Self {
        Self { name: self.name, process: self.process.clone(), error: PhantomData }
    }
}

impl<P, E> fmt::Debug for Task<P, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Names a process: its failures come back as [`TaskError`]s, and each run is a traced task.
///
/// The process runs on the caller's context, unchanged. If it fails with `error`, the task
/// fails with `E2::from(TaskError { name, error })`: `E2` is `TaskError<E>` itself, or any
/// error type that can hold one, such as the tree's own enum or a
/// [`MultiError`](super::MultiError) of such an enum, or the ready-made
/// [`TreeError`](crate::TreeError), which names each failure after the task (also every
/// failure of a process that returns a `TreeError` itself). On success it returns `Ok`. `E2` is
/// chosen by where the task is used (the error type of the set it is in, or of the `let` its
/// result goes to); when nothing fixes it, name it.
///
/// Each run is also visible to the tools that are enabled:
///
/// - feature `tracing`: the run is inside an `INFO` span named `task` with the field `name`;
/// - feature `log`: a `DEBUG` record when the run starts and one when it ends;
/// - feature `defmt`: the same as `debug!` messages, on targets without an operating system
///   (firmware, where a defmt global logger exists); on hosted targets nothing is written;
/// - feature `std`, on unix: while [`main()`](super::main) runs, the task's name is listed as
///   running, so that a second signal can report which tasks did not stop.
///
/// Without these features a task adds nothing but the error wrapper.
///
/// # Examples
///
/// ```
/// use procession::Ctx;
/// use procession::proc::{Proc, TaskError, task};
///
/// let web = task("web", async |_: &Ctx<'_>| -> Result<(), &'static str> { Err("address in use") });
/// let root = Ctx::new();
/// let error: TaskError<&str> = embassy_futures::block_on(web.run(&root)).unwrap_err();
/// assert_eq!(error, TaskError::new("web", "address in use"));
/// assert_eq!(error.to_string(), "web: address in use");
/// ```
pub const fn task<P, E>(name: &'static str, process: P) -> Task<P, E>
where
    P: Proc<E>,
{
    Task { name, process, error: PhantomData }
}

impl<P, E> Task<P, E> {
    /// The name given to [`task`].
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<P, E, E2> Proc<E2> for Task<P, E>
where
    P: Proc<E>,
    E2: From<TaskError<E>>,
{
    /// Runs the process inside the task; see [`task`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the process wherever it is and closes the span.
    async fn run(&self, ctx: &Ctx<'_>) -> Result<(), E2> {
        let name = self.name;
        #[cfg(all(feature = "std", unix))]
        let _running = super::main::running::enter(name);
        note::started("task", name);
        #[cfg(feature = "tracing")]
        let result = {
            use tracing::Instrument;
            self.process.run(ctx).instrument(tracing::info_span!("task", name)).await
        };
        #[cfg(not(feature = "tracing"))]
        let result = self.process.run(ctx).await;
        note::ended("task", name, result.is_ok());
        result.map_err(|error| E2::from(TaskError { name, error }))
    }
}

// === TraceRegion ===

/// Process for the [`trace_region`] function.
#[derive(Clone, Copy)]
#[must_use = "a process does nothing until it is run"]
pub struct TraceRegion<P> {
    name: &'static str,
    process: P,
}

impl<P> fmt::Debug for TraceRegion<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceRegion").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Runs a process inside a named trace region, returning its result unchanged.
///
/// The process gets the caller's context. With feature `tracing` the run is inside a `DEBUG`
/// span named `region` with the field `name`; with `log` (or `defmt`, on targets without an
/// operating system) a `TRACE` record marks its start and end. Without these features it adds
/// nothing.
///
/// The span is closed however the run ends: also after a panic, and when its future is
/// dropped.
///
/// # Examples
///
/// ```
/// use procession::Ctx;
/// use procession::proc::{Proc, trace_region};
///
/// let load = trace_region("load config", async |_: &Ctx<'_>| -> Result<(), &'static str> { Err("missing") });
/// let root = Ctx::new();
/// assert_eq!(embassy_futures::block_on(load.run(&root)), Err("missing"));
/// ```
pub const fn trace_region<P>(name: &'static str, process: P) -> TraceRegion<P> {
    TraceRegion { name, process }
}

impl<P> TraceRegion<P> {
    /// The name given to [`trace_region`].
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<E, P: Proc<E>> Proc<E> for TraceRegion<P> {
    /// Runs the process inside the region; see [`trace_region`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the process wherever it is and closes the span.
    async fn run(&self, ctx: &Ctx<'_>) -> Result<(), E> {
        note::region_started(self.name);
        #[cfg(feature = "tracing")]
        let result = {
            use tracing::Instrument;
            self.process.run(ctx).instrument(tracing::debug_span!("region", name = self.name)).await
        };
        #[cfg(not(feature = "tracing"))]
        let result = self.process.run(ctx).await;
        note::region_ended(self.name);
        result
    }
}

/// Log records for tasks and regions: `log`, or `defmt` on targets without an OS; nothing
/// otherwise.
mod note {
    #[allow(unused_variables, reason = "used only with `log` or `defmt`")]
    pub(super) fn started(kind: &str, name: &'static str) {
        #[cfg(feature = "log")]
        log::debug!("{kind} {name}: started");
        #[cfg(all(feature = "defmt", target_os = "none"))]
        defmt::debug!("{=str} {=str}: started", kind, name);
    }

    #[allow(unused_variables, reason = "used only with `log` or `defmt`")]
    pub(super) fn ended(kind: &str, name: &'static str, ok: bool) {
        #[cfg(feature = "log")]
        log::debug!("{kind} {name}: {}", if ok { "done" } else { "failed" });
        #[cfg(all(feature = "defmt", target_os = "none"))]
        defmt::debug!("{=str} {=str}: {=str}", kind, name, if ok { "done" } else { "failed" });
    }

    #[allow(unused_variables, reason = "used only with `log` or `defmt`")]
    pub(super) fn region_started(name: &'static str) {
        #[cfg(feature = "log")]
        log::trace!("region {name}: started");
        #[cfg(all(feature = "defmt", target_os = "none"))]
        defmt::trace!("region {=str}: started", name);
    }

    #[allow(unused_variables, reason = "used only with `log` or `defmt`")]
    pub(super) fn region_ended(name: &'static str) {
        #[cfg(feature = "log")]
        log::trace!("region {name}: ended");
        #[cfg(all(feature = "defmt", target_os = "none"))]
        defmt::trace!("region {=str}: ended", name);
    }
}
