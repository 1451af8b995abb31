//! [`SendRunner`]: a boxed runner whose run future is known to be `Send` (`alloc`), so that a
//! helper function can return a tree that stays spawnable.

use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::pin::Pin;

use embassy_futures::select::{Either, select};

use super::Runner;
use crate::ctx::{Cause, Ctx};
use crate::error::Merge;
use crate::waitqueue::Event;

/// A boxed future that is `Send`.
pub type SendBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a [`SendRunner`] hands to the runner inside it, in place of the callback (`alloc`).
///
/// The callback itself runs outside the box, in the [`SendRunner`]'s own future; this link
/// tells it when the runner is ready, passes on the cancellation of the runner's callback
/// context, and waits for the callback to return. It is used by [`send_runner!`](crate::send_runner)
/// (crate::send_runner), which is the way to make one.
pub struct SendReady<'a> {
    ready: &'a Event,
    done: &'a Event,
    callback_ctx: &'a Ctx<'a>,
}

impl fmt::Debug for SendReady<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendReady").finish_non_exhaustive()
    }
}

impl<'a> SendReady<'a> {
    /// Runs `runner` on `ctx` with this link as its callback: the future that
    /// [`send_runner!`](crate::send_runner)(crate::send_runner) boxes.
    ///
    /// The callback the runner sees always returns `Ok`: the real callback's error is kept by
    /// the [`SendRunner`] and merged first.
    pub fn run<E, R: Runner<E>>(self, runner: &'a R, ctx: &'a Ctx<'a>) -> impl Future<Output = Result<(), E>> + 'a
    where
        E: 'a,
    {
        runner.run(ctx, async move |c: &Ctx<'_>| {
            self.ready.set(Cause::Parent);
            if let Either::First(cause) = select(c.cancelled(), self.done.wait()).await {
                // The runner failed or was cancelled: the callback's context learns it.
                self.callback_ctx.cancel_with(cause);
                self.done.wait().await;
            }
            Ok(())
        })
    }

    /// Boxes a `Send` future; [`send_runner!`](crate::send_runner)(crate::send_runner) checks `Send` here, where
    /// the tree's type is known.
    pub fn pin<F: Future + Send + 'a>(future: F) -> SendBoxFuture<'a, F::Output> {
        Box::pin(future)
    }
}

/// The object-safe part of a [`SendRunner`].
trait SendDyn<E>: Send + Sync {
    fn run_boxed<'a>(&'a self, ctx: &'a Ctx<'a>, link: SendReady<'a>) -> SendBoxFuture<'a, Result<(), E>>
    where
        E: 'a;
}

/// A runner and the function, written where its type is known, that boxes its run future.
struct Witnessed<R, W> {
    runner: R,
    witness: W,
}

impl<E, R, W> SendDyn<E> for Witnessed<R, W>
where
    R: Send + Sync,
    W: for<'a> Fn(&'a R, &'a Ctx<'a>, SendReady<'a>) -> SendBoxFuture<'a, Result<(), E>> + Send + Sync,
{
    fn run_boxed<'a>(&'a self, ctx: &'a Ctx<'a>, link: SendReady<'a>) -> SendBoxFuture<'a, Result<(), E>>
    where
        E: 'a,
    {
        (self.witness)(&self.runner, ctx, link)
    }
}

