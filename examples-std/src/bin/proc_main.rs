//! `proc::main` in a program: a web server and a worker as named tasks in a group, stopped by
//! SIGINT or SIGTERM.
//!
//! ```sh
//! cargo run -p procession-examples-std --bin proc_main            # Ctrl-C stops it cleanly
//! cargo run -p procession-examples-std --bin proc_main stubborn   # one task ignores Ctrl-C:
//!                                                                 # press it twice (status 130)
//! cargo run -p procession-examples-std --bin proc_main fail       # the worker fails (status 1)
//! cargo run -p procession-examples-std --bin proc_main err-on-cancel  # Ctrl-C: the worker's
//!                                                                     # error is returned (status 1)
//! cargo run -p procession-examples-std --bin proc_main tree           # a runner tree served by
//!                                                                     # `proc::serve_main`
//! cargo run -p procession-examples-std --bin proc_main tree-stubborn  # its app ignores every stop:
//!                                                                     # Ctrl-C three times (status 130)
//! ```
//!
//! It prints `ready` once both tasks run. Without the `tokio` feature of this package it runs
//! on `futures::executor` with `signal-hook`; with it, on a tokio current-thread runtime.
//!
//! The `tree` modes serve `chain((worker, app))` with `proc::serve_main`: the first signal
//! stops it gracefully in reverse order (the app, then the worker), the second forces it, the
//! third gives up and names the task still running.

use std::process::ExitCode;

use procession::proc::{self, ServeError, TaskError, concurrent_group, into_runner, task};
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::{Ctx, chain, never};

/// The failure of one process.
#[derive(Debug)]
struct Failed(&'static str);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Failed {}

/// The error of the whole program: a named task failed.
type Error = procession::MultiError<TaskError<Failed>, 4>;

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode.starts_with("tree") {
        return tree(mode == "tree-stubborn");
    }
    let web = task("web", async |ctx: &Ctx<'_>| -> Result<(), Failed> {
        println!("web: serving");
        let cause = ctx.cancelled().await;
        println!("web: stopping ({cause})");
        Ok(())
    });
    let worker = task("worker", async |ctx: &Ctx<'_>| -> Result<(), Failed> {
        println!("worker: running");
        println!("ready");
        if mode == "fail" {
            println!("worker: the queue is gone");
            return Err(Failed("queue is gone"));
        }
        let cause = ctx.cancelled().await;
        if mode == "stubborn" {
            println!("worker: ignoring cancellation ({cause})");
            std::future::pending::<()>().await;
        }
        if mode == "err-on-cancel" {
            println!("worker: cancelled, reporting it as an error");
            return Err(Failed("stopped before the queue was drained"));
        }
        println!("worker: stopping ({cause})");
        Ok(())
    });
    let result: Result<(), Error> = proc::main(concurrent_group((web, worker)));
    match result {
        Ok(()) => {
            println!("stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Serves `chain((worker, app))` until signals; with `stubborn`, the app ignores both stops and
/// the worker ignores cancellation.
fn tree(stubborn: bool) -> ExitCode {
    let worker = into_runner(task("worker", async |ctx: &Ctx<'_>| -> Result<(), Failed> {
        println!("worker: running");
        let cause = ctx.cancelled().await;
        if stubborn {
            std::future::pending::<()>().await;
        }
        println!("worker: stopping ({cause})");
        Ok(())
    }));
    let app = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        lc.ready();
        println!("ready");
        let ignoring = if stubborn { ", ignoring it" } else { "" };
        match lc.stop_requested().await {
            Stop::Graceful => println!("app: graceful stop{ignoring}"),
            Stop::Forced(cause) => println!("app: forced stop ({cause}){ignoring}"),
        }
        if stubborn {
            let cause = ctx.cancelled().await;
            println!("app: forced stop ({cause}){ignoring}");
            std::future::pending::<()>().await;
        }
        Ok(())
    });
    match proc::serve_main(chain((worker, app)), never, never) {
        Ok(()) => {
            println!("stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(ServeError::Exited(exit)) => {
            eprintln!("error: {exit}");
            ExitCode::from(exit.status())
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
