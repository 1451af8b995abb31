//! A conformance suite for any `procession::table::Table<u32, u32>`, and a table that fails on
//! demand.
//!
//! Include it with `#[path = ".../tests/common/table.rs"] mod table_suite;` (it needs only
//! `procession` and `embassy-futures`), implement [`Harness`] for the table under test, and
//! instantiate every check with [`table_conformance!`]:
//!
//! ```ignore
//! table_conformance!(map_table, MapHarness);
//! ```
//!
//! The checks are plain generic functions too, for a test that wants to call one by hand.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::std_instead_of_alloc, clippy::std_instead_of_core, reason = "the tests run on std")]

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::vec::Vec;

use procession::Ctx;
use procession::table::{Cursor, Table};

/// How the suite builds and edits one kind of table.
#[allow(async_fn_in_trait)]
pub trait Harness {
    type Subject: Table<u32, u32, Error = Self::Error>;
    type Error: Debug;

    /// Whether two passes can be open at once (`false` for a table whose pass holds it, as a
    /// flash map does: the check of interleaved passes is then skipped).
    const CONCURRENT_PASSES: bool = true;

    /// A table holding `entries`: a later pair for the same key replaces the earlier one, or,
    /// for a table that keeps duplicates (a slice), stays beside it.
    async fn build(&self, entries: &[(u32, u32)]) -> Self::Subject;

    /// Inserts or replaces `key` while a pass may be running; `false` if this table cannot be
    /// edited (the checks of edits are then skipped).
    async fn insert(&self, table: &Self::Subject, key: u32, value: u32) -> bool;

    /// Removes `key`; `false` if this table cannot be edited.
    async fn remove(&self, table: &Self::Subject, key: u32) -> bool;
}

/// Steps any check allows a pass before it calls it a loop.
pub const STEP_LIMIT: usize = 10_000;

/// Runs `f` to completion on this thread.
pub fn block_on<F: core::future::Future>(f: F) -> F::Output {
    embassy_futures::block_on(f)
}

/// The outcome of one pass, driven to its end.
#[derive(Debug)]
pub struct Pass<E> {
    /// Every pair `next` yielded, in order.
    pub seen: Vec<(u32, u32)>,
    /// `Ok(())` if the pass ended with `Ok(None)`, or the error that ended it.
    pub end: Result<(), E>,
}

impl<E> Pass<E> {
    /// The pairs, the last value of each key winning.
    pub fn last_wins(&self) -> BTreeMap<u32, u32> {
        self.seen.iter().copied().collect()
    }

    pub fn keys(&self) -> BTreeSet<u32> {
        self.seen.iter().map(|(k, _)| *k).collect()
    }
}

