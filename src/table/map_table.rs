//! [`MapTable`]: a fixed-capacity [`Table`] that any task can edit.

use core::cell::RefCell;
use core::convert::Infallible;
use core::future::poll_fn;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use crate::ctx::Ctx;
use crate::table::changes::Changes;
use crate::table::{Cursor, Table};

/// A [`Table`] of at most `N` keys in RAM, without a heap, that any task (or interrupt, with the
/// default mutex) can change while a supervisor reads it.
///
/// It is a `const fn` value, so it can be a `static`. The entries are kept sorted by key in a
/// `heapless` vector behind one blocking mutex of `M`; every method holds that mutex only for
/// the few instructions of its own work, and nothing holds it across an `.await`.
///
/// - [`insert`](Self::insert) adds or replaces a key; a full table hands the pair back as
///   `Err((key, value))` (the `heapless` convention), it never panics or drops anything.
/// - [`remove`](Self::remove), [`lookup`](Self::lookup), [`len`](Self::len) and friends are
///   what their names say.
/// - [`generation`](Self::generation) counts the edits, and [`changed`](Self::changed) sleeps
///   until the next one, so that whoever reconciles from the table can be told it changed
///   instead of polling it.
///
/// Lookups ([`lookup`](Self::lookup), [`Table::get`]) and passes clone the value out; the
/// table never fails, so its error type is [`Infallible`].
///
/// # A pass under concurrent edits
///
/// A pass is not a snapshot. Its cursor remembers the last key it yielded and resumes at the
/// first key after it, like a database cursor on an ordered index; so, while other tasks edit
/// the table during a pass:
///
/// - keys come in ascending order, each **at most once**;
/// - a key present from the start of the pass to its end is yielded **exactly once**, whatever
///   else is inserted or removed meanwhile (a pass that ends with `Ok(None)` can therefore be
///   trusted for pruning: a key it did not yield was absent at some point during the pass);
/// - a key inserted during the pass appears only if it sorts after the cursor's position;
///   a key removed before the cursor reaches it does not appear;
/// - a value replaced before the cursor reaches its key appears with the new value.
///
/// A cursor holds no lock and no borrow of the entries, so dropping it (or any future of the
/// table) at any point is harmless. Each step is a binary search: a pass over `n` keys costs
/// `O(n log n)` comparisons.
///
/// # Panics
///
/// Never, as long as `K`'s `Ord` and `Clone` and `V`'s `Clone` do not use the table themselves
/// (they run under its lock, and a nested edit finds the entries borrowed).
///
/// # Examples
///
/// One task edits, another reads:
///
/// ```
/// use embassy_futures::block_on;
/// use procession::Ctx;
/// use procession::table::{Cursor, MapTable, Table};
///
/// static DEVICES: MapTable<u16, &str, 4> = MapTable::new();
///
/// assert_eq!(DEVICES.insert(7, "thermostat"), Ok(None));
/// assert_eq!(DEVICES.insert(3, "door"), Ok(None));
/// assert_eq!(DEVICES.insert(7, "heater"), Ok(Some("thermostat"))); // replaced
/// assert_eq!(DEVICES.len(), 2);
///
/// let ctx = Ctx::new();
/// block_on(async {
///     assert_eq!(DEVICES.get(&ctx, &7).await, Ok(Some("heater")));
///     let mut pass = DEVICES.iter(&ctx).await.unwrap();
///     assert_eq!(pass.next(&ctx).await, Ok(Some((3, "door"))));
///     DEVICES.remove(&3); // behind the cursor: no effect on this pass
///     DEVICES.insert(9, "lamp").unwrap(); // ahead of it: this pass sees it
///     assert_eq!(pass.next(&ctx).await, Ok(Some((7, "heater"))));
///     assert_eq!(pass.next(&ctx).await, Ok(Some((9, "lamp"))));
///     assert_eq!(pass.next(&ctx).await, Ok(None));
/// });
/// ```
///
/// Capacity is an error value:
///
/// ```
/// use procession::table::MapTable;
///
/// let table: MapTable<u8, u8, 1> = MapTable::new();
/// table.insert(1, 10).unwrap();
/// assert_eq!(table.insert(2, 20), Err((2, 20)));
/// assert_eq!(table.insert(1, 11), Ok(Some(10))); // replacing needs no room
/// ```
pub struct MapTable<K, V, const N: usize = 16, M: RawMutex = CriticalSectionRawMutex> {
    entries: Mutex<M, RefCell<heapless::Vec<(K, V), N>>>,
    changes: Changes<M>,
}

impl<K, V, const N: usize, M: RawMutex> MapTable<K, V, N, M> {
    /// An empty table.
    pub const fn new() -> Self {
        Self { entries: Mutex::const_new(M::INIT, RefCell::new(heapless::Vec::new())), changes: Changes::new() }
    }

    /// How many keys the table can hold: `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// How many keys the table holds now.
    pub fn len(&self) -> usize {
        self.entries.lock(|e| e.borrow().len())
    }

