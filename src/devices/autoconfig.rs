//! Mozilla autoconfig (`config-v1.1.xml`), the document Thunderbird, Thunderbird for Android and
//! other mail apps fetch from `autoconfig.<domain>` or `<domain>/.well-known/autoconfig/`.
//!
//! What the readers require (docs/clients.md, CLIENTS.md): `emailProvider id` a valid host name
//! with at least one valid `<domain>`; each server with hostname, port, socketType `SSL` or
//! `STARTTLS` — never `plain`, which makes Thunderbird for Android reject the whole document —
//! username `%EMAILADDRESS%` and `password-cleartext` (the password travels inside TLS). No
//! `<password>` element, ever. Servers are listed best first; Thunderbird takes the first
//! and keeps the rest as alternatives, Thunderbird for Android takes the first.

use super::{Endpoint, MailEndpoints, Security, xml_escape};

/// The document for `domain` (already checked with [`super::is_hostname`]). `display_name`
/// is what the app shows for the provider (the instance's brand).
pub fn write(domain: &str, display_name: &str, endpoints: &MailEndpoints) -> String {
    let domain = xml_escape(domain);
    let name = xml_escape(display_name);
    let mut out = String::with_capacity(1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n");
    out.push_str(&format!("  <emailProvider id=\"{domain}\">\n    <domain>{domain}</domain>\n"));
    out.push_str(&format!("    <displayName>{name}</displayName>\n    <displayShortName>{name}</displayShortName>\n"));
    for e in &endpoints.imap {
        server(&mut out, "incomingServer", "imap", e);
    }
    for e in &endpoints.smtp {
        server(&mut out, "outgoingServer", "smtp", e);
    }
    out.push_str("  </emailProvider>\n</clientConfig>\n");
    out
}

fn server(out: &mut String, element: &str, kind: &str, e: &Endpoint) {
    let socket = match e.security {
        Security::Tls => "SSL",
        Security::StartTls => "STARTTLS",
    };
    out.push_str(&format!(
        "    <{element} type=\"{kind}\">\n      <hostname>{}</hostname>\n      <port>{}</port>\n      \
         <socketType>{socket}</socketType>\n      <username>%EMAILADDRESS%</username>\n      \
         <authentication>password-cleartext</authentication>\n    </{element}>\n",
        xml_escape(&e.host),
        e.port,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_is_tls_with_the_address_as_user_name() {
        let e = |port, security| Endpoint { host: "mail.example.com".into(), port, security };
        let endpoints = MailEndpoints {
            imap: vec![e(993, Security::Tls), e(143, Security::StartTls)],
            smtp: vec![e(465, Security::Tls)],
        };
        let xml = write("example.com", "Madang & Co", &endpoints);
        assert!(xml.contains(r#"<emailProvider id="example.com">"#), "{xml}");
        assert!(xml.contains("<displayName>Madang &amp; Co</displayName>"), "{xml}");
        assert_eq!(xml.matches("<incomingServer type=\"imap\">").count(), 2);
        assert_eq!(xml.matches("<outgoingServer type=\"smtp\">").count(), 1);
        assert_eq!(xml.matches("<username>%EMAILADDRESS%</username>").count(), 3);
        assert!(xml.find("<port>993</port>") < xml.find("<port>143</port>"));
        assert!(!xml.contains("plain") && !xml.contains("<password"), "{xml}");
    }
}
