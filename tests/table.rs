//! The table adapters: the conformance suite of `tests/common/table.rs` against each of them,
//! and what is particular to each (capacity, change notification, cursors under edits).
#![allow(clippy::std_instead_of_alloc, clippy::std_instead_of_core, reason = "the tests run on std")]

#[path = "common/table.rs"]
mod table_suite;

use core::convert::Infallible;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Wake;

use procession::Ctx;
use procession::mutex::NoopRawMutex;
use procession::table::{Cursor, MapTable, StaticTable, Table};
use table_suite::{Harness, block_on, pass};

// === harnesses ===

/// `StaticTable` over a leaked copy of the entries (duplicates stay as given); no edits.
struct StaticHarness;

impl Harness for StaticHarness {
    type Subject = StaticTable<'static, u32, u32>;
    type Error = Infallible;

    async fn build(&self, entries: &[(u32, u32)]) -> Self::Subject {
        /// The leaked copies, reachable from a static: miri does not report them as leaks.
        static LEAKED: std::sync::Mutex<Vec<&'static [(u32, u32)]>> = std::sync::Mutex::new(Vec::new());
        let entries: &'static [(u32, u32)] = Box::leak(entries.to_vec().into_boxed_slice());
        LEAKED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(entries);
        StaticTable::new(entries)
    }
    async fn insert(&self, _: &Self::Subject, _: u32, _: u32) -> bool {
        false
    }
    async fn remove(&self, _: &Self::Subject, _: u32) -> bool {
        false
    }
}

/// `MapTable` with room for every key the suite writes.
struct MapHarness;

impl Harness for MapHarness {
    type Subject = MapTable<u32, u32, 512>;
    type Error = Infallible;

    async fn build(&self, entries: &[(u32, u32)]) -> Self::Subject {
        let table = MapTable::new();
        for &(k, v) in entries {
            table.insert(k, v).expect("room");
        }
        table
    }
    async fn insert(&self, table: &Self::Subject, key: u32, value: u32) -> bool {
        table.insert(key, value).is_ok()
    }
    async fn remove(&self, table: &Self::Subject, key: u32) -> bool {
        table.remove(&key);
        true
    }
}

/// `MapTable` on a `NoopRawMutex` (one task only).
struct NoopMapHarness;

impl Harness for NoopMapHarness {
    type Subject = MapTable<u32, u32, 512, NoopRawMutex>;
    type Error = Infallible;

    async fn build(&self, entries: &[(u32, u32)]) -> Self::Subject {
        let table = MapTable::new();
        for &(k, v) in entries {
            table.insert(k, v).expect("room");
        }
        table
    }
    async fn insert(&self, table: &Self::Subject, key: u32, value: u32) -> bool {
        table.insert(key, value).is_ok()
    }
    async fn remove(&self, table: &Self::Subject, key: u32) -> bool {
        table.remove(&key);
        true
    }
}

#[cfg(feature = "alloc")]
struct BTreeHarness;

#[cfg(feature = "alloc")]
impl Harness for BTreeHarness {
    type Subject = procession::table::BTreeTable<u32, u32>;
    type Error = Infallible;

    async fn build(&self, entries: &[(u32, u32)]) -> Self::Subject {
        let table = procession::table::BTreeTable::new();
        for &(k, v) in entries {
            table.insert(k, v);
        }
        table
    }
    async fn insert(&self, table: &Self::Subject, key: u32, value: u32) -> bool {
        table.insert(key, value);
        true
    }
    async fn remove(&self, table: &Self::Subject, key: u32) -> bool {
        table.remove(&key);
        true
    }
}

table_conformance!(static_table, StaticHarness);
table_conformance!(map_table, MapHarness);
table_conformance!(map_table_noop_mutex, NoopMapHarness);
#[cfg(feature = "alloc")]
table_conformance!(btree_table, BTreeHarness);

// === the upstream fake ===

