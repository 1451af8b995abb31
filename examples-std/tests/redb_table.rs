//! `redb_table`: the table conformance suite against `RedbTable` on a real file, and the
//! program itself (a keyed supervisor over the table) killed with SIGKILL and restarted, edited
//! while it runs, held by a second process, and fed corrupt files.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, reason = "a std test")]

#[path = "../src/bin/redb_table/table.rs"]
mod table;
#[path = "../../tests/common/table.rs"]
mod table_suite;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
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

/// The entries that `list` printed, and the count line checked.
fn entries(output: &Output) -> BTreeMap<String, u32> {
    let text = stdout(output);
    let found: BTreeMap<String, u32> = text
        .lines()
        .filter_map(|line| line.strip_prefix("entry: "))
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("k=v");
            (k.to_owned(), v.parse().expect("number"))
        })
        .collect();
    assert!(text.contains(&format!("entries: {}\n", found.len())), "{text}");
    found
}

/// The processes that the first pass of `serve` started (its lines before `running`), each
/// checked to be ready: `started: k=v` then `ready: k`, once per key, nothing else ready.
fn restored<S: AsRef<str>>(lines: &[S]) -> BTreeMap<String, u32> {
    let lines: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
    let running = lines.iter().position(|l| *l == "running").unwrap_or_else(|| panic!("never running: {lines:?}"));
    let mut started = BTreeMap::new();
    let mut ready = Vec::new();
    for line in &lines[..running] {
        if let Some(pair) = line.strip_prefix("started: ") {
            let (k, v) = pair.split_once('=').expect("k=v");
            assert!(started.insert(k.to_owned(), v.parse().expect("number")).is_none(), "{k} twice: {lines:?}");
        } else if let Some(key) = line.strip_prefix("ready: ") {
            assert!(started.contains_key(key), "{key} ready before it started: {lines:?}");
            ready.push(key.to_owned());
        }
    }
    ready.sort();
    assert_eq!(ready, started.keys().cloned().collect::<Vec<_>>(), "every process is ready once: {lines:?}");
    started
}

fn map(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|&(k, v)| (k.to_owned(), v)).collect()
}

/// A `serve` that runs: its standard input to edit the table, its output read line by line.
struct Server {
    child: Child,
    output: BufReader<ChildStdout>,
    /// Every line read so far.
    lines: Vec<String>,
}

impl Server {
    /// Starts `serve` and waits until it printed `running`.
    fn start(file: &Path, pairs: &[&str]) -> Self {
        let mut child = program()
            .arg(file)
            .arg("serve")
            .args(pairs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut server = Self { child, output, lines: Vec::new() };
        server.until("running");
        server
    }

    /// Reads lines until `wanted` (panics if the program ends first).
    #[allow(clippy::zombie_processes, reason = "a failed read fails the test, which ends the child with it")]
    fn until(&mut self, wanted: &str) {
        loop {
            let mut line = String::new();
            if self.output.read_line(&mut line).expect("read") == 0 {
                let status = self.child.wait().expect("wait");
                panic!("serve ended early ({status}), before {wanted:?}: {:?}", self.lines);
            }
            let line = line.trim_end().to_owned();
            let done = line == wanted;
            self.lines.push(line);
            if done {
                return;
            }
        }
    }

    /// Writes one command line to its standard input.
    fn send(&mut self, command: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{command}").and_then(|()| stdin.flush()).expect("write");
    }

    fn kill(self) {
        kill(self.child);
    }
}

fn kill(mut child: Child) {
    child.kill().expect("SIGKILL"); // std sends SIGKILL on Unix
    let status = child.wait().expect("wait");
    assert!(!status.success());
}

/// Kill the server with SIGKILL while it runs, start it again: the process of every key is
/// started and ready again, a key put while it ran comes back, a key removed while it ran does
/// not.
#[test]
fn processes_survive_sigkill() {
    let scratch = Scratch::new();
    let file = scratch.file("devices.redb");
    let mut server = Server::start(&file, &["eth0=100", "wlan0=250", "usb0=50"]);
    assert!(server.lines.contains(&"stored: wlan0=250".to_owned()), "{:?}", server.lines);
    assert_eq!(restored(&server.lines), map(&[("eth0", 100), ("usb0", 50), ("wlan0", 250)]));
    server.send("remove usb0");
    server.until("stopped: usb0");
    server.send("put lo=1");
    server.until("ready: lo");
    server.kill();

    let again = run(&file, &["serve"]);
    assert!(again.status.success(), "{}", stdout(&again));
    let lines: Vec<String> = stdout(&again).lines().map(str::to_owned).collect();
    let expected = map(&[("eth0", 100), ("lo", 1), ("wlan0", 250)]);
    assert_eq!(restored(&lines), expected);
    assert!(!lines.iter().any(|l| l.contains("usb0")), "{lines:?}");
    // Standard input was closed: every process stopped, then the program.
    assert_eq!(lines.iter().filter(|l| l.starts_with("stopped: ")).count(), 3, "{lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("stopped"));

    // Once more: a value changed at start, a second kill, an edit while nothing runs.
    let server = Server::start(&file, &["eth0=120"]);
    let mut expected = expected;
    expected.insert("eth0".into(), 120);
    assert_eq!(restored(&server.lines), expected);
    server.kill();
    assert!(run(&file, &["remove", "lo"]).status.success());
    let third = run(&file, &["list"]);
    expected.remove("lo");
    assert_eq!(entries(&third), expected);
}

/// A put of a new value while serving replaces the key's process with one built from it.
#[test]
fn a_changed_value_replaces_the_process() {
    let scratch = Scratch::new();
    let file = scratch.file("replace.redb");
    let mut server = Server::start(&file, &["eth0=100"]);
    server.send("put eth0=120");
    server.until("ready: eth0");
    let after: Vec<&str> = server.lines.iter().skip_while(|l| *l != "running").skip(1).map(String::as_str).collect();
    assert_eq!(after, ["stored: eth0=120", "stopped: eth0", "started: eth0=120", "ready: eth0"]);
    drop(server.child.stdin.take());
    assert!(server.child.wait().expect("wait").success());
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
    let found = entries(&listed);
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
    let mut server = Server::start(&file, &["a=1"]);

    let second = run(&file, &["list"]);
    assert_eq!(second.status.code(), Some(2));
    assert_eq!(stdout(&second), "error: the table file is locked by another process\n");
    let writer = run(&file, &["put", "b=2"]);
    assert_eq!(writer.status.code(), Some(2));
    let second_server = run(&file, &["serve"]);
    assert_eq!(second_server.status.code(), Some(2));
    assert_eq!(stdout(&second_server), "error: the table file is locked by another process\n");

    drop(server.child.stdin.take()); // closes its standard input: it stops by itself
    assert!(server.child.wait().expect("wait").success());
    let after = run(&file, &["list"]);
    assert_eq!(entries(&after), BTreeMap::from([("a".to_owned(), 1)]));
}

/// Files that are not a table, or a table cut short: `error: the table file is corrupt`, exit
/// status 2, never a panic (status 101) nor an empty table.
#[test]
fn corrupt_files_are_an_error() {
    let scratch = Scratch::new();
    let garbage = scratch.file("garbage.redb");
    std::fs::write(&garbage, b"this is not a database, just some text in a file\n".repeat(100)).expect("write");
    for command in ["list", "serve"] {
        let out = run(&garbage, &[command]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(stdout(&out).starts_with("error: the table file is corrupt"), "{command}: {}", stdout(&out));
    }

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
            Some(0) => assert_eq!(entries(&out), whole, "offset {offset}"),
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
