//! [`main()`]: runs a process as the main purpose of a program, with signal handling.

use std::io;

use super::Proc;
use crate::ctx::{Cause, Ctx};

/// Runs a process as the main purpose of a program, on the current thread, until it returns;
/// SIGINT or SIGTERM cancels it. Returns what the process returned.
///
/// The process gets a root context. The first SIGINT or SIGTERM cancels it with
/// [`Cause::Shutdown`], and `main` keeps waiting until the process returns, so a process
/// should end cleanly but promptly when cancelled. A **second** signal while it is shutting
/// down exits the program at once with status **128 + the signal number** (130 for SIGINT,
/// 143 for SIGTERM, the shell's convention for "killed by that signal"), after writing to
/// stderr which [`task`](super::task)s are still running: those ignored the cancellation.
/// That exit is `std::process::exit`: no destructor of the running process runs.
///
/// A process has one stop only (its cancellation). For a [`Runner`](crate::Runner) tree, with
/// its graceful stop in reverse order, a forced stop and deadlines, use [`serve_main`] (or
/// [`serve`] inside an async `main`).
///
/// The executor and the signal source:
///
/// - with feature `tokio`: a tokio current-thread runtime (time and I/O drivers enabled, so
///   the process can use tokio's timers and sockets), and `tokio::signal::unix`. The second
///   signal is seen when the runtime polls, so a process that blocks the thread (rather than
///   awaiting) delays it. Called from inside a tokio runtime (where a runtime cannot block),
///   `main` does not panic: the runtime is driven by a helper thread (`procession-runtime`:
///   the process's timers, sockets and spawned tasks run there) while the calling thread
///   blocks on the process; the outer runtime's tasks on that thread wait meanwhile;
/// - otherwise: `futures::executor::block_on` on the current thread, and `signal-hook`, read by
///   one helper thread (named `procession-signals`, for both signals) that cancels the
///   context and, on the second signal, exits; it works even if the process blocks the thread.
///
/// Signal handlers stay installed after `main` returns (both tokio and signal-hook keep them);
/// signals that arrive then are ignored.
///
/// # Panics
///
/// If the signal handlers cannot be installed or the runtime cannot be built (an I/O error
/// from the operating system). [`try_main`] returns that error instead.
///
/// [`serve`]: super::serve
/// [`serve_main`]: super::serve_main
///
/// # Examples
///
/// ```no_run
/// use procession::Ctx;
/// use procession::proc::{self, TaskError, task};
///
/// fn main() -> std::process::ExitCode {
///     let server = task("server", async |ctx: &Ctx<'_>| -> Result<(), std::io::Error> {
///         // serve until Ctrl-C
///         ctx.cancelled().await;
///         Ok(())
///     });
///     let result: Result<(), TaskError<std::io::Error>> = proc::main(server);
///     match result {
///         Ok(()) => std::process::ExitCode::SUCCESS,
///         Err(error) => {
///             eprintln!("{error}");
///             std::process::ExitCode::FAILURE
///         }
///     }
/// }
/// ```
///
/// [`Cause::Shutdown`]: crate::Cause::Shutdown
pub fn main<E, P: Proc<E>>(process: P) -> Result<(), E> {
    match try_main(process) {
        Ok(result) => result,
        Err(error) => panic!("procession::proc::main: cannot set up signal handling: {error}"),
    }
}

/// As [`main()`], but returns an error if the signal handlers cannot be installed or the
/// runtime cannot be built; the process has not run then.
///
/// # Errors
///
/// - `Err(io_error)`: setting up failed, nothing ran;
/// - `Ok(result)`: the process ran, and `result` is what it returned.
pub fn try_main<E, P: Proc<E>>(process: P) -> io::Result<Result<(), E>> {
    let ctx = Ctx::new();
    let _active = running::activate();
    run(&process, &ctx)
}

/// Exits at once on a second signal, reporting what is still running.
fn exit_on_second(signal: i32) -> ! {
    let name = match signal {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "signal",
    };
    let status = 128 + signal;
    let still = running::names();
    if still.is_empty() {
        std::eprintln!(
            "procession: second {name} during shutdown: exiting with status {status}; \
             the process ignored cancellation (no named task is running)"
        );
    } else {
        std::eprintln!(
            "procession: second {name} during shutdown: exiting with status {status}; \
             tasks still running (they ignored cancellation): {}",
            still.join(", ")
        );
    }
    std::process::exit(status)
}

