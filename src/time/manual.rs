//! The manual clock for tests.

use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;

use super::{Clock, Instant};
use crate::waitqueue::{WAITER_SLOTS, WaitList, Woken};

/// A clock that moves only when told: the test clock.
///
/// Time starts at [`Instant::ZERO`] and changes with [`advance`](Self::advance),
/// [`set`](Self::set) (also backwards) and [`next`](Self::next) (jump to the earliest pending
/// sleep). Every change of time wakes every sleeper that is due, in deadline order, ties in the
/// order in which they started waiting; `advance(Duration::ZERO)` wakes what is due without
/// moving time.
///
/// A sleep until [`Instant::MAX`] never completes, not even when the time is set there.
///
/// A test waits for the code under test to start sleeping with [`observe`](Self::observe)
/// (completes at the next new sleeper) or [`wait_sleeping`](Self::wait_sleeping), then moves
/// time; with several sleepers, [`auto_advance`](Self::auto_advance) moves time to each
/// deadline in turn once the code under test is idle. Nothing sleeps on real time.
///
/// `N` is the number of sleepers tracked in deadline order (16 by default). Sleepers beyond `N`
/// are not lost: they are all woken when the time reaches the earliest of their deadlines and
/// check their own, and [`next`](Self::next) sees their earliest deadline. Only their wake
/// order among themselves is not kept, and once they were woken, `next` and
/// [`sleeping`](Self::sleeping) see the ones still waiting again when they have been polled.
/// The tasks sleeping beyond `N` and those in [`observe`](Self::observe) and
/// [`wait_sleeping`](Self::wait_sleeping) have
/// [`WAITER_SLOTS`](crate::ctx::WAITER_SLOTS) slots each, then the program-wide spill table;
/// without `alloc`, a wait that fits nowhere completes at once (the test then sees a sleep end
/// early, or a wait for sleepers return before they sleep) rather than hang.
///
/// The time, the sleepers and every waker sit under one critical-section mutex, so the clock
/// can be a `static` and be moved from another task or thread.
///
/// # Examples
///
/// One sleeper, time moved by hand:
///
/// ```
/// use core::time::Duration;
/// use procession::time::{Clock, Instant, ManualClock};
///
/// let clock = ManualClock::new();
/// let task = async {
///     clock.sleep(Duration::from_secs(3)).await;
///     clock.now()
/// };
/// let test = async {
///     clock.wait_sleeping(1).await; // the task is sleeping now
///     assert_eq!(clock.next(), Some(Instant::from_elapsed(Duration::from_secs(3))));
/// };
/// let (woke_at, ()) = embassy_futures::block_on(embassy_futures::join::join(task, test));
/// assert_eq!(woke_at.elapsed(), Duration::from_secs(3));
/// ```
pub struct ManualClock<const N: usize = 16> {
    inner: Mutex<CriticalSectionRawMutex, RefCell<Inner<N>>>,
}

struct Slot {
    deadline: Instant,
    seq: u64,
    waker: Waker,
}

struct Inner<const N: usize> {
    now: Instant,
    next_seq: u64,
    registrations: u64,
    table: heapless::Vec<Slot, N>,
    /// Earliest deadline and number of the sleepers waiting in `overflow`, counted once each
    /// since they were last woken (a lower bound once one of them was dropped).
    overflow_min: Option<Instant>,
    overflow_len: usize,
    /// Goes up each time the sleepers in `overflow` are woken; a sleeper is counted in
    /// `overflow_len` for the epoch it remembers.
    overflow_epoch: u64,
    /// Goes up at every change a sleeper or the time makes: a sleeper starts or resumes
    /// waiting, completes or is dropped, or the time is set. [`AutoAdvance`] watches it.
    activity: u64,
    /// Sleepers that did not fit into the table: woken together when the time reaches the
    /// earliest of their deadlines.
    overflow: WaitList<WAITER_SLOTS>,
    /// Tasks waiting in `observe` or `wait_sleeping`: woken when a sleeper registers.
    observers: WaitList<WAITER_SLOTS>,
}

impl<const N: usize> Default for ManualClock<N> {
    /// The same as [`ManualClock::with_capacity`].
    fn default() -> Self {
        Self::with_capacity()
    }
}

