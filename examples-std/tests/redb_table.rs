//! `redb_table`: the table conformance suite against `RedbTable` on a real file, and the
//! program itself killed with SIGKILL and restarted, held by a second process, and fed corrupt
//! files.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, reason = "a std test")]

#[path = "../src/bin/redb_table/table.rs"]
mod table;
#[path = "../../tests/common/table.rs"]
mod table_suite;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use table::{RedbTable, StoreError};
use table_suite::Harness;

/// A fresh directory for one test's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "procession-redb-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// === the conformance suite ===

/// Each table in a file of its own; the scratch directories live as long as the test binary.
struct RedbHarness;

impl Harness for RedbHarness {
    type Subject = RedbTable<u32, u32>;
    type Error = StoreError;

    async fn build(&self, entries: &[(u32, u32)]) -> Self::Subject {
        let scratch = Box::leak(Box::new(Scratch::new()));
        let table = RedbTable::open(&scratch.file("table.redb")).expect("open");
        for (k, v) in entries {
            table.insert(k, v).expect("insert");
        }
        table
    }
    async fn insert(&self, table: &Self::Subject, key: u32, value: u32) -> bool {
        table.insert(&key, &value).expect("insert");
        true
    }
    async fn remove(&self, table: &Self::Subject, key: u32) -> bool {
        table.remove(&key).expect("remove");
        true
    }
}

table_conformance!(redb, RedbHarness);

// === the program ===

fn program() -> Command {
    Command::new(env!("CARGO_BIN_EXE_redb_table"))
}

fn run(file: &Path, args: &[&str]) -> Output {
    program().arg(file).args(args).stdin(Stdio::null()).output().expect("run redb_table")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// The entries that `serve` or `list` printed with `label`, and the count line checked.
fn entries(output: &Output, label: &str) -> BTreeMap<String, u32> {
    let text = stdout(output);
    let prefix = format!("{label}: ");
    let found: BTreeMap<String, u32> = text
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("k=v");
            (k.to_owned(), v.parse().expect("number"))
        })
        .collect();
    assert!(text.contains(&format!("entries: {}\n", found.len())), "{text}");
    found
}

/// Starts `serve` and waits until it printed `running`; returns it with the lines so far.
#[allow(clippy::zombie_processes, reason = "a failed read fails the test, which ends the child with it")]
fn start_serving(file: &Path, pairs: &[&str]) -> (Child, Vec<String>) {
    let mut child = program()
        .arg(file)
        .arg("serve")
        .args(pairs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read") == 0 {
            let status = child.wait().expect("wait");
            panic!("serve ended early ({status}): {lines:?}");
        }
        let line = line.trim_end().to_owned();
        let done = line == "running";
        lines.push(line);
        if done {
            return (child, lines);
        }
    }
}

fn kill(mut child: Child) {
    child.kill().expect("SIGKILL"); // std sends SIGKILL on Unix
    let status = child.wait().expect("wait");
    assert!(!status.success());
}

/// Kill the server with SIGKILL while it runs, start it again: the same keys come back.
#[test]
fn keys_survive_sigkill() {
    let scratch = Scratch::new();
    let file = scratch.file("devices.redb");
    let (child, lines) = start_serving(&file, &["eth0=100", "wlan0=250", "usb0=50"]);
    assert!(lines.contains(&"stored: wlan0=250".to_owned()), "{lines:?}");
    kill(child);

    let again = run(&file, &["serve"]);
    assert!(again.status.success(), "{}", stdout(&again));
    let restored = entries(&again, "desired");
    let expected: BTreeMap<String, u32> =
        [("eth0", 100), ("usb0", 50), ("wlan0", 250)].into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(restored, expected);

    // And once more after an edit and a second kill.
    let (child, _) = start_serving(&file, &["eth0=120"]);
    kill(child);
    assert!(run(&file, &["remove", "usb0"]).status.success());
    let third = run(&file, &["list"]);
    let mut expected = expected;
    expected.insert("eth0".into(), 120);
    expected.remove("usb0");
    assert_eq!(entries(&third, "entry"), expected);
}

