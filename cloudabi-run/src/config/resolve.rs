//! Turning the five local tags into open descriptors.
//!
//! This is the only code in the launcher that uses ambient authority (paths relative to the
//! launcher's working directory, the launcher's network namespace, the descriptors it
//! inherited). Every such use goes through an [`AmbientAuthority`] method, so it is visible at
//! each call site and impossible to reach from code that was not handed the token.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use argdata::yaml::{FdSpec, Node, NodeKind};
use argdata::{Fd, Value};
use rustix::fs::{Access, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::created::CreatedPaths;
use super::error::ConfigErrorKind;
use crate::acceptor::Acceptor;
use crate::launch::GrantKind;
use crate::sandbox::FileMode;

/// The prefix `%TAG ! tag:nuxi.nl,2015:cloudabi/` gives local tags.
pub const TAG_PREFIX: &str = "tag:nuxi.nl,2015:cloudabi/";

/// Proof that the caller may use the launcher's ambient authority: open paths relative to its
/// working directory, create sockets in its network namespace and duplicate the descriptors it
/// inherited.
///
/// Only the launcher's configuration layer needs this; programs started by it never get one.
/// Holding the token makes the few places that reach outside the capability model easy to
/// find: they are exactly the methods of this type.
#[derive(Debug)]
pub struct AmbientAuthority {
    _private: (),
}

impl AmbientAuthority {
    /// Claims the process's ambient authority.
    ///
    /// ```
    /// let authority = cloudabi_run::config::AmbientAuthority::claim();
    /// # let _ = authority;
    /// ```
    #[must_use]
    pub fn claim() -> AmbientAuthority {
        AmbientAuthority { _private: () }
    }

    /// Opens `path` (relative paths against the working directory) with `flags`, always adding
    /// `O_CLOEXEC` and `O_NOCTTY`. `mode` is used when `O_CREAT` is given.
    pub fn open(&self, path: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
        loop {
            match rustix::fs::open(path, flags | OFlags::CLOEXEC | OFlags::NOCTTY, mode) {
                Err(Errno::INTR) => continue,
                r => return r,
            }
        }
    }

    /// Duplicates inherited descriptor `fd` (close-on-exec set on the copy). Fails with
    /// `EBADF` if `fd` is not open.
    pub fn dup_inherited(&self, fd: RawFd) -> Result<OwnedFd, Errno> {
        crate::sys::dup_cloexec(fd)
    }

    /// A new socket (close-on-exec) of `family` and `ty`.
    pub fn socket(&self, family: AddressFamily, ty: SocketType) -> Result<OwnedFd, Errno> {
        rustix::net::socket_with(family, ty, SocketFlags::CLOEXEC, None)
    }

    /// Binds `sock` to a network address.
    pub fn bind_inet(&self, sock: &OwnedFd, addr: &SocketAddr) -> Result<(), Errno> {
        rustix::net::bind(sock, addr)
    }

    /// Binds `sock` to a UNIX socket path (creating it).
    pub fn bind_unix(&self, sock: &OwnedFd, addr: &SocketAddrUnix) -> Result<(), Errno> {
        rustix::net::bind(sock, addr)
    }

    /// Connects `sock` to a network address.
    pub fn connect_inet(&self, sock: &OwnedFd, addr: &SocketAddr) -> Result<(), Errno> {
        loop {
            match rustix::net::connect(sock, addr) {
                Err(Errno::INTR) => continue,
                r => return r,
            }
        }
    }

    /// Connects `sock` to a UNIX socket path.
    pub fn connect_unix(&self, sock: &OwnedFd, addr: &SocketAddrUnix) -> Result<(), Errno> {
        loop {
            match rustix::net::connect(sock, addr) {
                Err(Errno::INTR) => continue,
                r => return r,
            }
        }
    }

    /// A connected pair of UNIX stream sockets (close-on-exec). Creating one needs no
    /// authority; it is here so that every descriptor the configuration layer makes has one
    /// origin.
    pub fn socketpair(&self) -> Result<(OwnedFd, OwnedFd), Errno> {
        rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
    }

    /// Resolves `host:port` through the system resolver.
    pub fn lookup(&self, address: &str) -> std::io::Result<Vec<SocketAddr>> {
        address.to_socket_addrs().map(Iterator::collect)
    }
}

/// What a granted descriptor came from; shown by `--check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `!fd stdin|stdout|stderr|N`.
    Inherited(RawFd),
    /// `!file`: the path and whether it is a directory.
    File {
        /// The path as written.
        path: PathBuf,
        /// Whether it turned out to be a directory.
        directory: bool,
        /// The access mode.
        mode: FileMode,
    },
    /// `!socket`.
    Socket {
        /// `bind` or `connect`.
        bound: bool,
        /// The address as written.
        address: String,
        /// `stream`, `dgram` or `seqpacket`.
        ty: &'static str,
        /// For network sockets, the local address the kernel chose (e.g. the port for
        /// `bind: 127.0.0.1:0`).
        local: Option<SocketAddr>,
    },
    /// `!connections`: the program's end of the channel over which the launcher passes the
    /// connections it accepts.
    Connections {
        /// The address as written.
        address: String,
        /// The listen backlog.
        backlog: i32,
        /// For network addresses, the local address the kernel chose.
        local: Option<SocketAddr>,
    },
    /// `!executable`.
    Executable(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Inherited(0) => f.write_str("the launcher's standard input"),
            Origin::Inherited(1) => f.write_str("the launcher's standard output"),
            Origin::Inherited(2) => f.write_str("the launcher's standard error"),
            Origin::Inherited(n) => write!(f, "the launcher's descriptor {n}"),
            Origin::File {
                path,
                directory,
                mode,
            } => {
                let what = if *directory { "directory" } else { "file" };
                write!(f, "{what} {}, {mode}", path.display())
            }
            Origin::Socket {
                bound,
                address,
                ty,
                local,
            } => {
                let how = if *bound { "bound to" } else { "connected to" };
                write!(f, "{ty} socket {how} {address}")?;
                match local {
                    Some(l) if l.to_string() != *address => write!(f, " (local address {l})"),
                    _ => Ok(()),
                }
            }
            Origin::Connections {
                address,
                backlog,
                local,
            } => {
                write!(f, "connections accepted on {address}")?;
                match local {
                    Some(l) if l.to_string() != *address => write!(f, " (local address {l})")?,
                    _ => {}
                }
                write!(f, ", backlog {backlog}, passed by the launcher")
            }
            Origin::Executable(p) => write!(f, "executable {}", p.display()),
        }
    }
}

