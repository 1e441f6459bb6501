//! System call overhead: a 1-byte `fd_write` to a pipe through the emulator vs a native
//! `write(2)` of 1 byte to a pipe.
//!
//! The emulated call enters exactly where a guest's call enters: the `cloudabi_sys_fd_write`
//! trampoline of the mapped vDSO, which swaps the TLS word, calls `syscalls::dispatch`,
//! runs the `fd_write` handler (descriptor table lookup, rights check, `writev(2)`) and
//! swaps back. It is called from the host thread, whose `%fs:0` already holds the host
//! value, so the swap moves the same value but costs the same instructions. Not included:
//! the guest's own indirect call through its system call table (one `call`).
//!
//! Both variants drain their pipe inline, 4096 bytes after every 4096 writes (the same
//! amortized cost for both, and no reader thread competing for the CPU), so writes never
//! block. After the criterion groups, a plain timing loop prints the ratio.
//!
//! A second, whole-program figure: the CloudABI example `writeloop` (built by
//! `cargo xtask cloudabi build`, skipped with a message if it is not there) issues 2^20
//! one-byte `fd_write`s from guest code through its own system call table, timed from the
//! host around `Emulator::run` (fork, load and exit included, under a millisecond), against
//! a native loop of as many `write(2)`s; a reader thread drains the pipe in both cases.

use std::hint::black_box;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use cloudabi_emulator::{syscalls::Process, vdso};
use cloudabi_types::Ciovec;
use criterion::{Criterion, criterion_group, criterion_main};

type FdWrite = extern "C" fn(u32, *const Ciovec, usize, *mut usize) -> u16;

/// A pipe and a count of bytes written but not yet drained.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    pending: usize,
}

impl Pipe {
    fn new() -> Pipe {
        let (read, write) = rustix::pipe::pipe().expect("pipe");
        Pipe {
            read,
            write,
            pending: 0,
        }
    }

    /// Counts one written byte; every 4096 bytes, reads them back.
    fn wrote_one(&mut self) {
        self.pending += 1;
        if self.pending == 4096 {
            let mut buf = [0u8; 4096];
            let mut got = 0;
            while got < buf.len() {
                got += rustix::io::read(&self.read, &mut buf[got..]).expect("drain");
            }
            self.pending = 0;
        }
    }
}

fn setup() -> (Pipe, Pipe, FdWrite) {
    let native = Pipe::new();
    let guest = Pipe::new();
    let guest_write = guest.write.try_clone().expect("dup");
    Process::new(vec![guest_write]).expect("process").install();
    let image = vdso::mapped().expect("vDSO");
    let offset = vdso::find_symbol(image, "cloudabi_sys_fd_write").expect("fd_write exported");
    // SAFETY: the symbol is the fd_write trampoline, whose C signature is FdWrite.
    let f: FdWrite = unsafe { std::mem::transmute(image.as_ptr().add(offset as usize)) };
    (native, guest, f)
}

fn native_write(fd: i32, byte: &u8) {
    // SAFETY: writes one byte from a valid reference to an open descriptor.
    let n = unsafe { libc::write(fd, (byte as *const u8).cast(), 1) };
    assert_eq!(n, 1);
}

fn emulated_write(f: FdWrite, iov: &Ciovec) {
    let mut n = 0usize;
    assert_eq!(f(0, iov, 1, &mut n), 0);
    assert_eq!(n, 1);
}

fn bench(c: &mut Criterion) {
    let (mut native, mut guest, f) = setup();
    let byte = 0x2au8;
    let iov = Ciovec {
        buf: &byte as *const u8 as u64,
        buf_len: 1,
    };
    let native_fd = native.write.as_raw_fd();
    let mut group = c.benchmark_group("write 1 byte to a pipe");
    group.bench_function("native write(2)", |b| {
        b.iter(|| {
            native_write(black_box(native_fd), black_box(&byte));
            native.wrote_one();
        })
    });
    group.bench_function("emulated fd_write (vDSO trampoline)", |b| {
        b.iter(|| {
            emulated_write(f, black_box(&iov));
            guest.wrote_one();
        })
    });
    group.finish();

    const N: u32 = 1 << 20;
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..N {
            native_write(native_fd, &byte);
            native.wrote_one();
        }
        best.0 = best.0.min(t.elapsed().as_nanos() as f64 / f64::from(N));
        let t = Instant::now();
        for _ in 0..N {
            emulated_write(f, &iov);
            guest.wrote_one();
        }
        best.1 = best.1.min(t.elapsed().as_nanos() as f64 / f64::from(N));
    }
    println!(
        "fd_write 1 byte to a pipe (best of 3 x {N}): native {:.0} ns, emulated {:.0} ns, ratio {:.2}",
        best.0,
        best.1,
        best.1 / best.0
    );
}

/// A pipe whose read end a thread drains until EOF; returns the write end and the thread.
fn drained_pipe() -> (OwnedFd, std::thread::JoinHandle<()>) {
    let (r, w) = rustix::pipe::pipe().expect("pipe");
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while matches!(rustix::io::read(&r, &mut buf), Ok(n) if n > 0) {}
    });
    (w, reader)
}

/// The whole-program comparison (see the module documentation).
fn guest_loop() {
    let program = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/cloudabi/x86_64-unknown-cloudabi/writeloop");
    if !cfg!(target_arch = "x86_64") || !program.exists() {
        println!(
            "guest loop: SKIPPED ({} missing; run `cargo xtask cloudabi build --target \
             x86_64-unknown-cloudabi --example writeloop`)",
            program.display()
        );
        return;
    }
    const N: u32 = 1 << 20;
    let byte = 0u8;
    let (w, reader) = drained_pipe();
    let t = Instant::now();
    for _ in 0..N {
        native_write(w.as_raw_fd(), &byte);
    }
    let native_ns = t.elapsed().as_nanos() as f64 / f64::from(N);
    drop(w);
    reader.join().expect("reader");

    let (w, reader) = drained_pipe();
    let config = argdata::Value::map([
        ("out", argdata::Value::from(argdata::Fd(0))),
        ("count", argdata::Value::from(u64::from(N))),
    ]);
    let exe = OwnedFd::from(std::fs::File::open(&program).expect("open writeloop"));
    let t = Instant::now();
    let status = cloudabi_emulator::Emulator::new(exe, config.encode().bytes, vec![w])
        .run()
        .expect("emulator");
    let guest_ns = t.elapsed().as_nanos() as f64 / f64::from(N);
    assert_eq!(status, 0);
    reader.join().expect("reader");
    println!(
        "guest loop, {N} x fd_write of 1 byte to a pipe: native {native_ns:.0} ns, \
         guest under the emulator {guest_ns:.0} ns per call, ratio {:.2}",
        guest_ns / native_ns
    );
}

fn all(c: &mut Criterion) {
    bench(c);
    guest_loop();
}

criterion_group!(benches, all);
criterion_main!(benches);
