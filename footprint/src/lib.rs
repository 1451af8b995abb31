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
//!
//! The keyed figures: a `KeyedSupervisor<u8, u16, Failed, N>` (one-byte key, two-byte value)
//! over a `StaticTable`, each key's process the leaf, for N = 1, 8 and 64: the supervisor value
//! (a `static` in firmware) and its driver's future (`drive(&ctx, &setup, async |_| Ok(()))`,
//! which holds every key's process); the same for `group::Group<'_, u8, N>` and its driver
//! (`drive(&ctx, |_| leaf, |_, _| ())`).

#![no_std]

use core::convert::Infallible;
use core::future::Future;
use core::mem::size_of;

use embassy_futures::join::join_array;
use procession::group::Group;
use procession::table::{BuildKeyed, KeyedSupervisor, Setup, StaticTable};
use procession::time::ManualClock;
use procession::{Ctx, Merge, Overrun, Runner, chain, leaf, parallel, supervisor};

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

impl From<Overrun> for Failed {
    fn from(_: Overrun) -> Self {
        Self::Failed
    }
}

impl From<supervisor::Error> for Failed {
    fn from(_: supervisor::Error) -> Self {
        Self::Failed
    }
}

impl From<Infallible> for Failed {
    fn from(never: Infallible) -> Self {
        match never {}
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

/// The keyed supervisor of the figures: `N` slots of a `u8` key and a `u16` value.
pub type Keyed<const N: usize> = KeyedSupervisor<u8, u16, Failed, N>;

/// The process of every key: the leaf.
pub fn keyed_worker(_key: &u8, _value: &u16) -> impl Runner<Failed> + use<> {
    one_leaf()
}

/// The builder of the keyed figures.
pub fn keyed_builder() -> impl BuildKeyed<u8, u16, Failed> + Copy {
    keyed_worker
}

/// The setup of the keyed figures, over `B` (made by [`keyed_builder`]).
pub type KeyedSetup<B> = Setup<StaticTable<'static, u8, u16>, B, &'static ManualClock>;

/// The future of a drive of `sup` whose callback returns at once.
pub fn keyed_drive<'a, B: BuildKeyed<u8, u16, Failed>, const N: usize>(
    sup: &'a Keyed<N>,
    ctx: &'a Ctx<'a>,
    setup: &'a KeyedSetup<B>,
) -> impl Future<Output = Result<(), Failed>> + 'a {
    sup.drive(ctx, setup, async |_: &Ctx<'_>| Ok(()))
}

/// The future of a drive of a `Group` of `N` slots whose items are `u8`, each run as the leaf.
pub fn group_drive<'a, const N: usize>(
    group: &'a Group<'a, u8, N>,
    ctx: &'a Ctx<'a>,
) -> impl Future<Output = Result<(), procession::group::Error>> + 'a {
    group.drive(ctx, |_: &u8| one_leaf(), |_: &u8, _: Result<(), Failed>| ())
}

/// The size of the future of [`keyed_drive`] for the builder `make` returns; nothing is called.
const fn keyed_drive_size<B: 'static, M, D, Fut, const N: usize>(_make: &M, _drive: &D) -> usize
where
    M: Fn() -> B,
    D: Fn(&'static Keyed<N>, &'static Ctx<'static>, &'static KeyedSetup<B>) -> Fut,
{
    size_of::<Fut>()
}

/// The size of the future of [`group_drive`]; nothing is called.
const fn group_drive_size<D, Fut, const N: usize>(_drive: &D) -> usize
where
    D: Fn(&'static Group<'static, u8, N>, &'static Ctx<'static>) -> Fut,
{
    size_of::<Fut>()
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
const SIZES: [usize; 21] = [
    cycle_size(&parallel_of::<1>, &cycle),
    cycle_size(&parallel_of::<10>, &cycle),
    cycle_size(&parallel_of::<100>, &cycle),
    size_of::<Ctx<'static>>(),
    cycle_size(&chain_of_3, &cycle),
    returned_size(&floor),
    cycle_size(&one_leaf, &cycle),
    cycle_size(&wait_cancelled, &call),
    owned_cycle_size(&parallel_of::<1>, &owned_cycle),
    size_of::<Keyed<1>>(),
    size_of::<Keyed<8>>(),
    size_of::<Keyed<64>>(),
    keyed_drive_size::<_, _, _, _, 1>(&keyed_builder, &keyed_drive),
    keyed_drive_size::<_, _, _, _, 8>(&keyed_builder, &keyed_drive),
    keyed_drive_size::<_, _, _, _, 64>(&keyed_builder, &keyed_drive),
    size_of::<Group<'static, u8, 1>>(),
    size_of::<Group<'static, u8, 8>>(),
    size_of::<Group<'static, u8, 64>>(),
    group_drive_size::<_, _, 1>(&group_drive),
    group_drive_size::<_, _, 8>(&group_drive),
    group_drive_size::<_, _, 64>(&group_drive),
];

/// The names of the figures of [`SIZES`].
const NAMES: [&str; 21] = [
    "parallel_1",
    "parallel_10",
    "parallel_100",
    "ctx",
    "chain_3",
    "join_array_10",
    "leaf_cycle",
    "leaf_closure",
    "parallel_1_owned",
    "keyed_1",
    "keyed_8",
    "keyed_64",
    "keyed_drive_1",
    "keyed_drive_8",
    "keyed_drive_64",
    "group_1",
    "group_8",
    "group_64",
    "group_drive_1",
    "group_drive_8",
    "group_drive_64",
];

/// Length of [`FOOTPRINT`].
const LEN: usize = 512;

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