/// Port of upstream's `TestMapTable` (table_test.go): store 1→"foo", 2→"bar", then 2→"baz";
/// `Get` gives the last value and `Iter` yields each key once with it.
#[test]
fn map_table_upstream() {
    let table: MapTable<u32, &str> = MapTable::new();
    table.insert(1, "foo").unwrap();
    table.insert(2, "bar").unwrap();
    table.insert(2, "baz").unwrap();
    let ctx = Ctx::new();
    block_on(async {
        assert_eq!(table.get(&ctx, &1).await, Ok(Some("foo")));
        assert_eq!(table.get(&ctx, &2).await, Ok(Some("baz")));
        let mut pass = table.iter(&ctx).await.unwrap();
        assert_eq!(pass.next(&ctx).await, Ok(Some((1, "foo"))));
        assert_eq!(pass.next(&ctx).await, Ok(Some((2, "baz"))));
        assert_eq!(pass.next(&ctx).await, Ok(None));
    });
}

// === StaticTable ===

/// A slice with a key twice: the pass yields both pairs in slice order, `get` the last one.
#[test]
fn static_table_keeps_duplicates_in_order() {
    static TABLE: StaticTable<'static, u8, char> = StaticTable::new(&[(1, 'a'), (2, 'b'), (1, 'c')]);
    let ctx = Ctx::new();
    block_on(async {
        let p = pass_u8(&TABLE, &ctx).await;
        assert_eq!(p, vec![(1, 'a'), (2, 'b'), (1, 'c')]);
        assert_eq!(TABLE.get(&ctx, &1).await, Ok(Some('c')));
        assert_eq!(TABLE.len(), 3);
        assert!(!TABLE.is_empty());
    });
}

async fn pass_u8<T: Table<u8, char, Error = Infallible>>(table: &T, ctx: &Ctx<'_>) -> Vec<(u8, char)> {
    let mut cursor = table.iter(ctx).await.unwrap();
    let mut out = Vec::new();
    while let Some(pair) = cursor.next(ctx).await.unwrap() {
        out.push(pair);
    }
    // Ended stays ended.
    assert_eq!(cursor.next(ctx).await, Ok(None));
    out
}

// === MapTable ===

/// A full table hands the pair back, changes nothing and counts no edit; replacing and
/// removing still work, and a removal makes room again.
#[test]
fn map_table_full_is_an_error_value() {
    let table: MapTable<u8, u8, 2> = MapTable::new();
    assert_eq!(table.capacity(), 2);
    assert_eq!(table.insert(1, 10), Ok(None));
    assert_eq!(table.insert(2, 20), Ok(None));
    let generation = table.generation();
    assert_eq!(table.insert(3, 30), Err((3, 30)));
    assert_eq!(table.generation(), generation, "a refused insert is no edit");
    assert_eq!(table.len(), 2);
    assert_eq!(table.lookup(&3), None);
    assert_eq!(table.insert(2, 21), Ok(Some(20)));
    assert_eq!(table.remove(&1), Some(10));
    assert_eq!(table.remove(&1), None);
    assert_eq!(table.insert(3, 30), Ok(None));
    assert!(table.contains_key(&3) && !table.contains_key(&1));
}

/// A zero-capacity table refuses every insert and iterates nothing.
#[test]
fn map_table_of_capacity_zero() {
    let table: MapTable<u8, u8, 0> = MapTable::new();
    assert_eq!(table.insert(1, 1), Err((1, 1)));
    let ctx = Ctx::new();
    block_on(async {
        assert!(pass(&WrapU32(&table), &ctx).await.seen.is_empty());
    });
}

/// Adapts a `u8` table to the suite's `u32` helpers.
struct WrapU32<'a, const N: usize>(&'a MapTable<u8, u8, N>);

impl<const N: usize> Table<u32, u32> for WrapU32<'_, N> {
    type Error = Infallible;
    type Cursor<'c>
        = WrapCursor<'c, N>
    where
        Self: 'c;
    async fn get(&self, ctx: &Ctx<'_>, key: &u32) -> Result<Option<u32>, Infallible> {
        let key = u8::try_from(*key).unwrap();
        Ok(self.0.get(ctx, &key).await?.map(u32::from))
    }
    async fn iter(&self, ctx: &Ctx<'_>) -> Result<WrapCursor<'_, N>, Infallible> {
        Ok(WrapCursor(self.0.iter(ctx).await?))
    }
}

struct WrapCursor<'a, const N: usize>(procession::table::MapCursor<'a, u8, u8, N>);

