//! What the reader shows of a message: its text, its HTML sanitised, its attachments.
//!
//! HTML from outside is cleaned with ammonia's allow-list (no script, no forms, no event
//! handlers, no style sheets; inline `style` kept unless it can load anything). Remote images
//! never load from the reader's browser directly: their URLs are dropped (and `remote_images`
//! says there were some) unless the caller gives a rewrite to its signed image proxy; `cid:`
//! images (RFC 2392) are rewritten to the caller's attachment URL.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};
use serde::Serialize;

use crate::parts::{self, Assembled, PartRef};
use crate::summary::clean_line;
use crate::{Addr, addrs};

/// An attachment (or an inline part with a name or a Content-ID) of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// The part's number in the parsed message: what [`part`] takes.
    pub part: u32,
    /// The file name, or one made from the type.
    pub name: String,
    pub content_type: String,
    /// Decoded bytes.
    pub size: usize,
    /// Shown inside the HTML (`cid:`) rather than listed.
    pub inline: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
}

/// A message for reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Body {
    pub from: Vec<Addr>,
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub subject: String,
    pub message_id: Option<String>,
    pub references: Vec<String>,
    /// The plain text (from the HTML when the message has none).
    pub text: String,
    /// The HTML, sanitised; `None` for a plain-text message.
    pub html: Option<String>,
    /// The HTML referred to remote images that were not loaded.
    pub remote_images: bool,
    pub attachments: Vec<Attachment>,
}

/// Rewrites a remote `http(s)` image URL to the proxy's; `None` drops the image (a URL the
/// proxy would refuse anyway, such as one too long).
pub type ProxyUrl = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;
/// The URL the reader loads a part of this message from (by its number), for `cid:` images.
pub type PartUrl = Arc<dyn Fn(u32) -> String + Send + Sync>;

/// How the HTML's images are shown.
#[derive(Clone)]
pub struct Images {
    /// `None` blocks remote images.
    pub proxy: Option<ProxyUrl>,
    pub part_url: PartUrl,
}

/// Parses a whole message (`None` when it is not one at all).
pub fn read(raw: &[u8], images: &Images) -> Option<Body> {
    let message = MessageParser::default().parse(raw)?;
    Some(read_parsed(&message, images, &|_, part| part.len()))
}

/// Parses a message put back together from its parts ([`crate::parts::assemble`]): as
/// [`read`], with the sizes of the parts left out estimated from their encoded size.
pub fn read_assembled(assembled: &Assembled, images: &Images) -> Option<Body> {
    let message = MessageParser::default().parse(&assembled.raw)?;
    Some(read_parsed(&message, images, &|_, part| match assembled.leaf_at(part.offset_header as usize) {
        Some(leaf) if !leaf.fetched => parts::decoded_size(leaf.encoding, leaf.octets) as usize,
        _ => part.len(),
    }))
}

/// What [`read_parsed`] gives as a part's decoded size.
type SizeOf<'a> = dyn Fn(u32, &MessagePart<'_>) -> usize + 'a;

fn read_parsed(message: &Message<'_>, images: &Images, size_of: &SizeOf<'_>) -> Body {
    let attachments: Vec<Attachment> = message
        .attachments
        .iter()
        .filter_map(|&id| {
            let part = message.parts.get(id as usize)?;
            let content_type = part
                .content_type()
                .map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{}", c.ctype(), sub),
                    None => c.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase();
            let content_id = part.content_id().map(|c| c.trim_matches(['<', '>']).to_string());
            let disposition_inline =
                part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"));
            let name = part
                .attachment_name()
                .map(|n| clean_line(n).replace(['/', '\\'], "_"))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("part-{id}.{}", content_type.rsplit('/').next().unwrap_or("bin")));
            Some(Attachment {
                part: id,
                name,
                size: size_of(id, part),
                inline: content_id.is_some() && (disposition_inline || part.content_disposition().is_none()),
                content_type,
                content_id,
            })
        })
        .collect();
    let html = match message.html_body.first().and_then(|&id| message.parts.get(id as usize)) {
        Some(part) => match &part.body {
            PartType::Html(h) => Some(h.as_ref()),
            _ => None,
        },
        None => None,
    };
    let remote = Arc::new(AtomicBool::new(false));
    let cids: Arc<HashMap<String, u32>> =
        Arc::new(attachments.iter().filter_map(|a: &Attachment| Some((a.content_id.clone()?, a.part))).collect());
    let html = html.map(|h| sanitize(h, images, cids, remote.clone()));
    Body {
        from: addrs(message.from()),
        to: addrs(message.to()),
        cc: addrs(message.cc()),
        reply_to: addrs(message.reply_to()),
        subject: clean_line(message.subject().unwrap_or_default()),
        message_id: message.message_id().map(str::to_string),
        references: match message.references() {
            mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
            mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        },
        text: message.body_text(0).map(Cow::into_owned).unwrap_or_default(),
        html,
        remote_images: remote.load(Ordering::Relaxed),
        attachments,
    }
}

