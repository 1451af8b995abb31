//! The README demo: three processes chained, started in order, stopped in reverse after a
//! failure is injected.
//!
//! `storage` starts first; `network` needs it; `app` needs both. Once all three are ready the
//! main callback runs the app: it serves three requests, then the network link drops (the
//! injected failure). The network fails, everything that depends on it is cancelled with the
//! cause "dependency failed", and the tree stops in reverse order.

use futures::executor::block_on;
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::{Cause, Ctx, MultiError, Runner, chain};

/// The error type of the whole tree: up to four failures, each a static message.
type Error = MultiError<&'static str, 4>;

/// Set when the network link drops (the injected failure).
static LINK_DOWN: Ctx<'static> = Ctx::new();

fn main() {
    let storage = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        println!("storage: mounting");
        lc.ready();
        println!("storage: ready");
        let how = lc.stop_requested().await;
        println!("storage: flushing and unmounting ({})", describe(how));
        Ok(())
    });
    let network = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        println!("network: bringing the link up");
        lc.ready();
        println!("network: ready");
        // Runs until asked to stop, or until the link drops.
        match ctx
            .run_until_cancelled(async {
                LINK_DOWN.cancelled().await;
            })
            .await
        {
            Ok(()) => {
                println!("network: link down!");
                Err(MultiError::from_error("network: link down"))
            }
            Err(cause) => {
                println!("network: closing ({cause})");
                Ok(())
            }
        }
    });
    let app = from_fn(async |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        println!("app: loading configuration from storage");
        lc.ready();
        println!("app: ready");
        let how = lc.stop_requested().await;
        println!("app: stopping ({})", describe(how));
        Ok(())
    });

    let root = Ctx::new();
    let tree = chain((storage, network, app));
    let result = block_on(tree.run(&root, async |ctx: &Ctx<'_>| {
        println!("system: all processes ready, the app runs");
        for request in 1..=3 {
            println!("app: served request {request}");
            yield_now().await;
        }
        println!("system: injecting a failure: the network link drops");
        LINK_DOWN.cancel();
        let cause = ctx.cancelled().await;
        println!("system: shutting down ({cause})");
        Ok(())
    }));
    match result {
        Ok(()) => println!("system: stopped cleanly"),
        Err(error) => println!("system: stopped with {error}"),
    }
}

fn describe(how: Stop) -> &'static str {
    match how {
        Stop::Graceful => "graceful",
        Stop::Forced(Cause::DependencyFailed) => "forced: dependency failed",
        Stop::Forced(_) => "forced",
    }
}

/// Lets the other processes of the tree run once.
async fn yield_now() {
    let mut yielded = false;
    core::future::poll_fn(|cx| {
        if yielded {
            return core::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        core::task::Poll::Pending
    })
    .await;
}
