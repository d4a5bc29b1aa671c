//! Microsoft Autodiscover, the "plain old XML" form ([MS-OXDSCLI] §2.2.4; Thunderbird's
//! `ExchangeAutoDiscover.sys.mjs` reads it after autoconfig fails): the request names an
//! e-mail address, the answer gives IMAP and SMTP settings for it.
//!
//! The request is read with `madang_dav::xml`'s bounded tree (quick-xml underneath: no
//! DOCTYPE, so no entity expansion; depth, element and attribute counts capped); the caller
//! bounds the body's size. Element names are matched by local name: Thunderbird and Outlook
//! send the `…/outlook/requestschema/2006` namespace, other clients vary.
//!
//! The answer: `AccountType` `email`, `Action` `settings`, one `Protocol` per listener, best
//! first, each with `SSL on` and `SPA off` — SPA (NTLM) defaults to on, and Thunderbird would
//! then not send a plain password — and `AuthRequired on`. Thunderbird decides STARTTLS or
//! implicit TLS from the port (143 and 587 are STARTTLS, anything else TLS); the implicit-TLS
//! listener comes first so that guess only matters for an alternative.

use madang_dav::xml::{Element, parse_document};

use super::{Endpoint, MailEndpoints, xml_escape};

/// The largest request body read; a real one is about 400 bytes.
pub const MAX_REQUEST_SIZE: usize = 16 * 1024;

/// The namespaces of the answer ([MS-OXDSCLI] §2.2.4.2).
const RESPONSE_NS: &str = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
const OUTLOOK_NS: &str = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// Why a request was refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    #[error("the body is not well-formed XML: {0}")]
    Xml(String),
    #[error("the body is not an Autodiscover request with an EMailAddress")]
    NotARequest,
    #[error("EMailAddress is not an e-mail address")]
    BadAddress,
}

/// The address an Autodiscover request asks about (`Autodiscover/Request/EMailAddress`).
pub fn parse_request(body: &[u8]) -> Result<String, BadRequest> {
    let root = parse_document(body).map_err(|e| BadRequest::Xml(e.to_string()))?.ok_or(BadRequest::NotARequest)?;
    let child = |e: &Element, local: &str| e.elements().find(|c| c.name.local == local).cloned();
    if root.name.local != "Autodiscover" {
        return Err(BadRequest::NotARequest);
    }
    let request = child(&root, "Request").ok_or(BadRequest::NotARequest)?;
    let address = child(&request, "EMailAddress").ok_or(BadRequest::NotARequest)?.text().trim().to_string();
    if address.len() > 320 || super::domain_of(&address).is_none() {
        return Err(BadRequest::BadAddress);
    }
    Ok(address)
}

/// The answer for `address`: the same servers whoever asks, with the address as login name.
pub fn write_response(address: &str, endpoints: &MailEndpoints) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str(&format!("<Autodiscover xmlns=\"{RESPONSE_NS}\">\n  <Response xmlns=\"{OUTLOOK_NS}\">\n"));
    out.push_str("    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n");
    for e in &endpoints.imap {
        protocol(&mut out, "IMAP", e, address);
    }
    for e in &endpoints.smtp {
        protocol(&mut out, "SMTP", e, address);
    }
    out.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    out
}

fn protocol(out: &mut String, kind: &str, e: &Endpoint, address: &str) {
    out.push_str(&format!(
        "      <Protocol>\n        <Type>{kind}</Type>\n        <Server>{}</Server>\n        <Port>{}</Port>\n        \
         <LoginName>{}</LoginName>\n        <SSL>on</SSL>\n        <SPA>off</SPA>\n        \
         <AuthRequired>on</AuthRequired>\n      </Protocol>\n",
        xml_escape(&e.host),
        e.port,
        xml_escape(address),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    const THUNDERBIRD: &str = r#"<?xml version="1.0" encoding="utf-8"?>
    <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
      <Request>
        <EMailAddress>kim@example.com</EMailAddress>
        <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
      </Request>
    </Autodiscover>"#;

    #[test]
    fn thunderbirds_request_names_the_address() {
        assert_eq!(parse_request(THUNDERBIRD.as_bytes()).as_deref(), Ok("kim@example.com"));
    }

    #[test]
    fn anything_else_is_refused() {
        for (body, want) in [
            ("<Autodiscover><Request>", "xml"),
            ("", "request"),
            ("<Other><Request><EMailAddress>kim@example.com</EMailAddress></Request></Other>", "request"),
            ("<Autodiscover><Request/></Autodiscover>", "request"),
            ("<Autodiscover><Request><EMailAddress>kim</EMailAddress></Request></Autodiscover>", "address"),
            (
                r#"<!DOCTYPE a [<!ENTITY x "y">]><Autodiscover><Request><EMailAddress>&x;@a.b</EMailAddress></Request></Autodiscover>"#,
                "xml",
            ),
        ] {
            let got = parse_request(body.as_bytes());
            let kind = match got {
                Err(BadRequest::Xml(_)) => "xml",
                Err(BadRequest::NotARequest) => "request",
                Err(BadRequest::BadAddress) => "address",
                Ok(_) => "ok",
            };
            assert_eq!(kind, want, "{body}");
        }
    }
}
