//! The full check run (`cargo xtask test`) and the demo (`cargo xtask demo`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::paths::{host_target_dir, root};

/// Runs `program args...` in the workspace root; fails when it exits non-zero.
fn run(step: &str, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("==> {step}: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("{step}: cannot start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// Counts from `cargo test` output, and the check steps that failed.
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    skipped: u64,
    /// Test binaries that reported a `FAILED` result line.
    failed_results: u64,
    /// Test binaries cargo reports as failed (`error: test failed, to rerun pass ...`),
    /// including one that crashed before printing its result line.
    failed_targets: u64,
    failed_steps: Vec<String>,
}

impl Tally {
    /// Takes in one line of `cargo test` output (either stream).
    fn line(&mut self, line: &str) {
        if let Some(rest) = line.trim().strip_prefix("test result: ") {
            if rest.starts_with("FAILED") {
                self.failed_results += 1;
            }
            for part in rest.split([';', '.']) {
                let mut words = part.split_whitespace();
                let (Some(n), Some(what)) = (words.next(), words.next()) else {
                    continue;
                };
                let Ok(n) = n.parse::<u64>() else { continue };
                match what {
                    "passed" => self.passed += n,
                    "failed" => self.failed += n,
                    "ignored" => self.skipped += n,
                    _ => {}
                }
            }
        } else if line.starts_with("error: test failed, to rerun pass") {
            self.failed_targets += 1;
        }
    }

    /// The failures to report: failed tests, a test binary that failed without a result
    /// line (a crash) as one, and every failed check step as one.
    fn failures(&self) -> u64 {
        self.failed
            + self.failed_targets.saturating_sub(self.failed_results)
            + self.failed_steps.len() as u64
    }

    /// Prints the summary line (the run's last line) and fails if anything failed.
    fn finish(&self) -> Result<(), String> {
        let failures = self.failures();
        println!(
            "{} passed, {failures} failed, {} skipped",
            self.passed, self.skipped
        );
        if failures == 0 {
            Ok(())
        } else {
            Err(String::new())
        }
    }
}

/// Runs a check step; a failure is recorded and the run goes on.
fn step(tally: &mut Tally, name: &str, program: &str, args: &[&str]) {
    if let Err(e) = run(name, program, args) {
        eprintln!("xtask: {e}");
        tally.failed_steps.push(name.to_string());
    }
}

/// The environment variable that tells the path tests they run with `openat2` refused
/// (they then check that the resolver noticed).
const WITHOUT_OPENAT2: &str = "CLOUDABI_TEST_WITHOUT_OPENAT2";

/// Runs `cargo test ARGS --no-fail-fast`, passing its output through while counting.
fn tests(tally: &mut Tally, args: &[&str]) {
    run_tests(tally, &root(), None, args, &[], false);
}

/// Runs `cargo test ARGS --no-fail-fast -- HARNESS` with `openat2` refused by a seccomp
/// filter (`ENOSYS`, see [`crate::seccomp`]) in cargo and the test binaries it starts.
fn tests_without_openat2(tally: &mut Tally, args: &[&str], harness: &[&str]) {
    run_tests(tally, &root(), None, args, harness, true);
}

/// Runs `cargo test ARGS --no-fail-fast [-- HARNESS]` in `dir` (with `CARGO_TARGET_DIR`
/// set to `target_dir` if given), passing its output through while counting; with
/// `without_openat2`, under the seccomp filter that refuses `openat2`.
fn run_tests(
    tally: &mut Tally,
    dir: &Path,
    target_dir: Option<&Path>,
    args: &[&str],
    harness: &[&str],
    without_openat2: bool,
) {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::sync::mpsc;

    let mut all: Vec<&str> = args.to_vec();
    all.push("--no-fail-fast");
    if !harness.is_empty() {
        all.push("--");
        all.extend_from_slice(harness);
    }
    let what = if without_openat2 {
        " (openat2 refused with ENOSYS)"
    } else {
        ""
    };
    let place = if dir == root() {
        String::new()
    } else {
        format!(" (in {})", dir.display())
    };
    eprintln!("==> tests{what}: cargo test {}{place}", all.join(" "));
    let mut command = Command::new("cargo");
    command
        .arg("test")
        .args(&all)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(target_dir) = target_dir {
        command.env("CARGO_TARGET_DIR", target_dir);
    }
    if without_openat2 {
        command.env(WITHOUT_OPENAT2, "1");
        if let Err(e) = crate::seccomp::without_openat2(&mut command) {
            eprintln!("xtask: tests: {e}");
            tally.failed_steps.push("tests".into());
            return;
        }
    }
    let child = command.spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtask: tests: cannot start cargo: {e}");
            tally.failed_steps.push("tests".into());
            return;
        }
    };
    // Both streams are read line by line on their own threads and counted here.
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().map(|out| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("{line}");
                let _ = std::io::stdout().flush();
                let _ = tx.send(line);
            }
        })
    });
    let stderr = child.stderr.take().map(|err| {
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let _ = tx.send(line);
            }
        })
    });
    for line in rx {
        tally.line(&line);
    }
    for reader in [stdout, stderr].into_iter().flatten() {
        let _ = reader.join();
    }
    match child.wait() {
        Ok(status) if status.success() => {}
        Ok(status) => {
            eprintln!("xtask: tests failed ({status})");
            if tally.failures() == 0 {
                // A failure the output did not show (cargo itself, a build error).
                tally.failed_steps.push("tests".into());
            }
        }
        Err(e) => {
            eprintln!("xtask: tests: {e}");
            tally.failed_steps.push("tests".into());
        }
    }
}

