//! The cost of the keyed supervisor's work, counted instead of timed: how many key comparisons a
//! reconcile pass makes, and how many process futures a change polls.
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
// Without `alloc` only the fixed variant's tests run; what only the `Dyn` ones use is unused.
#![cfg_attr(not(feature = "alloc"), allow(unused_imports, dead_code))]

use core::convert::Infallible;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
#[cfg(feature = "alloc")]
use procession::table::DynKeyedSupervisor;
use procession::table::{Event, KeyedSupervisor, Setup, StaticTable};
use procession::time::ManualClock;
use procession::{Ctx, Merge, Overrun, Runner, leaf, never, supervisor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failed;

impl Merge for Failed {
    fn merge(self, _later: Self) -> Self {
        self
    }
}

impl From<supervisor::Error> for Failed {
    fn from(_: supervisor::Error) -> Self {
        Self
    }
}

impl From<Overrun> for Failed {
    fn from(_: Overrun) -> Self {
        Self
    }
}

impl From<Infallible> for Failed {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

/// How many times two [`Key`]s were compared (one counter per test: each test has its own key
/// type through `T`).
static COMPARED: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// A key that counts its comparisons in `COMPARED[T]`.
#[derive(Debug, Clone, Copy)]
struct Key<const T: usize>(u32);

impl<const T: usize> PartialEq for Key<T> {
    fn eq(&self, other: &Self) -> bool {
        COMPARED[T].fetch_add(1, Ordering::Relaxed);
        self.0 == other.0
    }
}

impl<const T: usize> Eq for Key<T> {}

/// The worker of every key: runs until its context is cancelled.
fn idle<K, V>(_: &K, _: &V) -> impl Runner<Failed> + use<K, V> {
    leaf(async |ctx: &Ctx<'_>| -> Result<(), Failed> {
        ctx.cancelled().await;
        Ok(())
    })
}

const KEYS: usize = 64;

fn entries<const T: usize>() -> Vec<(Key<T>, u32)> {
    (0..KEYS as u32).map(|k| (Key(k), k)).collect()
}

/// A reconcile pass over `KEYS` running keys, in the order of the table: the comparisons it
/// makes to find them, counted from `reconcile_now` until its `PassDone`.
macro_rules! pass_comparisons {
    ($sup:expr, $t:literal) => {{
        let sup = $sup;
        let entries = entries::<$t>();
        let done = Signal::<CriticalSectionRawMutex, ()>::new();
        let observe = |event: &Event<'_, Key<$t>, Failed>| {
            if let Event::PassDone { seen, .. } = event {
                assert_eq!(*seen, KEYS);
                done.signal(());
            }
        };
        let clock = ManualClock::new();
        let setup = Setup::new(StaticTable::new(&entries), idle, &clock).observe(observe);
        let root = Ctx::new();
        let compared = core::cell::Cell::new(0);
        let result = futures::executor::block_on(sup.drive(&root, &setup, async |_: &Ctx<'_>| {
            assert_eq!(sup.counts().running, KEYS);
            done.reset();
            COMPARED[$t].store(0, Ordering::Relaxed);
            assert!(sup.reconcile_now());
            done.wait().await;
            compared.set(COMPARED[$t].load(Ordering::Relaxed));
            assert_eq!(sup.counts().running, KEYS);
            Ok(())
        }));
        assert_eq!(result, Ok(()));
        compared.get()
    }};
}

/// A pass that finds every key running compares each key with one slot's only: linear in the
/// keys, not quadratic (a scan of the slots from the first for each key compares `KEYS² / 2`
/// times, 2080 here).
#[test]
fn a_pass_over_running_keys_compares_each_key_once_fixed() {
    static SUP: KeyedSupervisor<Key<0>, u32, Failed, KEYS> = KeyedSupervisor::new();
    let compared = pass_comparisons!(&SUP, 0);
    assert!(compared <= 2 * KEYS, "{compared} comparisons for a pass over {KEYS} keys");
}

/// As [`a_pass_over_running_keys_compares_each_key_once_fixed`], for `DynKeyedSupervisor`.
#[cfg(feature = "alloc")]
#[test]
fn a_pass_over_running_keys_compares_each_key_once_dyn() {
    static SUP: DynKeyedSupervisor<Key<1>, u32, Failed> = DynKeyedSupervisor::new();
    let compared = pass_comparisons!(&SUP, 1);
    assert!(compared <= 2 * KEYS, "{compared} comparisons for a pass over {KEYS} keys");
}

/// Lets the other arms of the task run once.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if core::mem::replace(&mut yielded, true) {
            return core::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        core::task::Poll::Pending
    })
    .await;
}

/// How many times the process futures of the keys below `KEYS` were polled.
static POLLED: AtomicUsize = AtomicUsize::new(0);

