//! [`Setup`]: what a driver runs with (the table, the builder, the clock, the policy, the
//! observer, the intervals and deadlines), and the [`Compare`] of convergence.

use core::fmt;
use core::future::Future;
use core::time::Duration;

use super::{Everything, Hooks, Policy};
use crate::supervisor::NoDeadline;

/// Whether a key's value changed so much that its process must be replaced: the comparison of
/// [`Setup::replace_on_change`]. Implemented by [`Keep`] (never), [`ByEq`] (`!=`), and every
/// `Fn(&V, &V) -> bool` (`old`, `new`).
pub trait Compare<V> {
    /// Whether the process built from `old` must be replaced by one built from `new`.
    fn changed(&self, old: &V, new: &V) -> bool;
}

/// A running key is never replaced because its value changed (the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep;

impl<V> Compare<V> for Keep {
    fn changed(&self, _: &V, _: &V) -> bool {
        false
    }
}

/// A running key is replaced when its new value is not equal to the one it was built from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByEq;

impl<V: PartialEq> Compare<V> for ByEq {
    fn changed(&self, old: &V, new: &V) -> bool {
        old != new
    }
}

impl<V, F: Fn(&V, &V) -> bool> Compare<V> for F {
    fn changed(&self, old: &V, new: &V) -> bool {
        self(old, new)
    }
}

/// What the driver of a [`KeyedSupervisor`](super::KeyedSupervisor) runs with: the [`Table`]
/// it reads, the [`BuildKeyed`] that makes each incarnation, the [`Clock`] of its intervals
/// and backoffs, and the options below. The supervisor itself holds only the keys' state, so
/// that it can be a `static`; the setup lives with the driver.
///
/// | option | default |
/// |---|---|
/// | [`every`](Self::every): the reconcile interval, from the start of one pass to the start of the next | 60 s |
/// | [`initial_wait`](Self::initial_wait): how long the callback waits for the keys of the first pass to be ready | 1 s |
/// | [`policy`](Self::policy): the restart [`Policy`] of each key | [`Policy::new`] (temporary: passes bring keys back) |
/// | [`observe`](Self::observe): who gets the [`Event`](super::Event)s | `()` (logged only) |
/// | [`prune`](Self::prune): stop and free keys the table no longer holds, after a clean pass | off |
/// | [`replace_on_change`](Self::replace_on_change): restart a key whose value changed | off ([`Keep`]) |
/// | [`shutdown_deadlines`](Self::shutdown_deadlines): bound the stop of every key at shutdown (and when pruning, replacing, losing a claim) | [`never`](crate::never()) |
/// | [`claim`](Self::claim): run a key only while this supervisor holds its [`Claim`](super::Claim) | [`Everything`] |
/// | [`hooks`](Self::hooks): run [`Hooks`] around each incarnation and when a key leaves | none ([`Hooks::new`]) |
///
/// [`Table`]: crate::table::Table
/// [`BuildKeyed`]: super::BuildKeyed
/// [`Clock`]: crate::time::Clock
pub struct Setup<T, B, C, P = Policy, O = (), X = Keep, G = NoDeadline, F = NoDeadline, L = Everything, H = Hooks> {
    pub(super) table: T,
    pub(super) build: B,
    pub(super) clock: C,
    pub(super) policy: P,
    pub(super) observer: O,
    pub(super) compare: X,
    pub(super) graceful: G,
    pub(super) forced: F,
    pub(super) interval: Duration,
    pub(super) initial_wait: Duration,
    pub(super) prune: bool,
    pub(super) claim: L,
    pub(super) hooks: H,
}

impl<T, B, C> Setup<T, B, C> {
    /// A setup over `table`, building incarnations with `build`, timed by `clock`, with the
    /// defaults of the table above.
    pub const fn new(table: T, build: B, clock: C) -> Self {
        Self {
            table,
            build,
            clock,
            policy: Policy::new(),
            observer: (),
            compare: Keep,
            graceful: crate::deadline::never as NoDeadline,
            forced: crate::deadline::never as NoDeadline,
            interval: Duration::from_secs(60),
            initial_wait: Duration::from_secs(1),
            prune: false,
            claim: Everything,
            hooks: Hooks::new(),
        }
    }
}

