//! Shared helpers of the integration tests: building the static test program and running each
//! sandbox test inside `unshare -m --propagation private`.

#![allow(dead_code, unreachable_pub)]

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const INSIDE: &str = "CLOUDABI_RUN_TEST_INSIDE_UNSHARE";
const HOSTILE: &str = "CLOUDABI_RUN_TEST_HOSTILE";

/// Compiles `tests/programs/hostile.rs` as a static executable (once per process).
pub fn hostile_program() -> PathBuf {
    if let Ok(p) = std::env::var(HOSTILE) {
        return PathBuf::from(p);
    }
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/hostile.rs");
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let out = dir.join("cloudabi-run-hostile");
            let tmp = dir.join(format!("cloudabi-run-hostile.{}", std::process::id()));
            let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
            let status = Command::new(rustc)
                .args([
                    "--edition",
                    "2024",
                    "-O",
                    "-C",
                    "target-feature=+crt-static",
                ])
                .args(["-C", "panic=abort", "-o"])
                .arg(&tmp)
                .arg(&src)
                .status()
                .expect("run rustc");
            assert!(status.success(), "building the hostile test program failed");
            std::fs::rename(&tmp, &out).expect("rename test program");
            out
        })
        .clone()
}

/// Returns true when the caller is inside a private mount namespace and should run the test
/// body. Otherwise runs this very test again under `unshare -m --propagation private`,
/// asserts that it passed and returns false.
pub fn inside_private_mount_ns(test_name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let program = hostile_program();
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .env(HOSTILE, program)
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test_name} under unshare failed:\n{stdout}\n{stderr}"
    );
    false
}

/// A pipe whose write end is granted; `collect` reads everything once writers are gone.
pub struct Capture {
    reader: std::thread::JoinHandle<Vec<u8>>,
}

impl Capture {
    pub fn new() -> (Capture, OwnedFd) {
        let (r, w) = std::io::pipe().expect("pipe");
        let reader = std::thread::spawn(move || {
            let mut r = r;
            let mut v = Vec::new();
            r.read_to_end(&mut v).expect("read pipe");
            v
        });
        (Capture { reader }, w.into())
    }

    pub fn collect(self) -> String {
        String::from_utf8(self.reader.join().expect("reader")).expect("utf-8 output")
    }
}

/// A fresh scratch directory.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "cloudabi-run-test-{tag}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}
