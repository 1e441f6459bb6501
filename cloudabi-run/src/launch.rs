//! Starting a program with exactly its granted descriptors, inside the sandbox.
//!
//! ```no_run
//! use std::os::fd::OwnedFd;
//! use cloudabi_run::launch::{GrantKind, Launch};
//! use cloudabi_run::sandbox::FileMode;
//!
//! let www: OwnedFd = std::fs::File::open("/srv/www")?.into();
//! let launch = Launch::new("/usr/local/bin/server").grant(www, GrantKind::Dir(FileMode::Read));
//! // The config layer encodes its argdata with these numbers as the fd leaves.
//! assert_eq!(launch.fd_numbers(), vec![3]);
//! let outcome = launch.argdata(b"...".to_vec()).run()?;
//! std::process::exit(outcome.exit_code());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::{CString, OsString, c_char, c_int};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

use crate::acceptor::{Accepting, Acceptor};
use crate::cgroup::{CgroupError, CgroupLimits, InstanceCgroups};
use crate::error::{LaunchError, SandboxError, StageName};
use crate::sandbox::{self, FileMode, SandboxOptions, Skipped};
use crate::sys::{self, ChildPlan, NamespacePlan};

pub use crate::sys::INIT_FORWARDED;

/// Stack size for the program's process between its init's `clone` and `execveat` (a few
/// system-call wrappers need far less).
const PROGRAM_STACK: usize = 64 << 10;

/// The largest argdata the launcher passes (the receiving side's limit, docs/startup.md).
pub const MAX_ARGDATA: usize = 64 << 20;

/// What a granted descriptor is; decides its number and how it is passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantKind {
    /// A regular file opened with this mode. `Append` files are relayed through a pipe, see
    /// [`FileMode::Append`].
    File(FileMode),
    /// A directory; the program may open paths beneath it as the mode allows (Landlock).
    Dir(FileMode),
    /// A socket (listening or connected). In listen-fds mode sockets are numbered first.
    Socket,
    /// Standard input: always fd 0.
    Stdin,
    /// Standard output: always fd 1.
    Stdout,
    /// Standard error: always fd 2.
    Stderr,
    /// Anything else (pipes, event fds, ...), passed as is.
    Other,
}

impl GrantKind {
    fn stdio_slot(self) -> Option<RawFd> {
        match self {
            GrantKind::Stdin => Some(0),
            GrantKind::Stdout => Some(1),
            GrantKind::Stderr => Some(2),
            _ => None,
        }
    }
}

/// The descriptor number the program sees for each grant, in grant order.
///
/// Stdio grants get 0, 1, 2; every other grant gets 3, 4, ... in order, except that in
/// listen-fds mode all sockets come first. The argdata memfd is then `3 + n` where `n` is the
/// number of non-stdio grants (see [`argdata_fd_number`]).
pub fn child_fd_numbers(kinds: &[GrantKind], listen_fds: bool) -> Vec<RawFd> {
    let mut out = vec![-1; kinds.len()];
    let mut next = 3;
    if listen_fds {
        for (i, k) in kinds.iter().enumerate() {
            if *k == GrantKind::Socket {
                out[i] = next;
                next += 1;
            }
        }
    }
    for (i, k) in kinds.iter().enumerate() {
        if let Some(slot) = k.stdio_slot() {
            out[i] = slot;
        } else if out[i] < 0 {
            out[i] = next;
            next += 1;
        }
    }
    out
}

/// The descriptor number of the argdata memfd: `3 + n`.
pub fn argdata_fd_number(kinds: &[GrantKind]) -> RawFd {
    3 + kinds.iter().filter(|k| k.stdio_slot().is_none()).count() as RawFd
}

/// Resource limits applied to the program (soft and hard).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory: enforced by a memory control group where the launcher has one
    /// (anonymous memory and page cache; the kernel's OOM killer ends the instance, see
    /// [`Outcome::out_of_memory`]), else as `RLIMIT_AS`, bytes of address space.
    pub memory: Option<u64>,
    /// The most processes and threads the program may have at once, enforced by a pids
    /// control group (see [`crate::cgroup`]); without one the launch fails, or in
    /// best-effort mode runs without the limit.
    pub pids: Option<u64>,
    /// `RLIMIT_CPU`, seconds of CPU time.
    pub cpu_time: Option<u64>,
    /// `RLIMIT_NOFILE`, highest descriptor number plus one.
    pub max_fds: Option<u64>,
}

struct Grant {
    fd: OwnedFd,
    kind: GrantKind,
    name: Option<String>,
    /// For a connections channel: the launcher's side.
    acceptor: Option<Acceptor>,
}

/// A program to start: builder for [`Launch::spawn`] and [`Launch::run`].
pub struct Launch {
    program: PathBuf,
    argv: Vec<OsString>,
    grants: Vec<Grant>,
    argdata: Vec<u8>,
    limits: Limits,
    timeout: Option<Duration>,
    instances: u32,
    listen_fds: bool,
    sandbox: SandboxOptions,
    runner: Option<PathBuf>,
    diagnostics: bool,
}

