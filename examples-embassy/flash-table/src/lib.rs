//! A `procession` [`Table`] of desired processes in a flash key map, and a RAM flash that can
//! lose power on purpose.
//!
//! [`FlashTable`] keeps one value per key in a `sequential-storage` map on any
//! `embedded-storage-async` [`NorFlash`]: what a firmware writes survives a reboot, and a write
//! cut short by a power loss leaves the map in the state before or after that write (the
//! crate's guarantee, checked by this crate's `power_cut` test at every write boundary).
//!
//! [`RamFlash`] is a NOR flash in RAM for tests: it can be cut off after a given number of
//! word writes, and its image copied out and mounted again, as after a reboot.
//!
//! The library is `no_std` and has no heap; the firmware `flash_table` uses it on a flash that
//! is a file on the host, and its tests run on the host.

#![no_std]

use core::fmt;
use core::ops::Range;

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use embassy_sync::mutex::{Mutex, MutexGuard};
use embedded_storage_async::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use procession::Ctx;
use procession::table::{Cursor, Table};
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{Key, MapConfig, MapStorage, Value};

/// What a failing [`FlashTable`] returns: the map's error (storage, corruption, full, ...).
pub type Error<S> = sequential_storage::Error<<S as ErrorType>::Error>;

type Map<K, S> = MapStorage<K, S, Cache<Uncached, Uncached, Uncached, K>>;

struct Inner<K: Key, S: NorFlash, const BUF: usize> {
    map: Map<K, S>,
    /// Room for one serialized key and value, rounded up to the flash word.
    buf: [u8; BUF],
}

/// A [`Table`] in a `sequential-storage` map on the flash `S`: keys `K`, values `V`, at most
/// `BUF` bytes for one key and value together (rounded up to the flash word).
///
/// The map needs exclusive access for every operation, so it sits behind an async mutex of
/// `M`: [`get`](Table::get), [`insert`](Self::insert) and [`remove`](Self::remove) each take it
/// for one call, and a pass ([`iter`](Table::iter)) holds it **until its cursor is dropped**.
/// A pass is therefore a snapshot, and every other call waits for it to end: keep passes short,
/// and do not wait, inside a pass, for something that needs the table.
///
/// # A pass
///
/// The map is a log: a pass yields the items in the order they were written, and a key written
/// more than once may come more than once (the last value wins, as the [`Table`] contract
/// allows). Each step scans the log from its start, so a pass over `n` items reads `O(n²)`
/// item headers: fine for the tens of keys a firmware has.
///
/// # Errors and cancel safety
///
/// Every error of the map ([`Error`]) is returned as it is: a flash that fails, a map that is
/// full, flash contents that are corrupt (never read as an empty table). Dropping a future of
/// the table in the middle of a write can leave that write half done, exactly like a power
/// cut: the map repairs itself at its next operation, and the write may or may not have
/// happened.
pub struct FlashTable<K: Key, V, S: NorFlash, M: RawMutex = CriticalSectionRawMutex, const BUF: usize = 64> {
    inner: Mutex<M, Inner<K, S, BUF>>,
    values: core::marker::PhantomData<fn() -> V>,
}

impl<K: Key, V, S: NorFlash, M: RawMutex, const BUF: usize> fmt::Debug for FlashTable<K, V, S, M, BUF> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlashTable").finish_non_exhaustive()
    }
}

impl<K: Key, V, S: NorFlash, M: RawMutex, const BUF: usize> FlashTable<K, V, S, M, BUF>
where
    V: for<'d> Value<'d>,
{
    /// The table kept in `range` of `flash` (at least two erase pages, page-aligned; checked by
    /// `MapConfig`, which panics at compile time in a `const` and at run time otherwise).
    /// Nothing is read until the first call.
    pub fn new(flash: S, range: Range<u32>) -> Self {
        let map = MapStorage::new(flash, MapConfig::new(range), Cache::new_uncached());
        Self { inner: Mutex::new(Inner { map, buf: [0; BUF] }), values: core::marker::PhantomData }
    }

    /// Writes `key` with `value`, replacing any earlier value.
    pub async fn insert(&self, key: &K, value: &V) -> Result<(), Error<S>> {
        let mut inner = self.inner.lock().await;
        let Inner { map, buf } = &mut *inner;
        map.store_item(buf, key, value).await
    }

    /// Removes `key` (nothing happens if the table does not hold it).
    pub async fn remove(&self, key: &K) -> Result<(), Error<S>>
    where
        S: MultiwriteNorFlash,
    {
        let mut inner = self.inner.lock().await;
        let Inner { map, buf } = &mut *inner;
        map.remove_item(buf, key).await
    }

    /// Gives the flash back (for a test: its image after the table's writes).
    pub fn into_flash(self) -> S {
        self.inner.into_inner().map.destroy().0
    }
}

