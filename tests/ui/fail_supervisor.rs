//! An error type without `From<supervisor::Error>` cannot be supervised: the error is reported
//! where the supervisor is built, naming `From<supervisor::Error>` (formerly an E0599 at
//! `.run`). `TreeError` has it.

use procession::retry::Once;
use procession::supervisor::Supervisor;
use procession::{Ctx, MultiError, Runner, leaf};

fn main() {
    let radio = leaf(async |_: &Ctx<'_>| -> Result<(), MultiError<&'static str, 4>> { Ok(()) });
    let supervised = Supervisor::new(radio, Once);
    let root = Ctx::new();
    let _ = embassy_futures::block_on(supervised.run(&root, async |_| Ok(())));
}
