//! IMAP mailbox names: modified UTF-7 (RFC 3501 §5.1.3), decoded for people.

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
}
