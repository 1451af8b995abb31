//! `proc::serve`: a runner tree served until signals, with signals from a channel and
//! deadlines from gates or a `ManualClock`, so that every step is deterministic.
//!
//! Every tree is `chain((storage, app))`: `storage` starts first, so a stop in reverse order
//! stops `app` first. The parts write what they see into a channel, which the test reads in
//! order: reading a line is the synchronisation (nothing sleeps).
#![cfg(all(feature = "std", unix))]
#![allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]
#![allow(clippy::std_instead_of_core, reason = "the tests run on std")]

mod common;

use std::time::Duration;

use common::{block_on_within, yield_now};

use futures::StreamExt;
use futures::channel::mpsc;
use procession::proc::{Exit, ServeError, Signal, TaskError, into_runner, serve, task};
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::time::{Clock, ManualClock};
use procession::{Ctx, MultiError, Runner, chain, never};

/// Bound on the polls of every test: a broken stop fails the test instead of hanging it.
const POLLS: usize = 10_000;

type Error = MultiError<TaskError<&'static str>, 4>;
type Lines = mpsc::UnboundedReceiver<String>;

/// How a part reacts to its stop.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Stops on the graceful stop.
    Cooperates,
    /// Ignores the graceful stop; stops once its context is cancelled.
    IgnoresGraceful,
    /// Ignores every stop (and writes that it saw the forced one).
    Stubborn,
}

/// A part that writes `<name>: ready`, `<name>: <how it was asked to stop>` and
/// `<name>: stopped` into `log`.
fn part<'a>(name: &'static str, mode: Mode, log: &'a mpsc::UnboundedSender<String>) -> impl Runner<Error> + 'a {
    from_fn(async move |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        let say = |line: String| log.unbounded_send(line).expect("the test reads the log");
        lc.ready();
        say(format!("{name}: ready"));
        let stop = lc.stop_requested().await;
        say(format!("{name}: {}", describe(stop)));
        match (mode, stop) {
            (Mode::IgnoresGraceful, Stop::Graceful) => {
                let cause = ctx.cancelled().await;
                say(format!("{name}: forced ({cause})"));
            }
            (Mode::Stubborn, stop) => {
                if stop == Stop::Graceful {
                    let cause = ctx.cancelled().await;
                    say(format!("{name}: forced ({cause}), ignored"));
                }
                core::future::pending::<()>().await;
            }
            _ => {}
        }
        say(format!("{name}: stopped"));
        Ok(())
    })
}

fn describe(stop: Stop) -> String {
    match stop {
        Stop::Graceful => "graceful".into(),
        Stop::Forced(cause) => format!("forced ({cause})"),
    }
}

/// Reads the next line of the log (the parts write it in the same executor).
async fn next(lines: &mut Lines) -> String {
    lines.next().await.expect("a line")
}

/// Reads the next line of the part `name`, skipping the lines of the others.
async fn next_of(name: &str, lines: &mut Lines) -> String {
    loop {
        let line = next(lines).await;
        if line.starts_with(&format!("{name}: ")) {
            return line;
        }
    }
}

/// The lines of the log that are left.
fn rest(mut lines: Lines) -> Vec<String> {
    rest_now(&mut lines)
}

fn send(signals: &mpsc::UnboundedSender<Signal>, signal: Signal) {
    signals.unbounded_send(signal).expect("serve listens");
}

/// A gate used as a deadline: it passes once the test cancels it.
fn gate<'a>(ctx: &'a Ctx<'static>) -> impl FnOnce() -> core::pin::Pin<Box<dyn Future<Output = ()> + 'a>> + 'a {
    move || {
        Box::pin(async move {
            ctx.cancelled().await;
        })
    }
}

