//! Numbering the resolved descriptors as the program will see them and encoding the argdata.

use std::os::fd::{OwnedFd, RawFd};

use argdata::{Fd, MAX_DEPTH, MapFdsError, Value};

use super::created::CreatedPaths;
use super::resolve::{Deferred, Origin, Resource};
use crate::acceptor::Acceptor;
use crate::launch::{GrantKind, Launch, child_fd_numbers};

/// A configuration whose tags have all been resolved: the value (fd leaves hold indices into
/// `resources`) and the open descriptors.
#[derive(Debug)]
pub struct Resolved {
    /// The argdata tree; each fd leaf holds an index into `resources`.
    pub value: Value,
    /// The descriptors the tags opened.
    pub resources: Vec<Resource>,
    /// What resolving created in the file system; removed when dropped unless kept.
    pub created: CreatedPaths,
}

/// Errors of [`Resolved::plan`]; only malformed trees built by hand trigger them.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// An fd leaf holds an index with no resource.
    #[error("fd leaf {0} names no resolved descriptor")]
    UnknownResource(i32),
    /// The tree nests deeper than argdata allows.
    #[error("the configuration nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Two different resources claim the same standard descriptor.
    #[error("standard descriptor {0} is granted twice")]
    StdioTwice(RawFd),
    /// The encoded argdata did not print (a bug in the encoder).
    #[error("printing the argdata: {0}")]
    Print(#[from] argdata::Error),
}

/// One descriptor the program receives.
#[derive(Debug)]
pub struct Grant {
    /// The launcher's descriptor.
    pub fd: OwnedFd,
    /// How it is passed.
    pub kind: GrantKind,
    /// Where it came from.
    pub origin: Origin,
    /// The number the program sees.
    pub number: RawFd,
    /// For sockets: the map key under which it first appears (for `LISTEN_FDNAMES`).
    pub name: Option<String>,
    /// For `!connections`: the launcher's side, started by the launch once the program
    /// runs (dropping the plan closes it without starting anything).
    pub acceptor: Option<Acceptor>,
    /// What `--check` left undone (see [`Resource::deferred`]).
    pub deferred: Option<Deferred>,
}

/// Everything needed to start the program: the grants in launch order and the encoded
/// argdata whose fd leaves hold the numbers the program sees.
#[derive(Debug)]
pub struct Plan {
    /// Descriptors, in the order they must be granted.
    pub grants: Vec<Grant>,
    /// The encoded argdata.
    pub bytes: Vec<u8>,
    /// Whether sockets were numbered first (listen-fds mode).
    pub listen_fds: bool,
    /// What resolving created in the file system: removed when dropped (the program did not
    /// start), so take it out with `std::mem::take` and keep it once the program runs.
    pub created: CreatedPaths,
}

impl Resolved {
    /// Numbers the descriptors as `docs/startup.md` describes (standard streams at 0-2, the
    /// rest from 3 in order of first appearance, sockets first in listen-fds mode) and
    /// encodes the argdata with those numbers. Resources that no leaf names are closed.
    ///
    /// # Errors
    /// See [`PlanError`].
    pub fn plan(self, listen_fds: bool) -> Result<Plan, PlanError> {
        let Resolved {
            value,
            resources,
            created,
        } = self;
        let count = resources.len();
        // The encoder lists descriptors deduplicated in order of first appearance.
        let order: Vec<usize> = value
            .encode()
            .fds
            .iter()
            .map(|f| {
                usize::try_from(f.0)
                    .ok()
                    .filter(|i| *i < count)
                    .ok_or(PlanError::UnknownResource(f.0))
            })
            .collect::<Result<_, _>>()?;
        let kinds: Vec<GrantKind> = order.iter().map(|i| resources[*i].kind).collect();
        let numbers = child_fd_numbers(&kinds, listen_fds);
        let mut stdio = [false; 3];
        for n in &numbers {
            if let Some(seen) = usize::try_from(*n).ok().and_then(|i| stdio.get_mut(i)) {
                if *seen {
                    return Err(PlanError::StdioTwice(*n));
                }
                *seen = true;
            }
        }
        let mut number_of = vec![None; count];
        for (i, n) in order.iter().zip(&numbers) {
            number_of[*i] = Some(*n);
        }
        let mut names = vec![None; count];
        socket_names(&value, &resources, &mut names, MAX_DEPTH);
        let mut value = value;
        value
            .map_fds(|Fd(i)| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| number_of.get(i).copied().flatten())
                    .map(Fd)
                    .ok_or(PlanError::UnknownResource(i))
            })
            .map_err(|e| match e {
                MapFdsError::TooDeep => PlanError::TooDeep,
                MapFdsError::Fd(e) => e,
            })?;
        let mut bytes = Vec::new();
        value
            .encode_raw_fds_into(&mut bytes)
            .map_err(|_| PlanError::UnknownResource(-1))?;
        let mut slots: Vec<Option<Resource>> = resources.into_iter().map(Some).collect();
        let grants = order
            .iter()
            .zip(&numbers)
            .filter_map(|(i, n)| {
                let r = slots[*i].take()?;
                Some(Grant {
                    fd: r.fd,
                    kind: r.kind,
                    origin: r.origin,
                    number: *n,
                    name: names[*i].take(),
                    acceptor: r.acceptor,
                    deferred: r.deferred,
                })
            })
            .collect();
        Ok(Plan {
            grants,
            bytes,
            listen_fds,
            created,
        })
    }
}

