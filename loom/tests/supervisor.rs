//! Loom model of the supervisor's [`Control`](procession::supervisor::Control): a stop request
//! from another thread racing the start and the end of attempts (issue 15, loom item 5).
#![cfg(loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use loom::thread;
use procession::retry::UntilPermanent;
use procession::supervisor::{self, Supervisor};
use procession::{Ctx, MultiError, Runner, leaf};
use procession_loom::{block_on_counting, model};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Fail {
    First,
    Sup(supervisor::Error),
}

impl From<supervisor::Error> for Fail {
    fn from(e: supervisor::Error) -> Self {
        Self::Sup(e)
    }
}

type Error = MultiError<Fail, 4>;

/// What the model observes of the incarnations (its own counters, not the crate's state).
#[derive(Default)]
struct Seen {
    /// Incarnations started.
    started: AtomicUsize,
}

/// A supervisor (`UntilPermanent`, no backoff) whose process fails at its first incarnation
/// and serves until stopped at its second runs in one thread; another requests a stop, racing
/// the start of the first attempt, its failure, the start of the second and its readiness.
/// The run always ends (no hang), without error (a stop request is not one) unless it was the
/// first incarnation's failure that ended it; no incarnation starts once the request was taken
/// (the count read after it does not grow); at most two incarnations ran, and
/// `incarnation()` counts them; the control is idle again at the end.
#[test]
fn stop_request_races_the_attempts() {
    model("supervisor: request_stop races the attempts", 1, || {
        let seen = Arc::new(Seen::default());
        let runner = {
            let seen = seen.clone();
            leaf(async move |ctx: &Ctx<'_>| -> Result<(), Error> {
                let n = seen.started.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    return Err(MultiError::from_error(Fail::First));
                }
                ctx.cancelled().await;
                Ok(())
            })
        };
        let sup: Arc<Supervisor<_, _, Error>> = Arc::new(Supervisor::new(runner, UntilPermanent));
        let stopper = {
            let sup = sup.clone();
            // The incarnations counted once the request was taken: no more may start after it.
            // A request before the run began would do nothing (and the run would serve for
            // ever): wait until it is active.
            thread::spawn(move || {
                while !sup.control().is_active() {
                    thread::yield_now();
                }
                sup.control().request_stop().then(|| sup.control().incarnation())
            })
        };
        let root = Ctx::new();
        let (result, _) = block_on_counting(sup.run(&root, async |ctx: &Ctx<'_>| {
            ctx.cancelled().await;
            Ok(())
        }));
        let counted_at_stop = stopper.join().unwrap();
        let started = seen.started.load(Ordering::SeqCst);
        assert!(started <= 2, "{started} incarnations");
        assert_eq!(sup.control().incarnation() as usize, started);
        assert!(!sup.control().is_active());
        if let Some(counted) = counted_at_stop {
            assert_eq!(sup.control().incarnation(), counted, "an incarnation started after the stop request");
        }
        // Stopped before the second incarnation: the first one's failure is what the executor
        // returns; otherwise the stop ended a served incarnation, which is no error.
        match started {
            2 => assert_eq!(result, Ok(()), "{result:?}"),
            _ => assert!(
                result.is_ok() || result == Err(MultiError::from_error(Fail::First)),
                "{started} incarnations: {result:?}"
            ),
        }
    });
}
