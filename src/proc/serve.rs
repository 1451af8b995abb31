//! [`serve`] and [`serve_main`]: run a [`Runner`] tree until a signal, and stop it in three
//! escalating steps.

use crate::sync::{AtomicBool, Ordering};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::task::{Poll, Waker};
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use embassy_futures::select::{Either, select};

use super::main::{block_on, running};
use crate::ctx::{Cause, Ctx};
use crate::runner::Runner;

// === Signal ===

/// A signal that asks a program to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGINT` (number 2): Ctrl-C in a terminal.
    Interrupt,
    /// `SIGTERM` (number 15): what `kill`, systemd and container runtimes send.
    Terminate,
}

impl Signal {
    /// The signal's number on Unix (2 or 15); a program that exits because of it conventionally
    /// exits with status 128 + this number.
    pub const fn number(self) -> i32 {
        match self {
            Self::Interrupt => 2,
            Self::Terminate => 15,
        }
    }

    /// The signal's name, as `kill -l` spells it with the `SIG` prefix: `"SIGINT"`, `"SIGTERM"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    const fn from_number(number: i32) -> Option<Self> {
        match number {
            2 => Some(Self::Interrupt),
            15 => Some(Self::Terminate),
            _ => None,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// === Signals ===

/// Where [`serve`] gets its signals from: the operating system ([`OsSignals`]) or, in tests,
/// anything that yields [`Signal`]s.
///
/// Implemented for every `Stream<Item = Signal> + Unpin` (for example the receiver of a
/// `futures` channel), so a test sends signals through a channel instead of `kill`.
///
/// # Examples
///
/// ```
/// use procession::proc::{Signal, Signals};
///
/// let mut signals = futures::stream::iter([Signal::Terminate]);
/// assert_eq!(embassy_futures::block_on(signals.recv()), Some(Signal::Terminate));
/// assert_eq!(embassy_futures::block_on(signals.recv()), None);
/// ```
pub trait Signals {
    /// Waits for the next signal. `None` means that the source has ended and no signal will
    /// come any more: [`serve`] then waits only for the tree and for its deadlines.
    ///
    /// # Cancel safety
    ///
    /// Implementations must be cancel safe (a signal is never lost when the future is dropped
    /// before it completes): [`serve`] drops this future when the tree returns or a deadline
    /// passes. Both implementations of this crate are.
    #[allow(async_fn_in_trait, reason = "the future is Send whenever the source's parts are")]
    async fn recv(&mut self) -> Option<Signal>;
}

impl<S> Signals for S
where
    S: futures_util::Stream<Item = Signal> + Unpin + ?Sized,
{
    async fn recv(&mut self) -> Option<Signal> {
        futures_util::StreamExt::next(self).await
    }
}

// === OsSignals ===

/// The SIGINT and SIGTERM of the operating system, as a [`Signals`] source.
///
/// [`new`](Self::new) installs the handlers (with `signal-hook`) and starts one helper thread,
/// named `procession-signals`, that reads them and wakes the task waiting in
/// [`recv`](Signals::recv). It needs no runtime: it works under tokio, `futures::executor` or
/// any other executor, and a task that blocks its thread delays only the reaction, not the
/// reception.
///
/// While an `OsSignals` exists, SIGINT and SIGTERM no longer end the program by themselves:
/// they are queued for `recv`. Dropping it closes the source and joins the helper thread;
/// the handlers stay installed (signal-hook keeps them), so signals that arrive later are
/// ignored.
pub struct OsSignals {
    shared: Arc<Shared>,
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    signals: VecDeque<Signal>,
    closed: bool,
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, signal: Option<Signal>) {
        let waker = {
            let mut queue = self.lock();
            match signal {
                Some(signal) => queue.signals.push_back(signal),
                None => queue.closed = true,
            }
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl OsSignals {
    /// Installs the handlers of SIGINT and SIGTERM and starts the helper thread.
    ///
    /// # Errors
    ///
    /// The operating system's error if a handler cannot be installed or the thread cannot be
    /// started.
    pub fn new() -> io::Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};

        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let handle = signals.handle();
        let shared = Arc::new(Shared::default());
        let feed = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("procession-signals".into()).spawn(move || {
            for number in signals.forever() {
                if let Some(signal) = Signal::from_number(number) {
                    feed.push(Some(signal));
                }
            }
            feed.push(None);
        });
        match thread {
            Ok(thread) => Ok(Self { shared, handle, thread: Some(thread) }),
            Err(error) => {
                handle.close();
                Err(error)
            }
        }
    }
}

impl Signals for OsSignals {
    async fn recv(&mut self) -> Option<Signal> {
        core::future::poll_fn(|cx| {
            let mut queue = self.shared.lock();
            if let Some(signal) = queue.signals.pop_front() {
                return Poll::Ready(Some(signal));
            }
            if queue.closed {
                return Poll::Ready(None);
            }
            queue.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Drop for OsSignals {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            // `close` ends `forever` at once; the thread only returns.
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for OsSignals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsSignals").field("queued", &self.shared.lock().signals.len()).finish_non_exhaustive()
    }
}

// === ServeError, Exit ===

/// Why [`serve`], [`serve_main`] or [`main()`](super::main()) did not return `Ok`.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError<E> {
    /// The tree (or process) returned this error, after its stop or on its own.
    Failed(E),
    /// The tree did not return after its forced stop: [`serve`] gave up on it and dropped it
    /// (the hard stop). The [`Exit`] says why and what was still running.
    Exited(Exit),
    /// Setting up failed (signal handlers, runtime); nothing ran.
    Setup(io::Error),
}

impl<E: fmt::Display> fmt::Display for ServeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(error) => error.fmt(f),
            Self::Exited(exit) => exit.fmt(f),
            Self::Setup(error) => write!(f, "cannot set up signal handling: {error}"),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for ServeError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Failed(error) => Some(error),
            Self::Exited(_) => None,
            Self::Setup(error) => Some(error),
        }
    }
}

/// What [`serve`] knew when it gave up on a tree that ignored its forced stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The signal that made it give up, or `None` if the forced stop's deadline passed.
    pub signal: Option<Signal>,
    /// Whether the tree had become ready. `false`: the first signal came while it was still
    /// starting, so its first stop was already the forced one.
    pub was_ready: bool,
    /// The named [`task`](super::task)s of the program running at that moment, in the order
    /// they started (empty if the tree names none).
    pub still_running: Vec<&'static str>,
}