/// What a resolution without side effects ([`Resolver::without_side_effects`], for
/// `--check`) left undone for a resource; a real start does it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deferred {
    /// `create: true` on a file that does not exist: it would be created (its descriptor is
    /// a stand-in for the directory it would be created in).
    Create,
    /// A socket that would be bound (it is created, unbound).
    Bind,
    /// A socket that would be connected (it is created, unconnected).
    Connect,
}

impl fmt::Display for Deferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Deferred::Create => "would be created",
            Deferred::Bind => "would be bound",
            Deferred::Connect => "would be connected",
        })
    }
}

/// One descriptor opened for the configuration.
#[derive(Debug)]
pub struct Resource {
    /// The descriptor (closed when dropped).
    pub fd: OwnedFd,
    /// How the launcher passes it.
    pub kind: GrantKind,
    /// Where it came from.
    pub origin: Origin,
    /// For `!connections`, where `fd` is the program's end of the channel: the listener and
    /// the launcher's end, which never reach the program.
    pub acceptor: Option<Acceptor>,
    /// What a resolution without side effects left undone (`None`: the descriptor is the
    /// real one).
    pub deferred: Option<Deferred>,
}

/// Resolves tags to descriptors, keeping every descriptor it opened.
///
/// The value a tag resolves to is an fd leaf holding the index of its [`Resource`] in
/// [`Resolver::into_parts`]; `!fd` with the same descriptor twice, and `!executable`,
/// resolve to one resource each.
pub struct Resolver<'a> {
    authority: &'a AmbientAuthority,
    program: &'a Path,
    resources: Vec<Resource>,
    inherited: HashMap<RawFd, usize>,
    /// Raw numbers of the descriptors in `resources`.
    owned: HashSet<RawFd>,
    executable: Option<usize>,
    max_fds: usize,
    /// Files and socket paths created so far; removed if the resolver is dropped.
    created: CreatedPaths,
    /// Whether files are created and sockets bound and connected (see
    /// [`Resolver::without_side_effects`]).
    side_effects: bool,
}

