//! Helpers shared by the integration tests: temporary directories, the static library,
//! compiling C programs with the documented command line, finding example binaries.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh empty directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "cloudlibc-rs-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `target/<profile>` of the running test binary.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// This crate's directory (in the repository or an unpacked package).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's root (only for the tests that are not part of the package).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The static library of the profile this test was built in. `cargo test` does not
/// refresh the `staticlib` output, so this runs `cargo build -p cloudlibc-rs --lib` (a
/// no-op when it is up to date) once per test process.
pub fn staticlib() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = profile_dir();
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "--quiet", "-p", "cloudlibc-rs", "--lib"])
                .current_dir(crate_dir());
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let status = cmd.status().unwrap();
            assert!(status.success(), "building the static library failed");
            let lib = dir.join("libcloudlibc_rs.a");
            assert!(lib.exists(), "{} missing", lib.display());
            lib
        })
        .clone()
}

/// Compiles `src` with `cc SRC -Icloudlibc-rs/include LIB -lpthread -ldl -lm -o OUT`.
pub fn compile_c(src: &Path, out: &Path) {
    let include = crate_dir().join("include");
    let output = Command::new("cc")
        .arg("-Wall")
        .arg("-Werror")
        .arg(src)
        .arg("-I")
        .arg(&include)
        .arg(staticlib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cc {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A Rust example binary built by cargo for this test run.
pub fn example(name: &str) -> PathBuf {
    let p = profile_dir().join("examples").join(name);
    assert!(p.exists(), "example {} not built", p.display());
    p
}