impl<const N: usize> fmt::Debug for ManualClock<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock").field("now", &self.now()).field("sleeping", &self.sleeping()).finish()
    }
}

impl ManualClock {
    /// A clock at [`Instant::ZERO`] with nobody sleeping, tracking 16 sleepers in deadline
    /// order. For another number, write `ManualClock::<N>::with_capacity()`.
    ///
    /// ```
    /// use procession::time::ManualClock;
    ///
    /// let clock = ManualClock::new();
    /// # let _ = clock;
    /// ```
    pub const fn new() -> Self {
        Self::with_capacity()
    }
}

impl<const N: usize> ManualClock<N> {
    /// A clock at [`Instant::ZERO`] with nobody sleeping, tracking `N` sleepers in deadline
    /// order (see the [type docs](ManualClock) for those beyond `N`).
    ///
    /// ```
    /// use procession::time::ManualClock;
    ///
    /// let clock = ManualClock::<4>::with_capacity();
    /// # let _ = clock;
    /// ```
    pub const fn with_capacity() -> Self {
        Self {
            inner: Mutex::new(RefCell::new(Inner {
                now: Instant::ZERO,
                next_seq: 0,
                registrations: 0,
                table: heapless::Vec::new(),
                overflow_min: None,
                overflow_len: 0,
                overflow_epoch: 0,
                activity: 0,
                overflow: WaitList::new(),
                observers: WaitList::new(),
            })),
        }
    }

    /// The current time (also [`Clock::now`]).
    pub fn now(&self) -> Instant {
        self.inner.lock(|i| i.borrow().now)
    }

    /// Moves time forward by `duration` (saturating at [`Instant::MAX`]) and wakes the sleepers
    /// that are due. Returns the new time. Sleeps until [`Instant::MAX`] stay pending even
    /// there: they never end.
    pub fn advance(&self, duration: Duration) -> Instant {
        let now = self.inner.lock(|i| i.borrow().now).saturating_add(duration);
        self.set(now)
    }

    /// Sets the time, forward or backward, and wakes the sleepers that are due. Returns `now`.
    pub fn set(&self, now: Instant) -> Instant {
        // Take the due sleepers out under the lock, wake them outside it, in order.
        let mut due: heapless::Vec<Slot, N> = heapless::Vec::new();
        let mut overflow = Woken::NONE;
        self.inner.lock(|i| {
            let mut i = i.borrow_mut();
            i.now = now;
            i.activity += 1;
            // The sleepers beyond the table are woken only when one of them may be due; they
            // register again (deadline and count) when they are polled.
            if i.overflow_min.is_some_and(|earliest| is_due(earliest, now)) {
                i.overflow_min = None;
                i.overflow_len = 0;
                i.overflow_epoch += 1;
                overflow = i.overflow.take();
            }
            let mut k = 0;
            while k < i.table.len() {
                if is_due(i.table[k].deadline, now) {
                    let slot = i.table.swap_remove(k);
                    // Cannot fail: `due` has the table's capacity and only takes what leaves it.
                    let _ = due.push(slot);
                } else {
                    k += 1;
                }
            }
        });
        due.sort_unstable_by_key(|s| (s.deadline, s.seq));
        for slot in due {
            slot.waker.wake();
        }
        overflow.wake();
        now
    }

    /// Jumps to the earliest deadline of a pending sleeper (not moving time if one is already
    /// due) and wakes the sleepers due then. Returns the new time, or `None` if nobody sleeps
    /// until a time that can come (sleeps until [`Instant::MAX`] never end, so `next` does not
    /// jump to them).
    pub fn next(&self) -> Option<Instant> {
        let (now, earliest) = self.inner.lock(|i| {
            let i = i.borrow();
            let table = i.table.iter().map(|s| s.deadline).filter(|&d| d != Instant::MAX).min();
            let overflow = i.overflow_min.filter(|&d| d != Instant::MAX);
            let earliest = match (table, overflow) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            (i.now, earliest)
        });
        Some(self.set(now.max(earliest?)))
    }

    /// How many sleeps have started waiting on this clock since it was made.
    pub fn registrations(&self) -> u64 {
        self.inner.lock(|i| i.borrow().registrations)
    }

