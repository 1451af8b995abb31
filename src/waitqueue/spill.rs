//! The spill table: wakers that did not fit where they wait, under a key that names that place.
//!
//! One table for the program, behind a critical section. The owner of a key wakes (and removes)
//! its entries when its condition changes, and only then. A key is the address of a [`Ctx`](crate::Ctx)
//! root (even: a context is aligned), or the id the table handed a wait list at its first spill
//! (odd, [`register_list`]): a list's key does not change when its handle is moved, so a
//! handle moved while some of its waiters are spilled still wakes them, and its `Drop` still
//! finds them. Two kinds of entries:
//!
//! - *own* entries belong to one waiting future (an id it keeps): it refreshes its waker in
//!   place on every poll and removes the entry when it is dropped, so entries never pile up;
//! - *shared* entries (id 0) stand for a task, deduplicated by [`same_task`](super::same_task), for waits
//!   that keep no state of their own; they stay until their key is woken.
//!
//! Without `alloc` the table has [`SPILL_SLOTS`] entries and a registration that finds it full
//! fails: the caller reports it. With `alloc` it grows on the heap.

use crate::sync::{AtomicBool, Ordering};
use core::cell::RefCell;
use core::task::Waker;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;

/// How many wakers the program-wide spill table holds without `alloc` (with `alloc` it grows
/// on the heap). A waker goes there only when the place it waits on has no free slot of its
/// own: a context waited on by more tasks than it has slots, a handle waited on by more tasks
/// than its slots.
pub const SPILL_SLOTS: usize = 16;

struct Entry {
    key: usize,
    id: u32,
    waker: Waker,
}

#[cfg(not(feature = "alloc"))]
type List = heapless::Vec<Entry, SPILL_SLOTS>;
#[cfg(feature = "alloc")]
type List = alloc::vec::Vec<Entry>;

struct Table {
    entries: List,
    /// The id last handed out (0 before the first: the table starts all zero, so it is placed
    /// in `.bss` and costs no flash).
    last_id: u32,
    /// The wait-list id last handed out (0 before the first), in `1..2^31`.
    last_list: u32,
}

static TABLE: Mutex<CriticalSectionRawMutex, RefCell<Table>> =
    Mutex::new(RefCell::new(Table { entries: List::new(), last_id: 0, last_list: 0 }));

/// Held by every unit test that fills the spill table, which is one for the whole test binary:
/// the tests run on parallel threads, and one filling it would make another's registrations fail.
/// The key of the entries of the wait list with id `id` (odd: addresses of contexts are even).
pub(crate) const fn list_key(id: u32) -> usize {
    ((id as usize) << 1) | 1
}

fn push(entries: &mut List, entry: Entry) -> bool {
    #[cfg(not(feature = "alloc"))]
    return entries.push(entry).is_ok();
    #[cfg(feature = "alloc")]
    {
        entries.push(entry);
        true
    }
}

/// Stores `waker` under `key` as an entry of its own and returns its id; `None` if full.
pub(crate) fn insert(key: usize, waker: &Waker, spilled: &AtomicBool) -> Option<u32> {
    TABLE.lock(|table| {
        let mut table = table.borrow_mut();
        // Ids start at 1 and wrap past `u32::MAX` back to 1: 0 marks the shared entries.
        let id = table.last_id.checked_add(1).unwrap_or(1);
        table.last_id = id;
        let stored = push(&mut table.entries, Entry { key, id, waker: waker.clone() });
        if stored {
            spilled.store(true, Ordering::SeqCst);
        }
        stored.then_some(id)
    })
}

/// Updates the waker of entry `id`; `false` if the entry is gone (its key was woken).
pub(crate) fn refresh(id: u32, waker: &Waker) -> bool {
    TABLE.lock(|table| {
        let mut table = table.borrow_mut();
        match table.entries.iter_mut().find(|e| e.id == id) {
            Some(entry) => {
                if !entry.waker.will_wake(waker) {
                    entry.waker.clone_from(waker);
                }
                true
            }
            None => false,
        }
    })
}

/// Removes entry `id` if it is still there.
pub(crate) fn remove(id: u32) {
    TABLE.lock(|table| {
        let mut table = table.borrow_mut();
        if let Some(i) = table.entries.iter().position(|e| e.id == id) {
            table.entries.swap_remove(i);
        }
    });
}

