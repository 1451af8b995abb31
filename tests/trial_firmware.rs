//! Trial program (c) of the 0.1 API review: a firmware-like tree with no heap (no `alloc`
//! feature used; the event log is a fixed-capacity `heapless` list behind a critical
//! section), on a `ManualClock`. A supervised radio fails and is restarted after its backoff;
//! a stubborn sampler ignores the graceful stop and is forced by its deadline. The event log
//! is asserted line by line.
#![allow(clippy::std_instead_of_core, reason = "the tests run on std")]

use core::cell::RefCell;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use critical_section::Mutex;
use embassy_futures::select::{Either3, select3};
use procession::retry::{BackoffExt, Exp2, Retry};
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::supervisor::Supervisor;
use procession::time::{Clock, ManualClock};
use procession::{Ctx, Runner, RunnerExt, StopLevel, TreeError, chain, fail, leaf_with_stop};

type Line = heapless::String<64>;

/// The firmware's event log: a fixed number of fixed-size lines, as on a target without heap.
struct Log<'c> {
    clock: &'c ManualClock,
    lines: Mutex<RefCell<heapless::Vec<Line, 24>>>,
}

impl Log<'_> {
    fn say(&self, what: core::fmt::Arguments<'_>) {
        let mut line = Line::new();
        let ms = self.clock.now().elapsed().as_millis();
        write!(line, "{ms:>3} ms  {what}").expect("a log line fits");
        critical_section::with(|cs| self.lines.borrow_ref_mut(cs).push(line).expect("the log has room"));
    }

    fn lines(&self) -> heapless::Vec<Line, 24> {
        critical_section::with(|cs| self.lines.borrow_ref(cs).clone())
    }
}

#[test]
fn supervised_radio_and_stubborn_sampler() {
    let clock = ManualClock::new();
    let log = Log { clock: &clock, lines: Mutex::new(RefCell::new(heapless::Vec::new())) };
    let (clock, log) = (&clock, &log);

    // The sensor bus: powered up at start, down at stop.
    let bus = leaf_with_stop(
        async |ctx: &Ctx<'_>| -> Result<(), TreeError> {
            log.say(format_args!("bus: up"));
            ctx.cancelled().await;
            Ok(())
        },
        async |_: &Ctx<'_>| -> Result<(), TreeError> {
            log.say(format_args!("bus: down"));
            Ok(())
        },
    );

    // The radio loses its link 50 ms into its first incarnation; the second stays up.
    let incarnations = AtomicU32::new(0);
    let radio = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), TreeError> {
        let n = incarnations.fetch_add(1, Ordering::SeqCst) + 1;
        log.say(format_args!("radio: joined (incarnation {n})"));
        lc.ready();
        if n == 1 {
            clock.sleep(Duration::from_millis(50)).await;
            log.say(format_args!("radio: link lost"));
            return fail("link lost");
        }
        let stop = lc.stop_requested().await;
        log.say(format_args!("radio: off ({})", if stop == Stop::Graceful { "graceful" } else { "forced" }));
        Ok(())
    });
    let radio = Supervisor::new(radio, Retry::new(Exp2::new(Duration::from_millis(100)).limit(3), clock));

    // The sampler samples every 70 ms and ignores the graceful stop: its graceful deadline
    // (30 ms) cancels its context, which it does honour.
    let samples = AtomicU32::new(0);
    let sampler = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), TreeError> {
        log.say(format_args!("sampler: started"));
        lc.ready();
        let mut told = false;
        loop {
            let graceful = async {
                if told {
                    core::future::pending::<()>().await;
                }
                lc.stop_requested().await;
            };
            match select3(ctx.cancelled(), graceful, clock.sleep(Duration::from_millis(70))).await {
                Either3::First(cause) => {
                    let n = samples.load(Ordering::SeqCst);
                    log.say(format_args!("sampler: forced ({cause}) after {n} samples"));
                    return Ok(());
                }
                Either3::Second(()) => {
                    told = true;
                    log.say(format_args!("sampler: ignores the graceful stop"));
                }
                Either3::Third(()) => {
                    samples.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    })
    .with_stop_deadline(|| clock.sleep(Duration::from_millis(30)), || clock.sleep(Duration::from_millis(30)))
    .named("sampler");

    let tree = chain((bus, radio, sampler));
    let root = Ctx::new();
    let app = tree.run(&root, async |_: &Ctx<'_>| {
        log.say(format_args!("app: running"));
        clock.sleep(Duration::from_millis(500)).await;
        log.say(format_args!("app: done"));
        Ok(())
    });
    let result = embassy_futures::block_on(clock.auto_advance().until(app));

    let lines = log.lines();
    let lines: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
    assert_eq!(
        lines,
        [
            "  0 ms  bus: up",
            "  0 ms  radio: joined (incarnation 1)",
            "  0 ms  sampler: started",
            "  0 ms  app: running",
            " 50 ms  radio: link lost",
            "250 ms  radio: joined (incarnation 2)", // after its backoff, 200 ms
            "500 ms  app: done",
            "500 ms  sampler: ignores the graceful stop",
            "530 ms  sampler: forced (deadline) after 7 samples",
            "530 ms  radio: off (graceful)",
            "530 ms  bus: down",
        ],
        "{lines:#?}"
    );
    let error = result.unwrap_err();
    assert_eq!(error.to_string(), "sampler: stop deadline passed, cancelled");
    assert_eq!(error.errors()[0].overrun().map(|o| o.level), Some(StopLevel::Forced));
}
