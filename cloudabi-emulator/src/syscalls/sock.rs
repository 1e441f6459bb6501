//! `sock_recv`, `sock_send` and `sock_shutdown`: messages with descriptors.
//!
//! Descriptors travel as Linux `SCM_RIGHTS` messages. Sending looks the guest's numbers
//! up in the table; receiving adds the host descriptors to the table and hands out the
//! new numbers. Rights cannot travel with a Linux descriptor, so a received descriptor
//! gets the rights its type and open mode allow.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use cloudabi_types::abi64::{RecvIn, RecvOut, SendIn, SendOut};
use cloudabi_types::{Errno, Fd, RiFlags, Rights, RoFlags, SdFlags};

use super::fd::{check, iov_count};
use super::fdtable::{self, Entry};
use super::mem::{self, GuestPtr};
use super::process::Process;

/// The most descriptors Linux passes in one message (`SCM_MAX_FD`).
const MAX_FDS_PER_MESSAGE: u64 = 253;

/// Control buffer room for `n` descriptors.
fn control_space(n: usize) -> usize {
    // SAFETY: CMSG_SPACE is a pure size computation.
    unsafe { libc::CMSG_SPACE((n * core::mem::size_of::<i32>()) as u32) as usize }
}

/// `sock_recv(sock, *in, *out)`.
pub(crate) fn recv(
    p: &Process,
    sock: Fd,
    input: GuestPtr<RecvIn>,
    output: GuestPtr<RecvOut>,
) -> Result<(), Errno> {
    let sock = p.fds.get_with(sock.0.into(), Rights::FD_READ)?;
    let input: RecvIn = input.read()?;
    output.check()?;
    mem::check_array::<u32>(input.ri_fds, input.ri_fds_len.min(MAX_FDS_PER_MESSAGE))?;
    let flags = RiFlags::from_bits(input.ri_flags.bits()).ok_or(Errno::INVAL)?;
    let mut linux_flags = libc::MSG_CMSG_CLOEXEC;
    if flags.contains(RiFlags::PEEK) {
        linux_flags |= libc::MSG_PEEK;
    }
    if flags.contains(RiFlags::WAITALL) {
        linux_flags |= libc::MSG_WAITALL;
    }
    let room = input.ri_fds_len.min(MAX_FDS_PER_MESSAGE) as usize;
    // Always leave room for at least one descriptor so that unwanted ones arrive here
    // (and are closed below) whatever the kernel does without a control buffer.
    let mut control = vec![0u64; control_space(room.max(1)).div_ceil(8)];
    // SAFETY: an all-zero msghdr is a valid value.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = input.ri_data as *mut libc::iovec;
    msg.msg_iovlen = iov_count(input.ri_data_len)? as _;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = (control.len() * 8) as _;
    // SAFETY: the iovecs and buffers are guest memory the kernel validates; the control
    // buffer is ours and `msg_controllen` bytes long.
    let n = check(unsafe { libc::recvmsg(sock.raw(), &mut msg, linux_flags) })?;
    let mut received = Vec::new();
    // SAFETY: walking the control messages the kernel wrote into our buffer, with the
    // lengths it reported.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let bytes =
                    ((*cmsg).cmsg_len as usize).saturating_sub(data as usize - cmsg as usize);
                for i in 0..bytes / core::mem::size_of::<i32>() {
                    let raw = core::ptr::read_unaligned(data.cast::<i32>().add(i));
                    received.push(OwnedFd::from_raw_fd(raw));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let mut ro_flags = RoFlags::empty();
    if msg.msg_flags & libc::MSG_TRUNC != 0 {
        ro_flags |= RoFlags::DATA_TRUNCATED;
    }
    // A receiver that asks for no descriptors is not told about any: the FreeBSD kernel
    // then receives without a control buffer and discards them silently.
    if room > 0 && (msg.msg_flags & libc::MSG_CTRUNC != 0 || received.len() > room) {
        ro_flags |= RoFlags::FDS_TRUNCATED;
    }
    received.truncate(room);
    let entries = received
        .into_iter()
        .map(fdtable::entry_for)
        .collect::<Result<Vec<Entry>, _>>()?;
    let numbers: Vec<u32> = p.fds.insert_all(entries)?.iter().map(|f| f.0).collect();
    let out = RecvOut {
        ro_datalen: n as u64,
        ro_fdslen: numbers.len() as u64,
        ro_flags,
        ..RecvOut::default()
    };
    let stored = mem::write_array(input.ri_fds, &numbers).and_then(|()| output.write(out));
    if let Err(e) = stored {
        for fd in numbers {
            let _ = p.fds.remove(u64::from(fd));
        }
        return Err(e);
    }
    Ok(())
}

/// `sock_send(sock, *in, *out)`.
pub(crate) fn send(
    p: &Process,
    sock: Fd,
    input: GuestPtr<SendIn>,
    output: GuestPtr<SendOut>,
) -> Result<(), Errno> {
    let sock = p.fds.get_with(sock.0.into(), Rights::FD_WRITE)?;
    let input: SendIn = input.read()?;
    output.check()?;
    if !input.si_flags.is_empty() {
        return Err(Errno::INVAL);
    }
    if input.si_fds_len > MAX_FDS_PER_MESSAGE {
        return Err(Errno::INVAL);
    }
    let numbers: Vec<u32> = mem::read_array(input.si_fds, input.si_fds_len)?;
    let entries = numbers
        .iter()
        .map(|&fd| p.fds.get(u64::from(fd)))
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: an all-zero msghdr is a valid value.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = input.si_data as *mut libc::iovec;
    msg.msg_iovlen = iov_count(input.si_data_len)? as _;
    let mut control = vec![0u64; control_space(entries.len()).div_ceil(8)];
    if !entries.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control_space(entries.len()) as _;
        // SAFETY: the control buffer is ours and large enough for one SCM_RIGHTS message
        // with `entries.len()` descriptors.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len =
                libc::CMSG_LEN((entries.len() * core::mem::size_of::<i32>()) as u32) as _;
            let data = libc::CMSG_DATA(cmsg).cast::<i32>();
            for (i, e) in entries.iter().enumerate() {
                core::ptr::write_unaligned(data.add(i), e.object.fd.as_raw_fd());
            }
        }
    }
    // SAFETY: the kernel only reads the guest's iovecs (validating them) and our control
    // buffer; MSG_NOSIGNAL turns a broken connection into EPIPE.
    let n = check(unsafe { libc::sendmsg(sock.raw(), &msg, libc::MSG_NOSIGNAL) })?;
    drop(entries);
    output.write(SendOut {
        so_datalen: n as u64,
    })
}

/// `sock_shutdown(sock, how)`.
pub(crate) fn shutdown(p: &Process, sock: Fd, how: SdFlags) -> Result<(), Errno> {
    let how = match SdFlags::from_bits(how.bits()) {
        Some(f) if f == SdFlags::RD => libc::SHUT_RD,
        Some(f) if f == SdFlags::WR => libc::SHUT_WR,
        Some(f) if f == SdFlags::RD | SdFlags::WR => libc::SHUT_RDWR,
        _ => return Err(Errno::INVAL),
    };
    let sock = p.fds.get_with(sock.0.into(), Rights::SOCK_SHUTDOWN)?;
    // SAFETY: plain system call on a descriptor we hold.
    check(unsafe { libc::shutdown(sock.raw(), how) } as isize).map(drop)
}