/// The first signal stops the tree gracefully, in reverse start order (app before storage),
/// and `serve` returns the tree's result.
#[test]
fn first_signal_stops_gracefully_in_reverse_order() {
    let (log, mut lines) = mpsc::unbounded();
    let (signals, source) = mpsc::unbounded();
    let tree = chain((part("storage", Mode::Cooperates, &log), part("app", Mode::Cooperates, &log)));
    let (result, ()) = block_on_within(
        POLLS,
        futures::future::join(serve(tree, source, never, never), async {
            assert_eq!(next(&mut lines).await, "storage: ready");
            assert_eq!(next(&mut lines).await, "app: ready");
            send(&signals, Signal::Interrupt);
        }),
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(rest(lines), ["app: graceful", "app: stopped", "storage: graceful", "storage: stopped"]);
}

/// The second signal forces the stop: the root context is cancelled with `Cause::Shutdown`,
/// and a part that ignored the graceful stop sees it.
#[test]
fn second_signal_forces_with_shutdown() {
    let (log, mut lines) = mpsc::unbounded();
    let (signals, source) = mpsc::unbounded();
    let tree = chain((part("storage", Mode::Cooperates, &log), part("app", Mode::IgnoresGraceful, &log)));
    let (result, ()) = block_on_within(
        POLLS,
        futures::future::join(serve(tree, source, never, never), async {
            assert_eq!(next(&mut lines).await, "storage: ready");
            assert_eq!(next(&mut lines).await, "app: ready");
            send(&signals, Signal::Terminate);
            assert_eq!(next(&mut lines).await, "app: graceful");
            send(&signals, Signal::Terminate);
        }),
    );
    assert!(result.is_ok(), "{result:?}");
    // The order of a forced stop between the parts is the chain's business: each part's own
    // lines are checked, in order.
    let rest = rest(lines);
    assert_eq!(lines_of("app", &rest), ["app: forced (shutdown)", "app: stopped"], "{rest:?}");
    assert_eq!(lines_of("storage", &rest).last().map(String::as_str), Some("storage: stopped"), "{rest:?}");
    assert_eq!(rest.len(), 4, "{rest:?}");
}

/// The lines of `rest` written by the part `name`.
fn lines_of(name: &str, rest: &[String]) -> Vec<String> {
    rest.iter().filter(|line| line.starts_with(&format!("{name}: "))).cloned().collect()
}

/// The third signal makes `serve` give up: it returns `Exited` naming the task still running,
/// and drops the tree.
#[test]
fn third_signal_exits_naming_what_still_runs() {
    let (log, mut lines) = mpsc::unbounded();
    let (signals, source) = mpsc::unbounded();
    let worker = into_runner(task("serve-test-stubborn-worker", async |_: &Ctx<'_>| -> Result<(), &'static str> {
        core::future::pending().await
    }));
    // The worker starts first, so the graceful stop reaches the app first (and stops there).
    let tree = chain((worker, part("storage", Mode::Cooperates, &log), part("app", Mode::Stubborn, &log)));
    let (result, ()) = block_on_within(
        POLLS,
        futures::future::join(serve(tree, source, never, never), async {
            assert_eq!(next(&mut lines).await, "storage: ready");
            assert_eq!(next(&mut lines).await, "app: ready");
            send(&signals, Signal::Interrupt);
            assert_eq!(next(&mut lines).await, "app: graceful");
            send(&signals, Signal::Interrupt);
            assert_eq!(next_of("app", &mut lines).await, "app: forced (shutdown), ignored");
            send(&signals, Signal::Terminate);
        }),
    );
    let Err(ServeError::Exited(exit)) = result else { panic!("serve gave up: {result:?}") };
    assert_eq!(exit.signal, Some(Signal::Terminate));
    assert!(exit.was_ready);
    assert_eq!(exit.status(), 143);
    // The registry of names is per program: other tests may run tasks at the same time.
    assert!(exit.still_running.contains(&"serve-test-stubborn-worker"), "{exit:?}");
    assert!(exit.to_string().starts_with(
        "SIGTERM after the forced stop: gave up on the tree, which did not return after its graceful and forced stops; still running: "
    ));
    assert!(exit.to_string().contains("serve-test-stubborn-worker"), "{exit}");
    // The app saw both stops and never returned.
    assert_eq!(lines_of("app", &rest(lines)), [""; 0]);
}

/// Without named tasks the report says what `serve` knows.
#[test]
fn exit_without_names_says_what_it_knows() {
    let exit = Exit { signal: None, was_ready: false, still_running: Vec::new() };
    assert_eq!(
        exit.to_string(),
        "the forced stop's deadline passed: gave up on the tree, which did not return after its forced stop \
         (while starting); no named task is running (name processes with proc::task to see them here)"
    );
    assert_eq!(exit.status(), 1);
}

/// Deadlines from gates: the graceful deadline forces the stop with `Cause::Deadline`, and the
/// forced deadline makes `serve` give up, without any further signal.
#[test]
fn deadlines_escalate_and_exit() {
    let (log, mut lines) = mpsc::unbounded();
    let (signals, source) = mpsc::unbounded();
    let graceful = Ctx::new();
    let forced = Ctx::new();
    let tree = chain((part("storage", Mode::Cooperates, &log), part("app", Mode::Stubborn, &log)));
    let (result, ()) = block_on_within(
        POLLS,
        futures::future::join(serve(tree, source, gate(&graceful), gate(&forced)), async {
            assert_eq!(next(&mut lines).await, "storage: ready");
            assert_eq!(next(&mut lines).await, "app: ready");
            send(&signals, Signal::Interrupt);
            assert_eq!(next(&mut lines).await, "app: graceful");
            graceful.cancel();
            assert_eq!(next_of("app", &mut lines).await, "app: forced (deadline), ignored");
            forced.cancel();
        }),
    );
    let Err(ServeError::Exited(exit)) = result else { panic!("serve gave up: {result:?}") };
    assert_eq!(exit.signal, None);
    assert!(exit.was_ready);
    assert!(lines_of("app", &rest(lines)).is_empty());
}

/// The graceful deadline on a `ManualClock`: it starts at the first signal, and when it passes
/// the tree is forced with `Cause::Deadline`; the tree then returns and `serve` returns `Ok`.
#[test]
fn graceful_deadline_on_a_manual_clock_forces_with_deadline() {
    let clock = ManualClock::<4>::with_capacity();
    let (log, mut lines) = mpsc::unbounded();
    let (signals, source) = mpsc::unbounded();
    let tree = chain((part("storage", Mode::Cooperates, &log), part("app", Mode::IgnoresGraceful, &log)));
    let graceful = || clock.sleep(Duration::from_secs(5));
    let (result, ()) = block_on_within(
        POLLS,
        futures::future::join(serve(tree, source, graceful, never), async {
            assert_eq!(next(&mut lines).await, "storage: ready");
            assert_eq!(next(&mut lines).await, "app: ready");
            assert_eq!(clock.sleeping(), 0, "no deadline runs before the first signal");
            send(&signals, Signal::Interrupt);
            assert_eq!(next(&mut lines).await, "app: graceful");
            clock.wait_sleeping(1).await;
            clock.advance(Duration::from_millis(4_999));
            // Short of the deadline nothing is forced: every part gets many polls to show it.
            for _ in 0..100 {
                yield_now().await;
            }
            assert!(rest_now(&mut lines).is_empty(), "forced before the deadline");
            clock.advance(Duration::from_millis(1));
        }),
    );
    assert!(result.is_ok(), "{result:?}");
    let rest = rest(lines);
    assert_eq!(lines_of("app", &rest), ["app: forced (deadline)", "app: stopped"], "{rest:?}");
    assert_eq!(lines_of("storage", &rest).last().map(String::as_str), Some("storage: stopped"), "{rest:?}");
}

fn rest_now(lines: &mut Lines) -> Vec<String> {
    let mut now = Vec::new();
    while let Ok(line) = lines.try_recv() {
        now.push(line);
    }
    now
}

/// A signal while the tree is still starting forces it at once (there is nothing to stop
/// gracefully yet); the next signal exits.
#[test]
fn signal_while_starting_forces_at_once() {
    let (signals, source) = mpsc::unbounded();
    let (log, mut lines) = mpsc::unbounded::<String>();
    let starting = from_fn(async |ctx: &Ctx<'_>, _lc: &Lifecycle<'_>| -> Result<(), Error> {
        log.unbounded_send("starting".into()).expect("read");
        let cause = ctx.cancelled().await;
        log.unbounded_send(format!("start cancelled ({cause})")).expect("read");
        Ok(())
    });
    let (result, ()) = block_on_within(
        POLLS,
        futures::future::join(serve(starting, source, never, never), async {
            assert_eq!(next(&mut lines).await, "starting");
            send(&signals, Signal::Interrupt);
        }),
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(rest(lines), ["start cancelled (shutdown)"]);

    let (signals, source) = mpsc::unbounded();
    let stuck =
        from_fn(async |_: &Ctx<'_>, _lc: &Lifecycle<'_>| -> Result<(), Error> { core::future::pending().await });
    send(&signals, Signal::Interrupt);
    send(&signals, Signal::Interrupt);
    let result = block_on_within(POLLS, serve(stuck, source, never, never));
    let Err(ServeError::Exited(exit)) = result else { panic!("serve gave up: {result:?}") };
    assert_eq!(exit.signal, Some(Signal::Interrupt));
    assert!(!exit.was_ready);
}

/// A tree that ends on its own makes `serve` return its result, without any signal; a closed
/// signal source is not a signal.
#[test]
fn a_tree_that_fails_returns_its_error() {
    let (signals, source) = mpsc::unbounded::<Signal>();
    drop(signals);
    let failing = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        lc.ready();
        Err(TaskError::new("db", "gone").into())
    });
    let result = block_on_within(POLLS, serve(failing, source, never, never));
    let Err(ServeError::Failed(error)) = result else { panic!("the tree's error: {result:?}") };
    assert_eq!(error.to_string(), "db: gone");
    assert_eq!(ServeError::Failed(error).to_string(), "db: gone");
}