/// The path tests once more where `openat2` is missing (as on older kernels and under
/// QEMU user mode): the resolver's detection then picks its component walk, which must
/// behave exactly like `openat2`. Only the path tests (the resolver's in `cloudabi-caps`,
/// the emulator's `file_*` system call tests), built with the flags of the main run, so
/// this costs seconds.
fn path_tests_without_openat2(tally: &mut Tally) {
    tests_without_openat2(
        tally,
        &[
            "--release",
            "--all-features",
            "--package",
            "cloudabi-caps",
            "--test",
            "resolve",
        ],
        &[],
    );
    tests_without_openat2(
        tally,
        &[
            "--release",
            "--all-features",
            "--package",
            "cloudabi-emulator",
            "--test",
            "syscalls",
        ],
        &["file_"],
    );
}

/// `cargo xtask test-without-openat2`: only the second run of the path tests (the one
/// `cargo xtask test` makes with `openat2` refused), with its own summary line.
pub(crate) fn test_without_openat2(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!(
            "`test-without-openat2` takes no arguments, got {args:?}"
        ));
    }
    let t = &mut Tally::default();
    path_tests_without_openat2(t);
    t.finish()
}

/// `cargo xtask test-packages`: only the `packages` step of `cargo xtask test` (each library
/// crate packaged, and its tests run from the package), with its own summary line.
pub(crate) fn test_packages(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("`test-packages` takes no arguments, got {args:?}"));
    }
    let t = &mut Tally::default();
    packages(t);
    t.finish()
}

/// Every check the project has, in order from fastest to slowest. Every step runs even
/// when an earlier one failed, and every test binary even when an earlier one failed
/// (`--no-fail-fast`), so one failure never hides another. Ends with the line
/// `N passed, N failed, N skipped`: the tests of all binaries (ignored ones as skipped),
/// each check step that failed counting as one failure.
pub(crate) fn test(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("`test` takes no arguments, got {args:?}"));
    }
    let started = std::time::Instant::now();
    let t = &mut Tally::default();
    step(t, "format", "cargo", &["fmt", "--all", "--", "--check"]);
    // Inside every crate the modules depend one way (docs/architecture.md).
    let mut modules = 0;
    let crates = crate::modgraph::crate_sources(&root());
    for src in &crates {
        match crate::modgraph::check(src) {
            Ok(n) => modules += n,
            Err(e) => {
                eprintln!("xtask: {}: {e}", src.display());
                t.failed_steps
                    .push(format!("module order of {}", src.display()));
            }
        }
    }
    println!(
        "xtask: module order: {} crates, {modules} modules checked",
        crates.len()
    );
    step(
        t,
        "lints",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
    );
    step(
        t,
        "docs",
        "cargo",
        &["doc", "--workspace", "--no-deps", "--all-features"],
    );
    // Release build first: the C tests and the launcher tests use the release artifacts
    // (`target/release/libcloudlibc_rs.a`, `target/release/cloudabi-run`, ...).
    step(
        t,
        "release build",
        "cargo",
        &["build", "--workspace", "--release"],
    );
    tests(t, &["--workspace", "--all-features", "--release"]);
    path_tests_without_openat2(t);
    // The reader alone (no_std, no alloc), and the no_std builders with serde.
    step(
        t,
        "argdata without std",
        "cargo",
        &[
            "check",
            "--package",
            "cloudabi-argdata",
            "--no-default-features",
        ],
    );
    step(
        t,
        "argdata with alloc and serde only",
        "cargo",
        &[
            "check",
            "--package",
            "cloudabi-argdata",
            "--no-default-features",
            "--features",
            "alloc,serde",
        ],
    );
    // Every crate to publish packages and builds from its package alone, in dependency order
    // (crates not yet on crates.io are taken from the packages made before them), and its
    // packaged tests pass without the repository around them.
    packages(t);
    // Crates outside the workspace (their own lock files): make sure they still build.
    step(
        t,
        "fuzz targets build",
        "cargo",
        &["check", "--manifest-path", "fuzz/Cargo.toml", "--bins"],
    );
    step(
        t,
        "comparison benchmarks build",
        "cargo",
        &[
            "check",
            "--manifest-path",
            "argdata/benches/compare/Cargo.toml",
            "--benches",
        ],
    );
    if !t.failed_steps.is_empty() {
        eprintln!("xtask: failed steps: {}", t.failed_steps.join(", "));
    }
    eprintln!("xtask: took {} s", started.elapsed().as_secs());
    // The summary is the run's last line; a failed run says nothing more after it.
    t.finish()
}