/// Drives one pass of `table` to its end, calling `between(step)` after each yielded pair.
/// Panics (the test fails) after [`STEP_LIMIT`] steps: a pass must end.
pub async fn drive<T, F>(table: &T, ctx: &Ctx<'_>, mut between: F) -> Result<Pass<T::Error>, T::Error>
where
    T: Table<u32, u32>,
    F: AsyncFnMut(usize),
{
    let mut cursor = table.iter(ctx).await?;
    let mut seen = Vec::new();
    for step in 0..STEP_LIMIT {
        match cursor.next(ctx).await {
            Ok(Some(pair)) => {
                seen.push(pair);
                between(step).await;
            }
            Ok(None) => return Ok(Pass { seen, end: Ok(()) }),
            Err(e) => return Ok(Pass { seen, end: Err(e) }),
        }
    }
    panic!("the pass did not end within {STEP_LIMIT} steps");
}

/// One pass with no edits; the table's `iter` must succeed.
pub async fn pass<T: Table<u32, u32>>(table: &T, ctx: &Ctx<'_>) -> Pass<T::Error>
where
    T::Error: Debug,
{
    drive(table, ctx, async |_| {}).await.expect("iter")
}

// === the checks ===

/// `get` finds what the table holds and says `Ok(None)` for the rest; absent is not an error.
pub async fn get_present_and_absent<H: Harness>(h: &H) {
    let ctx = Ctx::new();
    let table = h.build(&[(1, 10), (2, 20), (30, 300)]).await;
    assert_eq!(table.get(&ctx, &1).await.expect("get 1"), Some(10));
    assert_eq!(table.get(&ctx, &2).await.expect("get 2"), Some(20));
    assert_eq!(table.get(&ctx, &30).await.expect("get 30"), Some(300));
    assert_eq!(table.get(&ctx, &3).await.expect("get 3"), None);
    assert_eq!(table.get(&ctx, &0).await.expect("get 0"), None);
    assert_eq!(table.get(&ctx, &u32::MAX).await.expect("get max"), None);
}

/// An empty table: `get` is `Ok(None)`, a pass ends at once and stays ended.
pub async fn empty_table<H: Harness>(h: &H) {
    let ctx = Ctx::new();
    let table = h.build(&[]).await;
    assert_eq!(table.get(&ctx, &1).await.expect("get"), None);
    let mut cursor = table.iter(&ctx).await.expect("iter");
    assert!(cursor.next(&ctx).await.expect("next").is_none());
}

/// A pass yields every key with its value, and ends with `Ok(None)`.
pub async fn pass_yields_every_key<H: Harness>(h: &H) {
    let ctx = Ctx::new();
    let entries: Vec<(u32, u32)> = (0..40).map(|k| (k * 7 % 40, k * 100)).collect();
    let table = h.build(&entries).await;
    let pass = pass(&table, &ctx).await;
    assert!(pass.end.is_ok(), "{:?}", pass.end);
    let expected: BTreeMap<u32, u32> = entries.iter().copied().collect();
    assert_eq!(pass.last_wins(), expected);
    // Without edits, each key comes once (duplicates are allowed only under concurrent edits,
    // or where the table itself holds them).
    assert_eq!(pass.seen.len(), expected.len());
}

/// Two passes, one after the other, agree; so do two passes interleaved.
pub async fn passes_are_independent<H: Harness>(h: &H) {
    let ctx = Ctx::new();
    let table = h.build(&[(1, 1), (2, 2), (3, 3)]).await;
    let mut a = table.iter(&ctx).await.expect("iter a");
    let first_a = a.next(&ctx).await.expect("a").expect("a has one");
    drop(a); // ending a pass early leaves the table usable
    let mut b = table.iter(&ctx).await.expect("iter b");
    let first_b = b.next(&ctx).await.expect("b").expect("b has one");
    assert_eq!(first_a, first_b);
    if !H::CONCURRENT_PASSES {
        return;
    }
    let mut c = table.iter(&ctx).await.expect("iter c");
    let mut from_b = vec![first_b];
    let mut from_c = vec![];
    loop {
        let nb = b.next(&ctx).await.expect("b");
        let nc = c.next(&ctx).await.expect("c");
        if nb.is_none() && nc.is_none() {
            break;
        }
        from_b.extend(nb);
        from_c.extend(nc);
        assert!(from_b.len() <= 3 && from_c.len() <= 3, "passes ran past the table");
    }
    assert_eq!(from_b.iter().copied().collect::<BTreeMap<_, _>>(), from_c.iter().copied().collect());
    assert_eq!(from_b.len(), 3);
}

/// A key written twice: `get` gives the last value, and a pass, read last-wins, agrees.
pub async fn duplicates_last_wins<H: Harness>(h: &H) {
    let ctx = Ctx::new();
    let table = h.build(&[(1, 10), (2, 20), (1, 11), (3, 30), (2, 21)]).await;
    assert_eq!(table.get(&ctx, &1).await.expect("get"), Some(11));
    assert_eq!(table.get(&ctx, &2).await.expect("get"), Some(21));
    let pass = pass(&table, &ctx).await;
    assert!(pass.end.is_ok());
    assert_eq!(pass.last_wins(), BTreeMap::from([(1, 11), (2, 21), (3, 30)]));
}

/// Steps of [`edits_during_a_pass`] that insert keys ahead of the cursor: 200, 20 under miri
/// (where the 200 took more than eight minutes for a linear `MapTable`).
const GROWING_STEPS: usize = if cfg!(miri) { 20 } else { 200 };

/// Edits during a pass never panic and never make it loop, and every key present for the whole
/// pass is yielded (what a supervisor that prunes after a clean pass relies on).
pub async fn edits_during_a_pass<H: Harness>(h: &H) {
    let ctx = Ctx::new();
    let stable: Vec<(u32, u32)> = (0..16).map(|k| (k * 10, k)).collect();
    let churn: Vec<(u32, u32)> = (0..16).map(|k| (k * 10 + 5, k)).collect();
    let all: Vec<(u32, u32)> = stable.iter().chain(&churn).copied().collect();
    let table = h.build(&all).await;
    if !h.insert(&table, 1_000, 1).await {
        return; // a table that cannot be edited
    }
    let next_new = Cell::new(2_000u32);
    let pass = drive(&table, &ctx, async |step| {
        // Remove a churning key on both sides of the cursor, insert fresh keys before and
        // after it, and rewrite a stable value.
        let gone = churn[(step * 7) % churn.len()].0;
        assert!(h.remove(&table, gone).await);
        let fresh = next_new.get();
        next_new.set(fresh + 1);
        assert!(h.insert(&table, fresh, step as u32).await);
        assert!(h.insert(&table, (step as u32 % 16) * 10 + 3, 0).await);
        let (key, _) = stable[step % stable.len()];
        assert!(h.insert(&table, key, 99).await);
        if step > GROWING_STEPS {
            // Stop growing, so that an ascending cursor reaches the end.
            assert!(h.remove(&table, fresh).await);
        }
    })
    .await
    .expect("iter");
    assert!(pass.end.is_ok(), "{:?}", pass.end);
    let keys = pass.keys();
    for (key, _) in &stable {
        assert!(keys.contains(key), "key {key}, present for the whole pass, was not yielded");
    }
    // The table is still coherent: a fresh pass agrees with get.
    let after = self::pass(&table, &ctx).await;
    for (key, value) in after.last_wins() {
        assert_eq!(table.get(&ctx, &key).await.expect("get"), Some(value));
    }
}

/// Every key removed during a pass: the pass still ends, and the next one is empty.
pub async fn emptied_during_a_pass<H: Harness>(h: &H) {
    let ctx = Ctx::new();
    let table = h.build(&[(1, 1), (2, 2), (3, 3), (4, 4)]).await;
    if !h.remove(&table, 4).await {
        return;
    }
    let pass = drive(&table, &ctx, async |_| {
        for key in 1..=4 {
            h.remove(&table, key).await;
        }
    })
    .await
    .expect("iter");
    assert!(pass.end.is_ok());
    assert!(pass.seen.len() <= 3);
    assert!(self::pass(&table, &ctx).await.seen.is_empty());
    assert_eq!(table.get(&ctx, &1).await.expect("get"), None);
}

/// The failing wrapper over this harness's table: an error in the middle of a pass comes out of
/// `next` and ends the pass; errors of `iter` and `get` come out as they are.
pub async fn errors_surface<H: Harness>(h: &H) {
    let ctx = Ctx::new();
    let entries: Vec<(u32, u32)> = (0..6).map(|k| (k, k)).collect();
    let table = Faulty::new(h.build(&entries).await);

    table.fail_next_at(Some(3));
    let pass = drive(&table, &ctx, async |_| {}).await.expect("iter");
    assert_eq!(pass.seen.len(), 3);
    assert!(matches!(pass.end, Err(Fault::Injected("next"))), "{:?}", pass.end);

    table.fail_next_at(None);
    table.fail_iter(true);
    assert!(matches!(table.iter(&ctx).await, Err(Fault::Injected("iter"))));
    table.fail_iter(false);
    table.fail_get(true);
    assert!(matches!(table.get(&ctx, &1).await, Err(Fault::Injected("get"))));
    table.fail_get(false);
    assert!(matches!(table.get(&ctx, &1).await, Ok(Some(1))));
    // The table works again once the faults are off.
    assert_eq!(self::pass(&table, &ctx).await.seen.len(), 6);
}

/// A table that fails every call: each error is returned, nothing panics or loops.
pub async fn errors_on_every_call<H: Harness>(h: &H) {
    let ctx = Ctx::new();
    let table = Faulty::new(h.build(&[(1, 1), (2, 2)]).await);
    table.fail_all(true);
    for _ in 0..3 {
        assert!(matches!(table.get(&ctx, &1).await, Err(Fault::Injected("get"))));
        assert!(matches!(table.iter(&ctx).await, Err(Fault::Injected("iter"))));
    }
    // A cursor opened before the table broke fails at its next step.
    table.fail_all(false);
    let mut cursor = table.iter(&ctx).await.expect("iter");
    table.fail_all(true);
    assert!(matches!(cursor.next(&ctx).await, Err(Fault::Injected("next"))));
    assert!(matches!(cursor.next(&ctx).await, Ok(None)), "an error ends the pass");
}

// === a table that fails on demand ===

/// The error of [`Faulty`]: one it injected, or the inner table's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault<E> {
    Injected(&'static str),
    Inner(E),
}

/// Wraps any table and fails `get`, `iter`, or the `n`-th step of every pass, as told.
#[derive(Debug)]
pub struct Faulty<T> {
    pub inner: T,
    fail_get: Cell<bool>,
    fail_iter: Cell<bool>,
    fail_all: Cell<bool>,
    /// Fail the step with this index (0 = the first `next`) of each pass.
    fail_next_at: Cell<Option<usize>>,
    /// How many times a call of the table itself ran: `get`, `iter` and each `next`.
    pub calls: Cell<usize>,
}

impl<T> Faulty<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            fail_get: Cell::new(false),
            fail_iter: Cell::new(false),
            fail_all: Cell::new(false),
            fail_next_at: Cell::new(None),
            calls: Cell::new(0),
        }
    }
    pub fn fail_get(&self, on: bool) {
        self.fail_get.set(on);
    }
    pub fn fail_iter(&self, on: bool) {
        self.fail_iter.set(on);
    }
    pub fn fail_all(&self, on: bool) {
        self.fail_all.set(on);
    }
    pub fn fail_next_at(&self, at: Option<usize>) {
        self.fail_next_at.set(at);
    }
}

