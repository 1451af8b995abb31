//! P18 with real signals: starts the `proc_main` example, waits for its `ready` line, sends
//! SIGINT or SIGTERM with `kill`, and checks its output and exit status.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `proc_main`, read line by line.
struct Program {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Program {
    fn start(mode: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_proc_main"))
            .arg(mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("proc_main starts");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, lines, seen: Vec::new() }
    }

    /// Reads stdout until `line` (a sign that the program reached that point, not a sleep).
    fn wait_for(&mut self, line: &str) {
        for next in self.lines.by_ref() {
            let next = next.expect("utf-8 line");
            self.seen.push(next.clone());
            if next == line {
                return;
            }
        }
        panic!("stdout ended before {line:?}; seen: {:?}", self.seen);
    }

    fn kill(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill {signal}");
    }

    /// Waits for the exit (a failsafe kills it after 60 s, so that a hang fails the test
    /// instead of blocking it) and returns the status, all of stdout, and stderr.
    fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        let (done, watchdog) = mpsc::channel::<()>();
        let pid = self.child.id();
        std::thread::spawn(move || {
            if watchdog.recv_timeout(Duration::from_secs(60)).is_err() {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        });
        for line in self.lines.by_ref() {
            self.seen.push(line.expect("utf-8 line"));
        }
        let mut stderr = String::new();
        self.child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr");
        let status = self.child.wait().expect("wait");
        let _ = done.send(());
        (status, self.seen, stderr)
    }
}

fn lines(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// P18: on SIGINT the process's context is cancelled (cause "shutdown"), every task stops,
/// and `main` returns `Ok` after the process returned: exit status 0.
#[test]
fn p18_sigint_cancels_and_main_returns_after_the_process() {
    let mut program = Program::start("");
    program.wait_for("ready");
    program.kill("-INT");
    let (status, stdout, stderr) = program.finish();
    assert_eq!(
        stdout,
        lines(&[
            "web: serving",
            "worker: running",
            "ready",
            "web: stopping (shutdown)",
            "worker: stopping (shutdown)",
            "stopped cleanly",
        ])
    );
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}

/// Deviation from upstream (which ignores SIGTERM): SIGTERM stops the program as SIGINT does.
#[test]
fn deviation_sigterm_cancels_too() {
    let mut program = Program::start("");
    program.wait_for("ready");
    program.kill("-TERM");
    let (status, stdout, _) = program.finish();
    assert_eq!(stdout.last().map(String::as_str), Some("stopped cleanly"));
    assert!(stdout.contains(&"worker: stopping (shutdown)".to_string()));
    assert_eq!(status.code(), Some(0));
}

/// Deviation from upstream (where the second SIGINT is swallowed and the program hangs): a
/// second SIGINT while a task ignores cancellation exits at once with status 130 and names the
/// tasks still running.
#[test]
fn deviation_second_sigint_exits_130_and_reports_stubborn_tasks() {
    let mut program = Program::start("stubborn");
    program.wait_for("ready");
    program.kill("-INT");
    program.wait_for("worker: ignoring cancellation (shutdown)");
    program.kill("-INT");
    let (status, stdout, stderr) = program.finish();
    assert_eq!(status.code(), Some(130), "stderr: {stderr}");
    assert!(stdout.contains(&"web: stopping (shutdown)".to_string()));
    assert!(!stdout.contains(&"stopped cleanly".to_string()));
    assert_eq!(
        stderr.trim_end(),
        "procession: second SIGINT during shutdown: exiting with status 130; \
         tasks still running (they ignored cancellation): worker"
    );
}

/// The status of a second signal is 128 + its number: SIGTERM gives 143.
#[test]
fn second_sigterm_exits_143() {
    let mut program = Program::start("stubborn");
    program.wait_for("ready");
    program.kill("-TERM");
    program.wait_for("worker: ignoring cancellation (shutdown)");
    program.kill("-TERM");
    let (status, _, stderr) = program.finish();
    assert_eq!(status.code(), Some(143), "stderr: {stderr}");
    assert!(stderr.contains("second SIGTERM"), "{stderr}");
}

/// P18: the process's error is `main`'s result (here printed, exit status 1); no signal needed.
#[test]
fn p18_failure_is_returned() {
    let program = Program::start("fail");
    let (status, stdout, stderr) = program.finish();
    assert_eq!(status.code(), Some(1));
    assert_eq!(stdout.last().map(String::as_str), Some("web: stopping (dependency failed)"));
    assert_eq!(stderr, "error: worker: queue is gone\n");
}

/// P18: after SIGINT `main` returns the process's own result, verbatim: here the worker's error
/// (printed, exit status 1), after every task has returned.
#[test]
fn p18_result_after_sigint_is_the_process_result() {
    let mut program = Program::start("err-on-cancel");
    program.wait_for("ready");
    program.kill("-INT");
    let (status, stdout, stderr) = program.finish();
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(stdout.contains(&"web: stopping (shutdown)".to_string()));
    assert_eq!(stdout.last().map(String::as_str), Some("worker: cancelled, reporting it as an error"));
    assert_eq!(stderr, "error: worker: stopped before the queue was drained\n");
}

/// `proc::serve_main` with real signals: SIGTERM stops the tree gracefully in reverse order
/// (the app, then the worker, whose context is then cancelled), and it returns `Ok`.
#[test]
fn serve_main_sigterm_stops_the_tree_gracefully_in_reverse_order() {
    let mut program = Program::start("tree");
    program.wait_for("ready");
    program.kill("-TERM");
    let (status, stdout, stderr) = program.finish();
    assert_eq!(
        stdout,
        lines(&["worker: running", "ready", "app: graceful stop", "worker: stopping (shutdown)", "stopped cleanly"])
    );
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}

/// `proc::serve_main` with real signals: the first SIGINT stops gracefully, the second forces
/// (the root context is cancelled with "shutdown"), the third gives up, naming the task still
/// running, with status 130.
#[test]
fn serve_main_third_sigint_gives_up_naming_the_task_still_running() {
    let mut program = Program::start("tree-stubborn");
    program.wait_for("ready");
    program.kill("-INT");
    program.wait_for("app: graceful stop, ignoring it");
    program.kill("-INT");
    program.wait_for("app: forced stop (shutdown), ignoring it");
    program.kill("-INT");
    let (status, stdout, stderr) = program.finish();
    assert_eq!(status.code(), Some(130), "stdout: {stdout:?}, stderr: {stderr}");
    assert!(!stdout.contains(&"stopped cleanly".to_string()));
    assert_eq!(
        stderr.trim_end(),
        "error: SIGINT after the forced stop: gave up on the tree, which did not return after its graceful \
         and forced stops; still running: worker"
    );
}
