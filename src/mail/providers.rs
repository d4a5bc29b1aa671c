//! Settings of common mail providers, so linking an account usually needs only the address and
//! a password (or an app password where the provider requires one).
//!
//! Sources, in the order they are tried: each provider's published IMAP/SMTP settings (Gmail,
//! Outlook/Microsoft 365, iCloud, Yahoo, Fastmail, Naver, Daum/Kakao); then what the domain's DNS
//! says (`discover.rs`: RFC 6186 SRV records, else MX records pointing at Google Workspace or
//! Microsoft 365); anything else falls back to `imap.<domain>` / `smtp.<domain>`, which the
//! connection test then confirms or refutes. `source` tells the user which one it was.

use serde::Serialize;
use utoipa::ToSchema;

use super::connect::Security;
use super::discover::{Found, Hosted, Side};

/// Where suggested settings came from, so the user knows how far to trust them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Madang's table of known providers.
    Table,
    /// The domain's own SRV records (RFC 6186): its administrator published them.
    Srv,
    /// The domain's MX records point at a known host (Google Workspace, Microsoft 365).
    Mx,
    /// `imap.<domain>` / `smtp.<domain>`: only the connection test can tell.
    Guess,
}

/// Suggested settings for an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Suggestion {
    /// The provider's name, or `null` when the servers belong to no provider Madang knows.
    pub provider: Option<&'static str>,
    pub source: Source,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_security: Security,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: Security,
    /// Whether the user name is the whole address (`false`: the part before `@`).
    pub username_is_address: bool,
    /// What the user should know first (app passwords, IMAP switched off by default).
    pub note: Option<&'static str>,
    /// The OAuth provider (`POST /api/v1/mail/oauth/start`) that signs in to these servers,
    /// when this server has one configured: then no password is needed.
    pub oauth: Option<String>,
}

