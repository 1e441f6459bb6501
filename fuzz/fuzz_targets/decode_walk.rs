//! Arbitrary bytes: `validate`, a full walk through the getters, the YAML printer and the
//! conversion into a `Value` must agree on whether the data is valid, and must not panic.
#![no_main]

use argdata::{Argdata, ErrorKind, IdentityFds, MAX_DEPTH, Type, Value, yaml};
use libfuzzer_sys::fuzz_target;

/// Reads every value through the public getters; returns the first error.
fn walk(ad: Argdata<'_>, depth: usize) -> Result<(), String> {
    walk_inner(ad, depth).map_err(|e| e.to_string())
}

fn enter(depth: usize) -> Result<usize, String> {
    depth.checked_sub(1).ok_or_else(|| "too deep".to_owned())
}

fn walk_inner(ad: Argdata<'_>, depth: usize) -> Result<(), Box<dyn std::error::Error>> {
    match ad.ty()? {
        Type::Null => {}
        Type::Binary => {
            ad.as_binary()?;
        }
        Type::Bool => {
            ad.as_bool()?;
        }
        Type::Fd => {
            ad.as_fd_index()?;
        }
        Type::Float => {
            ad.as_float()?;
        }
        Type::Int => {
            // Every valid int fits one of the two widest types.
            if ad.as_int::<i128>().is_err() {
                ad.as_int::<u128>()?;
            }
        }
        Type::Str => {
            ad.as_str()?;
        }
        Type::Timestamp => {
            ad.as_timestamp()?;
        }
        Type::Map => {
            let inner = enter(depth)?;
            for entry in ad.map()? {
                let (k, v) = entry?;
                walk_inner(k, inner)?;
                walk_inner(v, inner)?;
            }
        }
        Type::Seq => {
            let inner = enter(depth)?;
            for item in ad.seq()? {
                walk_inner(item?, inner)?;
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let ad = Argdata::new(data);
    let valid = ad.validate();
    let walked = walk(ad, MAX_DEPTH);
    let printed = yaml::to_string(ad);
    // The lenient (reference) printer never fails and agrees wherever the strict one prints.
    let lenient = yaml::to_string_lenient(ad, &IdentityFds);
    if let Ok(text) = &printed {
        assert_eq!(text, &lenient);
    }
    assert_eq!(
        valid.is_ok(),
        walked.is_ok(),
        "validate {valid:?} vs walk {walked:?}"
    );
    match (&valid, &printed) {
        (Ok(()), Ok(_)) => {}
        // What the reference cannot represent: ints wider than 64 bits, far years.
        (_, Err(p)) if matches!(p.kind(), ErrorKind::IntTooWide | ErrorKind::OutOfRange) => {}
        (Err(v), Err(p)) => assert_eq!(v, p),
        _ => panic!("validate {valid:?} vs print {printed:?}"),
    }
    match Value::from_argdata(ad) {
        Ok(value) => {
            assert!(valid.is_ok());
            // Writing the value back (fds as their numbers) prints identically.
            let mut raw = Vec::new();
            value.encode_raw_fds_into(&mut raw).unwrap();
            assert_eq!(raw.len(), value.serialized_len());
            assert_eq!(yaml::to_string(Argdata::new(&raw)).ok(), printed.ok());
        }
        // Valid data may still hold an int above i128::MAX or an fd index above i32::MAX,
        // which an owned `Value` cannot hold.
        Err(e) if valid.is_ok() => {
            assert!(
                matches!(e.kind(), ErrorKind::OutOfRange | ErrorKind::BadFd),
                "{e}"
            );
        }
        Err(_) => {}
    }
});