impl Launch {
    /// A launch of `program` with `argv[0]` set to its path, no grants and empty argdata.
    pub fn new(program: impl Into<PathBuf>) -> Launch {
        let program = program.into();
        Launch {
            argv: vec![program.clone().into_os_string()],
            program,
            grants: Vec::new(),
            argdata: Vec::new(),
            limits: Limits::default(),
            timeout: None,
            instances: 1,
            listen_fds: false,
            sandbox: SandboxOptions::default(),
            runner: None,
            diagnostics: false,
        }
    }

    /// Gives each instance a diagnostics pipe (the descriptor after the argdata memfd, named
    /// by `CLOUDABI_DIAGNOSTICS_FD`, see `docs/startup.md`) on which the program's startup
    /// code reports a configuration that does not decode; [`Outcome::config_errors`] holds
    /// what arrived.
    pub fn diagnostics(mut self, on: bool) -> Launch {
        self.diagnostics = on;
        self
    }

    /// Replaces `argv[0]`.
    pub fn arg0(mut self, arg0: impl Into<OsString>) -> Launch {
        self.argv[0] = arg0.into();
        self
    }

    /// Appends a command-line argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Launch {
        self.argv.push(arg.into());
        self
    }

    /// Grants a descriptor. Its number in the program is `fd_numbers()[i]` for the i-th grant.
    pub fn grant(mut self, fd: OwnedFd, kind: GrantKind) -> Launch {
        self.grants.push(Grant {
            fd,
            kind,
            name: None,
            acceptor: None,
        });
        self
    }

    /// Grants a socket with a name for `LISTEN_FDNAMES` (listen-fds mode).
    pub fn grant_named(mut self, fd: OwnedFd, kind: GrantKind, name: impl Into<String>) -> Launch {
        self.grants.push(Grant {
            fd,
            kind,
            name: Some(name.into()),
            acceptor: None,
        });
        self
    }

    /// Grants `channel`, the program's end of a connections channel (a UNIX stream socket
    /// pair end, passed like [`GrantKind::Other`]) whose other end `acceptor` holds. Once
    /// every instance has started, the acceptor passes it the connections it accepts (see
    /// [`crate::acceptor`]), until every instance has ended. The first instance gets
    /// `channel`; each further instance gets, under the same number, a channel of its own
    /// whose launcher end is added to the acceptor, so that no two instances read one
    /// stream. The acceptor's own descriptors never reach the program.
    ///
    /// ```no_run
    /// use std::net::TcpListener;
    /// use std::os::unix::net::UnixStream;
    /// use cloudabi_run::acceptor::Acceptor;
    /// use cloudabi_run::launch::Launch;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:8080")?;
    /// let (launcher_end, program_end) = UnixStream::pair()?;
    /// let acceptor = Acceptor::new(listener.into(), launcher_end.into())?;
    /// let launch = Launch::new("server").grant_connections(program_end.into(), acceptor);
    /// assert_eq!(launch.fd_numbers(), [3]);
    /// let outcome = launch.argdata(b"...".to_vec()).instances(4).run()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn grant_connections(mut self, channel: OwnedFd, acceptor: Acceptor) -> Launch {
        self.grants.push(Grant {
            fd: channel,
            kind: GrantKind::Other,
            name: None,
            acceptor: Some(acceptor),
        });
        self
    }

    /// The encoded argdata (fd leaves already holding the numbers of [`Launch::fd_numbers`]).
    pub fn argdata(mut self, bytes: Vec<u8>) -> Launch {
        self.argdata = bytes;
        self
    }

    /// Resource limits.
    pub fn limits(mut self, limits: Limits) -> Launch {
        self.limits = limits;
        self
    }

    /// Kill every instance's process group with `SIGKILL` after this long.
    pub fn timeout(mut self, timeout: Duration) -> Launch {
        self.timeout = Some(timeout);
        self
    }

    /// Start `n` instances (at least 1) sharing the granted descriptors.
    pub fn instances(mut self, n: u32) -> Launch {
        self.instances = n.max(1);
        self
    }

    /// systemd socket-activation mode: sockets numbered first, `LISTEN_*` set.
    pub fn listen_fds(mut self, on: bool) -> Launch {
        self.listen_fds = on;
        self
    }

    /// Sandbox options.
    pub fn sandbox(mut self, options: SandboxOptions) -> Launch {
        self.sandbox = options;
        self
    }

    /// Starts the program through `runner`, a user-mode CPU emulator such as
    /// `qemu-aarch64-static`, for a program built for another architecture. The sandbox then
    /// executes `runner` (which must be statically linked, like any program) with
    /// `argv = [runner, "/program", arguments...]`, and the program file appears read-only
    /// (and `nosuid`, `nodev`, `noexec`) at `/program` in the otherwise empty root, where the
    /// runner can open it. Landlock grants read on that one file. Needs the mount namespace:
    /// a launch that falls back to running without namespaces fails instead.
    ///
    /// ```no_run
    /// use cloudabi_run::launch::Launch;
    ///
    /// let outcome = Launch::new("target/cloudabi/aarch64-linux/cloudabi-emulate")
    ///     .runner("/usr/bin/qemu-aarch64-static")
    ///     .run()?;
    /// # Ok::<(), cloudabi_run::error::LaunchError>(())
    /// ```
    pub fn runner(mut self, runner: impl Into<PathBuf>) -> Launch {
        self.runner = Some(runner.into());
        self
    }

    /// The number each grant gets in the program, in grant order.
    pub fn fd_numbers(&self) -> Vec<RawFd> {
        child_fd_numbers(&self.kinds(), self.listen_fds)
    }

    fn kinds(&self) -> Vec<GrantKind> {
        self.grants.iter().map(|g| g.kind).collect()
    }

    /// Starts the program and waits for it.
    pub fn run(self) -> Result<Outcome, LaunchError> {
        self.spawn()?.wait()
    }

    /// Starts every instance. Returns once each has passed its setup and called `execveat`
    /// successfully; a setup failure is reported as [`LaunchError::Setup`] with no instance
    /// left running.
    ///
    /// The instances die with the thread that calls this (`PR_SET_PDEATHSIG`): when it ends,
    /// or the whole launcher is killed, each init is killed and with it everything in its PID
    /// namespace. Keep the thread alive as long as the instances should run (as `run` and
    /// `cloudabi-run` do). Append relays are processes of their own and copy everything
    /// the program wrote even then.
    pub fn spawn(self) -> Result<Running, LaunchError> {
        let Launch {
            program,
            argv,
            grants,
            argdata,
            limits,
            timeout,
            instances,
            listen_fds,
            sandbox: opts,
            runner,
            diagnostics,
        } = self;
        let kinds: Vec<GrantKind> = grants.iter().map(|g| g.kind).collect();
        let numbers = child_fd_numbers(&kinds, listen_fds);
        let memfd_number = argdata_fd_number(&kinds);
        let mut seen = [false; 3];
        for n in &numbers {
            if (0..3).contains(n) {
                if seen[*n as usize] {
                    return Err(LaunchError::Grants("a stdio slot is granted twice"));
                }
                seen[*n as usize] = true;
            }
        }
        if memfd_number > 65_536 {
            return Err(LaunchError::Grants("more than 65533 descriptors"));
        }
        if argdata.len() > MAX_ARGDATA {
            return Err(LaunchError::Grants("argdata larger than 64 MiB"));
        }

        // With a runner, the runner is what the sandbox executes and the program is a file
        // it opens at /program.
        let program_error = |path: &Path| {
            let path = path.to_path_buf();
            move |e: rustix::io::Errno| LaunchError::Program {
                path,
                source: e.into(),
            }
        };
        let mut argv = argv;
        let mut exposed = None;
        if let Some(runner) = &runner {
            let file = rustix::fs::open(&program, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                .map_err(program_error(&program))?;
            let st = rustix::fs::fstat(&file).map_err(program_error(&program))?;
            let source = std::fs::canonicalize(&program).map_err(|e| LaunchError::Program {
                path: program.clone(),
                source: e,
            })?;
            argv[0] = runner.clone().into_os_string();
            argv.insert(1, OsString::from("/program"));
            exposed = Some((file, source, st.st_dev, st.st_ino));
        }
        let executed = runner.as_deref().unwrap_or(&program);
        let prog_fd = rustix::fs::open(executed, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .map_err(program_error(executed))?;
        let dev_null_r = open_dev_null(OFlags::RDONLY)?;
        let dev_null_w = open_dev_null(OFlags::WRONLY)?;

        // Append-only files: the program gets a pipe, the launcher appends.
        let mut relays = Vec::new();
        let mut sources: Vec<OwnedFd> = Vec::with_capacity(grants.len());
        let mut names = Vec::new();
        let mut dirs = Vec::new();
        let mut grant_mounts = Vec::new();
        // Connections channels: the grant's index and its acceptor.
        let mut acceptors: Vec<(usize, Acceptor)> = Vec::new();
        for g in grants {
            if let Some(a) = g.acceptor {
                acceptors.push((sources.len(), a));
            }
            if let Some(m) = grant_mount(&g.fd, g.kind, numbers[sources.len()])? {
                grant_mounts.push(m);
            }
            if listen_fds && g.kind == GrantKind::Socket {
                names.push(g.name.clone().unwrap_or_else(|| "unknown".to_owned()));
            }
            if let GrantKind::Dir(mode) = g.kind {
                dirs.push((sources.len(), mode));
            }
            if g.kind == GrantKind::File(FileMode::Append) {
                let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                    .map_err(|e| LaunchError::io("creating an append relay pipe")(e.into()))?;
                let pid = sys::spawn_relay(r.as_fd(), g.fd.as_fd())
                    .map_err(LaunchError::io("starting an append relay"))?;
                relays.push(Relay { pid, done: false });
                sources.push(w);
            } else {
                sources.push(g.fd);
            }
        }

        let mut skipped = Vec::new();
        let dir_fds: Vec<_> = dirs
            .iter()
            .map(|(i, mode)| (sources[*i].as_fd(), *mode))
            .collect();
        let landlock = sandbox::landlock_plan(
            &dir_fds,
            prog_fd.as_fd(),
            exposed.as_ref().map(|(file, ..)| file.as_fd()),
            &opts,
            &mut skipped,
        )?;
        let seccomp = sandbox::seccomp_programs()?;

        // argv and environment.
        let argv_c = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| LaunchError::NulByte))
            .collect::<Result<Vec<_>, _>>()?;
        let mut env_c = vec![program::launch::argdata_fd_env(memfd_number)];
        let diagnostics_number = memfd_number + 1;
        if diagnostics {
            env_c.push(program::launch::diagnostics_fd_env(diagnostics_number));
        }
        let mut listen_pid_buf: Vec<u8> = Vec::new();
        if listen_fds {
            env_c.push(
                CString::new(format!("LISTEN_FDS={}", names.len()))
                    .map_err(|_| LaunchError::NulByte)?,
            );
            env_c.push(
                CString::new(format!("LISTEN_FDNAMES={}", names.join(":")))
                    .map_err(|_| LaunchError::NulByte)?,
            );
            listen_pid_buf.extend_from_slice(b"LISTEN_PID=");
            listen_pid_buf.extend_from_slice(&[0u8; 21]);
        }
        let argv_ptrs: Vec<*const c_char> = argv_c
            .iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let mut envp_ptrs: Vec<*const c_char> = env_c.iter().map(|c| c.as_ptr()).collect();
        let listen_pid = if listen_fds {
            envp_ptrs.push(listen_pid_buf.as_ptr().cast());
            // 11 is within the 32-byte buffer; the digits area is the 20 bytes after
            // "LISTEN_PID=" and the final byte stays NUL.
            Some((listen_pid_buf.as_mut_ptr().wrapping_add(11), 20))
        } else {
            None
        };
        envp_ptrs.push(std::ptr::null());

        let (uid, gid) = sys::ids();
        let mut ns = NamespacePlan {
            clone_flags: (libc::CLONE_NEWUSER
                | libc::CLONE_NEWNS
                | libc::CLONE_NEWNET
                | libc::CLONE_NEWIPC
                | libc::CLONE_NEWUTS
                | libc::CLONE_NEWPID
                | libc::CLONE_NEWCGROUP) as libc::c_long,
            id_maps: Some((
                format!("0 {uid} 1\n").into_bytes(),
                format!("0 {gid} 1\n").into_bytes(),
            )),
            root_mountpoint: Some(find_mountpoint()?),
            expose: None,
            grants: grant_mounts,
            memfd_noexec: memfd_noexec_available(&opts, &mut skipped)?,
        };
        if let (Some((_, source, dev, ino)), Some(mountpoint)) = (&exposed, &ns.root_mountpoint) {
            let mut target = mountpoint.as_bytes().to_vec();
            target.extend_from_slice(b"/program");
            ns.expose = Some(sys::ExposePlan {
                source: CString::new(source.as_os_str().as_bytes())
                    .map_err(|_| LaunchError::NulByte)?,
                target: CString::new(target).map_err(|_| LaunchError::NulByte)?,
                dev: *dev,
                ino: *ino,
            });
        }

        let mut rlimits = Vec::new();
        if let Some(v) = limits.cpu_time {
            rlimits.push((libc::RLIMIT_CPU as c_int, v));
        }
        if let Some(v) = limits.max_fds {
            rlimits.push((libc::RLIMIT_NOFILE as c_int, v));
        }

        // Only the launcher ever holds the write end (close-on-exec, and every child closes
        // what it was not planned to keep).
        let (lifeline_r, lifeline_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| LaunchError::io("creating the lifeline pipe")(e.into()))?;
        let mut children: Vec<Instance> = Vec::new();
        for instance in 0..instances {
            let cgroup_limits = CgroupLimits {
                pids: limits.pids,
                memory: limits.memory,
            };
            let cgroups = match InstanceCgroups::create(&cgroup_limits, instance) {
                Ok(c) => c,
                Err(e @ CgroupError::Unavailable { .. }) if opts.best_effort => {
                    if instance == 0 {
                        skipped.push(Skipped::Cgroup(e.to_string()));
                    }
                    InstanceCgroups::create(
                        &CgroupLimits {
                            pids: None,
                            ..cgroup_limits
                        },
                        instance,
                    )
                    .inspect_err(|_| kill_all(&children))?
                }
                Err(e) => {
                    kill_all(&children);
                    return Err(e.into());
                }
            };
            let mut rlimits = rlimits.clone();
            if let (Some(v), false) = (limits.memory, cgroups.limits_memory()) {
                rlimits.push((libc::RLIMIT_AS as c_int, v));
            }
            let memfd = program::launch::sealed_memfd(&argdata)
                .map_err(LaunchError::io("creating the argdata memfd"))?;
            let last = if diagnostics {
                diagnostics_number
            } else {
                memfd_number
            };
            let mut moves: Vec<(RawFd, RawFd)> = Vec::with_capacity(last as usize + 1);
            let mut slots: Vec<RawFd> = vec![-1; last as usize + 1];
            for (src, n) in sources.iter().zip(&numbers) {
                slots[*n as usize] = src.as_raw_fd();
            }
            // Instances after the first get connections channels of their own (the program
            // ends are closed here once the instance holds them, at the end of the loop body).
            let mut own_channels = Vec::new();
            for (i, a) in acceptors.iter_mut().filter(|_| instance > 0) {
                match rustix::net::socketpair(
                    rustix::net::AddressFamily::UNIX,
                    rustix::net::SocketType::STREAM,
                    rustix::net::SocketFlags::CLOEXEC,
                    None,
                ) {
                    Ok((program_end, launcher_end)) => {
                        slots[numbers[*i] as usize] = program_end.as_raw_fd();
                        a.add_channel(launcher_end);
                        own_channels.push(program_end);
                    }
                    Err(e) => {
                        kill_all(&children);
                        return Err(LaunchError::io("creating a connections channel")(e.into()));
                    }
                }
            }
            for (i, slot) in slots.iter_mut().enumerate().take(3) {
                if *slot < 0 {
                    *slot = if i == 0 {
                        dev_null_r.as_raw_fd()
                    } else {
                        dev_null_w.as_raw_fd()
                    };
                }
            }
            slots[memfd_number as usize] = memfd.as_raw_fd();
            let diagnostics_pipe = if diagnostics {
                let (r, w) = rustix::pipe::pipe_with(
                    rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
                )
                .map_err(|e| LaunchError::io("creating the diagnostics pipe")(e.into()))?;
                // The program's end blocks, as a pipe normally does.
                rustix::fs::fcntl_setfl(&w, OFlags::empty())
                    .map_err(|e| LaunchError::io("creating the diagnostics pipe")(e.into()))?;
                slots[diagnostics_number as usize] = w.as_raw_fd();
                Some((r, w))
            } else {
                None
            };
            for (target, src) in slots.iter().enumerate() {
                moves.push((*src, target as RawFd));
            }
            let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .map_err(|e| LaunchError::io("creating the error pipe")(e.into()))?;
            let (status_r, status_w) = rustix::pipe::pipe_with(
                rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
            )
            .map_err(|e| LaunchError::io("creating the status pipe")(e.into()))?;
            let mut plan = ChildPlan {
                scratch: vec![-1; moves.len()],
                moves,
                err_fd: err_w.as_raw_fd(),
                cgroup_procs: cgroups.procs_fds(),
                lifeline_fd: lifeline_r.as_raw_fd(),
                status_fd: status_w.as_raw_fd(),
                prog_fd: prog_fd.as_raw_fd(),
                ruleset_fd: landlock.ruleset.as_ref().map(|f| f.as_raw_fd()),
                landlock_flags: landlock.flags,
                scope_program: landlock.scope_program,
                ns,
                rlimits,
                drop_caps: true,
                seccomp: seccomp.clone(),
                seccomp_flags: sandbox::seccomp_flags(&opts),
                argv: argv_ptrs.clone(),
                envp: envp_ptrs.clone(),
                listen_pid,
                program_stack: vec![0; PROGRAM_STACK],
            };
            let spawned = spawn_with_fallback(&mut plan, &err_r, &opts, &mut skipped);
            ns = plan.ns;
            drop(err_w);
            drop(status_w);
            let child = match spawned {
                Ok(c) => c,
                Err(e) => {
                    kill_all(&children);
                    return Err(e);
                }
            };
            match sys::read_failure(&err_r) {
                Ok(None) => children.push(Instance {
                    child,
                    status: status_r,
                    cgroups,
                    diagnostics: diagnostics_pipe.map(|(r, _w)| r),
                }),
                Ok(Some(f)) => {
                    let _ = sys::wait_pid(child.pid);
                    kill_all(&children);
                    return Err(LaunchError::Setup {
                        stage: StageName(f.stage),
                        source: io::Error::from_raw_os_error(f.errno),
                    });
                }
                Err(e) => {
                    sys::kill_group(child.pid, libc::SIGKILL);
                    let _ = sys::wait_pid(child.pid);
                    kill_all(&children);
                    return Err(LaunchError::io("reading the error pipe")(e));
                }
            }
        }
        // The launcher's copies of the granted descriptors (and the relay pipes' write ends)
        // are closed here, so that end-of-file reaches readers once the program is done.
        drop(sources);
        // Only now, with every instance started, do the acceptors begin: no thread of theirs
        // exists while an instance is cloned, and the descriptors they hold are close-on-exec
        // and outside the instances' planned descriptors, which the child closes in any case.
        let mut accepting = Vec::with_capacity(acceptors.len());
        for (_, a) in acceptors {
            match a.start() {
                Ok(a) => accepting.push(a),
                Err(e) => {
                    kill_all(&children);
                    return Err(LaunchError::io("starting a connection acceptor")(e));
                }
            }
        }
        drop(lifeline_r);
        Ok(Running {
            children,
            relays,
            _lifeline: lifeline_w,
            accepting,
            timeout,
            skipped,
        })
    }
}

