//! Restart supervision on embassy, and a process controlled from a second task.
//!
//! A modem fails twice while connecting and then stays up: the restart `Supervisor` runs it
//! again after an exponential backoff on embassy-time (20 ms, then 40 ms), and the firmware
//! checks the backoff it observed. Once the modem is up, the application drives a telemetry
//! `Process`; a second embassy task starts it and, a little later, stops it gracefully, each
//! call bounded by a deadline. Then the application returns and the supervisor stops the modem.
//!
//! Exits qemu with status 0 only when the observed sequence is the expected one.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use embassy_time::{Instant, Timer};
use procession::process::{self, Process, State};
use procession::retry::{BackoffExt, Exp2, Retry};
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::supervisor::{self, Supervisor};
use procession::time::EmbassyClock;
use procession::{Ctx, MultiError, Runner};
use procession_examples_embassy::{Journal, finish, start_time};

/// What can go wrong in this firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
enum Fault {
    /// The modem could not connect (the first two attempts).
    LinkFailed,
    /// The supervisor itself failed.
    Supervisor(supervisor::Error),
    /// The telemetry process failed.
    Telemetry,
}

impl From<supervisor::Error> for Fault {
    fn from(error: supervisor::Error) -> Self {
        Self::Supervisor(error)
    }
}

type Error = MultiError<Fault, 4>;

static JOURNAL: Journal = Journal::new();
/// The telemetry process: the application drives it, the controller task starts and stops it.
static TELEMETRY: Process<Error, 2> = Process::new();
/// Set by the application once the modem is up and the telemetry driver runs.
static MODEM_UP: Signal<CriticalSectionRawMutex, ()> = Signal::new();
/// Set by the controller when it is done with the telemetry process.
static CONTROLLER_DONE: Signal<CriticalSectionRawMutex, ()> = Signal::new();

static ATTEMPTS: AtomicU32 = AtomicU32::new(0);
/// When each attempt began (milliseconds since boot; Cortex-M3 has no 64-bit atomics).
static ATTEMPT_AT: [AtomicU32; 3] = [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)];

const EXPECTED: [&str; 14] = [
    "modem: attempt 1, link failed",
    "modem: attempt 2, link failed",
    "modem: attempt 3, connected",
    "modem: the backoff grew as configured",
    "app: the modem is up",
    "controller: starting telemetry",
    "telemetry: running",
    "controller: telemetry is running",
    "controller: stopping telemetry",
    "telemetry: stopping (graceful)",
    "controller: telemetry stopped",
    "app: telemetry done",
    "modem: hanging up (graceful)",
    "system: the supervisor stopped cleanly after 3 incarnations",
];

/// Starts the telemetry process once the modem is up, lets it run, and stops it.
#[embassy_executor::task]
async fn controller() {
    MODEM_UP.wait().await;
    JOURNAL.note("controller: starting telemetry");
    let started = TELEMETRY.start(|| Timer::after_millis(100), || Timer::after_millis(50)).await;
    if started.is_ok() && TELEMETRY.state() == State::Running {
        JOURNAL.note("controller: telemetry is running");
    } else {
        JOURNAL.note("controller: telemetry did not start");
    }
    Timer::after_millis(30).await;
    JOURNAL.note("controller: stopping telemetry");
    match TELEMETRY.stop(|| Timer::after_millis(100), || Timer::after_millis(50)).await {
        Ok(()) if TELEMETRY.state() == State::Stopped => JOURNAL.note("controller: telemetry stopped"),
        _ => JOURNAL.note("controller: telemetry did not stop cleanly"),
    }
    CONTROLLER_DONE.signal(());
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    start_time();
    match controller() {
        Ok(token) => spawner.spawn(token),
        Err(_) => JOURNAL.note("system: cannot spawn the controller"),
    }

    let modem = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        let attempt = ATTEMPTS.load(Ordering::Relaxed) + 1;
        ATTEMPTS.store(attempt, Ordering::Relaxed);
        if let Some(at) = ATTEMPT_AT.get(attempt as usize - 1) {
            at.store(u32::try_from(Instant::now().as_millis()).unwrap_or(u32::MAX), Ordering::Relaxed);
        }
        match attempt {
            1 => JOURNAL.note("modem: attempt 1, link failed"),
            2 => JOURNAL.note("modem: attempt 2, link failed"),
            _ => {
                JOURNAL.note("modem: attempt 3, connected");
                check_backoff();
                lc.ready();
                match lc.stop_requested().await {
                    Stop::Graceful => JOURNAL.note("modem: hanging up (graceful)"),
                    Stop::Forced(_) => JOURNAL.note("modem: hanging up (forced)"),
                }
                return Ok(());
            }
        }
        Err(MultiError::from_error(Fault::LinkFailed))
    });

    let telemetry = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        JOURNAL.note("telemetry: running");
        lc.ready();
        match lc.stop_requested().await {
            Stop::Graceful => JOURNAL.note("telemetry: stopping (graceful)"),
            Stop::Forced(_) => JOURNAL.note("telemetry: stopping (forced)"),
        }
        Ok(())
    });

    // Backoff 20 ms, 40 ms, ... at most 5 restarts.
    let retry = Retry::new(Exp2::new(Duration::from_millis(10)).limit(5), EmbassyClock);
    // The application callback runs once the modem is up (ready).
    let modem = Supervisor::new(modem, retry);
    let root = Ctx::new();
    let result = modem
        .run(&root, async |ctx: &Ctx<'_>| {
            JOURNAL.note("app: the modem is up");
            MODEM_UP.signal(());
            let driven = TELEMETRY.drive(ctx, &telemetry).await;
            CONTROLLER_DONE.wait().await;
            JOURNAL.note("app: telemetry done");
            driven.map_err(|_: process::Error<Error>| MultiError::from_error(Fault::Telemetry))
        })
        .await;
    match result {
        Ok(()) if modem.incarnation() == 3 => {
            JOURNAL.note("system: the supervisor stopped cleanly after 3 incarnations");
        }
        Ok(()) => JOURNAL.note("system: stopped cleanly, but not after 3 incarnations"),
        Err(errors) => {
            defmt::error!("unexpected result: {}", errors);
            JOURNAL.note("system: the supervisor failed");
        }
    }
    finish(&JOURNAL, &EXPECTED);
}

/// Notes whether the gaps between the attempts follow the backoff: at least 20 ms, then at
/// least 40 ms (timers never fire early; qemu may make them late).
fn check_backoff() {
    let at = |i: usize| ATTEMPT_AT[i].load(Ordering::Relaxed);
    let (first, second) = (at(1).saturating_sub(at(0)), at(2).saturating_sub(at(1)));
    defmt::info!("info: backoff observed: {=u32} ms, then {=u32} ms", first, second);
    if first >= 20 && second >= 40 && second > first {
        JOURNAL.note("modem: the backoff grew as configured");
    } else {
        JOURNAL.note("modem: the backoff is wrong");
    }
}
