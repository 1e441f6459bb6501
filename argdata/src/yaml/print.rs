//! Printing a borrowed [`Argdata`] as YAML, byte for byte as the reference printer does.
//!
//! ```
//! # #[cfg(feature = "alloc")] {
//! // `{a: 1}` written by hand: map (06), key subfield (length 3: str 08, 'a', NUL), value
//! // subfield (length 2: int 05, 1).
//! let bytes = b"\x06\x83\x08a\x00\x82\x05\x01";
//! let text = argdata::yaml::to_string(argdata::Argdata::new(bytes))?;
//! assert_eq!(
//!     text,
//!     "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!map {\n  ? !!str \"a\"\n  : !!int \"1\",\n}\n"
//! );
//! # }
//! # Ok::<(), argdata::Error>(())
//! ```
//!
//! Every node carries an explicit tag and a quoted scalar: `!!int "5"`, `!!str "a\tb"`,
//! `!fd "0"`, `!!map {` with `? key` / `: value,` lines, `!!seq [` with `value,` lines,
//! two spaces of indentation per level.
//!
//! Two modes share this code:
//!
//! - [`write_yaml`] / [`to_string`] are strict: where the reference prints
//!   `!!null "null"` for something it cannot decode (a malformed leaf, a map or sequence
//!   whose first subfield does not parse, an integer that fits neither `int64_t` nor
//!   `uint64_t`, a timestamp whose year minus 1900 does not fit a C `int`, which the
//!   reference's `gmtime_r` refuses), they fail with the offset and the reason. Nothing
//!   else differs: whatever the strict printer prints, the lenient one prints the same.
//! - [`write_yaml_lenient`] / [`to_string_lenient`] are the reference printer itself:
//!   they never fail on the data. A leaf that does not decode prints as `!!null "null"`;
//!   a map or sequence prints its entries up to the first one that does not parse and
//!   then closes normally (or prints as `!!null "null"` if even the first does not); an
//!   fd whose index the converter rejects prints as `!fd "invalid"`.
//!
//! In both, an fd leaf prints what the [`FdConverter`] makes of its index; the strict
//! printer uses [`IdentityFds`], so an index above `INT_MAX` (no C `int` descriptor)
//! prints as `!fd "invalid"`. Integers go through [`Argdata::as_int64`], the same rule
//! the C getters use.
//!
//! One deviation: containers nested deeper than [`MAX_DEPTH`] are an error in the strict printer and
//! `!!null "null"` in the lenient one (the reference has no limit).
//!
//! Strings: `\0 \a \b \t \n \v \f \r \e \" \\`, U+0085 `\N`, U+00A0 `\_`, U+2028 `\L` and
//! U+2029 `\P` use their short escapes. Other characters that are not printable (C0 and C1
//! controls, DEL, U+FFF9 to U+FFFB and the noncharacters U+xxFFFE/U+xxFFFF) become `\xNN`,
//! `\uNNNN` or `\UNNNNNNNN`; everything else is written as is.

use core::fmt::{self, Write};

use crate::Int64;
use crate::error::{Error, ErrorKind, Result};
use crate::fd::{Fd, FdConverter, IdentityFds};
use crate::reader::{Argdata, MAX_DEPTH, Type};
use crate::timestamp::UtcDateTime;

/// The first two lines of every document.
pub const HEADER: &str = "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n";

/// What the reference prints for a node it cannot decode.
const NULL: &str = "!!null \"null\"";

/// Writes `ad` as a YAML document ([`HEADER`], the node, a newline) to `out`.
///
/// ```
/// use argdata::{Argdata, yaml};
/// let mut s = String::new();
/// yaml::write_yaml(Argdata::new(b"\x07\x82\x05\x2a"), &mut s).unwrap();
/// assert_eq!(s, "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!seq [\n  !!int \"42\",\n]\n");
/// ```
///
/// # Errors
/// Any error the getters report (the sink may then hold partial output),
/// [`ErrorKind::IntTooWide`] for an integer outside `int64_t` and `uint64_t`, nesting
/// beyond [`MAX_DEPTH`], or [`ErrorKind::Write`] if `out` fails.
pub fn write_yaml<W: Write + ?Sized>(ad: Argdata<'_>, out: &mut W) -> Result<()> {
    document(
        ad,
        out,
        &Style {
            lenient: false,
            fds: &IdentityFds,
        },
    )
}