/// Kill the program in the middle of a stream of writes: the table opens, and holds exactly
/// `churn-0..=churn-m` for an `m` at least as large as the last write it reported.
#[test]
fn sigkill_during_writes_keeps_every_committed_key() {
    let scratch = Scratch::new();
    let file = scratch.file("churn.redb");
    let mut child = program().arg(&file).arg("churn").stdout(Stdio::piped()).spawn().expect("spawn");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut last = None;
    for _ in 0..40 {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read") == 0 {
            let status = child.wait().expect("wait");
            panic!("churn ended early ({status})");
        }
        let n: u32 = line.trim_end().rsplit_once('=').expect("stored: k=v").1.parse().expect("n");
        last = Some(n);
    }
    kill(child);
    let last = last.expect("some writes");

    let listed = run(&file, &["list"]);
    assert!(listed.status.success(), "{}", stdout(&listed));
    let found = entries(&listed, "entry");
    let m = u32::try_from(found.len()).expect("count") - 1;
    assert!(m >= last, "reported {last} as stored, found only up to {m}");
    for n in 0..=m {
        assert_eq!(found.get(&format!("churn-{n}")), Some(&n), "churn-{n} missing: not a prefix");
    }
}

/// A second process cannot open a table file in use: a clear error, not an empty table; once
/// the first one stops, the file opens again.
#[test]
fn locked_file_is_an_error() {
    let scratch = Scratch::new();
    let file = scratch.file("held.redb");
    let (mut child, _) = start_serving(&file, &["a=1"]);

    let second = run(&file, &["list"]);
    assert_eq!(second.status.code(), Some(2));
    assert_eq!(stdout(&second), "error: the table file is locked by another process\n");
    let writer = run(&file, &["put", "b=2"]);
    assert_eq!(writer.status.code(), Some(2));

    drop(child.stdin.take()); // closes its standard input: it stops by itself
    assert!(child.wait().expect("wait").success());
    let after = run(&file, &["list"]);
    assert_eq!(entries(&after, "entry"), BTreeMap::from([("a".to_owned(), 1)]));
}

/// Files that are not a table, or a table cut short: `error: the table file is corrupt`, exit
/// status 2, never a panic (status 101) nor an empty table.
#[test]
fn corrupt_files_are_an_error() {
    let scratch = Scratch::new();
    let garbage = scratch.file("garbage.redb");
    std::fs::write(&garbage, b"this is not a database, just some text in a file\n".repeat(100)).expect("write");
    let out = run(&garbage, &["list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).starts_with("error: the table file is corrupt"), "{}", stdout(&out));

    let good = scratch.file("good.redb");
    assert!(run(&good, &["put", "a=1", "b=2", "c=3"]).status.success());
    let bytes = std::fs::read(&good).expect("read");
    for cut in [1, 64, 512, 4096, bytes.len() / 2, bytes.len() - 1] {
        let short = scratch.file("short.redb");
        std::fs::write(&short, &bytes[..cut]).expect("write");
        let out = run(&short, &["list"]);
        assert_eq!(out.status.code(), Some(2), "cut at {cut}: {}", stdout(&out));
        assert!(stdout(&out).starts_with("error: the table file is corrupt"), "cut at {cut}: {}", stdout(&out));
    }
}

/// Damage at every 512-byte offset: each run either reads the whole table (the damage hit an
/// unused page or a redundant copy) or reports the file corrupt; none panics or reads less.
#[test]
fn damaged_files_never_read_as_a_smaller_table() {
    let scratch = Scratch::new();
    let good = scratch.file("good.redb");
    assert!(run(&good, &["put", "a=1", "b=2", "c=3"]).status.success());
    let bytes = std::fs::read(&good).expect("read");
    let whole = BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2), ("c".to_owned(), 3)]);
    let mut detected = 0;
    for offset in (0..bytes.len()).step_by(512) {
        let mut damaged = bytes.clone();
        for b in &mut damaged[offset..(offset + 8).min(bytes.len())] {
            *b ^= 0xA5;
        }
        let file = scratch.file("damaged.redb");
        std::fs::File::create(&file).and_then(|mut f| f.write_all(&damaged)).expect("write");
        let out = run(&file, &["list"]);
        match out.status.code() {
            Some(0) => assert_eq!(entries(&out, "entry"), whole, "offset {offset}"),
            Some(2) => {
                assert!(
                    stdout(&out).starts_with("error: the table file is corrupt"),
                    "offset {offset}: {}",
                    stdout(&out)
                );
                detected += 1;
            }
            other => panic!("offset {offset}: exit {other:?}, {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    assert!(detected > 0, "no damage was detected at all");
}
