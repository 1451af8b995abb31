//! Formerly: `MultiError<&str, N>` and a user's own enum needed `Merge`, `From<Overrun>`,
//! `From<supervisor::Error>` and `From<TaskError<_>>` by hand before a deadline, a supervisor
//! or a task compiled. With `TreeError` (plain messages or the user's enum) none is written.

use core::future::ready;
use procession::proc::{Proc, task};
use procession::retry::Once;
use procession::supervisor::Supervisor;
use procession::{Ctx, Runner, RunnerExt, TreeError, fail, leaf};

#[derive(Debug)]
enum AppError {
    LinkDown,
}

fn main() {
    let root = Ctx::new();

    // Plain messages, a stop deadline, a supervisor.
    let storage = leaf(async |ctx: &Ctx<'_>| -> Result<(), TreeError> {
        ctx.cancelled().await;
        Ok(())
    })
    .with_stop_deadline(|| ready(()), || ready(()))
    .named("storage");
    let supervised = Supervisor::new(storage, Once);
    let _ = embassy_futures::block_on(supervised.run(&root, async |_| Ok(())));

    // The user's own enum, a stop deadline, a supervisor, a task: no impl written.
    let radio = leaf(async |_: &Ctx<'_>| fail(AppError::LinkDown))
        .with_stop_deadline(|| ready(()), || ready(()))
        .named("radio");
    let supervised = Supervisor::new(radio, Once);
    let result: Result<(), TreeError<AppError>> = embassy_futures::block_on(supervised.run(&root, async |_| Ok(())));
    assert!(result.is_err());

    let sampler = task("sampler", async |_: &Ctx<'_>| -> Result<(), AppError> { Err(AppError::LinkDown) });
    let result: Result<(), TreeError<AppError>> = embassy_futures::block_on(sampler.run(&root));
    assert!(result.is_err());
}
