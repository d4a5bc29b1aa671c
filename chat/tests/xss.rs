//! The usual XSS payloads (fixtures/xss/payloads.txt), alone and inside every Markdown and
//! Slack construct, rendered and then read back by an independent HTML tokenizer: no element,
//! attribute or URL outside the allow-list may survive.

use html5gum::{Token, Tokenizer};
use madang_chat::markdown::{self, ALLOWED_ATTRIBUTES, ALLOWED_ELEMENTS};
use madang_chat::slack;

fn payloads() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/xss/payloads.txt")).unwrap();
    let mut parts: Vec<String> = text.split("\n%%\n").skip(1).map(|p| p.trim_end_matches('\n').to_string()).collect();
    parts.push("<script>\0alert(1)</script>".into());
    parts.push("[x](java\0script:alert(1))".into());
    assert!(parts.len() > 90, "the corpus went missing: {} payloads", parts.len());
    parts
}

/// Each payload as is and inside each construct that renders text or a URL.
fn wrapped(p: &str) -> Vec<String> {
    let line = p.replace('\n', " ");
    vec![
        p.to_string(),
        format!("[{line}](https://ok.example/)"),
        format!("[x]({line})"),
        format!("**{line}**"),
        format!("_{line}_"),
        format!("~~{line}~~"),
        format!("`{line}`"),
        format!("```{line}\n{p}\n```"),
        format!("> {p}"),
        format!("- {p}\n  - {p}"),
        format!("1. {p}"),
        format!("@{line} @channel"),
        format!("https://ok.example/{line}"),
        format!("> - **[_{line}_](https://ok.example/)**"),
    ]
}

/// A URL that may be followed: the scheme, read as a browser would (it drops ASCII tab and
/// newline and leading C0 controls and spaces, WHATWG URL §4.4), is http, https or mailto.
fn safe_url(url: &str) -> bool {
    let cleaned: String =
        url.trim_start_matches(|c: char| c <= ' ').chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
    let lower = cleaned.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:")
}

fn check(source: &str, html: &str) {
    let ctx = || format!("source {source:?}\nhtml {html:?}");
    for token in Tokenizer::new(html) {
        let Ok(token) = token;
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_string();
                assert!(ALLOWED_ELEMENTS.contains(&name.as_str()), "element <{name}> survived\n{}", ctx());
                for (attr, value) in &tag.attributes {
                    let attr = String::from_utf8_lossy(attr).to_string();
                    let value = String::from_utf8_lossy(value).to_string();
                    assert!(
                        ALLOWED_ATTRIBUTES.contains(&(name.as_str(), attr.as_str())),
                        "attribute {attr} on <{name}> survived\n{}",
                        ctx()
                    );
                    let ok = match attr.as_str() {
                        "href" => safe_url(&value),
                        "rel" => value == "noopener noreferrer nofollow",
                        "target" => value == "_blank",
                        "class" if name == "span" => value == "mention",
                        "class" => value.strip_prefix("language-").is_some_and(|l| {
                            !l.is_empty()
                                && l.bytes()
                                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-#.".contains(&b))
                        }),
                        "start" => value.bytes().all(|b| b.is_ascii_digit()),
                        _ => false,
                    };
                    assert!(ok, "{attr}={value:?} on <{name}>\n{}", ctx());
                    // Inside an http(s) URL's path `javascript:` is inert text; anywhere else it is not.
                    if attr != "href" {
                        assert!(
                            !value.to_ascii_lowercase().contains("javascript:"),
                            "javascript: in {attr}\n{}",
                            ctx()
                        );
                    }
                }
                if name == "a" {
                    assert!(tag.attributes.contains_key(b"href".as_slice()), "a link without href\n{}", ctx());
                    assert!(tag.attributes.contains_key(b"rel".as_slice()), "a link without rel\n{}", ctx());
                }
            }
            Token::EndTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_string();
                assert!(ALLOWED_ELEMENTS.contains(&name.as_str()), "end tag </{name}>\n{}", ctx());
            }
            Token::String(_) => {}
            Token::Comment(_) => panic!("a comment survived\n{}", ctx()),
            Token::Doctype(_) => panic!("a doctype survived\n{}", ctx()),
            Token::Error(e) => panic!("malformed HTML ({e:?})\n{}", ctx()),
        }
    }
}

#[test]
fn markdown_never_renders_active_html() {
    let mut checked = 0;
    for p in payloads() {
        for source in wrapped(&p) {
            check(&source, &markdown::render(&source));
            // The first line of defence holds on its own too.
            check(&source, &markdown::render_unsanitized(&source));
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn slack_payloads_never_render_active_html() {
    for p in payloads() {
        let line = p.replace('\n', " ");
        let escaped = line.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        for text in [
            p.clone(),
            format!("<{line}|label>"),
            format!("<https://ok.example/|{line}>"),
            format!("*{escaped}* _{escaped}_ ~{escaped}~"),
            format!("<{escaped}>"),
        ] {
            let payload = serde_json::json!({
                "text": text,
                "username": line,
                "icon_url": line,
                "attachments": [{
                    "pretext": text, "author_name": line, "author_link": line, "title": line,
                    "title_link": line, "text": text, "footer": line,
                    "fields": [{"title": line, "value": text, "short": true}],
                }],
            });
            let incoming = slack::parse(payload.to_string().as_bytes()).unwrap();
            check(&text, &markdown::render(&incoming.text));
            if let Some(icon) = incoming.icon_url {
                assert!(safe_url(&icon), "icon_url {icon:?}");
            }
        }
    }
}

/// The checker itself: each of these must be refused, or the tests above prove nothing.
#[test]
fn the_checker_catches_active_html() {
    for bad in [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<a href=\"javascript:alert(1)\" rel=\"noopener noreferrer nofollow\">x</a>",
        "<a href=\" java&#x09;script:alert(1)\" rel=\"noopener noreferrer nofollow\">x</a>",
        "<span class=\"mention\" onclick=\"x\">@a</span>",
        "<code class=\"x\">y</code>",
        "<p style=\"color:red\">x</p>",
        "<!-- x -->",
        "<a href=\"https://a.b\">no rel</a>",
    ] {
        let caught = std::panic::catch_unwind(|| check("test", bad)).is_err();
        assert!(caught, "the checker let {bad:?} through");
    }
    check("ok", "<p><a href=\"https://a.b\" target=\"_blank\" rel=\"noopener noreferrer nofollow\">x</a></p>");
}
