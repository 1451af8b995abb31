//! [`StaticTable`]: a [`Table`] over a slice that never changes.

use core::convert::Infallible;

use crate::ctx::Ctx;
use crate::table::{Cursor, Table};

/// A [`Table`] over a slice of `(key, value)` pairs, for a set of processes fixed at build time
/// (a firmware's `const` list, a test's fixture).
///
/// Lookups and passes clone the values out; nothing is ever written, so the table never fails
/// (its error type is [`Infallible`]).
///
/// # Duplicates
///
/// A slice may hold a key more than once. A pass yields every pair in slice order, so a reader
/// that keeps the last value of each key sees the last pair win; [`get`](Table::get) returns
/// that same last value, so a lookup and a pass agree.
///
/// # Cost
///
/// `get` is a linear search of the slice; a pass visits each pair once. Both hold nothing
/// between calls: dropping a future or the cursor at any point is harmless.
///
/// # Examples
///
/// ```
/// use embassy_futures::block_on;
/// use procession::Ctx;
/// use procession::table::{Cursor, StaticTable, Table};
///
/// static SENSORS: StaticTable<'static, &str, u32> =
///     StaticTable::new(&[("temperature", 1_000), ("humidity", 5_000)]);
///
/// let ctx = Ctx::new();
/// block_on(async {
///     assert_eq!(SENSORS.get(&ctx, &"humidity").await, Ok(Some(5_000)));
///     assert_eq!(SENSORS.get(&ctx, &"pressure").await, Ok(None));
///
///     let mut pass = SENSORS.iter(&ctx).await.unwrap();
///     assert_eq!(pass.next(&ctx).await, Ok(Some(("temperature", 1_000))));
///     assert_eq!(pass.next(&ctx).await, Ok(Some(("humidity", 5_000))));
///     assert_eq!(pass.next(&ctx).await, Ok(None));
/// });
/// ```
#[derive(Debug)]
pub struct StaticTable<'a, K, V> {
    entries: &'a [(K, V)],
}

impl<K, V> Clone for StaticTable<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for StaticTable<'_, K, V> {}

impl<'a, K, V> StaticTable<'a, K, V> {
    /// A table holding exactly `entries`, in that order.
    pub const fn new(entries: &'a [(K, V)]) -> Self {
        Self { entries }
    }

    /// The pairs of the table, as given to [`new`](Self::new).
    pub const fn entries(&self) -> &'a [(K, V)] {
        self.entries
    }

    /// How many pairs the slice holds (a key given twice counts twice).
    pub const fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the slice is empty.
    pub const fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: PartialEq + Clone, V: Clone> Table<K, V> for StaticTable<'_, K, V> {
    type Error = Infallible;
    type Cursor<'c>
        = StaticCursor<'c, K, V>
    where
        Self: 'c;

    async fn get(&self, _ctx: &Ctx<'_>, key: &K) -> Result<Option<V>, Infallible> {
        Ok(self.entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    async fn iter(&self, _ctx: &Ctx<'_>) -> Result<StaticCursor<'_, K, V>, Infallible> {
        Ok(StaticCursor { rest: self.entries })
    }
}

/// One pass over a [`StaticTable`]: the pairs in slice order, then `Ok(None)` for ever.
#[derive(Debug)]
pub struct StaticCursor<'a, K, V> {
    rest: &'a [(K, V)],
}

impl<K: Clone, V: Clone> Cursor<K, V> for StaticCursor<'_, K, V> {
    type Error = Infallible;

    async fn next(&mut self, _ctx: &Ctx<'_>) -> Result<Option<(K, V)>, Infallible> {
        let Some(((key, value), rest)) = self.rest.split_first() else {
            return Ok(None);
        };
        self.rest = rest;
        Ok(Some((key.clone(), value.clone())))
    }
}
