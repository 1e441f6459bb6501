//! Control groups for instances: a process-count limit and a memory limit that the kernel
//! enforces on the whole instance (its init, the program and everything the program starts),
//! as a service manager does, and whether an instance ran out of memory.
//!
//! Each instance gets a group of its own, `cloudabi-run-PID-N`, beneath the launcher's own
//! group in each hierarchy that has the controller: the cgroup v2 hierarchy when the
//! launcher's group delegates the controller to its children (`cgroup.subtree_control`
//! lists it), else a cgroup v1 hierarchy of that controller. The instance's init moves itself
//! into the groups first thing after `clone`, before anything of the program exists, through
//! descriptors of the groups' `cgroup.procs` files that the launcher opened; the groups are
//! removed when the instance has been reaped. A launcher killed with `SIGKILL` cannot remove
//! its groups; the next launcher that makes a group beside them removes every
//! `cloudabi-run-PID-N` group whose launcher PID no longer exists and which is empty (the
//! kernel refuses to remove a group that still holds a process or a child group).
//!
//! ```no_run
//! use cloudabi_run::cgroup;
//!
//! // Which controllers the launcher can use here.
//! println!("pids: {}, memory: {}", cgroup::available("pids"), cgroup::available("memory"));
//! ```

#![forbid(unsafe_code)]

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// The limits to enforce through control groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    /// The most processes and threads of the program (the init is not counted).
    pub pids: Option<u64>,
    /// The most memory the instance may use, in bytes (anonymous memory and page cache).
    pub memory: Option<u64>,
}

/// Setting up an instance's groups failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No hierarchy offers the controller to the launcher.
    #[error(
        "cannot limit {what}: no {controller} cgroup controller is available to the launcher \
         (cgroup v2 with the controller delegated, or a cgroup v1 {controller} hierarchy)"
    )]
    Unavailable {
        /// `pids` or `memory`.
        controller: &'static str,
        /// What the limit is about.
        what: &'static str,
    },
    /// A file of a group could not be created or written.
    #[error("cgroup {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// Which cgroup version a hierarchy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The launcher's own group in a hierarchy that offers a controller.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Hierarchy {
    version: Version,
    dir: PathBuf,
}

/// Whether the launcher can put instances into groups with `controller` (`pids`, `memory`).
#[must_use]
pub fn available(controller: &str) -> bool {
    find(controller).is_some()
}

/// Finds the hierarchy to use for `controller`: v2 if the launcher's group delegates it,
/// else v1.
fn find(controller: &str) -> Option<Hierarchy> {
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    locate(controller, &own, &mounts, |dir| {
        fs::read_to_string(dir.join("cgroup.subtree_control")).ok()
    })
    .filter(|h| h.dir.is_dir())
}

/// [`find`] on the given contents of `/proc/self/cgroup` and `/proc/self/mountinfo`;
/// `subtree_control` reads a v2 group's `cgroup.subtree_control`.
fn locate(
    controller: &str,
    own: &str,
    mounts: &str,
    subtree_control: impl Fn(&Path) -> Option<String>,
) -> Option<Hierarchy> {
    // Lines of /proc/self/cgroup: `ID:CONTROLLERS:PATH`; v2 is `0::PATH`.
    let mut v1_path = None;
    let mut v2_path = None;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2_path = Some(path);
        } else if controllers.split(',').any(|c| c == controller) {
            v1_path = Some(path);
        }
    }
    // Lines of mountinfo: `ID PARENT DEV ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPER`.
    let mut v1 = None;
    let mut v2 = None;
    for line in mounts.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = before.split(' ').collect();
        let (Some(root), Some(point)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        let mut tail = after.split(' ');
        let fstype = tail.next().unwrap_or_default();
        let sup = tail.nth(1).unwrap_or_default();
        match fstype {
            "cgroup2" => v2 = Some((*root, *point)),
            "cgroup" if sup.split(',').any(|o| o == controller) => v1 = Some((*root, *point)),
            _ => {}
        }
    }
    let dir = |(root, point): (&str, &str), path: &str| {
        // The group's path as the mount shows it: relative to the mount's root.
        let rel = path.strip_prefix(root).unwrap_or(path);
        let rel = rel.trim_start_matches('/');
        Path::new(point).join(rel)
    };
    if let (Some(m), Some(p)) = (v2, v2_path) {
        let d = dir(m, p);
        if subtree_control(&d).is_some_and(|s| s.split_whitespace().any(|c| c == controller)) {
            return Some(Hierarchy {
                version: Version::V2,
                dir: d,
            });
        }
    }
    match (v1, v1_path) {
        (Some(m), Some(p)) => Some(Hierarchy {
            version: Version::V1,
            dir: dir(m, p),
        }),
        _ => None,
    }
}

