//! The public types over one [`Core`]: [`KeyedSupervisor`] (fixed capacity, no heap) and,
//! with `alloc`, [`DynKeyedSupervisor`] (no capacity, boxed workers). Their methods are the
//! same, forwarded to the core.

#![allow(clippy::type_complexity, reason = "the setup's parameters, each chosen by the user")]

use core::fmt;
use core::future::Future;

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use super::book::Fixed;
#[cfg(feature = "alloc")]
use super::book::Growing;
use super::handle::Core;
use super::{
    BuildKeyed, Claim, Compare, Counts, Entry, Error, Hooks, Observe, Policy, PostFn, PreFn, RemovedFn, RestartOf,
    Setup, Stopped,
};
use crate::ctx::Ctx;
use crate::error::{Merge, Overrun};
use crate::retry::Backoff;
use crate::supervisor;
use crate::table::Table;
use crate::time::Clock;

/// A supervisor of one process per key of a [`Table`](crate::table::Table), with a fixed
/// capacity of `N` keys and no heap.
///
/// See the [module docs](super) for what it does and how; in short: the value holds the state
/// of every key (so it can be a `static`: [`new`](Self::new) is `const`), its owner polls the
/// driver [`drive`](Self::drive), in which every process runs (nothing is spawned), and any
/// task calls the handle methods.
///
/// - `K` is the key (`Eq + Clone`; found by a scan of the `N` slots that begins after the slot
///   last found, so that a pass over a table in the order of its slots finds each key at once),
///   `V` the table's value, `E` the error type of the processes (`Clone`: every waiting caller
///   gets it).
/// - `N` (by default 8) is the capacity: how many keys hold a slot at once, in any state.
/// - `M` is the blocking mutex of the state, as in embassy-sync: by default
///   [`CriticalSectionRawMutex`], so that handles work from any task, thread or interrupt.
///
/// The parameters with defaults come last (`N`, then `M`), as for [`shot::Group`](crate::shot::Group),
/// so `static S: KeyedSupervisor<u8, Config, MyError> = KeyedSupervisor::new();` needs nothing
/// else. The supervisor owns no table, builder, clock or context (so it has no lifetime): the
/// context is given to [`drive`](Self::drive), the rest in a [`Setup`](super::Setup), so that a
/// `static` needs none of their types.
///
/// The driver's future is `Send` (it can be spawned on a multi-threaded runtime) whenever the
/// setup's parts and the processes' futures are; the compiler checks it where it is spawned.
///
/// Tasks waiting in `start`, `stop` or `restart` register in the crate's bounded waiter slots
/// ([`WAITER_SLOTS`](crate::ctx::WAITER_SLOTS), then the program-wide spill table); every change
/// of the state wakes them, and each looks again at its own key.
///
/// Dropping the supervisor is only possible once nothing borrows it, so no driver runs then.
pub struct KeyedSupervisor<K, V, E, const N: usize = 8, M: RawMutex = CriticalSectionRawMutex> {
    core: Core<K, V, E, Fixed<K, V, E, N>, M>,
}

impl<K, V, E, const N: usize, M: RawMutex> KeyedSupervisor<K, V, E, N, M> {
    /// A supervisor with no key and no driver. `const`, so it can be a `static`.
    pub const fn new() -> Self {
        Self { core: Core::with(Fixed::new()) }
    }
}

impl<K, V, E, const N: usize, M: RawMutex> Default for KeyedSupervisor<K, V, E, N, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, E, const N: usize, M: RawMutex> fmt::Debug for KeyedSupervisor<K, V, E, N, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt(f)
    }
}

/// A supervisor of one process per key of a [`Table`], like [`KeyedSupervisor`] but without a
/// capacity (with `alloc`): its slots grow on the heap as keys come (up to
/// [`with_max_keys`](Self::with_max_keys), if given), each slot's worker is boxed, and
/// [`keys`](Self::keys) returns a `Vec`.
///
/// Its semantics, errors and events are those of [`KeyedSupervisor`], and the same tests run
/// against both. Slots are never given back to the heap: a freed slot is reused by the next
/// key, so the memory is that of the most keys held at once. Each slot keeps the waker of its
/// boxed worker, which is woken only when that slot changes: a wake polls the workers of the
/// keys it concerns, not every slot (a free slot's worker is not polled until the slot is
/// reserved again). Its driver's future is not `Send` (the boxed
/// workers carry no `Send` bound): drive it on a local executor, or use [`KeyedSupervisor`].
#[cfg(feature = "alloc")]
pub struct DynKeyedSupervisor<K, V, E, M: RawMutex = CriticalSectionRawMutex> {
    core: Core<K, V, E, Growing<K, V, E>, M>,
}