/// The crates to publish, in dependency order: the seven libraries and the `argdata` tool.
const PUBLISHED_CRATES: [&str; 8] = [
    "cloudabi-types",
    "cloudabi-caps",
    "cloudabi-argdata",
    "argdata-cli",
    "cloudabi-program",
    "cloudlibc-rs",
    "cloudabi-emulator",
    "cloudabi-run",
];

/// Packages every crate to publish (`cargo package`, which also builds each from its package),
/// then runs their tests from the packages ([`packaged_tests`]).
fn packages(t: &mut Tally) {
    let mut package = vec!["package", "--allow-dirty"];
    for name in PUBLISHED_CRATES {
        package.extend(["-p", name]);
    }
    step(t, "packages", "cargo", &package);
    if t.failed_steps.last().is_some_and(|s| s == "packages") {
        return;
    }
    packaged_tests(t);
}

/// Runs the tests of each crate to publish from its unpacked package (as made by the
/// `packages` step), outside the workspace, with the other workspace crates also taken from
/// their packages: what a user of the published crates gets must pass on its own, without
/// files from elsewhere in the repository. The registry crates come from the local cache
/// (offline), which the workspace's own build has filled.
fn packaged_tests(t: &mut Tally) {
    let packages = host_target_dir().join("package");
    // Outside the repository, so that cargo does not take the workspace for theirs; one
    // folder per run, so that two runs at once do not unpack over each other.
    let unpacked =
        std::env::temp_dir().join(format!("cloudabi-rs-packaged-tests.{}", std::process::id()));
    let prepared = (|| -> Result<Vec<(String, PathBuf)>, String> {
        let _ = std::fs::remove_dir_all(&unpacked);
        std::fs::create_dir_all(&unpacked).map_err(|e| format!("{}: {e}", unpacked.display()))?;
        let mut dirs = Vec::new();
        for name in PUBLISHED_CRATES {
            let stem = format!("{name}-{}", package_version(name)?);
            let file = packages.join(format!("{stem}.crate"));
            // `m`: the files get the time of unpacking, so that no build of an earlier
            // run looks newer than them.
            let status = Command::new("tar")
                .arg("-xzmf")
                .arg(&file)
                .arg("-C")
                .arg(&unpacked)
                .status()
                .map_err(|e| format!("cannot start tar: {e}"))?;
            if !status.success() {
                return Err(format!("unpacking {} failed ({status})", file.display()));
            }
            dirs.push((name.to_string(), unpacked.join(stem)));
        }
        Ok(dirs)
    })();
    let dirs = match prepared {
        Ok(dirs) => dirs,
        Err(e) => {
            eprintln!("xtask: packaged tests: {e}");
            t.failed_steps.push("packaged tests".into());
            return;
        }
    };
    // A cargo configuration in each package (patching in the workspace crates it needs,
    // directly or through others, and no more: cargo warns of every patch it does not use),
    // and the target folder in the environment, so that the cargo runs of the tests
    // themselves (the C tests build the static library) see them too. Its own target
    // folder: the packages' artifacts have the workspace's names.
    let target_dir = host_target_dir().join("packaged-tests");
    for (name, dir) in &dirs {
        let written = (|| -> Result<(), String> {
            let mut config = String::from("[net]\noffline = true\n\n[patch.crates-io]\n");
            for (needed, needed_dir) in workspace_dependencies(name, &dirs)? {
                config += &format!(
                    "{needed} = {{ path = {:?} }}\n",
                    needed_dir.display().to_string()
                );
            }
            let cargo_dir = dir.join(".cargo");
            std::fs::create_dir_all(&cargo_dir)
                .and_then(|()| std::fs::write(cargo_dir.join("config.toml"), config))
                .map_err(|e| format!("{}: {e}", cargo_dir.display()))
        })();
        if let Err(e) = written {
            eprintln!("xtask: packaged tests: {e}");
            t.failed_steps.push("packaged tests".into());
            return;
        }
    }
    for (_, dir) in &dirs {
        run_tests(t, dir, Some(&target_dir), &[], &[], false);
    }
    let _ = std::fs::remove_dir_all(&unpacked);
}

