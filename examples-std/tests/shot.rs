//! Runs the `shot` example and checks what it prints: a backup job guarded by a `Many`.

use std::process::Command;

/// One backup at a time: a second is refused, one whose run ended starts again, a closed one
/// never.
#[test]
fn shot_runs_one_backup_at_a_time() {
    let output = Command::new(env!("CARGO_BIN_EXE_shot")).output().expect("the example runs");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "backup 1: copying files",
            "backup 2: not started (already running)",
            "scheduler: ending the backup's run (running)",
            "backup 1: interrupted (shutdown), saving a checkpoint",
            "scheduler: backup run ended (stopped)",
            "backup 3: copying files",
            "scheduler: closing the backup for good (running)",
            "backup 3: interrupted (shutdown), saving a checkpoint",
            "scheduler: backup closed (closed)",
            "backup 4: not started (closed)",
        ]
    );
}
