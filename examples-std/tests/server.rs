//! Starts the tokio server example, talks to both services, stops it with a signal, and checks
//! that every connection was closed cleanly and the exit status; then the same under a load of
//! a few hundred loopback clients with requests in flight when SIGTERM comes.

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
    // The echo connections wait for the client to close (each socket has two handles here).
    drop((first, first_lines, second, second_lines, request, idle));

    let output = rest_of(&mut server.stdout);
    let exit = server.child.wait().expect("the server exits");
    assert!(exit.success(), "exit status {exit:?}, output {output:?}");
    assert_stopped(&output, 2, 2);
}

/// Reads the rest of the server's output.
fn rest_of(stdout: &mut BufReader<ChildStdout>) -> Vec<String> {
    let mut output = Vec::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("read") == 0 {
            return output;
        }
        output.push(line.trim_end().to_owned());
    }
}

/// Checks the output after the stop signal: the announcer stops first (reverse order), then
/// both services, each with its count of connections closed cleanly and none failed, run on
/// worker threads; then `serve` returns `Ok`.
fn assert_stopped(output: &[String], echo: usize, health: usize) -> (usize, usize) {
    assert_eq!(output.len(), 4, "{output:?}");
    assert_eq!(output[0], "server: stopping");
    let mut stops = output[1..3].to_vec();
    stops.sort();
    let threads = |line: &str, prefix: &str| -> usize {
        let rest = line.strip_prefix(prefix).unwrap_or_else(|| panic!("{line:?} starts with {prefix:?}"));
        rest.strip_suffix(" worker thread(s)").expect("thread count").parse().expect("a number")
    };
    let echo_threads =
        threads(&stops[0], &format!("echo: stopped, {echo} connection(s) closed cleanly, 0 failed, on "));
    let health_threads =
        threads(&stops[1], &format!("health: stopped, {health} connection(s) closed cleanly, 0 failed, on "));
    // Every connection ran on a worker thread (the tree's own thread is not one of them).
    assert_eq!((echo_threads >= 1, health_threads >= 1), (echo > 0, health > 0), "{output:?}");
    assert_eq!(output[3..], ["server: stopped cleanly"]);
    (echo_threads, health_threads)
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

// === under load ===

/// Loopback clients of the echo service that are up when SIGTERM is sent.
const CLIENTS: usize = 300;
/// Clients that connect after SIGTERM was sent: refused, or served and told `bye`.
const LATE: usize = 20;
/// Bound on the requests of one client (it normally sends far fewer before SIGTERM).
const MAX_REQUESTS: usize = 100_000;

/// What one client saw.
#[derive(Debug)]
struct Report {
    /// Requests written.
    sent: usize,
    /// Requests answered with their echo, in order.
    answered: usize,
    /// `bye` came, then the end of the stream.
    bye_then_eof: bool,
    /// Connection refused or reset before the server sent anything (a late client only).
    refused: bool,
}

/// One client: writes a request, reads its echo, again, until the server says `bye`; then
/// reads up to the end of the stream and closes. Tells `up` once its first request was
/// answered. Every step is bounded by the test's overall timeout.
async fn client(address: String, id: usize, up: Option<tokio::sync::mpsc::Sender<()>>) -> Report {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    let mut report = Report { sent: 0, answered: 0, bye_then_eof: false, refused: false };
    // How a late client sees a refusal: no listener any more, or a connection that was still
    // in the listen queue when the listener closed, reset before the server sent anything.
    let refusal = |error: &std::io::Error| {
        use std::io::ErrorKind::{BrokenPipe, ConnectionRefused, ConnectionReset};
        matches!(error.kind(), ConnectionRefused | ConnectionReset | BrokenPipe)
    };
    let late = up.is_none();
    let stream = match tokio::net::TcpStream::connect(&address).await {
        Ok(stream) => stream,
        Err(error) if late && refusal(&error) => {
            report.refused = true;
            return report;
        }
        Err(error) => panic!("client {id}: connect: {error}"),
    };
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).lines();
    let mut up = up;
    while report.sent < MAX_REQUESTS {
        let request = format!("client {id} request {}", report.sent);
        match write.write_all(format!("{request}\n").as_bytes()).await {
            Ok(()) => report.sent += 1,
            Err(error) if late && report.answered == 0 && refusal(&error) => {
                report.refused = true;
                return report;
            }
            Err(error) => panic!("client {id}: write after {report:?}: {error}"),
        }
        let line = match lines.next_line().await {
            Ok(line) => line,
            Err(error) if late && report.answered == 0 && refusal(&error) => {
                report.refused = true;
                return report;
            }
            Err(error) => panic!("client {id}: read after {report:?}: {error}"),
        };
        match line.as_deref() {
            Some(answer) if answer == request => report.answered += 1,
            Some("bye") => break,
            other => panic!("client {id}: {other:?} in answer to {request:?} ({report:?})"),
        }
        if let Some(up) = up.take() {
            up.send(()).await.expect("the test counts the clients");
        }
    }
    assert!(report.sent < MAX_REQUESTS, "client {id}: no bye after {MAX_REQUESTS} requests");
    let end = lines.next_line().await.unwrap_or_else(|e| panic!("client {id}: read after bye: {e}"));
    assert_eq!(end, None, "client {id}: the end of the stream after bye");
    report.bye_then_eof = true;
    report
}

