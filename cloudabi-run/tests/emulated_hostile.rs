//! The attack suite re-run in emulated mode: the CloudABI guest
//! `examples/cloudabi/src/bin/hostile.rs` runs under `cloudabi-run --emulate` (the emulator
//! inside the kernel sandbox) and tries to break out twice over, through the emulator's
//! system calls and with raw Linux system calls that bypass the emulator. It decides every
//! line itself (`DENIED`, `ESCAPED`, `OK`, `FAIL`); this test checks the full set of names,
//! that nothing escaped and that nothing outside the granted directories changed.
//!
//! The guest needs Debian's toolchain for CloudABI (`cargo xtask cloudabi
//! install-toolchain`). Without it the tests print `SKIPPED: ...` and pass; with
//! `CLOUDABI_REQUIRE_TOOLCHAIN=1` (as CI sets) a missing toolchain fails them. Like every
//! sandboxed launch in these tests, the run happens inside `unshare -m --propagation
//! private` (the test re-executes itself there).

mod common;

use std::collections::BTreeSet;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::symlink;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::process::Command;

use cloudabi_test_support::guest::{root, toolchain_present, xtask};
use common::{Scratch, in_rerun, launcher, rerun_in_private_mount_ns, run_stdin};

/// Carry the built guest and emulator into the re-executed test.
const GUEST_ENV: &str = "CLOUDABI_RUN_TEST_EMULATED_HOSTILE";
const EMULATOR_ENV: &str = "CLOUDABI_RUN_TEST_EMULATOR";

/// Attempts through the emulator's system calls; each must be refused with the errno the
/// guest expects. Those aimed at the read-only directory are refused by the emulator
/// itself (`ENOTCAPABLE`), since `cloudabi-run --emulate` passes the grant's mode on.
const CLOUDABI_ATTACKS: &[&str] = &[
    "ca-absolute-path",
    "ca-dotdot",
    "ca-dotdot-from-nested",
    "ca-dotdot-directory",
    "ca-symlink-pointing-outside",
    "ca-symlink-absolute",
    "ca-created-symlink-escape",
    "ca-stat-outside",
    "ca-readlink-outside",
    "ca-rename-out",
    "ca-rename-in-from-outside",
    "ca-link-in-from-outside",
    "ca-link-following-escape-link",
    "ca-symlink-created-outside",
    "ca-mkdir-outside",
    "ca-unlink-outside",
    "ca-open-beyond-inheriting-rights",
    "ca-create-without-create-right",
    "ca-widen-directory-rights",
    "ca-write-read-only-fd",
    "ca-widen-file-rights",
    "ca-truncate-read-only-fd",
    "ca-open-beneath-a-file",
    "ca-mem-map-exec-without-right",
    "ca-mem-map-shared-writable-read-only-file",
    "ca-proc-exec-without-exec-right",
    "ca-proc-exec-directory",
    "ca-proc-exec-ungranted-descriptors",
    "ca-proc-exec-huge-descriptor-count",
    "ca-log-seek",
    "ca-log-truncate",
    "ca-log-pwrite",
    "ca-append-fd-seek",
    "ca-write-ungranted-fd",
    "ca-read-ungranted-fd",
    "ca-dup-ungranted-fd",
    "ca-replace-into-ungranted-fd",
    "ca-close-ungranted-fd",
    "ca-null-iovec-array",
    "ca-kernel-address-buffer",
    "ca-wrapping-buffer",
    "ca-huge-iovec-count",
    "ca-null-output-pointer",
    "ca-misaligned-output-pointer",
    "ca-wrapping-path-pointer",
    "ca-huge-path-length",
    "ca-random-get-kernel-address",
    "ca-poll-huge-count",
    "ca-poll-null-subscriptions",
    "ca-mem-map-writable-executable",
    "ca-mem-protect-writable-executable",
    "ca-sock-send-ungranted-fds",
    "ca-sock-send-too-many-fds",
    "ca-sock-send-on-directory",
    "ca-poll-ungranted-fd",
    "ca-poll-terminate-non-process",
    "ca-unlock-lock-held-by-another-thread",
];

/// The attempts at changing things beneath the read-only directory: all refused by the
/// emulator with `ENOTCAPABLE` (the `linux-*` attempts check Landlock underneath).
const READ_ONLY_DIR_ATTACKS: &[&str] = &[
    "ca-create-in-read-only-dir",
    "ca-truncate-in-read-only-dir",
    "ca-open-for-writing-in-read-only-dir",
    "ca-inherit-writing-in-read-only-dir",
    "ca-mkdir-in-read-only-dir",
    "ca-unlink-in-read-only-dir",
    "ca-rename-read-only-file-away",
    "ca-hardlink-read-only-file",
];