impl Exit {
    /// The exit status a program conventionally uses for this exit: 128 + the number of the
    /// signal that made it give up (130 for SIGINT, 143 for SIGTERM), or 1 when a deadline
    /// passed.
    pub const fn status(&self) -> u8 {
        match self.signal {
            Some(Signal::Interrupt) => 130,
            Some(Signal::Terminate) => 143,
            None => 1,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.signal {
            Some(signal) => write!(f, "{signal} after the forced stop")?,
            None => f.write_str("the forced stop's deadline passed")?,
        }
        let stops = if self.was_ready { "its graceful and forced stops" } else { "its forced stop (while starting)" };
        write!(f, ": gave up on the tree, which did not return after {stops}; ")?;
        if self.still_running.is_empty() {
            f.write_str("no named task is running (name processes with proc::task to see them here)")
        } else {
            write!(f, "still running: {}", self.still_running.join(", "))
        }
    }
}

// === serve ===

/// Runs a runner tree until it returns, and stops it in three steps on signals: the async
/// entry, for `#[tokio::main]` or any executor.
///
/// The tree runs under a root context of its own, inside this future (nothing is spawned).
/// Once it is ready, its callback waits. Then, on signals from `signals`:
///
/// 1. **first signal: graceful stop.** The tree's callback returns, so the tree stops in
///    reverse start order, each part with its context still live (it can flush and say
///    goodbye). `graceful()` is called and starts the deadline of this step.
/// 2. **second signal, or `graceful` passed: forced stop.** The root context is cancelled,
///    with [`Cause::Shutdown`] after a signal or [`Cause::Deadline`] after the deadline; every
///    part stops promptly, still running its shutdown code. `forced()` starts the deadline of
///    this step.
/// 3. **third signal, or `forced` passed: exit.** `serve` returns
///    [`ServeError::Exited`], naming the [`task`](super::task)s still running, and the tree's
///    future is dropped (the hard stop).
///
/// A signal that comes while the tree is still starting (before its callback runs) is a
/// forced stop at once, as there is nothing to stop gracefully yet; the next signal, or
/// `forced`, then exits.
///
/// Pass [`never`](crate::never) for a step without deadline: `serve(tree, signals, never,
/// never)` waits for signals only. A tree that ends on its own (it failed, or returned) makes
/// `serve` return its result at once, whatever step it is in.
///
/// This is the ordered stop of a program: stopping a tree "by hand" by cancelling its root
/// context from a signal handler skips step 1 and forces every part at once.
///
/// # Errors
///
/// - [`ServeError::Failed`]: the tree returned this error;
/// - [`ServeError::Exited`]: step 3 was reached and the tree dropped.
///
/// `serve` never returns [`ServeError::Setup`] (the signal source is set up by its caller).
///
/// # Cancel safety
///
/// Dropping the future drops the tree wherever it is (its hard stop) and the signal source's
/// pending `recv`.
///
/// # Examples
///
/// A test, with signals from a channel instead of the operating system:
///
/// ```
/// use futures::channel::mpsc;
/// use procession::{Ctx, MultiError, chain, leaf, never};
/// use procession::proc::{Signal, serve};
///
/// type Error = MultiError<&'static str, 2>;
/// let service = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> { ctx.cancelled().await; Ok(()) });
/// let (send, signals) = mpsc::unbounded();
/// send.unbounded_send(Signal::Terminate).unwrap(); // queued: it arrives once serve listens
///
/// let result = futures::executor::block_on(serve(chain((service,)), signals, never, never));
/// assert!(result.is_ok()); // stopped gracefully by the first signal
/// ```
///
/// A tokio server (see [`OsSignals`]):
///
/// ```no_run
/// # #[cfg(feature = "tokio")] {
/// use std::time::Duration;
/// use procession::{Ctx, MultiError, leaf};
/// use procession::proc::{OsSignals, serve};
///
/// type Error = MultiError<std::io::Error, 4>;
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     let service = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> { ctx.cancelled().await; Ok(()) });
///     let signals = OsSignals::new().expect("signal handlers");
///     let deadline = |duration| move || tokio::time::sleep(duration);
///     match serve(service, signals, deadline(Duration::from_secs(10)), deadline(Duration::from_secs(2))).await {
///         Ok(()) => std::process::ExitCode::SUCCESS,
///         Err(error) => {
///             eprintln!("{error}");
///             std::process::ExitCode::FAILURE
///         }
///     }
/// }
/// # }
/// ```
pub async fn serve<E, R, S, G, GF, F, FF>(
    runner: R,
    mut signals: S,
    graceful: G,
    forced: F,
) -> Result<(), ServeError<E>>
where
    R: Runner<E>,
    S: Signals,
    G: FnOnce() -> GF,
    GF: Future<Output = ()>,
    F: FnOnce() -> FF,
    FF: Future<Output = ()>,
{
    let _active = running::activate();
    let root = Ctx::new();
    // Cancelled to ask the graceful stop: the callback returns.
    let stop = Ctx::new();
    let ready = AtomicBool::new(false);
    let run = runner.run(&root, async |inner: &Ctx<'_>| {
        ready.store(true, Ordering::SeqCst);
        select(stop.cancelled(), inner.cancelled()).await;
        Ok(())
    });
    let watch = async {
        let _first = recv_or_never(&mut signals).await;
        let was_ready = ready.load(Ordering::SeqCst);
        if was_ready {
            stop.cancel_with(Cause::Shutdown);
            let cause = match select(recv_or_never(&mut signals), graceful()).await {
                Either::First(_second) => Cause::Shutdown,
                Either::Second(()) => Cause::Deadline,
            };
            root.cancel_with(cause);
        } else {
            root.cancel_with(Cause::Shutdown);
        }
        let signal = match select(recv_or_never(&mut signals), forced()).await {
            Either::First(signal) => Some(signal),
            Either::Second(()) => None,
        };
        // Read while the tree still runs: dropping it ends its tasks.
        Exit { signal, was_ready, still_running: running::names() }
    };
    // The tree first: when it returns in the poll that gives up on it, its result wins.
    match select(run, watch).await {
        Either::First(result) => result.map_err(ServeError::Failed),
        Either::Second(exit) => Err(ServeError::Exited(exit)),
    }
}