/// Stores `waker` under `key` once per task (a shared entry) and notes it in `spilled`;
/// `false` if full.
pub(crate) fn register_shared(key: usize, waker: &Waker, spilled: &AtomicBool) -> bool {
    let stored = register_key(key, waker);
    if stored {
        spilled.store(true, Ordering::SeqCst);
    }
    stored
}

/// Stores `waker` under `key` once per task (a shared entry); `false` if full.
pub(crate) fn register_key(key: usize, waker: &Waker) -> bool {
    TABLE.lock(|table| store_shared(&mut table.borrow_mut(), key, waker))
}

/// Stores `waker` once per task under the key of the wait list whose id is `*id`, handing the
/// list an id first when it has none yet (`*id == 0`); `false` if full (the id is kept).
///
/// Ids run through `1..2^31` and then start again at 1: two lists share a key only if one of
/// them has kept its id while two billion others spilled for the first time, and then a wake of
/// one is a spurious wake of the other's spilled waiters.
pub(crate) fn register_list(id: &mut u32, waker: &Waker) -> bool {
    TABLE.lock(|table| {
        let mut table = table.borrow_mut();
        if *id == 0 {
            let next = table.last_list.wrapping_add(1) & (u32::MAX >> 1);
            *id = next.max(1);
            table.last_list = *id;
        }
        store_shared(&mut table, list_key(*id), waker)
    })
}

fn store_shared(table: &mut Table, key: usize, waker: &Waker) -> bool {
    if let Some(entry) =
        table.entries.iter_mut().find(|e| e.key == key && e.id == 0 && super::same_task(&e.waker, waker))
    {
        entry.waker.clone_from(waker);
        return true;
    }
    push(&mut table.entries, Entry { key, id: 0, waker: waker.clone() })
}

/// Wakes and removes every entry under `key`, if `spilled` says there may be some.
pub(crate) fn wake(key: usize, spilled: &AtomicBool) {
    if !spilled.load(Ordering::SeqCst) {
        return;
    }
    wake_with(key, Some(spilled));
}

/// Wakes and removes every entry under `key`.
pub(crate) fn wake_key(key: usize) {
    wake_with(key, None);
}

fn wake_with(key: usize, spilled: Option<&AtomicBool>) {
    let set = |value: bool| {
        if let Some(flag) = spilled {
            flag.store(value, Ordering::SeqCst);
        }
    };
    let mut taken: heapless::Vec<Waker, 8> = heapless::Vec::new();
    loop {
        // In batches, so that no waker is woken while the lock is held.
        let more = TABLE.lock(|table| {
            let mut table = table.borrow_mut();
            set(false);
            let mut i = 0;
            while i < table.entries.len() {
                if table.entries[i].key != key {
                    i += 1;
                } else if taken.is_full() {
                    set(true);
                    return true;
                } else {
                    let _ = taken.push(table.entries.swap_remove(i).waker);
                }
            }
            false
        });
        // A waker that panics must not lose the others: `wake_each` wakes the rest of the batch
        // while the panic unwinds, and this guard the entries still in the table.
        let finished = core::cell::Cell::new(false);
        let _rest = super::Finally::new(|| {
            if more && !finished.get() {
                wake_with(key, spilled);
            }
        });
        super::wake_each(taken.drain(..));
        finished.set(true);
        if !more {
            return;
        }
    }
}

/// Forgets every entry under `key` without waking it, if `spilled` says there may be some
/// (its owner is going away, so nothing waits on it any more).
pub(crate) fn clear(key: usize, spilled: &AtomicBool) {
    if !spilled.load(Ordering::SeqCst) {
        return;
    }
    TABLE.lock(|table| {
        spilled.store(false, Ordering::SeqCst);
        table.borrow_mut().entries.retain(|e| e.key != key);
    });
}

/// Forgets every entry under `key` without waking it (its owner is going away).
pub(crate) fn clear_key(key: usize) {
    TABLE.lock(|table| table.borrow_mut().entries.retain(|e| e.key != key));
}

/// How many entries the table holds now.
#[allow(dead_code, reason = "for tests and debugging")]
pub(crate) fn len() -> usize {
    TABLE.lock(|table| table.borrow().entries.len())
}
