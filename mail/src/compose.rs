//! Writing replies and forwards: subjects, the threading headers (RFC 5322 §3.6.4) and quoting.

use crate::summary::base_subject;

/// At most this many ids in a reply's `References` (the first and the newest are kept: the first
/// names the conversation, the newest its nearest branch, RFC 5322 §3.6.4 and RFC 5256 §2.2).
pub const MAX_REFERENCES: usize = 20;

/// `Re: <subject>`, without stacking markers (`Re: Re: …`).
pub fn reply_subject(subject: &str) -> String {
    let subject = subject.trim();
    if subject.to_ascii_lowercase().starts_with("re:") { subject.to_string() } else { format!("Re: {subject}") }
}

/// `Fwd: <subject>`.
pub fn forward_subject(subject: &str) -> String {
    let subject = subject.trim();
    if base_subject(subject).1 && subject.to_ascii_lowercase().starts_with("fwd:") {
        subject.to_string()
    } else {
        format!("Fwd: {subject}")
    }
}

/// A reply's `References`: the parent's References (or, without them, its In-Reply-To) and then
/// the parent's own Message-ID (RFC 5322 §3.6.4), bounded to [`MAX_REFERENCES`].
pub fn references(
    parent_references: &[String],
    parent_in_reply_to: Option<&str>,
    parent_id: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = if parent_references.is_empty() {
        parent_in_reply_to.map(|s| vec![s.to_string()]).unwrap_or_default()
    } else {
        parent_references.to_vec()
    };
    if let Some(id) = parent_id {
        out.retain(|x| x != id);
        out.push(id.to_string());
    }
    if out.len() > MAX_REFERENCES {
        let first = out[0].clone();
        let keep = out.split_off(out.len() - (MAX_REFERENCES - 1));
        out = std::iter::once(first).chain(keep).collect();
    }
    out
}

/// HTML a user wrote, made safe to send: the same allow-list the reader applies to mail that
/// arrives, so Madang never sends what it would refuse to show. Pictures are left out: the
/// composer makes none, so an `<img>` here came in a paste, and a remote one is how a tracker
/// would ride along to every recipient.
pub fn clean_html(html: &str) -> String {
    ammonia::Builder::default().rm_tags(["img"]).link_rel(Some("noopener noreferrer nofollow")).clean(html).to_string()
}

/// The parent's text quoted under an attribution line, as mail programs do.
pub fn quote(text: &str, attribution: &str) -> String {
    let mut out = format!("\n\n{attribution}\n");
    for line in text.lines() {
        if line.is_empty() {
            out.push_str(">\n");
        } else {
            out.push_str("> ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_keep_the_thread() {
        assert_eq!(reply_subject("Lunch"), "Re: Lunch");
        assert_eq!(reply_subject("RE: Lunch"), "RE: Lunch");
        assert_eq!(forward_subject("Lunch"), "Fwd: Lunch");
        let refs = vec!["a@x".to_string(), "b@x".to_string()];
        assert_eq!(references(&refs, Some("b@x"), Some("c@x")), vec!["a@x", "b@x", "c@x"]);
        assert_eq!(references(&[], Some("b@x"), Some("c@x")), vec!["b@x", "c@x"]);
        assert_eq!(references(&[], None, None), Vec::<String>::new());
        let many: Vec<String> = (0..40).map(|i| format!("r{i}@x")).collect();
        let r = references(&many, None, Some("new@x"));
        assert_eq!(r.len(), MAX_REFERENCES);
        assert_eq!((r[0].as_str(), r[19].as_str(), r[18].as_str()), ("r0@x", "new@x", "r39@x"));
    }

    /// What the web client's rich-text composer makes survives; what a paste could smuggle in
    /// (scripts, styles, handlers, trackers, `javascript:` links) does not.
    #[test]
    fn outgoing_html_keeps_formatting_only() {
        let html = clean_html(
            "<div><b>Bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u></div><ul><li>one</li></ul>\
             <ol><li>two</li></ol><blockquote>quoted</blockquote><a href=\"https://example.org/\">site</a>\
             <script>alert(1)</script><style>p{}</style><span style=\"color:red\" onclick=\"x()\">red</span>\
             <img src=\"https://tracker.example/p.gif\"><a href=\"javascript:alert(1)\">bad</a>",
        );
        for kept in ["<b>Bold</b>", "<strong>s</strong>", "<i>i</i>", "<em>e</em>", "<u>u</u>", "<ul><li>one</li></ul>"]
        {
            assert!(html.contains(kept), "{kept} in {html}");
        }
        assert!(html.contains("<ol><li>two</li></ol>") && html.contains("<blockquote>quoted</blockquote>"), "{html}");
        assert!(html.contains("href=\"https://example.org/\""), "{html}");
        for gone in ["script", "alert", "style", "onclick", "tracker", "javascript"] {
            assert!(!html.contains(gone), "{gone} in {html}");
        }
    }

    #[test]
    fn quoting_marks_every_line() {
        assert_eq!(quote("hi\n\nthere", "Kim wrote:"), "\n\nKim wrote:\n> hi\n>\n> there\n");
    }
}
