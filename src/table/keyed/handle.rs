//! [`KeyedSupervisor`]: the handle, and the methods any task calls.

use core::cell::RefCell;
use core::fmt;
use core::future::{Future, poll_fn};
use core::task::{Context, Poll};

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use super::book::{After, Ask, Book, Level, Phase, Store};
use super::{Counts, Entry, Error, State, Stopped};
use crate::ctx::Cause;
use crate::error::StopLevel;
use crate::waitqueue::{WAITER_SLOTS, WaitList};

/// The state of a keyed supervisor, whatever its store of slots: what the public types wrap.
pub(super) struct Core<K, V, E, ST, M: RawMutex = CriticalSectionRawMutex> {
    pub(super) book: Mutex<M, RefCell<Book<K, V, E, ST>>>,
    /// Who waits for a change of the book: the handles waiting in `start`, `stop`, `restart`
    /// (any number of tasks), and the driver (one future, polled by its owner). Behind a lock of
    /// the same `M` (taken after the book's, never inside it).
    waiters: Mutex<M, RefCell<Waiting>>,
}

/// The waiters of a keyed supervisor.
struct Waiting {
    handles: WaitList<WAITER_SLOTS>,
    /// The driver's task: its waker is registered once per poll of the drive (every arm of the
    /// drive is polled with it; the boxed workers of the `alloc` variant park a waker each in
    /// their store instead, [`Store::park`]).
    driver: WaitList<WAITER_SLOTS>,
    /// The drive is being polled: wakes wait until the poll ends ([`Batch`]), then happen once.
    batching: bool,
    /// Something changed while `batching`.
    pending: bool,
}

impl<K, V, E, ST, M: RawMutex> Core<K, V, E, ST, M> {
    pub(super) const fn with(slots: ST) -> Self {
        Self {
            book: Mutex::new(RefCell::new(Book::new(slots))),
            waiters: Mutex::new(RefCell::new(Waiting {
                handles: WaitList::new(),
                driver: WaitList::new(),
                batching: false,
                pending: false,
            })),
        }
    }

    /// Registers the driver task's waker. The spill table has room for it in practice: the
    /// driver registers one waker (its task's). Should it be full anyway, the drive polls again
    /// at once rather than sleep without a waker (a busy poll until the table has room, never a
    /// hang).
    pub(super) fn register_driver(&self, cx: &Context<'_>) {
        if self.waiters.lock(|w| w.borrow_mut().driver.register(cx.waker())).is_err() {
            cx.waker().wake_by_ref();
        }
    }

    /// Wakes the handles and the driver (after a change of the book); while the drive is
    /// polled, once at the end of that poll ([`batch`](Self::batch)).
    pub(super) fn wake_all(&self) {
        let taken = self.waiters.lock(|w| {
            let mut w = w.borrow_mut();
            if w.batching {
                w.pending = true;
                return None;
            }
            Some((w.handles.take(), w.driver.take()))
        });
        if let Some((handles, driver)) = taken {
            let _driver = crate::waitqueue::Finally::new(move || driver.wake());
            handles.wake();
        }
    }

    /// The scope of one poll of the drive: registers the driver task's waker, and holds back
    /// the wakes of the changes made meanwhile (by the drive's arms, or by handles on other
    /// threads) until it is dropped, then wakes once. A change of the book during the poll then
    /// costs no wake of its own (on tokio, each wake of a `block_on` task is a write to its
    /// driver's event fd); the task that made it is woken once, and polls the drive again.
    pub(super) fn batch(&self, cx: &Context<'_>) -> Batch<'_, K, V, E, ST, M> {
        self.register_driver(cx);
        self.waiters.lock(|w| w.borrow_mut().batching = true);
        Batch { core: self }
    }
}

/// See [`Core::batch`].
pub(super) struct Batch<'s, K, V, E, ST, M: RawMutex> {
    core: &'s Core<K, V, E, ST, M>,
}

impl<K, V, E, ST, M: RawMutex> Drop for Batch<'_, K, V, E, ST, M> {
    fn drop(&mut self) {
        let pending = self.core.waiters.lock(|w| {
            let mut w = w.borrow_mut();
            w.batching = false;
            core::mem::take(&mut w.pending)
        });
        if pending {
            self.core.wake_all();
        }
    }
}

