//! Arbitrary bytes into a configuration-like struct with borrowed strings: no panics, and
//! whatever decodes survives `to_vec` -> `from_slice_with_fds` unchanged. The same bytes
//! also go through `from_slice::<Value>`, which must agree with `Value::from_argdata`.
#![no_main]

use std::collections::BTreeMap;

use argdata::{Argdata, Fd, FdTable, Timestamp, Value};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Mode {
    Fast,
    Slow { factor: u8 },
    Custom(i64),
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Limits {
    cpu: Option<u32>,
    memory: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Config<'a> {
    name: &'a str,
    port: u16,
    #[serde(default)]
    debug: Option<bool>,
    ratio: f64,
    #[serde(borrow)]
    hosts: Vec<&'a str>,
    log: Option<Fd>,
    #[serde(borrow, default)]
    env: BTreeMap<&'a str, &'a str>,
    mode: Mode,
    #[serde(borrow, default)]
    blob: Option<&'a [u8]>,
    limits: Option<Limits>,
    when: Option<Timestamp>,
    #[serde(default)]
    offset: i128,
}

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = argdata::from_slice::<Config<'_>>(data) {
        let encoded = argdata::to_vec_with_fds(&config).expect("a decoded config encodes");
        let back: Config<'_> = argdata::from_slice_with_fds(&encoded.bytes, &FdTable(&encoded.fds))
            .expect("an encoded config decodes");
        if config.ratio.is_nan() {
            assert!(back.ratio.is_nan());
        } else {
            assert_eq!(back, config);
        }
    }
    let via_serde = argdata::from_slice::<Value>(data);
    let direct = Value::from_argdata(Argdata::new(data));
    match (&via_serde, &direct) {
        (Ok(a), Ok(b)) => {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            a.encode_raw_fds_into(&mut x).unwrap();
            b.encode_raw_fds_into(&mut y).unwrap();
            assert_eq!(x, y);
        }
        (Err(_), Err(_)) => {}
        _ => panic!("serde {via_serde:?} vs direct {direct:?}"),
    }
});
