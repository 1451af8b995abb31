//! The sets of processes the combinators accept: tuples, arrays and, with `alloc`, vectors.

use embassy_futures::join::join_array;

use super::Proc;
use crate::ctx::{Cause, Ctx};
use crate::error::{Merge, merge_results};
use crate::set_macros::{for_tuples, join_merged};

/// A fixed set of processes with one error type `E`, as taken by
/// [`concurrent`](super::concurrent), [`concurrent_group`](super::concurrent_group) and
/// [`sequence`](super::sequence).
///
/// Implemented for `()`, for tuples of up to 12 processes of any types, for arrays `[P; N]` and,
/// with `alloc`, for `Vec<P>`. This trait is sealed: it cannot be implemented outside this
/// crate.
pub trait Procs<E>: Sealed<E> {
    /// How many processes the set holds.
    fn len(&self) -> usize;

    /// Whether the set holds no process.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

mod private {
    use crate::ctx::Ctx;
    use crate::error::Merge;

    /// The part of [`Procs`](super::Procs) users cannot see or implement.
    pub trait Sealed<E> {
        /// Runs every process at once on `ctx` and merges their errors in index order. With
        /// `group`, the first failure cancels `ctx` with `DependencyFailed`.
        #[allow(async_fn_in_trait, reason = "sealed; the future is Send whenever the parts are")]
        async fn run_concurrent(&self, ctx: &Ctx<'_>, group: bool) -> Result<(), E>
        where
            E: Merge;

        /// Runs the processes one after the other on `ctx`, stopping at the first failure.
        #[allow(async_fn_in_trait, reason = "sealed; the future is Send whenever the parts are")]
        async fn run_sequence(&self, ctx: &Ctx<'_>) -> Result<(), E>;
    }
}

pub(crate) use private::Sealed;

/// Runs one child of a concurrent set; in a group, its failure cancels the group's context.
async fn arm<E, P: Proc<E>>(process: &P, ctx: &Ctx<'_>, group: bool) -> Result<(), E> {
    let result = process.run(ctx).await;
    if group && result.is_err() {
        ctx.cancel_with(Cause::DependencyFailed);
    }
    result
}

// === tuples ===

impl<E> Procs<E> for () {
    fn len(&self) -> usize {
        0
    }
}

impl<E> Sealed<E> for () {
    async fn run_concurrent(&self, _: &Ctx<'_>, _: bool) -> Result<(), E> {
        Ok(())
    }

    async fn run_sequence(&self, _: &Ctx<'_>) -> Result<(), E> {
        Ok(())
    }
}

/// One arm of a tuple's concurrent set, for [`join_merged`].
macro_rules! proc_arm {
    ($this:ident, $ctx:ident, $group:ident; $i:tt) => {
        arm(&$this.$i, $ctx, $group)
    };
}

macro_rules! tuple_procs {
    ($len:literal; $($T:ident $i:tt),+) => {
        impl<E, $($T: Proc<E>),+> Procs<E> for ($($T,)+) {
            fn len(&self) -> usize {
                $len
            }
        }

        impl<E, $($T: Proc<E>),+> Sealed<E> for ($($T,)+) {
            async fn run_concurrent(&self, ctx: &Ctx<'_>, group: bool) -> Result<(), E>
            where
                E: Merge,
            {
                let this = self;
                join_merged!(proc_arm(this, ctx, group); $($i),+).await
            }

            async fn run_sequence(&self, ctx: &Ctx<'_>) -> Result<(), E> {
                $(self.$i.run(ctx).await?;)+
                Ok(())
            }
        }
    };
}

for_tuples!(tuple_procs);

// === arrays ===

impl<E, P: Proc<E>, const N: usize> Procs<E> for [P; N] {
    fn len(&self) -> usize {
        N
    }
}

impl<E, P: Proc<E>, const N: usize> Sealed<E> for [P; N] {
    async fn run_concurrent(&self, ctx: &Ctx<'_>, group: bool) -> Result<(), E>
    where
        E: Merge,
    {
        let arms = join_array::<_, N>(core::array::from_fn(|i| arm(&self[i], ctx, group))).await;
        arms.into_iter().fold(Ok(()), merge_results)
    }

    async fn run_sequence(&self, ctx: &Ctx<'_>) -> Result<(), E> {
        for process in self {
            process.run(ctx).await?;
        }
        Ok(())
    }
}

// === vectors ===

#[cfg(feature = "alloc")]
impl<E, P: Proc<E>> Procs<E> for alloc::vec::Vec<P> {
    fn len(&self) -> usize {
        self.len()
    }
}

#[cfg(feature = "alloc")]
impl<E, P: Proc<E>> Sealed<E> for alloc::vec::Vec<P> {
    async fn run_concurrent(&self, ctx: &Ctx<'_>, group: bool) -> Result<(), E>
    where
        E: Merge,
    {
        let arms = self.iter().map(|process| arm(process, ctx, group)).collect();
        let results = crate::combinator::set::join_vec(arms).await;
        results.into_iter().fold(Ok(()), merge_results)
    }

    async fn run_sequence(&self, ctx: &Ctx<'_>) -> Result<(), E> {
        for process in self {
            process.run(ctx).await?;
        }
        Ok(())
    }
}