/// Writes `ad` as the reference `argdata_print_yaml` does, however malformed it is (see
/// the [module notes](self)); fd leaves print as what `fds` converts their index to, or
/// as `!fd "invalid"` where it rejects it.
///
/// ```
/// use argdata::{Argdata, IdentityFds, yaml};
/// // A sequence [bool with payload 05, fd index 2^31], then a byte that cannot start
/// // a subfield.
/// let bytes = [7, 0x82, 2, 5, 0x85, 3, 0x80, 0, 0, 0, 0];
/// let mut s = String::new();
/// yaml::write_yaml_lenient(Argdata::new(&bytes), &IdentityFds, &mut s).unwrap();
/// assert_eq!(s, "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n\
///                !!seq [\n  !!null \"null\",\n  !fd \"invalid\",\n]\n");
/// ```
///
/// # Errors
/// Only [`ErrorKind::Write`], if `out` fails.
pub fn write_yaml_lenient<W, C>(ad: Argdata<'_>, fds: &C, out: &mut W) -> Result<()>
where
    W: Write + ?Sized,
    C: FdConverter<Fd = Fd>,
{
    document(ad, out, &Style { lenient: true, fds })
}

/// The YAML document for `ad` as a string (feature `alloc`).
///
/// ```
/// use argdata::{Argdata, ErrorKind, yaml};
///
/// // `true`: a bool (02) with payload 01.
/// let text = yaml::to_string(Argdata::new(b"\x02\x01"))?;
/// assert_eq!(text, "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!bool \"true\"\n");
///
/// // A bool with payload 05 is malformed: an error with its offset.
/// let err = yaml::to_string(Argdata::new(b"\x02\x05")).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::BadEncoding(argdata::Type::Bool));
/// assert_eq!(err.offset(), Some(0));
/// # Ok::<(), argdata::Error>(())
/// ```
///
/// # Errors
/// As [`write_yaml`].
#[cfg(feature = "alloc")]
pub fn to_string(ad: Argdata<'_>) -> Result<alloc::string::String> {
    let mut s = with_room(ad);
    write_yaml(ad, &mut s)?;
    Ok(s)
}

/// The document [`write_yaml_lenient`] writes, as a string (feature `alloc`).
///
/// ```
/// use argdata::{Argdata, IdentityFds, yaml};
///
/// // What the strict printer refuses, this one prints as the reference does.
/// let text = yaml::to_string_lenient(Argdata::new(b"\x02\x05"), &IdentityFds);
/// assert_eq!(text, "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!null \"null\"\n");
/// ```
#[cfg(feature = "alloc")]
#[must_use]
pub fn to_string_lenient<C: FdConverter<Fd = Fd>>(
    ad: Argdata<'_>,
    fds: &C,
) -> alloc::string::String {
    let mut s = with_room(ad);
    // Writing to a String cannot fail, and the lenient printer fails only when its sink
    // does.
    let _ = write_yaml_lenient(ad, fds, &mut s);
    s
}

#[cfg(feature = "alloc")]
fn with_room(ad: Argdata<'_>) -> alloc::string::String {
    // Typical documents are about three times the size of their encoding.
    alloc::string::String::with_capacity(HEADER.len() + 3 * ad.as_bytes().len())
}

/// How to print: strict or as the reference does, and how fd indices are shown.
struct Style<'c> {
    lenient: bool,
    fds: &'c dyn FdConverter<Fd = Fd>,
}

