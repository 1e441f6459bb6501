//! Requests per second and latency of the demo web server (`examples/webserver`, release
//! build, static) under `cloudabi-run` with the full sandbox, against the same binary started
//! bare: same process, same argdata (a listening socket, the document root, an append-only
//! log), handed over by `program::launch::command` (the startup protocol of
//! `docs/startup.md`) with no namespace, Landlock or seccomp. The bare server's log is, like
//! the sandboxed one's, the write end of a pipe whose other end a separate thread appends
//! to the log file (the launcher uses a relay process), so that both pay the same for
//! logging.
//!
//! Each round makes the same fixed number of requests against each server: [`CLIENTS`]
//! concurrent clients on loopback, one `GET /` per connection (`Connection: close`), every
//! answer checked. Rounds alternate bare and sandboxed; the summary gives the median of the
//! rounds' requests per second, p50 and p99 latency over all requests, and the ratios
//! sandboxed/bare.
//!
//! ```text
//! cargo bench -p cloudabi-run --bench webserver
//! ```
//!
//! Runs itself again under `unshare -m --propagation private`, as the launcher's tests do.
//! `CLOUDABI_RUN_BENCH_WEBSERVER` names an already built static server; `CLOUDABI_RUN_BENCH_
//! REQUESTS` changes the requests per round and server (default 4000).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use argdata::{Fd, Value};
use cloudabi_test_support::launcher as common;

/// Concurrent clients.
const CLIENTS: usize = 4;
/// Rounds per server (alternating).
const ROUNDS: usize = 3;
const BODY: &str = "<h1>bench</h1>\n";

/// Builds the release server statically (`cargo rustc --release ... -C
/// target-feature=+crt-static`) and copies it aside, so that a later dynamic build of the
/// same binary does not replace it.
fn server() -> PathBuf {
    if let Ok(p) = std::env::var("CLOUDABI_RUN_BENCH_WEBSERVER") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["rustc", "--quiet", "--release", "-p", "webserver", "--bin"])
        .arg("webserver")
        .arg("--target-dir")
        .arg(target)
        .args(["--", "-C", "target-feature=+crt-static"])
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the static web server failed");
    let out = tmp.join("webserver-bench-static");
    std::fs::copy(target.join("release/webserver"), &out).expect("copy the server");
    out
}

/// Waits until `port` accepts connections.
fn wait_up(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The server under `cloudabi-run`.
fn sandboxed(server: &Path, dir: &common::Scratch, port: u16) -> Child {
    let conf = dir.path("sandboxed.yaml");
    std::fs::write(
        &conf,
        common::webserver_config(port, &dir.p("www"), &dir.p("sandboxed.log")),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cloudabi-run"))
        .arg(server)
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .spawn()
        .expect("start cloudabi-run");
    wait_up(port);
    child
}

/// The same server bare, with the same argdata.
fn bare(server: &Path, dir: &common::Scratch, port: u16) -> Child {
    let socket = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let root = std::fs::File::open(dir.path("www")).expect("open root");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.path("bare.log"))
        .expect("open log");
    let (mut relay, log) = std::io::pipe().expect("pipe");
    // Ends when the server has exited (the pipe's last writer).
    std::thread::spawn(move || std::io::copy(&mut relay, &mut file));
    let value = Value::map([
        ("socket", Fd(socket.as_raw_fd())),
        ("root", Fd(root.as_raw_fd())),
        ("log", Fd(log.as_raw_fd())),
    ]);
    let mut cmd = program::launch::command(server, &value).expect("prepare the startup protocol");
    // In a session of its own, as the launcher starts the sandboxed server: with the
    // scheduler's autogroups, a new session is a new group with a CPU share of its own, and
    // the comparison would otherwise favour the sandboxed server on a busy machine.
    // SAFETY: setsid is async-signal-safe and touches no memory of this process.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.stdin(Stdio::null()).spawn().expect("start the server");
    // The child has its copies; ours close here.
    drop((socket, root, log));
    wait_up(port);
    child
}

/// One request on a new connection; panics on a wrong answer.
fn request(port: u16) -> Duration {
    let t = Instant::now();
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let mut raw = Vec::with_capacity(512);
    c.read_to_end(&mut raw).expect("receive");
    let took = t.elapsed();
    assert!(
        raw.starts_with(b"HTTP/1.1 200 OK\r\n") && raw.ends_with(BODY.as_bytes()),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    took
}

/// `requests` requests from `CLIENTS` clients: (requests per second, latencies).
fn load(port: u16, requests: usize) -> (f64, Vec<Duration>) {
    let t = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let n = requests / CLIENTS + usize::from(i < requests % CLIENTS);
            std::thread::spawn(move || (0..n).map(|_| request(port)).collect::<Vec<_>>())
        })
        .collect();
    let lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client"))
        .collect();
    (requests as f64 / t.elapsed().as_secs_f64(), lat)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

struct Totals {
    rps: Vec<f64>,
    lat: Vec<Duration>,
}

impl Totals {
    fn summary(&mut self) -> (f64, Duration, Duration) {
        self.rps.sort_by(f64::total_cmp);
        self.lat.sort();
        (
            self.rps[self.rps.len() / 2],
            percentile(&self.lat, 0.50),
            percentile(&self.lat, 0.99),
        )
    }
}

fn main() {
    // `cargo test --benches` runs this with `--test`: nothing to measure then.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let server = server();
    common::bench_in_private_mount_ns(&[("CLOUDABI_RUN_BENCH_WEBSERVER", server.as_os_str())]);
    let requests: usize = std::env::var("CLOUDABI_RUN_BENCH_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let dir = common::Scratch::new("bench-web");
    std::fs::create_dir_all(dir.path("www")).unwrap();
    std::fs::write(dir.path("www/index.html"), BODY).unwrap();

    let mut bare_t = Totals {
        rps: Vec::new(),
        lat: Vec::new(),
    };
    let mut sand_t = Totals {
        rps: Vec::new(),
        lat: Vec::new(),
    };
    println!(
        "web server: {requests} requests per round and server, {CLIENTS} clients, \
         one request per connection"
    );
    for round in 0..ROUNDS {
        for (name, totals) in [("bare", &mut bare_t), ("sandboxed", &mut sand_t)] {
            let port = common::free_port();
            let child = if name == "bare" {
                bare(&server, &dir, port)
            } else {
                sandboxed(&server, &dir, port)
            };
            // Warm up (page cache, first thread stacks), not counted.
            let _ = load(port, 200);
            let (rps, mut lat) = load(port, requests);
            stop(child);
            lat.sort();
            println!(
                "round {round} {name:>9}: {rps:8.0} req/s  p50 {:7.1?}  p99 {:7.1?}",
                percentile(&lat, 0.50),
                percentile(&lat, 0.99)
            );
            totals.rps.push(rps);
            totals.lat.extend(lat);
        }
    }
    let (b_rps, b50, b99) = bare_t.summary();
    let (s_rps, s50, s99) = sand_t.summary();
    println!("bare      : {b_rps:8.0} req/s  p50 {b50:7.1?}  p99 {b99:7.1?}");
    println!("sandboxed : {s_rps:8.0} req/s  p50 {s50:7.1?}  p99 {s99:7.1?}");
    println!(
        "sandboxed/bare: req/s {:.3}  p50 {:.3}  p99 {:.3}",
        s_rps / b_rps,
        s50.as_secs_f64() / b50.as_secs_f64(),
        s99.as_secs_f64() / b99.as_secs_f64()
    );
}
