//! Translating Linux error numbers to CloudABI's.

#![forbid(unsafe_code)]

use cloudabi_types::Errno;

/// The CloudABI errno for a Linux `errno` value (`EIO` for values CloudABI has no name for).
pub(crate) fn from_linux(e: i32) -> Errno {
    match e {
        libc::E2BIG => Errno::TOOBIG,
        libc::EACCES => Errno::ACCES,
        libc::EADDRINUSE => Errno::ADDRINUSE,
        libc::EADDRNOTAVAIL => Errno::ADDRNOTAVAIL,
        libc::EAFNOSUPPORT => Errno::AFNOSUPPORT,
        libc::EAGAIN => Errno::AGAIN,
        libc::EALREADY => Errno::ALREADY,
        libc::EBADF => Errno::BADF,
        libc::EBADMSG => Errno::BADMSG,
        libc::EBUSY => Errno::BUSY,
        libc::ECANCELED => Errno::CANCELED,
        libc::ECHILD => Errno::CHILD,
        libc::ECONNABORTED => Errno::CONNABORTED,
        libc::ECONNREFUSED => Errno::CONNREFUSED,
        libc::ECONNRESET => Errno::CONNRESET,
        libc::EDEADLK => Errno::DEADLK,
        libc::EDESTADDRREQ => Errno::DESTADDRREQ,
        libc::EDOM => Errno::DOM,
        libc::EDQUOT => Errno::DQUOT,
        libc::EEXIST => Errno::EXIST,
        libc::EFAULT => Errno::FAULT,
        libc::EFBIG => Errno::FBIG,
        libc::EHOSTUNREACH => Errno::HOSTUNREACH,
        libc::EIDRM => Errno::IDRM,
        libc::EILSEQ => Errno::ILSEQ,
        libc::EINPROGRESS => Errno::INPROGRESS,
        libc::EINTR => Errno::INTR,
        libc::EINVAL => Errno::INVAL,
        libc::EIO => Errno::IO,
        libc::EISCONN => Errno::ISCONN,
        libc::EISDIR => Errno::ISDIR,
        libc::ELOOP => Errno::LOOP,
        libc::EMFILE => Errno::MFILE,
        libc::EMLINK => Errno::MLINK,
        libc::EMSGSIZE => Errno::MSGSIZE,
        libc::EMULTIHOP => Errno::MULTIHOP,
        libc::ENAMETOOLONG => Errno::NAMETOOLONG,
        libc::ENETDOWN => Errno::NETDOWN,
        libc::ENETRESET => Errno::NETRESET,
        libc::ENETUNREACH => Errno::NETUNREACH,
        libc::ENFILE => Errno::NFILE,
        libc::ENOBUFS => Errno::NOBUFS,
        libc::ENODEV => Errno::NODEV,
        libc::ENOENT => Errno::NOENT,
        libc::ENOEXEC => Errno::NOEXEC,
        libc::ENOLCK => Errno::NOLCK,
        libc::ENOLINK => Errno::NOLINK,
        libc::ENOMEM => Errno::NOMEM,
        libc::ENOMSG => Errno::NOMSG,
        libc::ENOPROTOOPT => Errno::NOPROTOOPT,
        libc::ENOSPC => Errno::NOSPC,
        libc::ENOSYS => Errno::NOSYS,
        libc::ENOTCONN => Errno::NOTCONN,
        libc::ENOTDIR => Errno::NOTDIR,
        libc::ENOTEMPTY => Errno::NOTEMPTY,
        libc::ENOTRECOVERABLE => Errno::NOTRECOVERABLE,
        libc::ENOTSOCK => Errno::NOTSOCK,
        libc::ENOTSUP => Errno::NOTSUP,
        libc::ENOTTY => Errno::NOTTY,
        libc::ENXIO => Errno::NXIO,
        libc::EOVERFLOW => Errno::OVERFLOW,
        libc::EOWNERDEAD => Errno::OWNERDEAD,
        libc::EPERM => Errno::PERM,
        libc::EPIPE => Errno::PIPE,
        libc::EPROTO => Errno::PROTO,
        libc::EPROTONOSUPPORT => Errno::PROTONOSUPPORT,
        libc::EPROTOTYPE => Errno::PROTOTYPE,
        libc::ERANGE => Errno::RANGE,
        libc::EROFS => Errno::ROFS,
        libc::ESPIPE => Errno::SPIPE,
        libc::ESRCH => Errno::SRCH,
        libc::ESTALE => Errno::STALE,
        libc::ETIMEDOUT => Errno::TIMEDOUT,
        libc::ETXTBSY => Errno::TXTBSY,
        libc::EXDEV => Errno::XDEV,
        // Linux spells `EWOULDBLOCK` as `EAGAIN` and `ENOTSUP` as `EOPNOTSUPP`; `ECONNRESET`
        // and friends are covered above. Anything else has no CloudABI counterpart.
        _ => Errno::IO,
    }
}

/// The CloudABI errno of the calling thread's last failed libc call.
pub(crate) fn last() -> Errno {
    from_linux(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// The CloudABI errno of an [`std::io::Error`].
pub(crate) fn from_io(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::IO, from_linux)
}

/// The CloudABI errno of a path resolved beneath a directory: `ENOTCAPABLE` for escapes.
pub(crate) fn from_caps(e: &cloudabi_caps::Error) -> Errno {
    match e {
        cloudabi_caps::Error::Os(e) => from_io(e),
        cloudabi_caps::Error::Escape => Errno::NOTCAPABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_common_values() {
        assert_eq!(from_linux(libc::ENOENT), Errno::NOENT);
        assert_eq!(from_linux(libc::E2BIG), Errno::TOOBIG);
        assert_eq!(from_linux(libc::EWOULDBLOCK), Errno::AGAIN);
        assert_eq!(from_linux(libc::EOPNOTSUPP), Errno::NOTSUP);
        assert_eq!(from_linux(9999), Errno::IO);
    }
}
