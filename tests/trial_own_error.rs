//! Trial program (a) of the 0.1 API review: a user's own error enum, stop deadlines and a
//! restart supervisor, with no trait impl written by the user. The tree error
//! (`TreeError<AppError>`) carries every conversion; the run's log and its error are asserted
//! line by line.
#![allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]
#![allow(clippy::std_instead_of_core, reason = "the tests run on std")]

use std::cell::RefCell;
use std::time::Duration;

use procession::retry::{Exp2, Retry};
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::supervisor::Supervisor;
use procession::time::{Clock, ManualClock};
use procession::{Ctx, Runner, RunnerExt, StopLevel, TreeError, chain, fail};

/// The user's own error: no `Merge`, no `From<Overrun>`, no `From<supervisor::Error>`.
#[derive(Debug, Clone, PartialEq)]
enum AppError {
    LinkDown,
    DiskFull,
}

// Only `Display`, to print the tree's error; nothing of this crate.
impl core::fmt::Display for AppError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::LinkDown => "link down",
            Self::DiskFull => "disk full",
        })
    }
}

type Error = TreeError<AppError>;

struct Log<'c> {
    clock: &'c ManualClock,
    lines: RefCell<Vec<String>>,
}

impl Log<'_> {
    fn say(&self, what: &str) {
        let ms = self.clock.now().elapsed().as_millis();
        self.lines.borrow_mut().push(format!("{ms:>4} ms  {what}"));
    }
}

/// Storage flushes on a graceful stop, which takes longer than its graceful deadline: it is
/// cancelled and reports it. The link fails twice, then stays up until stopped.
#[test]
fn own_enum_with_deadlines_and_a_supervisor() {
    let clock = ManualClock::new();
    let log = Log { clock: &clock, lines: RefCell::new(Vec::new()) };
    let log = &log;
    let clock = &clock;

    let storage = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        log.say("storage: mounted");
        lc.ready();
        if lc.stop_requested().await == Stop::Graceful {
            log.say("storage: flushing");
            let flush = clock.sleep(Duration::from_millis(500)); // longer than its deadline
            if let embassy_futures::select::Either::First(cause) =
                embassy_futures::select::select(ctx.cancelled(), flush).await
            {
                log.say(&format!("storage: flush cut short ({cause})"));
            }
        }
        log.say("storage: unmounted");
        Ok(())
    })
    .with_stop_deadline(|| clock.sleep(Duration::from_millis(200)), || clock.sleep(Duration::from_millis(100)))
    .named("storage");

    let attempts = core::sync::atomic::AtomicU32::new(0);
    let link = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        let attempt = attempts.fetch_add(1, core::sync::atomic::Ordering::SeqCst) + 1;
        if attempt <= 2 {
            log.say(&format!("link: attempt {attempt} failed"));
            return fail(AppError::LinkDown);
        }
        log.say(&format!("link: attempt {attempt} up"));
        lc.ready();
        lc.stop_requested().await;
        log.say("link: down");
        Ok(())
    })
    .with_stop_deadline(|| clock.sleep(Duration::from_millis(100)), || clock.sleep(Duration::from_millis(100)))
    .named("link");
    let link = Supervisor::new(link, Retry::new(Exp2::new(Duration::from_millis(100)), clock));

    let tree = chain((storage, link));
    let root = Ctx::new();
    let app = tree.run(&root, async |_: &Ctx<'_>| {
        log.say("app: running");
        clock.sleep(Duration::from_secs(1)).await;
        log.say("app: done");
        Ok(())
    });
    let result = embassy_futures::block_on(clock.auto_advance().until(app));

    let lines = log.lines.borrow();
    assert_eq!(
        *lines,
        [
            "   0 ms  storage: mounted",
            "   0 ms  link: attempt 1 failed",
            " 200 ms  link: attempt 2 failed", // Exp2 of 100 ms: 200 ms, then 400 ms
            " 600 ms  link: attempt 3 up",
            " 600 ms  app: running",
            "1600 ms  app: done",
            "1600 ms  link: down", // reverse order: the link first
            "1600 ms  storage: flushing",
            "1800 ms  storage: flush cut short (deadline)", // its graceful deadline, 200 ms
            "1800 ms  storage: unmounted",
        ],
        "{lines:#?}"
    );
    // The link's failures were retried, so they are not the run's; the storage overrun is,
    // with the name of its node.
    let error = result.unwrap_err();
    assert_eq!(error.to_string(), "storage: stop deadline passed, cancelled");
    assert_eq!(error.errors()[0].node(), Some("storage"));
    assert_eq!(error.errors()[0].overrun().map(|o| o.level), Some(StopLevel::Forced));
}

/// A failure of the user's own type reaches the caller as it was, with its node's name, once
/// the supervisor gives up (here: its classifier says a full disk is permanent).
#[test]
fn own_enum_failure_comes_back_named() {
    let clock = ManualClock::new();
    let disk =
        from_fn(async |_: &Ctx<'_>, _: &Lifecycle<'_>| -> Result<(), Error> { fail(AppError::DiskFull) }).named("disk");
    let sup = Supervisor::new(disk, Retry::new(Exp2::new(Duration::from_millis(100)), &clock))
        .permanent_if(|e: &Error| e.iter().any(|f| f.own_error() == Some(&AppError::DiskFull)));
    let root = Ctx::new();
    let run = sup.run(&root, async |_: &Ctx<'_>| Ok(()));
    let error = embassy_futures::block_on(clock.auto_advance().until(run)).unwrap_err();
    assert_eq!(error.errors()[0].own_error(), Some(&AppError::DiskFull));
    assert_eq!(error.errors()[0].node(), Some("disk"));
    assert_eq!(error.to_string(), "disk: disk full");
    assert_eq!(sup.incarnation(), 1); // permanent: not restarted
    assert_eq!(clock.now().elapsed(), Duration::ZERO);
}
