//! Runs the README demo and checks what it prints: start in order, failure, reverse stop.

use std::process::Command;

/// The demo's lines come out in the documented order.
#[test]
fn demo_prints_the_lifecycle_in_order() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo")).output().expect("the demo runs");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "storage: mounting",
            "storage: ready",
            "network: bringing the link up",
            "network: ready",
            "app: loading configuration from storage",
            "app: ready",
            "system: all processes ready, the app runs",
            "app: served request 1",
            "app: served request 2",
            "app: served request 3",
            "system: injecting a failure: the network link drops",
            "network: link down!",
            "system: shutting down (dependency failed)",
            "app: stopping (forced: dependency failed)",
            "storage: flushing and unmounting (graceful)",
            "system: stopped with network: link down",
        ]
    );
}
