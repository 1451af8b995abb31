//! What the unit tests of the wait queues share: a waker that counts its wakes, and (without
//! `alloc`) the lock the tests that fill the program-wide spill table hold.

// Linked for the tests also without the `alloc` feature.
extern crate alloc as heap;
extern crate std;

use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::Waker;
use heap::sync::Arc;
use heap::task::Wake;

/// Counts the wakes of the wakers made from it.
pub(crate) struct Counter(AtomicUsize);

impl Counter {
    /// How many times a waker of this counter was woken.
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A fresh counter and a waker of it.
pub(crate) fn counter() -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// Serialises the tests that fill the fixed spill table (one binary runs them in parallel, and
/// the table is the program's). Held for the whole test; a test that failed holding it does not
/// fail the others (the poison is ignored).
#[cfg(not(feature = "alloc"))]
pub(crate) fn fill_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
