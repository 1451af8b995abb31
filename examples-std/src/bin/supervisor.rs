//! Restart supervision: a worker that fails twice is restarted with an exponential backoff,
//! then runs until the app is done.
//!
//! The [`Supervisor`] runs the worker under a [`Retry`] executor whose delays double
//! ([`Exp2`]: 200 ms, then 400 ms; at most 5 restarts). Each attempt is one incarnation of the
//! worker. The app callback runs once an incarnation is ready (as every runner's callback
//! does); when it returns, the supervisor stops the worker gracefully and returns.
//!
//! The backoff sleeps on a [`ManualClock`], which the `time` future moves to the end of each
//! sleep as soon as the supervisor backs off: the example takes no real time and prints the
//! same lines every time. A real program passes a `StdClock` (or a `TokioClock`) instead.

use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::executor::block_on;
use futures::future::{Either, select};
use procession::retry::{BackoffExt, Exp2, Retry};
use procession::runner::{Lifecycle, from_fn};
use procession::supervisor::{self, Supervisor};
use procession::time::ManualClock;
use procession::{Ctx, MultiError, Runner};

/// A failure in the supervised tree.
#[derive(Debug)]
enum Failure {
    /// The worker could not connect.
    LinkDown,
    /// The supervisor's own error (it has none here).
    Supervisor(supervisor::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LinkDown => f.write_str("link down"),
            Self::Supervisor(error) => error.fmt(f),
        }
    }
}

impl From<supervisor::Error> for Failure {
    fn from(error: supervisor::Error) -> Self {
        Self::Supervisor(error)
    }
}

/// The tree's error type: the supervisor keeps every failure it meets, up to four.
type Error = MultiError<Failure, 4>;

fn main() {
    let attempts = AtomicU32::new(0);
    let worker = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if attempt <= 2 {
            println!("worker: attempt {attempt}: link down");
            return Err(MultiError::from_error(Failure::LinkDown));
        }
        println!("worker: attempt {attempt}: connected");
        lc.ready();
        lc.stop_requested().await;
        println!("worker: disconnecting");
        Ok(())
    });

    let clock: ManualClock = ManualClock::new();
    let backoff = Exp2::new(Duration::from_millis(100)).limit(5);
    let sup = Supervisor::new(worker, Retry::new(backoff, &clock));
    let root = Ctx::new();
    let run = pin!(sup.run(&root, async |_ctx: &Ctx<'_>| {
        println!("app: worker ready (incarnation {}, state {:?}), syncing", sup.incarnation(), sup.state());
        println!("app: done");
        Ok(())
    }));
    // Stands for the passing of time: ends each backoff sleep at once.
    let time = pin!(async {
        loop {
            clock.wait_sleeping(1).await;
            let (incarnation, state) = (sup.incarnation(), sup.state());
            let from = clock.now();
            let to = clock.next().expect("the supervisor sleeps");
            let backoff = (to - from).as_millis();
            println!("time: incarnation {incarnation} failed, state {state:?}; {backoff} ms of backoff pass");
        }
    });
    // `time` never ends (its output is `!`), so the run decides when this returns.
    let Either::Left((result, _)) = block_on(select(run, time));

    match result {
        Ok(()) => println!("main: supervisor returned ok"),
        Err(error) => println!("main: supervisor returned {error}"),
    }
    println!(
        "main: {} incarnations, state {:?}, {} ms of backoff",
        sup.incarnation(),
        sup.state(),
        clock.now().elapsed().as_millis()
    );
}
