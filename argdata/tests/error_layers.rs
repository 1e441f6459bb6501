//! The error types of the crate's layers: one `Error` per layer module, a `Result` whose
//! default error is that module's `Error`, and how one layer's error becomes another's.

use std::error::Error as _;

/// `Result<T>` of `module` is `Result<T, module::Error>`.
macro_rules! result_defaults_to_error {
    ($($module:ident)::+) => {{
        fn check(r: $($module)::+::Result<()>) -> Result<(), $($module)::+::Error> {
            r
        }
        let _ = check;
    }};
}

#[test]
fn every_layer_has_error_and_result() {
    result_defaults_to_error!(argdata);
    #[cfg(feature = "yaml")]
    result_defaults_to_error!(argdata::yaml);
    #[cfg(feature = "yaml")]
    result_defaults_to_error!(argdata::yaml::parse);
    #[cfg(feature = "serde")]
    result_defaults_to_error!(argdata::serde);
    #[cfg(all(feature = "std", target_os = "linux"))]
    result_defaults_to_error!(argdata::socket);
}

#[test]
fn reader_errors_keep_kind_and_offset() {
    let err = argdata::Argdata::new(b"\x07\x85").validate().unwrap_err();
    assert_eq!(err.kind(), argdata::ErrorKind::BadLength);
    assert_eq!(err.offset(), Some(1));
    assert!(err.source().is_none());
}

#[cfg(feature = "serde")]
#[test]
fn a_reader_error_becomes_a_serde_error_with_its_offset() {
    fn decode() -> argdata::serde::Result<()> {
        argdata::Argdata::new(b"\x07\x85").validate()?;
        Ok(())
    }
    let err = decode().unwrap_err();
    assert_eq!(
        err.kind(),
        &argdata::serde::ErrorKind::Decode(argdata::ErrorKind::BadLength)
    );
    assert_eq!(err.offset(), Some(1));
    // The kind is the source, so a report shows the cause once more.
    assert!(err.source().is_some());
}

#[cfg(feature = "yaml")]
#[test]
fn yaml_errors_have_their_kind_as_source() {
    let err = argdata::yaml::from_str("a: !!int x\n").unwrap_err();
    assert!(matches!(
        err.kind(),
        argdata::yaml::ErrorKind::InvalidScalar { tag: "!!int", .. }
    ));
    assert_eq!((err.line(), err.column()), (1, 4));
    let source = err.source().expect("the kind");
    assert_eq!(source.to_string(), "invalid !!int value \"x\"");
}

#[cfg(all(feature = "std", target_os = "linux"))]
#[test]
fn an_io_error_becomes_a_socket_error() {
    fn fail() -> argdata::socket::Result<()> {
        Err(std::io::Error::from_raw_os_error(32))?;
        Ok(())
    }
    let err = fail().unwrap_err();
    assert!(matches!(err, argdata::socket::Error::Io(_)));
    assert_eq!(err.errno(), 32);
}
