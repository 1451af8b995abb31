//! Helpers of the property tests (`tests/prop_*.rs`): a strict executor that polls only when
//! woken and fails on a lost wakeup or a spin, a gate the test opens, and the proptest
//! configuration (a fixed seed, no persistence files).
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::std_instead_of_alloc, clippy::std_instead_of_core, reason = "the tests run on std")]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use proptest::test_runner::{Config, RngSeed};

/// The seed of every property test of the project: a run explores the same cases every time,
/// so a failure seen once is seen again (and in CI).
pub const SEED: u64 = 0x7072_6f63_6573_7369;

/// The configuration of a property test: `cases` cases from the fixed [`SEED`], no failure
/// persistence files (a failing case is printed, shrunk, and reproduced by the fixed seed).
/// Set `PROPTEST_CASES` to run more cases locally; the seed stays fixed.
///
/// Under miri (a hundred times slower) the default is a tenth of the cases, at least 4;
/// `PROPTEST_CASES` still sets the number.
pub fn config(cases: u32) -> Config {
    let cases = if cfg!(miri) { (cases / 10).max(4) } else { cases };
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, rng_seed: RngSeed::Fixed(SEED), ..Config::default() }
}

/// As [`config`], but with `miri_cases` cases under miri (for the property tests whose cases
/// are the slowest there); `PROPTEST_CASES` still sets the number.
pub fn config_with_miri(cases: u32, miri_cases: u32) -> Config {
    let cases = if cfg!(miri) { miri_cases } else { cases };
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, rng_seed: RngSeed::Fixed(SEED), ..Config::default() }
}

/// The waker of the one task of a [`Strict`] executor: a flag and a count of wakes.
#[derive(Debug, Default)]
pub struct Flag {
    woken: AtomicBool,
    wakes: AtomicUsize,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.woken.store(true, Ordering::Relaxed);
    }
}

/// A deterministic executor of one future that polls it only after its waker was woken (as
/// an embedded executor does before it sleeps), and counts polls since the last external event
/// the test fired ([`Strict::event`]). More than `bound` polls without an external event is a
/// spin; a pending future with no wake outstanding when the test has no event left to fire is a
/// lost wakeup (or a hang): the test driving it reports both.
pub struct Strict<'f, T> {
    fut: Pin<Box<dyn Future<Output = T> + 'f>>,
    flag: Arc<Flag>,
    waker: Waker,
    out: Option<T>,
    finished: bool,
    /// Polls in all.
    pub polls: usize,
    /// Polls since the last external event.
    pub since_event: usize,
    /// The largest number of polls allowed between two external events.
    pub bound: usize,
}

impl<'f, T> Strict<'f, T> {
    /// A task for `fut`, woken once so that it is polled a first time.
    pub fn new(fut: impl Future<Output = T> + 'f, bound: usize) -> Self {
        let flag = Arc::new(Flag::default());
        flag.woken.store(true, Ordering::Relaxed);
        let waker = Waker::from(flag.clone());
        Self { fut: Box::pin(fut), flag, waker, out: None, finished: false, polls: 0, since_event: 0, bound }
    }

    pub fn is_woken(&self) -> bool {
        self.flag.woken.load(Ordering::Relaxed)
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn wakes(&self) -> usize {
        self.flag.wakes.load(Ordering::Relaxed)
    }

    /// The test fired an external event: the poll budget starts again.
    pub fn event(&mut self) {
        self.since_event = 0;
    }

    /// Polls once if woken; `Err` on a spin. Returns whether it polled.
    pub fn poll_once(&mut self) -> Result<bool, String> {
        if self.finished || !self.flag.woken.swap(false, Ordering::Relaxed) {
            return Ok(false);
        }
        self.polls += 1;
        self.since_event += 1;
        if self.since_event > self.bound {
            return Err(format!("spin: {} polls without an external event (bound {})", self.since_event, self.bound));
        }
        let mut cx = Context::from_waker(&self.waker);
        if let Poll::Ready(out) = self.fut.as_mut().poll(&mut cx) {
            self.out = Some(out);
            self.finished = true;
        }
        Ok(true)
    }

    /// Polls while woken, until the future sleeps or finishes; `Err` on a spin.
    pub fn run_until_idle(&mut self) -> Result<(), String> {
        while self.poll_once()? {}
        Ok(())
    }

    /// Takes the output once finished.
    pub fn take(&mut self) -> Option<T> {
        self.out.take()
    }
}

/// A gate the test opens, any number of times; a waiter waits until it was opened `n` times.
/// Any number of waiters; opening it wakes them all: an external event.
#[derive(Debug, Default)]
pub struct Gate {
    opened: Cell<usize>,
    wakers: RefCell<Vec<Waker>>,
}

impl Gate {
    pub fn open(&self) {
        self.opened.set(self.opened.get() + 1);
        let wakers = core::mem::take(&mut *self.wakers.borrow_mut());
        wakers.into_iter().for_each(Waker::wake);
    }