/// A few hundred clients on the echo service, each with requests going back and forth when
/// SIGTERM is sent, and some more that connect just after: every request is answered with its
/// echo or cleanly refused (the one in flight gets `bye` instead), every connection ends with
/// `bye` and the end of the stream (or was refused before it was served), every accepted
/// connection is counted as closed cleanly, on the runtime's worker threads, and the server
/// exits with status 0.
#[test]
fn sigterm_under_load_answers_or_refuses_every_request() {
    let mut server = start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let pid = server.child.id();
    let reports = runtime.block_on(async {
        let load = async {
            let (up, mut ups) = tokio::sync::mpsc::channel(CLIENTS);
            let mut clients = tokio::task::JoinSet::new();
            for id in 0..CLIENTS {
                clients.spawn(client(server.echo.clone(), id, Some(up.clone())));
            }
            drop(up);
            for _ in 0..CLIENTS {
                ups.recv().await.expect("every client answered once");
            }
            // Every client is between a request and its answer, or about to write the next.
            let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill runs");
            assert!(status.success());
            for id in CLIENTS..CLIENTS + LATE {
                clients.spawn(client(server.echo.clone(), id, None));
            }
            let mut reports = Vec::new();
            while let Some(report) = clients.join_next().await {
                reports.push(report.expect("a client panicked"));
            }
            reports
        };
        tokio::time::timeout(SAFETY, load).await.expect("the load ends within the safety bound")
    });

    assert_eq!(reports.len(), CLIENTS + LATE);
    let mut accepted = 0;
    for report in &reports {
        if report.refused {
            assert_eq!(report.answered, 0, "{report:?}");
            continue;
        }
        accepted += 1;
        assert!(report.bye_then_eof, "{report:?}");
        // Answered in order; only the request in flight when `bye` came is refused.
        assert!(report.sent - report.answered <= 1, "{report:?}");
    }
    let in_flight = reports.iter().filter(|r| !r.refused && r.sent > r.answered).count();
    assert!(accepted >= CLIENTS, "{accepted} accepted");

    let output = rest_of(&mut server.stdout);
    let exit = server.child.wait().expect("the server exits");
    assert!(exit.success(), "exit status {exit:?}, output {output:?}");
    let (echo_threads, _) = assert_stopped(&output, accepted, 0);
    println!(
        "{CLIENTS} clients up at SIGTERM, {} late ({} refused), {in_flight} request(s) in flight refused with bye, \
         echo ran on {echo_threads} worker thread(s)",
        LATE,
        reports.iter().filter(|r| r.refused).count()
    );
}

/// A client that never closes holds the graceful stop (its connection waits for it after
/// `bye`); a second SIGTERM forces the stop: the service aborts the connection, and the tree
/// returns.
#[test]
fn second_sigterm_forces_a_connection_that_never_closes() {
    let mut server = start();
    let stubborn = connect(&server.echo);
    let mut lines = BufReader::new(stubborn.try_clone().expect("clone"));
    lines.get_mut().write_all(b"ping\n").expect("write");
    assert_eq!(read_line(&mut lines), "ping");
    let pid = server.child.id().to_string();
    let kill = |signal: &str| assert!(Command::new("kill").args([signal, &pid]).status().expect("kill runs").success());

    kill("-TERM");
    assert_eq!(read_line(&mut lines), "bye");
    let mut rest = Vec::new();
    lines.read_to_end(&mut rest).expect("clean end of stream");
    assert!(rest.is_empty());
    // The server now waits for this client to close, which it does not do.
    assert_eq!(read_line(&mut server.stdout), "server: stopping");
    kill("-TERM");

    let mut output = rest_of(&mut server.stdout);
    let exit = server.child.wait().expect("the server exits");
    assert!(exit.success(), "exit status {exit:?}, output {output:?}");
    output.sort();
    assert_eq!(
        output,
        [
            "echo: stopped, 0 connection(s) closed cleanly, 1 failed, on 0 worker thread(s)",
            "health: stopped, 0 connection(s) closed cleanly, 0 failed, on 0 worker thread(s)",
            "server: stopped cleanly",
        ]
    );
    drop((stubborn, lines));
}