/// The signals' names and numbers, for exit statuses and reports.
#[test]
fn signal_names_and_numbers() {
    assert_eq!((Signal::Interrupt.name(), Signal::Interrupt.number()), ("SIGINT", 2));
    assert_eq!((Signal::Terminate.to_string(), Signal::Terminate.number()), ("SIGTERM".to_string(), 15));
}

/// The future of `serve` is `Send` when the tree's and the source's parts are, so it can be
/// `tokio::spawn`ed.
#[test]
fn serve_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (_signals, source) = mpsc::unbounded::<Signal>();
    let tree = procession::leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> {
        ctx.cancelled().await;
        Ok(())
    });
    let served = serve(tree, source, never, never);
    assert_send(&served);
    static_assertions::assert_impl_all!(procession::proc::OsSignals: Send, Sync);
}

/// Inside a tokio runtime `main` does not panic: it runs the process on a runtime driven by a
/// helper thread, which runs what it spawns.
#[cfg(feature = "tokio")]
#[test]
#[cfg_attr(miri, ignore = "installs signal handlers (`sigaction`), which miri does not support")]
fn main_inside_a_tokio_runtime_runs_the_process() {
    let outer = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let result = outer.block_on(async {
        procession::proc::main(async |_: &Ctx<'_>| -> Result<(), &'static str> {
            let spawned = tokio::spawn(async { "spawned" }).await;
            Err(spawned.expect("the spawned task ran"))
        })
    });
    assert_eq!(result, Err("spawned"));
}