impl<T, B, C, P, O, X, G, F, L, H> Setup<T, B, C, P, O, X, G, F, L, H> {
    /// The reconcile interval, measured from the start of a pass to the start of the next (a
    /// slow pass does not push the schedule back). [`Duration::MAX`] turns the periodic passes
    /// off: only the first pass, [`reconcile_now`](super::KeyedSupervisor::reconcile_now) and
    /// requests remain.
    #[must_use]
    pub fn every(self, interval: Duration) -> Self {
        Self { interval, ..self }
    }

    /// How long the callback of [`drive`](super::KeyedSupervisor::drive) waits, from the start
    /// of the drive, for the first pass to end and the keys it started to be ready (or to fail).
    /// Which made it is reported: an [`Event::Late`](super::Event::Late) for each key that was
    /// not ready, then [`Event::Restored`](super::Event::Restored) with the counts; the late keys
    /// go on starting. `Duration::ZERO` calls the callback at once, beside the first pass.
    #[must_use]
    pub fn initial_wait(self, wait: Duration) -> Self {
        Self { initial_wait: wait, ..self }
    }

    /// Stops and frees the keys the table no longer holds: after a pass that ended cleanly (the
    /// cursor's `Ok(None)`), every key the pass did not see and that had a slot before the pass
    /// began is stopped gracefully (with the shutdown deadlines) and its slot freed. A pass that
    /// ends with an error prunes nothing.
    #[must_use]
    pub fn prune(self) -> Self {
        Self { prune: true, ..self }
    }

    /// Sets the restart policy of each key.
    pub fn policy<P2>(self, policy: P2) -> Setup<T, B, C, P2, O, X, G, F, L, H> {
        Setup {
            table: self.table,
            build: self.build,
            clock: self.clock,
            policy,
            observer: self.observer,
            compare: self.compare,
            graceful: self.graceful,
            forced: self.forced,
            interval: self.interval,
            initial_wait: self.initial_wait,
            prune: self.prune,
            claim: self.claim,
            hooks: self.hooks,
        }
    }

    /// Hands every [`Event`](super::Event) to `observer`.
    pub fn observe<O2>(self, observer: O2) -> Setup<T, B, C, P, O2, X, G, F, L, H> {
        Setup {
            table: self.table,
            build: self.build,
            clock: self.clock,
            policy: self.policy,
            observer,
            compare: self.compare,
            graceful: self.graceful,
            forced: self.forced,
            interval: self.interval,
            initial_wait: self.initial_wait,
            prune: self.prune,
            claim: self.claim,
            hooks: self.hooks,
        }
    }

    /// Restarts (gracefully, with [`Cause::Restart`](crate::Cause::Restart)) a running key
    /// whose value in the table changed, as `compare` tells ([`ByEq`] for `!=`); a
    /// [`Failed`](super::State::Failed) key whose value changed is started again.
    pub fn replace_on_change<X2>(self, compare: X2) -> Setup<T, B, C, P, O, X2, G, F, L, H> {
        Setup {
            table: self.table,
            build: self.build,
            clock: self.clock,
            policy: self.policy,
            observer: self.observer,
            compare,
            graceful: self.graceful,
            forced: self.forced,
            interval: self.interval,
            initial_wait: self.initial_wait,
            prune: self.prune,
            claim: self.claim,
            hooks: self.hooks,
        }
    }

    /// Runs a key only while this supervisor holds its [`Claim`](super::Claim) (by default
    /// [`Everything`]: every key is ours).
    pub fn claim<L2>(self, claim: L2) -> Setup<T, B, C, P, O, X, G, F, L2, H> {
        Setup {
            table: self.table,
            build: self.build,
            clock: self.clock,
            policy: self.policy,
            observer: self.observer,
            compare: self.compare,
            graceful: self.graceful,
            forced: self.forced,
            interval: self.interval,
            initial_wait: self.initial_wait,
            prune: self.prune,
            claim,
            hooks: self.hooks,
        }
    }

