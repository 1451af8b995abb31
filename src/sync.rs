//! The atomics the crate's cross-task state is made of, behind one crate-private path so that
//! the loom models (the `procession-loom` package of the workspace, tests only) can swap them.
//!
//! Normally these are `core::sync::atomic`'s own types. Built with `--cfg loom` they are
//! wrappers with the same API over `loom::sync::atomic`, so that loom sees (and permutes)
//! every load and store of the crate. Loom's atomics have no `const fn new`, while many of the
//! crate's constructors are `const fn` (a `static` context, a `static` process): a wrapper's
//! `const fn new` keeps the initial value and creates the loom atomic on first use. A loom
//! atomic belongs to one execution of a model, so a model builds the crate's objects inside
//! `loom::model`, never in a `static`.
//!
//! The blocking mutexes (`Mutex<CriticalSectionRawMutex, ..>`) need nothing here: under loom
//! the `critical-section` implementation is the one of the `procession-loom` package, a loom
//! mutex held from acquire to release. It is the only `unsafe` involved (the trait's functions
//! are `unsafe fn`), and it lives in that test-only package: this crate stays free of `unsafe`.

#[cfg(all(not(loom), target_has_atomic = "64"))]
#[allow(unused_imports, reason = "each build uses the types its features need")]
pub(crate) use core::sync::atomic::AtomicU64;
#[cfg(not(loom))]
#[allow(unused_imports, reason = "each build uses the types its features need")]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

#[cfg(loom)]
#[allow(unused_imports, reason = "each build uses the types its features need")]
pub(crate) use self::lazy::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// The loom wrappers (see the module docs).
#[cfg(loom)]
mod lazy {
    pub(crate) use core::sync::atomic::Ordering;

    use core::fmt;
    use std::sync::OnceLock;

    /// What orders the lazy creation of a loom atomic before its uses by other threads.
    ///
    /// Loom counts the creation of an atomic as a non-atomic write by the creating thread:
    /// every later access must happen after it, or loom reports a causality violation. In the
    /// real program the construction of an object happens before it is shared; here the
    /// creation happens at the first use, on whichever thread comes first. So each atomic comes
    /// with a loom lazy static of its own, initialised (a release, by loom's rules) by its
    /// creator right after the creation and read (an acquire) before each use: a use by another
    /// thread then happens after the creation, as it does in the real program. A loom lazy
    /// static needs a `&'static` [`Lazy`](loom::lazy_static::Lazy): one is leaked per atomic,
    /// built from its fields (public but hidden, as loom's own `lazy_static!` builds it in a
    /// `static`). The creator's other accesses before the creation are ordered before the use
    /// too, which is more order than the real program has: a model can miss a race that needs
    /// exactly that order missing (the first use of an atomic by a thread that is not the one
    /// that constructed the object).
    type Created = loom::lazy_static::Lazy<()>;