impl<K: Key, V, S: NorFlash, M: RawMutex, const BUF: usize> Table<K, V> for FlashTable<K, V, S, M, BUF>
where
    V: for<'d> Value<'d>,
{
    type Error = Error<S>;
    type Cursor<'a>
        = FlashCursor<'a, K, V, S, M, BUF>
    where
        Self: 'a;

    async fn get(&self, _ctx: &Ctx<'_>, key: &K) -> Result<Option<V>, Error<S>> {
        let mut inner = self.inner.lock().await;
        let Inner { map, buf } = &mut *inner;
        map.fetch_item::<V>(buf, key).await
    }

    async fn iter(&self, _ctx: &Ctx<'_>) -> Result<FlashCursor<'_, K, V, S, M, BUF>, Error<S>> {
        let guard = self.inner.lock().await;
        Ok(FlashCursor { guard, step: 0, done: false, values: core::marker::PhantomData })
    }
}

/// One pass over a [`FlashTable`]; it holds the table's mutex until dropped (see the table's
/// docs). After `Ok(None)` or an error it yields `Ok(None)`.
pub struct FlashCursor<'a, K: Key, V, S: NorFlash, M: RawMutex, const BUF: usize> {
    guard: MutexGuard<'a, M, Inner<K, S, BUF>>,
    /// How many items of the log this pass has yielded.
    step: usize,
    done: bool,
    values: core::marker::PhantomData<fn() -> V>,
}

impl<K: Key, V, S: NorFlash, M: RawMutex, const BUF: usize> fmt::Debug for FlashCursor<'_, K, V, S, M, BUF> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlashCursor").field("step", &self.step).field("done", &self.done).finish_non_exhaustive()
    }
}

impl<K: Key, V, S: NorFlash, M: RawMutex, const BUF: usize> FlashCursor<'_, K, V, S, M, BUF>
where
    V: for<'d> Value<'d>,
{
    async fn step(&mut self) -> Result<Option<(K, V)>, Error<S>> {
        let Inner { map, buf } = &mut *self.guard;
        let mut items = map.fetch_all_items(buf).await?;
        // The mutex is held for the whole pass, so the log is the same as at the last step:
        // skip what this pass yielded already.
        for _ in 0..self.step {
            if items.next::<V>(buf).await?.is_none() {
                return Ok(None);
            }
        }
        let item = items.next::<V>(buf).await?;
        self.step += 1;
        Ok(item)
    }
}

impl<K: Key, V, S: NorFlash, M: RawMutex, const BUF: usize> Cursor<K, V> for FlashCursor<'_, K, V, S, M, BUF>
where
    V: for<'d> Value<'d>,
{
    type Error = Error<S>;

    async fn next(&mut self, _ctx: &Ctx<'_>) -> Result<Option<(K, V)>, Error<S>> {
        if self.done {
            return Ok(None);
        }
        let step = self.step().await;
        if !matches!(step, Ok(Some(_))) {
            self.done = true;
        }
        step
    }
}

// === RamFlash ===

/// Bytes per write of [`RamFlash`] (a word).
pub const WORD: usize = 4;
/// Bytes per erase page of [`RamFlash`].
pub const PAGE: usize = 1024;

/// The error of a [`RamFlash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashFault {
    /// The power was cut: this write or erase (or part of it) did not happen.
    PowerCut,
    /// An access outside the flash or not aligned.
    OutOfBounds,
}

impl NorFlashError for FlashFault {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::PowerCut => NorFlashErrorKind::Other,
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
        }
    }
}

