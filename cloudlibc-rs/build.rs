//! Compiles the C `main` shim into the library (see `csrc/program_start.c`).

fn main() {
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
