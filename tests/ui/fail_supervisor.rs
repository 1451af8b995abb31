//! A known limit: a supervisor whose tree error has no `From<supervisor::Error>` is reported
//! at `.run` (E0599), not at `Supervisor::new`: the supervisor's type does not carry the error
//! type (one supervisor can run a runner generic over it, such as `nop()`), so the constructor
//! cannot check it. The message's note names the missing piece,
//! `&'static str: From<procession::supervisor::Error>`. `TreeError` has it.

use procession::retry::Once;
use procession::supervisor::Supervisor;
use procession::{Ctx, MultiError, Runner, leaf};

fn main() {
    let radio = leaf(async |_: &Ctx<'_>| -> Result<(), MultiError<&'static str, 4>> { Ok(()) });
    let supervised = Supervisor::new(radio, Once);
    let root = Ctx::new();
    let _ = embassy_futures::block_on(supervised.run(&root, async |_| Ok(())));
}
