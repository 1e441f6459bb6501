//! Prints the CloudABI system call table, or explains an error number.
//!
//! ```text
//! cargo run -p cloudabi-types --example syscalls          # the table
//! cargo run -p cloudabi-types --example syscalls -- 76    # what errno 76 means
//! ```

use cloudabi_types::{Direction, Errno, ParamKind, SYSCALLS};

fn main() {
    if let Some(arg) = std::env::args().nth(1) {
        match arg.parse::<u16>() {
            Ok(n) => {
                let e = Errno(n);
                println!("{n}: {} ({e})", e.name().unwrap_or("?"));
            }
            Err(_) => eprintln!("usage: syscalls [errno number]"),
        }
        return;
    }
    for call in &SYSCALLS {
        let params: Vec<String> = call
            .inputs()
            .map(|p| match p.kind {
                ParamKind::Value => format!("{}: {}", p.name, p.ty),
                ParamKind::Pointer => format!("{}: *mut {}", p.name, p.ty),
                ParamKind::ConstPointer => format!("{}: *const {}", p.name, p.ty),
                ParamKind::AtomicPointer => format!("{}: *atomic {}", p.name, p.ty),
                ParamKind::Range => format!("{}: &mut [{}]", p.name, p.ty),
                ParamKind::ConstRange => format!("{}: &[{}]", p.name, p.ty),
            })
            .collect();
        let results: Vec<String> = call
            .params
            .iter()
            .filter(|p| p.direction == Direction::Out)
            .map(|p| format!("{}: {}", p.name, p.ty))
            .collect();
        let ret = if call.noreturn {
            " -> !".to_string()
        } else if results.is_empty() {
            String::new()
        } else {
            format!(" -> ({})", results.join(", "))
        };
        println!(
            "{:2} {}({}){ret}",
            call.number.0,
            call.name,
            params.join(", ")
        );
    }
}
