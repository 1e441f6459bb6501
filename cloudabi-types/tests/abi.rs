//! Behaviour of the generated Rust API.

use cloudabi_types::{
    Direction, Errno, EventType, FdFlags, FileType, ParamKind, Rights, SYSCALL_COUNT, SYSCALLS,
    Signal, Subscription, SubscriptionClock, SubscriptionUnion, Syscall, SyscallNumber, abi32,
    abi64,
};

#[test]
fn syscalls_are_numbered_alphabetically() {
    assert_eq!(SYSCALLS.len(), 49);
    assert_eq!(SYSCALL_COUNT, 49);
    for (i, call) in SYSCALLS.iter().enumerate() {
        assert_eq!(call.number.0 as usize, i, "{}", call.name);
        assert_eq!(call.number.name(), Some(call.name));
        if i > 0 {
            assert!(
                SYSCALLS[i - 1].name < call.name,
                "{} out of order",
                call.name
            );
        }
    }
    assert_eq!(SYSCALLS[0].name, "clock_res_get");
    assert_eq!(SyscallNumber::THREAD_YIELD.0, 48);
    assert_eq!(SyscallNumber::from_name("poll"), Some(SyscallNumber::POLL));
    assert_eq!(SyscallNumber(49).name(), None);
}

#[test]
fn syscall_signatures_are_data() {
    let read = Syscall::by_name("fd_read").expect("fd_read");
    let params: Vec<_> = read.params.iter().map(|p| (p.name, p.kind)).collect();
    assert_eq!(
        params,
        [
            ("fd", ParamKind::Value),
            ("iovs", ParamKind::ConstRange),
            ("nread", ParamKind::Value)
        ]
    );
    assert_eq!(read.input_slots(), 3);
    assert_eq!(read.outputs().next().map(|p| p.ty), Some("size"));

    let exit = Syscall::by_name("proc_exit").expect("proc_exit");
    assert!(exit.noreturn);
    assert!(SYSCALLS.iter().filter(|s| s.noreturn).count() == 2);

    let fork = Syscall::by_number(SyscallNumber::PROC_FORK.0).expect("proc_fork");
    assert_eq!(fork.inputs().count(), 0);
    assert!(fork.outputs().all(|p| p.direction == Direction::Out));

    let unlock = Syscall::by_name("lock_unlock").expect("lock_unlock");
    assert_eq!(unlock.params[0].kind, ParamKind::AtomicPointer);
    assert_eq!(unlock.params[0].ty, "lock");
    assert!(Syscall::by_name("open").is_none());
}

#[test]
fn errno_displays_and_tolerates_unknown_values() {
    assert_eq!(Errno::NOENT.to_string(), "no such file or directory");
    assert_eq!(Errno::TOOBIG.0, 1);
    assert_eq!(Errno::TOOBIG.name(), Some("2big"));
    assert_eq!(format!("{:?}", Errno::NOTCAPABLE), "Errno::NOTCAPABLE");
    assert_eq!(format!("{:?}", Errno(500)), "Errno(500)");
    assert_eq!(Errno(500).to_string(), "unknown error 500");
    let boxed: &dyn core::error::Error = &Errno::BADF;
    assert_eq!(boxed.to_string(), "bad file descriptor");
    assert_eq!(Errno::KNOWN.len(), 77);
    for e in Errno::KNOWN {
        assert!(e.message().is_some_and(|m| !m.is_empty()));
        assert_eq!(Errno::from_name(e.name().expect("named")), Some(e));
    }
}

#[test]
fn enums_round_trip_raw_values() {
    assert_eq!(FileType::from(0x82), FileType::SOCKET_STREAM);
    assert_eq!(u8::from(FileType::DIRECTORY), 0x20);
    assert_eq!(
        FileType(0x81).name(),
        None,
        "seqpacket is not in this ABI version"
    );
    assert_eq!(format!("{:?}", Signal::KILL), "Signal::KILL");
    assert_eq!(EventType::default().name(), None);
}

#[test]
fn flags_keep_unknown_bits() {
    let raw = (Rights::FD_READ | Rights::FD_WRITE).bits() | (1 << 50);
    let rights = Rights::from_bits_retain(raw);
    assert_eq!(rights.bits(), raw);
    assert!(rights.contains(Rights::FD_READ));
    assert_eq!(Rights::from_bits(raw), None);
    assert_eq!(FdFlags::APPEND.bits(), 1);
    assert_eq!(core::mem::size_of::<Rights>(), 8);
}

#[test]
fn tagged_unions_are_writable_without_unsafe() {
    let sub = Subscription {
        userdata: 7,
        r#type: EventType::CLOCK,
        u: SubscriptionUnion {
            clock: SubscriptionClock {
                timeout: 1_000,
                ..SubscriptionClock::default()
            },
        },
        ..Subscription::default()
    };
    assert_eq!(sub.userdata, 7);
    assert_eq!(core::mem::size_of_val(&sub), 56);
    let text = format!("{sub:?}");
    assert!(text.contains("EventType::CLOCK"), "{text}");

    // Both widths exist on every host.
    assert_eq!(core::mem::size_of::<abi32::Subscription>(), 56);
    assert_eq!(core::mem::size_of::<abi32::Ciovec>(), 8);
    assert_eq!(core::mem::size_of::<abi64::Ciovec>(), 16);
    assert_eq!(core::mem::size_of::<abi32::RecvOut>(), 52);
    assert_eq!(core::mem::size_of::<abi64::RecvOut>(), 64);
}