/// Clones the child; when the user namespace is refused, retries without it if root (and
/// without any namespace in best-effort mode otherwise).
fn spawn_with_fallback(
    plan: &mut ChildPlan,
    err_r: &OwnedFd,
    opts: &SandboxOptions,
    skipped: &mut Vec<Skipped>,
) -> Result<sys::Child, LaunchError> {
    match sys::spawn_child(plan, err_r) {
        Ok(c) => Ok(c),
        Err(e) if plan.ns.id_maps.is_some() => {
            if sys::ids().0 == 0 {
                skipped.push(Skipped::UserNamespace(e.to_string()));
                plan.ns.clone_flags &= !(libc::CLONE_NEWUSER as libc::c_long);
                plan.ns.id_maps = None;
            } else if opts.best_effort && plan.ns.expose.is_none() {
                // (A runner needs the mount namespace to see the program at /program.)
                skipped.push(Skipped::Namespaces(e.to_string()));
                plan.ns.clone_flags = 0;
                plan.ns.id_maps = None;
                plan.ns.root_mountpoint = None;
            } else {
                return Err(SandboxError::Namespaces(e).into());
            }
            sys::spawn_child(plan, err_r).map_err(LaunchError::io("clone"))
        }
        Err(e) => Err(LaunchError::io("clone")(e)),
    }
}

