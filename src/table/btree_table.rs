//! [`BTreeTable`]: a [`Table`] on the heap, without a capacity, that any task can edit.

use alloc::collections::BTreeMap;
use core::cell::RefCell;
use core::convert::Infallible;
use core::future::poll_fn;
use core::ops::Bound;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use crate::ctx::Ctx;
use crate::table::changes::Changes;
use crate::table::{Cursor, Table};

/// A [`Table`] in a `BTreeMap` (feature `alloc`), with no limit on the number of keys, that
/// any task can change while a supervisor reads it.
///
/// The same API as [`MapTable`](crate::table::MapTable) without the capacity: a `const fn`
/// value (so it can be a `static`) behind one blocking mutex of `M`, held only for the work of
/// each method and never across an `.await`; [`insert`](Self::insert) cannot fail;
/// [`generation`](Self::generation) and [`changed`](Self::changed) tell a waiting task that
/// the table changed. Values are cloned out, and the table never fails (its error type is
/// [`Infallible`]).
///
/// # A pass under concurrent edits
///
/// A pass is not a snapshot. Its cursor remembers the last key it yielded and asks the map for
/// the first key after it (a range query), like a database cursor; so, while other tasks edit
/// the table during a pass:
///
/// - keys come in ascending order, each **at most once**;
/// - a key present from the start of the pass to its end is yielded **exactly once**, whatever
///   else is inserted or removed meanwhile (a pass that ends with `Ok(None)` can be trusted for
///   pruning);
/// - a key inserted during the pass appears only if it sorts after the cursor's position;
///   a key removed before the cursor reaches it does not appear;
/// - a value replaced before the cursor reaches its key appears with the new value.
///
/// A cursor holds no lock and no borrow of the map, so dropping it (or any future of the
/// table) at any point is harmless. Each step costs `O(log n)`.
///
/// # Panics
///
/// Never, as long as `K`'s `Ord` and `Clone` and `V`'s `Clone` do not use the table themselves
/// (they run under its lock, and a nested edit finds the map borrowed). Running out of memory
/// is the global allocator's business, as for any `BTreeMap`.
///
/// # Examples
///
/// ```
/// use embassy_futures::block_on;
/// use procession::Ctx;
/// use procession::table::{BTreeTable, Cursor, Table};
///
/// static WORKERS: BTreeTable<String, u32> = BTreeTable::new();
///
/// WORKERS.insert("eth0".into(), 100);
/// WORKERS.insert("wlan0".into(), 250);
///
/// let ctx = Ctx::new();
/// block_on(async {
///     assert_eq!(WORKERS.get(&ctx, &"wlan0".into()).await, Ok(Some(250)));
///     let mut pass = WORKERS.iter(&ctx).await.unwrap();
///     assert_eq!(pass.next(&ctx).await, Ok(Some(("eth0".into(), 100))));
///     WORKERS.insert("usb0".into(), 50); // after "eth0": this pass sees it
///     assert_eq!(pass.next(&ctx).await, Ok(Some(("usb0".into(), 50))));
///     assert_eq!(pass.next(&ctx).await, Ok(Some(("wlan0".into(), 250))));
///     assert_eq!(pass.next(&ctx).await, Ok(None));
/// });
/// ```
pub struct BTreeTable<K, V, M: RawMutex = CriticalSectionRawMutex> {
    entries: Mutex<M, RefCell<BTreeMap<K, V>>>,
    changes: Changes<M>,
}

impl<K, V, M: RawMutex> BTreeTable<K, V, M> {
    /// An empty table.
    pub const fn new() -> Self {
        Self { entries: Mutex::const_new(M::INIT, RefCell::new(BTreeMap::new())), changes: Changes::new() }
    }

    /// How many keys the table holds now.
    pub fn len(&self) -> usize {
        self.entries.lock(|e| e.borrow().len())
    }

    /// Whether the table holds no key now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every key. Counts as one edit if the table held any. The entries are dropped
    /// after the lock is released.
    pub fn clear(&self) {
        let old = self.entries.lock(|e| core::mem::take(&mut *e.borrow_mut()));
        if !old.is_empty() {
            self.changes.bump();
        }
    }

    /// How many edits the table has seen (wrapping): [`insert`](Self::insert) counts one,
    /// [`remove`](Self::remove) and [`clear`](Self::clear) one when they removed something.
    /// Pass it to [`changed`](Self::changed).
    pub fn generation(&self) -> u32 {
        self.changes.get()
    }

