//! The [`Table`] and [`Cursor`] traits.

use crate::ctx::Ctx;

/// A table of desired processes: one value `V` per key `K`.
///
/// The keyed supervisor reads a table and never writes it; whoever owns the table (the
/// application, an operator, another node) changes it, and the supervisor converges on it.
///
/// Both methods take the context of the caller, so that a table backed by slow storage can give
/// up when the caller stops (a lookup that returns early on cancellation should return its own
/// error value: the caller drops the result either way).
///
/// # Semantics
///
/// - [`get`](Table::get) returns `Ok(None)` for a key the table does not hold; an `Err` is a
///   failure of the table itself (storage unreachable, a value that does not decode), never
///   "not found".
/// - [`iter`](Table::iter) starts one pass over every key. A pass is **not a snapshot** (the
///   semantics of Go's `sql.Rows`): a key written during the pass may or may not appear, a key
///   may appear twice (the last value wins), and an `Err` from [`Cursor::next`] ends the pass.
///   A supervisor that prunes keys gone from the table prunes only after a pass that ended with
///   `Ok(None)`.
///
/// # Cancel safety
///
/// Dropping either future, or a [`Cursor`], must leave the table usable: a cursor releases
/// whatever it holds when dropped (Go's `Rows.Close` is `Drop` here).
pub trait Table<K, V> {
    /// What a failing lookup or pass returns.
    type Error;

    /// One pass over the table; see [`Cursor`].
    type Cursor<'a>: Cursor<K, V, Error = Self::Error>
    where
        Self: 'a;

    /// Looks up one key: `Ok(Some(value))`, `Ok(None)` if the table does not hold it, or the
    /// table's error.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the table's parts are")]
    async fn get(&self, ctx: &Ctx<'_>, key: &K) -> Result<Option<V>, Self::Error>;

    /// Starts one pass over every key.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the table's parts are")]
    async fn iter(&self, ctx: &Ctx<'_>) -> Result<Self::Cursor<'_>, Self::Error>;
}

/// One pass over a [`Table`], started by [`Table::iter`].
///
/// `next` yields `Ok(Some((key, value)))` for each entry, then `Ok(None)` once the pass is over;
/// an `Err` ends the pass (what `next` returns after an `Err` or after `Ok(None)` is up to the
/// table, and a caller must not rely on it). Dropping the cursor ends the pass early.
pub trait Cursor<K, V> {
    /// What a failing step returns.
    type Error;

    /// The next entry of the pass, `Ok(None)` at its end, or the error that ends it.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the table's parts are")]
    async fn next(&mut self, ctx: &Ctx<'_>) -> Result<Option<(K, V)>, Self::Error>;
}

impl<K, V, T: Table<K, V> + ?Sized> Table<K, V> for &T {
    type Error = T::Error;
    type Cursor<'a>
        = T::Cursor<'a>
    where
        Self: 'a;

    async fn get(&self, ctx: &Ctx<'_>, key: &K) -> Result<Option<V>, Self::Error> {
        (**self).get(ctx, key).await
    }

    async fn iter(&self, ctx: &Ctx<'_>) -> Result<Self::Cursor<'_>, Self::Error> {
        (**self).iter(ctx).await
    }
}
