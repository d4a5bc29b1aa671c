//! The Apple configuration profile (`.mobileconfig`, an XML property list) that sets up Mail,
//! Calendar and Contacts on an iPhone, iPad or Mac in one step.
//!
//! Payloads (apple/device-management `mdm/profiles/*.yaml`): the top level is `Configuration`
//! with a stable `PayloadIdentifier` per user and device — installing a newer profile with the
//! same identifier replaces the older one instead of adding a second account — and a fresh
//! `PayloadUUID`; every inner payload has its own type, identifier, UUID and version 1.
//! `com.apple.mail.managed` per linked mail account (IMAP, `EmailAuthPassword`, explicit ports,
//! `UseSSL` set: it defaults to false, and without an outgoing port iOS tries 25, 587 and 465),
//! `com.apple.caldav.account` and `com.apple.carddav.account` (host, port, SSL, user name and
//! the principal URL, so the app needs no discovery).
//!
//! The password is in the profile. Apple's documentation says passwords belong only in
//! encrypted profiles, and CLIENTS.md repeats it; Madang includes it anyway, deliberately:
//! the profile exists only as the answer to one signed-in, CSRF-checked POST over the session's
//! HTTPS connection (`Cache-Control: no-store`, no URL to fetch it again), the password in it
//! is an app password made for this one device just then (listed and revocable on its own,
//! never the account password), and leaving it out would make the person type a long
//! password into up to three prompts on a phone — the one-step set-up this exists for. Profile
//! encryption needs the device's certificate, which only an MDM enrolment has. The account page
//! says to delete a downloaded profile file after installing it (a Mac keeps it in Downloads)
//! and to revoke the device's password if the file went astray.

use sha2::{Digest, Sha256};

use super::{MailEndpoints, Security, xml_escape};

/// A linked mail account the profile sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAccount {
    /// The address: shown, used as `From`, and the login name (`MailProxy::login` resolves it).
    pub address: String,
    /// The sender's name.
    pub name: String,
}

/// Where the CalDAV and CardDAV accounts connect (the web's public URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavServer {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// The user's principal as an absolute URL (`…/dav/principals/<user>/`).
    pub principal_url: String,
}

/// Everything one profile holds.
#[derive(Debug, Clone)]
pub struct Profile<'a> {
    /// The top-level `PayloadIdentifier` ([`identifier`]).
    pub identifier: String,
    /// The instance's name (the brand): organisation and account descriptions.
    pub organization: &'a str,
    /// What the person called the device.
    pub device: &'a str,
    /// The Madang user name (CalDAV and CardDAV log in with it).
    pub username: &'a str,
    /// The device's app password.
    pub password: &'a str,
    /// The mail listeners and the accounts to set up; `None` leaves mail out.
    pub mail: Option<(&'a MailEndpoints, &'a [MailAccount])>,
    pub caldav: Option<&'a DavServer>,
    pub carddav: Option<&'a DavServer>,
}

/// A property-list value (Apple's "XML Property List" DTD).
enum Value {
    Str(String),
    Int(u16),
    Bool(bool),
    Array(Vec<Value>),
    Dict(Vec<(&'static str, Value)>),
}

fn s(text: impl Into<String>) -> Value {
    Value::Str(text.into())
}

impl Value {
    fn write(&self, out: &mut String, indent: usize) {
        let pad = "\t".repeat(indent);
        match self {
            Value::Str(text) => out.push_str(&format!("{pad}<string>{}</string>\n", xml_escape(text))),
            Value::Int(n) => out.push_str(&format!("{pad}<integer>{n}</integer>\n")),
            Value::Bool(b) => out.push_str(&format!("{pad}<{}/>\n", if *b { "true" } else { "false" })),
            Value::Array(items) => {
                out.push_str(&format!("{pad}<array>\n"));
                for item in items {
                    item.write(out, indent + 1);
                }
                out.push_str(&format!("{pad}</array>\n"));
            }
            Value::Dict(entries) => {
                out.push_str(&format!("{pad}<dict>\n"));
                for (key, value) in entries {
                    out.push_str(&format!("{pad}\t<key>{key}</key>\n"));
                    value.write(out, indent + 1);
                }
                out.push_str(&format!("{pad}</dict>\n"));
            }
        }
    }
}

/// The stable top-level identifier for `user`'s device named `device`: the web host reversed
/// (`com.example.cal`), then a digest of the user and the device name, so the same person
/// naming the same device again replaces the profile, and no name reaches the identifier.
pub fn identifier(web_host: &str, user_id: i64, device: &str) -> String {
    let mut labels: Vec<String> = web_host
        .split('.')
        .map(|l| l.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>())
        .filter(|l| !l.is_empty())
        .collect();
    // An address literal is no reverse-DNS name.
    if labels.is_empty() || labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        labels = vec!["madang".into()];
    }
    labels.reverse();
    let digest = Sha256::digest(format!("{user_id}\n{}", device.trim().to_lowercase()));
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}.madang.device.{hex}", labels.join("."))
}

/// A random (version 4) UUID, upper-case as Apple writes them.
fn uuid() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

