//! Room in the program-wide spill table of wakers, made before an allocation count under miri.
//!
//! Under miri the clones of one waker may compare unequal (`Waker::will_wake` is false for them
//! now and then), so a task that registers again on a context whose slots are taken can take a
//! new shared entry in the spill table where a native run finds its old one; the first such
//! entry grows the table's `Vec`, one allocation that depends on waker identity, not on the
//! code under test. The table never gives its capacity back, so growing it once before the
//! count leaves only the allocations of the code under test to count. Natively this does
//! nothing: the count then also proves that the spill table is not touched.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::std_instead_of_alloc, clippy::std_instead_of_core, reason = "the tests run on std")]

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use procession::Ctx;

/// Entries the table has room for after [`make_room`]: far more than the tests of one binary
/// ever hold at once (every test of the binary runs on its own thread, all sharing the table).
pub const ROOM: usize = 256;

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Under miri, grows the spill table to room for [`ROOM`] entries and empties it again: as many
/// waits on one context, each polled once with a waker of its own (all but the context's own
/// slot spill), then the context cancelled, which removes them. Does nothing natively, nor
/// without `alloc`: there the table is a fixed array, which never allocates.
pub fn make_room() {
    if !cfg!(miri) || !cfg!(feature = "alloc") {
        return;
    }
    let ctx = Ctx::new();
    let mut waits: Vec<_> = (0..ROOM).map(|_| Box::pin(ctx.cancelled())).collect();
    for wait in &mut waits {
        let waker = Waker::from(Arc::new(Noop));
        assert!(wait.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    }
    ctx.cancel();
    let waker = Waker::from(Arc::new(Noop));
    for wait in &mut waits {
        assert!(matches!(wait.as_mut().poll(&mut Context::from_waker(&waker)), Poll::Ready(_)));
    }
}