/// One group an instance is in.
#[derive(Debug)]
struct Group {
    dir: PathBuf,
    version: Version,
    /// The group's `cgroup.procs`, open for writing: the init writes `0` to it to move itself.
    procs: OwnedFd,
    /// Whether this group carries the memory limit.
    memory: bool,
}

/// The groups of one instance; removed when dropped (after the instance has been reaped).
#[derive(Debug, Default)]
pub struct InstanceCgroups {
    groups: Vec<Group>,
}

impl InstanceCgroups {
    /// Creates the groups for instance `instance` of this launcher with `limits`. A memory
    /// limit without a memory controller is not an error (the caller falls back to
    /// `RLIMIT_AS`; see [`InstanceCgroups::limits_memory`]); a process limit without a pids
    /// controller is.
    ///
    /// # Errors
    /// [`CgroupError::Unavailable`] for `pids` without a controller, [`CgroupError::Io`] when
    /// a group cannot be made. Groups made before the error are removed again.
    pub fn create(limits: &CgroupLimits, instance: u32) -> Result<InstanceCgroups, CgroupError> {
        let mut made = InstanceCgroups::default();
        let name = format!("cloudabi-run-{}-{instance}", std::process::id());
        if let Some(pids) = limits.pids {
            let h = find("pids").ok_or(CgroupError::Unavailable {
                controller: "pids",
                what: "the number of processes",
            })?;
            let g = made.group(&h, &name)?;
            // The init is a process of the group too.
            write(&g.join("pids.max"), &pids.saturating_add(1).to_string())?;
        }
        if let Some((memory, h)) = limits.memory.and_then(|m| find("memory").map(|h| (m, h))) {
            let g = made.group(&h, &name)?;
            match h.version {
                Version::V2 => {
                    write(&g.join("memory.max"), &memory.to_string())?;
                    let swap = g.join("memory.swap.max");
                    if swap.exists() {
                        write(&swap, "0")?;
                    }
                }
                Version::V1 => {
                    write(&g.join("memory.limit_in_bytes"), &memory.to_string())?;
                    let swap = g.join("memory.memsw.limit_in_bytes");
                    if swap.exists() {
                        write(&swap, &memory.to_string())?;
                    }
                }
            }
            if let Some(last) = made.groups.iter_mut().find(|x| x.dir == g) {
                last.memory = true;
            }
        }
        Ok(made)
    }

    /// The group `name` beneath `h`'s directory, made if this instance has no such group yet
    /// (in v2 both controllers share one group).
    fn group(&mut self, h: &Hierarchy, name: &str) -> Result<PathBuf, CgroupError> {
        let dir = h.dir.join(name);
        if self.groups.iter().any(|g| g.dir == dir) {
            return Ok(dir);
        }
        remove_stale_groups(&h.dir, std::process::id(), launcher_exists);
        fs::create_dir(&dir).map_err(|source| CgroupError::Io {
            path: dir.clone(),
            source,
        })?;
        let procs_path = dir.join("cgroup.procs");
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(&procs_path)
            .map_err(|source| {
                let _ = fs::remove_dir(&dir);
                CgroupError::Io {
                    path: procs_path,
                    source,
                }
            })?;
        self.groups.push(Group {
            dir: dir.clone(),
            version: h.version,
            procs: procs.into(),
            memory: false,
        });
        Ok(dir)
    }

    /// Whether the instance's memory is limited by a group (else `--memory` needs
    /// `RLIMIT_AS`).
    #[must_use]
    pub fn limits_memory(&self) -> bool {
        self.groups.iter().any(|g| g.memory)
    }

    /// The `cgroup.procs` descriptors the init writes `0` to.
    pub(crate) fn procs_fds(&self) -> Vec<RawFd> {
        self.groups.iter().map(|g| g.procs.as_raw_fd()).collect()
    }

    /// Whether the kernel's OOM killer killed a process of the instance because the memory
    /// limit was reached.
    #[must_use]
    pub fn out_of_memory(&self) -> bool {
        self.groups.iter().filter(|g| g.memory).any(|g| {
            let (file, key) = match g.version {
                Version::V2 => ("memory.events", "oom_kill"),
                Version::V1 => ("memory.oom_control", "oom_kill"),
            };
            fs::read_to_string(g.dir.join(file)).is_ok_and(|s| counter(&s, key) > 0)
        })
    }
}

