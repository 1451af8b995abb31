//! The keyed supervisor: one process per key of a [`Table`](crate::table::Table), fixed
//! capacity, no heap.
//!
//! | file | what |
//! |---|---|
//! | `variants.rs` | [`KeyedSupervisor`] and, with `alloc`, `DynKeyedSupervisor`: the public types over one core |
//! | `handle.rs` | the core, and the methods any task calls |
//! | `driver.rs` | [`KeyedSupervisor::drive`]: the workers, the reconcile loop, the shutdown |
//! | `book.rs` | the shared state of the slots, and its invariants |
//! | `setup.rs` | [`Setup`], [`Compare`], [`Keep`], [`ByEq`] |
//! | `build.rs` | [`BuildKeyed`] |
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
mod policy;
mod setup;
mod state;
mod variants;

pub use build::BuildKeyed;
pub use claim::{Claim, Everything};
pub use error::{Error, Stopped};
pub use event::{Event, Observe};
pub use policy::{Policy, Restart, RestartOf};
pub use setup::{ByEq, Compare, Keep, Setup};
pub use state::{Counts, Entry, State};
#[cfg(feature = "alloc")]
pub use variants::DynKeyedSupervisor;
pub use variants::KeyedSupervisor;
