//! The sets of children a combinator accepts: tuples, arrays and, with `alloc`, vectors.

use embassy_futures::join::{join, join_array};

use super::group::{Group, Mode, Slot, combine};
use crate::ctx::Ctx;
use crate::error::{Merge, merge_results};
use crate::runner::Runner;
use crate::set_macros::{for_tuples, join_merged};

/// A fixed set of child runners with one error type `E`, as taken by [`chain`](super::chain),
/// [`parallel`](super::parallel) and [`sequential`](super::sequential).
///
/// Implemented for tuples of up to 12 runners of any types, for arrays `[R; N]` and, with
/// `alloc`, for `Vec<R>`. This trait is sealed: it cannot be implemented outside this crate.
pub trait Children<E>: Sealed<E> {
    /// How many children the set holds.
    fn len(&self) -> usize;

    /// Whether the set holds no child.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

mod private {
    use super::{Ctx, Merge, Mode};

    /// The part of [`Children`](super::Children) users cannot see or implement.
    pub trait Sealed<E> {
        /// Runs the children and the main callback as `mode` says.
        #[allow(async_fn_in_trait, reason = "sealed; the future is Send whenever the parts are")]
        async fn run_group<F>(&self, ctx: &Ctx<'_>, mode: Mode, ready: F) -> Result<(), E>
        where
            E: Merge,
            F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>;
    }
}

pub(crate) use private::Sealed;

// === tuples ===

impl<E> Children<E> for () {
    fn len(&self) -> usize {
        0
    }
}

impl<E> Sealed<E> for () {
    async fn run_group<F>(&self, ctx: &Ctx<'_>, _mode: Mode, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        ready(ctx).await
    }
}

impl<E, A: Runner<E>> Children<E> for (A,) {
    fn len(&self) -> usize {
        1
    }
}

impl<E, A: Runner<E>> Sealed<E> for (A,) {
    async fn run_group<F>(&self, ctx: &Ctx<'_>, _mode: Mode, ready: F) -> Result<(), E>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        self.0.run(ctx, ready).await
    }
}

/// The arm of tuple element `$i` (for [`join_merged`]).
macro_rules! group_arm {
    ($group:ident, $this:ident; $i:tt) => {
        $group.arm($i, &$this.$i)
    };
}

macro_rules! tuple_children {
    ($len:literal; $($T:ident $i:tt),+) => {
        impl<E, $($T: Runner<E>),+> Children<E> for ($($T,)+) {
            fn len(&self) -> usize {
                $len
            }
        }

        impl<E, $($T: Runner<E>),+> Sealed<E> for ($($T,)+) {
            async fn run_group<F>(&self, ctx: &Ctx<'_>, mode: Mode, ready: F) -> Result<(), E>
            where
                E: Merge,
                F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
            {
                let this = self;
                let slots: [Slot<'_>; $len] = [const { Slot::new() }; $len];
                let group = Group::new(ctx, mode, &slots);
                let (children, main) = join(join_merged!(group_arm(group, this); $($i),+), group.main(ready)).await;
                combine(main, children)
            }
        }
    };
}

for_tuples!(from_2 tuple_children);

// === arrays ===

impl<E, R: Runner<E>, const N: usize> Children<E> for [R; N] {
    fn len(&self) -> usize {
        N
    }
}

impl<E, R: Runner<E>, const N: usize> Sealed<E> for [R; N] {
    async fn run_group<F>(&self, ctx: &Ctx<'_>, mode: Mode, ready: F) -> Result<(), E>
    where
        E: Merge,
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        match self.as_slice() {
            [] => ready(ctx).await,
            [only] => only.run(ctx, ready).await,
            children => {
                let slots: [Slot<'_>; N] = core::array::from_fn(|_| Slot::new());
                let group = Group::new(ctx, mode, &slots);
                let arms = join_array::<_, N>(core::array::from_fn(|i| group.arm(i, &children[i])));
                let (results, main) = join(arms, group.main(ready)).await;
                combine(main, results.into_iter().fold(Ok(()), merge_results))
            }
        }
    }
}

// === vectors ===

#[cfg(feature = "alloc")]
impl<E, R: Runner<E>> Children<E> for alloc::vec::Vec<R> {
    fn len(&self) -> usize {
        self.len()
    }
}

#[cfg(feature = "alloc")]
impl<E, R: Runner<E>> Sealed<E> for alloc::vec::Vec<R> {
    async fn run_group<F>(&self, ctx: &Ctx<'_>, mode: Mode, ready: F) -> Result<(), E>
    where
        E: Merge,
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        match self.as_slice() {
            [] => ready(ctx).await,
            [only] => only.run(ctx, ready).await,
            children => {
                let slots: alloc::vec::Vec<Slot<'_>> = children.iter().map(|_| Slot::new()).collect();
                let group = Group::new(ctx, mode, &slots);
                // Each arm gets a waker of its own (beyond a few dozen), so waking one child re-polls
                // that child alone.
                let arms =
                    futures_util::future::join_all(children.iter().enumerate().map(|(i, child)| group.arm(i, child)));
                let (results, main) = join(arms, group.main(ready)).await;
                combine(main, results.into_iter().fold(Ok(()), merge_results))
            }
        }
    }
}
/// Joins boxed futures, polling every unfinished one with the caller's waker on each poll (as
/// `join_array` does), so that one wake of the task reaches them all. `futures_util`'s
/// `join_all` gives each future a waker of its own above 30 futures, which makes every wake of
/// the group's waiter slots a wake per child.
#[cfg(feature = "alloc")]
pub(crate) async fn join_vec<F: core::future::Future>(futures: alloc::vec::Vec<F>) -> alloc::vec::Vec<F::Output> {
    use alloc::boxed::Box;
    use core::pin::Pin;
    use core::task::Poll;

    let mut pending: alloc::vec::Vec<Option<Pin<Box<F>>>> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: alloc::vec::Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    core::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(out) => {
                        *output = Some(out);
                        *slot = None;
                    }
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
