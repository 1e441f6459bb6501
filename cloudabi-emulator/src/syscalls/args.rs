//! Cutting by-value arguments to the width their type has in the ABI.
//!
//! On x86-64 and AArch64 a narrow argument (a `u8` signal, a `u16` set of flags, a `u32`
//! descriptor) travels in a whole 64-bit register whose upper bits the C calling convention
//! leaves unspecified: compiled code may leave anything there. The vDSO trampolines pass the
//! registers on as they are, so before a handler sees the arguments each one is masked to the
//! size of its declared type, as a kernel would read it.

use core::mem::size_of;
use std::sync::OnceLock;

use cloudabi_types as abi;
use cloudabi_types::{ParamKind, SYSCALLS, SyscallNumber};

/// Size in bytes of a type the specification passes by value, by its name there; `None` for
/// a name this table does not know (a unit test keeps it complete).
fn value_size(ty: &str) -> Option<usize> {
    Some(match ty {
        "advice" => size_of::<abi::Advice>(),
        "clockid" => size_of::<abi::ClockId>(),
        "dircookie" => size_of::<abi::DirCookie>(),
        "exitcode" => size_of::<abi::ExitCode>(),
        "fd" => size_of::<abi::Fd>(),
        "fdsflags" => size_of::<abi::FdsFlags>(),
        "filedelta" => size_of::<abi::FileDelta>(),
        "filesize" => size_of::<abi::FileSize>(),
        "filetype" => size_of::<abi::FileType>(),
        "fsflags" => size_of::<abi::FsFlags>(),
        // A descriptor and its flags, eight bytes in one register: every bit is defined.
        "lookup" => size_of::<abi::Lookup>(),
        "mflags" => size_of::<abi::MFlags>(),
        "mprot" => size_of::<abi::MProt>(),
        "msflags" => size_of::<abi::MsFlags>(),
        "nthreads" => size_of::<abi::NThreads>(),
        "oflags" => size_of::<abi::OFlags>(),
        "scope" => size_of::<abi::Scope>(),
        "sdflags" => size_of::<abi::SdFlags>(),
        "signal" => size_of::<abi::Signal>(),
        // `size_t` of the 64-bit ABI.
        "size" => size_of::<u64>(),
        "tid" => size_of::<abi::Tid>(),
        "timestamp" => size_of::<abi::Timestamp>(),
        "ulflags" => size_of::<abi::UlFlags>(),
        "whence" => size_of::<abi::Whence>(),
        _ => return None,
    })
}

/// For each system call (by number), the mask of each of its seven argument slots.
fn masks() -> &'static [[u64; 7]] {
    static MASKS: OnceLock<Vec<[u64; 7]>> = OnceLock::new();
    MASKS.get_or_init(|| {
        SYSCALLS
            .iter()
            .map(|call| {
                let mut masks = [u64::MAX; 7];
                let mut slot = 0;
                for param in call.inputs() {
                    if param.kind == ParamKind::Value
                        && let Some(size @ 1..8) = value_size(param.ty)
                        && let Some(mask) = masks.get_mut(slot)
                    {
                        *mask = (1u64 << (8 * size)) - 1;
                    }
                    slot += param.kind.slots();
                }
                masks
            })
            .collect()
    })
}

/// Masks each argument of system call `number` to the width of its declared type.
pub(crate) fn narrow(number: SyscallNumber, args: &mut [u64; 7]) {
    if let Some(masks) = masks().get(number.0 as usize) {
        for (arg, mask) in args.iter_mut().zip(masks) {
            *arg &= mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_by_value_type_of_the_specification_has_a_size() {
        for call in &SYSCALLS {
            for param in call.inputs().filter(|p| p.kind == ParamKind::Value) {
                assert!(
                    value_size(param.ty).is_some(),
                    "{}: argument {} of type {} has no size",
                    call.name,
                    param.name,
                    param.ty
                );
            }
        }
    }

    #[test]
    fn narrow_arguments_lose_their_upper_bits_and_wide_ones_keep_them() {
        // fd_seek(fd: u32, offset: i64, whence: u8, *newoffset)
        let mut args = [
            0xdead_beef_0000_0003,
            u64::MAX - 1,
            0xffff_ff02,
            0x7fff_0000_1000,
            7,
            7,
            7,
        ];
        narrow(SyscallNumber::FD_SEEK, &mut args);
        assert_eq!(args, [3, u64::MAX - 1, 2, 0x7fff_0000_1000, 7, 7, 7]);
        // fd_write(fd: u32, iovs, iovs_len): the range keeps pointer and length whole.
        let mut args = [u64::MAX, u64::MAX, u64::MAX, 0, 0, 0, 0];
        narrow(SyscallNumber::FD_WRITE, &mut args);
        assert_eq!(args, [u64::from(u32::MAX), u64::MAX, u64::MAX, 0, 0, 0, 0]);
    }
}