/// Raw Linux system calls from the guest; each must be refused by the kernel sandbox with
/// the errno the guest expects from the layer responsible.
const LINUX_ATTACKS: &[&str] = &[
    "linux-open-etc-passwd",
    "linux-open-proc-self-mem",
    "linux-create-in-root",
    "linux-dotdot-from-host-dir-fd",
    "linux-stat-secret-next-to-dir",
    "linux-read-secret-next-to-dir",
    "linux-symlink-pointing-outside",
    "linux-created-symlink-escape",
    "linux-fchdir-dotdot",
    "linux-write-read-only-dir-file",
    "linux-create-in-read-only-dir",
    "linux-mkdir-in-read-only-dir",
    "linux-unlink-in-read-only-dir",
    "linux-rename-read-only-file-out",
    "linux-hardlink-read-only-file",
    "linux-log-lseek",
    "linux-log-ftruncate",
    "linux-exec-bin-sh",
    "linux-write-emulator-private-fds",
    "linux-socket-inet",
    "linux-socket-inet6-udp",
    "linux-socket-netlink",
    "linux-socket-packet",
    "linux-connect-abstract-unix-socket",
    "linux-kill-init",
    "linux-kill-outside-process",
    "linux-ptrace-traceme",
    "linux-ptrace-seize-parent",
    "linux-process-vm-readv-init",
    "linux-ioctl-tiocsti",
    "linux-mount",
    "linux-fsopen",
    "linux-chroot",
    "linux-setns",
    "linux-clone3",
    "linux-bpf",
    "linux-io-uring-setup",
    "linux-perf-event-open",
    "linux-userfaultfd",
    "linux-keyctl",
    "linux-init-module",
    "linux-sethostname",
    "linux-personality",
    "linux-chmod-read-only-dir-file",
    "linux-chmod-read-write-dir",
    "linux-utimensat-read-only-dir-file",
    "linux-setxattr-read-write-dir",
    "linux-exec-memfd",
    "linux-sendto-fastopen",
    "linux-prlimit-init",
    "linux-unshare-user",
];

/// Legitimate operations; each must succeed.
const LEGIT: &[&str] = &[
    "stdout-write",
    "read-nested-file",
    "read-through-inside-symlink",
    "list-dir",
    "dir-rights-reflect-grant-modes",
    "rw-create-write-rename-remove",
    "append-log",
    "fork-and-wait",
    "threads",
    "mem-map-then-protect-read-exec",
    "socket-pair-passes-a-descriptor",
    "linux-raw-write-stdout",
    "linux-read-granted-file",
];

/// Builds the x86-64 guest and the static emulator; returns their paths.
fn build_x86_64() -> (PathBuf, PathBuf) {
    xtask(&[
        "build",
        "--target",
        "x86_64-unknown-cloudabi",
        "--example",
        "hostile",
    ]);
    xtask(&["emulator", "--arch", "x86_64"]);
    (
        root().join("target/cloudabi/x86_64-unknown-cloudabi/hostile"),
        root().join("target/cloudabi/x86_64-linux/cloudabi-emulate"),
    )
}

/// The files the attacks aim at, with the contents they must keep.
struct Tree {
    dir: Scratch,
    secret: String,
}