    /// Whether the table holds no key now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every key. Counts as one edit if the table held any.
    pub fn clear(&self) {
        let had = self.entries.lock(|e| {
            let mut e = e.borrow_mut();
            let had = !e.is_empty();
            e.clear();
            had
        });
        if had {
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
    /// The waiting task sleeps until an edit: it is woken by [`insert`](Self::insert),
    /// [`remove`](Self::remove) or [`clear`](Self::clear), never in a loop. Several edits
    /// between two waits are seen as one change (read the table again after each).
    ///
    /// Up to [`WAITER_SLOTS`](crate::ctx::WAITER_SLOTS) distinct tasks wait inline, more in
    /// the program-wide spill table; only if that is full too (without `alloc`) does this wait
    /// complete at once with the current generation, which may still be `seen` (nobody else is
    /// woken; a caller that waits again at once then polls until the table has room).
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
    /// use procession::table::MapTable;
    ///
    /// static TABLE: MapTable<u8, u8> = MapTable::new();
    ///
    /// let seen = TABLE.generation();
    /// let (now, ()) = block_on(join(TABLE.changed(seen), async {
    ///     TABLE.insert(1, 1).unwrap();
    /// }));
    /// assert_ne!(now, seen);
    /// ```
    pub async fn changed(&self, seen: u32) -> u32 {
        poll_fn(|cx| self.changes.poll_changed(seen, cx)).await
    }
}

impl<K: Ord, V, const N: usize, M: RawMutex> MapTable<K, V, N, M> {
    /// Adds `key` with `value`, or replaces the value of a key the table holds (returning the
    /// old one). A full table hands the pair back as `Err((key, value))`; replacing needs no
    /// room. Counts as one edit when it succeeds.
    pub fn insert(&self, key: K, value: V) -> Result<Option<V>, (K, V)> {
        let result = self.entries.lock(|e| {
            let mut e = e.borrow_mut();
            match e.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(at) => Ok(Some(core::mem::replace(&mut e[at].1, value))),
                Err(at) => e.insert(at, (key, value)).map(|()| None),
            }
        });
        if result.is_ok() {
            self.changes.bump();
        }
        result
    }

    /// Removes `key`, returning its value; `None` (and no edit counted) if the table did not
    /// hold it.
    pub fn remove(&self, key: &K) -> Option<V> {
        let removed = self.entries.lock(|e| {
            let mut e = e.borrow_mut();
            let at = e.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
            Some(e.remove(at).1)
        });
        if removed.is_some() {
            self.changes.bump();
        }
        removed
    }

    /// Whether the table holds `key` now.
    pub fn contains_key(&self, key: &K) -> bool {
        self.entries.lock(|e| e.borrow().binary_search_by(|(k, _)| k.cmp(key)).is_ok())
    }

    /// The value of `key` now, cloned out; `None` if the table does not hold it. The same as
    /// [`Table::get`] without the `async` and the context.
    pub fn lookup(&self, key: &K) -> Option<V>
    where
        V: Clone,
    {
        self.entries.lock(|e| {
            let e = e.borrow();
            let at = e.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
            Some(e[at].1.clone())
        })
    }

    /// The first entry after `after` (the first of all for `None`), cloned out.
    fn next_after(&self, after: Option<&K>) -> Option<(K, V)>
    where
        K: Clone,
        V: Clone,
    {
        self.entries.lock(|e| {
            let e = e.borrow();
            let at = after.map_or(0, |after| e.partition_point(|(k, _)| k <= after));
            e.get(at).map(|(k, v)| (k.clone(), v.clone()))
        })
    }
}

impl<K, V, const N: usize, M: RawMutex> Default for MapTable<K, V, N, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, const N: usize, M: RawMutex> core::fmt::Debug for MapTable<K, V, N, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MapTable")
            .field("len", &self.len())
            .field("capacity", &N)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl<K: Ord + Clone, V: Clone, const N: usize, M: RawMutex> Table<K, V> for MapTable<K, V, N, M> {
    type Error = Infallible;
    type Cursor<'a>
        = MapCursor<'a, K, V, N, M>
    where
        Self: 'a;

    async fn get(&self, _ctx: &Ctx<'_>, key: &K) -> Result<Option<V>, Infallible> {
        Ok(self.lookup(key))
    }

    async fn iter(&self, _ctx: &Ctx<'_>) -> Result<MapCursor<'_, K, V, N, M>, Infallible> {
        Ok(MapCursor { table: self, after: None, done: false })
    }
}

/// One pass over a [`MapTable`]: keys in ascending order, each step resuming after the last key
/// yielded (see [the table's docs](MapTable#a-pass-under-concurrent-edits)), then `Ok(None)`
/// for ever.
pub struct MapCursor<'a, K, V, const N: usize = 16, M: RawMutex = CriticalSectionRawMutex> {
    table: &'a MapTable<K, V, N, M>,
    /// The last key yielded; `None` before the first step.
    after: Option<K>,
    /// The pass has ended with `Ok(None)`.
    done: bool,
}

impl<K: Ord + Clone, V: Clone, const N: usize, M: RawMutex> Cursor<K, V> for MapCursor<'_, K, V, N, M> {
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

impl<K, V, const N: usize, M: RawMutex> core::fmt::Debug for MapCursor<'_, K, V, N, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MapCursor")
            .field("started", &self.after.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
