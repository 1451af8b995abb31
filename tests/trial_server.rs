//! Trial program (b) of the 0.1 API review: a tokio server served until signals
//! (`proc::serve`), with a stop deadline per service, and a single-instance `shot` job that a
//! spawned request handler starts through an owned handle (no `static`).
//!
//! Signals come from a channel and time is tokio's paused clock (it moves only when every
//! task is idle), so every step is deterministic; the log and the result are asserted line by
//! line.
#![cfg(all(feature = "tokio", unix))]
#![allow(clippy::std_instead_of_alloc, reason = "the tests run on std")]
#![allow(clippy::std_instead_of_core, reason = "the tests run on std")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use embassy_futures::select::{Either, select};
use futures::channel::mpsc;
use procession::proc::{ServeError, Signal, serve};
use procession::runner::{Lifecycle, Stop, from_fn};
use procession::shot::{self, Many};
use procession::{Ctx, RunnerExt, TreeError, chain, never};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep};

type Error = TreeError;

/// One request to the API service: what is asked, and where the answer goes.
struct Request {
    what: &'static str,
    answer: oneshot::Sender<String>,
}

/// The event log, shared with the spawned tasks; each line starts with the time since `start`.
#[derive(Clone)]
struct Log {
    start: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Log {
    fn say(&self, what: impl core::fmt::Display) {
        let ms = self.start.elapsed().as_millis();
        self.lines.lock().unwrap().push(format!("{ms:>4} ms  {what}"));
    }
}

/// The request handler, run in a spawned task: a `backup` request starts the single backup
/// job (at most one at a time) and hands its owned guard to the job's own task.
async fn handle(request: Request, backup: Arc<Many<'static>>, log: Log) {
    let answer = match request.what {
        "backup" => match backup.start_owned() {
            Ok(run) => {
                log.say("backup: started");
                let log = log.clone();
                tokio::spawn(async move {
                    match select(run.context().cancelled(), sleep(Duration::from_secs(60))).await {
                        Either::First(cause) => log.say(format_args!("backup: ended early ({cause})")),
                        Either::Second(()) => log.say("backup: complete"),
                    }
                    drop(run); // the run ends: the job may start again
                });
                "backup started".to_string()
            }
            Err(shot::Error::Running) => "backup already running".to_string(),
            Err(error) => format!("backup refused: {error}"),
        },
        other => format!("unknown request {other}"),
    };
    let _ = request.answer.send(answer);
}

#[tokio::test(start_paused = true)]
async fn server_with_signals_deadlines_and_a_job_from_a_handler() {
    let log = Log { start: Instant::now(), lines: Arc::default() };
    let (send_request, requests) = tokio::sync::mpsc::channel::<Request>(8);
    let requests = tokio::sync::Mutex::new(requests);
    let backup: Arc<Many<'static>> = Arc::new(Many::detached());

    // Storage: flushes for 100 ms on its graceful stop, within its 1 s graceful deadline.
    let storage = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        log.say("storage: open");
        lc.ready();
        lc.stop_requested().await;
        sleep(Duration::from_millis(100)).await;
        log.say("storage: flushed");
        Ok(())
    })
    .with_stop_deadline(|| sleep(Duration::from_secs(1)), || sleep(Duration::from_secs(1)))
    .named("storage");

    // The API: spawns a handler per request; on its stop, ends the backup job (bounded) and
    // waits for its handlers.
    let api = from_fn(async |_: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        let mut requests = requests.lock().await;
        let mut handlers = tokio::task::JoinSet::new();
        log.say("api: listening");
        lc.ready();
        loop {
            match select(lc.stop_requested(), requests.recv()).await {
                Either::First(stop) => {
                    log.say(format_args!("api: {}", if stop == Stop::Graceful { "stopping" } else { "forced" }));
                    break;
                }
                Either::Second(Some(request)) => {
                    handlers.spawn(handle(request, backup.clone(), log.clone()));
                }
                Either::Second(None) => break,
            }
        }
        let ended = backup.end_run(sleep(Duration::from_millis(500))).await;
        handlers.join_all().await;
        log.say(format_args!("api: stopped (backup {})", if ended.is_ok() { "ended" } else { "left running" }));
        Ok(())
    })
    .with_stop_deadline(|| sleep(Duration::from_secs(2)), || sleep(Duration::from_secs(1)))
    .named("api");

    // Metrics: ignores the graceful stop; its 200 ms deadline cancels its context.
    let metrics = from_fn(async |ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Error> {
        log.say("metrics: up");
        lc.ready();
        let cause = ctx.cancelled().await;
        log.say(format_args!("metrics: forced ({cause})"));
        Ok(())
    })
    .with_stop_deadline(|| sleep(Duration::from_millis(200)), || sleep(Duration::from_millis(200)))
    .named("metrics");

    let (send_signal, signals) = mpsc::unbounded();
    let server = serve(chain((storage, api, metrics)), signals, never, never);
    let client = async {
        let ask = async |what: &'static str| {
            let (answer, answered) = oneshot::channel();
            send_request.send(Request { what, answer }).await.unwrap();
            let answer = answered.await.unwrap();
            log.say(format_args!("client: {what} -> {answer}"));
        };
        sleep(Duration::from_millis(10)).await; // the paused clock moves once the tree is up
        ask("backup").await;
        ask("backup").await; // while the first runs: refused
        sleep(Duration::from_millis(990)).await;
        log.say("client: SIGTERM");
        send_signal.unbounded_send(Signal::Terminate).unwrap();
    };
    let (result, ()) = tokio::join!(server, client);

    let lines = log.lines.lock().unwrap().clone();
    assert_eq!(
        lines,
        [
            "   0 ms  storage: open",
            "   0 ms  api: listening",
            "   0 ms  metrics: up",
            "  10 ms  backup: started",
            "  10 ms  client: backup -> backup started",
            "  10 ms  client: backup -> backup already running",
            "1000 ms  client: SIGTERM",
            // the graceful stop, in reverse start order, each service with its own deadline
            "1200 ms  metrics: forced (deadline)",
            "1200 ms  api: stopping",
            "1200 ms  backup: ended early (shutdown)",
            "1200 ms  api: stopped (backup ended)",
            "1300 ms  storage: flushed",
        ],
        "{lines:#?}"
    );
    match result {
        Err(ServeError::Failed(error)) => assert_eq!(error.to_string(), "metrics: stop deadline passed, cancelled"),
        other => panic!("expected the metrics overrun, got {other:?}"),
    }
    assert_eq!(backup.state(), shot::State::Stopped);
}