#[cfg(feature = "tokio")]
fn run<E, P: Proc<E>>(process: &P, ctx: &Ctx<'_>) -> io::Result<Result<(), E>> {
    use embassy_futures::select::{Either, select};
    use tokio::signal::unix::{SignalKind, signal};

    block_on(async {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut next_signal = async || match select(interrupt.recv(), terminate.recv()).await {
            Either::First(_) => 2,
            Either::Second(_) => 15,
        };
        let watch = async {
            next_signal().await;
            ctx.cancel_with(Cause::Shutdown);
            let signal: i32 = next_signal().await;
            exit_on_second(signal)
        };
        Ok(match select(process.run(ctx), watch).await {
            Either::First(result) => result,
            Either::Second(never) => never,
        })
    })?
}

/// Runs `future` to completion on the calling thread, on a tokio current-thread runtime of its
/// own (time and I/O drivers enabled).
///
/// Inside a tokio runtime, where `Runtime::block_on` panics, the runtime is driven by a helper
/// thread (named `procession-runtime`; its timers, sockets and spawned tasks run there) while
/// the calling thread, inside the runtime's context, blocks on `future` with
/// `futures::executor::block_on`.
#[cfg(feature = "tokio")]
pub(crate) fn block_on<T>(future: impl core::future::Future<Output = T>) -> io::Result<T> {
    use tokio::runtime::{Builder, Handle};

    let runtime = Builder::new_current_thread().enable_all().build()?;
    if Handle::try_current().is_err() {
        return Ok(runtime.block_on(future));
    }
    let done = Ctx::new();
    let output = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("procession-runtime".into())
            .spawn_scoped(scope, || runtime.block_on(done.cancelled()))?;
        // Ends the helper thread also if `future` panics (the scope joins it).
        let _finish = Finish(&done);
        let _entered = runtime.enter();
        Ok::<_, io::Error>(futures_executor::block_on(future))
    })?;
    // Dropping a runtime blocks, which the outer runtime forbids; this does not.
    runtime.shutdown_background();
    Ok(output)
}

/// Cancels its context when dropped.
#[cfg(feature = "tokio")]
struct Finish<'a>(&'a Ctx<'static>);

#[cfg(feature = "tokio")]
impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs `future` to completion on the calling thread (`futures::executor::block_on`).
#[cfg(not(feature = "tokio"))]
#[allow(clippy::unnecessary_wraps, reason = "the same signature as with feature tokio")]
pub(crate) fn block_on<T>(future: impl core::future::Future<Output = T>) -> io::Result<T> {
    Ok(futures_executor::block_on(future))
}

#[cfg(not(feature = "tokio"))]
fn run<E, P: Proc<E>>(process: &P, ctx: &Ctx<'_>) -> io::Result<Result<(), E>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let handle = signals.handle();
    std::thread::scope(|scope| {
        std::thread::Builder::new().name("procession-signals".into()).spawn_scoped(scope, || {
            let mut received = 0_u32;
            for signal in signals.forever() {
                received += 1;
                if received == 1 {
                    ctx.cancel_with(Cause::Shutdown);
                } else {
                    exit_on_second(signal);
                }
            }
        })?;
        let result = futures_executor::block_on(process.run(ctx));
        // Ends `forever` and so the helper thread, which the scope then joins.
        handle.close();
        Ok(result)
    })
}

/// The names of the [`task`](super::task)s running while [`main()`] runs, for the report of a
/// second signal.
pub(crate) mod running {
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Mutex, MutexGuard, PoisonError};

    /// How many `main` calls are running; tasks are listed only while one is.
    static ACTIVE: AtomicUsize = AtomicUsize::new(0);
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    static TASKS: Mutex<Vec<(u64, &'static str)>> = Mutex::new(Vec::new());

    fn tasks() -> MutexGuard<'static, Vec<(u64, &'static str)>> {
        TASKS.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a `main` as running until the guard is dropped.
    pub(crate) fn activate() -> Active {
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        Active(())
    }

    /// See [`activate`].
    #[derive(Debug)]
    pub(crate) struct Active(());

    impl Drop for Active {
        fn drop(&mut self) {
            ACTIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Lists the task `name` as running until the guard is dropped (if a `main` runs).
    pub(crate) fn enter(name: &'static str) -> Running {
        if ACTIVE.load(Ordering::SeqCst) == 0 {
            return Running(None);
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        tasks().push((id, name));
        Running(Some(id))
    }

    /// See [`enter`].
    #[derive(Debug)]
    pub(crate) struct Running(Option<u64>);

    impl Drop for Running {
        fn drop(&mut self) {
            if let Some(id) = self.0 {
                tasks().retain(|&(other, _)| other != id);
            }
        }
    }

    /// The names of the running tasks, in the order they started.
    pub(crate) fn names() -> Vec<&'static str> {
        tasks().iter().map(|&(_, name)| name).collect()
    }
}
