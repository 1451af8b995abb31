//! The keyed supervisor over a [`Table`] of desired processes.
//!
//! A [`Table`] says which processes should run: one value `V` per key `K`, looked up one key at
//! a time ([`Table::get`]) or walked in one pass ([`Table::iter`] and its [`Cursor`]). Both are
//! async and fallible, so a database or a flash key map can back a table as well as a slice in
//! RAM.
//!
//! This module is an index: the traits live in `store`, each adapter in a file of its own.

mod store;

pub use store::{Cursor, Table};

// -- adapters (table helper) --
#[cfg(feature = "alloc")]
mod btree_table;
mod changes;
mod map_table;
mod static_table;

#[cfg(feature = "alloc")]
pub use btree_table::{BTreeCursor, BTreeTable};
pub use map_table::{MapCursor, MapTable};
pub use static_table::{StaticCursor, StaticTable};

// -- keyed supervisor (keyed helper) --

pub mod keyed;

#[cfg(feature = "alloc")]
pub use keyed::DynKeyedSupervisor;
pub use keyed::{
    BuildKeyed, ByEq, Claim, Compare, Counts, Ended, Entry, Error, Event, Everything, Hooks, Keep, KeyedSupervisor,
    Observe, Policy, PostFn, PreFn, RemovedFn, Restart, RestartOf, Setup, State, Stopped,
};
