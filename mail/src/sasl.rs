//! The SASL exchanges both mail listeners take (RFC 4422): PLAIN (RFC 4616), LOGIN
//! (draft-murchison-sasl-login), OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's and Microsoft's),
//! decoded from the responses IMAP `AUTHENTICATE` (RFC 9051 §6.2.2, RFC 4959) and SMTP `AUTH`
//! (RFC 4954 §4) carry alike. Pure; the listeners own the sockets and the wording of answers.

use base64::Engine;

/// Accepts base64 with or without the trailing `=`: clients differ, and the meaning is the same.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// The error a failed OAUTHBEARER exchange sends as its last challenge before the final refusal
/// (RFC 7628 §3.2.2); the client answers it with `%x01` (or `*`).
pub const OAUTHBEARER_ERROR: &str = r#"{"status":"invalid_token","scope":"mail"}"#;

/// Bytes as text, lossily: a name or password that is not UTF-8 simply does not match.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The base64 text of a challenge (IMAP `+ `, SMTP `334 `).
pub fn encode_challenge(text: &[u8]) -> String {
    BASE64.encode(text)
}

/// The SASL mechanisms Madang offers (never CRAM-MD5, DIGEST-MD5 or SCRAM: CLIENTS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// The obsolete but universal `LOGIN` (draft-murchison-sasl-login).
    Login,
    /// RFC 7628.
    OAuthBearer,
    /// Google's and Microsoft's XOAUTH2.
    XOAuth2,
}

impl Mechanism {
    pub fn parse(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
            "XOAUTH2" => Some(Mechanism::XOAuth2),
            _ => None,
        }
    }
}

/// Who a SASL exchange says logs in, and with what.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Password {
        user: String,
        password: String,
    },
    /// `user` is the authorization identity the client named, empty if none.
    Bearer {
        user: String,
        token: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { user, .. } => write!(f, "Password {{ user: {user:?}, password: <redacted> }}"),
            Credentials::Bearer { user, .. } => write!(f, "Bearer {{ user: {user:?}, token: <redacted> }}"),
        }
    }
}

/// One step of an `AUTHENTICATE` exchange, as the session must act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send `+ <this>` (base64, possibly empty) and read one line.
    Challenge(&'static str),
    Done(Credentials),
    /// The client sent `*` (RFC 9051 §6.2.2): tagged `BAD`.
    Cancelled,
    /// Not base64: tagged `BAD`.
    BadEncoding,
    /// Decoded, but not what the mechanism lays out: tagged `NO [AUTHENTICATIONFAILED]`.
    Malformed,
}

/// An `AUTHENTICATE` exchange in progress.
#[derive(Debug)]
pub struct Sasl {
    mechanism: Mechanism,
    /// AUTHENTICATE LOGIN's user name, once given.
    user: Option<String>,
}

/// `Username:` and `Password:`, the LOGIN mechanism's prompts.
pub const LOGIN_USER: &str = "VXNlcm5hbWU6";
pub const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

impl Sasl {
    /// Starts an exchange; `initial` is the RFC 4959 initial response as sent.
    pub fn start(mechanism: Mechanism, initial: Option<&[u8]>) -> (Sasl, SaslStep) {
        let mut sasl = Sasl { mechanism, user: None };
        let step = match initial {
            None if mechanism == Mechanism::Login => SaslStep::Challenge(LOGIN_USER),
            None => SaslStep::Challenge(""),
            // `*` is a cancellation only as a response line; as an initial response it is not
            // base64 and is refused as such.
            Some(ir) => sasl.respond_decoded(ir, false),
        };
        (sasl, step)
    }

    /// The client's answer to a challenge.
    pub fn respond(&mut self, line: &[u8]) -> SaslStep {
        self.respond_decoded(line, true)
    }

    fn respond_decoded(&mut self, line: &[u8], may_cancel: bool) -> SaslStep {
        if may_cancel && line == b"*" {
            return SaslStep::Cancelled;
        }
        let Some(data) = decode_response(line) else {
            return SaslStep::BadEncoding;
        };
        match self.mechanism {
            Mechanism::Plain => plain(&data).map_or(SaslStep::Malformed, SaslStep::Done),
            Mechanism::Login => match self.user.take() {
                None => {
                    self.user = Some(text(&data));
                    SaslStep::Challenge(LOGIN_PASSWORD)
                }
                Some(user) => SaslStep::Done(Credentials::Password { user, password: text(&data) }),
            },
            Mechanism::OAuthBearer => oauthbearer(&data).map_or(SaslStep::Malformed, SaslStep::Done),
            Mechanism::XOAuth2 => xoauth2(&data).map_or(SaslStep::Malformed, SaslStep::Done),
        }
    }
}

/// A SASL response line: base64, or `=` for an empty response (RFC 4959 §3, RFC 9051 §6.2.2,
/// RFC 4954 §4). `*`, the client cancelling, is the caller's to check first.
pub fn decode_response(line: &[u8]) -> Option<Vec<u8>> {
    let line = line.trim_ascii();
    if line == b"=" {
        return Some(Vec::new());
    }
    if line.is_empty() {
        // An empty line is an empty response to a challenge (RFC 9051 §6.2.2 allows it).
        return Some(Vec::new());
    }
    BASE64.decode(line).ok()
}

