//! Finding a system call's descriptor in the generated table.

use crate::generated::syscalls::SYSCALLS;
use crate::syscall_info::Syscall;

impl Syscall {
    /// Looks a system call up by name.
    ///
    /// ```
    /// let call = cloudabi_types::Syscall::by_name("fd_write").unwrap();
    /// assert_eq!(call.number, cloudabi_types::SyscallNumber::FD_WRITE);
    /// assert_eq!(call.inputs().count(), 2);
    /// ```
    pub fn by_name(name: &str) -> Option<&'static Syscall> {
        SYSCALLS.iter().find(|s| s.name == name)
    }

    /// Looks a system call up by number.
    ///
    /// ```
    /// let call = cloudabi_types::Syscall::by_number(48).unwrap();
    /// assert_eq!(call.name, "thread_yield");
    /// assert!(cloudabi_types::Syscall::by_number(49).is_none());
    /// ```
    pub fn by_number(number: u32) -> Option<&'static Syscall> {
        SYSCALLS.get(usize::try_from(number).ok()?)
    }
}
