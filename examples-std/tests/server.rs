//! Starts the tokio server example, talks to both services, stops it with a signal, and checks
//! that every connection was closed cleanly and the exit status.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Bound on every socket read and on the whole run: a safety net so that a broken server fails
/// the test instead of hanging it. Nothing waits for it to pass.
const SAFETY: Duration = Duration::from_secs(30);

struct Server {
    _watchdog: mpsc::Sender<()>,
    child: Child,
    stdout: BufReader<ChildStdout>,
    echo: String,
    health: String,
}

/// Starts the server and reads its output up to `server: ready`.
fn start() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_server")).stdout(Stdio::piped()).spawn().expect("server starts");
    let pid = child.id();
    // Kills the server if the test has not finished in time (dropping `_watchdog` disarms it).
    let (watchdog, timer) = mpsc::channel::<()>();
    thread::spawn(move || {
        if timer.recv_timeout(SAFETY) == Err(mpsc::RecvTimeoutError::Timeout) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let (mut echo, mut health) = (String::new(), String::new());
    loop {
        let line = read_line(&mut stdout);
        if let Some(address) = line.strip_prefix("echo: listening on ") {
            echo = address.to_owned();
        } else if let Some(address) = line.strip_prefix("health: listening on ") {
            health = address.to_owned();
        } else if line == "server: ready" {
            break;
        } else {
            panic!("unexpected line before ready: {line:?}");
        }
    }
    assert!(!echo.is_empty() && !health.is_empty(), "both services reported their address");
    Server { _watchdog: watchdog, child, stdout, echo, health }
}

fn read_line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    let read = reader.read_line(&mut line).expect("read a line");
    assert!(read > 0, "unexpected end of output");
    line.trim_end_matches(['\r', '\n']).to_owned()
}

fn connect(address: &str) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(SAFETY)).expect("read timeout");
    stream
}

/// Sends `signal` and checks the rest of the output, the goodbyes and the exit status.
fn stop_with(signal: &str) {
    let mut server = start();

    let mut first = connect(&server.echo);
    let mut first_lines = BufReader::new(first.try_clone().expect("clone"));
    first.write_all(b"hello\n").expect("write");
    assert_eq!(read_line(&mut first_lines), "hello");
    let second = connect(&server.echo);
    let mut second_lines = BufReader::new(second.try_clone().expect("clone"));

    // A client that connects and never sends its request. It is accepted before the next one
    // (the backlog is in order), so the answered request below proves it was accepted.
    let mut idle = connect(&server.health);
    let mut request = connect(&server.health);
    request.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("write");
    let mut response = String::new();
    request.read_to_string(&mut response).expect("read the response");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response:?}");
    assert!(response.ends_with("\r\n\r\nok\n"), "{response:?}");

    // The echo service has seen both connections once one of them answers.
    second_lines.get_mut().write_all(b"ping\n").expect("write");
    assert_eq!(read_line(&mut second_lines), "ping");

    let status = Command::new("kill").args([signal, &server.child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());

    for lines in [&mut first_lines, &mut second_lines] {
        assert_eq!(read_line(lines), "bye");
        let mut rest = Vec::new();
        lines.read_to_end(&mut rest).expect("clean end of stream");
        assert!(rest.is_empty());
    }
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).expect("clean end of stream");
    assert!(rest.is_empty());
    drop((first, second, request, idle));

    let mut output = Vec::new();
    loop {
        let mut line = String::new();
        if server.stdout.read_line(&mut line).expect("read") == 0 {
            break;
        }
        output.push(line.trim_end().to_owned());
    }
    let exit = server.child.wait().expect("the server exits");
    assert!(exit.success(), "exit status {exit:?}, output {output:?}");
    assert_eq!(output[0], "server: stopping (shutdown)");
    let mut stops = output[1..3].to_vec();
    stops.sort();
    assert_eq!(
        stops,
        [
            "echo: stopped, 2 connection(s) closed cleanly, 0 failed",
            "health: stopped, 2 connection(s) closed cleanly, 0 failed",
        ]
    );
    assert_eq!(output[3..], ["server: stopped cleanly"]);
}

/// SIGINT stops the server gracefully: every connection says goodbye and closes cleanly.
#[test]
fn sigint_stops_gracefully() {
    stop_with("-INT");
}

/// SIGTERM does the same.
#[test]
fn sigterm_stops_gracefully() {
    stop_with("-TERM");
}
