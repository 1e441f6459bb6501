//! The command line itself: help, version, subcommand help, `-` for standard input, the
//! name `<stdin>` in messages and the documented exit statuses (64 usage, 65 bad data,
//! 74 I/O).

mod common;

use common::run_cli;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_lists_the_commands_and_the_exit_statuses() {
    for flag in ["--help", "-h", "help"] {
        let out = run_cli(&[flag], b"");
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("decode"), "{flag}: {text}");
        assert!(text.contains("encode"), "{flag}: {text}");
        assert!(text.contains("Exit status"), "{flag}: {text}");
        assert!(out.stderr.is_empty(), "{flag}");
    }
}

#[test]
fn version_names_the_tool() {
    for flag in ["--version", "-V"] {
        let out = run_cli(&[flag], b"");
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!("argdata {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn each_command_has_its_own_help() {
    for args in [&["decode", "--help"][..], &["help", "decode"]] {
        let out = run_cli(args, b"");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("Usage: argdata decode [FILE]"), "{text}");
        // Reading from a file argument that happens to be called --help would be a surprise.
        assert!(!text.contains("No such file"), "{text}");
    }
    let out = run_cli(&["encode", "-h"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Usage: argdata encode [OPTIONS] [FILE]"),
        "{text}"
    );
    assert!(text.contains("-f, --force"), "{text}");
}

#[test]
fn usage_errors_exit_64_with_the_usage_on_stderr() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["decode", "a", "b"],
        &["decode", "--bogus"],
        &["encode", "-x"],
        &["--bogus"],
    ] {
        let out = run_cli(args, b"");
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            stderr(&out).contains("Usage: argdata"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn dash_is_standard_input_and_is_called_stdin_in_messages() {
    let out = run_cli(&["decode", "-"], &[0x05, 0x2a]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!int \"42\"\n"
    );
    // An unknown type tag (0x0a) inside a sequence: bad data, exit 65.
    for args in [&["decode"][..], &["decode", "-"]] {
        let out = run_cli(args, &[0x07, 0x81, 0x0a]);
        assert_eq!(out.status.code(), Some(65), "{args:?}");
        assert_eq!(
            stderr(&out),
            "argdata: <stdin>: invalid argdata: unknown type tag 0x0a at byte offset 2\n"
        );
    }
    let out = run_cli(&["encode", "-"], b"x: 1\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A map of one pair, "x" -> 1, each subfield with its length prefix.
    assert_eq!(out.stdout, [0x06, 0x83, 0x08, b'x', 0x00, 0x82, 0x05, 0x01]);
    for args in [&["encode"][..], &["encode", "-"]] {
        let out = run_cli(args, b"a: \xff\n");
        assert_eq!(out.status.code(), Some(65), "{args:?}");
        assert_eq!(
            stderr(&out),
            "argdata: <stdin>:1:4: input is not valid UTF-8\n"
        );
    }
}

#[test]
fn a_missing_file_is_an_io_error() {
    for command in ["decode", "encode"] {
        let out = run_cli(&[command, "/nonexistent/argdata/input"], b"");
        assert_eq!(out.status.code(), Some(74), "{command}");
        assert!(
            stderr(&out).starts_with("argdata: /nonexistent/argdata/input: "),
            "{}",
            stderr(&out)
        );
    }
}

/// `encode` into a pipe needs no `--force`, and `--force` / `-f` changes nothing there.
#[test]
fn force_is_accepted_and_harmless_off_a_terminal() {
    for args in [
        &["encode"][..],
        &["encode", "--force"],
        &["encode", "-f", "-"],
    ] {
        let out = run_cli(args, b"true\n");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(out.stdout, [0x02, 0x01], "{args:?}");
    }
}

/// `encode` with standard output on a (pseudo-)terminal: refused with status 64 and a
/// message naming `--force`, without reading the input; with `--force` it writes.
#[cfg(target_os = "linux")]
#[test]
fn encode_refuses_a_terminal_unless_forced() {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    use std::process::{Command, Stdio};

    let master = match openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skipped: no pseudo-terminal ({e})");
            return;
        }
    };
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let open_terminal = || {
        let fd = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        Stdio::from(fd)
    };
    let run = |args: &[&str], input: &[u8]| {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_argdata"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(open_terminal())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A refused encode exits without reading: a broken pipe is fine.
        let _ = child.stdin.take().unwrap().write_all(input);
        child.wait_with_output().unwrap()
    };
    let out = run(&["encode"], b"7\n");
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "argdata: refusing to write binary argdata to a terminal; redirect standard output \
         (argdata encode FILE > OUT) or pass --force\n"
    );
    for force in ["--force", "-f"] {
        let out = run(&["encode", force], b"7\n");
        assert_eq!(out.status.code(), Some(0), "{force}: {}", stderr(&out));
        assert!(out.stderr.is_empty());
    }
    // decode writes text, which a terminal is for.
    let out = run(&["decode"], &[0x05, 0x07]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(master);
}