/// A NOR flash of `SIZE` bytes in RAM (words of [`WORD`] bytes, pages of [`PAGE`] bytes): a write
/// can only clear bits, an erase sets a page to `0xFF`.
///
/// [`cut_after`](Self::cut_after) arms a power cut: after that many more word writes or page
/// erases, every write and erase fails with [`FlashFault::PowerCut`] and changes nothing; a
/// write of several words that reaches the limit stops in the middle. The image can then be
/// copied out ([`image`](Self::image)) and mounted again ([`from_image`](Self::from_image)).
#[derive(Debug, Clone)]
pub struct RamFlash<const SIZE: usize> {
    bytes: [u8; SIZE],
    /// Word writes and page erases left before the power is cut (`None`: never).
    budget: Option<usize>,
    /// Word writes and page erases done so far.
    operations: usize,
    /// Page erases done so far.
    erases: usize,
}

impl<const SIZE: usize> Default for RamFlash<SIZE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SIZE: usize> RamFlash<SIZE> {
    /// An erased flash.
    pub const fn new() -> Self {
        Self { bytes: [0xFF; SIZE], budget: None, operations: 0, erases: 0 }
    }

    /// A flash holding `image`, as after a reboot (no power cut armed).
    pub const fn from_image(image: [u8; SIZE]) -> Self {
        Self { bytes: image, budget: None, operations: 0, erases: 0 }
    }

    /// The contents.
    pub const fn image(&self) -> [u8; SIZE] {
        self.bytes
    }

    /// Cuts the power after `operations` more word writes or page erases (`None`: never).
    pub fn cut_after(&mut self, operations: Option<usize>) {
        self.budget = operations;
    }

    /// Word writes and page erases done so far.
    pub const fn operations(&self) -> usize {
        self.operations
    }

    /// Page erases done so far.
    pub const fn erases(&self) -> usize {
        self.erases
    }

    /// Spends one operation of the budget; `false` once the power is cut.
    fn spend(&mut self) -> bool {
        match &mut self.budget {
            Some(0) => false,
            Some(left) => {
                *left -= 1;
                self.operations += 1;
                true
            }
            None => {
                self.operations += 1;
                true
            }
        }
    }

    fn range(offset: u32, len: usize, align: usize) -> Result<Range<usize>, FlashFault> {
        let start = usize::try_from(offset).map_err(|_| FlashFault::OutOfBounds)?;
        let end = start.checked_add(len).ok_or(FlashFault::OutOfBounds)?;
        if end > SIZE || !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(FlashFault::OutOfBounds);
        }
        Ok(start..end)
    }
}

impl<const SIZE: usize> ErrorType for RamFlash<SIZE> {
    type Error = FlashFault;
}

impl<const SIZE: usize> ReadNorFlash for RamFlash<SIZE> {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashFault> {
        let range = Self::range(offset, bytes.len(), 1)?;
        bytes.copy_from_slice(&self.bytes[range]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        SIZE
    }
}

impl<const SIZE: usize> NorFlash for RamFlash<SIZE> {
    const WRITE_SIZE: usize = WORD;
    const ERASE_SIZE: usize = PAGE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashFault> {
        let len = to.checked_sub(from).ok_or(FlashFault::OutOfBounds)?;
        let range = Self::range(from, len as usize, PAGE)?;
        for page in range.step_by(PAGE) {
            if !self.spend() {
                return Err(FlashFault::PowerCut);
            }
            self.bytes[page..page + PAGE].fill(0xFF);
            self.erases += 1;
        }
        Ok(())
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashFault> {
        let range = Self::range(offset, bytes.len(), WORD)?;
        for (at, word) in range.step_by(WORD).zip(bytes.chunks(WORD)) {
            if !self.spend() {
                return Err(FlashFault::PowerCut);
            }
            for (cell, new) in self.bytes[at..at + WORD].iter_mut().zip(word) {
                *cell &= new; // NOR: a write only clears bits
            }
        }
        Ok(())
    }
}

/// Writing a word again may clear more of its bits (what `remove` needs).
impl<const SIZE: usize> MultiwriteNorFlash for RamFlash<SIZE> {}
