//! Launch latency of one tiny static program (`exit 0`): the full sandbox without grants and
//! with a read-only directory and a read-write file (each a detached mount of its own), a
//! plain fork+exec, and `bwrap --unshare-all` (Debian package `bubblewrap`; skipped when
//! `/usr/bin/bwrap` is missing) with the same binary bound in.
//!
//! Runs itself again under `unshare -m --propagation private` (the launcher's tests and
//! benchmarks never start sandboxed programs from the host's mount namespace). Besides
//! criterion's statistics it prints the medians of 200 plain runs of each and their ratio to
//! the plain fork+exec.

use std::process::Command;
use std::time::{Duration, Instant};

use cloudabi_run::launch::{GrantKind, Launch};
use cloudabi_run::sandbox::FileMode;
use cloudabi_test_support::launcher as common;
use criterion::Criterion;

const BWRAP: &str = "/usr/bin/bwrap";

fn sandboxed(program: &std::path::Path) {
    let o = Launch::new(program)
        .arg("exit")
        .arg("0")
        .run()
        .expect("launch");
    assert_eq!(o.exit_code(), 0);
}

/// With two grants: the directory holding the program (read-only) and a scratch file.
fn sandboxed_with_grants(program: &std::path::Path, file: &std::path::Path) {
    let dir = std::fs::File::open(program.parent().expect("program has a directory"))
        .expect("open directory");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .expect("open file");
    let o = Launch::new(program)
        .grant(dir.into(), GrantKind::Dir(FileMode::Read))
        .grant(f.into(), GrantKind::File(FileMode::ReadWrite))
        .arg("exit")
        .arg("0")
        .run()
        .expect("launch");
    assert_eq!(o.exit_code(), 0);
}

fn bwrap(program: &std::path::Path) {
    let st = Command::new(BWRAP)
        .args(["--unshare-all", "--die-with-parent", "--ro-bind"])
        .arg(program)
        .arg("/program")
        .args(["/program", "exit", "0"])
        .status()
        .expect("spawn bwrap");
    assert!(st.success());
}

fn plain(program: &std::path::Path) {
    let st = Command::new(program)
        .args(["exit", "0"])
        .status()
        .expect("spawn");
    assert!(st.success());
}

fn median(mut f: impl FnMut()) -> Duration {
    let mut v: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let program = common::hostile_program(&cloudabi_test_support::target!());
    common::bench_in_private_mount_ns(&[("CLOUDABI_RUN_TEST_HOSTILE", program.as_os_str())]);
    let file = std::env::temp_dir().join(format!("cloudabi-run-bench-{}", std::process::id()));
    std::fs::write(&file, b"x").expect("scratch file");
    let have_bwrap = std::path::Path::new(BWRAP).exists();
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("launch");
    g.bench_function("sandboxed", |b| b.iter(|| sandboxed(&program)));
    g.bench_function("sandboxed_with_grants", |b| {
        b.iter(|| sandboxed_with_grants(&program, &file))
    });
    g.bench_function("plain_fork_exec", |b| b.iter(|| plain(&program)));
    if have_bwrap {
        g.bench_function("bwrap_unshare_all", |b| b.iter(|| bwrap(&program)));
    }
    g.finish();
    c.final_summary();

    let p = median(|| plain(&program));
    let mut rows = vec![
        ("sandboxed", median(|| sandboxed(&program))),
        (
            "sandboxed_with_grants",
            median(|| sandboxed_with_grants(&program, &file)),
        ),
    ];
    if have_bwrap {
        rows.push(("bwrap_unshare_all", median(|| bwrap(&program))));
    } else {
        println!("{BWRAP} missing (Debian package bubblewrap): no bwrap comparison");
    }
    println!(
        "median of 200: plain fork+exec {:.3} ms",
        p.as_secs_f64() * 1e3
    );
    for (name, d) in rows {
        println!(
            "median of 200: {name} {:.3} ms (x{:.2} plain)",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / p.as_secs_f64()
        );
    }
    let _ = std::fs::remove_file(&file);
}
