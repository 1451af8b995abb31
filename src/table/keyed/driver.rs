//! The driver: [`KeyedSupervisor::drive`], its workers (one per slot), its reconcile loop and
//! its shutdown.

use core::cell::RefCell;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::time::Duration;

use embassy_futures::join::{join_array, join3};
use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;

use super::book::{After, Fixed, Forward, Level, Phase, Store};
#[cfg(feature = "alloc")]
use super::book::{Growing, GrowingWorkers};
use super::event::report;
use super::handle::Core;
use super::policy::{Admit, Ring};
use super::{
    BuildKeyed, Claim, Compare, Ended, Error, Event, Hooks, Observe, Policy, PostFn, PreFn, RemovedFn, Restart,
    RestartOf, Setup,
};
use crate::ctx::{Cause, Ctx};
use crate::error::{Merge, Overrun, Phase as ErrorPhase, StopLevel};
use crate::retry::Backoff;
use crate::runner::Runner;
use crate::supervisor;
use crate::table::{Cursor, Table};
use crate::time::{Clock, Instant};

/// Everything a drive needs of its setup, as associated types: the internal code is generic
/// over this one parameter instead of the setup's many.
pub(super) trait Spec<K, V, E> {
    type Table: Table<K, V>;
    type Build: BuildKeyed<K, V, E>;
    type Clock: Clock;
    type Delays: Iterator<Item = Duration>;
    type KeyRing: Admit;
    type GlobalRing: Admit;
    type Claim: Claim<K, E>;

    fn table(&self) -> &Self::Table;
    fn claim(&self) -> &Self::Claim;
    fn build(&self) -> &Self::Build;
    fn clock(&self) -> &Self::Clock;
    fn delays(&self) -> Self::Delays;
    fn restart_of(&self, key: &K, value: &V) -> Restart;
    fn reset_after(&self) -> Option<Duration>;
    fn key_period(&self) -> Option<Duration>;
    fn period(&self) -> Option<Duration>;
    fn event(&self, event: &Event<'_, K, E>);
    fn changed(&self, old: &V, new: &V) -> bool;
    fn graceful(&self) -> impl Future<Output = ()>;
    fn forced(&self) -> impl Future<Output = ()>;
    fn interval(&self) -> Duration;
    fn initial_wait(&self) -> Duration;
    fn prune(&self) -> bool;
    /// Whether the setup has a `removed` hook.
    const REMOVES: bool;
    // The hooks' futures as they are (no `async` wrapper), so that a skipped hook is zero-sized.
    fn pre(
        &self,
        ctx: &Ctx<'_>,
        key: &K,
        value: &V,
        runner: &<Self::Build as BuildKeyed<K, V, E>>::Runner,
    ) -> impl Future<Output = Result<(), E>>;
    fn post(&self, ctx: &Ctx<'_>, key: &K, value: &V, ended: Ended<'_, E>) -> impl Future<Output = Result<(), E>>;
    fn removed(&self, ctx: &Ctx<'_>, key: &K, value: &V) -> impl Future<Output = Result<(), E>>;
}

impl<K, V, E, T, B, C, BO, RP, O, X, G, GF, F, FF, L, HP, HQ, HD, const R: usize, const S: usize> Spec<K, V, E>
    for Setup<T, B, C, Policy<BO, RP, R, S>, O, X, G, F, L, Hooks<HP, HQ, HD>>
where
    HP: PreFn<K, V, E, B::Runner>,
    HQ: PostFn<K, V, E>,
    HD: RemovedFn<K, V, E>,
    L: Claim<K, E>,
    T: Table<K, V>,
    B: BuildKeyed<K, V, E>,
    C: Clock,
    BO: Backoff,
    RP: RestartOf<K, V>,
    O: Observe<K, E>,
    X: Compare<V>,
    G: Fn() -> GF,
    GF: Future<Output = ()>,
    F: Fn() -> FF,
    FF: Future<Output = ()>,
{
    type Table = T;
    type Build = B;
    type Clock = C;
    type Delays = BO::Delays;
    type KeyRing = Ring<R>;
    type GlobalRing = Ring<S>;
    type Claim = L;

    fn table(&self) -> &T {
        &self.table
    }
    fn claim(&self) -> &L {
        &self.claim
    }
    fn build(&self) -> &B {
        &self.build
    }
    fn clock(&self) -> &C {
        &self.clock
    }
    fn delays(&self) -> BO::Delays {
        self.policy.backoff.delays()
    }
    fn restart_of(&self, key: &K, value: &V) -> Restart {
        self.policy.restart.restart_of(key, value)
    }
    fn reset_after(&self) -> Option<Duration> {
        self.policy.reset_after
    }
    fn key_period(&self) -> Option<Duration> {
        self.policy.key_period
    }
    fn period(&self) -> Option<Duration> {
        self.policy.period
    }
    fn event(&self, event: &Event<'_, K, E>) {
        report(&self.observer, event);
    }
    fn changed(&self, old: &V, new: &V) -> bool {
        self.compare.changed(old, new)
    }
    fn graceful(&self) -> impl Future<Output = ()> {
        (self.graceful)()
    }
    fn forced(&self) -> impl Future<Output = ()> {
        (self.forced)()
    }
    fn interval(&self) -> Duration {
        self.interval
    }
    fn initial_wait(&self) -> Duration {
        self.initial_wait
    }
    fn prune(&self) -> bool {
        self.prune
    }
    const REMOVES: bool = HD::ACTIVE;
    fn pre(&self, ctx: &Ctx<'_>, key: &K, value: &V, runner: &B::Runner) -> impl Future<Output = Result<(), E>> {
        self.hooks.pre.call(ctx, key, value, runner)
    }
    fn post(&self, ctx: &Ctx<'_>, key: &K, value: &V, ended: Ended<'_, E>) -> impl Future<Output = Result<(), E>> {
        self.hooks.post.call(ctx, key, value, ended)
    }
    fn removed(&self, ctx: &Ctx<'_>, key: &K, value: &V) -> impl Future<Output = Result<(), E>> {
        self.hooks.removed.call(ctx, key, value)
    }
}

/// What a driver's arms share: the setup and the contexts of one drive.
struct Env<'d, SP, G, M: RawMutex> {
    setup: &'d SP,
    /// The parent of every incarnation's context: cancelled, with the outside cause, once the
    /// callback no longer runs.
    procs: &'d Ctx<'d>,
    /// The context of the table's calls: cancelled when the shutdown begins.
    lookups: &'d Ctx<'d>,
    /// The supervisor-wide restart intensity.
    global: &'d Mutex<M, RefCell<G>>,
}

/// A start request taken by a worker.
struct Job<K, V> {
    key: K,
    offered: Option<V>,
    generation: u32,
    fresh: bool,
    /// The key leaves: run the `removed` hook with `offered`, then free the slot.
    remove: bool,
}

/// What the policy decided after an end.
enum Decision {
    Exited,
    Stopped,
    Failed,
    Melted,
    BackOff(Duration),
}

/// Ends the drive when its future ends or is dropped.
struct DriveEnd<'s, K, V, E, ST: Store<K, V, E>, M: RawMutex> {
    sup: &'s Core<K, V, E, ST, M>,
    ended: bool,
}