    /// Runs `hooks` around each incarnation of a key and when a key leaves (see [`Hooks`]:
    /// `pre` before each incarnation's runner runs, `post` after it ended, `removed` before
    /// the slot of a leaving key is freed). By default none ([`Hooks::new`], zero-sized).
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use std::sync::Mutex;
    /// use procession::table::{Ended, Hooks, KeyedSupervisor, MapTable, Setup};
    /// use procession::time::ManualClock;
    /// use procession::{Ctx, TreeError, leaf, never};
    ///
    /// static SUP: KeyedSupervisor<u8, u32, TreeError> = KeyedSupervisor::new();
    /// let log = Mutex::new(Vec::new());
    /// let worker = |_: &u8, _: &u32| leaf(async |ctx: &Ctx<'_>| -> Result<(), TreeError> {
    ///     ctx.cancelled().await;
    ///     Ok(())
    /// });
    /// let hooks = Hooks::new()
    ///     .pre(async |_: &Ctx<'_>, key: &u8, _: &u32, _: &_| -> Result<(), TreeError> {
    ///         log.lock().unwrap().push(format!("pre {key}"));
    ///         Ok(())
    ///     })
    ///     .post(async |_: &Ctx<'_>, key: &u8, _: &u32, ended: &Ended<'_, TreeError>| {
    ///         log.lock().unwrap().push(format!("post {key} ready={}", ended.was_ready));
    ///         Ok(())
    ///     });
    /// let table: MapTable<u8, u32> = MapTable::new();
    /// table.insert(1, 10).unwrap();
    /// let clock = ManualClock::new();
    /// let setup = Setup::new(&table, worker, &clock).every(Duration::MAX).hooks(hooks);
    /// let root = Ctx::new();
    /// let result = embassy_futures::block_on(SUP.drive(&root, &setup, async |_| {
    ///     SUP.stop(&1, never, never).await.map(|_| ()).map_err(|_| unreachable!())
    /// }));
    /// assert_eq!(result, Ok(()));
    /// assert_eq!(*log.lock().unwrap(), ["pre 1", "post 1 ready=true"]);
    /// ```
    pub fn hooks<H2>(self, hooks: H2) -> Setup<T, B, C, P, O, X, G, F, L, H2> {
        Setup {
            table: self.table,
            build: self.build,
            clock: self.clock,
            policy: self.policy,
            observer: self.observer,
            compare: self.compare,
            graceful: self.graceful,
            forced: self.forced,
            interval: self.interval,
            initial_wait: self.initial_wait,
            prune: self.prune,
            claim: self.claim,
            hooks,
        }
    }

    /// Bounds the stops the driver makes itself (at shutdown, when pruning, when replacing):
    /// each key stops gracefully; those not done when `graceful()` completes are cancelled
    /// ([`Cause::Deadline`](crate::Cause::Deadline)); those not done when `forced()` completes
    /// are dropped. Each closure is called when its level begins.
    pub fn shutdown_deadlines<G2, GF, F2, FF>(self, graceful: G2, forced: F2) -> Setup<T, B, C, P, O, X, G2, F2, L, H>
    where
        G2: Fn() -> GF,
        GF: Future<Output = ()>,
        F2: Fn() -> FF,
        FF: Future<Output = ()>,
    {
        Setup {
            table: self.table,
            build: self.build,
            clock: self.clock,
            policy: self.policy,
            observer: self.observer,
            compare: self.compare,
            graceful,
            forced,
            interval: self.interval,
            initial_wait: self.initial_wait,
            prune: self.prune,
            claim: self.claim,
            hooks: self.hooks,
        }
    }
}

impl<T, B, C, P, O, X, G, F, L, H> fmt::Debug for Setup<T, B, C, P, O, X, G, F, L, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup")
            .field("interval", &self.interval)
            .field("initial_wait", &self.initial_wait)
            .field("prune", &self.prune)
            .finish_non_exhaustive()
    }
}