    fn created() -> &'static Created {
        alloc::boxed::Box::leak(alloc::boxed::Box::new(loom::lazy_static::Lazy {
            init: || (),
            _p: core::marker::PhantomData,
        }))
    }

    /// Loom models a `SeqCst` access as `AcqRel` only (loom issue 180), which allows the
    /// store-buffering outcome that sequential consistency forbids and that the crate relies
    /// on being forbidden (the `Armed` flag of the waiter slots: a waiter stores its waker and
    /// the flag and then loads the state; a canceller stores the state and then loads the
    /// flag). Loom does model `fence(SeqCst)`: a `SeqCst` store or read-modify-write here is
    /// followed by one, which forbids that outcome as the language does when both sides store
    /// with `SeqCst`. A weaker store gets no fence, so weakening one in the crate is seen; a
    /// load weakened to `Acquire` after a `SeqCst` store is not (the fence after the store
    /// orders it), which is stronger than the language: the models do not catch that one.
    fn seq_cst_fence(order: Ordering) {
        if order == Ordering::SeqCst {
            loom::sync::atomic::fence(Ordering::SeqCst);
        }
    }

    macro_rules! lazy_atomic {
        ($name:ident, $int:ty) => {
            /// A loom atomic created on first use, with a `const fn new`.
            pub(crate) struct $name {
                init: $int,
                cell: OnceLock<(&'static Created, loom::sync::atomic::$name)>,
            }

            #[allow(dead_code, reason = "the API of the core type, not all of it used")]
            impl $name {
                pub(crate) const fn new(value: $int) -> Self {
                    Self { init: value, cell: OnceLock::new() }
                }

                fn get(&self) -> &loom::sync::atomic::$name {
                    let (created, atomic) = self.cell.get_or_init(|| {
                        let atomic = loom::sync::atomic::$name::new(self.init);
                        let created = created();
                        // Released by its creator right after the creation.
                        created.get();
                        (created, atomic)
                    });
                    // Acquires the creation (see `Created`).
                    created.get();
                    atomic
                }

                pub(crate) fn load(&self, order: Ordering) -> $int {
                    self.get().load(order)
                }

                pub(crate) fn store(&self, value: $int, order: Ordering) {
                    self.get().store(value, order);
                    seq_cst_fence(order);
                }

                pub(crate) fn swap(&self, value: $int, order: Ordering) -> $int {
                    let previous = self.get().swap(value, order);
                    seq_cst_fence(order);
                    previous
                }

                pub(crate) fn compare_exchange(
                    &self,
                    current: $int,
                    new: $int,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$int, $int> {
                    let result = self.get().compare_exchange(current, new, success, failure);
                    seq_cst_fence(success);
                    result
                }

                pub(crate) fn compare_exchange_weak(
                    &self,
                    current: $int,
                    new: $int,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$int, $int> {
                    let result = self.get().compare_exchange_weak(current, new, success, failure);
                    seq_cst_fence(success);
                    result
                }

                pub(crate) fn fetch_update<F>(&self, set: Ordering, fetch: Ordering, f: F) -> Result<$int, $int>
                where
                    F: FnMut($int) -> Option<$int>,
                {
                    let result = self.get().fetch_update(set, fetch, f);
                    seq_cst_fence(set);
                    result
                }
            }

            impl fmt::Debug for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    fmt::Debug::fmt(&self.load(Ordering::Relaxed), f)
                }
            }
        };
    }

    macro_rules! lazy_atomic_int {
        ($name:ident, $int:ty) => {
            lazy_atomic!($name, $int);

            #[allow(dead_code, reason = "the API of the core type, not all of it used")]
            impl $name {
                pub(crate) fn fetch_add(&self, value: $int, order: Ordering) -> $int {
                    let previous = self.get().fetch_add(value, order);
                    seq_cst_fence(order);
                    previous
                }

                pub(crate) fn fetch_sub(&self, value: $int, order: Ordering) -> $int {
                    let previous = self.get().fetch_sub(value, order);
                    seq_cst_fence(order);
                    previous
                }

                pub(crate) fn fetch_or(&self, value: $int, order: Ordering) -> $int {
                    let previous = self.get().fetch_or(value, order);
                    seq_cst_fence(order);
                    previous
                }

                pub(crate) fn fetch_and(&self, value: $int, order: Ordering) -> $int {
                    let previous = self.get().fetch_and(value, order);
                    seq_cst_fence(order);
                    previous
                }

                pub(crate) fn fetch_max(&self, value: $int, order: Ordering) -> $int {
                    let previous = self.get().fetch_max(value, order);
                    seq_cst_fence(order);
                    previous
                }

                pub(crate) fn fetch_min(&self, value: $int, order: Ordering) -> $int {
                    let previous = self.get().fetch_min(value, order);
                    seq_cst_fence(order);
                    previous
                }
            }
        };
    }

    lazy_atomic!(AtomicBool, bool);

    #[allow(dead_code, reason = "the API of the core type, not all of it used")]
    impl AtomicBool {
        pub(crate) fn fetch_or(&self, value: bool, order: Ordering) -> bool {
            let previous = self.get().fetch_or(value, order);
            seq_cst_fence(order);
            previous
        }

        pub(crate) fn fetch_and(&self, value: bool, order: Ordering) -> bool {
            let previous = self.get().fetch_and(value, order);
            seq_cst_fence(order);
            previous
        }
    }

    lazy_atomic_int!(AtomicU8, u8);
    lazy_atomic_int!(AtomicUsize, usize);
    lazy_atomic_int!(AtomicU64, u64);
}
