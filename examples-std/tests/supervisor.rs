//! Runs the `supervisor` example and checks what it prints: restarts with an exponential
//! backoff on a manual clock, then a graceful stop when the app is done.

use std::process::Command;

/// Two failures, backoffs of 200 and 400 ms, the third incarnation ready, then a clean stop.
#[test]
fn supervisor_restarts_with_backoff_until_ready() {
    let output = Command::new(env!("CARGO_BIN_EXE_supervisor")).output().expect("the example runs");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "worker: attempt 1: link down",
            "time: incarnation 1 failed, state BackingOff; 200 ms of backoff pass",
            "worker: attempt 2: link down",
            "time: incarnation 2 failed, state BackingOff; 400 ms of backoff pass",
            "worker: attempt 3: connected",
            "app: worker ready (incarnation 3, state Running), syncing",
            "app: done",
            "worker: disconnecting",
            "main: supervisor returned ok",
            "main: 3 incarnations, state Stopped, 600 ms of backoff",
        ]
    );
}
