//! IMAP mailbox names: modified UTF-7 (RFC 3501 §5.1.3), decoded for people and encoded for
//! the commands that name a new folder (CREATE, RENAME).

/// IMAP's modified UTF-7 for mailbox names (RFC 3501 §5.1.3): `&` starts base64 of UTF-16
/// with `,` for `/`, `-` ends it, `&-` is `&`. A malformed name is shown as it is.
pub fn decode(name: &str) -> String {
    use base64::Engine;
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('-') else { return name.to_string() };
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            let b64 = encoded.replace(',', "/");
            let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64.trim_end_matches('=')) else {
                return name.to_string();
            };
            if bytes.len() % 2 != 0 {
                return name.to_string();
            }
            let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            match String::from_utf16(&units) {
                Ok(text) => out.push_str(&text),
                Err(_) => return name.to_string(),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A name for people in IMAP's modified UTF-7 (RFC 3501 §5.1.3): printable ASCII stays as it
/// is (`&` becomes `&-`); every other run of characters becomes `&`, modified base64 (`,` for
/// `/`, no padding) of its UTF-16BE, `-`. The inverse of [`decode`].
pub fn encode(name: &str) -> String {
    use base64::Engine;
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
        out.push('&');
        out.push_str(&b64.replace('/', ","));
        out.push('-');
        run.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_utf7_names_decode() {
        // RFC 3501 §5.1.3's own example, and Korean as Korean servers send it.
        assert_eq!(decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-"), "~peter/mail/台北/日本語");
        assert_eq!(decode("&vPSwuA- &07jJwNVo-"), "보낸 편지함");
        assert_eq!(decode("Tom &- Jerry"), "Tom & Jerry");
        assert_eq!(decode("INBOX"), "INBOX");
        for broken in ["&", "&ZeVnLIqe", "&!!!-", "&AA-"] {
            assert_eq!(decode(broken), broken);
        }
    }

    #[test]
    fn modified_utf7_names_encode_and_round_trip() {
        assert_eq!(encode("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(encode("보낸 편지함"), "&vPSwuA- &07jJwNVo-");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(encode("INBOX"), "INBOX");
        for name in ["Projects 2027", "회의 & 자료", "😀 emoji", "tab\there", "é"] {
            assert_eq!(decode(&encode(name)), name);
        }
    }
}