struct Provider {
    name: &'static str,
    domains: &'static [&'static str],
    imap: (&'static str, u16, Security),
    smtp: (&'static str, u16, Security),
    username_is_address: bool,
    note: Option<&'static str>,
}

const PROVIDERS: &[Provider] = &[
    Provider {
        name: "Gmail",
        domains: &["gmail.com", "googlemail.com"],
        imap: ("imap.gmail.com", 993, Security::Tls),
        smtp: ("smtp.gmail.com", 465, Security::Tls),
        username_is_address: true,
        note: Some("Google accepts an app password (with 2-Step Verification on) or OAuth, not the account password."),
    },
    Provider {
        name: "Outlook / Microsoft 365",
        domains: &["outlook.com", "hotmail.com", "live.com", "msn.com"],
        imap: ("outlook.office365.com", 993, Security::Tls),
        smtp: ("smtp.office365.com", 587, Security::Starttls),
        username_is_address: true,
        note: Some("Microsoft has switched off password sign-in for IMAP: OAuth is needed."),
    },
    Provider {
        name: "iCloud",
        domains: &["icloud.com", "me.com", "mac.com"],
        imap: ("imap.mail.me.com", 993, Security::Tls),
        smtp: ("smtp.mail.me.com", 587, Security::Starttls),
        username_is_address: true,
        note: Some("iCloud needs an app-specific password (appleid.apple.com)."),
    },
    Provider {
        name: "Yahoo",
        domains: &["yahoo.com", "ymail.com"],
        imap: ("imap.mail.yahoo.com", 993, Security::Tls),
        smtp: ("smtp.mail.yahoo.com", 465, Security::Tls),
        username_is_address: true,
        note: Some("Yahoo needs an app password."),
    },
    Provider {
        name: "Fastmail",
        domains: &["fastmail.com", "fastmail.fm"],
        imap: ("imap.fastmail.com", 993, Security::Tls),
        smtp: ("smtp.fastmail.com", 465, Security::Tls),
        username_is_address: true,
        note: Some("Fastmail needs an app password."),
    },
    Provider {
        name: "Naver",
        domains: &["naver.com"],
        imap: ("imap.naver.com", 993, Security::Tls),
        smtp: ("smtp.naver.com", 465, Security::Tls),
        username_is_address: false,
        note: Some("Turn on IMAP/SMTP in Naver Mail's settings first; with 2-step verification use an app password."),
    },
    Provider {
        name: "Daum / Kakao",
        domains: &["daum.net", "hanmail.net", "kakao.com"],
        imap: ("imap.daum.net", 993, Security::Tls),
        smtp: ("smtp.daum.net", 465, Security::Tls),
        username_is_address: false,
        note: Some("Turn on IMAP in Daum Mail's settings first."),
    },
];

/// The domain of `email`, lower case; `None` when there is none or it has no dot.
pub fn domain_of(email: &str) -> Option<String> {
    let domain = email.rsplit_once('@')?.1.trim().trim_end_matches('.').to_ascii_lowercase();
    (!domain.is_empty() && domain.contains('.')).then_some(domain)
}

fn from_table(p: &Provider, source: Source) -> Suggestion {
    Suggestion {
        provider: Some(p.name),
        source,
        imap_host: p.imap.0.into(),
        imap_port: p.imap.1,
        imap_security: p.imap.2,
        smtp_host: p.smtp.0.into(),
        smtp_port: p.smtp.1,
        smtp_security: p.smtp.2,
        username_is_address: p.username_is_address,
        note: p.note,
        oauth: None,
    }
}

/// A known provider's settings for `domain`.
pub fn known(domain: &str) -> Option<Suggestion> {
    PROVIDERS.iter().find(|p| p.domains.contains(&domain)).map(|p| from_table(p, Source::Table))
}

/// `imap.<domain>` and `smtp.<domain>` with implicit TLS (RFC 8314 §3.3 and §3.1 ports).
pub fn guess(domain: &str) -> Suggestion {
    Suggestion {
        provider: None,
        source: Source::Guess,
        imap_host: format!("imap.{domain}"),
        imap_port: 993,
        imap_security: Security::Tls,
        smtp_host: format!("smtp.{domain}"),
        smtp_port: 465,
        smtp_security: Security::Tls,
        username_is_address: true,
        note: None,
        oauth: None,
    }
}

/// Settings for `email` without asking DNS: a known provider's, else a guess from its domain.
/// `None` when the address has no domain.
pub fn suggest(email: &str) -> Option<Suggestion> {
    let domain = domain_of(email)?;
    Some(known(&domain).unwrap_or_else(|| guess(&domain)))
}

/// Settings from what `domain`'s DNS says, `None` when it says nothing useful. A side the SRV
/// records leave out keeps the guess; one they say is not offered keeps it too, with a note.
pub fn from_dns(domain: &str, found: &Found) -> Option<Suggestion> {
    match found {
        Found::Nothing => None,
        Found::Hosted(hosted) => {
            let (table_name, name, note) = match hosted {
                Hosted::Google => ("Gmail", "Google Workspace", GOOGLE_WORKSPACE_NOTE),
                Hosted::Microsoft => ("Outlook / Microsoft 365", "Microsoft 365", MICROSOFT_365_NOTE),
            };
            let p = PROVIDERS.iter().find(|p| p.name == table_name)?;
            Some(Suggestion { provider: Some(name), note: Some(note), ..from_table(p, Source::Mx) })
        }
        Found::Srv { imap, smtp } => {
            let mut s = Suggestion { source: Source::Srv, ..guess(domain) };
            if let Side::Server { host, port, security } = imap {
                (s.imap_host, s.imap_port, s.imap_security) = (host.clone(), *port, *security);
                // A domain may point its SRV records at a provider's servers: say which, with
                // what to know first.
                if let Some(p) = PROVIDERS.iter().find(|p| p.imap.0.eq_ignore_ascii_case(host)) {
                    (s.provider, s.note, s.username_is_address) = (Some(p.name), p.note, p.username_is_address);
                }
            }
            if let Side::Server { host, port, security } = smtp {
                (s.smtp_host, s.smtp_port, s.smtp_security) = (host.clone(), *port, *security);
            }
            s.note = match (imap, smtp) {
                (Side::NotOffered, Side::NotOffered) => Some(
                    "This domain's DNS says it offers neither IMAP nor mail submission (RFC 6186): these settings are only a guess.",
                ),
                (Side::NotOffered, _) => Some(
                    "This domain's DNS says it offers no IMAP service (RFC 6186): the IMAP settings are only a guess.",
                ),
                (_, Side::NotOffered) => Some(
                    "This domain's DNS says it offers no mail submission (RFC 6186): the SMTP settings are only a guess.",
                ),
                _ => s.note,
            };
            Some(s)
        }
    }
}

const GOOGLE_WORKSPACE_NOTE: &str = "This domain's mail is at Google Workspace (its MX records say so): sign in with Google, or use an app password (with 2-Step Verification on); the Workspace administrator may have to allow IMAP.";
const MICROSOFT_365_NOTE: &str = "This domain's mail is at Microsoft 365 (its MX records say so): Microsoft has switched off password sign-in for IMAP, so OAuth is needed.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_providers_and_a_guess() {
        let gmail = suggest("Someone@GMail.com").unwrap();
        assert_eq!((gmail.provider, gmail.imap_host.as_str(), gmail.imap_port), (Some("Gmail"), "imap.gmail.com", 993));
        let naver = suggest("kim@naver.com").unwrap();
        assert!(!naver.username_is_address);
        let hanmail = suggest("lee@hanmail.net").unwrap();
        assert_eq!(hanmail.imap_host, "imap.daum.net");
        let other = suggest("a@example.co.kr").unwrap();
        assert_eq!((other.provider, other.smtp_host.as_str()), (None, "smtp.example.co.kr"));
        assert_eq!(suggest("nobody"), None);
        assert_eq!(suggest("a@localhost"), None);
        assert_eq!((gmail.source, other.source), (Source::Table, Source::Guess));
    }

    #[test]
    fn settings_from_dns() {
        let server = |host: &str, port, security| Side::Server { host: host.into(), port, security };
        assert_eq!(from_dns("example.test", &Found::Nothing), None);
        // Both sides from SRV.
        let both = Found::Srv {
            imap: server("mail.example.test", 993, Security::Tls),
            smtp: server("smtp.example.test", 587, Security::Starttls),
        };
        let s = from_dns("example.test", &both).unwrap();
        assert_eq!((s.source, s.provider, s.note), (Source::Srv, None, None));
        assert_eq!((s.imap_host.as_str(), s.imap_port, s.imap_security), ("mail.example.test", 993, Security::Tls));
        assert_eq!(
            (s.smtp_host.as_str(), s.smtp_port, s.smtp_security),
            ("smtp.example.test", 587, Security::Starttls)
        );
        // SRV pointing at a known provider's servers names it; a missing side keeps the guess.
        let at_fastmail = Found::Srv { imap: server("IMAP.fastmail.com", 993, Security::Tls), smtp: Side::Unknown };
        let s = from_dns("example.test", &at_fastmail).unwrap();
        assert_eq!((s.provider, s.smtp_host.as_str()), (Some("Fastmail"), "smtp.example.test"));
        assert!(s.note.unwrap().contains("app password"));
        // Not offered: a guess, and a note saying so.
        let no_imap = Found::Srv { imap: Side::NotOffered, smtp: server("smtp.example.test", 465, Security::Tls) };
        let s = from_dns("example.test", &no_imap).unwrap();
        assert_eq!(s.imap_host, "imap.example.test");
        assert!(s.note.unwrap().contains("no IMAP"));
        // MX at Google or Microsoft: their settings under the business product's name.
        let s = from_dns("example.test", &Found::Hosted(Hosted::Google)).unwrap();
        assert_eq!(
            (s.source, s.provider, s.imap_host.as_str()),
            (Source::Mx, Some("Google Workspace"), "imap.gmail.com")
        );
        let s = from_dns("example.test", &Found::Hosted(Hosted::Microsoft)).unwrap();
        assert_eq!((s.provider, s.imap_host.as_str()), (Some("Microsoft 365"), "outlook.office365.com"));
    }
}