impl<K, V, E, ST, M: RawMutex> Drop for Core<K, V, E, ST, M> {
    fn drop(&mut self) {
        self.waiters.lock(|w| {
            let mut w = w.borrow_mut();
            w.handles.forget_spilled();
            w.driver.forget_spilled();
        });
    }
}

impl<K, V, E, ST: Store<K, V, E>, M: RawMutex> fmt::Debug for Core<K, V, E, ST, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.book.lock(|b| {
            let b = b.borrow();
            let keys = b.slots.iter().filter(|s| s.phase != Phase::Free).count();
            f.debug_struct("KeyedSupervisor")
                .field("slots", &b.slots.len())
                .field("keys", &keys)
                .field("driving", &b.driving)
                .finish_non_exhaustive()
        })
    }
}

/// Keeps a slot from going to another key while a handle waits on it (invariant 4 of the book).
struct Hold<'s, K, V, E, ST: Store<K, V, E>, M: RawMutex> {
    sup: &'s Core<K, V, E, ST, M>,
    slot: usize,
}

impl<K, V, E, ST: Store<K, V, E>, M: RawMutex> Drop for Hold<'_, K, V, E, ST, M> {
    fn drop(&mut self) {
        self.sup.book.lock(|b| {
            let mut b = b.borrow_mut();
            let s = b.slots.at(self.slot);
            s.pins = s.pins.saturating_sub(1);
        });
    }
}

// === impl KeyedSupervisor: the state ===

impl<K, V, E, ST: Store<K, V, E>, M: RawMutex> Core<K, V, E, ST, M> {
    /// Runs `f` on the state, then wakes the handles, the driver and the workers of the
    /// slots `f` changed.
    pub(super) fn update<T>(&self, f: impl FnOnce(&mut Book<K, V, E, ST>) -> T) -> T {
        let (out, workers) = self.book.lock(|b| {
            let mut b = b.borrow_mut();
            let out = f(&mut b);
            (out, b.slots.changed())
        });
        self.wake_all();
        crate::waitqueue::wake_each(workers);
        out
    }

    pub(super) fn read<T>(&self, f: impl FnOnce(&Book<K, V, E, ST>) -> T) -> T {
        self.book.lock(|b| f(&b.borrow()))
    }

    /// `Ready` once `f` returns `Some`, for a handle; registers first so that no change is
    /// missed. A waiter that fits nowhere (without `alloc`) is answered [`Error::Overflow`].
    fn poll_handle<T>(
        &self,
        cx: &Context<'_>,
        f: impl FnOnce(&Book<K, V, E, ST>) -> Option<Result<T, Error<K, E>>>,
    ) -> Poll<Result<T, Error<K, E>>> {
        let registered = self.waiters.lock(|w| w.borrow_mut().handles.register(cx.waker()));
        match self.read(f) {
            Some(out) => Poll::Ready(out),
            None if registered.is_err() => Poll::Ready(Err(Error::Overflow)),
            None => Poll::Pending,
        }
    }

    /// `Ready` once `f` returns `Some`, for an arm of the drive polled with the drive's task
    /// waker, which the drive registered before this poll ([`batch`](Self::batch)); `f` may
    /// change the state (and then wakes everyone).
    pub(super) fn poll_driver<T>(
        &self,
        cx: &Context<'_>,
        f: impl FnOnce(&mut Book<K, V, E, ST>) -> Option<T>,
    ) -> Poll<T> {
        self.poll_arm(cx, None, f)
    }

    /// [`poll_driver`](Self::poll_driver) for slot `i`'s worker, which waits only on its slot
    /// (and the shutdown, which changes every slot): with a store that
    /// [`PARKS`](Store::PARKS), `cx`'s waker is kept in slot `i` and woken only when that slot
    /// changes.
    pub(super) fn poll_slot<T>(
        &self,
        cx: &Context<'_>,
        i: usize,
        f: impl FnOnce(&mut Book<K, V, E, ST>) -> Option<T>,
    ) -> Poll<T> {
        self.poll_arm(cx, Some(i), f)
    }