impl<K, V, E, ST: Store<K, V, E>, M: RawMutex> Drop for DriveEnd<'_, K, V, E, ST, M> {
    fn drop(&mut self) {
        let ended = self.ended;
        self.sup.update(|b| {
            b.driving = false;
            if !ended {
                b.gone = true;
                for s in b.slots.each() {
                    if s.phase != Phase::Free {
                        s.answer(Err(Error::DriverGone));
                        // A `removed` hook dropped with the driver: the key stays, forgettable.
                        s.removing = false;
                        if matches!(s.phase, Phase::Reserved | Phase::BackingOff) || s.phase.is_live() {
                            s.phase = Phase::Stopped;
                        }
                    }
                }
            }
        });
    }
}

/// The body of a drive, for each store: only how the workers are made differs (a
/// `join_array` for the fixed store, so that the driver's future is `Send` whenever its parts'
/// are; boxed futures for the growing one).
macro_rules! drive_body {
    ($self:ident, $ctx:ident, $setup:ident, $callback:ident, $workers:expr) => {{
        let begun = $setup.clock().now();
        let claimed = $self.update(|b| {
            if b.driving {
                return false;
            }
            b.clear();
            b.driving = true;
            b.shutting = false;
            b.gone = false;
            b.drives = b.drives.wrapping_add(1);
            b.stamp = begun;
            b.removes = SP::REMOVES;
            true
        });
        if !claimed {
            return Err(E::from(supervisor::Error::RecursiveOrConcurrentRun));
        }
        let mut end = DriveEnd { sup: $self, ended: false };
        let procs = Ctx::new();
        let lookups = Ctx::new();
        let callback_ctx = $ctx.child();
        let global: Mutex<M, _> = Mutex::new(RefCell::new(SP::GlobalRing::fresh()));
        let env = Env { setup: $setup, procs: &procs, lookups: &lookups, global: &global };

        let workers = ($workers)(&env);
        let reconcile = lookups.run_until_cancelled($self.reconcile(&env));
        let main = async {
            let gate = $self.restore_gate(&env, begun);
            let open = matches!(select(gate, callback_ctx.cancelled()).await, Either::First(()));
            let result = if open {
                let mut called = pin!($callback(&callback_ctx));
                let mut melted = false;
                poll_fn(|cx| {
                    if !melted && $self.poll_driver(cx, |b| b.melted.then_some(())).is_ready() {
                        melted = true;
                        callback_ctx.cancel_with(Cause::DependencyFailed);
                    }
                    called.as_mut().poll(cx)
                })
                .await
            } else {
                Ok(())
            };
            lookups.cancel();
            $self.begin_shutdown();
            let idle = poll_fn(|cx| {
                $self.poll_driver(cx, |b| {
                    b.slots.iter().all(|s| !s.phase.is_live() && s.phase != Phase::Reserved).then_some(())
                })
            });
            let forward = async {
                let cause = $ctx.cancelled().await;
                procs.cancel_with(cause);
                core::future::pending::<()>().await;
            };
            select(idle, forward).await;
            result
        };
        let mut joined = pin!(join3(workers, reconcile, main));
        let (_, _, result) = poll_fn(|cx| {
            let _batch = $self.batch(cx);
            joined.as_mut().poll(cx)
        })
        .await;
        let report = $self.update(|b| b.report.take());
        end.ended = true;
        drop(end);
        crate::error::merge_results(result, report.map_or(Ok(()), Err))
    }};
}

