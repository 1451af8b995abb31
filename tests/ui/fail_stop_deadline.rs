//! A list of plain messages cannot hold an overrun: the error is reported where the deadline
//! is written, naming `From<Overrun>` (formerly an E0599 at `.run`).

use core::future::ready;
use procession::{Ctx, MultiError, RunnerExt, leaf};

fn main() {
    let _storage = leaf(async |_: &Ctx<'_>| -> Result<(), MultiError<&'static str, 4>> { Ok(()) })
        .with_stop_deadline(|| ready(()), || ready(()));
}
