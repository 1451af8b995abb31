//! The part of a supervisor that other tasks use: [`Control`] and its [`State`], over a small
//! state machine.
//!
//! # The state machine
//!
//! A [`Control`] holds one `Phase` behind its raw mutex, plus the incarnation counter and
//! whether an incarnation of the active run has been ready. The run's engine and the
//! [`Control`] methods move it along these edges, each under one lock of `M`:
//!
//! | edge | from | to |
//! |---|---|---|
//! | `begin` | `Initial`, `Stopped` | `Launched` |
//! | `before_attempt` (`true`) | `Launched`, `BackingOff` | `Starting`, counting an incarnation |
//! | `on_ready` | `Starting`; `Stopping { ready: false }` | `Running`; `Stopping { ready: true }` |
//! | `after_attempt` | `Starting`, `Running`; `Stopping { .. }` | `BackingOff`; `Interrupted { cancel: false }`, and the engine cancels the process's context |
//! | `request_stop` (`true`) | `Launched`, `BackingOff`; `Starting`; `Running` | `Interrupted { cancel: true }`; `Stopping { ready: false }`; `Stopping { ready: true }` |
//! | `poll_take_cancel` (`true`) | `Interrupted { cancel: true }` | `Interrupted { cancel: false }`, and the engine cancels the process's context |
//! | `finish` | any phase of an active run | `Finished` |
//!
//! Beside the phase, `cancel` goes `No → Asked` ([`Control::cancel`]) `→ Done`
//! (`poll_take_forced`), and back to `No` at `begin`.
//! | `end` | any phase of an active run | `Stopped` |
//!
//! Every other call leaves the phase as it is (and `before_attempt`, `request_stop` and
//! `poll_take_cancel` then return `false`).
//!
//! # Invariants
//!
//! 1. A run is active exactly when the phase is neither `Initial` nor `Stopped`; `begin`
//!    succeeds only from those two, so at most one run is active at a time.
//! 2. `Initial` is left once and never re-entered: it means no run has ever begun.
//! 3. An incarnation runs (its runner's future exists) exactly in `Starting`, `Running` and
//!    `Stopping`; the incarnation counter is incremented on each entry into `Starting`, and
//!    only there.
//! 4. Once a stop was requested (`Stopping` or `Interrupted`), no new incarnation starts in this
//!    run: `before_attempt` returns `false` from `Interrupted`, and `Stopping` only leaves for
//!    `Interrupted`. The request is therefore sticky until the run ends.
//! 5. `Interrupted { cancel: true }` exists only while no incarnation runs; it tells the engine
//!    to cancel the process's context (ending a backoff sleep), which it does once
//!    (`poll_take_cancel`). After an interrupted incarnation ends, the engine cancels the context
//!    itself (`after_attempt` returns `true`).
//! 6. `Finished` is entered once per run, when its executor returns, and left only by `end`.
//! 7. `ever_ready` is `false` when a run begins and becomes `true` at the first `Starting →
//!    Running` of that run; it opens the gate of a callback that waits for readiness. An
//!    incarnation that becomes ready after a stop request does not set it.
//! 8. `cancel` is `false` when a run begins; [`Control::cancel`] sets it during an active run
//!    whose executor has not returned, once; the engine then cancels the callback's context
//!    (a forced stop, which reaches the process once the callback no longer runs) and clears
//!    it (`poll_take_forced`).
//! 9. Every change that a waiter may observe takes the waiters' wakers out under the same lock
//!    as the change, and wakes them after it. Each wait checks its condition and registers its
//!    waker under one lock, so no change falls between the two.

use core::cell::RefCell;
use core::fmt;
use core::task::{Context, Poll};

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};

use crate::waitqueue::{Slot, WAITER_SLOTS, WaitList};

/// Where a supervised process is, as seen from any task ([`Control::state`]).
///
/// The variant names are those of the crate's other handles for the same meaning
/// ([`process::State`](crate::process::State)), plus `BackingOff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// The supervisor has never run.
    #[default]
    Initial,
    /// A run has begun and its incarnation is being built or started, not ready yet (also
    /// before the executor's first attempt).
    Starting,
    /// An incarnation is ready and runs (inside its ready callback, hooks included).
    Running,
    /// An incarnation ended and the executor has not started the next one (its backoff).
    BackingOff,
    /// No incarnation runs and none will in this run: the run has ended, its executor has
    /// returned, or a stop was requested while no incarnation ran.
    Stopped,
}

