//! `RedbTable`: a `procession::table::Table` in a redb database file.
//!
//! Keys and values are stored as bytes in one redb table, so any type with a [`Column`]
//! encoding fits; a stored value that does not decode is an error of the table, not a missing
//! key. Every write is one durable transaction: once `insert` or `remove` returned, the change
//! survives a crash (SIGKILL, power loss); a write cut short leaves the last committed state.
//!
//! The calls are synchronous under the `async` of the trait (redb has no async API): each
//! blocks the calling thread for the time of one lookup, one cursor step or one commit. A
//! server with slow disks would move them to a blocking thread.
#![allow(dead_code, reason = "the bin uses part of the adapter, its tests the rest")]

use std::fmt;
use std::marker::PhantomData;
use std::ops::Bound;
use std::path::Path;

use procession::Ctx;
use procession::table::{Cursor, Table};
use redb::{Database, ReadableDatabase, TableDefinition};

/// The one redb table that holds the entries.
const ENTRIES: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("desired-processes");

/// How a key or a value is stored. Keys are ordered by their encoding (so a pass comes in that
/// order): big-endian integers keep numeric order.
pub trait Column: Sized {
    /// The stored bytes.
    fn encode(&self) -> Vec<u8>;
    /// The value back, or `None` if the bytes are not an encoding of this type.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

impl Column for u32 {
    fn encode(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self::from_be_bytes(bytes.try_into().ok()?))
    }
}

impl Column for String {
    fn encode(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        Self::from_utf8(bytes.to_vec()).ok()
    }
}

/// Why the table failed. Each variant is a clear outcome: nothing is ever read as an empty
/// table by mistake.
#[derive(Debug)]
pub enum StoreError {
    /// Another process has the database file open.
    Locked,
    /// The file is not a redb database, or its contents are damaged.
    Corrupt(String),
    /// A stored key or value is not an encoding of the table's types.
    Undecodable,
    /// The file could not be read or written.
    Io(std::io::Error),
    /// Any other failure of the database.
    Database(redb::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Locked => f.write_str("the table file is locked by another process"),
            Self::Corrupt(why) => write!(f, "the table file is corrupt: {why}"),
            Self::Undecodable => f.write_str("the table holds an entry that does not decode"),
            Self::Io(e) => write!(f, "the table file cannot be accessed: {e}"),
            Self::Database(e) => write!(f, "the table failed: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    fn from_redb(e: impl Into<redb::Error>) -> Self {
        match e.into() {
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => Self::Locked,
            redb::Error::Corrupted(why) => Self::Corrupt(why),
            redb::Error::UpgradeRequired(version) => {
                Self::Corrupt(format!("written in an older file format (version {version})"))
            }
            // redb reports "not a redb database" as an I/O error of kind `InvalidData`, and a
            // header cut short as `UnexpectedEof`.
            redb::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => Self::Corrupt(e.to_string()),
            redb::Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Self::Corrupt(format!("cut short ({e})"))
            }
            redb::Error::Io(e) => Self::Io(e),
            other => Self::Database(other),
        }
    }
}

/// A table of desired processes in a redb database file (see the [module docs](self)).
pub struct RedbTable<K, V> {
    db: Database,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> fmt::Debug for RedbTable<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbTable").finish_non_exhaustive()
    }
}

impl<K: Column, V: Column> RedbTable<K, V> {
    /// Opens the table in the file at `path`, creating the file if it does not exist (or is
    /// empty). A file held by another process is [`StoreError::Locked`]; one that is not a
    /// sound redb database is [`StoreError::Corrupt`] (the whole file is checked on open).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::builder().set_check_integrity_on_open(true).create(path).map_err(StoreError::from_redb)?;
        // Create the redb table once, so that a pass over a new file is an empty pass and not
        // "no such table".
        let txn = db.begin_write().map_err(StoreError::from_redb)?;
        txn.open_table(ENTRIES).map_err(StoreError::from_redb)?;
        txn.commit().map_err(StoreError::from_redb)?;
        Ok(Self { db, types: PhantomData })
    }

    /// Writes `key` with `value` (replacing any value it had) in one durable transaction.
    pub fn insert(&self, key: &K, value: &V) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(StoreError::from_redb)?;
        {
            let mut table = txn.open_table(ENTRIES).map_err(StoreError::from_redb)?;
            table.insert(key.encode().as_slice(), value.encode().as_slice()).map_err(StoreError::from_redb)?;
        }
        txn.commit().map_err(StoreError::from_redb)
    }

    /// Removes `key` in one durable transaction; whether the table held it.
    pub fn remove(&self, key: &K) -> Result<bool, StoreError> {
        let txn = self.db.begin_write().map_err(StoreError::from_redb)?;
        let removed = {
            let mut table = txn.open_table(ENTRIES).map_err(StoreError::from_redb)?;
            table.remove(key.encode().as_slice()).map_err(StoreError::from_redb)?.is_some()
        };
        txn.commit().map_err(StoreError::from_redb)?;
        Ok(removed)
    }

    fn read(&self) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::from_redb)?;
        txn.open_table(ENTRIES).map_err(StoreError::from_redb)
    }
}

impl<K: Column, V: Column> Table<K, V> for RedbTable<K, V> {
    type Error = StoreError;
    type Cursor<'a>
        = RedbCursor<K, V>
    where
        Self: 'a;

    async fn get(&self, _ctx: &Ctx<'_>, key: &K) -> Result<Option<V>, StoreError> {
        let table = self.read()?;
        let Some(value) = table.get(key.encode().as_slice()).map_err(StoreError::from_redb)? else {
            return Ok(None);
        };
        V::decode(value.value()).map(Some).ok_or(StoreError::Undecodable)
    }

    /// A pass reads one snapshot (a redb read transaction), which is more than the trait asks:
    /// writes during the pass are not seen by it. The cursor holds the snapshot until dropped.
    async fn iter(&self, _ctx: &Ctx<'_>) -> Result<RedbCursor<K, V>, StoreError> {
        Ok(RedbCursor { snapshot: self.read()?, after: None, done: false, types: PhantomData })
    }
}

/// One pass over a [`RedbTable`]: one snapshot, keys in the order of their encoding. An error
/// ends the pass (the cursor then yields `Ok(None)`).
pub struct RedbCursor<K, V> {
    snapshot: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    /// The encoding of the last key yielded.
    after: Option<Vec<u8>>,
    done: bool,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K: Column, V: Column> RedbCursor<K, V> {
    fn step(&mut self) -> Result<Option<(K, V)>, StoreError> {
        let lower = match &self.after {
            None => Bound::Unbounded,
            Some(after) => Bound::Excluded(after.as_slice()),
        };
        let mut range = self.snapshot.range::<&[u8]>((lower, Bound::Unbounded)).map_err(StoreError::from_redb)?;
        let Some(entry) = range.next() else {
            return Ok(None);
        };
        let (key, value) = entry.map_err(StoreError::from_redb)?;
        let decoded = K::decode(key.value()).zip(V::decode(value.value())).ok_or(StoreError::Undecodable)?;
        self.after = Some(key.value().to_vec());
        Ok(Some(decoded))
    }
}

impl<K: Column, V: Column> Cursor<K, V> for RedbCursor<K, V> {
    type Error = StoreError;

    async fn next(&mut self, _ctx: &Ctx<'_>) -> Result<Option<(K, V)>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let step = self.step();
        if !matches!(step, Ok(Some(_))) {
            self.done = true;
        }
        step
    }
}
