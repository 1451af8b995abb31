//! Loom models of [`Process`]: start, stop, done and a dropped driver racing from threads
//! (issue 15, loom item 3), with one waker slot so that a second waiter spills (item 2).
#![cfg(loom)]

use std::sync::Arc;

use embassy_futures::join::join;
use loom::thread;
use procession::process::{Error, Process, State};
use procession::{Ctx, MultiError, leaf, never};
use procession_loom::{block_on_counting, model, poll_once_and_drop};

type E = MultiError<&'static str, 2>;
/// One waker slot: a second task waiting at once goes to the spill table.
type P = Process<E, 1>;

/// Runs `process` with a runner that is ready at once and serves until its context is
/// cancelled.
async fn drive(process: &P) -> Result<(), Error<E>> {
    let runner = leaf(async |ctx: &Ctx<'_>| -> Result<(), E> {
        ctx.cancelled().await;
        Ok(())
    });
    let root = Ctx::new();
    process.drive(&root, &runner).await
}

/// Two starts race each other and a stop, with the driver on a third thread: exactly one
/// start is taken (the other is `InvalidState`); the thread that waits for `done` sees
/// `Stopped` when it completes; at the end state and done agree. The waits share the
/// process's observer list, woken at each change of state (ready, the stop request, the end),
/// so a wait is woken at most three times: once per change, never in a loop.
#[test]
fn two_starts_and_a_stop_race_with_the_driver() {
    model("process: two starts and a stop race the driver", 1, || {
        let process = Arc::new(P::new());
        let driver = {
            let process = process.clone();
            thread::spawn(move || block_on_counting(drive(&process)).0)
        };
        let other = {
            let process = process.clone();
            thread::spawn(move || {
                let (started, wakes) = block_on_counting(process.start(never, never));
                assert!(wakes <= 3, "a start was woken {wakes} times");
                let ((), wakes) = block_on_counting(process.done());
                assert!(wakes <= 3, "done was woken {wakes} times");
                assert_eq!(process.state(), State::Stopped, "done completed before Stopped");
                started
            })
        };
        let (started, _) = block_on_counting(process.start(never, never));
        let (stopped, _) = block_on_counting(process.stop(never, never));
        assert_eq!(process.state(), State::Stopped);
        assert!(process.is_done());
        let other_started = other.join().unwrap();
        let taken = [&started, &other_started].iter().filter(|r| !matches!(r, Err(Error::InvalidState(_)))).count();
        assert_eq!(taken, 1, "starts: {started:?}, {other_started:?}");
        assert!(stopped.is_ok(), "{stopped:?}");
        assert_eq!(driver.join().unwrap(), Ok(()));
        assert_eq!(process.state(), State::Stopped);
        assert!(process.is_done());
    });
}

/// A driver polled once and dropped races a start: dropped before the start it only detaches
/// (a second driver then runs the process and a stop ends it), dropped during the run it
/// leaves the process `Stopped` with `DriverGone` (a start that saw it ready first reports
/// `Ok`; a stop reports `DriverGone` or finds it `Stopped`; a stop that came first leaves the
/// start `InvalidState`). Either way the start ends, the
/// process ends `Stopped` and done agrees.
#[test]
fn a_dropped_driver_races_a_start() {
    model("process: a driver dropped while a start races", 2, || {
        let process = Arc::new(P::new());
        let first = {
            let process = process.clone();
            thread::spawn(move || poll_once_and_drop(drive(&process)))
        };
        let starter = {
            let process = process.clone();
            thread::spawn(move || block_on_counting(process.start(never, never)).0)
        };
        first.join().unwrap();
        let ((driven, stopped), _) = block_on_counting(join(drive(&process), process.stop(never, never)));
        assert_eq!(driven, Ok(()));
        let started = starter.join().unwrap();
        assert!(
            matches!(
                started,
                Ok(()) | Err(Error::DriverGone | Error::StoppedBeforeReady | Error::InvalidState(State::Stopped))
            ),
            "start {started:?}, stop {stopped:?}"
        );
        assert!(
            matches!(stopped, Ok(()) | Err(Error::DriverGone | Error::InvalidState(State::Stopped))),
            "start {started:?}, stop {stopped:?}"
        );
        assert_eq!(process.state(), State::Stopped);
        assert!(process.is_done());
    });
}