/// A boxed runner whose run future is `Send` whenever its callback's is (`alloc`); made with
/// [`send_runner!`](crate::send_runner)(crate::send_runner).
///
/// A helper function that builds part of a tree and returns `impl Runner<E>` hides whether the
/// run future is `Send` (stable Rust cannot say it in the return type), so the tree it is
/// part of cannot be `tokio::spawn`ed. Returning a `SendRunner` keeps it: the tree is boxed
/// where its type is known, and `Send` is checked there. It is `Send + Sync` itself.
///
/// Each run allocates the boxed run future once. The callback runs outside the box, beside
/// it, on a child of the caller's context that is cancelled (with the same cause) when the
/// runner cancels its callback's context. The callback's error is kept aside and merged first
/// with the runner's own ([`Merge`]); the runner sees its callback return `Ok`.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, Runner, TreeError, chain, leaf, send_runner};
/// use procession::runner::SendRunner;
///
/// fn storage() -> SendRunner<TreeError> {
///     send_runner!(leaf(async |ctx: &Ctx<'_>| -> Result<(), TreeError> {
///         ctx.cancelled().await;
///         Ok(())
///     }))
/// }
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// let tree = chain((storage(), storage()));
/// let handle = tokio::spawn(async move {
///     let root = Ctx::new();
///     tree.run(&root, async |_| Ok(())).await
/// });
/// assert!(handle.await.unwrap().is_ok());
/// # }
/// ```
pub struct SendRunner<E> {
    inner: Box<dyn SendDyn<E>>,
}

impl<E> fmt::Debug for SendRunner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendRunner").finish_non_exhaustive()
    }
}

impl<E: 'static> SendRunner<E> {
    /// Boxes `runner` with `witness`, the function that runs it and boxes its future:
    /// `|runner, ctx, link| SendReady::pin(link.run(runner, ctx))`. Written where the
    /// runner's type is known, it is where `Send` is checked; [`send_runner!`](crate::send_runner)
    /// (crate::send_runner) writes it.
    pub fn new<R, W>(runner: R, witness: W) -> Self
    where
        R: Send + Sync + 'static,
        W: for<'a> Fn(&'a R, &'a Ctx<'a>, SendReady<'a>) -> SendBoxFuture<'a, Result<(), E>> + Send + Sync + 'static,
    {
        Self { inner: Box::new(Witnessed { runner, witness }) }
    }
}

impl<E: Merge> Runner<E> for SendRunner<E> {
    /// Runs the boxed runner beside the callback; see [`SendRunner`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the boxed runner and the callback wherever they are.
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        let callback_ctx = ctx.child();
        let is_ready: Event = Event::new();
        let done: Event = Event::new();
        let finished: Event = Event::new();
        let link = SendReady { ready: &is_ready, done: &done, callback_ctx: &callback_ctx };
        let runner = async {
            let result = self.inner.run_boxed(ctx, link).await;
            finished.set(Cause::Parent);
            result
        };
        let callback = async {
            match select(is_ready.wait(), finished.wait()).await {
                Either::First(_) => {
                    let result = ready(&callback_ctx).await;
                    done.set(Cause::Parent);
                    result
                }
                Either::Second(_) => Ok(()),
            }
        };
        let (callback, own) = embassy_futures::join::join(callback, runner).await;
        crate::error::merge_results(callback, own)
    }
}

/// Boxes a runner into a [`SendRunner`](crate::runner::SendRunner), checking where its type
/// is known that its run future is `Send` (`alloc`).
///
/// `send_runner!(tree)` is `SendRunner::new(tree, |r, ctx, link| SendReady::pin(link.run(r,
/// ctx)))`. It fails to compile, at this line, if a part of the tree is not `Send` (a `Cell`
/// shared by two closures, an `Rc`).
///
/// # Examples
///
/// ```compile_fail
/// use std::rc::Rc;
/// use procession::{Ctx, TreeError, leaf, send_runner};
///
/// let shared = Rc::new(());
/// // An `Rc` held across an await: not `Send`, refused here.
/// let runner = send_runner!(leaf(async move |ctx: &Ctx<'_>| -> Result<(), TreeError> {
///     let _keep = shared.clone();
///     ctx.cancelled().await;
///     Ok(())
/// }));
/// ```
#[macro_export]
macro_rules! send_runner {
    ($runner:expr $(,)?) => {
        $crate::runner::SendRunner::new($runner, |runner, ctx, link: $crate::runner::SendReady<'_>| {
            $crate::runner::SendReady::pin(link.run(runner, ctx))
        })
    };
}