/// Records, for each socket, the first string map key it appears under (depth first, in the
/// order [`Value::map_fds`] visits the leaves). Stops descending where `depth` runs out
/// (counted in maps and sequences, as `map_fds` does, which then reports the tree as too
/// deep).
fn socket_names(value: &Value, resources: &[Resource], names: &mut [Option<String>], depth: usize) {
    let children = match value {
        Value::Seq(_) | Value::Map(_) => match depth.checked_sub(1) {
            Some(d) => d,
            None => return,
        },
        _ => return,
    };
    match value {
        Value::Seq(items) => {
            for v in items {
                socket_names(v, resources, names, children);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                socket_names(k, resources, names, children);
                if let (Value::Str(key), Value::Fd(Fd(i))) = (k, v)
                    && let Some(idx) = usize::try_from(*i).ok().filter(|i| *i < resources.len())
                    && resources[idx].kind == GrantKind::Socket
                    && names[idx].is_none()
                {
                    names[idx] = Some(key.clone());
                }
                socket_names(v, resources, names, children);
            }
        }
        _ => {}
    }
}

/// A name systemd accepts in `LISTEN_FDNAMES`: at most 255 printable ASCII characters other
/// than `:`; anything else becomes `unknown`.
#[must_use]
pub fn listen_fd_name(name: Option<&str>) -> String {
    match name {
        Some(n)
            if !n.is_empty()
                && n.len() <= 255
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b':') =>
        {
            n.to_owned()
        }
        _ => "unknown".to_owned(),
    }
}

impl Plan {
    /// Hands the grants (with their acceptors) and the argdata to `launch` (whose listen-fds
    /// setting is made to match the plan's).
    #[must_use]
    pub fn apply(self, launch: Launch) -> Launch {
        let mut launch = launch.listen_fds(self.listen_fds);
        for g in self.grants {
            launch = if let Some(acceptor) = g.acceptor {
                launch.grant_connections(g.fd, acceptor)
            } else if g.kind == GrantKind::Socket {
                let name = listen_fd_name(g.name.as_deref());
                launch.grant_named(g.fd, g.kind, name)
            } else {
                launch.grant(g.fd, g.kind)
            };
        }
        launch.argdata(self.bytes)
    }

    /// The program-side numbers, in grant order.
    #[must_use]
    pub fn numbers(&self) -> Vec<RawFd> {
        self.grants.iter().map(|g| g.number).collect()
    }

    /// The argdata as YAML (the `argdata` printer's syntax; fd leaves show the numbers the
    /// program sees), followed by one comment line per descriptor.
    ///
    /// # Errors
    /// If the configuration holds a value the reference printer (and a C program's
    /// getters) cannot represent: an integer wider than 64 bits
    /// ([`argdata::ErrorKind::IntTooWide`]) or a timestamp whose year does not fit a C
    /// `int`. Otherwise only if the encoded bytes do not decode, which would be a bug in
    /// the encoder.
    pub fn to_yaml(&self) -> Result<String, argdata::Error> {
        let mut s = argdata::yaml::to_string(argdata::Argdata::new(&self.bytes))?;
        for g in &self.grants {
            match g.deferred {
                None => s.push_str(&format!("# fd {}: {}\n", g.number, g.origin)),
                Some(d) => s.push_str(&format!("# fd {}: {} ({d})\n", g.number, g.origin)),
            }
        }
        Ok(s)
    }
}