/// One started instance: its init process and the read end of its status pipe.
struct Instance {
    child: sys::Child,
    status: OwnedFd,
    /// Removed when the instance is dropped, after it was reaped.
    cgroups: InstanceCgroups,
    /// The launcher's (non-blocking) end of the diagnostics pipe, if any.
    diagnostics: Option<OwnedFd>,
}

impl Instance {
    /// Reaps the init and returns how the program ended: the status the init passed on, or
    /// the init's own when it wrote none (killed by `SIGKILL`, e.g. on timeout).
    fn reap(&self) -> io::Result<ExitStatus> {
        let own = sys::wait_pid(self.child.pid)?;
        Ok(ExitStatus::from_wait(
            sys::read_status(&self.status).unwrap_or(own),
        ))
    }
}

/// Kills every instance (its init, and with it the whole PID namespace) and reaps it.
fn kill_all(children: &[Instance]) {
    for c in children {
        sys::kill_group(c.child.pid, libc::SIGKILL);
        let _ = sys::wait_pid(c.child.pid);
    }
}

fn open_dev_null(flags: OFlags) -> Result<OwnedFd, LaunchError> {
    rustix::fs::open("/dev/null", flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| LaunchError::io("opening /dev/null")(e.into()))
}

/// How a granted file or directory is shown to the program: through a detached copy of its
/// mount (see [`sys::GrantMount`]). `None` for grants that are not files or directories, and
/// for append-only files (the program gets a relay pipe instead).
fn grant_mount(
    fd: &OwnedFd,
    kind: GrantKind,
    target: RawFd,
) -> Result<Option<sys::GrantMount>, LaunchError> {
    let mode = match kind {
        GrantKind::Dir(mode) => mode,
        GrantKind::File(mode) if mode != FileMode::Append => mode,
        _ => return Ok(None),
    };
    let failed = |what: &'static str| LaunchError::GrantPath { fd: target, what };
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let path = std::fs::read_link(&link).map_err(|_| failed("its path cannot be read"))?;
    let bytes = path.as_os_str().as_bytes();
    if !path.is_absolute() || bytes.ends_with(b" (deleted)") {
        return Err(failed(
            "it has no path (deleted, or not a file system object)",
        ));
    }
    let st = rustix::fs::fstat(fd).map_err(|_| failed("fstat failed"))?;
    let fl = rustix::fs::fcntl_getfl(fd).map_err(|_| failed("fcntl failed"))?;
    // Only flags that a fresh open can repeat (close-on-exec is added by the child).
    let keep = OFlags::RWMODE
        | OFlags::APPEND
        | OFlags::NONBLOCK
        | OFlags::DIRECTORY
        | OFlags::PATH
        | OFlags::NOATIME
        | OFlags::SYNC
        | OFlags::DSYNC
        | OFlags::DIRECT
        | OFlags::LARGEFILE;
    let mut attrs = sys::MOUNT_ATTR_NOSUID_NODEV_NOEXEC;
    if mode == FileMode::Read {
        // The copy is mounted read-only, so the descriptor must not be open for writing.
        if !fl.contains(OFlags::PATH) && fl & OFlags::RWMODE != OFlags::RDONLY {
            return Err(failed("it is granted read-only but open for writing"));
        }
        attrs |= sys::MOUNT_ATTR_RDONLY;
    }
    let mut proc_path = b"/proc/self/fd/".to_vec();
    proc_path.extend_from_slice(&[0u8; 21]);
    Ok(Some(sys::GrantMount {
        target,
        source: CString::new(bytes).map_err(|_| LaunchError::NulByte)?,
        dev: st.st_dev,
        ino: st.st_ino,
        attrs,
        flags: (fl & keep).bits() as c_int,
        proc_path,
    }))
}

