//! Runs the `process` example and checks what it prints: the states of a `static` process
//! driven on one thread and started and stopped from another.

use std::process::Command;

/// The radio passes through initial, starting, running and stopped, and cannot start again.
#[test]
fn process_prints_its_states_in_order() {
    let output = Command::new(env!("CARGO_BIN_EXE_process")).output().expect("the example runs");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "main: radio initial",
            "controller: starting the radio, ready within 5 s",
            "radio: powering up (starting)",
            "controller: start returned ok, radio running",
            "controller: stopping the radio, graceful within 5 s, then forced within 1 s",
            "radio: powering down, graceful (running)",
            "controller: stop returned ok, radio stopped",
            "controller: starting again returned error: invalid process state: stopped",
            "main: driver returned ok, radio stopped",
        ]
    );
}