impl fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("program", &self.program)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

/// The most descriptors one configuration may open (the launcher's limit is 65533).
pub const MAX_RESOURCES: usize = 65_000;

impl<'a> Resolver<'a> {
    /// A resolver for a configuration of `program` (the path `!executable` opens).
    #[must_use]
    pub fn new(authority: &'a AmbientAuthority, program: &'a Path) -> Resolver<'a> {
        Resolver {
            authority,
            program,
            resources: Vec::new(),
            inherited: HashMap::new(),
            owned: HashSet::new(),
            executable: None,
            max_fds: MAX_RESOURCES,
            created: CreatedPaths::default(),
            side_effects: true,
        }
    }

    /// Resolves without changing anything outside the launcher: no file is created, no
    /// socket bound or connected. What can be checked without doing it is checked (the
    /// directory a file would be created in exists and is writable, a UNIX socket path to
    /// bind is free), and each resource records what was left undone in
    /// [`Resource::deferred`]. For `--check`; such resources must never reach a program.
    #[must_use]
    pub fn without_side_effects(mut self) -> Resolver<'a> {
        self.side_effects = false;
        self
    }

    /// The descriptors opened so far, in the order they were opened, and the paths created
    /// for them (removed again when that value is dropped, see [`CreatedPaths`]).
    #[must_use]
    pub fn into_parts(self) -> (Vec<Resource>, CreatedPaths) {
        (self.resources, self.created)
    }

    /// Resolves one tagged node. `tag` is the full tag (`tag:nuxi.nl,2015:cloudabi/fd`), its
    /// short form (`!fd`) or its suffix (`fd`); `node` is the node as written.
    ///
    /// # Errors
    /// The tag is unknown, its content malformed, or opening failed. Nothing opened by this
    /// call stays open on error.
    pub fn resolve(&mut self, tag: &str, node: &Node) -> Result<Value, ConfigErrorKind> {
        let name = tag.strip_prefix(TAG_PREFIX).unwrap_or(tag);
        let name = name.strip_prefix('!').unwrap_or(name);
        if self.resources.len() >= self.max_fds {
            return Err(ConfigErrorKind::TooManyFds(self.max_fds));
        }
        let index = match name {
            "fd" => {
                let text = node.as_scalar().ok_or(ConfigErrorKind::Shape {
                    tag: "fd",
                    expected: "stdin, stdout, stderr or a descriptor number",
                })?;
                let spec = FdSpec::parse(text.trim())
                    .ok_or_else(|| ConfigErrorKind::BadFdName(text.to_owned()))?;
                self.fd(spec)?
            }
            "file" => self.file(node)?,
            "socket" => self.socket(node)?,
            "connections" => self.connections(node)?,
            "executable" => self.executable(node)?,
            other => return Err(ConfigErrorKind::UnknownTag(other.to_owned())),
        };
        Ok(Value::Fd(Fd(
            i32::try_from(index).map_err(|_| ConfigErrorKind::TooManyFds(self.max_fds))?
        )))
    }

    fn push(&mut self, fd: OwnedFd, kind: GrantKind, origin: Origin) -> usize {
        self.push_deferred(fd, kind, origin, None)
    }

    fn push_deferred(
        &mut self,
        fd: OwnedFd,
        kind: GrantKind,
        origin: Origin,
        deferred: Option<Deferred>,
    ) -> usize {
        self.push_resource(Resource {
            fd,
            kind,
            origin,
            acceptor: None,
            deferred,
        })
    }

    fn push_resource(&mut self, r: Resource) -> usize {
        self.owned.insert(r.fd.as_raw_fd());
        if let Some(a) = &r.acceptor {
            self.owned.extend(a.raw_fds());
        }
        self.resources.push(r);
        self.resources.len() - 1
    }

    fn owns(&self, fd: RawFd) -> bool {
        self.owned.contains(&fd)
    }

    /// Resolves `!fd` (the parser has already checked its syntax).
    ///
    /// # Errors
    /// The descriptor is not open, or is one this resolver opened itself.
    pub fn resolve_fd(&mut self, spec: FdSpec) -> Result<Value, ConfigErrorKind> {
        if self.resources.len() >= self.max_fds {
            return Err(ConfigErrorKind::TooManyFds(self.max_fds));
        }
        let index = self.fd(spec)?;
        Ok(Value::Fd(Fd(
            i32::try_from(index).map_err(|_| ConfigErrorKind::TooManyFds(self.max_fds))?
        )))
    }

    fn fd(&mut self, spec: FdSpec) -> Result<usize, ConfigErrorKind> {
        let number: RawFd = spec.number();
        if let Some(&i) = self.inherited.get(&number) {
            return Ok(i);
        }
        if self.owns(number) {
            return Err(ConfigErrorKind::FdOwnedByLauncher(number));
        }
        let fd = self
            .authority
            .dup_inherited(number)
            .map_err(|e| ConfigErrorKind::FdNotOpen {
                fd: number,
                source: e.into(),
            })?;
        let kind = match number {
            0 => GrantKind::Stdin,
            1 => GrantKind::Stdout,
            2 => GrantKind::Stderr,
            _ => inherited_kind(&fd),
        };
        let i = self.push(fd, kind, Origin::Inherited(number));
        self.inherited.insert(number, i);
        Ok(i)
    }

    fn file(&mut self, node: &Node) -> Result<usize, ConfigErrorKind> {
        const TAG: &str = "file";
        let entries = options(TAG, node, "a map with `path` (and `mode`, `create`)")?;
        let mut path = None;
        let mut mode = None;
        let mut create = None;
        for (key, value) in entries {
            match key {
                "path" => set_once(
                    TAG,
                    key,
                    &mut path,
                    string_option(TAG, "path", value, "a path")?,
                )?,
                "mode" => {
                    let m = string_option(TAG, "mode", value, MODES)?
                        .parse::<FileMode>()
                        .map_err(|_| ConfigErrorKind::BadOption {
                            tag: TAG,
                            key: "mode",
                            expected: MODES,
                        })?;
                    set_once(TAG, key, &mut mode, m)?;
                }
                "create" => {
                    let c = match value.as_scalar() {
                        Some("true") => true,
                        Some("false") => false,
                        _ => {
                            return Err(ConfigErrorKind::BadOption {
                                tag: TAG,
                                key: "create",
                                expected: "true or false",
                            });
                        }
                    };
                    set_once(TAG, key, &mut create, c)?;
                }
                other => {
                    return Err(ConfigErrorKind::UnknownKey {
                        tag: TAG,
                        key: other.to_owned(),
                    });
                }
            }
        }
        let path = PathBuf::from(path.ok_or(ConfigErrorKind::MissingKey {
            tag: TAG,
            what: "a `path`",
        })?);
        if path.as_os_str().is_empty() {
            return Err(ConfigErrorKind::BadOption {
                tag: TAG,
                key: "path",
                expected: "a non-empty path",
            });
        }
        let mode = mode.unwrap_or(FileMode::Read);
        let create = create.unwrap_or(false);
        let (fd, directory, opened) = self.open_file(&path, mode, create)?;
        if opened == Opened::Created {
            self.created.record(&path);
        }
        let kind = if directory {
            GrantKind::Dir(mode)
        } else {
            GrantKind::File(mode)
        };
        let deferred = (opened == Opened::WouldCreate).then_some(Deferred::Create);
        Ok(self.push_deferred(
            fd,
            kind,
            Origin::File {
                path,
                directory,
                mode,
            },
            deferred,
        ))
    }

    /// Opens a `!file` path: a file with the mode's access flags, or, when the path is a
    /// directory, a directory descriptor (`O_RDONLY | O_DIRECTORY`) beneath which the program
    /// may open paths as the mode allows.
    fn open_file(
        &self,
        path: &Path,
        mode: FileMode,
        create: bool,
    ) -> Result<(OwnedFd, bool, Opened), ConfigErrorKind> {
        let err = |e: Errno| ConfigErrorKind::Open {
            path: path.to_owned(),
            source: e.into(),
        };
        let flags = match mode {
            FileMode::Read => OFlags::RDONLY,
            FileMode::Write => OFlags::WRONLY,
            FileMode::Append => OFlags::WRONLY | OFlags::APPEND,
            FileMode::ReadWrite => OFlags::RDWR,
        };
        // Non-blocking so that opening a FIFO does not hang the launcher; cleared below.
        // With `create`, an exclusive create first tells whether the file is new (and so
        // to be removed if the configuration fails later on).
        let mut created = Opened::Existing;
        let first = if create && self.side_effects {
            match self.authority.open(
                path,
                flags | OFlags::CREATE | OFlags::EXCL | OFlags::NONBLOCK,
                Mode::from(0o666),
            ) {
                Err(Errno::EXIST) => None,
                r => {
                    if r.is_ok() {
                        created = Opened::Created;
                    }
                    Some(r)
                }
            }
        } else {
            None
        };
        let opened = match first {
            Some(r) => r,
            None => self
                .authority
                .open(path, flags | OFlags::NONBLOCK, Mode::empty()),
        };
        let fd = match opened {
            Ok(fd) => fd,
            // Writable modes refuse directories; a directory grant is a read-only descriptor
            // whose rights beneath it the sandbox sets from the mode.
            Err(Errno::ISDIR) => {
                let fd = self
                    .authority
                    .open(path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
                    .map_err(err)?;
                return Ok((fd, true, Opened::Existing));
            }
            // Without side effects, a file to create stays uncreated: check that the
            // directory it would be created in is there and writable, and stand in for it.
            Err(Errno::NOENT) if create && !self.side_effects => {
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let dir = self
                    .authority
                    .open(parent, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
                    .map_err(err)?;
                rustix::fs::accessat(&dir, ".", Access::WRITE_OK, AtFlags::empty()).map_err(err)?;
                return Ok((dir, false, Opened::WouldCreate));
            }
            Err(e) => return Err(err(e)),
        };
        rustix::fs::fcntl_setfl(&fd, flags & !(OFlags::CREATE | OFlags::ACCMODE)).map_err(err)?;
        let stat = rustix::fs::fstat(&fd).map_err(err)?;
        let directory = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
        Ok((fd, directory, created))
    }

    fn socket(&mut self, node: &Node) -> Result<usize, ConfigErrorKind> {
        const TAG: &str = "socket";
        let entries = options(TAG, node, "a map with `bind` or `connect` (and `type`)")?;
        let mut bind = None;
        let mut connect = None;
        let mut ty = None;
        for (key, value) in entries {
            match key {
                "bind" => set_once(
                    TAG,
                    key,
                    &mut bind,
                    string_option(TAG, "bind", value, ADDR)?,
                )?,
                "connect" => set_once(
                    TAG,
                    key,
                    &mut connect,
                    string_option(TAG, "connect", value, ADDR)?,
                )?,
                "type" => {
                    let t = match string_option(TAG, "type", value, TYPES)? {
                        "stream" => ("stream", SocketType::STREAM),
                        "dgram" => ("dgram", SocketType::DGRAM),
                        "seqpacket" => ("seqpacket", SocketType::SEQPACKET),
                        _ => {
                            return Err(ConfigErrorKind::BadOption {
                                tag: TAG,
                                key: "type",
                                expected: TYPES,
                            });
                        }
                    };
                    set_once(TAG, key, &mut ty, t)?;
                }
                other => {
                    return Err(ConfigErrorKind::UnknownKey {
                        tag: TAG,
                        key: other.to_owned(),
                    });
                }
            }
        }
        let (bound, address) = match (bind, connect) {
            (Some(a), None) => (true, a),
            (None, Some(a)) => (false, a),
            _ => {
                return Err(ConfigErrorKind::MissingKey {
                    tag: TAG,
                    what: "exactly one of `bind` and `connect`",
                });
            }
        };
        let (ty_name, ty) = ty.unwrap_or(("stream", SocketType::STREAM));
        let (fd, deferred) = self.open_socket(address, bound, ty, LISTEN_BACKLOG)?;
        let local = local_address(&fd, deferred);
        Ok(self.push_deferred(
            fd,
            GrantKind::Socket,
            Origin::Socket {
                bound,
                address: address.to_owned(),
                ty: ty_name,
                local,
            },
            deferred,
        ))
    }

    /// `!connections {bind: ADDR, backlog: N}`: listens on `ADDR` and gives the program one
    /// end of a socket pair; the listener and the other end become an [`Acceptor`].
    fn connections(&mut self, node: &Node) -> Result<usize, ConfigErrorKind> {
        const TAG: &str = "connections";
        let entries = options(TAG, node, "a map with `bind` (and `backlog`)")?;
        let mut bind = None;
        let mut backlog = None;
        for (key, value) in entries {
            match key {
                "bind" => set_once(
                    TAG,
                    key,
                    &mut bind,
                    string_option(TAG, "bind", value, ADDR)?,
                )?,
                "backlog" => {
                    let n = int_option(value)
                        .filter(|n| (1..=MAX_BACKLOG).contains(n))
                        .ok_or(ConfigErrorKind::BadOption {
                            tag: TAG,
                            key: "backlog",
                            expected: BACKLOGS,
                        })?;
                    set_once(TAG, key, &mut backlog, n)?;
                }
                other => {
                    return Err(ConfigErrorKind::UnknownKey {
                        tag: TAG,
                        key: other.to_owned(),
                    });
                }
            }
        }
        let address = bind.ok_or(ConfigErrorKind::MissingKey {
            tag: TAG,
            what: "a `bind` address",
        })?;
        let backlog = backlog.unwrap_or(LISTEN_BACKLOG);
        let fail = |op: &'static str| {
            move |e: std::io::Error| ConfigErrorKind::Socket {
                address: address.to_owned(),
                op,
                source: e,
            }
        };
        let (listener, deferred) = self.open_socket(address, true, SocketType::STREAM, backlog)?;
        let local = local_address(&listener, deferred);
        let (program_end, launcher_end) = self
            .authority
            .socketpair()
            .map_err(|e| fail("socketpair")(e.into()))?;
        let acceptor = Acceptor::new(listener, launcher_end).map_err(fail("fcntl(O_NONBLOCK)"))?;
        Ok(self.push_resource(Resource {
            fd: program_end,
            kind: GrantKind::Other,
            origin: Origin::Connections {
                address: address.to_owned(),
                backlog,
                local,
            },
            acceptor: Some(acceptor),
            deferred,
        }))
    }

    fn open_socket(
        &mut self,
        address: &str,
        bound: bool,
        ty: SocketType,
        backlog: i32,
    ) -> Result<(OwnedFd, Option<Deferred>), ConfigErrorKind> {
        let a = self.authority;
        let fail = |op: &'static str| {
            move |e: Errno| ConfigErrorKind::Socket {
                address: address.to_owned(),
                op,
                source: e.into(),
            }
        };
        let listens = bound && ty != SocketType::DGRAM;
        match parse_address(a, address)? {
            Address::Unix(path) => {
                let addr = SocketAddrUnix::new(path.as_path()).map_err(|e| {
                    ConfigErrorKind::BadAddress {
                        address: address.to_owned(),
                        reason: std::io::Error::from(e).to_string(),
                    }
                })?;
                let sock = a.socket(AddressFamily::UNIX, ty).map_err(fail("socket"))?;
                if !self.side_effects {
                    if bound {
                        // What bind would refuse: a path that exists, a missing directory.
                        if a.open(&path, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty())
                            .is_ok()
                        {
                            return Err(fail("bind")(Errno::ADDRINUSE));
                        }
                        let parent = path.parent().unwrap_or(Path::new("/"));
                        a.open(parent, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
                            .map_err(fail("bind"))?;
                    }
                    return Ok((sock, Some(deferred_socket(bound))));
                }
                if bound {
                    a.bind_unix(&sock, &addr).map_err(fail("bind"))?;
                    self.created.record(&path);
                } else {
                    a.connect_unix(&sock, &addr).map_err(fail("connect"))?;
                }
                if listens {
                    rustix::net::listen(&sock, backlog).map_err(fail("listen"))?;
                }
                Ok((sock, None))
            }
            Address::Inet(addr) => {
                let family = if addr.is_ipv4() {
                    AddressFamily::INET
                } else {
                    AddressFamily::INET6
                };
                let sock = a.socket(family, ty).map_err(fail("socket"))?;
                if !self.side_effects {
                    return Ok((sock, Some(deferred_socket(bound))));
                }
                if bound {
                    if ty == SocketType::STREAM {
                        rustix::net::sockopt::set_socket_reuseaddr(&sock, true)
                            .map_err(fail("setsockopt(SO_REUSEADDR)"))?;
                    }
                    a.bind_inet(&sock, &addr).map_err(fail("bind"))?;
                } else {
                    a.connect_inet(&sock, &addr).map_err(fail("connect"))?;
                }
                if listens {
                    rustix::net::listen(&sock, backlog).map_err(fail("listen"))?;
                }
                Ok((sock, None))
            }
        }
    }

    fn executable(&mut self, node: &Node) -> Result<usize, ConfigErrorKind> {
        match &node.kind {
            NodeKind::Scalar(s) if s.is_empty() => {}
            NodeKind::Map(m) if m.is_empty() => {}
            _ => {
                return Err(ConfigErrorKind::Shape {
                    tag: "executable",
                    expected: "no content",
                });
            }
        }
        if let Some(i) = self.executable {
            return Ok(i);
        }
        let fd = self
            .authority
            .open(self.program, OFlags::RDONLY, Mode::empty())
            .map_err(|e| ConfigErrorKind::Executable {
                path: self.program.to_owned(),
                source: e.into(),
            })?;
        let i = self.push(
            fd,
            GrantKind::Other,
            Origin::Executable(self.program.to_owned()),
        );
        self.executable = Some(i);
        Ok(i)
    }
}