    /// How many sleeps are waiting now. Sleepers beyond the `N` tracked ones that were woken
    /// count again once they have been polled.
    pub fn sleeping(&self) -> usize {
        self.inner.lock(|i| {
            let i = i.borrow();
            i.table.len() + i.overflow_len
        })
    }

    /// A future that completes when the next sleep starts waiting on this clock (counted from
    /// this call, not from the first poll).
    ///
    /// Call it *before* the code under test can start sleeping, or that sleep is not the
    /// "next" one; [`wait_sleeping`](Self::wait_sleeping) has no such race.
    ///
    /// A sleep whose deadline has passed at its first poll completes at once and does not count.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does nothing.
    pub fn observe(&self) -> Observe<'_, N> {
        Observe { clock: self, seen: self.registrations() }
    }

    /// Completes once at least `n` sleeps are waiting on this clock.
    ///
    /// With one sleeper, `wait_sleeping(1)` then [`next`](Self::next) moves time exactly to
    /// its deadline. With several it races: time moves as soon as the first sleeps, maybe past
    /// a deadline another one was about to ask for; use [`auto_advance`](Self::auto_advance).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe.
    pub async fn wait_sleeping(&self, n: usize) {
        core::future::poll_fn(|cx| self.poll_observe(cx, |i| i.table.len() + i.overflow_len >= n)).await;
    }

    /// `Ready` once `f` holds; otherwise registers `cx`'s waker among the observers, under the
    /// same lock as the check. `Ready` at once if the waker can be kept nowhere.
    fn poll_observe(&self, cx: &Context<'_>, f: impl FnOnce(&Inner<N>) -> bool) -> Poll<()> {
        self.inner.lock(|i| {
            let mut i = i.borrow_mut();
            if f(&i) || i.observers.register(cx.waker()).is_err() { Poll::Ready(()) } else { Poll::Pending }
        })
    }

    fn poll_sleep(
        &self,
        deadline: Instant,
        seq: &mut Option<u64>,
        counted: &mut Option<u64>,
        cx: &Context<'_>,
    ) -> Poll<()> {
        // `sleeping` grew: a sleeper entered the table (new, or again after time was set back
        // before it ran), or one beyond the table counted itself again; the observers are
        // taken out under the same lock.
        let (poll, observers) = self.inner.lock(|i| {
            let mut i = i.borrow_mut();
            if is_due(deadline, i.now) {
                i.leave(seq.take(), counted.take());
                return (Poll::Ready(()), Woken::NONE);
            }
            let s = match *seq {
                Some(s) => s,
                None => {
                    let s = i.next_seq;
                    i.next_seq += 1;
                    i.registrations += 1;
                    *seq = Some(s);
                    s
                }
            };
            if let Some(slot) = i.table.iter_mut().find(|slot| slot.seq == s) {
                if !slot.waker.will_wake(cx.waker()) {
                    slot.waker = cx.waker().clone();
                }
                return (Poll::Pending, Woken::NONE);
            }
            if i.table.push(Slot { deadline, seq: s, waker: cx.waker().clone() }).is_ok() {
                i.activity += 1;
                return (Poll::Pending, i.observers.take());
            }
            // Beyond the table: woken with the others beyond it when the earliest of their
            // deadlines is due. A sleeper that fits nowhere (without `alloc`) ends at once.
            if i.overflow.register(cx.waker()).is_err() {
                i.leave(seq.take(), counted.take());
                return (Poll::Ready(()), Woken::NONE);
            }
            if *counted == Some(i.overflow_epoch) {
                return (Poll::Pending, Woken::NONE);
            }
            i.overflow_min = Some(i.overflow_min.map_or(deadline, |m| m.min(deadline)));
            i.overflow_len += 1;
            *counted = Some(i.overflow_epoch);
            i.activity += 1;
            (Poll::Pending, i.observers.take())
        });
        observers.wake();
        poll
    }

    /// A future that moves time to the next deadline each time the code under test is idle,
    /// as tokio's paused clock does; it completes once the code is idle and nobody sleeps
    /// until a time that can come. Join it beside the code under test on one executor, or
    /// let it drive a future with [`AutoAdvance::until`].
    ///
    /// # What "idle" means
    ///
    /// The clock cannot see the executor, so it watches itself: every change a sleeper makes
    /// (a sleep starts or resumes waiting, completes or is dropped) and every change of time
    /// is *activity*. The driver wakes itself and yields; when it is polled [`settle`]
    /// times in a row (16 by default) without any activity in between, the code is idle:
    /// it calls [`next`](Self::next), which wakes the sleepers due at the earliest
    /// deadline. A sleeper that was woken runs, sleeps again (activity), and the count
    /// starts over.
    ///
    /// This is exact for a single-threaded executor that runs every woken future before it
    /// polls a future again that woke itself: `embassy_futures::block_on` and
    /// `futures::executor::block_on` over a `join` (each poll of a `join` polls every
    /// part), and `futures::executor::LocalPool` (its queue is first in, first out), as
    /// long as every task reaches a sleep or its end within `settle` polls of the driver.
    /// Each hand-off between tasks that does not touch the clock (a channel, a signal)
    /// takes up to one such poll.
    ///
    /// # Limits
    ///
    /// - A task that works through more than `settle` hand-offs without touching the clock
    ///   looks idle: raise [`settle`].
    /// - Work on another thread or real I/O is not seen at all: the driver may advance while
    ///   it is under way. Use it for code that only waits on this clock and on other tasks
    ///   of the same executor.
    /// - While it drives, the driver wakes itself at every poll (it spins the executor,
    ///   which is what a test wants, never what firmware wants). Once nobody sleeps it
    ///   completes, and [`until`](AutoAdvance::until) waits without waking itself until
    ///   the code is woken by something else.
    /// - Joined beside code that sleeps for ever in a loop (a ticker), it never completes:
    ///   use [`until`](AutoAdvance::until), which ends with the code under test.
    ///
    /// # Examples
    ///
    /// Three sleepers with different deadlines, no `wait_sleeping` and no `next` by hand:
    ///
    /// ```
    /// use core::cell::RefCell;
    /// use core::time::Duration;
    /// use embassy_futures::join::join3;
    /// use procession::time::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let woke = RefCell::new(Vec::new());
    /// let sleeper = |name: &'static str, secs: u64| {
    ///     let (clock, woke) = (&clock, &woke);
    ///     async move {
    ///         clock.sleep(Duration::from_secs(secs)).await;
    ///         woke.borrow_mut().push((name, clock.now().elapsed().as_secs()));
    ///     }
    /// };
    /// let test = join3(sleeper("c", 3), sleeper("a", 1), sleeper("b", 2));
    /// embassy_futures::block_on(clock.auto_advance().until(test));
    /// assert_eq!(*woke.borrow(), [("a", 1), ("b", 2), ("c", 3)]);
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does nothing: time stays where it is.
    ///
    /// [`settle`]: AutoAdvance::settle
    pub fn auto_advance(&self) -> AutoAdvance<'_, N> {
        AutoAdvance { clock: self, settle: 16, seen: None, quiet: 0 }
    }

    fn activity(&self) -> u64 {
        self.inner.lock(|i| i.borrow().activity)
    }

    fn forget(&self, seq: Option<u64>, counted: Option<u64>) {
        self.inner.lock(|i| i.borrow_mut().leave(seq, counted));
    }
}

