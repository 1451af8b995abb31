//! [`RunnerExt`]: the adapters every runner has.

use core::future::Future;
use core::marker::PhantomData;

use super::{MapErr, Named, PrefixErr, Runner, StartDeadline, StopDeadline};
use crate::error::{Merge, Overrun, Prefix};
#[allow(unused_imports, reason = "intra-doc links")]
use crate::{ctx::Cause, error::Phase};

/// Adapters for every [`Runner`].
///
/// Each adapter states what it needs of the error type `E` on the method itself, so that a
/// missing piece (say `From<Overrun>` for a list of plain messages) is reported where the
/// adapter is written. The ready-made [`TreeError`](crate::TreeError) has every piece.
pub trait RunnerExt<E>: Runner<E> + Sized {
    /// Names this node: every failure of this runner (and of the runners inside it) says it
    /// came from `name`, through the error type's [`Prefix`] implementation, so that a
    /// deadline passed in this node reads "storage: stop deadline passed, dropped".
    ///
    /// Put it outside the adapters whose failures it should name:
    /// `runner.with_stop_deadline(..).named("storage")`. In a
    /// [`TreeError`](crate::TreeError) the innermost name of a failure is kept (a node
    /// named inside a named node keeps its own name). The callback's error is not named: it
    /// is not this node's failure (the wrapped runner sees its callback return `Ok`, and the
    /// callback's error is given back unchanged, with precedence).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{Ctx, Runner, RunnerExt, TreeError, fail, leaf};
    ///
    /// let storage = leaf(async |_: &Ctx<'_>| -> Result<(), TreeError> { fail("disk full") }).named("storage");
    /// let root = Ctx::new();
    /// let error = embassy_futures::block_on(storage.run(&root, async |_| Ok(()))).unwrap_err();
    /// assert_eq!(error.to_string(), "storage: disk full");
    /// ```
    fn named(self, name: &'static str) -> Named<Self>
    where
        E: Prefix + Merge,
    {
        Named { runner: self, name }
    }

    /// Marks every error of this runner with `prefix`, through the
    /// error type's [`Prefix`] implementation.
    ///
    /// This also prefixes an error that came from the callback and passed
    /// through this runner; [`named`](Self::named) names only the node's own failures.
    fn prefix_err(self, prefix: &'static str) -> PrefixErr<Self>
    where
        E: Prefix,
    {
        PrefixErr { runner: self, prefix }
    }

    /// Converts the errors of this runner with `f`, so that a runner with its own error type
    /// fits into a tree with another one.
    ///
    /// The callback's error (of the outer type) is not passed through `f`: the inner runner
    /// sees its callback return `Ok` (a graceful stop), and the callback's error is given
    /// back unchanged with precedence, merged with the inner runner's converted error.
    fn map_err<F, E2>(self, f: F) -> MapErr<Self, F, E>
    where
        F: Fn(E) -> E2,
        E2: Merge,
    {
        MapErr { runner: self, f, inner_error: PhantomData }
    }

    /// Bounds the stop of this runner (graceful, then forced, then hard).
    ///
    /// When the callback returns, `graceful()` is called and the runner gets until that future
    /// completes to return by itself. Then its context is cancelled with
    /// [`Cause::Deadline`] and `forced()` is called: the runner gets until
    /// that future completes to return. Then its future is dropped.
    ///
    /// The deadlines are closures making any `Future<Output = ()>` (an embassy-time `Timer`, a
    /// tokio `sleep`, a manual clock's sleep, [`never`](crate::never)) so that each run
    /// measures from its own stop.
    ///
    /// The result is the callback's error, then the runner's own (there is none after a hard
    /// stop), then, if the graceful deadline passed, an [`Overrun`] of phase [`Phase::Stop`]
    /// naming the level, converted into the error type; all merged. The callback's error is
    /// kept aside so that a hard stop cannot lose it: the wrapped runner sees its callback
    /// return `Ok`. Name the node with [`named`](Self::named) outside this adapter so that
    /// the overrun says which node it was.
    ///
    /// The deadlines run from the moment the callback returns, whatever made it return (a
    /// graceful stop, or a failure that cancelled its context). A start failure never calls the
    /// callback and is not subject to them.
    ///
    /// `E` must hold an overrun (`From<Overrun>`) and several failures ([`Merge`]), as
    /// [`TreeError`](crate::TreeError) does.
    fn with_stop_deadline<G, GF, H, HF>(self, graceful: G, forced: H) -> StopDeadline<Self, G, H>
    where
        E: Merge + From<Overrun>,
        G: Fn() -> GF,
        GF: Future<Output = ()>,
        H: Fn() -> HF,
        HF: Future<Output = ()>,
    {
        StopDeadline { runner: self, graceful, forced }
    }

    /// Bounds the start of this runner: if it is not ready when `deadline()` completes, its
    /// context is cancelled with [`Cause::Deadline`] and `forced()` is
    /// called; if it has not returned (or become ready) when that completes, its future is
    /// dropped.
    ///
    /// Once the runner is ready the deadlines no longer apply. The result is the runner's own,
    /// merged, when the start deadline passed, with an [`Overrun`] of phase
    /// [`Phase::Start`] converted into the error type. A runner that returns `Ok` without
    /// becoming ready after the deadline still yields the overrun: a start that timed out
    /// is never reported as a success.
    ///
    /// `E` must hold an overrun (`From<Overrun>`) and several failures ([`Merge`]), as
    /// [`TreeError`](crate::TreeError) does.
    fn with_start_deadline<G, GF, H, HF>(self, deadline: G, forced: H) -> StartDeadline<Self, G, H>
    where
        E: Merge + From<Overrun>,
        G: Fn() -> GF,
        GF: Future<Output = ()>,
        H: Fn() -> HF,
        HF: Future<Output = ()>,
    {
        StartDeadline { runner: self, deadline, forced }
    }
}

impl<E, R: Runner<E>> RunnerExt<E> for R {}
