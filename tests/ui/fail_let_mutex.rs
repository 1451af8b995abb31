//! A known limit: in a `let` with no type written, the capacity and the mutex of a handle are
//! not inferred, since Rust applies a type's default parameters only where the type is written
//! (a `static`, a field, `let link: Process<TreeError>`; see `pass_defaults.rs`). The message
//! is reported at the handle's constructor and names the parameters to write.

use procession::{Ctx, Process, TreeError, leaf};

fn main() {
    let link = Process::new();
    let runner = leaf(async |ctx: &Ctx<'_>| -> Result<(), TreeError> {
        ctx.cancelled().await;
        Ok(())
    });
    let root = Ctx::new();
    let _ = link.drive(&root, &runner);
}
