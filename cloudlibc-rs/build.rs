//! Compiles the C `main` shim into the library (see `csrc/program_start.c`).

fn main() {
    // CloudABI executables get their entry point from `src/cloudabi.rs` instead.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("cloudabi") {
        return;
    }
    println!("cargo:rerun-if-changed=csrc/program_start.c");
    println!("cargo:rerun-if-changed=include/argdata.h");
    println!("cargo:rerun-if-changed=include/program.h");
    cc::Build::new()
        .file("csrc/program_start.c")
        .include("include")
        .warnings(true)
        .extra_warnings(true)
        .compile("cloudlibc_rs_start");
}