/// Whether the init can set `vm.memfd_noexec` in its PID namespace (Linux 6.3, and a
/// writable `/proc/sys`: a launcher running as root, or one whose container mounts
/// `/proc/sys` read-write). Without it, a program could execute code it wrote into a memfd,
/// which Landlock's execute right does not cover.
fn memfd_noexec_available(
    opts: &SandboxOptions,
    skipped: &mut Vec<Skipped>,
) -> Result<bool, LaunchError> {
    const PATH: &str = "/proc/sys/vm/memfd_noexec";
    match rustix::fs::access(PATH, rustix::fs::Access::WRITE_OK) {
        Ok(()) => Ok(true),
        Err(e) if opts.best_effort => {
            skipped.push(Skipped::MemfdNoexec(e.to_string()));
            Ok(false)
        }
        Err(e) => Err(SandboxError::MemfdNoexec(e.into()).into()),
    }
}

fn find_mountpoint() -> Result<CString, LaunchError> {
    for p in ["/tmp", "/mnt", "/run", "/dev"] {
        if Path::new(p).is_dir() {
            return CString::new(p).map_err(|_| LaunchError::NulByte);
        }
    }
    Err(SandboxError::NoMountpoint.into())
}

/// An append relay process (see `sys::spawn_relay`): the launcher's child, but not its
/// thread, so that it drains the pipe even when the launcher is killed.
struct Relay {
    pid: libc::pid_t,
    done: bool,
}