impl<T: Table<u32, u32>> Table<u32, u32> for Faulty<T> {
    type Error = Fault<T::Error>;
    type Cursor<'a>
        = FaultyCursor<'a, T>
    where
        Self: 'a;

    async fn get(&self, ctx: &Ctx<'_>, key: &u32) -> Result<Option<u32>, Self::Error> {
        self.calls.set(self.calls.get() + 1);
        if self.fail_get.get() || self.fail_all.get() {
            return Err(Fault::Injected("get"));
        }
        self.inner.get(ctx, key).await.map_err(Fault::Inner)
    }

    async fn iter(&self, ctx: &Ctx<'_>) -> Result<Self::Cursor<'_>, Self::Error> {
        self.calls.set(self.calls.get() + 1);
        if self.fail_iter.get() || self.fail_all.get() {
            return Err(Fault::Injected("iter"));
        }
        let inner = self.inner.iter(ctx).await.map_err(Fault::Inner)?;
        Ok(FaultyCursor { table: self, inner, step: 0, ended: false })
    }
}

/// A pass over [`Faulty`]; after an error it stays ended (`Ok(None)`).
pub struct FaultyCursor<'a, T: Table<u32, u32>> {
    table: &'a Faulty<T>,
    inner: T::Cursor<'a>,
    step: usize,
    ended: bool,
}