/// Whether a sleep until `deadline` is due at `now`. A sleep until [`Instant::MAX`] never is.
fn is_due(deadline: Instant, now: Instant) -> bool {
    deadline != Instant::MAX && deadline <= now
}

impl<const N: usize> Inner<N> {
    /// Removes a sleeper that completed or was dropped: its table slot, or its count among
    /// the sleepers beyond the table.
    fn leave(&mut self, seq: Option<u64>, counted: Option<u64>) {
        self.activity += 1;
        if let Some(s) = seq {
            self.table.retain(|slot| slot.seq != s);
        }
        if counted.is_some_and(|epoch| epoch == self.overflow_epoch) {
            self.overflow_len -= 1;
        }
    }
}

impl<const N: usize> Drop for ManualClock<N> {
    fn drop(&mut self) {
        // Nothing can wait on a clock that is going away (waiters borrow it).
        let inner = self.inner.get_mut().get_mut();
        inner.observers.forget_spilled();
        inner.overflow.forget_spilled();
    }
}

impl<const N: usize> Clock for ManualClock<N> {
    type Sleep<'a> = Sleep<'a, N>;

    fn now(&self) -> Instant {
        Self::now(self)
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep<'_, N> {
        Sleep { clock: self, deadline, seq: None, counted: None }
    }
}