impl Drop for InstanceCgroups {
    fn drop(&mut self) {
        for g in self.groups.drain(..) {
            drop(g.procs);
            // Empty once the instance's PID namespace is gone; if not, it is left behind.
            let _ = fs::remove_dir(&g.dir);
        }
    }
}

/// The launcher PID in a group name this module makes (`cloudabi-run-PID-N`).
fn launcher_of(name: &str) -> Option<u32> {
    let (pid, instance) = name.strip_prefix("cloudabi-run-")?.split_once('-')?;
    instance.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Whether a process `pid` exists, as far as `/proc` shows; `true` when `/proc` cannot tell,
/// so that nothing is removed on a guess.
fn launcher_exists(pid: u32) -> bool {
    !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the groups in `dir` left by launchers that are gone (killed before they could
/// remove them). Best effort: a group the kernel will not remove (still in use) stays.
fn remove_stale_groups(dir: &Path, own_pid: u32, exists: impl Fn(u32) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(launcher_of) else {
            continue;
        };
        if pid != own_pid && !exists(pid) {
            let _ = fs::remove_dir(entry.path());
        }
    }
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(|source| CgroupError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The value of `key` in a flat-keyed cgroup file (`key value` lines), 0 if absent.
fn counter(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 /outer /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const OWN: &str = "8:pids:/outer/inner\n4:memory:/api/abc\n0::/svc\n";

    #[test]
    fn v1_hierarchies_are_found_relative_to_their_mount_root() {
        let none = |_: &Path| None;
        assert_eq!(
            locate("memory", OWN, MOUNTS, none),
            Some(Hierarchy {
                version: Version::V1,
                dir: PathBuf::from("/sys/fs/cgroup/memory/api/abc"),
            })
        );
        assert_eq!(
            locate("pids", OWN, MOUNTS, none),
            Some(Hierarchy {
                version: Version::V1,
                dir: PathBuf::from("/sys/fs/cgroup/pids/inner"),
            })
        );
        assert_eq!(locate("cpu", OWN, MOUNTS, none), None);
    }

    #[test]
    fn v2_is_used_where_the_controller_is_delegated() {
        let delegated = |d: &Path| {
            assert_eq!(d, Path::new("/sys/fs/cgroup/unified/svc"));
            Some("cpu memory\n".to_owned())
        };
        assert_eq!(
            locate("memory", OWN, MOUNTS, delegated),
            Some(Hierarchy {
                version: Version::V2,
                dir: PathBuf::from("/sys/fs/cgroup/unified/svc"),
            })
        );
        // Not delegated: the v1 hierarchy.
        assert_eq!(
            locate("pids", OWN, MOUNTS, delegated).map(|h| h.version),
            Some(Version::V1)
        );
    }

    #[test]
    fn groups_of_launchers_that_are_gone_are_removed_and_others_stay() {
        let dir = std::env::temp_dir().join(format!("cgroup-sweep-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let names = [
            "cloudabi-run-100-0",     // gone: removed
            "cloudabi-run-100-7",     // gone: removed
            "cloudabi-run-200-0",     // launcher still there: stays
            "cloudabi-run-300-1",     // own: stays
            "cloudabi-run-400-x",     // not a name this module makes: stays
            "cloudabi-run-100",       // ditto
            "other-100-0",            // ditto
            "cloudabi-run-500-0/sub", // gone, but not empty: stays
        ];
        for n in names {
            fs::create_dir_all(dir.join(n)).unwrap();
        }
        remove_stale_groups(&dir, 300, |pid| pid == 200);
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "cloudabi-run-100",
                "cloudabi-run-200-0",
                "cloudabi-run-300-1",
                "cloudabi-run-400-x",
                "cloudabi-run-500-0",
                "other-100-0"
            ]
        );
        fs::remove_dir_all(&dir).unwrap();
        // A directory that cannot be read is no error.
        remove_stale_groups(&dir, 300, |_| false);
    }

    #[test]
    fn a_reaped_process_does_not_exist_and_this_one_does() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!launcher_exists(pid));
        assert!(launcher_exists(std::process::id()));
    }

    #[test]
    fn counters() {
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n";
        assert_eq!(counter(events, "oom_kill"), 1);
        assert_eq!(counter(events, "max"), 12);
        assert_eq!(counter("oom_kill_disable 0\nunder_oom 0\n", "oom_kill"), 0);
    }
}
