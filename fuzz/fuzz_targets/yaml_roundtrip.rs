//! Valid argdata printed as YAML and parsed back must encode to its canonical bytes.
#![no_main]

use argdata::{Argdata, ErrorKind, Value, yaml};
use libfuzzer_sys::fuzz_target;

/// Values the printer cannot show exactly: -0.0 prints as `0`, every NaN as `.nan`.
fn lossy(v: &Value) -> bool {
    match v {
        Value::Float(f) => f.is_nan() || (*f == 0.0 && f.is_sign_negative()),
        Value::Map(e) => e.iter().any(|(k, v)| lossy(k) || lossy(v)),
        Value::Seq(items) => items.iter().any(lossy),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = Value::from_argdata(Argdata::new(data)) else {
        return;
    };
    let mut canonical = Vec::new();
    value.encode_raw_fds_into(&mut canonical).unwrap();
    let text = match yaml::to_string(Argdata::new(data)) {
        Ok(text) => text,
        // Valid, but not representable by the reference: wider than 64 bits, far years.
        Err(e) if matches!(e.kind(), ErrorKind::IntTooWide | ErrorKind::OutOfRange) => return,
        Err(e) => panic!("valid data does not print: {e}"),
    };
    let parsed = yaml::Parser::new(&text)
        .with_max_len(usize::MAX)
        .parse()
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut again = Vec::new();
    parsed.encode_raw_fds_into(&mut again).unwrap();
    if lossy(&value) {
        assert_eq!(yaml::to_string(Argdata::new(&again)).unwrap(), text);
    } else {
        assert_eq!(again, canonical, "{text}");
    }
});