impl Style<'_> {
    /// A decoded leaf, or `None` where the lenient printer shows `!!null "null"`.
    fn leaf<T>(&self, r: Result<T>) -> Result<Option<T>> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(e) if self.lenient && e.kind() != ErrorKind::Write => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn document<W: Write + ?Sized>(ad: Argdata<'_>, out: &mut W, style: &Style<'_>) -> Result<()> {
    out.write_str(HEADER)?;
    node(ad, out, 0, MAX_DEPTH, style)?;
    out.write_char('\n')?;
    Ok(())
}

const SPACES: &str = "                                                                ";

fn newline_indent<W: Write + ?Sized>(out: &mut W, mut n: usize) -> fmt::Result {
    out.write_char('\n')?;
    while n > 0 {
        let chunk = n.min(SPACES.len());
        out.write_str(&SPACES[..chunk])?;
        n -= chunk;
    }
    Ok(())
}

fn node<W: Write + ?Sized>(
    ad: Argdata<'_>,
    out: &mut W,
    indent: usize,
    depth: usize,
    style: &Style<'_>,
) -> Result<()> {
    let Some(ty) = style.leaf(ad.ty())? else {
        return Ok(out.write_str(NULL)?);
    };
    let printed = match ty {
        Type::Null => false,
        Type::Binary => match style.leaf(ad.as_binary())? {
            Some(data) => {
                out.write_str("!!binary \"")?;
                base64(data, out)?;
                out.write_char('"')?;
                true
            }
            None => false,
        },
        Type::Bool => match style.leaf(ad.as_bool())? {
            Some(b) => {
                out.write_str(if b {
                    "!!bool \"true\""
                } else {
                    "!!bool \"false\""
                })?;
                true
            }
            None => false,
        },
        Type::Fd => match style.leaf(ad.as_fd_index())? {
            Some(index) => {
                match style.fds.convert(index) {
                    Some(fd) => {
                        out.write_str("!fd \"")?;
                        let n = i128::from(fd.raw());
                        decimal(n < 0, n.unsigned_abs(), out)?;
                        out.write_char('"')?;
                    }
                    None => out.write_str("!fd \"invalid\"")?,
                }
                true
            }
            None => false,
        },
        Type::Float => match style.leaf(ad.as_float())? {
            Some(f) => {
                float(f, out)?;
                true
            }
            None => false,
        },
        Type::Int => match style.leaf(ad.as_int64())? {
            Some(v) => {
                out.write_str("!!int \"")?;
                match v {
                    Int64::Signed(v) => decimal(v < 0, u128::from(v.unsigned_abs()), out)?,
                    Int64::Unsigned(v) => decimal(false, u128::from(v), out)?,
                }
                out.write_char('"')?;
                true
            }
            None => false,
        },
        Type::Str => match style.leaf(ad.as_str())? {
            Some(text) => {
                out.write_str("!!str \"")?;
                escape(text, out)?;
                out.write_char('"')?;
                true
            }
            None => false,
        },
        Type::Timestamp => match style.leaf(ad.as_timestamp().and_then(|t| {
            let utc = t.to_utc();
            // The reference formats through gmtime_r, which fails when the year minus
            // 1900 does not fit a C int.
            i32::try_from(utc.year - 1900)
                .map(|_| utc)
                .map_err(|_| Error::at(ErrorKind::OutOfRange, ad.offset()))
        }))? {
            Some(UtcDateTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
                nanosecond,
            }) => {
                write!(
                    out,
                    "!!timestamp \"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{nanosecond:09}Z\""
                )?;
                true
            }
            None => false,
        },
        Type::Map => container(ad, true, out, indent, depth, style)?,
        Type::Seq => container(ad, false, out, indent, depth, style)?,
    };
    if !printed {
        out.write_str(NULL)?;
    }
    Ok(())
}