/// RFC 4616 PLAIN: `[authzid] NUL authcid NUL passwd`. An authorization identity other than
/// the authentication one would be acting as someone else: refused.
pub fn plain(data: &[u8]) -> Option<Credentials> {
    let mut fields = data.split(|&b| b == 0);
    let (authzid, authcid, passwd) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() || authcid.is_empty() || (!authzid.is_empty() && authzid != authcid) {
        return None;
    }
    Some(Credentials::Password { user: text(authcid), password: text(passwd) })
}

/// RFC 7628 §3.1 OAUTHBEARER: a GS2 header (RFC 5801: `n,a=<authzid>,`, no channel binding),
/// then `%x01`-separated `key=value` pairs with `auth=Bearer <token>`, ending `%x01%x01`.
pub fn oauthbearer(data: &[u8]) -> Option<Credentials> {
    let data = std::str::from_utf8(data).ok()?;
    let (cbind, rest) = data.split_once(',')?;
    // `p=…` asks for channel binding, which Madang does not offer (RFC 7628 §3.1).
    if !matches!(cbind, "n" | "y") {
        return None;
    }
    let (authzid, rest) = rest.split_once(',')?;
    let user = match authzid {
        "" => String::new(),
        a => unescape_saslname(a.strip_prefix("a=")?)?,
    };
    let pairs = rest.strip_prefix('\x01')?.strip_suffix("\x01\x01")?;
    let token = bearer_in(pairs)?;
    Some(Credentials::Bearer { user, token })
}

/// `auth=Bearer <token>` among `%x01`-separated pairs (the scheme is case-insensitive, RFC 6750 §2.1).
fn bearer_in(pairs: &str) -> Option<String> {
    let auth = pairs.split('\x01').find_map(|kv| kv.strip_prefix("auth="))?;
    let (scheme, token) = auth.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// RFC 5801 §4 saslname: `=2C` is `,`, `=3D` is `=`, any other `=` is an error.
fn unescape_saslname(name: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") | Some("=2c") => out.push(','),
            Some("=3D") | Some("=3d") => out.push('='),
            _ => return None,
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// XOAUTH2 (Google's and Microsoft's): `user=<name>%x01auth=Bearer <token>%x01%x01`.
pub fn xoauth2(data: &[u8]) -> Option<Credentials> {
    let data = std::str::from_utf8(data).ok()?;
    let pairs = data.strip_suffix("\x01\x01")?;
    let user = pairs.split('\x01').find_map(|kv| kv.strip_prefix("user="))?.to_string();
    let token = bearer_in(pairs)?;
    Some(Credentials::Bearer { user, token })
}

impl std::fmt::Display for Credentials {
    // What a log may show: the kind and the name, never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { user, .. } => write!(f, "password for {user}"),
            Credentials::Bearer { user, .. } => write!(f, "bearer for {user}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_decode_as_each_mechanism_lays_them_out() {
        let plain_bytes = decode_response(b"AGFsaWNlAHNlY3JldA==").unwrap();
        assert_eq!(
            plain(&plain_bytes),
            Some(Credentials::Password { user: "alice".into(), password: "secret".into() })
        );
        // An authorization identity equal to the user is the same login; another one is acting as
        // someone else, refused.
        assert_eq!(
            plain(b"alice\0alice\0pw"),
            Some(Credentials::Password { user: "alice".into(), password: "pw".into() })
        );
        assert_eq!(plain(b"bob\0alice\0pw"), None);
        assert_eq!(plain(b"\0\0pw"), None);
        assert_eq!(plain(b"alice\0pw"), None);
        assert_eq!(plain(b"a\0b\0c\0d"), None);
        assert_eq!(decode_response(b"="), Some(vec![]));
        assert_eq!(decode_response(b" AGE= \r"), Some(b"\0a".to_vec()));
        assert_eq!(decode_response(b"not base64!"), None);
        assert_eq!(
            oauthbearer(b"n,a=kim=2Cx@example.com,\x01host=h\x01port=587\x01auth=Bearer tok\x01\x01"),
            Some(Credentials::Bearer { user: "kim,x@example.com".into(), token: "tok".into() })
        );
        assert_eq!(
            oauthbearer(b"n,,\x01auth=bearer tok\x01\x01"),
            Some(Credentials::Bearer { user: String::new(), token: "tok".into() })
        );
        assert_eq!(oauthbearer(b"p=tls-unique,,\x01auth=Bearer t\x01\x01"), None);
        assert_eq!(oauthbearer(b"n,,\x01auth=Basic t\x01\x01"), None);
        assert_eq!(oauthbearer(b"n,,\x01auth=Bearer \x01\x01"), None);
        assert_eq!(oauthbearer(b"n,a=bad=name,\x01auth=Bearer t\x01\x01"), None);
        assert_eq!(
            xoauth2(b"user=kim@example.com\x01auth=Bearer tok\x01\x01"),
            Some(Credentials::Bearer { user: "kim@example.com".into(), token: "tok".into() })
        );
        assert_eq!(xoauth2(b"auth=Bearer tok\x01\x01"), None);
    }

    #[test]
    fn nothing_secret_is_shown() {
        let c = plain(b"\0alice\0hunter2").unwrap();
        assert!(!c.to_string().contains("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        let t = xoauth2(b"user=a\x01auth=Bearer s3cr3t\x01\x01").unwrap();
        assert!(!t.to_string().contains("s3cr3t") && !format!("{t:?}").contains("s3cr3t"));
    }
}
