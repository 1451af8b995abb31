//! The [`Runner`] contract, and adapters that build or wrap runners.
//!
//! | item | what it is |
//! |---|---|
//! | [`Runner`] | the contract: start, ready, run, stop (graceful, forced, hard) |
//! | [`nop`] ([`Nop`]) | a runner that does nothing: ready at once |
//! | [`from_fn`] ([`FromFn`], [`Lifecycle`], [`Stop`]) | a runner made from an async closure |
//! | [`RunnerExt`] | the adapters every runner has: |
//! | [`named`](RunnerExt::named) ([`Named`]) | names a node: its failures say which it is |
//! | [`prefix_err`](RunnerExt::prefix_err) ([`PrefixErr`]) | prefixes every error that passes through |
//! | [`map_err`](RunnerExt::map_err) ([`MapErr`]) | converts a runner's errors to the tree's type |
//! | [`with_stop_deadline`](RunnerExt::with_stop_deadline) ([`StopDeadline`]) | bounds the stop: graceful, then forced, then hard |
//! | [`with_start_deadline`](RunnerExt::with_start_deadline) ([`StartDeadline`]) | bounds the start |
//! | [`BoxRunner`], [`DynRunner`] (`alloc`) | runners of different types in one `Vec` |
//! | [`SendRunner`], [`send_runner!`](crate::send_runner) (`alloc`) | a boxed runner whose run future is known to be `Send`, for helper functions |
//!
//! # `Send` trees
//!
//! A run future is `Send` whenever the parts of the tree and the callback are: a tree built
//! where it is run (or spawned) can be `tokio::spawn`ed on the multi-threaded runtime as it
//! is. A helper function returning `impl Runner<E>` hides that: the compiler sees only the
//! trait, and stable Rust cannot say in a return type that the future of a generic `async fn`
//! is `Send` (that needs return type notation, unstable). Three ways remain:
//!
//! - return a type of your own with a hand-written [`Runner`] impl that builds the tree in
//!   `run` (its future is then a concrete type, and `Send` is seen through it);
//! - with `alloc`, return a [`SendRunner`], made with [`send_runner!`](crate::send_runner)
//!   where the tree's type is known: one allocation per run, and the run future is `Send`
//!   whenever the callback's is;
//! - build the tree inline, or in a macro.
//!
//! The same helper both ways (`spawn` stands for `tokio::spawn`, which asks the same
//! `Send + 'static`):
//!
//! ```compile_fail,E0277
//! use procession::{Ctx, Runner, TreeError, chain, leaf};
//! # fn spawn<F: core::future::Future + Send + 'static>(_: F) {}
//!
//! fn storage() -> impl Runner<TreeError> {
//!     leaf(async |ctx: &Ctx<'_>| -> Result<(), TreeError> { ctx.cancelled().await; Ok(()) })
//! }
//! let tree = chain((storage(), storage()));
//! // error: the `run` future of `impl Runner<..>` cannot be sent between threads safely
//! spawn(async move { tree.run(&Ctx::new(), async |_| Ok(())).await });
//! ```
//!
//! ```
//! # #[cfg(feature = "alloc")] {
//! use procession::{Ctx, Runner, TreeError, chain, leaf, send_runner};
//! use procession::runner::SendRunner;
//! # fn spawn<F: core::future::Future + Send + 'static>(_: F) {}
//!
//! fn storage() -> SendRunner<TreeError> {
//!     send_runner!(leaf(async |ctx: &Ctx<'_>| -> Result<(), TreeError> { ctx.cancelled().await; Ok(()) }))
//! }
//! let tree = chain((storage(), storage()));
//! spawn(async move { tree.run(&Ctx::new(), async |_| Ok(())).await });
//! # }
//! ```
//!
//! Two more limits of today's compiler, which a spawned tree must avoid whichever way it is
//! built: its async closures own what they use (`async move` with an `Arc`, not a borrow of
//! a local of the spawned future), and its error type has no lifetime parameter (the default
//! [`Message`](crate::error::Message) of [`TreeError`](crate::TreeError), not `&'static
//! str`); otherwise the compiler reports "implementation of `Send` is not general enough".
//!
//! What stays impossible on stable Rust: a bound saying that the future of a *generic*
//! runner, or of a generic async callback, is `Send` (`R: Runner<E>` with a `Send` run
//! future, `F: AsyncFnOnce(..)` with a `Send` future), so a combinator over generic children
//! cannot promise `Send`; it is `Send` at the use site, where the types are known.

mod contract;
mod deadline;
mod ext;
mod from_fn;
mod map_err;
mod named;
mod nop;
mod prefix_err;

#[cfg(feature = "alloc")]
mod boxed;
#[cfg(feature = "alloc")]
mod send;

pub use contract::Runner;
pub use deadline::{StartDeadline, StopDeadline};
pub use ext::RunnerExt;
pub use from_fn::{FromFn, Lifecycle, Stop, from_fn};
pub use map_err::MapErr;
pub use named::Named;
pub use nop::{Nop, nop};
pub use prefix_err::PrefixErr;

#[cfg(feature = "alloc")]
pub use boxed::{BoxRunner, DynReady, DynRunner, LocalBoxFuture};
#[cfg(feature = "alloc")]
pub use send::{SendBoxFuture, SendReady, SendRunner};