impl<const N: usize> Cursor<u32, u32> for WrapCursor<'_, N> {
    type Error = Infallible;
    async fn next(&mut self, ctx: &Ctx<'_>) -> Result<Option<(u32, u32)>, Infallible> {
        Ok(self.0.next(ctx).await?.map(|(k, v)| (u32::from(k), u32::from(v))))
    }
}

/// Under edits on both sides of the cursor, keys come in ascending order and each at most once,
/// and a key inserted ahead of the cursor is seen while one inserted behind it is not.
#[test]
fn map_table_cursor_resumes_after_the_last_key() {
    let table: MapTable<u32, u32, 64> = MapTable::new();
    for k in [10, 20, 30, 40] {
        table.insert(k, k).unwrap();
    }
    let ctx = Ctx::new();
    block_on(async {
        let mut cursor = table.iter(&ctx).await.unwrap();
        assert_eq!(cursor.next(&ctx).await, Ok(Some((10, 10))));
        assert_eq!(cursor.next(&ctx).await, Ok(Some((20, 20))));
        table.remove(&10); // behind: shifts every later entry, must not skip 30
        table.insert(5, 5).unwrap(); // behind: not seen
        table.insert(25, 25).unwrap(); // ahead: seen
        table.insert(20, 99).unwrap(); // the current key, rewritten: not seen again
        assert_eq!(cursor.next(&ctx).await, Ok(Some((25, 25))));
        assert_eq!(cursor.next(&ctx).await, Ok(Some((30, 30))));
        table.remove(&40); // ahead: not seen
        assert_eq!(cursor.next(&ctx).await, Ok(None));
        table.insert(50, 50).unwrap(); // after the end: the pass stays ended
        assert_eq!(cursor.next(&ctx).await, Ok(None));
    });
}

/// A position-based cursor would skip a key that never left the table when an earlier key is
/// removed; this one does not, for every position of the removal.
#[test]
fn map_table_removal_behind_the_cursor_skips_nothing() {
    for at in 0..8u32 {
        let table: MapTable<u32, u32, 8> = MapTable::new();
        for k in 0..8 {
            table.insert(k, k).unwrap();
        }
        let ctx = Ctx::new();
        let seen = block_on(async {
            let mut cursor = table.iter(&ctx).await.unwrap();
            let mut seen = Vec::new();
            while let Some((k, _)) = cursor.next(&ctx).await.unwrap() {
                if k == at {
                    for behind in 0..at {
                        table.remove(&behind);
                    }
                }
                seen.push(k);
            }
            seen
        });
        assert_eq!(seen, (0..8).collect::<Vec<_>>(), "removing the keys before {at}");
    }
}

/// A waker that counts its wakeups.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `changed` sleeps until an edit: no wakeup without one, one per edit, none for a refused
/// insert or a removal of an absent key; and it is ready at once for a stale generation.
#[test]
fn map_table_changed_sleeps_until_an_edit() {
    let table: MapTable<u8, u8, 1> = MapTable::new();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);

    let seen = table.generation();
    let mut wait = pin!(table.changed(seen));
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    assert_eq!(table.remove(&1), None); // nothing removed: no edit
    assert_eq!(counter.0.load(Ordering::SeqCst), 0, "woken without an edit");

    table.insert(1, 1).unwrap();
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    let Poll::Ready(now) = wait.as_mut().poll(&mut cx) else { panic!("not ready after an edit") };
    assert_ne!(now, seen);

    let mut wait = pin!(table.changed(now));
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    assert_eq!(table.insert(2, 2), Err((2, 2))); // full: no edit
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "woken by a refused insert");
    table.clear();
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);
    assert!(wait.as_mut().poll(&mut cx).is_ready());
    table.clear(); // already empty: no edit
    assert_eq!(table.generation(), now.wrapping_add(1));

    // A stale generation is ready at once.
    assert!(pin!(table.changed(seen)).poll(&mut cx).is_ready());
}

