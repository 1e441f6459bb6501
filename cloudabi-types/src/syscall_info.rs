//! Describing system call signatures as data.

use crate::generated::syscall_numbers::SyscallNumber;

/// Whether a parameter carries data into the kernel or back out of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// An argument supplied by the caller.
    In,
    /// A result returned by the kernel on success.
    Out,
}

/// How a parameter is passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A value of type [`Param::ty`], passed directly.
    Value,
    /// A pointer to a [`Param::ty`] the kernel may write.
    Pointer,
    /// A pointer to a [`Param::ty`] the kernel only reads.
    ConstPointer,
    /// A pointer to a [`Param::ty`] in memory shared with other threads (a lock or a
    /// condition variable), accessed atomically.
    AtomicPointer,
    /// A pointer to an array of [`Param::ty`] the kernel may write, followed by its length.
    Range,
    /// A pointer to an array of [`Param::ty`] the kernel only reads, followed by its length.
    ConstRange,
}

impl ParamKind {
    /// How many machine words the parameter takes in a call: two for ranges (pointer and
    /// length), one otherwise.
    pub const fn slots(self) -> usize {
        match self {
            ParamKind::Range | ParamKind::ConstRange => 2,
            _ => 1,
        }
    }
}

/// One parameter or result of a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    /// The parameter's name in the ABI specification.
    pub name: &'static str,
    /// The value, pointee or element type, as named in the specification (`"fd"`,
    /// `"iovec"`, `"char"`, `"void"`, `"u32"`, `"size"`, ...).
    pub ty: &'static str,
    /// How it is passed.
    pub kind: ParamKind,
    /// Whether it is an argument or a result.
    pub direction: Direction,
    /// A one-line description.
    pub doc: &'static str,
}

/// The signature of one system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Syscall {
    /// The name, for example `"fd_write"`.
    pub name: &'static str,
    /// The number: the position of the name in alphabetical order.
    pub number: SyscallNumber,
    /// Arguments and results, in order.
    pub params: &'static [Param],
    /// Whether the call never returns to the caller.
    pub noreturn: bool,
    /// A short description.
    pub doc: &'static str,
}

impl Syscall {
    /// The arguments, in order.
    pub fn inputs(&self) -> impl Iterator<Item = &'static Param> + use<> {
        self.params.iter().filter(|p| p.direction == Direction::In)
    }

    /// The results returned on success, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &'static Param> + use<> {
        self.params.iter().filter(|p| p.direction == Direction::Out)
    }

    /// How many machine words of arguments the call takes (ranges count twice).
    pub fn input_slots(&self) -> usize {
        self.inputs().map(|p| p.kind.slots()).sum()
    }
}
