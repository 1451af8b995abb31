//! Runs the `worker_per_device` example and checks what it prints: devices added while the
//! keyed supervisor runs, a duplicate refused, a failed worker restarted after its backoff, a
//! device removed gracefully and added again, then every worker stopped.

use std::process::Command;

/// The whole output, line by line: the example runs on a manual clock, so it never varies.
#[test]
fn worker_per_device_prints_its_story() {
    let output = Command::new(env!("CARGO_BIN_EXE_worker_per_device")).output().expect("the example runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "main: adding modem",
            "modem: online, polling every 100 ms",
            "main: modem is ready",
            "main: adding sensor",
            "sensor: online, polling every 250 ms",
            "main: sensor is ready",
            "main: adding modem again: Err(Exists)",
            "sensor: no answer",
            "supervisor: sensor failed at 250 ms, restarting it in 50 ms",
            "sensor: online, polling every 250 ms",
            "main: 1 s later the sensor is running (restarts: 1)",
            "main: removing sensor",
            "sensor: offline",
            "main: sensor removed (Graceful, Ok(()))",
            "main: adding sensor again",
            "sensor: online, polling every 250 ms",
            "main: done",
            "modem: offline",
            "sensor: offline",
            "main: supervisor returned Ok(())",
        ]
    );
}