impl Relay {
    /// Waits until the relay has copied everything (every write end of its pipe is closed).
    fn wait(&mut self) -> io::Result<()> {
        let status = sys::wait_pid(self.pid)?;
        self.done = true;
        match ExitStatus::from_wait(status) {
            ExitStatus::Exited(0) => Ok(()),
            ExitStatus::Exited(errno) => Err(io::Error::from_raw_os_error(errno)),
            ExitStatus::Signaled(sig) => Err(io::Error::other(format!(
                "the relay process was killed by signal {sig}"
            ))),
        }
    }
}

impl Drop for Relay {
    /// Reaps the relay; by then the launcher's write end is closed and the program is gone,
    /// so it is at (or near) end-of-file.
    fn drop(&mut self) {
        if !self.done {
            let _ = sys::wait_pid(self.pid);
        }
    }
}

/// How one instance ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Normal exit with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    fn from_wait(status: c_int) -> ExitStatus {
        if libc::WIFSIGNALED(status) {
            ExitStatus::Signaled(libc::WTERMSIG(status))
        } else {
            ExitStatus::Exited(libc::WEXITSTATUS(status))
        }
    }

    /// The shell convention: the exit code, or 128 + signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// The result of [`Running::wait`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// One status per instance, in start order.
    pub statuses: Vec<ExitStatus>,
    /// Whether the timeout expired and the remaining instances were killed.
    pub timed_out: bool,
    /// For each instance, whether the kernel killed a process of it for exceeding the memory
    /// limit (only known where a memory control group enforces [`Limits::memory`]).
    pub out_of_memory: Vec<bool>,
    /// For each instance, the configuration error its startup code reported on the
    /// diagnostics pipe (see [`Launch::diagnostics`]).
    pub config_errors: Vec<Option<ConfigErrorReport>>,
}