/// The unpacked crates of `unpacked` (name, folder) that crate `name` depends on, directly or
/// through others of them, as their packaged manifests say.
fn workspace_dependencies<'a>(
    name: &str,
    unpacked: &'a [(String, PathBuf)],
) -> Result<Vec<&'a (String, PathBuf)>, String> {
    let mut needed: Vec<&(String, PathBuf)> = Vec::new();
    let mut queue = vec![name.to_string()];
    while let Some(next) = queue.pop() {
        let Some((_, dir)) = unpacked.iter().find(|(n, _)| *n == next) else {
            continue;
        };
        let path = dir.join("Cargo.toml");
        let manifest =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let dependencies = crate::manifest::dependency_names(&manifest)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for dependency in dependencies {
            if let Some(found) = unpacked.iter().find(|(n, _)| *n == dependency)
                && found.0 != name
                && !needed.iter().any(|(n, _)| *n == dependency)
            {
                needed.push(found);
                queue.push(dependency);
            }
        }
    }
    Ok(needed)
}

/// The version of workspace package `name` (`cargo pkgid`).
fn package_version(name: &str) -> Result<String, String> {
    let out = Command::new("cargo")
        .args(["pkgid", "-p", name])
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    let id = String::from_utf8_lossy(&out.stdout);
    // `path+file:///DIR#NAME@VERSION`, or `...#VERSION` when the folder has the name.
    id.trim()
        .rsplit(['@', '#'])
        .next()
        .filter(|v| out.status.success() && v.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
        .ok_or_else(|| format!("cargo pkgid -p {name}: unexpected output `{}`", id.trim()))
}

/// The host's target triple, as rustc reports it.
fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV printed no host triple".to_string())
}

/// The main job: the demo web server under `cloudabi-run`, serving `examples/www` on
/// 127.0.0.1:8080 until interrupted.
///
/// The sandbox's root file system is empty, so the server is linked statically. It is built
/// for an explicit `--target` so that `+crt-static` applies to it alone (not to build scripts
/// or proc macros) and lands in its own folder, apart from the ordinary release build.
pub(crate) fn demo(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("`demo` takes no arguments, got {args:?}"));
    }
    let triple = host_triple()?;
    run(
        "build launcher",
        "cargo",
        &["build", "--release", "--package", "cloudabi-run"],
    )?;
    eprintln!("==> build web server (static, {triple})");
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--package",
            "webserver",
            "--target",
            &triple,
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the web server failed ({status})"));
    }
    let server = format!("target/{triple}/release/webserver");
    eprintln!("==> serving examples/www on http://127.0.0.1:8080/ (Ctrl-C stops it)");
    run(
        "demo",
        "target/release/cloudabi-run",
        &[&server, "--config", "examples/webserver.yaml"],
    )
}

#[cfg(test)]
mod tests {
    use super::Tally;

    fn tally(output: &str) -> Tally {
        let mut t = Tally::default();
        output.lines().for_each(|l| t.line(l));
        t
    }

    #[test]
    fn counts_every_binary_result_line() {
        let t = tally(
            "running 3 tests\n\
             test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
             test result: FAILED. 5 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.20s\n\
             error: test failed, to rerun pass `-p a --test b`\n\
             test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n",
        );
        assert_eq!((t.passed, t.failed, t.skipped), (8, 2, 1));
        assert_eq!(t.failures(), 2);
    }

    #[test]
    fn a_binary_that_crashed_counts_as_a_failure() {
        // A test binary killed by a signal prints no result line; cargo still reports it.
        let t = tally(
            "test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
             error: test failed, to rerun pass `-p a --test crashes`\n\
             Caused by:\n  process didn't exit successfully (signal: 11, SIGSEGV)\n",
        );
        assert_eq!((t.passed, t.failed), (4, 0));
        assert_eq!(t.failures(), 1);
    }

    #[test]
    fn failed_steps_count() {
        let mut t = tally(
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n",
        );
        t.failed_steps.push("lints".into());
        assert_eq!(t.failures(), 1);
    }
}