/// The worker of [`dyn_polls_only_the_keys_a_change_concerns`]: counts its polls if its key
/// is below `KEYS`.
#[cfg(feature = "alloc")]
fn counted(key: &u32, _: &u32) -> impl Runner<Failed> + use<> {
    let counts = (*key as usize) < KEYS;
    leaf(async move |ctx: &Ctx<'_>| -> Result<(), Failed> {
        let mut cancelled = pin!(ctx.cancelled());
        poll_fn(|cx| {
            if counts {
                POLLED.fetch_add(1, Ordering::Relaxed);
            }
            cancelled.as_mut().poll(cx)
        })
        .await;
        Ok(())
    })
}

/// With `alloc`, a change polls the worker of the key it concerns, not every worker: starting
/// and stopping another key ten times polls none of `KEYS` running processes (each worker woken
/// at every change polls each of them at every change, hundreds of times here), and neither do
/// the free slots that a drive with `KEYS` more keys left.
#[cfg(feature = "alloc")]
#[test]
fn dyn_polls_only_the_keys_a_change_concerns() {
    static SUP: DynKeyedSupervisor<u32, u32, Failed> = DynKeyedSupervisor::new();
    let entries: Vec<(u32, u32)> = (0..2 * KEYS as u32).map(|k| (k, k)).collect();
    let clock = ManualClock::new();
    // A first drive holds 2 * KEYS keys: its slots stay, the second half free in the next.
    let setup = Setup::new(StaticTable::new(&entries), counted, &clock);
    let root = Ctx::new();
    let result = futures::executor::block_on(SUP.drive(&root, &setup, async |_: &Ctx<'_>| Ok(())));
    assert_eq!(result, Ok(()));
    // The second drive: the keys below `KEYS` (counted), and `KEYS` (not counted), which is
    // stopped, forgotten and started again.
    let setup = Setup::new(StaticTable::new(&entries[..=KEYS]), counted, &clock);
    let result = futures::executor::block_on(SUP.drive(&root, &setup, async |_: &Ctx<'_>| {
        assert_eq!(SUP.counts().running, KEYS + 1);
        assert_eq!(SUP.counts().keys, KEYS + 1);
        // The wakes of the restore (each key's slot changes once after it is ready) are polled
        // first.
        for _ in 0..3 {
            yield_now().await;
        }
        let before = POLLED.load(Ordering::Relaxed);
        let key = KEYS as u32;
        for _ in 0..10 {
            SUP.stop(&key, never, never).await.unwrap();
            SUP.forget(&key).unwrap();
            SUP.start(key).await.unwrap();
        }
        let polled = POLLED.load(Ordering::Relaxed) - before;
        assert_eq!(polled, 0, "{KEYS} running processes polled {polled} times by changes of another key");
        Ok(())
    }));
    assert_eq!(result, Ok(()));
}

/// Counts the wakes of the task that polls the drive.
struct CountWakes(AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The changes made while the drive is polled wake its task a few times, not once each: a pass
/// over `KEYS` running keys (one change per key, then one per worker that takes the value
/// offered to it) wakes the drive's task a few times, not `KEYS` times or more (70 when each arm
/// registers the task's waker again before it looks at the book, and each change wakes it at
/// once). On tokio, each wake of the task of a `block_on` is a write to the runtime's event fd.
#[test]
fn a_pass_wakes_the_drive_a_few_times_not_once_per_key() {
    static SUP: KeyedSupervisor<u32, u32, Failed, KEYS> = KeyedSupervisor::new();
    let entries: Vec<(u32, u32)> = (0..KEYS as u32).map(|k| (k, k)).collect();
    let done = Signal::<CriticalSectionRawMutex, ()>::new();
    let observe = |event: &Event<'_, u32, Failed>| {
        if let Event::PassDone { .. } = event {
            done.signal(());
        }
    };
    let clock = ManualClock::new();
    let setup = Setup::new(StaticTable::new(&entries), idle, &clock).observe(observe);
    let root = Ctx::new();
    let count = std::sync::Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = core::task::Waker::from(count.clone());
    let woken = core::cell::Cell::new(usize::MAX);
    let mut drive = pin!(SUP.drive(&root, &setup, async |_: &Ctx<'_>| {
        assert_eq!(SUP.counts().running, KEYS);
        done.reset();
        let before = count.0.load(Ordering::Relaxed);
        assert!(SUP.reconcile_now());
        done.wait().await;
        // Every worker takes the value the pass offered it, compares it with its own, and goes
        // back to sleep.
        for _ in 0..3 {
            yield_now().await;
        }
        woken.set(count.0.load(Ordering::Relaxed) - before);
        Ok(())
    }));
    // Polled again at once, woken or not: only the wakes are counted.
    let result = loop {
        if let core::task::Poll::Ready(result) = drive.as_mut().poll(&mut core::task::Context::from_waker(&waker)) {
            break result;
        }
    };
    assert_eq!(result, Ok(()));
    let woken = woken.get();
    assert!(woken <= 12, "the drive's task was woken {woken} times by a pass over {KEYS} keys");
}