/// Several tasks wait on one static table; one edit wakes every one of them.
#[test]
fn map_table_changed_wakes_every_waiter() {
    static TABLE: MapTable<u8, u8> = MapTable::new();
    let seen = TABLE.generation();
    let counters: Vec<_> = (0..6).map(|_| Arc::new(CountingWaker(AtomicUsize::new(0)))).collect();
    let wakers: Vec<Waker> = counters.iter().map(|c| Waker::from(c.clone())).collect();
    let mut waits: Vec<_> = (0..6).map(|_| Box::pin(TABLE.changed(seen))).collect();
    for (wait, waker) in waits.iter_mut().zip(&wakers) {
        assert!(wait.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
    }
    TABLE.insert(1, 1).unwrap();
    for (i, counter) in counters.iter().enumerate() {
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "waiter {i}");
    }
    for (wait, waker) in waits.iter_mut().zip(&wakers) {
        assert!(wait.as_mut().poll(&mut Context::from_waker(waker)).is_ready());
    }
}

/// An edit from another thread wakes a task blocked on `changed`.
#[test]
fn map_table_edit_from_another_thread() {
    static TABLE: MapTable<u32, u32, 4> = MapTable::new();
    let seen = TABLE.generation();
    let editor = std::thread::spawn(|| {
        TABLE.insert(7, 70).unwrap();
    });
    let now = futures::executor::block_on(TABLE.changed(seen));
    editor.join().unwrap();
    assert_ne!(now, seen);
    assert_eq!(TABLE.lookup(&7), Some(70));
}

/// The tables can be `static`s shared by threads, and their futures can be sent.
#[test]
fn map_table_is_sync_and_its_futures_send() {
    fn sync<T: Sync + Send>(_: &T) {}
    fn send<T: Send>(_: T) {}
    static TABLE: MapTable<u32, u32> = MapTable::new();
    sync(&TABLE);
    let ctx = Ctx::new();
    send(TABLE.get(&ctx, &1));
    send(TABLE.iter(&ctx));
    send(TABLE.changed(0));
    static SLICE: StaticTable<'static, u32, u32> = StaticTable::new(&[]);
    sync(&SLICE);
    send(SLICE.get(&ctx, &1));
}

// === BTreeTable ===

#[cfg(feature = "alloc")]
mod btree {
    use super::*;
    use procession::table::BTreeTable;

    /// The same cursor semantics as `MapTable`: resume after the last key.
    #[test]
    fn cursor_resumes_after_the_last_key() {
        let table: BTreeTable<u32, u32> = BTreeTable::new();
        for k in [10, 20, 30, 40] {
            table.insert(k, k);
        }
        let ctx = Ctx::new();
        block_on(async {
            let mut cursor = table.iter(&ctx).await.unwrap();
            assert_eq!(cursor.next(&ctx).await, Ok(Some((10, 10))));
            assert_eq!(cursor.next(&ctx).await, Ok(Some((20, 20))));
            table.remove(&10);
            table.insert(5, 5);
            table.insert(25, 25);
            table.insert(20, 99);
            assert_eq!(cursor.next(&ctx).await, Ok(Some((25, 25))));
            assert_eq!(cursor.next(&ctx).await, Ok(Some((30, 30))));
            table.remove(&40);
            assert_eq!(cursor.next(&ctx).await, Ok(None));
            table.insert(50, 50);
            assert_eq!(cursor.next(&ctx).await, Ok(None));
        });
    }

    /// Insert, replace, remove, clear, and `changed` wakes once per edit.
    #[test]
    fn edits_and_changed() {
        let table: BTreeTable<u8, u8> = BTreeTable::new();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let seen = table.generation();
        let mut wait = pin!(table.changed(seen));
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert_eq!(table.remove(&1), None);
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        assert_eq!(table.insert(1, 1), None);
        assert_eq!(table.insert(1, 2), Some(1));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        assert_eq!(table.lookup(&1), Some(2));
        assert!(table.contains_key(&1));
        assert_eq!(table.len(), 1);
        table.clear();
        assert!(table.is_empty());
        assert_eq!(table.generation(), seen.wrapping_add(3));
    }

    #[test]
    fn is_sync_and_its_futures_send() {
        fn sync<T: Sync + Send>(_: &T) {}
        fn send<T: Send>(_: T) {}
        static TABLE: BTreeTable<u32, u32> = BTreeTable::new();
        sync(&TABLE);
        let ctx = Ctx::new();
        send(TABLE.get(&ctx, &1));
        send(TABLE.iter(&ctx));
    }
}
