//! The C demo web server (`examples/webserver-c/webserver.c`), compiled with the command line
//! its header documents against `target/release/libcloudlibc_rs.a`, under `cloudabi-run`
//! with the full sandbox.

mod common;

use common::cli::{
    Scratch, free_port, get, inside_private_mount_ns, site, start, stop, wait_for_lines,
};

const SERVER: &str = "CLOUDABI_RUN_TEST_WEBSERVER_C";

#[test]
fn c_server_serves_through_the_sandbox() {
    let server = common::cli::c_webserver(SERVER);
    let env = [(SERVER, server.display().to_string())];
    if !inside_private_mount_ns("c_server_serves_through_the_sandbox", &env) {
        return;
    }
    let s = Scratch::new("web-c");
    site(&s);
    let port = free_port();
    let child = start(&s, &server, port, &[]);
    let (status, head, body) = get(port, "/");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("Content-Type: text/html"), "{head}");
    assert_eq!(body, "<h1>sandboxed</h1>\n");
    let (status, head, _) = get(port, "/style.css");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: text/css"));
    for (path, want) in [
        ("/../../etc/passwd", 403),
        ("/%2e%2e/secret.txt", 403),
        ("//etc/passwd", 404),
        ("/escape", 403),
        ("/passwd", 403),
        ("/docs", 301),
    ] {
        let (status, head, body) = get(port, path);
        assert_eq!(status, want, "{path}: {head}");
        assert!(
            !body.contains("TOP SECRET") && !body.contains("root:"),
            "{path}"
        );
    }
    // The connection `start` made is logged too; the last line may still be on its way.
    let log = wait_for_lines(&s.path("access.log"), 9, std::time::Duration::from_secs(30));
    let st = stop(child);
    assert_eq!(st.code(), Some(143));
    assert!(log.contains("\"GET /../../etc/passwd\" 403 14\n"), "{log}");
    assert_eq!(log.lines().count(), 9, "{log}");
}