fn no_images() -> Images {
    Images { proxy: None, part_url: Arc::new(|p| p.to_string()) }
}

/// Attachment `id` of a parsed message, as the reader lists it, with its part.
fn attachment<'m>(message: &'m Message<'m>, id: u32) -> Option<(&'m MessagePart<'m>, Attachment)> {
    let attachment =
        read_parsed(message, &no_images(), &|_, part| part.len()).attachments.into_iter().find(|a| a.part == id)?;
    Some((message.parts.get(id as usize)?, attachment))
}

/// One part's decoded bytes, file name and type (an attachment download).
pub fn part(raw: &[u8], id: u32) -> Option<(Vec<u8>, Attachment)> {
    let message = MessageParser::default().parse(raw)?;
    let (part, attachment) = attachment(&message, id)?;
    Some((part.contents().to_vec(), attachment))
}

/// Where an attachment of an assembled message is: its bytes when they were fetched with the
/// text, or the section to fetch them from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartSource {
    Here(Vec<u8>),
    Server(PartRef),
}

/// One attachment of an assembled message, by its number.
pub fn assembled_part(assembled: &Assembled, id: u32) -> Option<(PartSource, Attachment)> {
    let message = MessageParser::default().parse(&assembled.raw)?;
    let (part, attachment) = attachment(&message, id)?;
    let source = match assembled.leaf_at(part.offset_header as usize) {
        Some(leaf) if !leaf.fetched => PartSource::Server(leaf.clone()),
        _ => PartSource::Here(part.contents().to_vec()),
    };
    Some((source, attachment))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Elements e-mail HTML uses for layout, on top of ammonia's defaults.
const EXTRA_TAGS: &[&str] = &["center", "font"];
/// Presentational attributes e-mail HTML relies on, allowed on every element.
const GENERIC_ATTRIBUTES: &[&str] = &[
    "style",
    "align",
    "valign",
    "width",
    "height",
    "bgcolor",
    "color",
    "border",
    "cellpadding",
    "cellspacing",
    "dir",
    "face",
    "size",
];

/// A `style` value that cannot make the browser fetch anything or run anything.
fn safe_style(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    !["url(", "expression", "@import", "behavior", "javascript:", "image-set(", "\\"].iter().any(|bad| v.contains(bad))
}

fn sanitize(html: &str, images: &Images, cids: Arc<HashMap<String, u32>>, remote: Arc<AtomicBool>) -> String {
    let images = images.clone();
    let mut b = ammonia::Builder::default();
    b.add_tags(EXTRA_TAGS.iter().copied());
    b.add_generic_attributes(GENERIC_ATTRIBUTES.iter().copied());
    b.add_tag_attributes("img", ["alt", "title"]);
    b.url_schemes(["http", "https", "mailto", "cid", "data", "tel"].into_iter().collect::<HashSet<_>>());
    // The filter below runs first and gives every `src` and `href` its final value (our own
    // relative URLs for `cid:` parts and the proxy), so relative URLs must pass the check after.
    b.url_relative(ammonia::UrlRelative::PassThrough);
    b.link_rel(Some("noopener noreferrer nofollow"));
    b.set_tag_attribute_value("a", "target", "_blank");
    b.attribute_filter(move |element, attribute, value| match (element, attribute) {
        (_, "style") => safe_style(value).then(|| value.into()),
        ("img", "src") => {
            let lower = value.trim().to_ascii_lowercase();
            if let Some(cid) = lower.strip_prefix("cid:") {
                // RFC 2392: the URL is the Content-ID, %-encoded, without its brackets.
                let original = &value.trim()[value.trim().len() - cid.len()..];
                let decoded = percent_decode(original);
                cids.get(&decoded).map(|&part| Cow::Owned((images.part_url)(part)))
            } else if lower.starts_with("data:image/") && !lower.starts_with("data:image/svg") {
                Some(value.into())
            } else if lower.starts_with("http://") || lower.starts_with("https://") {
                remote.store(true, Ordering::Relaxed);
                images.proxy.as_ref().and_then(|p| p(value.trim())).map(Cow::Owned)
            } else if lower.starts_with("//") {
                // Protocol-relative (RFC 3986 §4.2): in a mail reader there is no page scheme to
                // inherit, so it is the https URL a browser would most likely have fetched.
                remote.store(true, Ordering::Relaxed);
                images.proxy.as_ref().and_then(|p| p(&format!("https:{}", value.trim()))).map(Cow::Owned)
            } else {
                None
            }
        }
        // Images only through `src` above: no `srcset`, `background`, `lowsrc` sneaking past.
        // (ammonia's allow-list has no `srcset` either; dropping it costs only the choice of
        // a sharper picture, and every URL in it would need the proxy's signature.)
        (_, "background" | "srcset" | "lowsrc" | "dynsrc") => None,
        (_, "cite" | "longdesc" | "action" | "formaction" | "poster") => None,
        ("a", "href") => {
            let lower = value.trim().to_ascii_lowercase();
            (lower.starts_with("http://")
                || lower.starts_with("https://")
                || lower.starts_with("mailto:")
                || lower.starts_with("tel:"))
            .then(|| value.into())
        }
        _ => Some(value.into()),
    });
    b.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> Images {
        Images { proxy: None, part_url: Arc::new(|part| format!("/part/{part}")) }
    }

    const MIXED: &str = "From: Kim <kim@example.com>\r\nTo: Lee <lee@example.com>\r\nSubject: Report\r\n\
        Message-ID: <r1@example.com>\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
        --m\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n\
        --r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
        <p onclick=\"x()\" style=\"color:red\">Hi <script>alert(1)</script><img src=\"cid:logo@x\">\
        <img src=\"https://tracker.example/p.gif\"><a href=\"javascript:alert(1)\">x</a>\
        <a href=\"https://example.com\">ok</a><span style=\"background:url(https://t.example/)\">s</span></p>\r\n\
        --r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
        --r--\r\n\
        --m\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--\r\n";

    #[test]
    fn html_is_sanitised_and_remote_images_blocked() {
        let body = read(MIXED.as_bytes(), &images()).unwrap();
        let html = body.html.unwrap();
        assert!(!html.contains("script") && !html.contains("onclick") && !html.contains("javascript"), "{html}");
        assert!(!html.contains("tracker.example") && !html.contains("t.example"), "{html}");
        let logo = body.attachments.iter().find(|a| a.content_id.as_deref() == Some("logo@x")).unwrap();
        assert!(logo.inline);
        assert!(html.contains(&format!("src=\"/part/{}\"", logo.part)), "{html}");
        assert!(html.contains("style=\"color:red\""), "{html}");
        assert!(html.contains("rel=\"noopener noreferrer nofollow\""), "{html}");
        assert!(body.remote_images);
        assert!(body.text.contains("Hi"));
        let names: Vec<(&str, bool)> = body.attachments.iter().map(|a| (a.name.as_str(), a.inline)).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&("report.pdf", false)), "{names:?}");
        let pdf = body.attachments.iter().find(|a| a.name == "report.pdf").unwrap();
        assert_eq!(pdf.content_type, "application/pdf");
        let (bytes, _) = part(MIXED.as_bytes(), pdf.part).unwrap();
        assert_eq!(bytes, b"%PDF-1.4\n");
    }

    #[test]
    fn remote_images_go_through_the_proxy_when_allowed() {
        let proxy: ProxyUrl = Arc::new(|u: &str| Some(format!("/proxy?u={}", u.len())));
        let body =
            read(MIXED.as_bytes(), &Images { proxy: Some(proxy), part_url: Arc::new(|p| p.to_string()) }).unwrap();
        let html = body.html.unwrap();
        assert!(html.contains("src=\"/proxy?u=29\""), "{html}");
        assert!(!html.contains("tracker.example"));
        assert!(body.remote_images, "there were remote images, shown this time");
    }

    /// The HTML alone, through [`sanitize`], with a proxy that names the URL it was given.
    fn proxied(html: &str, proxy: bool) -> (String, bool) {
        let remote = Arc::new(AtomicBool::new(false));
        let proxy: Option<ProxyUrl> =
            proxy.then(|| -> ProxyUrl { Arc::new(|u: &str| (u.len() < 100).then(|| format!("/img?u={u}"))) });
        let images = Images { proxy, part_url: Arc::new(|part| format!("/part/{part}")) };
        let cids = Arc::new(HashMap::from([("logo@x".to_string(), 3)]));
        let html = sanitize(html, &images, cids, remote.clone());
        (html, remote.load(Ordering::Relaxed))
    }

    #[test]
    fn only_remote_images_are_rewritten_to_the_proxy() {
        let (html, remote) = proxied(
            "<img src=\" HTTPS://a.example/x.png \"><img src=\"http://b.example/y.gif\" alt=\"y\">\
             <img src=\"//c.example/z.png\"><img src=\"cid:logo@x\"><img src=\"data:image/png;base64,iVBO\">\
             <img src=\"javascript:alert(1)\"><img src=\"data:image/svg+xml;base64,PHN2Zz4=\">\
             <img src=\"file:///etc/passwd\"><img src=\"relative.png\">",
            true,
        );
        assert!(remote);
        assert!(html.contains("src=\"/img?u=HTTPS://a.example/x.png\""), "{html}");
        assert!(html.contains("src=\"/img?u=http://b.example/y.gif\" alt=\"y\""), "{html}");
        assert!(html.contains("src=\"/img?u=https://c.example/z.png\""), "protocol-relative is https: {html}");
        assert!(html.contains("src=\"/part/3\""), "cid: still points at the part: {html}");
        assert!(html.contains("src=\"data:image/png;base64,iVBO\""), "{html}");
        for gone in ["javascript", "svg", "file:", "relative.png"] {
            assert!(!html.contains(gone), "{gone}: {html}");
        }
        // Blocked, the same remote images are dropped and reported; the rest is as before.
        let (html, remote) = proxied("<img src=\"https://a.example/x.png\"><img src=\"cid:logo@x\">", false);
        assert!(remote);
        assert!(!html.contains("a.example") && !html.contains("/img?"), "{html}");
        assert!(html.contains("src=\"/part/3\""), "{html}");
        // No remote image: nothing to report.
        assert!(!proxied("<img src=\"cid:logo@x\"><p>hi</p>", false).1);
    }

    #[test]
    fn srcset_and_css_images_never_reach_the_network() {
        let (html, remote) = proxied(
            "<img src=\"https://a.example/x.png\" srcset=\"https://a.example/x2.png 2x\" lowsrc=\"https://l.example/\">\
             <div style=\"background-image:url(https://bg.example/b.png)\" background=\"https://bg2.example/\">t</div>\
             <table background=\"https://t.example/\"><tr><td>x</td></tr></table>",
            true,
        );
        assert!(remote);
        assert!(html.contains("src=\"/img?u=https://a.example/x.png\""), "{html}");
        for gone in ["srcset", "x2.png", "lowsrc", "bg.example", "bg2.example", "t.example"] {
            assert!(!html.contains(gone), "{gone}: {html}");
        }
    }

    #[test]
    fn a_url_the_proxy_refuses_is_dropped() {
        let long = format!("<img src=\"https://a.example/{}\">", "x".repeat(200));
        let (html, remote) = proxied(&long, true);
        assert!(remote);
        assert!(!html.contains("a.example") && !html.contains("/img?"), "{html}");
    }

    #[test]
    fn plain_text_has_no_html() {
        let body = read(b"Subject: hi\r\n\r\njust text\r\n", &images()).unwrap();
        assert_eq!(body.html, None);
        assert_eq!(body.text.trim(), "just text");
        assert!(body.attachments.is_empty());
    }
}