impl Tree {
    fn new() -> Tree {
        let dir = Scratch::new("emulated-hostile");
        // Unguessable, so that its appearance in the output would prove a read.
        let secret = format!(
            "secret-{}-{}\n",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        std::fs::create_dir_all(dir.path("ro/sub/deeper")).unwrap();
        std::fs::create_dir_all(dir.path("rw")).unwrap();
        std::fs::write(dir.path("ro/hello.txt"), "hello\n").unwrap();
        std::fs::write(dir.path("ro/sub/deeper/nested.txt"), "nested\n").unwrap();
        std::fs::write(dir.path("secret.txt"), &secret).unwrap();
        std::fs::write(dir.path("log.txt"), "before\n").unwrap();
        symlink("hello.txt", dir.path("ro/inside-link")).unwrap();
        symlink("../secret.txt", dir.path("ro/escape-link")).unwrap();
        symlink(dir.path("secret.txt"), dir.path("ro/abs-link")).unwrap();
        Tree { dir, secret }
    }

    /// Every file beneath the tree with its contents (symbolic links as `-> target`).
    fn snapshot(&self) -> Vec<(String, String)> {
        fn walk(base: &Path, at: &Path, out: &mut Vec<(String, String)>) {
            let mut entries: Vec<_> = std::fs::read_dir(at)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for p in entries {
                let name = p.strip_prefix(base).unwrap().display().to_string();
                let meta = std::fs::symlink_metadata(&p).unwrap();
                if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&p).unwrap();
                    out.push((name, format!("-> {}", target.display())));
                } else if meta.is_dir() {
                    out.push((name.clone(), "<dir>".into()));
                    walk(base, &p, out);
                } else {
                    out.push((name, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir.0, &self.dir.0, &mut out);
        out
    }
}

/// The names of the lines starting with `word ` (up to the first `:` or the end).
fn names(text: &str, word: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(word)?.strip_prefix(' '))
        .map(|rest| rest.split(':').next().unwrap_or(rest).to_owned())
        .collect()
}

fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn emulated_hostile_guest_is_contained() {
    const NAME: &str = "emulated_hostile_guest_is_contained";
    let (guest, emulator) = if in_rerun() {
        (
            PathBuf::from(std::env::var_os(GUEST_ENV).expect("guest path")),
            PathBuf::from(std::env::var_os(EMULATOR_ENV).expect("emulator path")),
        )
    } else {
        if !toolchain_present() {
            return;
        }
        let (guest, emulator) = build_x86_64();
        let env = [
            (GUEST_ENV, guest.display().to_string()),
            (EMULATOR_ENV, emulator.display().to_string()),
        ];
        rerun_in_private_mount_ns(NAME, &env);
        return;
    };

    let tree = Tree::new();
    let before = tree.snapshot();
    // An abstract UNIX socket listening outside the sandbox, which the guest tries to reach.
    let abstract_name = format!("cloudabi-emulated-hostile-{}", std::process::id());
    let listener =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap())
            .unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = tree.dir.0.display().to_string();
    let config = tree.dir.path("hostile.yaml");
    std::fs::write(
        &config,
        format!(
            "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n\
             ro: !file {{path: {base}/ro}}\n\
             rw: !file {{path: {base}/rw, mode: readwrite}}\n\
             log: !file {{path: {base}/log.txt, mode: append}}\n\
             out: !fd stdout\n\
             outer_pid: {}\n\
             abstract: {abstract_name}\n",
            std::process::id()
        ),
    )
    .unwrap();
    let before_config = std::fs::read_to_string(&config).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_cloudabi-run"))
        .arg("--emulate")
        .arg("--emulator")
        .arg(&emulator)
        .args(["--timeout", "60"])
        .arg(&guest)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("start cloudabi-run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("{text}");
    let context = format!("stdout:\n{text}\nstderr:\n{stderr}");
    assert!(
        out.status.success(),
        "exit status {}\n{context}",
        out.status
    );

    // The guest's own verdicts.
    assert!(!text.contains("ESCAPED"), "{context}");
    assert!(!text.contains("FAIL"), "{context}");
    let denied = names(&text, "DENIED");
    let attacks = set(&[CLOUDABI_ATTACKS, READ_ONLY_DIR_ATTACKS, LINUX_ATTACKS].concat());
    assert_eq!(
        attacks.difference(&denied).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "attacks not reported as denied\n{context}"
    );
    assert_eq!(
        denied.difference(&attacks).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "denials this test does not know\n{context}"
    );
    assert_eq!(names(&text, "OK"), set(LEGIT), "{context}");
    // Every attack ran exactly once, and the guest counted the same.
    let reported = text.lines().filter(|l| l.starts_with("DENIED ")).count();
    assert_eq!(reported, attacks.len(), "{context}");
    let done = format!(
        "DONE ca={} linux={} ok={}",
        CLOUDABI_ATTACKS.len() + READ_ONLY_DIR_ATTACKS.len(),
        LINUX_ATTACKS.len(),
        LEGIT.len()
    );
    assert!(text.lines().any(|l| l == done), "no `{done}`\n{context}");
    // Denials that only a sandbox layer produces (a layer missing flips the guest's line,
    // but check the reasons here too): seccomp, Landlock, the namespaces, the relay.
    for (name, reason) in [
        ("linux-socket-inet", "-1 (EPERM)"),
        ("linux-ptrace-traceme", "-1 (EPERM)"),
        ("linux-connect-abstract-unix-socket", "-111 (ECONNREFUSED)"),
        ("linux-kill-init", "-1 (EPERM)"),
        ("linux-clone3", "-38 (ENOSYS)"),
        ("linux-read-secret-next-to-dir", "-2 (ENOENT)"),
        ("linux-dotdot-from-host-dir-fd", "-2 (ENOENT)"),
        ("linux-write-read-only-dir-file", "-30 (EROFS)"),
        ("linux-utimensat-read-only-dir-file", "-30 (EROFS)"),
        ("linux-chmod-read-only-dir-file", "-1 (EPERM)"),
        ("linux-exec-memfd", "-13 (EACCES)"),
        ("linux-hardlink-read-only-file", "-18 (EXDEV)"),
        ("linux-open-etc-passwd", "-2 (ENOENT)"),
        ("linux-create-in-root", "-30 (EROFS)"),
        ("linux-kill-outside-process", "-3 (ESRCH)"),
        ("linux-log-lseek", "-29 (ESPIPE)"),
        ("ca-dotdot", "ENOTCAPABLE (76)"),
    ] {
        let line = format!("DENIED {name}: {reason}");
        assert!(text.lines().any(|l| l == line), "no `{line}`\n{context}");
    }
    // The grant's mode reached the emulator: it refuses every change beneath the read-only
    // directory itself, rather than leaving it to the kernel sandbox (`EROFS`/`EXDEV`).
    for name in READ_ONLY_DIR_ATTACKS {
        let line = format!("DENIED {name}: ENOTCAPABLE (76)");
        assert!(text.lines().any(|l| l == line), "no `{line}`\n{context}");
    }

    // Nothing outside was read or changed; the log only grew by the guest's line.
    assert!(
        !text.contains(tree.secret.trim()),
        "secret leaked\n{context}"
    );
    assert!(
        !stderr.contains(tree.secret.trim()),
        "secret leaked\n{context}"
    );
    let after = tree.snapshot();
    let expected: Vec<(String, String)> = before
        .iter()
        .cloned()
        .chain([("hostile.yaml".to_owned(), before_config)])
        .map(|(name, content)| {
            if name == "log.txt" {
                (name, "before\nemulated line\n".to_owned())
            } else {
                (name, content)
            }
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let after_sorted: Vec<(String, String)> = after
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(after_sorted, expected, "{context}");
    // No connection reached the outside listener.
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "{context}"
    );
}

#[test]
fn hostile_guest_builds_for_aarch64() {
    if in_rerun() || !toolchain_present() {
        return;
    }
    xtask(&[
        "build",
        "--target",
        "aarch64-unknown-cloudabi",
        "--example",
        "hostile",
    ]);
    let bytes = std::fs::read(root().join("target/cloudabi/aarch64-unknown-cloudabi/hostile"))
        .expect("built guest");
    assert_eq!(&bytes[..4], b"\x7fELF");
    // 64-bit little-endian, OSABI 17 (CloudABI), a static PIE (ET_DYN) for AArch64 (183).
    assert_eq!((bytes[4], bytes[5], bytes[7]), (2, 1, 17));
    assert_eq!(u16::from_le_bytes([bytes[16], bytes[17]]), 3);
    assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), 183);
}

/// `--check --emulate` prints the emulator's argdata, whose `modes` carry each grant's mode
/// (null for what is not a `!file`) in the order of `fds`. Nothing starts, so neither the
/// toolchain nor the sandbox is needed: any file serves as the program.
#[test]
fn check_shows_the_modes_passed_to_the_emulator() {
    if in_rerun() {
        return;
    }
    let dir = Scratch::new("emulated-check-modes");
    for name in ["ro", "wo", "ao"] {
        std::fs::create_dir_all(dir.path(name)).unwrap();
    }
    std::fs::write(dir.path("data.txt"), "x\n").unwrap();
    let yaml = format!(
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n\
         out: !fd stdout\n\
         ro: !file {{path: {}}}\n\
         wo: !file {{path: {}, mode: write}}\n\
         ao: !file {{path: {}, mode: append}}\n\
         data: !file {{path: {}, mode: readwrite}}\n",
        dir.p("ro"),
        dir.p("wo"),
        dir.p("ao"),
        dir.p("data.txt"),
    );
    let o = run_stdin(
        &["--check", "--emulate", "--emulator", launcher(), launcher()],
        &yaml,
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let body: String = out.split_whitespace().collect();
    let modes = "?!!str\"modes\":!!seq[!!null\"null\",!!str\"read\",!!str\"write\",\
                 !!str\"append\",!!str\"readwrite\",]";
    assert!(body.contains(modes), "{out}");
}
