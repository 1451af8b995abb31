//! A table of desired processes that lives in a database file (redb) and survives the program.
//!
//! ```text
//! redb_table FILE list                  print every entry of the table
//! redb_table FILE put KEY=VALUE...      write entries (each one durable commit)
//! redb_table FILE remove KEY...         remove entries
//! redb_table FILE serve [KEY=VALUE...]  write the entries given, then run one process per entry
//!                                       of the table until standard input closes
//! redb_table FILE churn                 write `churn-0=0`, `churn-1=1`, ... until killed
//! ```
//!
//! Keys are names, values numbers (say, a worker per device and its polling period in ms). Each
//! line it prints is a fact that already holds: `stored: k=v` comes after the commit.
//!
//! `serve` runs a keyed supervisor ([`DynKeyedSupervisor`]) over the table: its first pass
//! starts one process per entry, each printing `started: k=v` and `ready: k`; then `running`.
//! While it runs, standard input edits the table and the supervisor follows: a line
//! `put k=v` stores the entry and starts its process (or replaces it, for a new value),
//! `remove k` removes the entry and stops its process (`stopped: k`). When standard input
//! closes, every process stops gracefully. Kill the program at any point (SIGKILL included)
//! and serve again: the processes of exactly the entries it reported as stored start again.
//!
//! Failures are values, printed as `error: ...` with exit status 2: a file that another
//! process holds open ("locked"), a file that is not a sound table ("corrupt"). A damaged file
//! is never read as an empty table.

mod table;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use futures::StreamExt;
use futures::channel::mpsc;
use procession::runner::{Lifecycle, from_fn};
use procession::table::{ByEq, Cursor, DynKeyedSupervisor, Event, Setup, Table};
use procession::time::StdClock;
use procession::{Ctx, TreeError, never};
use table::{RedbTable, StoreError};

type Devices = RedbTable<String, u32>;

/// The error of the supervised processes: the table's errors (shared, as every waiting caller
/// gets a copy), and those of the supervisor itself.
type RunError = TreeError<Arc<StoreError>>;

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        procession::error::Failure::own(Arc::new(e)).into()
    }
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(usage)) => {
            eprintln!("usage: {usage}");
            ExitCode::from(64)
        }
        Err(Failure::Store(e)) => {
            println!("error: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            println!("error: {e}");
            ExitCode::from(2)
        }
    }
}

enum Failure {
    Usage(&'static str),
    Store(StoreError),
    Run(Box<RunError>),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

const USAGE: &str = "redb_table FILE (list | put KEY=VALUE... | remove KEY... | serve [KEY=VALUE...] | churn)";

fn run(args: Vec<String>) -> Result<(), Failure> {
    let [file, command, rest @ ..] = args.as_slice() else {
        return Err(Failure::Usage(USAGE));
    };
    let path = PathBuf::from(file);
    match command.as_str() {
        "list" => {
            let table = Devices::open(&path)?;
            list(&table)
        }
        "put" => {
            let pairs = parse_pairs(rest)?;
            let table = Devices::open(&path)?;
            store(&table, &pairs)
        }
        "remove" => {
            let table = Devices::open(&path)?;
            for key in rest {
                let removed = table.remove(key)?;
                say(&format!("removed: {key} ({})", if removed { "was there" } else { "was absent" }));
            }
            Ok(())
        }
        "serve" => {
            let pairs = parse_pairs(rest)?;
            let table = Devices::open(&path)?;
            store(&table, &pairs)?;
            serve(&table)?;
            say("stopped");
            Ok(())
        }
        "churn" => {
            let table = Devices::open(&path)?;
            for n in 0u32.. {
                store(&table, &[(format!("churn-{n}"), n)])?;
            }
            Ok(())
        }
        _ => Err(Failure::Usage(USAGE)),
    }
}

fn parse_pairs(args: &[String]) -> Result<Vec<(String, u32)>, Failure> {
    args.iter()
        .map(|arg| {
            let (key, value) = arg.split_once('=').ok_or(Failure::Usage(USAGE))?;
            Ok((key.to_owned(), value.parse().map_err(|_| Failure::Usage(USAGE))?))
        })
        .collect()
}

fn store(table: &Devices, pairs: &[(String, u32)]) -> Result<(), Failure> {
    for (key, value) in pairs {
        table.insert(key, value)?;
        say(&format!("stored: {key}={value}"));
    }
    Ok(())
}

/// Runs one process per entry of `table` until standard input closes, applying the `put k=v`
/// and `remove k` lines it reads meanwhile.
fn serve(table: &Devices) -> Result<(), Failure> {
    static PROCESSES: DynKeyedSupervisor<String, u32, RunError> = DynKeyedSupervisor::new();
    // The process of one entry: here it only says when it starts, is ready and stops.
    let process = |key: &String, value: &u32| {
        let (key, value) = (key.clone(), *value);
        from_fn(async move |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), RunError> {
            say(&format!("started: {key}={value}"));
            lc.ready();
            say(&format!("ready: {key}"));
            lc.stop_requested().await;
            say(&format!("stopped: {key}"));
            Ok(())
        })
    };
    // A table that fails in the first pass is an error of the run, not an empty table.
    let pass_failed = std::cell::Cell::new(None);
    let setup = Setup::new(table, process, StdClock::new()).replace_on_change(ByEq).observe(
        |event: &Event<'_, String, RunError>| {
            if let Event::TableError { key: None, error } = event {
                pass_failed.set(Some((*error).clone()));
            }
        },
    );
    // Standard input is read on a thread of its own, its lines handed over to the run.
    let (lines, mut commands) = mpsc::unbounded();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if lines.unbounded_send(line).is_err() {
                break;
            }
        }
    });
    let root = Ctx::new();
    futures::executor::block_on(PROCESSES.drive(&root, &setup, async |_ctx: &Ctx<'_>| {
        if let Some(error) = pass_failed.take() {
            return Err(error);
        }
        say("running");
        while let Some(line) = commands.next().await {
            match line.split_once(' ') {
                Some(("put", pair)) => {
                    let Some((key, value)) = pair.split_once('=').and_then(|(k, v)| Some((k, v.parse().ok()?))) else {
                        say(&format!("ignored: {line}"));
                        continue;
                    };
                    table.insert(&key.to_owned(), &value)?;
                    say(&format!("stored: {key}={value}"));
                    // The supervisor looks the key up again: starts it, or replaces its process.
                    let _ = PROCESSES.request(key.to_owned());
                }
                Some(("remove", key)) => {
                    table.remove(&key.to_owned())?;
                    say(&format!("removed: {key}"));
                    if PROCESSES.stop(&key.to_owned(), never, never).await.is_ok() {
                        let _ = PROCESSES.forget(&key.to_owned());
                    }
                }
                _ => say(&format!("ignored: {line}")),
            }
        }
        Ok(())
    }))
    .map_err(|e| Failure::Run(Box::new(e)))
}

/// One pass over the table, one line per entry, then the count.
fn list(table: &Devices) -> Result<(), Failure> {
    let ctx = Ctx::new();
    futures::executor::block_on(async {
        let mut pass = table.iter(&ctx).await?;
        let mut count = 0usize;
        while let Some((key, value)) = pass.next(&ctx).await? {
            say(&format!("entry: {key}={value}"));
            count += 1;
        }
        say(&format!("entries: {count}"));
        Ok(())
    })
}

/// Prints one line and flushes it, so that a reader sees it before anything happens next.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (the reader went away) is no reason to stop the table's work.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
