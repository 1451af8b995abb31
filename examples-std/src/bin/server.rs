//! A tokio server: two loopback TCP services, an echo server and a health endpoint, as leaves of
//! one tree. Both start (each prints the address it listens on and reports ready), the tree runs
//! until SIGINT or SIGTERM, then stops gracefully: each service stops accepting, tells its open
//! connections to finish (an echo connection says `bye` and closes its side cleanly), and waits
//! for them, within a stop deadline that escalates to a forced stop.
//!
//! Needs the `tokio` feature of this package (`proc::main` then runs on a tokio runtime):
//! `cargo run -p procession-examples-std --features tokio --bin server`.
//!
//! Nothing is spawned: every connection runs inside its service's future
//! (`FuturesUnordered`), so stopping a service is waiting for one future.

use std::io;
use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::{Cause, Ctx, Runner, RunnerExt, parallel, proc};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The error type of the tree: any error, boxed (`procession` merges several into one).
type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long a service may take to close its connections after the stop, before it is forced.
const GRACEFUL: Duration = Duration::from_secs(2);
/// How long a forced service may take before its future is dropped.
const FORCED: Duration = Duration::from_secs(1);

/// Accepts connections on 127.0.0.1 (any free port) and runs `handle` for each, inside this
/// future, until the stop; then lets the open connections finish.
async fn serve<H>(name: &str, ctx: &Ctx<'_>, lc: &Lifecycle<'_>, handle: H) -> Result<(), Error>
where
    H: AsyncFn(TcpStream, &Ctx<'_>) -> io::Result<()>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{name}: listening on {}", listener.local_addr()?);
    lc.ready();
    // Cancelled to tell the open connections to finish; a child of `ctx`, so a forced stop
    // reaches them too.
    let closing = ctx.child();
    let mut connections = FuturesUnordered::new();
    let mut stop = pin!(lc.stop_requested());
    let mut tally = Tally::default();
    let how = loop {
        tokio::select! {
            how = &mut stop => break how,
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                connections.push(handle(stream, &closing));
            }
            Some(closed) = connections.next(), if !connections.is_empty() => tally.add(closed),
        }
    };
    drop(listener);
    closing.cancel_with(match how {
        Stop::Graceful => Cause::Shutdown,
        Stop::Forced(cause) => cause,
    });
    while let Some(closed) = connections.next().await {
        tally.add(closed);
    }
    println!("{name}: stopped, {} connection(s) closed cleanly, {} failed", tally.clean, tally.failed);
    Ok(())
}

#[derive(Default)]
struct Tally {
    clean: usize,
    failed: usize,
}

impl Tally {
    fn add(&mut self, closed: io::Result<()>) {
        match closed {
            Ok(()) => self.clean += 1,
            Err(_) => self.failed += 1,
        }
    }
}

/// Echoes every line until the client closes or the service stops; on the stop it writes
/// `bye` and shuts its side down.
async fn echo(stream: TcpStream, closing: &Ctx<'_>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) => write.write_all(format!("{line}\n").as_bytes()).await?,
                None => return Ok(()),
            },
            _ = closing.cancelled() => {
                write.write_all(b"bye\n").await?;
                return write.shutdown().await;
            }
        }
    }
}

/// Answers one HTTP request with `200 OK` and closes.
async fn health(stream: TcpStream, closing: &Ctx<'_>) -> io::Result<()> {
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

/// Runs both services until `shutdown` is cancelled, then stops them gracefully.
async fn serve_until(shutdown: &Ctx<'_>) -> Result<(), Error> {
    let deadline = |duration| move || tokio::time::sleep(duration);
    let echo = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| serve("echo", ctx, lc, echo).await)
        .with_stop_deadline(deadline(GRACEFUL), deadline(FORCED));
    let health = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| serve("health", ctx, lc, health).await)
        .with_stop_deadline(deadline(GRACEFUL), deadline(FORCED));
    // The tree runs under its own root: the shutdown signal makes the callback return, which is
    // the graceful stop; cancelling the tree's context would be the forced one.
    let root = Ctx::new();
    parallel((echo, health))
        .run(&root, async |_ctx: &Ctx<'_>| {
            println!("server: ready");
            let cause = shutdown.cancelled().await;
            println!("server: stopping ({cause})");
            Ok(())
        })
        .await
}

fn main() -> ExitCode {
    // The first SIGINT or SIGTERM cancels `shutdown` (the tree then stops gracefully); a second
    // one exits at once with 128 + the signal number.
    match proc::main(async |shutdown: &Ctx<'_>| serve_until(shutdown).await) {
        Ok(()) => {
            println!("server: stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("server: stopped with {error}");
            ExitCode::FAILURE
        }
    }
}
