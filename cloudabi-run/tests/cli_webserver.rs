//! The demo web server (`examples/webserver`) under `cloudabi-run` with the full sandbox:
//! files are served through the sandbox, nothing outside the document root is, requests are
//! logged through the append-only log, and `--instances` copies share one socket. The demo's
//! configuration file resolves to the grants the server expects.
//!
//! The server must be a static executable (the sandbox's root file system is empty). The
//! test builds it with `cargo rustc -p webserver -- -C target-feature=+crt-static`, or uses
//! the one named by `CLOUDABI_RUN_TEST_WEBSERVER`.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cloudabi_run::config::{self, AmbientAuthority};
use cloudabi_run::launch::GrantKind;
use cloudabi_run::sandbox::FileMode;
use common::cli::{
    Scratch, fetch, free_port, get, inside_private_mount_ns, site, start, stop, wait_for_lines,
};

const WEBSERVER: &str = "CLOUDABI_RUN_TEST_WEBSERVER";

/// The static web server executable.
fn webserver() -> PathBuf {
    common::cli::static_cargo_binary("webserver", &["--bin", "webserver"], "webserver", WEBSERVER)
}

#[test]
fn serves_files_through_the_sandbox_and_nothing_else() {
    let env = [(WEBSERVER, webserver().display().to_string())];
    if !inside_private_mount_ns("serves_files_through_the_sandbox_and_nothing_else", &env) {
        return;
    }
    let s = Scratch::new("web");
    site(&s);
    let port = free_port();
    let server = start(&s, &webserver(), port, &[]);
    // The server serves connections concurrently: wait until `start`'s connection is
    // logged, so that the lines below come in the order of the requests (each request's
    // line is written before its connection closes, and each request waits for that).
    wait_for_lines(&s.path("access.log"), 1, Duration::from_secs(30));

    let (status, head, body) = get(port, "/");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("Content-Type: text/html"), "{head}");
    assert_eq!(body, "<h1>sandboxed</h1>\n");
    let (status, head, body) = get(port, "/style.css");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: text/css"), "{head}");
    assert_eq!(body, "h1 { color: red }\n");
    let (status, _, body) = get(port, "/docs/notes.txt");
    assert_eq!((status, body.as_str()), (200, "notes\n"));
    let (status, head, body) = fetch(port, "HEAD /docs/notes.txt HTTP/1.0\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(head.contains("Content-Length: 6"));

    // Nothing outside the root, however asked for.
    for (path, want) in [
        ("/../../etc/passwd", 403),
        ("/../secret.txt", 403),
        ("/%2e%2e/secret.txt", 403),
        ("/docs/../../secret.txt", 403),
        ("//etc/passwd", 404),
        ("/escape", 403),
        ("/passwd", 403),
        ("/missing.html", 404),
    ] {
        let (status, head, body) = get(port, path);
        assert_eq!(status, want, "{path}: {head}");
        assert!(
            !body.contains("TOP SECRET") && !body.contains("root:"),
            "{path}"
        );
    }
    let (status, _, _) = fetch(port, "DELETE /index.html HTTP/1.1\r\n\r\n");
    assert_eq!(status, 405);
    assert!(s.path("www/index.html").exists());

    // One log line per request, written through the append-only log; the first is the
    // connection `start` made to wait for the server, which sent no request. The last line
    // may still be on its way when the last answer has arrived.
    let log = wait_for_lines(&s.path("access.log"), 14, Duration::from_secs(30));
    let st = stop(server);
    assert_eq!(st.code(), Some(143), "{st:?}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 14, "{log}");
    assert!(lines[0].ends_with("\"- -\" 400 16"), "{}", lines[0]);
    assert!(lines[1].ends_with("\"GET /\" 200 19"), "{}", lines[1]);
    assert!(
        lines[5].contains("\"GET /../../etc/passwd\" 403 "),
        "{}",
        lines[5]
    );
}

#[test]
fn instances_share_one_socket() {
    let env = [(WEBSERVER, webserver().display().to_string())];
    if !inside_private_mount_ns("instances_share_one_socket", &env) {
        return;
    }
    let s = Scratch::new("instances");
    site(&s);
    let port = free_port();
    let server = start(&s, &webserver(), port, &["--instances", "3"]);
    // Instances start one after the other; keep asking (at least 30 times) until every
    // copy has answered or ten seconds have passed.
    let mut seen = BTreeSet::new();
    let mut requests = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while requests < 30 || (seen.len() < 3 && Instant::now() < deadline) {
        requests += 1;
        let (status, head, body) = get(port, "/");
        assert_eq!((status, body.as_str()), (200, "<h1>sandboxed</h1>\n"));
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("X-Instance: "))
            .expect("X-Instance header")
            .to_owned();
        seen.insert(id);
    }
    // The connection `start` made to wait for the server is logged too (as a 400).
    let log = wait_for_lines(&s.path("access.log"), requests + 1, Duration::from_secs(30));
    let st = stop(server);
    assert_eq!(st.code(), Some(143));
    // Blocked accept() calls are woken in turn: all three copies answered.
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        log.lines().filter(|l| l.contains("\"GET /\" 200")).count(),
        requests,
        "{log}"
    );
}