    fn poll_arm<T>(
        &self,
        cx: &Context<'_>,
        slot: Option<usize>,
        f: impl FnOnce(&mut Book<K, V, E, ST>) -> Option<T>,
    ) -> Poll<T> {
        let (out, workers) = self.book.lock(|b| {
            let mut b = b.borrow_mut();
            if ST::PARKS
                && let Some(i) = slot
            {
                b.slots.park(i, cx.waker());
            }
            let out = f(&mut b);
            let workers = out.is_some().then(|| b.slots.changed());
            (out, workers)
        });
        match out {
            Some(out) => {
                self.wake_all();
                crate::waitqueue::wake_each(workers.into_iter().flatten());
                Poll::Ready(out)
            }
            None => Poll::Pending,
        }
    }
}

// === impl KeyedSupervisor: the handle methods ===

impl<K, V, E, ST: Store<K, V, E>, M> Core<K, V, E, ST, M>
where
    K: Eq + Clone,
    E: Clone,
    M: RawMutex,
{
    /// Whether a driver runs this supervisor now.
    pub(super) fn is_driving(&self) -> bool {
        self.read(|b| b.driving)
    }

    /// Starts `key` and waits until its process is ready.
    ///
    /// Reserves a slot for the key at once; the driver then looks the key up in the table,
    /// builds its process from the value and runs it. Returns `Ok` once the process is ready
    /// (its `ready` callback runs).
    ///
    /// # Errors
    ///
    /// At once, without changing anything:
    /// - [`Error::NotRunning`] if no driver runs, or it is shutting down;
    /// - [`Error::Exists`] if the key has a slot (in any state);
    /// - [`Error::Full`] with the key if every slot is taken.
    ///
    /// Later, and then the key's slot is freed or left as the error says:
    /// - [`Error::NotInTable`], [`Error::Table`] if the lookup found nothing or failed (freed);
    /// - [`Error::Start`] if the process failed before it was ready, [`Error::ExitedBeforeReady`]
    ///   if it returned `Ok` without being ready (the restart policy then decides, as for any
    ///   end of the key's process);
    /// - [`Error::StoppedBeforeReady`] if a stop, restart, forget or the shutdown came first;
    /// - [`Error::DriverGone`] if the driver was dropped.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the start: the key keeps its slot and goes on
    /// starting. To bound the wait for a process that may never be ready, race this future
    /// with a deadline, then [`stop`](Self::stop) the key.
    pub(super) async fn start(&self, key: K) -> Result<(), Error<K, E>> {
        let (slot, ticket) = self.update(|b| {
            if !b.driving || b.shutting {
                return Err(Error::NotRunning);
            }
            let stamp = b.stamp;
            let i = b.reserve(key, None, stamp)?;
            let s = b.slots.at(i);
            s.pins += 1;
            Ok((i, s.ticket))
        })?;
        let _hold = Hold { sup: self, slot };
        poll_fn(|cx| self.poll_answer(cx, slot, ticket)).await
    }

    /// The answer to start request `ticket` of `slot`, once there is one.
    fn poll_answer(&self, cx: &Context<'_>, slot: usize, ticket: u32) -> Poll<Result<(), Error<K, E>>> {
        self.poll_handle(cx, |b| {
            let s = &b.slots[slot];
            if s.ticket != ticket {
                return Some(Err(Error::StoppedBeforeReady));
            }
            if let Some(answer) = &s.answer {
                return Some(answer.clone());
            }
            if b.gone {
                return Some(Err(Error::DriverGone));
            }
            (!b.driving).then_some(Err(Error::NotRunning))
        })
    }

    /// Asks the driver to bring `key` in line with the table, without waiting; returns whether
    /// this call changed anything.
    ///
    /// A key without a slot gets one (the driver looks it up and starts it, as
    /// [`start`](Self::start) does, reporting the outcome only as [`Event`](super::Event)s); a
    /// key with a slot is marked, and the driver looks it up again and converges it as a pass
    /// would (revives an exited key, replaces or prunes it when the setup says so). Requests
    /// coalesce: while a key's mark is pending, more requests return `Ok(false)`.
    ///
    /// # Errors
    ///
    /// - [`Error::NotRunning`] if no driver runs, or it is shutting down;
    /// - [`Error::Full`] with the key if it has no slot and none is free.
    pub(super) fn request(&self, key: K) -> Result<bool, Error<K, E>> {
        self.update(|b| {
            if !b.driving || b.shutting {
                return Err(Error::NotRunning);
            }
            if let Some(i) = b.find(&key) {
                let s = b.slots.at(i);
                // A reserved key is about to be looked up anyway.
                if s.dirty || s.phase == Phase::Reserved {
                    return Ok(false);
                }
                s.dirty = true;
                b.dirty = true;
                return Ok(true);
            }
            let stamp = b.stamp;
            b.reserve(key, None, stamp)?;
            Ok(true)
        })
    }

    /// Asks the driver for a reconcile pass now, without waiting; returns whether this call
    /// changed anything (`false` if one is already asked, or no driver runs). The next periodic
    /// pass is then measured from the start of this one.
    pub(super) fn reconcile_now(&self) -> bool {
        self.update(|b| {
            if !b.driving || b.shutting || b.now {
                return false;
            }
            b.now = true;
            true
        })
    }

    /// Stops `key`'s process and waits until it has returned, escalating graceful → forced →
    /// hard; the key then stays, [`Stopped`](State::Stopped), until [`restart`](Self::restart)
    /// or [`forget`](Self::forget) (a reconcile pass does not start it again).
    ///
    /// - A ready process is stopped gracefully (its `ready` callback returns). If it has not
    ///   returned when `graceful()` completes, its context is cancelled with
    ///   [`Cause::Deadline`] (forced); if it has not returned when `forced()` completes, the
    ///   driver drops its future (hard).
    /// - A process still starting is cancelled at once ([`Cause::Shutdown`]); `graceful` is
    ///   not used, and the hard level follows `forced()`.
    /// - A key with no process (reserved, backing off, exited, failed, stopped) becomes
    ///   `Stopped` at once: a pending restart is dropped, never undone later. This is not an
    ///   error, also when the process has just ended by itself.
    ///
    /// Returns how the stop ended ([`Stopped`]: the level the deadlines reached and what the
    /// process returned). The deadlines are closures, each called when its level begins;
    /// [`never`](crate::never) never passes.
    ///
    /// # Errors
    ///
    /// - [`Error::NotFound`] if the key has no slot;
    /// - [`Error::NotRunning`] if no driver runs;
    /// - [`Error::DriverGone`] if the driver was dropped while the stop waited.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the stop: it goes on at the level asked so far,
    /// without further escalation.
    pub(super) async fn stop<G, GF, H, HF>(&self, key: &K, graceful: G, forced: H) -> Result<Stopped<E>, Error<K, E>>
    where
        G: FnOnce() -> GF,
        GF: Future<Output = ()>,
        H: FnOnce() -> HF,
        HF: Future<Output = ()>,
    {
        self.stop_as(key, After::Stop, Cause::Shutdown, graceful, forced).await.map(|(stopped, _, _)| stopped)
    }

    async fn stop_as<G, GF, H, HF>(
        &self,
        key: &K,
        after: After,
        cause: Cause,
        graceful: G,
        forced: H,
    ) -> Result<(Stopped<E>, usize, u32), Error<K, E>>
    where
        G: FnOnce() -> GF,
        GF: Future<Output = ()>,
        H: FnOnce() -> HF,
        HF: Future<Output = ()>,
    {
        let (slot, ask, ticket) = self.update(|b| {
            if !b.driving {
                return Err(Error::NotRunning);
            }
            let i = b.find(key).ok_or(Error::NotFound)?;
            let s = b.slots.at(i);
            s.pins += 1;
            let ask = s.ask_stop(after, cause, false);
            Ok((i, ask, s.ticket))
        })?;
        let _hold = Hold { sup: self, slot };
        let Ask::Wait { run, running } = ask else {
            return Ok((Stopped { level: StopLevel::Graceful, result: Ok(()) }, slot, ticket));
        };
        let ended = |cx: &mut Context<'_>| {
            self.poll_handle(cx, |b| {
                let s = &b.slots[slot];
                if let Some(exit) = s.exit.as_ref().filter(|x| x.run == run) {
                    return Some(Ok(Stopped { level: exit.level, result: exit.result.clone() }));
                }
                // A later incarnation was launched, and stopped too, before this waiter looked:
                // its end is gone, but it has ended; never wait for it.
                if s.runs != run {
                    return Some(Ok(Stopped { level: StopLevel::Graceful, result: Ok(()) }));
                }
                b.gone.then_some(Err(Error::DriverGone))
            })
        };
        if running && let Either::Second(()) = select(poll_fn(ended), graceful()).await {
            self.update(|b| b.slots.at(slot).escalate(run, Level::Forced));
        }
        if let Either::Second(()) = select(poll_fn(ended), forced()).await {
            self.update(|b| b.slots.at(slot).escalate(run, Level::Hard));
        }
        Ok((poll_fn(ended).await?, slot, ticket))
    }

    /// Restarts `key` as one operation: its process is stopped as [`stop`](Self::stop) does
    /// (with [`Cause::Restart`] for the forced level), and once it has returned a new one is
    /// built from a fresh lookup of the table; waits until the new one is ready. A key with no
    /// process (exited, failed, stopped, backing off) is started again at once; this is how a
    /// stopped or quarantined key is revived.
    ///
    /// Returns how the old process stopped.
    ///
    /// # Errors
    ///
    /// The errors of [`stop`](Self::stop), then those of [`start`](Self::start) for the new
    /// process.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the restart.
    pub(super) async fn restart<G, GF, H, HF>(&self, key: &K, graceful: G, forced: H) -> Result<Stopped<E>, Error<K, E>>
    where
        G: FnOnce() -> GF,
        GF: Future<Output = ()>,
        H: FnOnce() -> HF,
        HF: Future<Output = ()>,
    {
        let (stopped, slot, ticket) = self.stop_as(key, After::Relaunch, Cause::Restart, graceful, forced).await?;
        let hold = self.update(|b| {
            let s = b.slots.at(slot);
            s.pins += 1;
            Hold { sup: self, slot }
        });
        poll_fn(|cx| self.poll_answer(cx, slot, ticket)).await?;
        drop(hold);
        Ok(stopped)
    }

    /// Frees `key`'s slot. Allowed while no process of the key exists: reserved (the start is
    /// cancelled), backing off (the restart is dropped), exited, stopped, failed.
    ///
    /// # Errors
    ///
    /// - [`Error::NotFound`] if the key has no slot;
    /// - [`Error::Busy`] with its state if a process of the key is starting, running or
    ///   stopping ([`stop`](Self::stop) it first).
    pub(super) fn forget(&self, key: &K) -> Result<(), Error<K, E>> {
        self.update(|b| {
            let i = b.find(key).ok_or(Error::NotFound)?;
            let s = b.slots.at(i);
            if s.phase.is_live() || s.removing {
                return Err(Error::Busy(s.phase.state().unwrap_or(State::Stopped)));
            }
            let removes = b.removes && b.driving;
            b.slots.at(i).leave(removes);
            Ok(())
        })
    }

    /// The state of `key`: [`Entry`] (state, incarnation, restarts, since when).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the key has no slot. A reserved or starting key is found (its
    /// state says so).
    pub(super) fn get(&self, key: &K) -> Result<Entry, Error<K, E>> {
        self.read(|b| b.find(key).and_then(|i| b.slots[i].entry())).ok_or(Error::NotFound)
    }

    /// Calls `f` with every key and its [`Entry`], in slot order, under the lock (so `f` must
    /// not call the supervisor).
    pub(super) fn for_each(&self, mut f: impl FnMut(&K, &Entry)) {
        self.read(|b| {
            for s in b.slots.iter() {
                if let (Some(key), Some(entry)) = (&s.key, s.entry()) {
                    f(key, &entry);
                }
            }
        });
    }

    /// How many keys are in each state, counted in one critical section.
    pub(super) fn counts(&self) -> Counts {
        self.read(|b| {
            let mut c = Counts { free: b.slots.spare(), ..Counts::default() };
            for s in b.slots.iter() {
                match s.phase.state() {
                    None => c.free += 1,
                    Some(state) => {
                        c.keys += 1;
                        *match state {
                            State::Reserved => &mut c.reserved,
                            State::Starting => &mut c.starting,
                            State::Running => &mut c.running,
                            State::Stopping => &mut c.stopping,
                            State::BackingOff => &mut c.backing_off,
                            State::Exited => &mut c.exited,
                            State::Stopped => &mut c.stopped,
                            State::Failed => &mut c.failed,
                        } += 1;
                    }
                }
            }
            c
        })
    }
}
