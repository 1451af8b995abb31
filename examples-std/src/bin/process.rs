//! A [`Process`]: one run of a runner, driven in one place and started and stopped from
//! another.
//!
//! `RADIO` is a `static` process. The main thread polls its driver with
//! `futures::executor::block_on`; a controller thread starts the radio (waiting until it is
//! ready, within a start deadline), lets it run, and stops it gracefully within a stop
//! deadline (then forced within a second one). The lines show the states the process passes
//! through: initial, starting, running, stopped. A process is single-use: starting it again
//! after the stop is an invalid-state error.
//!
//! The deadlines are sleeps on a [`StdClock`]; the radio is quick, so none of them passes.

use std::thread;
use std::time::Duration;

use futures::executor::block_on;
use procession::process::{self, Process};
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::time::{Clock, StdClock};
use procession::{Ctx, MultiError};

/// The radio's error type (it never fails here).
type Error = MultiError<&'static str, 2>;

/// The radio: any thread may start and stop it, one thread drives it.
static RADIO: Process<Error> = Process::new();

fn main() {
    println!("main: radio {}", RADIO.state());
    let controller = thread::spawn(control);

    let radio = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        println!("radio: powering up ({})", RADIO.state());
        lc.ready();
        let how = lc.stop_requested().await;
        // Still running: the process is stopped once this returns.
        println!("radio: powering down, {} ({})", describe(how), RADIO.state());
        Ok(())
    });
    let root = Ctx::new();
    // The driver runs the radio once it is started, until it has stopped.
    let driven = block_on(RADIO.drive(&root, &radio));
    controller.join().expect("the controller does not panic");
    println!("main: driver returned {}, radio {}", outcome(driven), RADIO.state());
}

/// The controller thread: start, let run, stop, and try to start again.
fn control() {
    let clock = StdClock::new();
    let secs = Duration::from_secs;

    println!("controller: starting the radio, ready within 5 s");
    let started = block_on(RADIO.start(|| clock.sleep(secs(5)), || clock.sleep(secs(1))));
    println!("controller: start returned {}, radio {}", outcome(started), RADIO.state());

    block_on(clock.sleep(Duration::from_millis(10)));
    println!("controller: stopping the radio, graceful within 5 s, then forced within 1 s");
    let stopped = block_on(RADIO.stop(|| clock.sleep(secs(5)), || clock.sleep(secs(1))));
    println!("controller: stop returned {}, radio {}", outcome(stopped), RADIO.state());

    let again = block_on(RADIO.start(|| clock.sleep(secs(5)), || clock.sleep(secs(1))));
    println!("controller: starting again returned {}", outcome(again));
}

fn outcome(result: Result<(), process::Error<Error>>) -> String {
    match result {
        Ok(()) => "ok".to_string(),
        Err(error) => format!("error: {error}"),
    }
}

fn describe(how: Stop) -> &'static str {
    match how {
        Stop::Graceful => "graceful",
        Stop::Forced(_) => "forced",
    }
}
