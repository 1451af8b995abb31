//! Single instance with [`shot`](procession::shot): a backup job that never runs twice at once.
//!
//! Every backup calls `start` on the `static` [`Many`] `BACKUP` and holds the returned
//! [`Run`](procession::shot::Run) guard while it copies; giving the guard up ends the run. A
//! second backup while one runs is refused with [`Error::Running`]. The scheduler ends the
//! running backup's run with `end_run` (its context is cancelled, it saves a checkpoint and
//! gives up its guard), after which a `Many` can start again; a close ends it for good, and any later start is
//! refused with [`Error::Closed`]. (A [`One`](procession::shot::One) is the same for a job
//! that may run only once.)
//!
//! Everything runs in one task on `futures::executor`: the backups and the scheduler are
//! joined futures. The scheduler waits at most 1 s for a backup to end (a sleep on a
//! [`StdClock`]); the backups react at once, so that deadline never passes.

use std::time::Duration;

use futures::executor::block_on;
use futures::join;
use procession::shot::{Error, Many};
use procession::time::{Clock, StdClock};

/// At most one backup at a time.
static BACKUP: Many<'static> = Many::detached();

/// Backup number `n`: runs until its run is ended, unless another one runs or they are closed.
async fn backup(n: u32) {
    let run = match BACKUP.start() {
        Ok(run) => run,
        Err(error) => return println!("backup {n}: not started ({error})"),
    };
    println!("backup {n}: copying files");
    let cause = run.context().cancelled().await;
    println!("backup {n}: interrupted ({cause}), saving a checkpoint");
    run.finish(); // ends the run; dropping the guard would do the same
}

fn main() -> Result<(), Error> {
    let clock = StdClock::new();
    let one_second = || clock.sleep(Duration::from_secs(1));
    block_on(async {
        let scheduler = async {
            backup(2).await; // refused: backup 1 runs
            println!("scheduler: ending the backup's run ({})", BACKUP.state());
            BACKUP.end_run(one_second()).await?;
            println!("scheduler: backup run ended ({})", BACKUP.state());
            Ok::<_, Error>(())
        };
        let ((), stopped) = join!(backup(1), scheduler);
        stopped?;

        let scheduler = async {
            println!("scheduler: closing the backup for good ({})", BACKUP.state());
            BACKUP.close(one_second()).await?;
            println!("scheduler: backup closed ({})", BACKUP.state());
            Ok::<_, Error>(())
        };
        let ((), closed) = join!(backup(3), scheduler);
        closed?;

        backup(4).await; // refused: closed
        Ok(())
    })
}
