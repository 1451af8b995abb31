//! A table of desired processes that lives in a database file (redb) and survives the program.
//!
//! ```text
//! redb_table FILE list                  print every entry of the table
//! redb_table FILE put KEY=VALUE...      write entries (each one durable commit)
//! redb_table FILE remove KEY...         remove entries
//! redb_table FILE serve [KEY=VALUE...]  write the entries given, restore the whole table and run
//!                                       until standard input closes
//! redb_table FILE churn                 write `churn-0=0`, `churn-1=1`, ... until killed
//! ```
//!
//! Keys are names, values numbers (say, a worker per device and its polling period in ms). Each
//! line it prints is a fact that already holds on disk: `stored: k=v` comes after the commit.
//! `serve` restores the table with one pass over it and prints one `desired: k=v` line per
//! entry: that pass is where the keyed supervisor starts one process per key once it exists
//! (see `restore` below). Kill the program at any point (SIGKILL included) and run it again:
//! every entry it reported as stored is back.
//!
//! Failures are values, printed as `error: ...` with exit status 2: a file that another
//! process holds open ("locked"), a file that is not a sound table ("corrupt"). A damaged file
//! is never read as an empty table.

mod table;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use procession::Ctx;
use procession::table::{Cursor, Table};
use table::{RedbTable, StoreError};

type Devices = RedbTable<String, u32>;

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
    }
}

enum Failure {
    Usage(&'static str),
    Store(StoreError),
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
            restore(&table, "entry")
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
            restore(&table, "desired")?;
            say("running");
            // Run until standard input closes (or a signal ends the program).
            for line in std::io::stdin().lock().lines() {
                if line.is_err() {
                    break;
                }
            }
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

/// One pass over the table, one line per entry, then the count. With the keyed supervisor this
/// pass is its restore: it starts one process per entry (`Keyed::run` over `table`).
fn restore(table: &Devices, label: &str) -> Result<(), Failure> {
    let ctx = Ctx::new();
    futures::executor::block_on(async {
        let mut pass = table.iter(&ctx).await?;
        let mut count = 0usize;
        while let Some((key, value)) = pass.next(&ctx).await? {
            say(&format!("{label}: {key}={value}"));
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
