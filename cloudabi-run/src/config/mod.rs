//! The configuration layer: YAML with CloudABI's local tags, to open descriptors, to argdata.
//!
//! A configuration is one YAML document (the `%TAG ! tag:nuxi.nl,2015:cloudabi/` directive
//! is optional) parsed by argdata's YAML parser. Plain YAML becomes plain argdata; five local
//! tags become descriptors:
//!
//! | tag | what the program gets |
//! | --- | --- |
//! | `!fd stdin`, `!fd stdout`, `!fd stderr`, `!fd N` | a copy of a descriptor the launcher holds |
//! | `!file {path: P, mode: read\|write\|append\|readwrite, create: BOOL}` | the file, or for a directory a directory descriptor beneath which the mode's rights apply |
//! | `!socket {bind: ADDR \| connect: ADDR, type: stream\|dgram\|seqpacket}` | a listening/bound or connected socket; ADDR is `host:port`, `[v6]:port` or a path starting with `/` |
//! | `!connections {bind: ADDR, backlog: N}` | one end of a UNIX stream socket pair over which the launcher passes every connection it accepts on ADDR (listening from resolution on, backlog N, default 128), one argdata message `{connection: !fd 0, peer: "ADDRESS"}` each; see [`crate::acceptor`] and `docs/connections.md` |
//! | `!executable` | the program's own executable, open read-only |
//!
//! [`resolve`] opens everything (the only use of ambient authority, through
//! [`AmbientAuthority`]); [`Resolved::plan`] numbers the descriptors as the program will see
//! them and encodes the argdata; [`Plan::apply`] hands both, and the launcher's side of every
//! `!connections` ([`Acceptor`](crate::acceptor::Acceptor)), to a
//! [`Launch`](crate::launch::Launch).
//!
//! ```
//! use std::path::Path;
//! use cloudabi_run::config::{self, AmbientAuthority};
//!
//! let yaml = "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\nout: !fd stdout\nworkers: 4\n";
//! let authority = AmbientAuthority::claim();
//! let resolved = config::resolve(yaml, "demo.yaml", Path::new("/bin/true"), &authority)?;
//! let plan = resolved.plan(false)?;
//! assert_eq!(plan.numbers(), [1]);
//! assert!(plan.to_yaml()?.contains("!fd \"1\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Any error names `file:line:column` and leaves nothing open:
//!
//! ```
//! use std::path::Path;
//! use cloudabi_run::config::{self, AmbientAuthority};
//!
//! let authority = AmbientAuthority::claim();
//! let err = config::resolve("a: 1\nb: !file {path: /nonexistent/x}\n", "<stdin>",
//!     Path::new("/bin/true"), &authority).unwrap_err();
//! assert!(err.to_string().starts_with("<stdin>:2:4: cannot open /nonexistent/x"), "{err}");
//! ```

#![forbid(unsafe_code)]

mod created;
mod error;
mod limits;
mod locate;
mod plan;
mod resolve;

use std::path::Path;

use argdata::Value;
use argdata::yaml::{self, FdSpec, Node, Parser, ResolverError, TagResolver};

pub use created::CreatedPaths;
pub use error::{ConfigError, ConfigErrorKind, Location};
pub use limits::MAX_CONFIG_LEN;
pub use locate::locate_value;
pub use plan::{Grant, Plan, PlanError, Resolved, listen_fd_name};
pub use resolve::{
    AmbientAuthority, Deferred, MAX_RESOURCES, Origin, Resolver, Resource, TAG_PREFIX,
};

/// Connects a [`Resolver`] to the YAML parser, keeping the typed error of a failed tag.
struct Hook<'r, 'a> {
    resolver: &'r mut Resolver<'a>,
    failure: Option<ConfigErrorKind>,
}

impl Hook<'_, '_> {
    fn keep(&mut self, r: Result<Value, ConfigErrorKind>) -> Result<Value, ResolverError> {
        r.map_err(|e| {
            let message = e.to_string();
            self.failure = Some(e);
            message.into()
        })
    }
}

impl TagResolver for Hook<'_, '_> {
    fn resolve(&mut self, tag: &str, node: &Node) -> Option<Result<Value, ResolverError>> {
        let r = self.resolver.resolve(tag, node);
        Some(self.keep(r))
    }

    fn resolve_fd(&mut self, fd: FdSpec, _node: &Node) -> Result<Value, ResolverError> {
        let r = self.resolver.resolve_fd(fd);
        self.keep(r)
    }
}

