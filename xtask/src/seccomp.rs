//! A seccomp filter that makes `openat2(2)` fail with `ENOSYS`, as on kernels before 5.6
//! and under QEMU user mode, so that the path tests also run against the component-walk
//! resolver that `cloudabi_caps::resolve` falls back to (through its real detection).

use std::os::unix::process::CommandExt;
use std::process::Command;

/// `openat2`'s number: the same in the generic table (AArch64) and on x86-64.
const SYS_OPENAT2: u32 = 437;

/// The `AUDIT_ARCH_*` value of the machine this runs on (`linux/audit.h`).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Offsets in `struct seccomp_data`: the system call number, then the architecture.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump_eq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// Loads a 32-bit word of `struct seccomp_data`.
const LOAD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The program: calls of another architecture and every other call are allowed.
const FILTER: [libc::sock_filter; 6] = [
    stmt(LOAD, DATA_ARCH),
    jump_eq(AUDIT_ARCH, 0, 3),
    stmt(LOAD, DATA_NR),
    jump_eq(SYS_OPENAT2, 0, 1),
    stmt(RET, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    stmt(RET, libc::SECCOMP_RET_ALLOW),
];

/// Installs the filter in the calling thread (inherited by its children and kept across
/// `execve`). Only async-signal-safe calls: usable between `fork` and `exec`.
fn install() -> std::io::Result<()> {
    let prog = libc::sock_fprog {
        len: FILTER.len() as u16,
        filter: FILTER.as_ptr().cast_mut(),
    };
    // SAFETY: `prctl` with integer arguments only changes this thread's flags.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `prog` points at a valid filter program that outlives the call (the kernel
    // copies it).
    if unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &raw const prog,
            0,
            0,
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `command` run with `openat2` refused (`ENOSYS`), it and everything it starts.
pub(crate) fn without_openat2(command: &mut Command) {
    // SAFETY: the hook only makes two `prctl` calls, which are async-signal-safe, and
    // allocates nothing.
    unsafe {
        command.pre_exec(install);
    }
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
        super::without_openat2(&mut child);
        let out = child.output().expect("the test binary runs again");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {text}");
        assert!(text.contains("1 passed"), "the probe did not run: {text}");
        // This process kept `openat2` (an old kernel may lack it anyway).
        assert_ne!(openat2_errno(), libc::EPERM);
    }
}
