//! Percent-encoding of hrefs (RFC 3986 §2.1), for building and reading DAV paths.
//!
//! Encoding keeps the unreserved characters (§2.3) plus `@` and `:`, which
//! principal and calendar names often contain (`alice@example.com`) and which
//! are legal in a path segment (§3.3: pchar); everything else is encoded,
//! including `+`, which some clients decode as a space. Decoding is strict:
//! a stray `%` or a non-UTF-8 result is an error, not a guess.

use crate::headers::HeaderError;

fn keep(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@' | b':')
}

/// Encodes one path segment: `/` is encoded too.
pub fn encode_segment(segment: &str) -> String {
    encode(segment, false)
}

/// Encodes a whole path, keeping its `/` separators.
pub fn encode_path(path: &str) -> String {
    encode(path, true)
}

fn encode(s: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
    out
}

/// Decodes `%XX` escapes (either case). `%2F` decodes to `/`, so decode
/// segments, not whole paths, when a name may contain a slash.
pub fn decode(s: &str) -> Result<String, HeaderError> {
    let err = || HeaderError::PercentEncoding(s.to_owned());
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(err)?;
            let hi = char::from(hex[0]).to_digit(16).ok_or_else(err)?;
            let lo = char::from(hex[1]).to_digit(16).ok_or_else(err)?;
            out.push(u8::try_from(hi * 16 + lo).map_err(|_| err())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_paths_cannot_hold() {
        assert_eq!(encode_segment("alice@example.com"), "alice@example.com");
        assert_eq!(encode_segment("Meeting notes & more.ics"), "Meeting%20notes%20%26%20more.ics");
        assert_eq!(encode_segment("a/b+c?d#e%"), "a%2Fb%2Bc%3Fd%23e%25");
        assert_eq!(encode_segment("Ärger"), "%C3%84rger");
        assert_eq!(encode_path("/dav/calendars/bob smith/"), "/dav/calendars/bob%20smith/");
    }

    #[test]
    fn decodes_strictly() {
        assert_eq!(decode("Meeting%20notes%20%26%20more.ics").unwrap(), "Meeting notes & more.ics");
        assert_eq!(decode("%c3%84").unwrap(), "Ä");
        assert_eq!(decode("a+b").unwrap(), "a+b");
        for bad in ["%", "%2", "%zz", "%FF", "%C3"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips() {
        for s in ["", "plain", "with space", "ü/ß?#%+&=;", "alice@example.com:1", "emoji 📅", "\u{0}\u{7f}"] {
            assert_eq!(decode(&encode_segment(s)).unwrap(), s);
            assert_eq!(decode(&encode_path(s)).unwrap(), s);
        }
    }
}
