//! [`OwnedRun`]: the guard of a run of a [`One`] or a [`Many`] held in an `Arc` (needs
//! `alloc`), for a run started in one spawned task and carried to another.

use alloc::sync::Arc;
use core::fmt;

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use super::error::Error;
use super::many::Many;
use super::one::One;
use super::run::Core;
use crate::ctx::Ctx;

/// The handle an [`OwnedRun`] keeps alive.
enum Owner<'a, M: RawMutex> {
    One(Arc<One<'a, M>>),
    Many(Arc<Many<'a, M>>),
}

impl<'a, M: RawMutex> Owner<'a, M> {
    fn core(&self) -> &Core<'a, M> {
        match self {
            Self::One(one) => one.core(),
            Self::Many(many) => many.core(),
        }
    }
}

/// The guard of one run of a [`One`] or a [`Many`] held in an [`Arc`], returned by
/// [`One::start_owned`] and [`Many::start_owned`] (with `alloc`).
///
/// It is a [`Run`](super::Run) that owns a clone of the `Arc` instead of borrowing the handle,
/// so it has no lifetime of its own: with a handle of lifetime `'static` (a detached one, or one
/// under a `static` context) it can be moved into a `tokio::spawn`ed task, returned from a
/// function or kept in a connection's state. Everything else is as for `Run`: while it exists
/// the instance is Running; dropping it, or [`finish`](Self::finish), ends the run (its context
/// is cancelled, the state becomes Stopped or Closed, every `done` of the run completes, all
/// at once); it is bound to its own run and cannot end a later one.
///
/// It is `Send` and `Sync` when the mutex `M` is `Sync` (the default
/// [`CriticalSectionRawMutex`] is).
///
/// # Examples
///
/// A request handler on a multi-threaded runtime starts the single backup job and hands its
/// guard to the task that does the work; a second request while it runs is refused.
///
/// ```
/// use std::sync::Arc;
/// use procession::shot::{Error, Many, OwnedRun, State};
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// let backup: Arc<Many<'static>> = Arc::new(Many::detached());
///
/// let handler = tokio::spawn({
///     let backup = backup.clone();
///     async move {
///         let run: OwnedRun<'static> = backup.start_owned()?;
///         let worker = tokio::spawn(async move {
///             run.context().cancelled().await; // copy until asked to end
///         });
///         Ok::<_, Error>(worker)
///     }
/// });
/// let worker = handler.await.unwrap().unwrap();
/// assert_eq!(backup.clone().start_owned().err(), Some(Error::Running));
/// backup.end_run(procession::never()).await.unwrap();
/// worker.await.unwrap();
/// assert_eq!(backup.state(), State::Stopped);
/// # }
/// ```
#[must_use = "dropping the guard ends the run at once"]
pub struct OwnedRun<'a, M: RawMutex = CriticalSectionRawMutex> {
    owner: Owner<'a, M>,
}

impl<'a, M: RawMutex> OwnedRun<'a, M> {
    pub(super) fn one(one: Arc<One<'a, M>>) -> Result<Self, Error> {
        one.core().begin()?;
        Ok(Self { owner: Owner::One(one) })
    }

    pub(super) fn many(many: Arc<Many<'a, M>>) -> Result<Self, Error> {
        many.core().begin()?;
        Ok(Self { owner: Owner::Many(many) })
    }

    /// The context of this run, as [`Run::context`](super::Run::context): cancelled when a
    /// close or the end of the run is requested, when the parent context is cancelled, and when
    /// this run ends.
    pub fn context(&self) -> &Ctx<'a> {
        self.owner.core().ctx()
    }

    /// Ends the run (the same as dropping the guard). It consumes the guard, so it cannot be
    /// called twice.
    pub fn finish(self) {}
}

impl<M: RawMutex> Drop for OwnedRun<'_, M> {
    fn drop(&mut self) {
        self.owner.core().finish();
    }
}

impl<M: RawMutex> fmt::Debug for OwnedRun<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedRun").field("ctx", self.owner.core().ctx()).finish()
    }
}