/// The profile as an XML property list.
pub fn write(p: &Profile<'_>) -> Result<String, getrandom::Error> {
    let mut content = Vec::new();
    if let Some(((imap, smtp), accounts)) = p.mail.and_then(|(e, accounts)| Some((e.best()?, accounts))) {
        for (n, account) in accounts.iter().enumerate() {
            content.push(Value::Dict(vec![
                ("PayloadType", s("com.apple.mail.managed")),
                ("PayloadIdentifier", s(format!("{}.mail.{n}", p.identifier))),
                ("PayloadUUID", s(uuid()?)),
                ("PayloadVersion", Value::Int(1)),
                ("PayloadDisplayName", s(format!("{} ({})", account.address, p.organization))),
                ("EmailAccountDescription", s(account.address.clone())),
                ("EmailAccountName", s(account.name.clone())),
                ("EmailAccountType", s("EmailTypeIMAP")),
                ("EmailAddress", s(account.address.clone())),
                ("IncomingMailServerHostName", s(imap.host.clone())),
                ("IncomingMailServerPortNumber", Value::Int(imap.port)),
                ("IncomingMailServerUseSSL", Value::Bool(imap.security == Security::Tls)),
                ("IncomingMailServerAuthentication", s("EmailAuthPassword")),
                ("IncomingMailServerUsername", s(account.address.clone())),
                ("IncomingPassword", s(p.password)),
                ("OutgoingMailServerHostName", s(smtp.host.clone())),
                ("OutgoingMailServerPortNumber", Value::Int(smtp.port)),
                ("OutgoingMailServerUseSSL", Value::Bool(smtp.security == Security::Tls)),
                ("OutgoingMailServerAuthentication", s("EmailAuthPassword")),
                ("OutgoingMailServerUsername", s(account.address.clone())),
                ("OutgoingPassword", s(p.password)),
                ("OutgoingPasswordSameAsIncomingPassword", Value::Bool(true)),
            ]));
        }
    }
    if let Some(dav) = p.caldav {
        content.push(Value::Dict(vec![
            ("PayloadType", s("com.apple.caldav.account")),
            ("PayloadIdentifier", s(format!("{}.caldav", p.identifier))),
            ("PayloadUUID", s(uuid()?)),
            ("PayloadVersion", Value::Int(1)),
            ("PayloadDisplayName", s(format!("{} Calendar", p.organization))),
            ("CalDAVAccountDescription", s(p.organization)),
            ("CalDAVHostName", s(dav.host.clone())),
            ("CalDAVPort", Value::Int(dav.port)),
            ("CalDAVUseSSL", Value::Bool(dav.tls)),
            ("CalDAVPrincipalURL", s(dav.principal_url.clone())),
            ("CalDAVUsername", s(p.username)),
            ("CalDAVPassword", s(p.password)),
        ]));
    }
    if let Some(dav) = p.carddav {
        content.push(Value::Dict(vec![
            ("PayloadType", s("com.apple.carddav.account")),
            ("PayloadIdentifier", s(format!("{}.carddav", p.identifier))),
            ("PayloadUUID", s(uuid()?)),
            ("PayloadVersion", Value::Int(1)),
            ("PayloadDisplayName", s(format!("{} Contacts", p.organization))),
            ("CardDAVAccountDescription", s(p.organization)),
            ("CardDAVHostName", s(dav.host.clone())),
            ("CardDAVPort", Value::Int(dav.port)),
            ("CardDAVUseSSL", Value::Bool(dav.tls)),
            ("CardDAVPrincipalURL", s(dav.principal_url.clone())),
            ("CardDAVUsername", s(p.username)),
            ("CardDAVPassword", s(p.password)),
        ]));
    }
    let top = Value::Dict(vec![
        ("PayloadType", s("Configuration")),
        ("PayloadVersion", Value::Int(1)),
        ("PayloadIdentifier", s(p.identifier.clone())),
        ("PayloadUUID", s(uuid()?)),
        ("PayloadDisplayName", s(format!("{} — {}", p.organization, p.device))),
        ("PayloadDescription", s(format!("{} for {} on {}", p.organization, p.username, p.device))),
        ("PayloadOrganization", s(p.organization)),
        ("PayloadRemovalDisallowed", Value::Bool(false)),
        ("PayloadContent", Value::Array(content)),
    ]);
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n",
    );
    top.write(&mut out, 0);
    out.push_str("</plist>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_stable_per_user_and_device() {
        let a = identifier("cal.example.com", 7, "Kim's iPhone");
        assert!(a.starts_with("com.example.cal.madang.device."), "{a}");
        assert_eq!(a, identifier("cal.example.com", 7, " kim's iphone "));
        assert_ne!(a, identifier("cal.example.com", 8, "Kim's iPhone"));
        assert_ne!(a, identifier("cal.example.com", 7, "Kim's iPad"));
        assert!(identifier("127.0.0.1", 7, "x").starts_with("madang.madang.device."));
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "A" | "B"), "{u}");
        assert_ne!(u, uuid().unwrap());
    }
}
