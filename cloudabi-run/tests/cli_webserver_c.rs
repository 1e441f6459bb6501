//! The C demo web server (`examples/webserver-c/webserver.c`), compiled with the command line
//! its header documents against `target/release/libcloudlibc_rs.a`, under `cloudabi-run`
//! with the full sandbox.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use cli_support::{
    Scratch, free_port, get, inside_private_mount_ns, site, start, stop, wait_for_lines,
};

const SERVER: &str = "CLOUDABI_RUN_TEST_WEBSERVER_C";

/// Builds `libcloudlibc_rs.a` (release) if needed, then the static C server.
fn build() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp`.
    let target = tmp.parent().unwrap();
    let lib = target.join("release/libcloudlibc_rs.a");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "--release", "-p", "cloudlibc-rs"])
        .arg("--target-dir")
        .arg(target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building libcloudlibc_rs.a failed");
    let out = tmp.join("webserver-c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(cc)
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(root.join("examples/webserver-c/webserver.c"))
        .arg("-I")
        .arg(root.join("cloudlibc-rs/include"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm"])
        .output()
        .expect("run cc");
    // The linker warns that parts of the Rust standard library would need glibc's shared
    // libraries at run time (user and host name lookups, which the server never makes).
    assert!(
        status.status.success(),
        "compiling webserver.c failed:\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

#[test]
fn c_server_serves_through_the_sandbox() {
    let server = match std::env::var(SERVER) {
        Ok(p) => PathBuf::from(p),
        Err(_) => build(),
    };
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
