//! A chain of three processes on embassy: a fake sensor bus, a sampler that needs it, and a
//! reporter that needs both. They start in order and report ready, the application runs, and
//! when it returns they stop in reverse order. The sampler is deliberately stubborn: it ignores
//! the graceful stop, so its stop deadline (an embassy-time `Timer`) passes and the stop
//! escalates to forced, which the tree reports as an `Overrun`.
//!
//! Exits qemu with status 0 only when the observed sequence is the expected one.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_time::Timer;
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::{Cause, Ctx, MultiError, Overrun, Phase, Runner, RunnerExt, StopLevel, chain};
use procession_examples_embassy::{Journal, finish, start_time};

/// What can go wrong in this firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
enum Fault {
    /// A stop or start did not finish in time.
    Overrun(Overrun),
}

impl From<Overrun> for Fault {
    fn from(overrun: Overrun) -> Self {
        Self::Overrun(overrun)
    }
}

/// The error type of the whole tree: up to four faults, no heap.
type Error = MultiError<Fault, 4>;

static JOURNAL: Journal = Journal::new();
static SAMPLES: AtomicU32 = AtomicU32::new(0);

const EXPECTED: [&str; 12] = [
    "bus: powering up",
    "bus: ready",
    "sampler: calibrating",
    "sampler: ready",
    "reporter: connecting",
    "reporter: ready",
    "app: every process is ready, running",
    "app: done, stopping in reverse order",
    "reporter: closing (graceful)",
    "sampler: stop deadline passed, forced to stop",
    "bus: powering down (graceful)",
    "system: stopped; the sampler's stop was forced",
];

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    start_time();

    let bus = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        JOURNAL.note("bus: powering up");
        Timer::after_millis(5).await;
        lc.ready();
        JOURNAL.note("bus: ready");
        match lc.stop_requested().await {
            Stop::Graceful => JOURNAL.note("bus: powering down (graceful)"),
            Stop::Forced(_) => JOURNAL.note("bus: powering down (forced)"),
        }
        Ok(())
    });

    // Samples every 10 ms until its context is cancelled; it never looks at the graceful stop.
    let sampler = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        JOURNAL.note("sampler: calibrating");
        Timer::after_millis(5).await;
        lc.ready();
        JOURNAL.note("sampler: ready");
        loop {
            match select(ctx.cancelled(), Timer::after_millis(10)).await {
                Either::First(Cause::Deadline) => {
                    JOURNAL.note("sampler: stop deadline passed, forced to stop");
                    return Ok(());
                }
                Either::First(_) => {
                    JOURNAL.note("sampler: cancelled");
                    return Ok(());
                }
                Either::Second(()) => {
                    SAMPLES.store(SAMPLES.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                }
            }
        }
    })
    .with_stop_deadline(|| Timer::after_millis(30), || Timer::after_millis(30));

    let reporter = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        JOURNAL.note("reporter: connecting");
        lc.ready();
        JOURNAL.note("reporter: ready");
        match lc.stop_requested().await {
            Stop::Graceful => JOURNAL.note("reporter: closing (graceful)"),
            Stop::Forced(_) => JOURNAL.note("reporter: closing (forced)"),
        }
        Ok(())
    });

    let root = Ctx::new();
    let tree = chain((bus, sampler, reporter));
    let run = tree.run(&root, async |_ctx: &Ctx<'_>| {
        JOURNAL.note("app: every process is ready, running");
        Timer::after_millis(100).await;
        JOURNAL.note("app: done, stopping in reverse order");
        Ok(())
    });
    defmt::info!("info: size of the lifecycle tree's future: {=usize} bytes", core::mem::size_of_val(&run));
    let result = run.await;
    defmt::info!("info: samples taken: {=u32}", SAMPLES.load(Ordering::Relaxed));

    let forced = Fault::Overrun(Overrun::new(Phase::Stop, StopLevel::Forced));
    match result {
        Err(errors) if errors.errors() == [forced] && errors.overflow() == 0 => {
            JOURNAL.note("system: stopped; the sampler's stop was forced");
        }
        Err(errors) => {
            defmt::error!("unexpected result: {}", errors);
            JOURNAL.note("system: stopped with unexpected errors");
        }
        Ok(()) => JOURNAL.note("system: stopped cleanly, but the sampler should have been forced"),
    }
    finish(&JOURNAL, &EXPECTED);
}