/// How [`Resolver::open_file`] got its descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opened {
    /// The path existed.
    Existing,
    /// `create: true` created the file.
    Created,
    /// `create: true` would create it (no side effects); the descriptor is its directory.
    WouldCreate,
}

fn deferred_socket(bound: bool) -> Deferred {
    if bound {
        Deferred::Bind
    } else {
        Deferred::Connect
    }
}

/// The local address of a bound or connected network socket (the port the kernel chose for
/// port 0); none for one left unbound.
fn local_address(sock: &OwnedFd, deferred: Option<Deferred>) -> Option<SocketAddr> {
    if deferred.is_some() {
        return None;
    }
    rustix::net::getsockname(sock)
        .ok()
        .and_then(|a| SocketAddr::try_from(a).ok())
}

const MODES: &str = "read, write, append or readwrite";
const TYPES: &str = "stream, dgram or seqpacket";
const ADDR: &str = "an address: host:port, [v6]:port or /unix/path";
const LISTEN_BACKLOG: i32 = 128;
const MAX_BACKLOG: i32 = 65_535;
const BACKLOGS: &str = "a number from 1 to 65535";

/// How an inherited descriptor (`!fd N`, N > 2) is passed: sockets as sockets (numbered first
/// in listen-fds mode), directories as read-only directories, the rest as is.
fn inherited_kind(fd: &OwnedFd) -> GrantKind {
    let Ok(stat) = rustix::fs::fstat(fd) else {
        return GrantKind::Other;
    };
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Socket => GrantKind::Socket,
        FileType::Directory => GrantKind::Dir(FileMode::Read),
        FileType::RegularFile => match rustix::fs::fcntl_getfl(fd) {
            Ok(fl) if fl.contains(OFlags::APPEND) => GrantKind::File(FileMode::Append),
            Ok(fl) if fl & OFlags::ACCMODE == OFlags::WRONLY => GrantKind::File(FileMode::Write),
            Ok(fl) if fl & OFlags::ACCMODE == OFlags::RDWR => GrantKind::File(FileMode::ReadWrite),
            Ok(_) => GrantKind::File(FileMode::Read),
            Err(_) => GrantKind::Other,
        },
        _ => GrantKind::Other,
    }
}

