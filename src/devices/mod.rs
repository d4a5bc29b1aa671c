//! Device set-up (issue 15): what mail, calendar and contacts apps are told so that one step
//! sets them up — Mozilla autoconfig, Microsoft Autodiscover (POX) and the Apple configuration
//! profile.
//!
//! A domain service below the doors (`../shared/LAYERS.md`): it takes the values it needs
//! (the `[mailproxy]` settings, the public URL, names) and writes documents; it knows neither
//! `AppState` nor HTTP. The doors are `http::autoconfig` (the well-known URLs mail apps fetch
//! on their own) and `web::devices` (the account page that hands out the profile).
//!
//! What is advertised comes from the configured listeners only: implicit TLS first (RFC 8314
//! §5.1: `imaps` and `submissions` are preferred), STARTTLS as an alternative, and never a
//! cleartext socket. Mail apps log in with the e-mail address (`%EMAILADDRESS%`), which
//! `mailproxy::MailProxy::login` resolves to the Madang user who owns it or linked it; every
//! answer is the same whichever address is asked about, so no endpoint tells whether an
//! address has an account.

pub mod autoconfig;
pub mod autodiscover;
pub mod profile;

use crate::config::MailProxyConfig;

/// How a mail app secures a connection to one of Madang's listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (993, 465: RFC 8314 §3).
    Tls,
    /// Plain first, then `STARTTLS` (143, 587), which Madang requires before login.
    StartTls,
}

/// One listener as a mail app reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

/// Where mail apps connect: IMAP and SMTP submission, each best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailEndpoints {
    pub imap: Vec<Endpoint>,
    pub smtp: Vec<Endpoint>,
}

impl MailEndpoints {
    /// The configured listeners under `mailproxy.hostname`, implicit TLS first. `None` unless
    /// there is at least one IMAP and one SMTP listener: a mail app needs both, and Thunderbird
    /// for Android rejects an autoconfig document that lacks either.
    pub fn from_config(config: &MailProxyConfig) -> Option<MailEndpoints> {
        let host = config.hostname.clone();
        let list = |tls: Option<std::net::SocketAddr>, starttls: Option<std::net::SocketAddr>| -> Vec<Endpoint> {
            let tls = tls.map(|a| Endpoint { host: host.clone(), port: a.port(), security: Security::Tls });
            let starttls =
                starttls.map(|a| Endpoint { host: host.clone(), port: a.port(), security: Security::StartTls });
            tls.into_iter().chain(starttls).collect()
        };
        let imap = list(config.imaps_listen, config.imap_listen);
        let smtp = list(config.submissions_listen, config.submission_listen);
        (!imap.is_empty() && !smtp.is_empty()).then_some(MailEndpoints { imap, smtp })
    }

    /// The preferred IMAP and SMTP endpoints (`None` only for lists built by hand empty).
    pub fn best(&self) -> Option<(&Endpoint, &Endpoint)> {
        Some((self.imap.first()?, self.smtp.first()?))
    }
}

/// Whether `name` is a DNS host name mail apps accept: letters, digits and hyphens in labels
/// of 1 to 63 characters that neither start nor end with a hyphen, at most 253 characters
/// (RFC 1123 §2.1). Thunderbird and Thunderbird for Android reject an autoconfig document
/// whose `emailProvider id` or `domain` is anything else.
pub fn is_hostname(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The domain of an e-mail address, lower-cased, if the address has one that is a host name.
pub fn domain_of(address: &str) -> Option<String> {
    let (local, domain) = address.trim().rsplit_once('@')?;
    let domain = domain.to_ascii_lowercase();
    (!local.is_empty() && local.len() <= 64 && is_hostname(&domain)).then_some(domain)
}

/// The domain a request's `Host` names: the port dropped, and the `autoconfig.` or
/// `autodiscover.` label that the DNS names mail apps try put in front of the user's domain.
pub fn domain_of_host(host: &str) -> Option<String> {
    let host = host.trim().to_ascii_lowercase();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
        _ => host,
    };
    let host = host.strip_suffix('.').unwrap_or(&host);
    let domain = host.strip_prefix("autoconfig.").or_else(|| host.strip_prefix("autodiscover.")).unwrap_or(host);
    is_hostname(domain).then(|| domain.to_string())
}

/// Text escaped for XML character data and attribute values: `madang_dav`'s escaping, after
/// dropping the control characters XML 1.0 cannot carry at all (§2.2). None come from Madang's own
/// values; a name a user typed loses them rather than breaking the document.
pub(crate) fn xml_escape(text: &str) -> String {
    let kept: String = text.chars().filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')).collect();
    madang_dav::xml::escape_attr(&kept).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(imaps: Option<u16>, imap: Option<u16>, subs: Option<u16>, sub: Option<u16>) -> MailProxyConfig {
        let addr = |p: Option<u16>| p.map(|p| std::net::SocketAddr::from(([0, 0, 0, 0], p)));
        MailProxyConfig {
            imaps_listen: addr(imaps),
            imap_listen: addr(imap),
            submissions_listen: addr(subs),
            submission_listen: addr(sub),
            hostname: "mail.example.com".into(),
            ..MailProxyConfig::default()
        }
    }

    #[test]
    fn implicit_tls_comes_first_and_both_protocols_are_needed() {
        let e = MailEndpoints::from_config(&config(Some(993), Some(143), Some(465), Some(587))).unwrap();
        let ports: Vec<(u16, Security)> = e.imap.iter().chain(&e.smtp).map(|e| (e.port, e.security)).collect();
        assert_eq!(
            ports,
            [(993, Security::Tls), (143, Security::StartTls), (465, Security::Tls), (587, Security::StartTls)]
        );
        assert!(e.imap.iter().all(|e| e.host == "mail.example.com"));
        let starttls_only = MailEndpoints::from_config(&config(None, Some(1143), None, Some(1587))).unwrap();
        assert_eq!(starttls_only.best().map(|(imap, _)| imap.security), Some(Security::StartTls));
        assert_eq!(MailEndpoints::from_config(&config(Some(993), None, None, None)), None);
        assert_eq!(MailEndpoints::from_config(&config(None, None, None, None)), None);
    }

    #[test]
    fn domains_come_from_addresses_and_hosts() {
        assert_eq!(domain_of("Kim@Example.COM").as_deref(), Some("example.com"));
        assert_eq!(domain_of("kim@"), None);
        assert_eq!(domain_of("@example.com"), None);
        assert_eq!(domain_of("kim@exa mple.com"), None);
        assert_eq!(domain_of("kim@-bad.example"), None);
        assert_eq!(domain_of_host("autoconfig.example.com:443").as_deref(), Some("example.com"));
        assert_eq!(domain_of_host("Autodiscover.Example.com").as_deref(), Some("example.com"));
        assert_eq!(domain_of_host("example.com.").as_deref(), Some("example.com"));
        assert_eq!(domain_of_host("[::1]:8080"), None);
        assert_eq!(domain_of_host("exa_mple.com"), None);
        assert!(is_hostname("127.0.0.1"));
        assert!(!is_hostname(&"a".repeat(64)));
    }

    #[test]
    fn escaping_keeps_documents_well_formed() {
        assert_eq!(xml_escape("a<b>&\"c'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c'&#10;");
    }
}