/// Parses `text` (named `file` in errors, e.g. its path or `<stdin>`) and opens every
/// resource its tags name. `program` is the executable `!executable` opens.
///
/// # Errors
/// A [`ConfigError`] naming the file, line and column. Every descriptor opened before the
/// error is closed again.
pub fn resolve(
    text: &str,
    file: &str,
    program: &Path,
    authority: &AmbientAuthority,
) -> Result<Resolved, ConfigError> {
    resolve_with(Resolver::new(authority, program), text, file)
}

/// Resolves `text` as [`resolve`] does, but without side effects (`--check`): no file is
/// created, no socket bound or connected; everything else is opened and checked. The result
/// can be shown, never launched.
///
/// ```
/// use std::path::Path;
/// use cloudabi_run::config::{self, AmbientAuthority};
///
/// let dir = std::env::temp_dir().join(format!("check-doc-{}", std::process::id()));
/// std::fs::create_dir(&dir)?;
/// let yaml = format!("log: !file {{path: {}/new.log, mode: append, create: true}}\n\
///                     web: !socket {{bind: '127.0.0.1:0'}}\n", dir.display());
/// let authority = AmbientAuthority::claim();
/// let checked = config::check(&yaml, "demo.yaml", Path::new("/bin/true"), &authority)?;
/// let shown = checked.to_yaml(false)?;
/// assert!(shown.contains("new.log, append (would be created)"), "{shown}");
/// assert!(shown.contains("bound to 127.0.0.1:0 (would be bound)"), "{shown}");
/// assert!(!dir.join("new.log").exists());
/// std::fs::remove_dir(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`resolve`], for everything that can be found out without side effects.
pub fn check(
    text: &str,
    file: &str,
    program: &Path,
    authority: &AmbientAuthority,
) -> Result<Checked, ConfigError> {
    resolve_with(
        Resolver::new(authority, program).without_side_effects(),
        text,
        file,
    )
    .map(Checked)
}

/// A configuration resolved by [`check`]: its descriptors are partly stand-ins (unbound
/// sockets, the directory of a file not yet created), so it offers no way to a launch.
#[derive(Debug)]
pub struct Checked(Resolved);

impl Checked {
    /// Transforms the resolved configuration, as `--emulate` does with
    /// [`crate::emulate::wrap`].
    ///
    /// # Errors
    /// Those of `f`.
    pub fn map<E>(self, f: impl FnOnce(Resolved) -> Result<Resolved, E>) -> Result<Checked, E> {
        f(self.0).map(Checked)
    }

    /// What `--check` prints: the argdata the program would receive, as YAML with the
    /// descriptor numbers it would see, then one comment line per descriptor saying where it
    /// comes from and what a real start would still do (create, bind, connect).
    ///
    /// # Errors
    /// See [`PlanError`].
    pub fn to_yaml(self, listen_fds: bool) -> Result<String, PlanError> {
        let plan = self.0.plan(listen_fds)?;
        Ok(plan.to_yaml()?)
    }
}

fn resolve_with(
    mut resolver: Resolver<'_>,
    text: &str,
    file: &str,
) -> Result<Resolved, ConfigError> {
    let mut hook = Hook {
        resolver: &mut resolver,
        failure: None,
    };
    let parsed = Parser::new(text)
        .with_file_name(file)
        .with_max_len(MAX_CONFIG_LEN)
        .with_unique_keys()
        .parse_with(&mut hook);
    let failure = hook.failure.take();
    match parsed {
        Ok(value) => {
            let (resources, created) = resolver.into_parts();
            Ok(Resolved {
                value,
                resources,
                created,
            })
        }
        Err(e) => {
            let location = Location {
                file: file.to_owned(),
                line: e.line(),
                column: e.column(),
            };
            let kind = match (e.kind(), failure) {
                (yaml::ErrorKind::Resolver(_), Some(kind)) => kind,
                (yaml::ErrorKind::UnknownTag(t), _) => {
                    ConfigErrorKind::UnknownTag(t.trim_start_matches('!').to_owned())
                }
                (other, _) => ConfigErrorKind::Syntax(other.to_string()),
            };
            // `resolver` is dropped here: every descriptor it opened is closed and every
            // file or socket path it created is removed.
            Err(kind.at(location))
        }
    }
}