impl fmt::Display for State {
    /// Lower case, as the other states of the crate: "initial", "starting", "running",
    /// "backing off", "stopped".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Initial => "initial",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::BackingOff => "backing off",
            Self::Stopped => "stopped",
        })
    }
}

/// The phase of the state machine; see the module docs for its edges and invariants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No run has ever begun.
    Initial,
    /// No run is active; at least one has run.
    Stopped,
    /// A run is active; its executor has not made an attempt yet.
    Launched,
    /// An incarnation is being built or started.
    Starting,
    /// An incarnation is ready.
    Running,
    /// Between two attempts.
    BackingOff,
    /// A stop was requested while an incarnation ran (`ready`: whether it is ready); it is
    /// asked to stop gracefully.
    Stopping { ready: bool },
    /// A stop was requested and no incarnation runs; `cancel`: the engine has yet to cancel the
    /// process's context.
    Interrupted { cancel: bool },
    /// The executor of the active run has returned.
    Finished,
}

/// Where a [`Control::cancel`] of the active run is (invariant 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    /// Not asked in this run.
    No,
    /// Asked; the engine has yet to cancel the callback's context.
    Asked,
    /// Asked, and the engine has cancelled the callback's context.
    Done,
}

struct Shared {
    phase: Phase,
    /// An incarnation of the active run has been ready (invariant 7).
    ever_ready: bool,
    /// [`Control::cancel`] was called in this run and the engine has yet to see it (invariant 8).
    cancel: Cancel,
    incarnation: u32,
    /// Tasks waiting in [`Control::ready`].
    observers: WaitList<WAITER_SLOTS>,
    /// The engine's watch of the cancel requests (`poll_take_cancel`, `poll_take_forced`).
    watch: Slot,
    /// The ready callback of the incarnation, waiting for a stop request.
    callback: Slot,
    /// The run's callback, waiting for the first readiness.
    gate: Slot,
}

/// What a change takes out under the lock, to be woken after it.
struct Wake {
    observers: crate::waitqueue::Woken<WAITER_SLOTS>,
    slots: [Option<core::task::Waker>; 3],
}

impl Wake {
    fn wake(self) {
        self.observers.wake();
        self.slots.into_iter().flatten().for_each(core::task::Waker::wake);
    }
}

/// The part of a [`Supervisor`](super::Supervisor) that other tasks and the hooks use: ask for
/// a stop, read the state and the incarnation count, wait for readiness. Every method is
/// non-blocking (a short lock of `M`), and callable from any task, a hook, or the
/// executor.
///
/// | operation | method |
/// |---|---|
/// | ask the active run to stop, without waiting | [`request_stop`](Self::request_stop) `-> bool` |
/// | ask the active run for a forced stop, without waiting | [`cancel`](Self::cancel) `-> bool` |
/// | read the state | [`state`](Self::state) `->` [`State`] |
/// | whether a run is active | [`is_active`](Self::is_active) |
/// | how many incarnations have started | [`incarnation`](Self::incarnation) |
/// | wait until an incarnation is ready | [`ready`](Self::ready), [`poll_ready`](Self::poll_ready) |
///
/// The control has no end of its own (a supervisor can run again): the end of a run is the
/// end of its future, [`Supervisor::run`](crate::Runner::run).
///
/// The state and the wakers of the tasks waiting on it sit under one lock of `M`: with
/// `NoopRawMutex` it takes no critical section while the waiters fit. The run's own waits have a
/// slot each; the tasks in [`Control::ready`] have
/// [`WAITER_SLOTS`](crate::ctx::WAITER_SLOTS) slots, and more of them go to the program-wide
/// spill table ([`SPILL_SLOTS`](crate::ctx::SPILL_SLOTS) entries without `alloc`); nobody is
/// woken early because another one arrived.
///
/// Dropping a control (with its supervisor) does nothing else: a run borrows its supervisor,
/// so none can be active then.
pub struct Control<M: RawMutex = CriticalSectionRawMutex> {
    shared: Mutex<M, RefCell<Shared>>,
}