#[cfg(feature = "alloc")]
impl<K, V, E, M: RawMutex> DynKeyedSupervisor<K, V, E, M> {
    /// A supervisor with no key, no driver and no limit on the number of keys. `const`, so it
    /// can be a `static`.
    pub const fn new() -> Self {
        Self::with_max_keys(usize::MAX)
    }

    /// A supervisor that holds at most `max` keys at once (more are [`Error::Full`]).
    pub const fn with_max_keys(max: usize) -> Self {
        Self { core: Core::with(Growing::new(max)) }
    }
}

#[cfg(feature = "alloc")]
impl<K, V, E, M: RawMutex> Default for DynKeyedSupervisor<K, V, E, M> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "alloc")]
impl<K, V, E, M: RawMutex> fmt::Debug for DynKeyedSupervisor<K, V, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt(f)
    }
}

/// The methods both variants forward to the core, with their docs, written once: `$drive` is
/// the core's drive of the variant's store; the items in braces come first in the impl block.
macro_rules! handle_methods {
    ($(#[$attr:meta])* impl[$($gen:tt)*] $ty:ty, $drive:ident, { $($first:item)* }) => {
        $(#[$attr])*
        impl<$($gen)*> $ty
        where
            K: Eq + Clone,
            E: Clone,
            M: RawMutex,
        {
            $($first)*

    /// Whether a driver runs this supervisor now.
    pub fn is_driving(&self) -> bool {
        self.core.is_driving()
    }

    /// Starts `key` and waits until its process is ready.
    ///
    /// Reserves a slot for the key at once; the driver then looks the key up in the table,
    /// builds its process from the value and runs it. Returns `Ok` once the process is ready
    /// (its `ready` callback runs).
    ///
    /// # Errors
    ///
    /// At once, without changing anything:
    /// - [`Error::NotRunning`] if no driver runs, or it is shutting down;
    /// - [`Error::Exists`] if the key has a slot (in any state);
    /// - [`Error::Full`] with the key if every slot is taken.
    ///
    /// Later, and then the key's slot is freed or left as the error says:
    /// - [`Error::NotInTable`], [`Error::Table`] if the lookup found nothing or failed (freed);
    /// - [`Error::Start`] if the process failed before it was ready, [`Error::ExitedBeforeReady`]
    ///   if it returned `Ok` without being ready (the restart policy then decides, as for any
    ///   end of the key's process);
    /// - [`Error::StoppedBeforeReady`] if a stop, restart, forget or the shutdown came first;
    /// - [`Error::DriverGone`] if the driver was dropped.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the start: the key keeps its slot and goes on
    /// starting. To bound the wait for a process that may never be ready, race this future
    /// with a deadline, then [`stop`](Self::stop) the key.
    pub async fn start(&self, key: K) -> Result<(), Error<K, E>> {
        self.core.start(key).await
    }

    /// Asks the driver to bring `key` in line with the table, without waiting; returns whether
    /// this call changed anything.
    ///
    /// A key without a slot gets one (the driver looks it up and starts it, as
    /// [`start`](Self::start) does, reporting the outcome only as [`Event`](super::Event)s); a
    /// key with a slot is marked, and the driver looks it up again and converges it as a pass
    /// would (revives an exited key, replaces or prunes it when the setup says so). Requests
    /// coalesce: while a key's mark is pending, more requests return `Ok(false)`.
    ///
    /// # Errors
    ///
    /// - [`Error::NotRunning`] if no driver runs, or it is shutting down;
    /// - [`Error::Full`] with the key if it has no slot and none is free.
    pub fn request(&self, key: K) -> Result<bool, Error<K, E>> {
        self.core.request(key)
    }

    /// Asks the driver for a reconcile pass now, without waiting; returns whether this call
    /// changed anything (`false` if one is already asked, or no driver runs). The next periodic
    /// pass is then measured from the start of this one.
    pub fn reconcile_now(&self) -> bool {
        self.core.reconcile_now()
    }

    /// Stops `key`'s process and waits until it has returned, escalating graceful → forced →
    /// hard; the key then stays, [`Stopped`](super::State::Stopped), until [`restart`](Self::restart)
    /// or [`forget`](Self::forget) (a reconcile pass does not start it again).
    ///
    /// - A ready process is stopped gracefully (its `ready` callback returns). If it has not
    ///   returned when `graceful()` completes, its context is cancelled with
    ///   [`Cause::Deadline`](crate::Cause::Deadline) (forced); if it has not returned when `forced()` completes, the
    ///   driver drops its future (hard).
    /// - A process still starting is cancelled at once ([`Cause::Shutdown`](crate::Cause::Shutdown)); `graceful` is
    ///   not used, and the hard level follows `forced()`.
    /// - A key with no process (reserved, backing off, exited, failed, stopped) becomes
    ///   `Stopped` at once: a pending restart is dropped, never undone later. This is not an
    ///   error, also when the process has just ended by itself.
    ///
    /// Returns how the stop ended ([`Stopped`]: the level the deadlines reached and what the
    /// process returned). The deadlines are closures, each called when its level begins;
    /// [`never`](crate::never) never passes.
    ///
    /// # Errors
    ///
    /// - [`Error::NotFound`] if the key has no slot;
    /// - [`Error::NotRunning`] if no driver runs;
    /// - [`Error::DriverGone`] if the driver was dropped while the stop waited.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the stop: it goes on at the level asked so far,
    /// without further escalation.
    pub async fn stop<G, GF, H, HF>(&self, key: &K, graceful: G, forced: H) -> Result<Stopped<E>, Error<K, E>>
    where
        G: FnOnce() -> GF,
        GF: Future<Output = ()>,
        H: FnOnce() -> HF,
        HF: Future<Output = ()>,
    {
        self.core.stop(key, graceful, forced).await
    }

    /// Restarts `key` as one operation: its process is stopped as [`stop`](Self::stop) does
    /// (with [`Cause::Restart`](crate::Cause::Restart) for the forced level), and once it has returned a new one is
    /// built from a fresh lookup of the table; waits until the new one is ready. A key with no
    /// process (exited, failed, stopped, backing off) is started again at once; this is how a
    /// stopped or quarantined key is revived.
    ///
    /// Returns how the old process stopped.
    ///
    /// # Errors
    ///
    /// The errors of [`stop`](Self::stop), then those of [`start`](Self::start) for the new
    /// process.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the restart.
    pub async fn restart<G, GF, H, HF>(&self, key: &K, graceful: G, forced: H) -> Result<Stopped<E>, Error<K, E>>
    where
        G: FnOnce() -> GF,
        GF: Future<Output = ()>,
        H: FnOnce() -> HF,
        HF: Future<Output = ()>,
    {
        self.core.restart(key, graceful, forced).await
    }

    /// Frees `key`'s slot. Allowed while no process of the key exists: reserved (the start is
    /// cancelled), backing off (the restart is dropped), exited, stopped, failed.
    ///
    /// With a [`removed`](super::Hooks::removed) hook in the drive's setup, a key that ran an
    /// incarnation is freed by the driver once the hook has returned; until then it keeps its
    /// slot in its last state (a [`start`](Self::start) of it is [`Error::Exists`]).
    ///
    /// # Errors
    ///
    /// - [`Error::NotFound`] if the key has no slot;
    /// - [`Error::Busy`] with its state if a process of the key is starting, running or
    ///   stopping ([`stop`](Self::stop) it first), or its `removed` hook runs.
    pub fn forget(&self, key: &K) -> Result<(), Error<K, E>> {
        self.core.forget(key)
    }

    /// The state of `key`: [`Entry`] (state, incarnation, restarts, since when).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the key has no slot. A reserved or starting key is found (its
    /// state says so).
    pub fn get(&self, key: &K) -> Result<Entry, Error<K, E>> {
        self.core.get(key)
    }

    /// Calls `f` with every key and its [`Entry`], in slot order, under the lock (so `f` must
    /// not call the supervisor).
    pub fn for_each(&self, f: impl FnMut(&K, &Entry)) {
        self.core.for_each(f);
    }

    /// How many keys are in each state, counted in one critical section.
    pub fn counts(&self) -> Counts {
        self.core.counts()
    }

    /// The driver: restores the keys of the table, keeps them in line with it, runs every
    /// key's process in its own slot of this future, and calls `callback` once the restored
    /// keys are ready; when the callback returns, stops every key and returns.
    ///
    /// Its owner polls it (an embassy task, a tokio task, a `join` arm); nothing is spawned.
    ///
    /// 1. If another drive of this supervisor is active, return
    ///    [`supervisor::Error::RecursiveOrConcurrentRun`] at once.
    /// 2. Forget every key of an earlier drive. Run the first reconcile pass: every key of the
    ///    table gets a slot and its process is built and started.
    /// 3. Wait, at most the setup's [initial wait](Setup::initial_wait) from the start of the
    ///    drive, until the first pass has ended and each key it started is ready or has given
    ///    up; report which made it ([`Event::Restored`](super::Event::Restored)). Then call `callback` with a child of
    ///    `ctx`. Meanwhile a pass runs every [interval](Setup::every) from the start of the last
    ///    one, and at once on [`reconcile_now`](Self::reconcile_now); requests are served as
    ///    they come.
    /// 4. When the callback returns, refuse new starts, cancel the table's calls and every
    ///    start in flight, stop every running key gracefully (all at once, each bounded by the
    ///    setup's [shutdown deadlines](Setup::shutdown_deadlines)), and return once every
    ///    process has returned.
    ///
    /// Cancelling `ctx` is a forced stop from outside, in dependency order: the callback's
    /// context is cancelled at once; the processes' only once the callback has returned. If
    /// `ctx` is cancelled before the initial wait ends, the callback is not called.
    ///
    /// # Errors
    ///
    /// The callback's error, then the failures of the shutdown (each key's error and the
    /// [`Overrun`] of a key whose stop passed a deadline), merged ([`Merge`]). If the
    /// supervisor-wide intensity was exceeded, the failure that exceeded it and
    /// [`supervisor::Error::IntensityExceeded`] come after the callback's. Errors during the run
    /// (a table that fails, a process that fails and is restarted) are [`Event`](super::Event)s, not results.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops every process where it is (the hard stop) and ends the drive:
    /// handles waiting on a key get [`Error::DriverGone`], and a new drive can begin.
    #[allow(clippy::type_complexity, reason = "the setup's parameters, each chosen by the user")]
    pub async fn drive<T, B, C, BO, RP, O, X, G, GF, F, FF, L, HP, HQ, HD, CB, const R: usize, const S: usize>(
        &self,
        ctx: &Ctx<'_>,
        setup: &Setup<T, B, C, Policy<BO, RP, R, S>, O, X, G, F, L, Hooks<HP, HQ, HD>>,
        callback: CB,
    ) -> Result<(), E>
    where
        T: Table<K, V>,
        E: From<T::Error> + Merge + From<Overrun> + From<supervisor::Error>,
        B: BuildKeyed<K, V, E>,
        C: Clock,
        BO: Backoff,
        RP: RestartOf<K, V>,
        O: Observe<K, E>,
        X: Compare<V>,
        G: Fn() -> GF,
        GF: Future<Output = ()>,
        F: Fn() -> FF,
        FF: Future<Output = ()>,
        L: Claim<K, E>,
        HP: PreFn<K, V, E, B::Runner>,
        HQ: PostFn<K, V, E>,
        HD: RemovedFn<K, V, E>,
        CB: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.core.$drive(ctx, setup, callback).await
    }
        }
    };
}

handle_methods!(impl[K, V, E, const N: usize, M] KeyedSupervisor<K, V, E, N, M>, drive_fixed, {
    /// Every key holding a slot, in slot order, reserved ones included (their
    /// [`get`](Self::get) says [`State::Reserved`](super::State::Reserved)). No heap: the keys
    /// are cloned into a `heapless::Vec` of the supervisor's capacity.
    pub fn keys(&self) -> heapless::Vec<K, N> {
        let mut keys = heapless::Vec::new();
        self.core.for_each(|k, _| {
            // Cannot fail: there are at most `N` slots.
            let _ = keys.push(k.clone());
        });
        keys
    }
});

handle_methods!(#[cfg(feature = "alloc")] impl[K, V, E, M] DynKeyedSupervisor<K, V, E, M>, drive_dyn, {
    /// Every key holding a slot, in slot order, reserved ones included (their
    /// [`get`](Self::get) says [`State::Reserved`](super::State::Reserved)).
    pub fn keys(&self) -> alloc::vec::Vec<K> {
        let mut keys = alloc::vec::Vec::new();
        self.core.for_each(|k, _| keys.push(k.clone()));
        keys
    }
});