/// The sleep future of a [`ManualClock`]. Registers at its first poll; dropping it
/// deregisters it.
#[must_use = "futures do nothing unless polled"]
pub struct Sleep<'a, const N: usize> {
    clock: &'a ManualClock<N>,
    deadline: Instant,
    seq: Option<u64>,
    /// The overflow epoch in which this sleeper is counted, if it waits beyond the table.
    counted: Option<u64>,
}

impl<const N: usize> Sleep<'_, N> {
    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl<const N: usize> fmt::Debug for Sleep<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish_non_exhaustive()
    }
}

impl<const N: usize> Future for Sleep<'_, N> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.clock.poll_sleep(this.deadline, &mut this.seq, &mut this.counted, cx)
    }
}

impl<const N: usize> Drop for Sleep<'_, N> {
    fn drop(&mut self) {
        if self.seq.is_some() || self.counted.is_some() {
            self.clock.forget(self.seq, self.counted);
        }
    }
}

/// The future of [`ManualClock::observe`].
#[must_use = "futures do nothing unless polled"]
pub struct Observe<'a, const N: usize> {
    clock: &'a ManualClock<N>,
    seen: u64,
}

impl<const N: usize> fmt::Debug for Observe<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observe").field("seen", &self.seen).finish_non_exhaustive()
    }
}

impl<const N: usize> Future for Observe<'_, N> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let seen = self.seen;
        self.clock.poll_observe(cx, |i| i.registrations > seen)
    }
}

/// The future of [`ManualClock::auto_advance`]: moves time to the next deadline whenever the
/// code under test is idle, and completes once it is idle with nobody sleeping until a time
/// that can come. See [`ManualClock::auto_advance`] for what "idle" means.
#[must_use = "futures do nothing unless polled"]
pub struct AutoAdvance<'a, const N: usize> {
    clock: &'a ManualClock<N>,
    settle: u32,
    /// The clock's activity count at the last poll.
    seen: Option<u64>,
    /// Polls in a row that saw no activity.
    quiet: u32,
}

impl<'a, const N: usize> AutoAdvance<'a, N> {
    /// How many polls in a row without activity make the code under test idle (16 by
    /// default). `0` advances at every poll, which is right only when every task sleeps
    /// again at once after it woke.
    pub fn settle(mut self, polls: u32) -> Self {
        self.settle = polls;
        self
    }

    /// Polls `fut` and drives time while it is idle, until `fut` completes; returns its
    /// output. When nobody sleeps, it stops driving and waits until `fut` is woken by
    /// something else, then drives again.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops `fut`; time stays where it is.
    pub async fn until<F: Future>(mut self, fut: F) -> F::Output {
        let mut fut = core::pin::pin!(fut);
        core::future::poll_fn(move |cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            if self.step(cx).is_ready() {
                // Nothing to advance to: wait for `fut`'s own wake-up, then start counting
                // again.
                self.seen = None;
                self.quiet = 0;
            }
            Poll::Pending
        })
        .await
    }

    /// One poll of the driver: `Ready` once idle with nothing left to advance to; otherwise
    /// `Pending` with the task woken again.
    fn step(&mut self, cx: &Context<'_>) -> Poll<()> {
        let activity = self.clock.activity();
        if self.seen == Some(activity) {
            self.quiet = self.quiet.saturating_add(1);
        } else {
            self.seen = Some(activity);
            self.quiet = 0;
        }
        if self.quiet >= self.settle {
            if self.clock.next().is_none() {
                return Poll::Ready(());
            }
            self.seen = Some(self.clock.activity());
            self.quiet = 0;
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<const N: usize> fmt::Debug for AutoAdvance<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoAdvance").field("settle", &self.settle).field("quiet", &self.quiet).finish_non_exhaustive()
    }
}

impl<const N: usize> Future for AutoAdvance<'_, N> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().step(cx)
    }
}
