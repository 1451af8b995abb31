//! Sizes of procession's tree futures on the target it is built for, computed at compile time.
//!
//! Built for `thumbv7em-none-eabihf` (release, opt-level "s") by `scripts/footprint`, which reads
//! [`FOOTPRINT`] from the assembly rustc emits: nothing is run. Every figure is a
//! `core::mem::size_of` evaluated in a `const` context; the type of each future is reached
//! through a function that returns it (a `const fn` generic over the function's type infers it),
//! so that an unnameable `async` type can be measured without a value and without running.
//!
//! The leaf is `leaf(async |ctx: &Ctx<'_>| -> Result<(), Failed> { ctx.cancelled().await; Ok(()) })`
//! with a one-byte error type; one **cycle** of a runner is the future of
//! `runner.run(&ctx, async |_| Ok(()))`.

#![no_std]

use core::future::Future;
use core::mem::size_of;

use embassy_futures::join::join_array;
use procession::{Ctx, Merge, Runner, chain, leaf, parallel};

/// The smallest error type a tree can have: one byte, keeps the first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// The only failure.
    Failed,
}

impl Merge for Failed {
    fn merge(self, _later: Self) -> Self {
        self
    }
}

/// The leaf's closure: waits until its context is cancelled, then returns `Ok(())`.
pub fn wait_cancelled() -> impl AsyncFn(&Ctx<'_>) -> Result<(), Failed> + Copy {
    async |ctx: &Ctx<'_>| -> Result<(), Failed> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// The measured leaf.
pub fn one_leaf() -> impl Runner<Failed> + Copy {
    leaf(wait_cancelled())
}

/// The future of one call of the leaf's closure.
pub fn call<'a, A: AsyncFn(&Ctx<'_>) -> Result<(), Failed>>(
    closure: &'a A,
    ctx: &'a Ctx<'a>,
) -> impl Future<Output = Result<(), Failed>> + 'a {
    closure(ctx)
}

/// `parallel([leaf; N])`.
pub fn parallel_of<const N: usize>() -> impl Runner<Failed> {
    parallel([one_leaf(); N])
}

/// `chain((leaf, leaf, leaf))`.
pub fn chain_of_3() -> impl Runner<Failed> {
    chain((one_leaf(), one_leaf(), one_leaf()))
}

/// One full cycle of `runner`: start, ready, the callback returns at once, graceful stop.
pub fn cycle<'a, R: Runner<Failed>>(runner: &'a R, ctx: &'a Ctx<'a>) -> impl Future<Output = Result<(), Failed>> + 'a {
    runner.run(ctx, async |_: &Ctx<'_>| Ok(()))
}

/// One cycle as a task would hold it: a future that owns the runner and its root context.
pub fn owned_cycle<R: Runner<Failed>>(runner: R) -> impl Future<Output = Result<(), Failed>> {
    async move {
        let root = Ctx::new();
        runner.run(&root, async |_: &Ctx<'_>| Ok(())).await
    }
}

/// The floor: a plain `join_array` of 10 pending futures, no lifecycle.
pub fn floor() -> impl Future<Output = [(); 10]> {
    join_array(core::array::from_fn::<_, 10, _>(|_| core::future::pending::<()>()))
}

/// The size of the future one cycle of the runner that `make` returns.
///
/// Only the types matter: `make` and `run` are never called.
const fn cycle_size<R: 'static, M, C, Fut>(_make: &M, _run: &C) -> usize
where
    M: Fn() -> R,
    C: Fn(&'static R, &'static Ctx<'static>) -> Fut,
{
    size_of::<Fut>()
}

/// The size of what `make` returns; `make` is never called.
const fn returned_size<M: Fn() -> T, T>(_make: &M) -> usize {
    size_of::<T>()
}

/// The size of the future of [`owned_cycle`] of the runner that `make` returns.
const fn owned_cycle_size<R, M, C, Fut>(_make: &M, _run: &C) -> usize
where
    M: Fn() -> R,
    C: Fn(R) -> Fut,
{
    size_of::<Fut>()
}

/// The figures, in the order of [`NAMES`].
const SIZES: [usize; 9] = [
    cycle_size(&parallel_of::<1>, &cycle),
    cycle_size(&parallel_of::<10>, &cycle),
    cycle_size(&parallel_of::<100>, &cycle),
    size_of::<Ctx<'static>>(),
    cycle_size(&chain_of_3, &cycle),
    returned_size(&floor),
    cycle_size(&one_leaf, &cycle),
    cycle_size(&wait_cancelled, &call),
    owned_cycle_size(&parallel_of::<1>, &owned_cycle),
];

/// The names of the figures of [`SIZES`].
const NAMES: [&str; 9] = [
    "parallel_1",
    "parallel_10",
    "parallel_100",
    "ctx",
    "chain_3",
    "join_array_10",
    "leaf_cycle",
    "leaf_closure",
    "parallel_1_owned",
];

/// Length of [`FOOTPRINT`].
const LEN: usize = 256;

/// The figures as text, `name=bytes;` for each, padded with spaces: rustc emits it as one
/// `.ascii` string under this symbol, which `scripts/footprint` reads.
pub static FOOTPRINT: [u8; LEN] = table();

/// Writes `name=value;` for every figure into a space-padded buffer.
const fn table() -> [u8; LEN] {
    let mut out = [b' '; LEN];
    let mut at = 0;
    let mut i = 0;
    while i < SIZES.len() {
        let name = NAMES[i].as_bytes();
        let mut j = 0;
        while j < name.len() {
            out[at] = name[j];
            at += 1;
            j += 1;
        }
        out[at] = b'=';
        at += 1;
        // Decimal digits, most significant first.
        let value = SIZES[i];
        let mut div = 1;
        while value / div >= 10 {
            div *= 10;
        }
        while div > 0 {
            out[at] = b'0' + (value / div % 10) as u8;
            at += 1;
            div /= 10;
        }
        out[at] = b';';
        at += 1;
        i += 1;
    }
    out
}