impl<K, V, E, ST: Store<K, V, E>, M> Core<K, V, E, ST, M>
where
    K: Eq + Clone,
    E: Clone,
    M: RawMutex,
{
    /// Waits until the first pass has ended and every key it started has settled, or the
    /// initial wait has passed; reports which made it.
    async fn restore_gate<SP: Spec<K, V, E>, G>(&self, env: &Env<'_, SP, G, M>, begun: Instant) {
        let setup = env.setup;
        let settled = poll_fn(|cx| {
            self.poll_driver(cx, |b| {
                let busy = b.slots.iter().any(|s| s.restore && matches!(s.phase, Phase::Reserved | Phase::Starting));
                (b.first_done && !busy).then_some(())
            })
        });
        let until = begun.saturating_add(setup.initial_wait());
        let complete = match select(settled, setup.clock().sleep_until(until)).await {
            Either::First(()) => true,
            Either::Second(()) => self.read(|b| b.first_done),
        };
        let (mut ready, mut total, mut i) = (0, 0, 0);
        // One slot per critical section, so that each late key is reported outside it.
        while let Some(late) = self.update(|b| {
            if i >= b.slots.len() {
                return None;
            }
            if !b.slots[i].restore {
                return Some(None);
            }
            let s = b.slots.at(i);
            s.restore = false;
            total += 1;
            if matches!(s.phase, Phase::Running | Phase::Stopping { ready: true }) {
                ready += 1;
                return Some(None);
            }
            Some(s.key.clone())
        }) {
            i += 1;
            if let Some(key) = late {
                setup.event(&Event::Late { key: &key });
            }
        }
        setup.event(&Event::Restored { ready, total, complete });
    }

    /// The shutdown's first step: no new starts, and every key asked to stop (bounded by the
    /// setup's deadlines in its worker).
    fn begin_shutdown(&self) {
        self.update(|b| {
            b.shutting = true;
            for s in b.slots.each() {
                if matches!(s.phase, Phase::Free | Phase::Stopped | Phase::Failed) {
                    continue;
                }
                s.ask_stop(After::Stop, Cause::Shutdown, true);
                s.after = After::Stop;
            }
        });
    }

    // --- the workers ---

    /// One slot of the driver: takes the slot's start requests, looks the value up, runs one
    /// incarnation at a time, and applies the restart policy. The key's backoff and intensity
    /// live here, in the driver's frame.
    async fn worker<SP, G>(&self, i: usize, env: &Env<'_, SP, G, M>)
    where
        SP: Spec<K, V, E>,
        G: Admit,
        E: From<<SP::Table as Table<K, V>>::Error> + Merge + From<Overrun> + From<supervisor::Error>,
    {
        let setup = env.setup;
        let clock = setup.clock();
        let mut delays: Option<SP::Delays> = None;
        let mut ring = SP::KeyRing::fresh();
        loop {
            let Some(job) = poll_fn(|cx| self.poll_slot(cx, i, |b| Self::take_job(b, i))).await else {
                return;
            };
            if job.remove {
                if let Some(value) = &job.offered {
                    let result = self.run_removed(env, &job.key, value).await;
                    self.removed(setup, i, &job.key, &result);
                }
                continue;
            }
            if job.fresh {
                delays = None;
                ring = SP::KeyRing::fresh();
            }
            let value = match job.offered {
                Some(value) => value,
                None => {
                    let lookup = setup.table().get(env.lookups, &job.key);
                    match select(self.changed(i, job.generation), lookup).await {
                        Either::First(()) => continue,
                        Either::Second(Ok(Some(value))) => value,
                        Either::Second(Ok(None)) => {
                            setup.event(&Event::NotInTable { key: &job.key });
                            self.lookup_failed(setup, i, job.generation, &job.key, Error::NotInTable);
                            continue;
                        }
                        Either::Second(Err(e)) => {
                            let e = E::from(e);
                            setup.event(&Event::TableError { key: Some(&job.key), error: &e });
                            self.lookup_failed(setup, i, job.generation, &job.key, Error::Table(e));
                            continue;
                        }
                    }
                }
            };
            let claim = setup.claim();
            let guard = match select(self.changed(i, job.generation), claim.acquire(env.lookups, &job.key)).await {
                Either::First(()) => continue,
                Either::Second(Ok(Some(guard))) => guard,
                Either::Second(Ok(None)) => {
                    setup.event(&Event::NotClaimed { key: &job.key });
                    self.lookup_failed(setup, i, job.generation, &job.key, Error::NotClaimed);
                    continue;
                }
                Either::Second(Err(e)) => {
                    setup.event(&Event::ClaimError { key: &job.key, error: &e });
                    self.lookup_failed(setup, i, job.generation, &job.key, Error::Claim(e));
                    continue;
                }
            };
            let launched = clock.now();
            let Some((run, incarnation)) = self.update(|b| {
                b.stamp = launched;
                let s = b.slots.at(i);
                if s.generation != job.generation || s.phase != Phase::Reserved {
                    return None;
                }
                s.phase = Phase::Starting;
                s.runs = s.runs.wrapping_add(1);
                s.incarnation = s.incarnation.wrapping_add(1);
                if core::mem::take(&mut s.by_policy) {
                    s.restarts = s.restarts.wrapping_add(1);
                }
                s.since = launched;
                s.stop = Level::None;
                s.after = After::Stop;
                s.bounded = false;
                s.escalated = StopLevel::Graceful;
                s.offered = None;
                s.check = false;
                s.built = None;
                Some((s.runs, s.incarnation))
            }) else {
                continue;
            };
            setup.event(&Event::Started { key: &job.key, incarnation });

            // A root of its own with a store whose workers park a waker each, to which the
            // cancellation of `procs` is forwarded ([`Forward`]).
            let run_ctx = <ST::Forward as Forward>::context(env.procs);
            let body = setup.build().with_runner(
                &run_ctx,
                &job.key,
                &value,
                async |runner: &<SP::Build as BuildKeyed<K, V, E>>::Runner| {
                    setup.pre(&run_ctx, &job.key, &value, runner).await?;
                    runner
                        .run(&run_ctx, async |cb: &Ctx<'_>| {
                            // The clock through `setup`, which the closure holds anyway: one
                            // capture fewer pays for the `value` the `pre` hook needs.
                            let now = setup.clock().now();
                            let ready = self.update(|b| {
                                let s = b.slots.at(i);
                                if s.runs != run {
                                    return false;
                                }
                                match s.phase {
                                    Phase::Starting if s.stop == Level::None => {
                                        s.phase = Phase::Running;
                                        s.since = now;
                                        s.answer(Ok(()));
                                        true
                                    }
                                    Phase::Stopping { ready: false } => {
                                        s.phase = Phase::Stopping { ready: true };
                                        false
                                    }
                                    _ => false,
                                }
                            });
                            if ready {
                                setup.event(&Event::Ready { key: &job.key, incarnation });
                                let stop = poll_fn(|cx| {
                                    self.poll_slot(cx, i, |b| (b.slots[i].stop >= Level::Graceful).then_some(()))
                                });
                                select(cb.cancelled(), stop).await;
                            }
                            Ok(())
                        })
                        .await
                },
            );
            let lost = async {
                claim.lost(&guard).await;
                // Forced at once: the key must stop promptly once it is no longer ours.
                run_ctx.cancel_with(Cause::ClaimLost);
                let lost = self.update(|b| {
                    let s = b.slots.at(i);
                    if s.runs != run || !s.phase.is_live() {
                        return false;
                    }
                    s.ask_stop(After::Exit, Cause::ClaimLost, true);
                    s.stop = Level::Forced;
                    true
                });
                if lost {
                    setup.event(&Event::ClaimLost { key: &job.key });
                }
                core::future::pending::<()>().await;
            };
            let forward = <ST::Forward as Forward>::forward(env.procs, &run_ctx);
            let watch = select(
                self.watch_stop(i, run, &run_ctx, setup),
                select(self.watch_value(i, run, &value, setup), select(lost, forward)),
            );
            // The end of the incarnation, in a block: what it keeps is not kept across the
            // backoff's await below.
            let backoff = {
                let (dropped, result) = match select(watch, body).await {
                    Either::First(_) => (true, Ok(())),
                    Either::Second(result) => (false, result),
                };
                drop(run_ctx);
                drop(guard);
                let ended = clock.now();
                let (was_ready, level) = self.read(|b| {
                    let s = &b.slots[i];
                    let ready = matches!(s.phase, Phase::Running | Phase::Stopping { ready: true });
                    (ready, if dropped { StopLevel::Hard } else { s.escalated })
                });
                let post = setup
                    .post(env.procs, &job.key, &value, Ended { incarnation, was_ready, level, result: &result })
                    .await;
                let result = crate::error::merge_results(result, post);
                let restart = setup.restart_of(&job.key, &value);
                let mut decide = |result: &Result<(), E>| -> Decision {
                    let again = match restart {
                        Restart::Permanent => true,
                        Restart::Transient => result.is_err(),
                        Restart::Temporary => false,
                    };
                    if !again {
                        return if restart == Restart::Transient { Decision::Stopped } else { Decision::Exited };
                    }
                    if setup.reset_after().is_some_and(|uptime| ended.saturating_duration_since(launched) >= uptime) {
                        delays = None;
                    }
                    if let Some(period) = setup.key_period()
                        && !ring.admit(ended, period)
                    {
                        return Decision::Failed;
                    }
                    if let Some(period) = setup.period()
                        && !env.global.lock(|g| g.borrow_mut().admit(ended, period))
                    {
                        return Decision::Melted;
                    }
                    match delays.get_or_insert_with(|| setup.delays()).next() {
                        Some(delay) => Decision::BackOff(delay),
                        None => Decision::Failed,
                    }
                };
                let mut value = Some(value);
                let outcome = self.update(|b| {
                    b.stamp = ended;
                    let (shutting, removes) = (b.shutting, b.removes);
                    let s = b.slots.at(i);
                    let was_ready = matches!(s.phase, Phase::Running | Phase::Stopping { ready: true });
                    let level = if dropped { StopLevel::Hard } else { s.escalated };
                    let stop_asked = s.stop != Level::None;
                    let relaunching = stop_asked && s.after == After::Relaunch;
                    // A start stopped before it was ready is answered here even when its
                    // process became ready during the stop (`ready` then answered nothing).
                    if (!was_ready || stop_asked) && !relaunching {
                        s.answer(Err(match &result {
                            _ if stop_asked => Error::StoppedBeforeReady,
                            Err(e) => Error::Start(e.clone()),
                            Ok(()) => Error::ExitedBeforeReady,
                        }));
                    }
                    // Only a stopped incarnation's end is awaited (by the stops that asked): an
                    // incarnation ending by itself must not overwrite it, or a restart whose new
                    // incarnation fails at once waits for ever for the old one's end.
                    if stop_asked || shutting {
                        s.exit = Some(super::book::Exit { run, level, result: result.clone() });
                    }
                    s.since = ended;
                    s.built = value.take();
                    let mut backoff = None;
                    let (mut quarantined, mut freed, mut melted) = (false, false, false);
                    if shutting || (stop_asked && s.after == After::Stop) {
                        s.phase = Phase::Stopped;
                    } else if stop_asked && s.after == After::Relaunch {
                        // The value offered by a replace (or a pass) since the launch, if any;
                        // otherwise a fresh lookup.
                        s.phase = Phase::Reserved;
                        s.by_policy = false;
                        s.check = false;
                    } else if stop_asked && s.after == After::Exit {
                        s.phase = Phase::Exited;
                    } else if stop_asked {
                        s.answer(Err(Error::StoppedBeforeReady));
                        if removes {
                            // The worker's next job: the `removed` hook, then the slot is freed.
                            s.phase = Phase::Stopped;
                            s.removing = true;
                        } else {
                            s.free();
                            freed = true;
                        }
                    } else {
                        match decide(&result) {
                            Decision::Exited => s.phase = Phase::Exited,
                            Decision::Stopped => s.phase = Phase::Stopped,
                            Decision::Failed => {
                                s.phase = Phase::Failed;
                                quarantined = true;
                            }
                            Decision::Melted => {
                                s.phase = Phase::Failed;
                                melted = true;
                            }
                            Decision::BackOff(delay) => {
                                s.phase = Phase::BackingOff;
                                s.by_policy = true;
                                backoff = Some((ended.saturating_add(delay), s.generation, delay));
                            }
                        }
                    }
                    let failures = if shutting {
                        let overrun =
                            (level > StopLevel::Graceful).then(|| E::from(Overrun::new(ErrorPhase::Stop, level)));
                        crate::error::merge_opt(result.clone().err(), overrun)
                    } else if melted {
                        Some(crate::error::merge_opt(result.clone().err(), None).map_or_else(
                            || E::from(supervisor::Error::IntensityExceeded),
                            |e| e.merge(E::from(supervisor::Error::IntensityExceeded)),
                        ))
                    } else {
                        None
                    };
                    if let Some(failure) = failures {
                        b.report = crate::error::merge_opt(b.report.take(), Some(failure));
                    }
                    if melted {
                        b.melted = true;
                    }
                    (was_ready, level, backoff, quarantined, freed, melted)
                });
                let (was_ready, level, backoff, quarantined, freed, melted) = outcome;
                setup.event(&Event::Exited { key: &job.key, incarnation, was_ready, level, result: &result });
                if melted {
                    setup.event(&Event::IntensityExceeded);
                }
                if quarantined || melted {
                    setup.event(&Event::Quarantined { key: &job.key });
                }
                if freed {
                    setup.event(&Event::Freed { key: &job.key });
                }
                backoff
            };
            if let Some((until, generation, delay)) = backoff {
                setup.event(&Event::BackingOff { key: &job.key, delay });
                if let Either::Second(()) = select(self.changed(i, generation), clock.sleep_until(until)).await {
                    self.update(|b| {
                        let s = b.slots.at(i);
                        if s.generation == generation && s.phase == Phase::BackingOff {
                            s.phase = Phase::Reserved;
                            s.offered = None;
                        }
                    });
                }
            }
        }
    }

    /// Runs the `removed` hook of `key`, bounded by the setup's deadlines: its context is
    /// cancelled when `graceful()` completes, and it is dropped when `forced()` completes (an
    /// [`Overrun`] of the hard level).
    async fn run_removed<SP: Spec<K, V, E>, G>(&self, env: &Env<'_, SP, G, M>, key: &K, value: &V) -> Result<(), E>
    where
        E: From<Overrun>,
    {
        let setup = env.setup;
        let ctx = env.procs.child();
        let mut hook = pin!(setup.removed(&ctx, key, value));
        if let Either::First(result) = select(hook.as_mut(), setup.graceful()).await {
            return result;
        }
        ctx.cancel_with(Cause::Deadline);
        match select(hook, setup.forced()).await {
            Either::First(result) => result,
            Either::Second(()) => Err(E::from(Overrun::new(ErrorPhase::Stop, StopLevel::Hard))),
        }
    }

    /// The `removed` hook of slot `i`'s key returned `result`: reports it and frees the slot.
    fn removed<SP: Spec<K, V, E>>(&self, setup: &SP, i: usize, key: &K, result: &Result<(), E>) {
        setup.event(&Event::Removed { key, result });
        let freed = self.update(|b| {
            let s = b.slots.at(i);
            if !s.removing {
                return false;
            }
            s.answer(Err(Error::StoppedBeforeReady));
            s.free();
            true
        });
        if freed {
            setup.event(&Event::Freed { key });
        }
    }

    /// The next start request of slot `i`, or `None` once the drive is shutting down and the
    /// slot has nothing to do.
    fn take_job(b: &mut super::book::Book<K, V, E, ST>, i: usize) -> Option<Option<Job<K, V>>> {
        let shutting = b.shutting;
        let s = &b.slots[i];
        // Looked at first, changed only if there is a job: an idle worker's poll changes nothing.
        let job = s.key.is_some() && ((s.removing && s.built.is_some()) || (s.phase == Phase::Reserved && !shutting));
        if !job {
            return shutting.then_some(None);
        }
        let s = b.slots.at(i);
        if s.removing
            && let Some(key) = s.key.clone()
            && let Some(value) = s.built.take()
        {
            return Some(Some(Job { key, offered: Some(value), generation: s.generation, fresh: false, remove: true }));
        }
        if s.phase == Phase::Reserved
            && !shutting
            && let Some(key) = s.key.clone()
        {
            return Some(Some(Job {
                key,
                offered: s.offered.take(),
                generation: s.generation,
                fresh: core::mem::take(&mut s.fresh),
                remove: false,
            }));
        }
        shutting.then_some(None)
    }

    /// Completes once slot `i`'s generation is no longer `generation`.
    async fn changed(&self, i: usize, generation: u32) {
        poll_fn(|cx| self.poll_slot(cx, i, |b| (b.slots[i].generation != generation).then_some(()))).await;
    }

    /// A lookup for slot `i` found nothing or failed: answers the start and frees the slot.
    fn lookup_failed<SP: Spec<K, V, E>>(&self, setup: &SP, i: usize, generation: u32, key: &K, error: Error<K, E>) {
        let freed = self.update(|b| {
            let s = b.slots.at(i);
            if s.generation != generation || s.phase != Phase::Reserved {
                return false;
            }
            s.answer(Err(error));
            s.free();
            true
        });
        if freed {
            setup.event(&Event::Freed { key });
        }
    }

    /// Carries out the stop of incarnation `run` of slot `i`: cancels its context at the forced
    /// level, completes at the hard level (the caller then drops the incarnation). A stop the
    /// driver asked itself is escalated here with the setup's deadlines.
    async fn watch_stop<SP: Spec<K, V, E>>(&self, i: usize, run: u32, run_ctx: &Ctx<'_>, setup: &SP) {
        let level = |at: Level| poll_fn(move |cx| self.poll_slot(cx, i, |b| (b.slots[i].stop >= at).then_some(())));
        level(Level::Graceful).await;
        let bounded = self.read(|b| b.slots[i].bounded);
        if bounded && let Either::Second(()) = select(level(Level::Forced), setup.graceful()).await {
            self.update(|b| b.slots.at(i).escalate(run, Level::Forced));
        }
        level(Level::Forced).await;
        run_ctx.cancel_with(self.read(|b| b.slots[i].cause));
        if bounded && let Either::Second(()) = select(level(Level::Hard), setup.forced()).await {
            self.update(|b| b.slots.at(i).escalate(run, Level::Hard));
        }
        level(Level::Hard).await;
    }

    /// Compares the values a pass offers to the running incarnation `run` of slot `i` with its
    /// own; a changed one asks for a bounded restart with the new value. Never completes.
    async fn watch_value<SP: Spec<K, V, E>>(&self, i: usize, run: u32, value: &V, setup: &SP) {
        loop {
            let offered = poll_fn(|cx| {
                self.poll_slot(cx, i, |b| {
                    let s = &b.slots[i];
                    if !s.check || s.runs != run {
                        return None;
                    }
                    let s = b.slots.at(i);
                    s.check = false;
                    s.offered.take()
                })
            })
            .await;
            if setup.changed(value, &offered) {
                self.update(|b| {
                    let s = b.slots.at(i);
                    if s.runs == run && s.phase.is_live() {
                        s.ask_stop(After::Relaunch, Cause::Restart, true);
                        s.offered = Some(offered);
                    }
                });
            }
        }
    }

    // --- the reconcile loop ---

    /// Runs the first pass, then a pass every interval (measured from the start of the last
    /// one) or when asked, serving requests in between. Ends when the table's context is
    /// cancelled (the caller races it).
    async fn reconcile<SP, G>(&self, env: &Env<'_, SP, G, M>)
    where
        SP: Spec<K, V, E>,
        E: From<<SP::Table as Table<K, V>>::Error>,
    {
        let setup = env.setup;
        let clock = setup.clock();
        let mut first = true;
        loop {
            let started = clock.now();
            self.update(|b| b.now = false);
            self.pass(env, first).await;
            if first {
                self.update(|b| b.first_done = true);
                first = false;
            }
            let next = started.checked_add(setup.interval()).unwrap_or(Instant::MAX);
            loop {
                let wants = poll_fn(|cx| {
                    self.poll_driver(cx, |b| {
                        if b.now {
                            Some(true)
                        } else if core::mem::take(&mut b.dirty) {
                            Some(false)
                        } else {
                            None
                        }
                    })
                });
                match select(wants, clock.sleep_until(next)).await {
                    Either::First(false) => self.serve_requests(env).await,
                    Either::First(true) | Either::Second(()) => break,
                }
            }
        }
    }

    /// One pass over the table: converges every entry, then (when the setup prunes and the
    /// pass ended cleanly) frees the keys it did not see.
    async fn pass<SP, G>(&self, env: &Env<'_, SP, G, M>, first: bool)
    where
        SP: Spec<K, V, E>,
        E: From<<SP::Table as Table<K, V>>::Error>,
    {
        let setup = env.setup;
        let pass = self.update(|b| {
            b.pass = b.pass.wrapping_add(1);
            b.pass
        });
        let (mut seen, mut started) = (0, 0);
        let clean = match setup.table().iter(env.lookups).await {
            Err(e) => {
                setup.event(&Event::TableError { key: None, error: &E::from(e) });
                false
            }
            Ok(mut cursor) => loop {
                match cursor.next(env.lookups).await {
                    Ok(Some((key, value))) => {
                        seen += 1;
                        started += usize::from(self.converge(setup, key, Some(value), pass, first));
                    }
                    Ok(None) => break true,
                    Err(e) => {
                        setup.event(&Event::TableError { key: None, error: &E::from(e) });
                        break false;
                    }
                }
            },
        };
        let pruned = if clean && setup.prune() { self.sweep(setup, pass) } else { 0 };
        setup.event(&Event::PassDone { seen, started, pruned, clean });
    }

    /// Brings `key` in line with the table's `value` (`None`: the table does not hold it);
    /// returns whether it reserved or revived the key.
    fn converge<SP: Spec<K, V, E>>(&self, setup: &SP, key: K, value: Option<V>, pass: u32, first: bool) -> bool {
        enum Did {
            Nothing,
            Reserved,
            Revived,
            Full,
            Pruned,
        }
        let did = self.update(|b| {
            if b.shutting {
                return Did::Nothing;
            }
            let Some(i) = b.find_next(&key) else {
                let Some(value) = value else { return Did::Nothing };
                let stamp = b.stamp;
                return match b.reserve(key.clone(), Some(value), stamp) {
                    Ok(i) => {
                        b.slots.at(i).restore = first;
                        Did::Reserved
                    }
                    Err(_) => Did::Full,
                };
            };
            let removes = b.removes;
            let s = b.slots.at(i);
            s.seen = pass;
            if s.removing {
                // Leaving: the key may come back once its slot is freed.
                return Did::Nothing;
            }
            let Some(value) = value else {
                if !setup.prune() {
                    return Did::Nothing;
                }
                let live = s.phase.is_live();
                if removes && !live {
                    return if s.leave(true) { Did::Pruned } else { Did::Nothing };
                }
                s.ask_stop(After::Free, Cause::Shutdown, true);
                return if live { Did::Nothing } else { Did::Pruned };
            };
            match s.phase {
                Phase::Exited => {
                    Self::revive(s, value, first);
                    Did::Revived
                }
                Phase::Failed if s.built.as_ref().is_some_and(|old| setup.changed(old, &value)) => {
                    Self::revive(s, value, first);
                    Did::Revived
                }
                Phase::Reserved => {
                    // A key seen twice: the last value wins (if the lookup has not begun).
                    if s.offered.is_some() {
                        s.offered = Some(value);
                    }
                    Did::Nothing
                }
                Phase::Starting | Phase::Running => {
                    s.offered = Some(value);
                    s.check = true;
                    Did::Nothing
                }
                _ => Did::Nothing,
            }
        });
        match did {
            Did::Reserved => setup.event(&Event::Reserved { key: &key }),
            Did::Full => setup.event(&Event::Full { key: &key }),
            Did::Pruned => setup.event(&Event::Freed { key: &key }),
            Did::Nothing | Did::Revived => {}
        }
        matches!(did, Did::Reserved | Did::Revived)
    }

    /// An ended key comes back: reserved again with the value of the table.
    fn revive(s: &mut super::book::Slot<K, V, E>, value: V, first: bool) {
        s.generation = s.generation.wrapping_add(1);
        s.new_ticket();
        s.phase = Phase::Reserved;
        s.offered = Some(value);
        s.by_policy = false;
        s.restore = first;
    }

    /// After a clean pass: stops and frees every key that had a slot before the pass began and
    /// that it did not see. Returns how many.
    fn sweep<SP: Spec<K, V, E>>(&self, setup: &SP, pass: u32) -> usize {
        let mut count = 0;
        let mut i = 0;
        // One slot per critical section, so that the event of each is reported outside it.
        while let Some(freed) = self.update(|b| {
            let removes = b.removes;
            if i >= b.slots.len() {
                return None;
            }
            let s = &b.slots[i];
            if s.phase == Phase::Free || s.seen == pass || s.born == pass || s.removing {
                return Some(None);
            }
            let s = b.slots.at(i);
            let live = s.phase.is_live();
            let key = s.key.clone();
            if removes && !live {
                let freed = s.leave(true);
                return Some(Some(key.filter(|_| freed)));
            }
            s.ask_stop(After::Free, Cause::Shutdown, true);
            Some(Some(key.filter(|_| !live)))
        }) {
            i += 1;
            if let Some(freed) = freed {
                count += 1;
                if let Some(key) = freed {
                    setup.event(&Event::Freed { key: &key });
                }
            }
        }
        count
    }

    /// Looks up every key marked by [`request`](Self::request) and converges it.
    async fn serve_requests<SP, G>(&self, env: &Env<'_, SP, G, M>)
    where
        SP: Spec<K, V, E>,
        E: From<<SP::Table as Table<K, V>>::Error>,
    {
        let setup = env.setup;
        loop {
            let next = self.update(|b| {
                let pass = b.pass;
                let i = b.slots.iter().position(|s| s.dirty)?;
                let s = b.slots.at(i);
                s.dirty = false;
                Some((s.key.clone(), pass))
            });
            let Some((Some(key), pass)) = next else { return };
            match setup.table().get(env.lookups, &key).await {
                Ok(value) => {
                    self.converge(setup, key, value, pass, false);
                }
                Err(e) => setup.event(&Event::TableError { key: Some(&key), error: &E::from(e) }),
            }
        }
    }
}

impl<K, V, E, const N: usize, M> Core<K, V, E, Fixed<K, V, E, N>, M>
where
    K: Eq + Clone,
    E: Clone,
    M: RawMutex,
{
    /// The drive of the fixed store.
    pub(super) async fn drive_fixed<SP, CB>(&self, ctx: &Ctx<'_>, setup: &SP, callback: CB) -> Result<(), E>
    where
        SP: Spec<K, V, E>,
        E: From<<SP::Table as Table<K, V>>::Error> + Merge + From<Overrun> + From<supervisor::Error>,
        CB: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        drive_body!(self, ctx, setup, callback, |env| join_array(core::array::from_fn::<_, N, _>(
            |i| self.worker(i, env)
        )))
    }
}

#[cfg(feature = "alloc")]
impl<K, V, E, M> Core<K, V, E, Growing<K, V, E>, M>
where
    K: Eq + Clone,
    E: Clone,
    M: RawMutex,
{
    /// The drive of the growing store.
    pub(super) async fn drive_dyn<SP, CB>(&self, ctx: &Ctx<'_>, setup: &SP, callback: CB) -> Result<(), E>
    where
        SP: Spec<K, V, E>,
        E: From<<SP::Table as Table<K, V>>::Error> + Merge + From<Overrun> + From<supervisor::Error>,
        CB: AsyncFnOnce(&Ctx<'_>) -> Result<(), E>,
    {
        drive_body!(self, ctx, setup, callback, |env| GrowingWorkers::new(
            move |i| self.worker(i, env),
            |cx: &core::task::Context<'_>| {
                self.register_driver(cx);
                self.read(|b| (b.slots.len(), b.shutting))
            },
        ))
    }
}
