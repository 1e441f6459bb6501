//! Hostile input: every vector truncated at every length and with every byte changed must
//! neither panic nor disagree between `validate`, the YAML printer and `Value`.
#![cfg(feature = "std")]

mod common;

use argdata::{Argdata, ErrorKind, Value, yaml};

fn check(bytes: &[u8]) {
    let ad = Argdata::new(bytes);
    let valid = ad.validate();
    let printed = common::check_printers(bytes);
    let owned = Value::from_argdata(ad);
    if let Err(e) = valid {
        assert!(
            e.offset().is_some_and(|o| o < bytes.len().max(1)),
            "{bytes:02x?}"
        );
    }
    match owned {
        Ok(value) => {
            let mut raw = Vec::new();
            value.encode_raw_fds_into(&mut raw).unwrap();
            assert_eq!(
                yaml::to_string(Argdata::new(&raw)).ok(),
                printed.ok(),
                "{bytes:02x?}"
            );
        }
        // Valid argdata that `Value` cannot hold: an int above i128::MAX, or an fd index
        // above i32::MAX (which `IdentityFds` rejects).
        Err(e) if valid.is_ok() => {
            assert!(
                matches!(e.kind(), ErrorKind::OutOfRange | ErrorKind::BadFd),
                "{e}"
            );
        }
        Err(_) => {}
    }
    // The getters on the root never panic either.
    let _ = (
        ad.as_bool(),
        ad.as_fd_index(),
        ad.as_float(),
        ad.as_int::<u128>(),
    );
    let _ = (ad.as_str(), ad.as_c_str(), ad.as_timestamp(), ad.get("a"));
}

#[test]
fn truncations_and_byte_changes() {
    let mut cases = 0;
    for row in common::rows() {
        let b = &row.bytes;
        if b.len() > 200 {
            continue;
        }
        for end in 0..b.len() {
            check(&b[..end]);
            cases += 1;
        }
        let mut m = b.clone();
        for i in 0..m.len() {
            let orig = m[i];
            for v in [0x00, 0x01, 0x7f, 0x80, 0x81, 0xff, orig ^ 0x01, orig ^ 0x80] {
                m[i] = v;
                check(&m);
                cases += 1;
            }
            m[i] = orig;
        }
    }
    assert!(cases > 10_000, "{cases}");
}
