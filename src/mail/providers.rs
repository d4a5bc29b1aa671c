//! Settings of common mail providers, so linking an account usually needs only the address and
//! a password (or an app password where the provider requires one).
//!
//! Sources: each provider's published IMAP/SMTP settings (Gmail, Outlook/Microsoft 365, iCloud,
//! Yahoo, Fastmail, Naver, Daum/Kakao). Anything else falls back to `imap.<domain>` /
//! `smtp.<domain>`, which the connection test then confirms or refutes.

use serde::Serialize;
use utoipa::ToSchema;

use super::connect::Security;

/// Suggested settings for an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Suggestion {
    /// The provider's name, or `null` for a guess from the domain.
    pub provider: Option<&'static str>,
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

/// Settings for `email`: a known provider's, else a guess from its domain. `None` when the
/// address has no domain.
pub fn suggest(email: &str) -> Option<Suggestion> {
    let domain = email.rsplit_once('@')?.1.trim().to_ascii_lowercase();
    if domain.is_empty() || !domain.contains('.') {
        return None;
    }
    if let Some(p) = PROVIDERS.iter().find(|p| p.domains.contains(&domain.as_str())) {
        return Some(Suggestion {
            provider: Some(p.name),
            imap_host: p.imap.0.into(),
            imap_port: p.imap.1,
            imap_security: p.imap.2,
            smtp_host: p.smtp.0.into(),
            smtp_port: p.smtp.1,
            smtp_security: p.smtp.2,
            username_is_address: p.username_is_address,
            note: p.note,
            oauth: None,
        });
    }
    Some(Suggestion {
        provider: None,
        imap_host: format!("imap.{domain}"),
        imap_port: 993,
        imap_security: Security::Tls,
        smtp_host: format!("smtp.{domain}"),
        smtp_port: 465,
        smtp_security: Security::Tls,
        username_is_address: true,
        note: None,
        oauth: None,
    })
}

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
    }
}