/// A parsed `!socket` address.
#[derive(Debug, PartialEq, Eq)]
enum Address {
    Unix(PathBuf),
    Inet(SocketAddr),
}

fn parse_address(a: &AmbientAuthority, text: &str) -> Result<Address, ConfigErrorKind> {
    let bad = |reason: &str| ConfigErrorKind::BadAddress {
        address: text.to_owned(),
        reason: reason.to_owned(),
    };
    if text.starts_with('/') {
        return Ok(Address::Unix(PathBuf::from(text)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Address::Inet(addr));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(bad(
            "expected host:port, [v6]:port or a UNIX socket path starting with /",
        ));
    };
    if host.is_empty() || host.contains(':') || host.starts_with('[') {
        return Err(bad("malformed host"));
    }
    if port.parse::<u16>().is_err() {
        return Err(bad("the port must be a number from 0 to 65535"));
    }
    let addrs = a.lookup(text).map_err(|e| bad(&e.to_string()))?;
    // Prefer IPv4 when a name resolves to both, as `localhost` does.
    addrs
        .iter()
        .find(|x| x.is_ipv4())
        .or(addrs.first())
        .map(|x| Address::Inet(*x))
        .ok_or_else(|| bad("the name resolves to no address"))
}

/// The entries of a tag's map content, with string keys.
fn options<'v>(
    tag: &'static str,
    node: &'v Node,
    expected: &'static str,
) -> Result<Vec<(&'v str, &'v Node)>, ConfigErrorKind> {
    let NodeKind::Map(entries) = &node.kind else {
        return Err(ConfigErrorKind::Shape { tag, expected });
    };
    entries
        .iter()
        .map(|(k, v)| match (&k.tag, k.as_scalar()) {
            (None, Some(s)) => Ok((s, v)),
            _ => Err(ConfigErrorKind::Shape { tag, expected }),
        })
        .collect()
}