    pub fn opened(&self) -> usize {
        self.opened.get()
    }

    /// Completes once the gate was opened at least `n` times.
    pub async fn wait_for(&self, n: usize) {
        std::future::poll_fn(|cx| {
            if self.opened.get() >= n {
                return Poll::Ready(());
            }
            let mut wakers = self.wakers.borrow_mut();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await;
    }
}

/// A waker of its own that forwards its wakes to the waker it was last polled with.
#[derive(Debug, Default)]
pub struct Forward {
    to: std::sync::Mutex<Option<Waker>>,
}

impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(waker) = self.to.lock().expect("not poisoned").as_ref() {
            waker.wake_by_ref();
        }
    }
}

/// Polls `fut` with a waker of its own, which forwards to the task's: what `fut` waits on
/// registers a waker distinct from its siblings'.
pub async fn with_own_waker<F: Future>(fut: F) -> F::Output {
    let forward = Arc::new(Forward::default());
    let waker = Waker::from(forward.clone());
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        let mut to = forward.to.lock().expect("not poisoned");
        if !to.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *to = Some(cx.waker().clone());
        }
        drop(to);
        fut.as_mut().poll(&mut Context::from_waker(&waker))
    })
    .await
}

/// One task of a [`Poller`].
struct Task<'f> {
    fut: Option<Pin<Box<dyn Future<Output = ()> + 'f>>>,
    flag: Arc<Flag>,
    waker: Waker,
}

/// A deterministic executor of several tasks that polls a task only after its waker was woken,
/// in rounds in spawn order, and fails when a run polls more than a budget (a spin).
#[derive(Default)]
pub struct Poller<'f> {
    tasks: Vec<Task<'f>>,
}

impl<'f> Poller<'f> {
    /// Adds a task, woken so that the next run polls it; returns its index.
    pub fn spawn(&mut self, fut: impl Future<Output = ()> + 'f) -> usize {
        let flag = Arc::new(Flag::default());
        flag.woken.store(true, Ordering::Relaxed);
        let waker = Waker::from(flag.clone());
        self.tasks.push(Task { fut: Some(Box::pin(fut)), flag, waker });
        self.tasks.len() - 1
    }

    /// Polls task `id` once if it is woken and not finished; returns whether it polled.
    pub fn poll_task(&mut self, id: usize) -> bool {
        let task = &mut self.tasks[id];
        let Some(fut) = task.fut.as_mut() else { return false };
        if !task.flag.woken.swap(false, Ordering::Relaxed) {
            return false;
        }
        let mut cx = Context::from_waker(&task.waker);
        if fut.as_mut().poll(&mut cx).is_ready() {
            task.fut = None;
        }
        true
    }

    /// Polls the woken tasks in rounds until none is woken; `Err` after `budget` polls.
    pub fn run(&mut self, budget: usize) -> Result<usize, String> {
        let mut polls = 0;
        loop {
            let mut any = false;
            for id in 0..self.tasks.len() {
                if self.poll_task(id) {
                    any = true;
                    polls += 1;
                    if polls > budget {
                        return Err(format!("spin: more than {budget} polls without an external event"));
                    }
                }
            }
            if !any {
                return Ok(polls);
            }
        }
    }

    /// Drops task `id`'s future where it is (a hard stop of that task).
    pub fn drop_task(&mut self, id: usize) {
        self.tasks[id].fut = None;
    }

    pub fn is_finished(&self, id: usize) -> bool {
        self.tasks[id].fut.is_none()
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }
}

/// A slot for a task's result, shared with the task.
pub type Out<T> = std::rc::Rc<RefCell<Option<T>>>;

pub fn out<T>() -> Out<T> {
    std::rc::Rc::new(RefCell::new(None))
}