/// Prints a map or sequence; `false` (nothing written) where the lenient printer falls
/// back to `!!null "null"`: too deep, or the first entry does not parse.
fn container<W: Write + ?Sized>(
    ad: Argdata<'_>,
    is_map: bool,
    out: &mut W,
    indent: usize,
    depth: usize,
    style: &Style<'_>,
) -> Result<bool> {
    let Some(inner) = style.leaf(ad.enter(depth))? else {
        return Ok(false);
    };
    let (open, close) = if is_map {
        ("!!map {", '}')
    } else {
        ("!!seq [", ']')
    };
    let mut entries = 0usize;
    if is_map {
        let mut it = ad.map()?;
        loop {
            let (k, v) = match next_entry(it.next(), style.lenient, entries)? {
                Next::Entry(entry) => entry,
                Next::End => break,
                Next::Unprintable => return Ok(false),
            };
            if entries == 0 {
                out.write_str(open)?;
            }
            entries += 1;
            newline_indent(out, indent + 2)?;
            out.write_str("? ")?;
            node(k, out, indent + 2, inner, style)?;
            newline_indent(out, indent + 2)?;
            out.write_str(": ")?;
            node(v, out, indent + 2, inner, style)?;
            out.write_char(',')?;
        }
    } else {
        let mut it = ad.seq()?;
        loop {
            let item = match next_entry(it.next(), style.lenient, entries)? {
                Next::Entry(item) => item,
                Next::End => break,
                Next::Unprintable => return Ok(false),
            };
            if entries == 0 {
                out.write_str(open)?;
            }
            entries += 1;
            newline_indent(out, indent + 2)?;
            node(item, out, indent + 2, inner, style)?;
            out.write_char(',')?;
        }
    }
    if entries == 0 {
        out.write_str(open)?;
        out.write_char(close)?;
    } else {
        newline_indent(out, indent)?;
        out.write_char(close)?;
    }
    Ok(true)
}

/// Writes `-magnitude` (if `negative`) or `magnitude` in decimal, without `core::fmt`.
fn decimal<W: Write + ?Sized>(negative: bool, magnitude: u128, out: &mut W) -> fmt::Result {
    // u128::MAX has 39 digits; one more for the sign.
    let mut buf = [0u8; 40];
    let mut pos = buf.len();
    let mut push = |digit: u8| {
        pos -= 1;
        buf[pos] = b'0' + digit;
    };
    if let Ok(mut v) = u64::try_from(magnitude) {
        loop {
            push((v % 10) as u8);
            v /= 10;
            if v == 0 {
                break;
            }
        }
    } else {
        let mut v = magnitude;
        while v != 0 {
            push((v % 10) as u8);
            v /= 10;
        }
    }
    if negative {
        pos -= 1;
        buf[pos] = b'-';
    }
    out.write_str(core::str::from_utf8(&buf[pos..]).map_err(|_| fmt::Error)?)
}

fn base64<W: Write + ?Sized>(data: &[u8], out: &mut W) -> fmt::Result {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |v: u32| char::from(ALPHABET[(v & 0x3f) as usize]);
    // Encode through a small stack buffer so long binaries take few sink calls.
    let mut buf = [0u8; 256];
    let mut used = 0;
    let mut chunks = data.chunks_exact(3);
    for c in chunks.by_ref() {
        let v = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            buf[used + i] = ALPHABET[((v >> shift) & 0x3f) as usize];
        }
        used += 4;
        if used == buf.len() {
            out.write_str(core::str::from_utf8(&buf).map_err(|_| fmt::Error)?)?;
            used = 0;
        }
    }
    out.write_str(core::str::from_utf8(&buf[..used]).map_err(|_| fmt::Error)?)?;
    match *chunks.remainder() {
        [a] => {
            let v = u32::from(a) << 16;
            out.write_char(sym(v >> 18))?;
            out.write_char(sym(v >> 12))?;
            out.write_str("==")
        }
        [a, b] => {
            let v = u32::from(a) << 16 | u32::from(b) << 8;
            out.write_char(sym(v >> 18))?;
            out.write_char(sym(v >> 12))?;
            out.write_char(sym(v >> 6))?;
            out.write_char('=')
        }
        _ => Ok(()),
    }
}

