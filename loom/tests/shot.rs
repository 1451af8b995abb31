//! Loom models of the `shot` handles: racing starts and stops never run two instances at once,
//! and exactly one start wins (issue 15, loom item 4).
#![cfg(loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use loom::thread;
use procession::never;
use procession::shot::{Error, Many, One, State};
use procession_loom::{block_on_counting, model};

/// How many instances run now, and how many ran in all (plain counters: loom runs one thread
/// at a time, and these are the model's own observations, not the crate's state).
#[derive(Default)]
struct Instances {
    now: AtomicUsize,
    total: AtomicUsize,
}

impl Instances {
    fn enter(&self) {
        let before = self.now.fetch_add(1, Ordering::SeqCst);
        assert_eq!(before, 0, "two instances at once");
        self.total.fetch_add(1, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Two threads start a `One` while the main thread closes it: at most one start wins (exactly
/// one unless the close came first), the loser sees `Running` or `Closed`, and the `One` ends
/// `Closed` once the close returns.
#[test]
fn one_two_starts_race_a_close() {
    model("shot::One: two starts race a close", 3, || {
        let one: Arc<One<'static>> = Arc::new(One::detached());
        let seen = Arc::new(Instances::default());
        let starters: Vec<_> = (0..2)
            .map(|_| {
                let (one, seen) = (one.clone(), seen.clone());
                thread::spawn(move || match one.start() {
                    Ok(run) => {
                        seen.enter();
                        // The instance runs for a while: another thread may run meanwhile.
                        thread::yield_now();
                        seen.leave();
                        drop(run);
                        true
                    }
                    Err(error) => {
                        assert!(matches!(error, Error::Running | Error::Closed), "{error:?}");
                        false
                    }
                })
            })
            .collect();
        let (closed, wakes) = block_on_counting(one.close(never()));
        assert!(wakes <= 1, "close was woken {wakes} times");
        assert!(matches!(closed, Ok(State::Initial | State::Running | State::Closed)), "{closed:?}");
        assert_eq!(one.state(), State::Closed);
        let won = starters.into_iter().filter(|_| true).map(|t| t.join().unwrap()).filter(|won| *won).count();
        assert!(won <= 1, "{won} starts won");
        if closed == Ok(State::Running) {
            assert_eq!(won, 1);
        }
        assert_eq!(seen.total.load(Ordering::SeqCst), won);
        assert!(one.is_done());
    });
}

/// Two threads each start a `Many` twice (running, then ending each run) while the main
/// thread ends the current run and then closes it: never two instances at once, and once
/// closed it stays closed.
#[test]
fn many_starts_race_an_end_run_and_a_close() {
    model("shot::Many: starts race end_run and close", 2, || {
        let many: Arc<Many<'static>> = Arc::new(Many::detached());
        let seen = Arc::new(Instances::default());
        let starters: Vec<_> = (0..2)
            .map(|_| {
                let (many, seen) = (many.clone(), seen.clone());
                thread::spawn(move || {
                    for _ in 0..2 {
                        match many.start() {
                            Ok(run) => {
                                seen.enter();
                                thread::yield_now();
                                seen.leave();
                                drop(run);
                            }
                            Err(error) => assert!(matches!(error, Error::Running | Error::Closed), "{error:?}"),
                        }
                    }
                })
            })
            .collect();
        let (ended, _) = block_on_counting(many.end_run(never()));
        assert!(ended.is_ok(), "{ended:?}");
        let (closed, _) = block_on_counting(many.close(never()));
        assert!(closed.is_ok(), "{closed:?}");
        assert_eq!(many.state(), State::Closed);
        assert_eq!(many.start().err(), Some(Error::Closed));
        for starter in starters {
            starter.join().unwrap();
        }
        assert_eq!(many.state(), State::Closed);
        assert!(many.is_done());
    });
}
