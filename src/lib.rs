#![no_std]
#![doc = include_str!("lib.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

#[cfg(feature = "alloc")]
extern crate alloc;
// Under `--cfg loom` (the models of the `procession-loom` package) the atomics of `sync` are
// loom's, which need `std`.
#[cfg(any(feature = "std", loom))]
extern crate std;

pub mod combinator;
pub mod ctx;
mod deadline;
pub mod error;
pub mod group;
pub mod proc;
pub mod process;
pub mod retry;
pub mod runner;
mod set_macros;
pub mod shot;
mod slots;
pub mod supervisor;
mod sync;
pub mod table;
pub mod time;
mod waitqueue;

#[doc(inline)]
pub use combinator::{chain, leaf, leaf_with_stop, parallel, sequential, start_stop};
#[doc(inline)]
pub use ctx::{Cause, Ctx};
#[doc(inline)]
pub use deadline::{Never, never};
#[doc(inline)]
pub use error::{Merge, MultiError, Overrun, Phase, Prefix, StopLevel, TreeError, fail};
#[doc(inline)]
pub use process::Process;
#[doc(inline)]
pub use runner::{Runner, RunnerExt, from_fn, nop};

/// The blocking raw mutexes of embassy-sync that the handles used from other tasks
/// ([`Process`], the `shot` handles, the supervisor's `Control`) are generic over, re-exported
/// so that a program can name one without depending on embassy-sync itself:
/// `CriticalSectionRawMutex` (any task, thread or interrupt), `ThreadModeRawMutex` (thread
/// mode on a Cortex-M) and `NoopRawMutex` (one task only; the handle is then not `Sync`).
pub use embassy_sync::blocking_mutex::raw as mutex;