    /// Waits until the table's [`generation`](Self::generation) differs from `seen`, and
    /// returns the new one. Ready at once if it already differs.
    ///
    /// The waiting task sleeps until an edit wakes it, never in a loop. Several edits between
    /// two waits are seen as one change.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future leaves nothing behind but a waker that the next edit
    /// wakes and forgets.
    ///
    /// # Examples
    ///
    /// ```
    /// use embassy_futures::{block_on, join::join};
    /// use procession::table::BTreeTable;
    ///
    /// let table: BTreeTable<u8, u8> = BTreeTable::new();
    /// let seen = table.generation();
    /// let (now, ()) = block_on(join(table.changed(seen), async {
    ///     table.insert(1, 1);
    /// }));
    /// assert_ne!(now, seen);
    /// ```
    pub async fn changed(&self, seen: u32) -> u32 {
        poll_fn(|cx| self.changes.poll_changed(seen, cx)).await
    }
}

impl<K: Ord, V, M: RawMutex> BTreeTable<K, V, M> {
    /// Adds `key` with `value`, or replaces the value of a key the table holds (returning the
    /// old one). Counts as one edit.
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        let old = self.entries.lock(|e| e.borrow_mut().insert(key, value));
        self.changes.bump();
        old
    }

    /// Removes `key`, returning its value; `None` (and no edit counted) if the table did not
    /// hold it.
    pub fn remove(&self, key: &K) -> Option<V> {
        let removed = self.entries.lock(|e| e.borrow_mut().remove(key));
        if removed.is_some() {
            self.changes.bump();
        }
        removed
    }

    /// Whether the table holds `key` now.
    pub fn contains_key(&self, key: &K) -> bool {
        self.entries.lock(|e| e.borrow().contains_key(key))
    }

    /// The value of `key` now, cloned out; `None` if the table does not hold it. The same as
    /// [`Table::get`] without the `async` and the context.
    pub fn lookup(&self, key: &K) -> Option<V>
    where
        V: Clone,
    {
        self.entries.lock(|e| e.borrow().get(key).cloned())
    }

    /// The first entry after `after` (the first of all for `None`), cloned out.
    fn next_after(&self, after: Option<&K>) -> Option<(K, V)>
    where
        K: Clone,
        V: Clone,
    {
        self.entries.lock(|e| {
            let e = e.borrow();
            let from = after.map_or(Bound::Unbounded, Bound::Excluded);
            e.range((from, Bound::Unbounded)).next().map(|(k, v)| (k.clone(), v.clone()))
        })
    }
}

impl<K, V, M: RawMutex> Default for BTreeTable<K, V, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, M: RawMutex> core::fmt::Debug for BTreeTable<K, V, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BTreeTable")
            .field("len", &self.len())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl<K: Ord + Clone, V: Clone, M: RawMutex> Table<K, V> for BTreeTable<K, V, M> {
    type Error = Infallible;
    type Cursor<'a>
        = BTreeCursor<'a, K, V, M>
    where
        Self: 'a;

    async fn get(&self, _ctx: &Ctx<'_>, key: &K) -> Result<Option<V>, Infallible> {
        Ok(self.lookup(key))
    }

    async fn iter(&self, _ctx: &Ctx<'_>) -> Result<BTreeCursor<'_, K, V, M>, Infallible> {
        Ok(BTreeCursor { table: self, after: None, done: false })
    }
}

/// One pass over a [`BTreeTable`]: keys in ascending order, each step a range query after the
/// last key yielded (see [the table's docs](BTreeTable#a-pass-under-concurrent-edits)), then
/// `Ok(None)` for ever.
pub struct BTreeCursor<'a, K, V, M: RawMutex = CriticalSectionRawMutex> {
    table: &'a BTreeTable<K, V, M>,
    /// The last key yielded; `None` before the first step.
    after: Option<K>,
    /// The pass has ended with `Ok(None)`.
    done: bool,
}

impl<K: Ord + Clone, V: Clone, M: RawMutex> Cursor<K, V> for BTreeCursor<'_, K, V, M> {
    type Error = Infallible;

    async fn next(&mut self, _ctx: &Ctx<'_>) -> Result<Option<(K, V)>, Infallible> {
        if self.done {
            return Ok(None);
        }
        let entry = self.table.next_after(self.after.as_ref());
        match &entry {
            Some((key, _)) => self.after = Some(key.clone()),
            None => self.done = true,
        }
        Ok(entry)
    }
}

impl<K, V, M: RawMutex> core::fmt::Debug for BTreeCursor<'_, K, V, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BTreeCursor")
            .field("started", &self.after.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