/// A configuration error a program's startup code reported (see [`Launch::diagnostics`]):
/// untrusted text from the sandbox, with control characters already replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrorReport {
    /// The argdata path of the offending value (`listen`, `peers[1].address`; empty for the
    /// whole value).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigErrorReport {
    /// Reads what arrived on a diagnostics pipe (at most one line of
    /// `program::startup::MAX_DIAGNOSTIC_LEN` bytes, without waiting) and parses it.
    fn read(pipe: &OwnedFd) -> Option<ConfigErrorReport> {
        let mut buf = [0u8; 1024];
        let n = rustix::io::read(pipe, &mut buf).ok()?;
        ConfigErrorReport::parse(&buf[..n])
    }

    /// Parses `config-error TAB PATH TAB MESSAGE NEWLINE`.
    fn parse(bytes: &[u8]) -> Option<ConfigErrorReport> {
        let text = String::from_utf8_lossy(bytes);
        let line = text.split('\n').next()?;
        let clean = |t: &str| -> String {
            t.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect()
        };
        let rest = line.strip_prefix("config-error\t")?;
        let (path, message) = rest.split_once('\t')?;
        Some(ConfigErrorReport {
            path: clean(path),
            message: clean(message),
        })
    }
}

impl Outcome {
    /// The launcher's exit code: that of the first instance (in start order) that did not exit
    /// with 0, else 0.
    pub fn exit_code(&self) -> i32 {
        self.statuses
            .iter()
            .map(|s| s.code())
            .find(|c| *c != 0)
            .unwrap_or(0)
    }
}

