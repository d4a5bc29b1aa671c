//! Time-based one-time passwords (RFC 6238, on HOTP of RFC 4226): six
//! digits, 30-second steps, HMAC-SHA1 — the parameters every authenticator
//! app implements — plus the `otpauth://` URI that enrols them.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// RFC 6238 §4.1: X, the step size.
pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// RFC 6238 §5.2 recommends at most one step of delay either way.
const WINDOW: i64 = 1;
/// RFC 4226 §4 R6: at least 128 bits; 160 is what SHA-1's block suggests.
pub const SECRET_LEN: usize = 20;

/// The time step (RFC 6238 §4.2: T = floor((unix time - T0) / X), T0 = 0).
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// HOTP (RFC 4226 §5.3) of `counter`, as a number below 10^digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else { return 0 };
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    // Dynamic truncation (§5.3): the low 4 bits of the last byte pick an offset.
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let binary = (u32::from(hash[offset]) & 0x7f) << 24
        | u32::from(hash[offset + 1]) << 16
        | u32::from(hash[offset + 2]) << 8
        | u32::from(hash[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The code for `step`, zero-padded.
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    format!("{:0width$}", hotp(secret, step.max(0) as u64, DIGITS), width = DIGITS as usize)
}

/// The step `code` is valid for at `unix_seconds`, within ±1 step of clock
/// drift; the caller must still refuse a step at or before the last one
/// accepted (replay). Compared in constant time.
pub fn verify(secret: &[u8], code: &str, unix_seconds: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_seconds);
    let mut found = None;
    // Check every candidate rather than stopping early, so timing does not
    // say which step matched.
    for step in (now - WINDOW)..=(now + WINDOW) {
        let expected = code_at_step(secret, step);
        if bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding, as authenticator apps expect.
pub fn base32(secret: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in secret {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The Key Uri Format that authenticator apps scan:
/// `otpauth://totp/Issuer:account?secret=…&issuer=Issuer&algorithm=SHA1&digits=6&period=30`.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits, the 20-byte ASCII seed).
    #[test]
    fn rfc6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (time, expected) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(seed, step_at(time) as u64, 8), expected, "T = {time}");
        }
    }

    /// RFC 4226 Appendix D, the first HOTP values.
    #[test]
    fn rfc4226_test_vectors() {
        let seed = b"12345678901234567890";
        let expected = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (counter, value) in expected.iter().enumerate() {
            assert_eq!(hotp(seed, counter as u64, 6), *value);
        }
    }

    #[test]
    fn verification_window_and_shape() {
        let seed = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = code_at_step(seed, step_at(now));
        assert_eq!(verify(seed, &code, now), Some(step_at(now)));
        assert_eq!(verify(seed, &code, now + 30), Some(step_at(now)), "one step of drift");
        assert_eq!(verify(seed, &code, now + 90), None, "too old");
        assert_eq!(verify(seed, "12345", now), None);
        assert_eq!(verify(seed, "abcdef", now), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(verify(seed, &spaced, now), Some(step_at(now)));
    }

    #[test]
    fn base32_and_uri() {
        // RFC 4648 §10 test vectors.
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        let uri = otpauth_uri("Madang", "min su", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Madang:min%20su?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Madang\
             &algorithm=SHA1&digits=6&period=30"
        );
    }
}
