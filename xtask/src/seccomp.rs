//! A seccomp filter that makes `openat2(2)` fail with `ENOSYS`, as on kernels before 5.6
//! and under QEMU user mode, so that the path tests also run against the component-walk
//! resolver that `cloudabi_caps::resolve` falls back to (through its real detection).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::Command;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

/// The program: `openat2` fails with `ENOSYS`; every other call, and calls of another
/// architecture, are left alone.
fn program() -> Result<BpfProgram, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("seccomp filter for {}: {e}", std::env::consts::ARCH))?;
    let rules = BTreeMap::from([(libc::SYS_openat2, Vec::new())]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| format!("seccomp filter: {e}"))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| format!("seccomp filter: {e}"))
}

/// Makes `command` run with `openat2` refused (`ENOSYS`), it and everything it starts
/// (the filter is inherited by children and kept across `execve`).
pub(crate) fn without_openat2(command: &mut Command) -> Result<(), String> {
    let program = program()?;
    // SAFETY: the hook runs between fork and exec; `apply_filter` only makes the `prctl`
    // and `seccomp` calls that install the already compiled program, and its error is
    // mapped without allocating.
    unsafe {
        command.pre_exec(move || {
            seccompiler::apply_filter(&program)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::PermissionDenied))
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// Set in the child of [`the_filter_refuses_openat2_in_the_child_only`].
    const PROBE: &str = "XTASK_SECCOMP_PROBE";

    /// The errno of a harmless `openat2` of `.` in this process, 0 when it worked.
    fn openat2_errno() -> i32 {
        // `struct open_how`: flags, mode, resolve.
        let how: [u64; 3] = [(libc::O_PATH | libc::O_CLOEXEC) as u64, 0, 0];
        // SAFETY: a valid NUL-terminated path and a valid `open_how` of the size given.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                libc::AT_FDCWD,
                c".".as_ptr(),
                &raw const how,
                size_of::<[u64; 3]>(),
            )
        };
        if fd < 0 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
        } else {
            // SAFETY: the descriptor was just opened here and is closed once.
            unsafe { libc::close(i32::try_from(fd).unwrap_or(-1)) };
            0
        }
    }

    /// Run in a child (this test binary again) under the filter: `openat2` says `ENOSYS`.
    #[test]
    fn probe() {
        if std::env::var_os(PROBE).is_some() {
            assert_eq!(openat2_errno(), libc::ENOSYS);
        }
    }

    #[test]
    fn the_filter_refuses_openat2_in_the_child_only() {
        let mut child = Command::new(std::env::current_exe().expect("test binary path"));
        child
            .args(["--exact", "seccomp::tests::probe", "--nocapture"])
            .env(PROBE, "1");
        super::without_openat2(&mut child).expect("the filter compiles");
        let out = child.output().expect("the test binary runs again");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {text}");
        assert!(text.contains("1 passed"), "the probe did not run: {text}");
        // This process kept `openat2` (an old kernel may lack it anyway).
        assert_ne!(openat2_errno(), libc::EPERM);
    }
}
