//! A tokio server on every core: two loopback TCP services, an echo server and a health
//! endpoint, as one tree served until signals with `proc::serve`.
//!
//! Both services start (each prints the address it listens on and reports ready), then the
//! tree prints `server: ready`. Each accepted connection is `tokio::spawn`ed onto the worker
//! threads of the multi-threaded runtime; its service keeps it in a `JoinSet`, so that it can
//! wait for it on the stop, and so that dropping the service (the hard stop) aborts it.
//!
//! `proc::serve` stops the tree in three steps:
//!
//! 1. first SIGINT or SIGTERM: the graceful stop, in reverse order: `server: stopping`, then
//!    each service stops accepting, tells its open connections to finish (an echo connection
//!    says `bye`, closes its side, and reads until the client closes; a health connection
//!    answers or closes) and waits for them, within its own stop deadline;
//! 2. second signal, or `STOP_GRACEFUL` passed: the forced stop (the services abort their
//!    connections);
//! 3. third signal, or `STOP_FORCED` passed: `serve` gives up and names what still runs.
//!
//! `cargo run -p procession-examples-std --bin server`

use std::collections::HashSet;
use std::io;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::{self, ThreadId};
use std::time::Duration;

use procession::proc::{self, OsSignals, ServeError};
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::{Ctx, RunnerExt, chain, parallel, start_stop};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinError, JoinSet};

/// The error type of the tree: any error, boxed (`procession` merges several into one).
type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long a service may take to close its connections after the stop, before it is forced.
const GRACEFUL: Duration = Duration::from_secs(5);
/// How long a forced service may take before its future is dropped.
const FORCED: Duration = Duration::from_secs(1);
/// How long the whole tree may take to stop gracefully before `serve` forces it.
const STOP_GRACEFUL: Duration = Duration::from_secs(10);
/// How long the forced tree may take before `serve` gives up on it.
const STOP_FORCED: Duration = Duration::from_secs(2);

/// Accepts connections on 127.0.0.1 (any free port) and spawns `handle` for each onto the
/// runtime's worker threads, until the stop; then lets the open connections finish.
async fn service<H, C>(name: &str, ctx: &Ctx<'_>, lc: &Lifecycle<'_>, handle: H) -> Result<(), Error>
where
    H: Fn(TcpStream, Arc<Ctx<'static>>) -> C,
    C: Future<Output = io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{name}: listening on {}", listener.local_addr()?);
    lc.ready();
    // Cancelled to tell the open connections to finish. A spawned task outlives any borrow,
    // so it gets a root context of its own, shared through an `Arc`.
    let closing = Arc::new(Ctx::new());
    let mut connections = JoinSet::new();
    let mut stop = pin!(lc.stop_requested());
    let mut tally = Tally::default();
    let how = loop {
        tokio::select! {
            how = &mut stop => break how,
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let connection = handle(stream, Arc::clone(&closing));
                connections.spawn(async move { (thread::current().id(), connection.await) });
            }
            Some(closed) = connections.join_next(), if !connections.is_empty() => tally.add(closed),
        }
    };
    drop(listener);
    match how {
        Stop::Graceful => {
            closing.cancel_with(procession::Cause::Shutdown);
            // A forced stop while the connections finish aborts them.
            let mut forced = pin!(ctx.cancelled());
            loop {
                tokio::select! {
                    closed = connections.join_next() => match closed {
                        Some(closed) => tally.add(closed),
                        None => break,
                    },
                    _ = &mut forced => connections.abort_all(),
                }
            }
        }
        Stop::Forced(_) => {
            connections.abort_all();
            while let Some(closed) = connections.join_next().await {
                tally.add(closed);
            }
        }
    }
    println!(
        "{name}: stopped, {} connection(s) closed cleanly, {} failed, on {} worker thread(s)",
        tally.clean,
        tally.failed,
        tally.threads.len()
    );
    Ok(())
}

/// What the connections of a service came to, and which threads ran them.
#[derive(Default)]
struct Tally {
    clean: usize,
    failed: usize,
    threads: HashSet<ThreadId>,
}

impl Tally {
    fn add(&mut self, closed: Result<(ThreadId, io::Result<()>), JoinError>) {
        match closed {
            Ok((thread, result)) => {
                self.threads.insert(thread);
                match result {
                    Ok(()) => self.clean += 1,
                    Err(_) => self.failed += 1,
                }
            }
            // Aborted by a forced stop, or panicked.
            Err(_) => self.failed += 1,
        }
    }
}

/// Echoes every line until the client closes or the service stops. On the stop it writes
/// `bye`, shuts its side down, and reads what the client still sends until the client closes:
/// closing a socket with unread data would reset the connection and could lose the `bye`.
async fn echo(stream: TcpStream, closing: Arc<Ctx<'static>>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    loop {
        tokio::select! {
            // `next_line` is cancel safe: a line half read stays in the buffer.
            line = lines.next_line() => match line? {
                Some(line) => write.write_all(format!("{line}\n").as_bytes()).await?,
                None => return Ok(()),
            },
            _ = closing.cancelled() => break,
        }
    }
    write.write_all(b"bye\n").await?;
    write.shutdown().await?;
    while lines.next_line().await?.is_some() {}
    Ok(())
}

/// Answers one HTTP request with `200 OK` and closes.
async fn health(stream: TcpStream, closing: Arc<Ctx<'static>>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let request_read = async {
        while let Some(line) = lines.next_line().await? {
            if line.is_empty() {
                return Ok(true);
            }
        }
        Ok::<_, io::Error>(false)
    };
    let complete = tokio::select! {
        complete = request_read => complete?,
        _ = closing.cancelled() => false,
    };
    if complete {
        write.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n").await?;
    }
    write.shutdown().await
}

#[tokio::main]
async fn main() -> ExitCode {
    let signals = match OsSignals::new() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("server: cannot handle signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = |duration| move || tokio::time::sleep(duration);
    let echo = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| service("echo", ctx, lc, echo).await)
        .with_stop_deadline(deadline(GRACEFUL), deadline(FORCED));
    let health = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| service("health", ctx, lc, health).await)
        .with_stop_deadline(deadline(GRACEFUL), deadline(FORCED));
    // Started last, so stopped first: it says when the whole tree is up and when it stops.
    let announce = start_stop(
        async |_: &Ctx<'_>| -> Result<(), Error> {
            println!("server: ready");
            Ok(())
        },
        async |_: &Ctx<'_>| -> Result<(), Error> {
            println!("server: stopping");
            Ok(())
        },
    );
    let tree = chain((parallel((echo, health)), announce));
    match proc::serve(tree, signals, deadline(STOP_GRACEFUL), deadline(STOP_FORCED)).await {
        Ok(()) => {
            println!("server: stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(ServeError::Exited(exit)) => {
            println!("server: {exit}");
            ExitCode::from(exit.status())
        }
        Err(error) => {
            println!("server: stopped with {error}");
            ExitCode::FAILURE
        }
    }
}