#[test]
fn a_typed_configuration_error_names_the_yaml_position() {
    let env = [(WEBSERVER, webserver().display().to_string())];
    if !inside_private_mount_ns("a_typed_configuration_error_names_the_yaml_position", &env) {
        return;
    }
    let s = Scratch::new("web-config");
    site(&s);
    let server = webserver().display().to_string();
    // `socket` must be a descriptor; here it is a number. Standard error is not granted, so
    // only the launcher can tell the user.
    let yaml = format!(
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\nroot: !file {{path: {}}}\nsocket: 8080\n",
        s.p("www")
    );
    let o = common::cli::run_stdin(&[&server], &yaml);
    let err = common::cli::stderr(&o);
    assert_eq!(o.status.code(), Some(65), "{err}");
    let mut lines = err.lines();
    let first = lines.next().unwrap_or_default();
    assert!(
        first.starts_with("cloudabi-run: <stdin>:4:9: the program cannot use `socket`: "),
        "{err}"
    );
    assert_eq!(
        lines.next(),
        Some(format!("cloudabi-run: {server} exited with status 65").as_str()),
        "{err}"
    );
    // A missing field is reported at the map that lacks it, from a file by its name.
    std::fs::write(
        s.path("conf.yaml"),
        format!("root: !file {{path: {}}}\n", s.p("www")),
    )
    .unwrap();
    let conf = s.p("conf.yaml");
    let o = common::cli::run(&["--config", &conf, &server]);
    let err = common::cli::stderr(&o);
    assert_eq!(o.status.code(), Some(65), "{err}");
    assert!(
        err.starts_with(&format!(
            "cloudabi-run: {conf}:1:1: the program cannot use its configuration: "
        )),
        "{err}"
    );
    assert!(err.contains("socket"), "{err}");
}

/// `examples/webserver.yaml` (what `cargo xtask demo` runs) resolves to the socket, the
/// read-only document root, the append-only log and stderr, numbered as the server expects.
#[test]
fn the_demo_configuration_resolves() {
    let s = Scratch::new("demo");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let text = std::fs::read_to_string(repo.join("examples/webserver.yaml")).unwrap();
    // Same file, but on a free port, with the paths made absolute and the log elsewhere.
    let text = text
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace(
            "path: examples/www",
            &format!("path: {}", repo.join("examples/www").display()),
        )
        .replace(
            "path: target/webserver-access.log",
            &format!("path: {}", s.p("access.log")),
        );
    let authority = AmbientAuthority::claim();
    let p = config::resolve(&text, "webserver.yaml", &webserver(), &authority)
        .unwrap_or_else(|e| panic!("{e}"))
        .plan(false)
        .unwrap();
    let kinds: Vec<GrantKind> = p.grants.iter().map(|g| g.kind).collect();
    assert_eq!(
        kinds,
        [
            GrantKind::Socket,
            GrantKind::Dir(FileMode::Read),
            GrantKind::File(FileMode::Append),
            GrantKind::Stderr
        ]
    );
    assert_eq!(p.numbers(), [3, 4, 5, 2]);
    let index = rustix::fs::openat(
        &p.grants[1].fd,
        "index.html",
        rustix::fs::OFlags::RDONLY,
        0.into(),
    );
    assert!(index.is_ok(), "examples/www/index.html is missing");
}
