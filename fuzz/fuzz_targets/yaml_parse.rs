//! Arbitrary text through the YAML parser: no panics, errors carry a position inside the
//! input, and whatever parses survives encode -> print -> parse unchanged.
#![no_main]

use argdata::{Argdata, ErrorKind, Value, yaml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let value = match yaml::Parser::new(text).with_file_name("in").parse() {
        Ok(v) => v,
        Err(e) => {
            // YAML breaks lines at CR LF, CR and LF.
            let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count();
            assert!(e.line() >= 1 && e.line() <= lines + 1, "{e}");
            assert!(e.column() >= 1, "{e}");
            assert!(e.to_string().starts_with("in:"));
            return;
        }
    };
    let Ok(()) = value.encode_raw_fds_into(&mut Vec::new()) else {
        // Negative fds cannot be written raw; `!fd` never yields them.
        panic!("unencodable {value:?}");
    };
    let mut bytes = Vec::new();
    value.encode_raw_fds_into(&mut bytes).unwrap();
    let printed = match yaml::to_string(Argdata::new(&bytes)) {
        Ok(text) => text,
        // The parser takes 128-bit integers and far years, which the printer (like the
        // reference) cannot show.
        Err(e) if matches!(e.kind(), ErrorKind::IntTooWide | ErrorKind::OutOfRange) => return,
        Err(e) => panic!("encoded value does not print: {e}"),
    };
    let back = yaml::Parser::new(&printed)
        .with_max_len(usize::MAX)
        .parse()
        .unwrap_or_else(|e| panic!("{e}\n{printed}"));
    let mut again = Vec::new();
    back.encode_raw_fds_into(&mut again).unwrap();
    let printed_again = yaml::to_string(Argdata::new(&again)).unwrap();
    assert_eq!(printed_again, printed);
    let _ = Value::from_argdata(Argdata::new(&again)).unwrap();
});