fn string_option<'v>(
    tag: &'static str,
    key: &'static str,
    value: &'v Node,
    expected: &'static str,
) -> Result<&'v str, ConfigErrorKind> {
    match (&value.tag, value.as_scalar()) {
        (None, Some(s)) => Ok(s),
        (Some(t), Some(s)) if t == "!!str" => Ok(s),
        _ => Err(ConfigErrorKind::BadOption { tag, key, expected }),
    }
}

/// A plain (or `!!int`) decimal integer option that fits an `i32`.
fn int_option(value: &Node) -> Option<i32> {
    match (&value.tag, value.as_scalar()) {
        (None, Some(s)) if value.plain && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        (Some(t), Some(s)) if t == "!!int" && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

fn set_once<T>(
    tag: &'static str,
    key: &str,
    slot: &mut Option<T>,
    value: T,
) -> Result<(), ConfigErrorKind> {
    if slot.is_some() {
        return Err(ConfigErrorKind::DuplicateKey {
            tag,
            key: key.to_owned(),
        });
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = AmbientAuthority::claim();
        assert_eq!(
            parse_address(&a, "/run/x.sock").unwrap(),
            Address::Unix("/run/x.sock".into())
        );
        assert_eq!(
            parse_address(&a, "127.0.0.1:80").unwrap(),
            Address::Inet("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            parse_address(&a, "[::1]:8080").unwrap(),
            Address::Inet("[::1]:8080".parse().unwrap())
        );
        assert!(matches!(
            parse_address(&a, "localhost:99").unwrap(),
            Address::Inet(x) if x.port() == 99 && x.ip().is_loopback()
        ));
        for bad in [
            "",
            "nohost",
            "::1:80",
            "host:port",
            "host:70000",
            ":80",
            "[::1:80",
        ] {
            assert!(
                matches!(
                    parse_address(&a, bad),
                    Err(ConfigErrorKind::BadAddress { .. })
                ),
                "{bad}"
            );
        }
    }
}
