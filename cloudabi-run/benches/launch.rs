//! Launch latency: the full sandbox versus a plain fork+exec of the same tiny static program.
//!
//! Runs itself again under `unshare -m --propagation private` (the launcher's tests and
//! benchmarks never start sandboxed programs from the host's mount namespace). Besides
//! criterion's statistics it prints the medians of 200 plain runs of each and their
//! difference.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use cloudabi_run::launch::Launch;
use criterion::Criterion;

fn sandboxed(program: &std::path::Path) {
    let o = Launch::new(program)
        .arg("exit")
        .arg("0")
        .run()
        .expect("launch");
    assert_eq!(o.exit_code(), 0);
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
    const INSIDE: &str = "CLOUDABI_RUN_BENCH_INSIDE_UNSHARE";
    let program = common::hostile_program();
    if std::env::var_os(INSIDE).is_none() {
        let exe = std::env::current_exe().expect("current_exe");
        let status = Command::new("unshare")
            .args(["-m", "--propagation", "private"])
            .arg(exe)
            .args(std::env::args_os().skip(1))
            .env(INSIDE, "1")
            .env("CLOUDABI_RUN_TEST_HOSTILE", &program)
            .status()
            .expect("run unshare");
        std::process::exit(status.code().unwrap_or(1));
    }
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("launch");
    g.bench_function("sandboxed", |b| b.iter(|| sandboxed(&program)));
    g.bench_function("plain_fork_exec", |b| b.iter(|| plain(&program)));
    g.finish();
    c.final_summary();

    let s = median(|| sandboxed(&program));
    let p = median(|| plain(&program));
    println!(
        "median of 200: sandboxed {:.3} ms, plain {:.3} ms, added {:.3} ms (x{:.2})",
        s.as_secs_f64() * 1e3,
        p.as_secs_f64() * 1e3,
        (s.as_secs_f64() - p.as_secs_f64()) * 1e3,
        s.as_secs_f64() / p.as_secs_f64()
    );
}