impl<M: RawMutex> fmt::Debug for Control<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.lock(|s| {
            let s = s.borrow();
            f.debug_struct("Control")
                .field("phase", &s.phase)
                .field("incarnation", &s.incarnation)
                .finish_non_exhaustive()
        })
    }
}

impl<M: RawMutex> Default for Control<M> {
    fn default() -> Self {
        Self::new()
    }
}

// === impl Control ===

impl<M: RawMutex> Control<M> {
    pub(super) const fn new() -> Self {
        Self {
            shared: Mutex::new(RefCell::new(Shared {
                phase: Phase::Initial,
                ever_ready: false,
                cancel: Cancel::No,
                incarnation: 0,
                observers: WaitList::new(),
                watch: Slot::new(),
                callback: Slot::new(),
                gate: Slot::new(),
            })),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> T {
        self.shared.lock(|s| f(&mut s.borrow_mut()))
    }

    /// Applies `f`; if it returns `true`, takes every waiter's waker out under the same lock
    /// and wakes them after it (invariant 9).
    fn change(&self, f: impl FnOnce(&mut Shared) -> bool) -> bool {
        let wake = self.with(|s| {
            f(s).then(|| Wake {
                observers: s.observers.take(),
                slots: [s.watch.take(), s.callback.take(), s.gate.take()],
            })
        });
        wake.map(Wake::wake).is_some()
    }

    /// Asks the active run to stop, without waiting; returns whether this call did (`false`
    /// when no run is active, when a stop was already requested, or when the run's executor
    /// has already returned).
    ///
    /// - While an incarnation is starting or running, the stop is graceful: its ready callback
    ///   returns (at once if it is running, as soon as it is ready if it is starting), its
    ///   `post` hook runs, and no further incarnation starts.
    /// - While none runs (before the first attempt, or backing off), the process's context is
    ///   cancelled with [`Cause::Shutdown`](crate::Cause::Shutdown), which ends the backoff.
    ///
    /// The run then returns once everything has stopped. A request before a run does not
    /// affect it. The run's own callback returning makes the same request.
    pub fn request_stop(&self) -> bool {
        self.change(|s| {
            s.phase = match s.phase {
                Phase::Launched | Phase::BackingOff => Phase::Interrupted { cancel: true },
                Phase::Starting => Phase::Stopping { ready: false },
                Phase::Running => Phase::Stopping { ready: true },
                Phase::Initial
                | Phase::Stopped
                | Phase::Stopping { .. }
                | Phase::Interrupted { .. }
                | Phase::Finished => return false,
            };
            true
        })
    }

    /// Asks the active run for a forced stop, without waiting; returns whether this call did
    /// (`false` when no run is active, when its executor has already returned, or when it was
    /// already asked).
    ///
    /// The same as cancelling the context given to the run, with
    /// [`Cause::Shutdown`](crate::Cause::Shutdown), from any task: the callback's context is
    /// cancelled at once, the process's once the callback no longer runs (bounded by the
    /// [callback deadline](super::Supervisor::callback_deadline)), and no incarnation starts
    /// after that. The run then returns once everything has stopped.
    pub fn cancel(&self) -> bool {
        self.change(|s| {
            let active = !matches!(s.phase, Phase::Initial | Phase::Stopped | Phase::Finished);
            if !active || s.cancel != Cancel::No {
                return false;
            }
            s.cancel = Cancel::Asked;
            true
        })
    }

    /// The state of the supervised process.
    pub fn state(&self) -> State {
        self.with(|s| Self::state_of(s.phase))
    }

    const fn state_of(phase: Phase) -> State {
        match phase {
            Phase::Initial => State::Initial,
            Phase::Launched | Phase::Starting | Phase::Stopping { ready: false } => State::Starting,
            Phase::Running | Phase::Stopping { ready: true } => State::Running,
            Phase::BackingOff => State::BackingOff,
            Phase::Stopped | Phase::Interrupted { .. } | Phase::Finished => State::Stopped,
        }
    }

    /// How many incarnations have been started since this supervisor was made (wrapping).
    /// An attempt that the executor makes after a stop request is not counted.
    pub fn incarnation(&self) -> u32 {
        self.with(|s| s.incarnation)
    }

    /// Whether a run is active.
    pub fn is_active(&self) -> bool {
        self.with(|s| !matches!(s.phase, Phase::Initial | Phase::Stopped))
    }

    /// Completes once an incarnation is ready ([`State::Running`]), now or later.
    ///
    /// It looks at the state whenever it is woken: an incarnation that is ready and fails again
    /// before this future is polled can be missed, and it then waits for the next one.
    /// Without `alloc`, a waiter that can be kept nowhere completes at once (see
    /// [`poll_ready`](Self::poll_ready)).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe.
    pub async fn ready(&self) {
        core::future::poll_fn(|cx| self.poll_ready(cx)).await;
    }

    /// Polls for readiness: `Ready` while an incarnation is ready ([`State::Running`]),
    /// otherwise registers the waker of `cx`.
    ///
    /// Without `alloc`, a waiter that can be kept nowhere (more distinct tasks waiting than the
    /// slots and the spill table hold) is `Ready` at once: check [`state`](Self::state).
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.with(|s| {
            if Self::state_of(s.phase) == State::Running || s.observers.register(cx.waker()).is_err() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    // --- the engine's edges ---

    /// Begins a run; `false` if one is active (invariant 1).
    pub(super) fn begin(&self) -> bool {
        self.change(|s| {
            if !matches!(s.phase, Phase::Initial | Phase::Stopped) {
                return false;
            }
            s.phase = Phase::Launched;
            s.ever_ready = false;
            s.cancel = Cancel::No;
            true
        })
    }

    /// Ends the run, also when its future is dropped.
    pub(super) fn end(&self) {
        self.change(|s| {
            s.phase = Phase::Stopped;
            true
        });
    }

    /// Before an attempt: `true` to start an incarnation (invariants 3 and 4).
    pub(super) fn before_attempt(&self) -> bool {
        self.change(|s| {
            if !matches!(s.phase, Phase::Launched | Phase::BackingOff) {
                // A stop was requested (or a faulty executor calls again): start nothing.
                return false;
            }
            s.incarnation = s.incarnation.wrapping_add(1);
            s.phase = Phase::Starting;
            true
        })
    }

    /// The incarnation is ready.
    pub(super) fn on_ready(&self) {
        self.change(|s| match s.phase {
            Phase::Starting => {
                s.phase = Phase::Running;
                s.ever_ready = true;
                true
            }
            Phase::Stopping { ready: false } => {
                s.phase = Phase::Stopping { ready: true };
                true
            }
            _ => false,
        });
    }

    /// After an attempt: `true` if the engine must cancel the process's context now, because
    /// a stop was requested while the incarnation ran (invariant 5).
    pub(super) fn after_attempt(&self) -> bool {
        let mut cancel = false;
        self.change(|s| {
            match s.phase {
                Phase::Starting | Phase::Running => s.phase = Phase::BackingOff,
                Phase::Stopping { .. } => {
                    s.phase = Phase::Interrupted { cancel: false };
                    cancel = true;
                }
                _ => return false,
            }
            true
        });
        cancel
    }

    /// The executor has returned (invariant 6).
    pub(super) fn finish(&self) {
        self.change(|s| {
            s.phase = Phase::Finished;
            true
        });
    }

    /// Whether the engine must cancel the process's context now (invariant 5); registers the
    /// waker either way.
    pub(super) fn poll_take_cancel(&self, cx: &Context<'_>) -> bool {
        self.with(|s| {
            s.watch.register(cx.waker());
            if s.phase == (Phase::Interrupted { cancel: true }) {
                s.phase = Phase::Interrupted { cancel: false };
                true
            } else {
                false
            }
        })
    }

    /// Whether the engine must cancel the callback's context now (invariant 8); registers the
    /// waker either way.
    pub(super) fn poll_take_forced(&self, cx: &Context<'_>) -> bool {
        self.with(|s| {
            s.watch.register(cx.waker());
            if s.cancel == Cancel::Asked {
                s.cancel = Cancel::Done;
                true
            } else {
                false
            }
        })
    }

    /// Ready once the running incarnation is asked to stop gracefully.
    pub(super) fn poll_stop_requested(&self, cx: &Context<'_>) -> Poll<()> {
        self.with(|s| {
            if matches!(s.phase, Phase::Stopping { .. }) {
                return Poll::Ready(());
            }
            s.callback.register(cx.waker());
            Poll::Pending
        })
    }

    /// Ready with `true` once an incarnation of this run was ready, `false` once the run's
    /// executor has returned without one (invariant 7).
    pub(super) fn poll_first_ready(&self, cx: &Context<'_>) -> Poll<bool> {
        self.with(|s| {
            if s.ever_ready {
                Poll::Ready(true)
            } else if s.phase == Phase::Finished {
                Poll::Ready(false)
            } else {
                s.gate.register(cx.waker());
                Poll::Pending
            }
        })
    }
}

impl<M: RawMutex> Drop for Control<M> {
    fn drop(&mut self) {
        // Nothing can wait on a control that is going away (waiters borrow it).
        self.shared.get_mut().get_mut().observers.forget_spilled();
    }
}

/// Ends the run when it is dropped: when the run returns, and also when its future is dropped
/// (a hard stop), so that the next run works.
pub(super) struct Active<'a, M: RawMutex>(pub(super) &'a Control<M>);

impl<M: RawMutex> Drop for Active<'_, M> {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use embassy_sync::blocking_mutex::raw::NoopRawMutex;

    use super::{Control, Phase, State};

    fn phase(c: &Control<NoopRawMutex>) -> Phase {
        c.with(|s| s.phase)
    }

    /// Invariants 3 and 4: an incarnation is counted on each start and only there; once a
    /// stop was requested, no attempt starts again in this run.
    #[test]
    fn a_stop_request_sticks_until_the_run_ends() {
        let c = Control::<NoopRawMutex>::new();
        assert!(!c.request_stop(), "no run");
        assert!(c.begin());
        assert!(!c.begin(), "one run at a time");
        assert!(c.before_attempt());
        c.on_ready();
        assert_eq!((c.state(), c.incarnation()), (State::Running, 1));
        assert!(!c.after_attempt());
        assert_eq!(c.state(), State::BackingOff);
        assert!(c.request_stop());
        assert!(!c.request_stop(), "already requested");
        assert_eq!(phase(&c), Phase::Interrupted { cancel: true });
        assert!(!c.before_attempt());
        assert!(!c.before_attempt());
        assert_eq!(c.incarnation(), 1);
        c.finish();
        c.end();
        assert_eq!((c.state(), c.is_active()), (State::Stopped, false));
        assert!(c.begin(), "the next run begins afresh");
        assert!(c.before_attempt());
        assert_eq!(c.incarnation(), 2);
    }

    /// Invariant 8: `cancel` is asked once per run, seen once by the engine, not after the
    /// executor returned, and forgotten when the next run begins.
    #[test]
    fn cancel_is_asked_once_per_run() {
        let c = Control::<NoopRawMutex>::new();
        let cx = core::task::Context::from_waker(core::task::Waker::noop());
        assert!(!c.cancel(), "no run");
        assert!(c.begin());
        assert!(!c.poll_take_forced(&cx));
        assert!(c.cancel());
        assert!(!c.cancel());
        assert!(c.poll_take_forced(&cx));
        assert!(!c.poll_take_forced(&cx));
        c.finish();
        c.end();
        assert!(c.begin());
        c.finish();
        assert!(!c.cancel(), "the executor has returned");
    }

    /// Invariant 5: a request while an incarnation runs is graceful, and the engine cancels the
    /// context once the incarnation has ended; invariant 7: readiness after the request does not
    /// open the callback's gate.
    #[test]
    fn a_request_during_an_attempt_cancels_after_it() {
        let c = Control::<NoopRawMutex>::new();
        assert!(c.begin());
        assert!(c.before_attempt());
        assert!(c.request_stop());
        assert_eq!((phase(&c), c.state()), (Phase::Stopping { ready: false }, State::Starting));
        c.on_ready();
        assert_eq!((phase(&c), c.state()), (Phase::Stopping { ready: true }, State::Running));
        assert!(!c.with(|s| s.ever_ready));
        assert!(c.after_attempt(), "the engine cancels now");
        assert_eq!((phase(&c), c.state()), (Phase::Interrupted { cancel: false }, State::Stopped));
    }
}