/// Started instances. Dropping it without [`Running::wait`] kills them (and stops the
/// acceptors).
pub struct Running {
    children: Vec<Instance>,
    relays: Vec<Relay>,
    /// The write end of the lifeline pipe: closed only when the launcher is gone, which tells
    /// an init cloned just then to leave (see `sys::ChildPlan::lifeline_fd`).
    _lifeline: OwnedFd,
    /// Dropped after `Drop` has killed the instances, which also ends any send an acceptor
    /// is blocked in.
    accepting: Vec<Accepting>,
    timeout: Option<Duration>,
    skipped: Vec<Skipped>,
}

impl Running {
    /// Sandbox layers that were skipped (best-effort mode, or no user namespace as root).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Process ids of the instances' init processes (as the launcher sees them). Sending one
    /// of [`INIT_FORWARDED`] to such a pid reaches the program's process group; `SIGKILL`
    /// ends the instance's whole PID namespace.
    pub fn pids(&self) -> Vec<i32> {
        self.children.iter().map(|c| c.child.pid).collect()
    }

    /// Sends `signal` to every instance (for forwarding `SIGTERM` and the like).
    ///
    /// Each instance's init (process 1 of its PID namespace) passes the signals in
    /// [`INIT_FORWARDED`] on to the program's process group, where they take their usual
    /// effect (a program without a handler for `SIGTERM` ends). `SIGKILL` kills the init and
    /// with it everything in the namespace. Other signals have no effect.
    pub fn signal(&self, signal: i32) {
        for c in &self.children {
            if signal == libc::SIGKILL {
                sys::kill_group(c.child.pid, signal);
            } else {
                sys::kill_pid(c.child.pid, signal);
            }
        }
    }

    /// Waits for every instance, killing all of them when the timeout expires, then stops
    /// the acceptors (closing their listeners) and waits for the append relays to drain.
    pub fn wait(mut self) -> Result<Outcome, LaunchError> {
        let outcome = self.wait_inner();
        // Every child is reaped (or, on an error, killed and reaped by `Drop`).
        if outcome.is_ok() {
            self.children.clear();
        }
        outcome
    }

    fn wait_inner(&mut self) -> Result<Outcome, LaunchError> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut statuses: Vec<Option<ExitStatus>> = vec![None; self.children.len()];
        let mut timed_out = false;
        while statuses.iter().any(Option::is_none) {
            let pending: Vec<usize> = (0..statuses.len())
                .filter(|i| statuses[*i].is_none())
                .collect();
            let fds: Vec<_> = pending
                .iter()
                .map(|i| self.children[*i].child.pidfd.as_fd())
                .collect();
            let wait_ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        timed_out = true;
                        for i in &pending {
                            sys::kill_group(self.children[*i].child.pid, libc::SIGKILL);
                        }
                        -1
                    } else {
                        left.as_millis().min(i32::MAX as u128) as c_int + 1
                    }
                }
            };
            if timed_out {
                for i in pending {
                    statuses[i] = Some(
                        self.children[i]
                            .reap()
                            .map_err(LaunchError::io("waitpid"))?,
                    );
                }
                break;
            }
            let ready = sys::poll_readable(&fds, wait_ms).map_err(LaunchError::io("poll"))?;
            for r in ready {
                let i = pending[r];
                statuses[i] = Some(
                    self.children[i]
                        .reap()
                        .map_err(LaunchError::io("waitpid"))?,
                );
            }
        }
        // Every instance has ended: stop accepting. A thread blocked in `poll` wakes on its
        // stop pipe; one blocked in a send fails, the program's end being closed.
        for a in std::mem::take(&mut self.accepting) {
            let _ = a.stop();
        }
        for r in &mut self.relays {
            r.wait()
                .map_err(LaunchError::io("relaying an append-only file"))?;
        }
        Ok(Outcome {
            statuses: statuses.into_iter().flatten().collect(),
            timed_out,
            out_of_memory: self
                .children
                .iter()
                .map(|c| c.cgroups.out_of_memory())
                .collect(),
            config_errors: self
                .children
                .iter()
                .map(|c| c.diagnostics.as_ref().and_then(ConfigErrorReport::read))
                .collect(),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        kill_all(&self.children);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_error_reports_are_parsed_as_untrusted_text() {
        assert_eq!(
            ConfigErrorReport::parse(b"config-error\tweb.port\tinvalid type\n"),
            Some(ConfigErrorReport {
                path: "web.port".to_owned(),
                message: "invalid type".to_owned(),
            })
        );
        // Only the first line counts; control characters become spaces.
        assert_eq!(
            ConfigErrorReport::parse(b"config-error\t\tbad\x1b[2J\nconfig-error\tx\ty\n"),
            Some(ConfigErrorReport {
                path: String::new(),
                message: "bad [2J".to_owned(),
            })
        );
        for junk in [
            &b""[..],
            b"hello\n",
            b"config-error\tno second tab\n",
            b"\xff\xfe",
        ] {
            assert_eq!(ConfigErrorReport::parse(junk), None, "{junk:?}");
        }
    }
}