impl<'a, T: Table<u32, u32>> Cursor<u32, u32> for FaultyCursor<'a, T> {
    type Error = Fault<T::Error>;

    async fn next(&mut self, ctx: &Ctx<'_>) -> Result<Option<(u32, u32)>, Self::Error> {
        if self.ended {
            return Ok(None);
        }
        self.table.calls.set(self.table.calls.get() + 1);
        let step = self.step;
        self.step += 1;
        if self.table.fail_all.get() || self.table.fail_next_at.get() == Some(step) {
            self.ended = true;
            return Err(Fault::Injected("next"));
        }
        let next = self.inner.next(ctx).await.map_err(Fault::Inner);
        if !matches!(next, Ok(Some(_))) {
            self.ended = true;
        }
        next
    }
}

/// One `#[test]` per check of the suite, in a module `$name`, for the harness `$harness`
/// (an expression).
#[macro_export]
macro_rules! table_conformance {
    ($name:ident, $harness:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::table_suite as suite;

            #[test]
            fn get_present_and_absent() {
                suite::block_on(suite::get_present_and_absent(&$harness));
            }
            #[test]
            fn empty_table() {
                suite::block_on(suite::empty_table(&$harness));
            }
            #[test]
            fn pass_yields_every_key() {
                suite::block_on(suite::pass_yields_every_key(&$harness));
            }
            #[test]
            fn passes_are_independent() {
                suite::block_on(suite::passes_are_independent(&$harness));
            }
            #[test]
            fn duplicates_last_wins() {
                suite::block_on(suite::duplicates_last_wins(&$harness));
            }
            #[test]
            fn edits_during_a_pass() {
                suite::block_on(suite::edits_during_a_pass(&$harness));
            }
            #[test]
            fn emptied_during_a_pass() {
                suite::block_on(suite::emptied_during_a_pass(&$harness));
            }
            #[test]
            fn errors_surface() {
                suite::block_on(suite::errors_surface(&$harness));
            }
            #[test]
            fn errors_on_every_call() {
                suite::block_on(suite::errors_on_every_call(&$harness));
            }
        }
    };
}