/// A fixed buffer that `write!` can format into.
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Shortest round-trip digits in scientific form, exponent signed and omitted when zero.
fn float<W: Write + ?Sized>(v: f64, out: &mut W) -> fmt::Result {
    if v.is_nan() {
        return out.write_str("!!float \".nan\"");
    }
    if v.is_infinite() {
        return out.write_str(if v < 0.0 {
            "!!float \"-.inf\""
        } else {
            "!!float \".inf\""
        });
    }
    if v == 0.0 {
        return out.write_str("!!float \"0\"");
    }
    let mut b = StackBuf {
        buf: [0; 40],
        len: 0,
    };
    write!(b, "{v:e}")?;
    let text = core::str::from_utf8(&b.buf[..b.len]).map_err(|_| fmt::Error)?;
    let (mantissa, exp) = text.split_once('e').ok_or(fmt::Error)?;
    out.write_str("!!float \"")?;
    out.write_str(mantissa)?;
    match exp {
        "0" => {}
        e if e.starts_with('-') => {
            out.write_char('e')?;
            out.write_str(e)?;
        }
        e => {
            out.write_str("e+")?;
            out.write_str(e)?;
        }
    }
    out.write_char('"')
}

fn printable(c: char) -> bool {
    let c = u32::from(c);
    !(c < 0x20
        || (0x7f..=0x9f).contains(&c)
        || (0xfff9..=0xfffb).contains(&c)
        || c & 0xfffe == 0xfffe)
}

/// Whether the byte is ASCII that is written as is (printable and not `"` or `\\`).
#[inline]
fn plain_ascii(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

fn escape<W: Write + ?Sized>(s: &str, out: &mut W) -> fmt::Result {
    let bytes = s.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if plain_ascii(bytes[i]) {
            i += 1;
            continue;
        }
        // `i` is at a character boundary: runs of plain ASCII end on one.
        let c = s
            .get(i..)
            .and_then(|t| t.chars().next())
            .ok_or(fmt::Error)?;
        let short = match c {
            '\0' => "\\0",
            '\x07' => "\\a",
            '\x08' => "\\b",
            '\t' => "\\t",
            '\n' => "\\n",
            '\x0b' => "\\v",
            '\x0c' => "\\f",
            '\r' => "\\r",
            '\x1b' => "\\e",
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{85}' => "\\N",
            '\u{a0}' => "\\_",
            '\u{2028}' => "\\L",
            '\u{2029}' => "\\P",
            c if printable(c) => {
                i += c.len_utf8();
                continue;
            }
            _ => "",
        };
        out.write_str(&s[run_start..i])?;
        i += c.len_utf8();
        run_start = i;
        if !short.is_empty() {
            out.write_str(short)?;
        } else {
            let u = u32::from(c);
            if u <= 0xff {
                write!(out, "\\x{u:02x}")?;
            } else if u <= 0xffff {
                write!(out, "\\u{u:04x}")?;
            } else {
                write!(out, "\\U{u:08x}")?;
            }
        }
    }
    out.write_str(&s[run_start..])
}

/// What the printer does with the next entry of a map or sequence.
enum Next<T> {
    /// Print it.
    Entry(T),
    /// Close the container here.
    End,
    /// Print the whole container as `!!null "null"`.
    Unprintable,
}

/// The strict printer fails on an entry that does not parse; the lenient one, as the
/// reference, stops at it (or, when it is the first, gives up on the container).
fn next_entry<T>(next: Option<Result<T>>, lenient: bool, printed: usize) -> Result<Next<T>> {
    match next {
        None => Ok(Next::End),
        Some(Ok(entry)) => Ok(Next::Entry(entry)),
        Some(Err(_)) if lenient && printed == 0 => Ok(Next::Unprintable),
        Some(Err(_)) if lenient => Ok(Next::End),
        Some(Err(e)) => Err(e),
    }
}
