//! The keyed supervisor: one process per key of a [`Table`](crate::table::Table), fixed
//! capacity without a heap ([`KeyedSupervisor`]), or on the heap with `alloc`
//! (`DynKeyedSupervisor`, same semantics).
//!
//! A table says which processes should run (one value per key); the supervisor runs one
//! process per key, built from the key and its value by a [`BuildKeyed`], and keeps the set of
//! running keys in line with the table: a *reconcile pass* over the table every interval (and
//! on demand) starts the keys that should run, and handle calls from any task start, stop,
//! restart and read single keys. Nothing is spawned: every process runs inside the driver
//! future [`drive`](KeyedSupervisor::drive), one slot of it per key.
//!
//! # Operations
//!
//! | operation | method |
//! |---|---|
//! | the future its owner polls to do the work | [`drive(ctx, setup, callback)`](KeyedSupervisor::drive); a second one is an error at once |
//! | start one key and wait until it is ready | [`start(key)`](KeyedSupervisor::start) `-> Result<(), Error>` |
//! | ask for a key without waiting (coalesces) | [`request(key)`](KeyedSupervisor::request) `-> Result<bool, Error>` |
//! | bounded stop of one key, escalating | [`stop(key, graceful, forced)`](KeyedSupervisor::stop) `->` [`Stopped`] (the level reached) |
//! | restart one key as one operation | [`restart(key, graceful, forced)`](KeyedSupervisor::restart) |
//! | free a key that does not run | [`forget(key)`](KeyedSupervisor::forget) |
//! | read one key | [`get(key)`](KeyedSupervisor::get) `->` [`Entry`] (state, incarnation, restarts, since) |
//! | read every key | [`keys()`](KeyedSupervisor::keys) (a `heapless::Vec`), [`for_each`](KeyedSupervisor::for_each), [`counts()`](KeyedSupervisor::counts) |
//! | a reconcile pass now, without waiting | [`reconcile_now()`](KeyedSupervisor::reconcile_now) `-> bool` |
//!
//! There is no `done()`: the supervisor outlives its drives, and the end of a drive is the end
//! of its future. The drive's callback returning is the stop of the whole supervisor.
//!
//! # What holds
//!
//! - **One process per key, never two at once.** A key's next incarnation is built only once
//!   the last one's future has returned or been dropped.
//! - **Stale actions never win.** Every slot carries a generation that every change from
//!   outside moves; every deferred action (the restart after a backoff, the launch after a
//!   lookup) is dropped if it moved. A stop during a backoff is never undone by the pending
//!   restart; a late failure of an old incarnation never touches a new one.
//! - **Starts wait for readiness**: [`start`](KeyedSupervisor::start) returns once the
//!   process is ready, or with why it never will be (the table's error, not in the table, the
//!   start failure, stopped before ready). So does the callback of the drive, for the keys of
//!   the first pass (bounded by [`Setup::initial_wait`], with [`Event::Restored`] saying which
//!   made it).
//! - **Every stop is bounded** by deadlines, graceful → forced → hard: a handle's by its own,
//!   the driver's own stops (shutdown, prune, replace, a lost claim) by
//!   [`Setup::shutdown_deadlines`].
//! - **A pass is not a snapshot**: a key seen twice is converged twice (the last value wins, no
//!   error); keys are pruned ([`Setup::prune`]) only after a pass that ended cleanly, and only
//!   those that had a slot before the pass began.
//! - **Restart policy per key** ([`Policy`]): permanent, transient or temporary; a backoff per
//!   key that advances only when an attempt really ran and failed, and starts afresh after a
//!   stable run; a per-key intensity that quarantines the key alone; an optional
//!   supervisor-wide intensity that ends the run.
//! - **Every error is reported**: to the drive's result (the callback's, then the shutdown's),
//!   to the waiting handle, or as an [`Event`] to the setup's [`Observe`]r (and to `log`,
//!   `defmt`, `tracing` with those features): none is dropped.
//! - **Capacity is explicit**: a key beyond `N` is [`Error::Full`], the key handed back.
//! - **Hooks** ([`Setup::hooks`], [`Hooks`]): `pre` before each incarnation's runner runs (its
//!   error is the start failure), `post` after it ended, and `removed` before the slot of a
//!   key that leaves (pruned, forgotten) is freed, bounded by [`Setup::shutdown_deadlines`].
//!   They run in the key's slot of the driver, so they never overlap the key's next
//!   incarnation; without them nothing is spent.
//! - **A dropped driver** drops every process where it is; waiting handles get
//!   [`Error::DriverGone`].
//!
//! # Examples
//!
//! One worker per device, restored from a table and restarted after a failure:
//!
//! ```
//! use core::time::Duration;
//! use procession::retry::Exp2;
//! use procession::table::{Cursor, KeyedSupervisor, Policy, Restart, Setup, State, Table};
//! use procession::time::ManualClock;
//! use procession::{Ctx, TreeError, leaf, never};
//!
//! // A table of device number → polling period (ms), in RAM.
//! struct Devices(&'static [(u8, u32)]);
//! struct Pass(&'static [(u8, u32)]);
//! #[derive(Debug)]
//! struct NoError;
//! impl From<NoError> for TreeError {
//!     fn from(_: NoError) -> Self { procession::fail::<(), _, Self>("table").unwrap_err() }
//! }
//! impl Table<u8, u32> for Devices {
//!     type Error = NoError;
//!     type Cursor<'a> = Pass;
//!     async fn get(&self, _: &Ctx<'_>, key: &u8) -> Result<Option<u32>, NoError> {
//!         Ok(self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v))
//!     }
//!     async fn iter(&self, _: &Ctx<'_>) -> Result<Pass, NoError> {
//!         Ok(Pass(self.0))
//!     }
//! }
//! impl Cursor<u8, u32> for Pass {
//!     type Error = NoError;
//!     async fn next(&mut self, _: &Ctx<'_>) -> Result<Option<(u8, u32)>, NoError> {
//!         let Some((first, rest)) = self.0.split_first() else { return Ok(None) };
//!         self.0 = rest;
//!         Ok(Some(*first))
//!     }
//! }
//!
//! static DEVICES: KeyedSupervisor<u8, u32, TreeError> = KeyedSupervisor::new();
//!
//! let worker = |_device: &u8, _period: &u32| {
//!     leaf(async |ctx: &Ctx<'_>| -> Result<(), TreeError> {
//!         ctx.cancelled().await; // poll the device until told to stop
//!         Ok(())
//!     })
//! };
//! let clock = ManualClock::new();
//! let policy = Policy::new().restart(Restart::Permanent).backoff(Exp2::new(Duration::from_millis(50)));
//! let setup = Setup::new(Devices(&[(1, 100), (2, 250), (3, 500)]), worker, &clock)
//!     .policy(policy)
//!     .every(Duration::from_secs(30));
//! let root = Ctx::new();
//! let result = embassy_futures::block_on(DEVICES.drive(&root, &setup, async |_ctx: &Ctx<'_>| {
//!     // The callback runs once the restored keys are ready.
//!     assert_eq!(DEVICES.keys().as_slice(), [1, 2, 3]);
//!     assert_eq!(DEVICES.get(&2).map(|e| e.state), Ok(State::Running));
//!     let stopped = DEVICES.stop(&2, never, never).await.unwrap();
//!     assert_eq!(stopped.result, Ok(()));
//!     Ok(()) // done: every key stops, the drive returns
//! }));
//! assert_eq!(result, Ok(()));
//! ```
//!
//! | file | what |
//! |---|---|
//! | `variants.rs` | [`KeyedSupervisor`] and, with `alloc`, `DynKeyedSupervisor`: the public types over one core |
//! | `handle.rs` | the core, and the methods any task calls |
//! | `driver.rs` | [`KeyedSupervisor::drive`]: the workers, the reconcile loop, the shutdown |
//! | `book.rs` | the shared state of the slots, and its invariants |
//! | `setup.rs` | [`Setup`], [`Compare`], [`Keep`], [`ByEq`] |
//! | `build.rs` | [`BuildKeyed`] |
//! | `hook.rs` | [`Hooks`], [`PreFn`], [`PostFn`], [`RemovedFn`], [`Ended`] |
//! | `claim.rs` | [`Claim`], [`Everything`] |
//! | `policy.rs` | [`Policy`], [`Restart`], [`RestartOf`] |
//! | `event.rs` | [`Event`], [`Observe`] |
//! | `state.rs` | [`State`], [`Entry`], [`Counts`] |
//! | `error.rs` | [`Error`], [`Stopped`] |

mod book;
mod build;
mod claim;
mod driver;
mod error;
mod event;
mod handle;
mod hook;
mod policy;
mod setup;
mod state;
mod variants;

pub use build::BuildKeyed;
pub use claim::{Claim, Everything};
pub use error::{Error, Stopped};
pub use event::{Event, Observe};
pub use hook::{Ended, Hooks, PostFn, PreFn, RemovedFn};
pub use policy::{Policy, Restart, RestartOf};
pub use setup::{ByEq, Compare, Keep, Setup};
pub use state::{Counts, Entry, State};
#[cfg(feature = "alloc")]
pub use variants::DynKeyedSupervisor;
pub use variants::KeyedSupervisor;
