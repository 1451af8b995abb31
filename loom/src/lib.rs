//! Loom models of the primitives of `procession` that are used from several tasks or threads
//! (tests only, `publish = false`). The models are the tests of this package, `tests/*.rs`;
//! run them with
//!
//! ```text
//! RUSTFLAGS="--cfg loom -D warnings" CARGO_TARGET_DIR=target/loom cargo test -p procession-loom --release
//! ```
//!
//! Built without `--cfg loom` the package is empty, so that the workspace builds as usual.
//!
//! # The critical section
//!
//! `procession` keeps most of its cross-task state in embassy-sync blocking mutexes over
//! `CriticalSectionRawMutex`, that is in the `critical-section` crate. Loom must see those
//! sections as the locks they are, so this package provides the `critical-section`
//! implementation: a loom [`Mutex`](loom::sync::Mutex) taken at `acquire` and held until the
//! matching `release` (its guard is kept in a loom thread-local). A nested `acquire` on the
//! thread that holds it returns `true`, "already held", and the matching `release` then does
//! nothing (the `restore-state-bool` representation).
//!
//! Decision (issue 15): this implementation, with the one `unsafe impl critical_section::Impl`
//! it needs (the trait's functions are `unsafe fn`), lives in this test-only package of its
//! own; the crate `procession` itself stays free of `unsafe` (`forbid(unsafe_code)`). Nothing
//! in this package's graph may enable `critical-section/std`: two implementations would clash
//! at link time. `procession` is therefore a dependency with `alloc` only, not `std`.
//!
//! Under loom the atomics of `procession` are loom's too (its crate-private `sync` module):
//! they are created on first use, inside the execution of a model, so a model builds every
//! object of the crate inside `loom::model`, never in a `static`.

#![cfg(loom)]

use core::cell::RefCell;

use loom::sync::{Mutex, MutexGuard};

loom::lazy_static! {
    /// The one lock that every critical section takes; dropped at the end of each execution.
    static ref LOCK: Mutex<()> = Mutex::new(());
}

loom::thread_local! {
    /// The guard of [`LOCK`] while this thread is inside a critical section.
    static HELD: RefCell<Option<MutexGuard<'static, ()>>> = RefCell::new(None);
}

/// The `critical-section` implementation over loom's mutex (see the crate docs).
struct LoomCriticalSection;

critical_section::set_impl!(LoomCriticalSection);

// SAFETY: `acquire` returns only once this thread holds `LOCK` (or already held it, which the
// token `true` records), so no two threads are ever inside a critical section at once; the
// section is released by the `release` that gets the token `false` of the outermost `acquire`,
// on the same thread, as the `critical-section` contract requires of its callers.
unsafe impl critical_section::Impl for LoomCriticalSection {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        HELD.with(|held| {
            if held.borrow().is_some() {
                return true;
            }
            let guard = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *held.borrow_mut() = Some(guard);
            false
        })
    }

    unsafe fn release(nested: critical_section::RawRestoreState) {
        if nested {
            return;
        }
        // Take the guard out before dropping it: dropping it may switch to another thread.
        let guard = HELD.with(|held| held.borrow_mut().take());
        drop(guard);
    }
}

/// Runs `f` as a loom model with the given preemption bound (`LOOM_MAX_PREEMPTIONS` overrides
/// it), and prints how many interleavings loom explored.
pub fn model<F>(name: &str, preemptions: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = iterations.clone();
    // The crate's program-wide state (the spill table) is one per test binary, and the
    // critical section above excludes only the threads of one execution: the models of a
    // binary run one after the other, whatever the test harness's thread count.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let start = std::time::Instant::now();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    println!(
        "loom model {name}: {} interleavings explored (preemption bound {:?}) in {:.2?}",
        iterations.load(std::sync::atomic::Ordering::Relaxed),
        builder.preemption_bound,
        start.elapsed()
    );
}

/// Runs `fut` to completion on this loom thread with [`loom::future::block_on`], and returns
/// its output and how many times it was woken: its waker counts the wakes before it hands them
/// on. (`block_on` may also poll again spuriously, as loom explores; wakes are what the crate
/// controls, so the models count those, not polls.)
///
/// The waker the future sees lets go of loom's waker when the call returns: a copy of it that
/// the crate keeps in a slot afterwards (a waiter that went away leaves its waker in a slot
/// until the next wake) then holds no loom object, which loom would report as leaked.
pub fn block_on_counting<F: core::future::Future>(fut: F) -> (F::Output, usize) {
    use core::pin::pin;
    use core::task::{Context, Waker};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::task::Wake;

    struct Counting {
        wakes: AtomicUsize,
        inner: Mutex<Option<Waker>>,
    }

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner).clone();
            if let Some(inner) = inner {
                self.wakes.fetch_add(1, Ordering::Relaxed);
                inner.wake();
            }
        }
    }

    let counting = Arc::new(Counting { wakes: AtomicUsize::new(0), inner: Mutex::new(None) });
    let waker = Waker::from(counting.clone());
    let mut fut = pin!(fut);
    let output = loom::future::block_on(core::future::poll_fn(|cx| {
        counting.inner.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_with(|| cx.waker().clone());
        fut.as_mut().poll(&mut Context::from_waker(&waker))
    }));
    counting.inner.lock().unwrap_or_else(PoisonError::into_inner).take();
    (output, counting.wakes.load(Ordering::Relaxed))
}

/// Polls `fut` once on this loom thread (registering whatever it waits for) and drops it:
/// a waiter that goes away.
pub fn poll_once_and_drop<F: core::future::Future>(fut: F) {
    let mut fut = core::pin::pin!(fut);
    block_on_counting(core::future::poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        core::task::Poll::Ready(())
    }));
}

/// A `'static` reference to `value`, leaked: loom's threads take only `'static` closures, and a
/// child context borrows its parent. One small leak per execution of a model; nothing of it
/// is dropped, so a model that needs a drop (a handle's `Drop`) keeps that object in an `Arc`.
pub fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}
