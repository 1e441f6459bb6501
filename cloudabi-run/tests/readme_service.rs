//! The README's "Use it in your project" service, as a new user would make it: its
//! `Cargo.toml`, `src/main.rs` and `service.yaml` are copied out of `README.md` into a crate
//! outside the repository, built statically with the README's command and started under
//! `cloudabi-run` with the README's configuration (on a free port instead of 8080). The
//! crates the README names come from this repository through `[patch.crates-io]`, since they
//! are not published yet. Then a mistyped descriptor (a directory where the socket is
//! declared) must be refused before the program's body runs.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::cli::{Scratch, free_port, inside_private_mount_ns, launcher, run_stdin, stderr};

const SERVICE: &str = "CLOUDABI_RUN_TEST_README_SERVICE";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The fenced block after `<!-- readme-service: NAME -->` in the README.
fn readme_block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- readme-service: {name} -->");
    let after = &readme[readme
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker}"))..];
    let body = &after[after.find("```").unwrap()..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_owned()
}

/// Builds the README's service in a crate outside the repository; returns the binary.
fn build_service() -> PathBuf {
    if let Ok(p) = std::env::var(SERVICE) {
        return PathBuf::from(p);
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let krate = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("readme-service");
    let _ = std::fs::remove_dir_all(&krate);
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let mut manifest = readme_block(&readme, "Cargo.toml");
    // Not published yet: the same crates from this repository. An empty workspace keeps
    // the crate out of any workspace above it.
    manifest.push_str(&format!(
        "\n[workspace]\n\n[patch.crates-io]\ncloudabi-program = {{ path = \"{0}/program\" }}\n\
         cloudabi-argdata = {{ path = \"{0}/argdata\" }}\n",
        repo().display()
    ));
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(
        krate.join("src/main.rs"),
        readme_block(&readme, "src/main.rs"),
    )
    .unwrap();
    // The workspace's lock file pins the same versions of everything both share.
    std::fs::copy(repo().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // The README's command, as written there.
    let status = Command::new(cargo)
        .current_dir(&krate)
        .args(["rustc", "--quiet", "--release", "--"])
        .args(["-C", "target-feature=+crt-static"])
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the README's service failed");
    let binary = krate.join("target/release/hello-service");
    assert!(
        binary.exists(),
        "{} is not where the README says",
        binary.display()
    );
    binary
}

#[test]
fn the_readme_service_builds_and_serves_under_cloudabi_run() {
    let env = [(SERVICE, build_service().display().to_string())];
    if !inside_private_mount_ns(
        "the_readme_service_builds_and_serves_under_cloudabi_run",
        &env,
    ) {
        return;
    }
    let service = build_service();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let port = free_port();
    let yaml = readme_block(&readme, "service.yaml")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let s = Scratch::new("readme-service");
    std::fs::write(s.path("service.yaml"), &yaml).unwrap();
    let mut server = Command::new(launcher())
        .arg(&service)
        .arg("--config")
        .arg(s.path("service.yaml"))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut greeting = String::new();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut c) => {
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                c.read_to_string(&mut greeting).unwrap();
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "the service did not listen: {e}");
                assert!(server.try_wait().unwrap().is_none(), "the launcher exited");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    assert_eq!(greeting, "Hello from the sandbox\n");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let status = server.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));

    // A directory where the listening socket is declared: refused at the field, before the
    // service's body runs, and the launcher names the YAML position.
    let bad = yaml.replace(
        &format!("!socket {{bind: 127.0.0.1:{port}}}"),
        &format!("!file {{path: {}}}", s.p("")),
    );
    assert_ne!(bad, yaml);
    let o = run_stdin(&[&service.display().to_string()], &bad);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(65), "{err}");
    assert!(
        err.starts_with("cloudabi-run: <stdin>:3:9: the program cannot use `listen`: ")
            && err.contains("is a directory, but a listening TCP socket is declared"),
        "{err}"
    );
    // Nothing listens: the body never ran.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}