/// The next signal; never completes once the source has ended.
async fn recv_or_never<S: Signals>(signals: &mut S) -> Signal {
    match signals.recv().await {
        Some(signal) => signal,
        None => core::future::pending().await,
    }
}

/// Runs a runner tree as the main purpose of a program until it returns, stopped in three
/// steps by SIGINT and SIGTERM: the blocking entry, for `fn main`.
///
/// This is [`serve`] with [`OsSignals`], on an executor of its own:
///
/// - with feature `tokio`: a multi-threaded tokio runtime (time and I/O drivers enabled). The
///   tree runs on the calling thread, so it need not be `Send`; what it `tokio::spawn`s runs
///   on the worker threads, one per core. The deadlines may use `tokio::time::sleep`.
///   Called from inside a tokio runtime (where a runtime cannot block), it does not panic: it
///   starts a second runtime with one worker thread, which drives the tree's timers and
///   sockets, and blocks the calling thread on the tree (the tasks of the outer runtime on
///   that thread wait meanwhile). Inside a runtime, prefer awaiting [`serve`];
/// - otherwise: `futures::executor::block_on` on the calling thread.
///
/// It returns instead of exiting the program, so that destructors run and the caller chooses
/// the exit status ([`Exit::status`] gives the conventional one).
///
/// # Errors
///
/// - [`ServeError::Setup`]: the signal handlers or the runtime could not be set up; the tree
///   has not run;
/// - [`ServeError::Failed`], [`ServeError::Exited`]: as [`serve`].
///
/// # Examples
///
/// ```no_run
/// use procession::{Ctx, MultiError, leaf, never};
/// use procession::proc::serve_main;
///
/// type Error = MultiError<std::io::Error, 4>;
///
/// fn main() -> std::process::ExitCode {
///     let service = leaf(async |ctx: &Ctx<'_>| -> Result<(), Error> { ctx.cancelled().await; Ok(()) });
///     match serve_main(service, never, never) {
///         Ok(()) => std::process::ExitCode::SUCCESS,
///         Err(error) => {
///             eprintln!("{error}");
///             std::process::ExitCode::FAILURE
///         }
///     }
/// }
/// ```
pub fn serve_main<E, R, G, GF, F, FF>(runner: R, graceful: G, forced: F) -> Result<(), ServeError<E>>
where
    R: Runner<E>,
    G: FnOnce() -> GF,
    GF: Future<Output = ()>,
    F: FnOnce() -> FF,
    FF: Future<Output = ()>,
{
    let signals = OsSignals::new().map_err(ServeError::Setup)?;
    block_on(serve(runner, signals, graceful, forced)).map_err(ServeError::Setup)?
}
