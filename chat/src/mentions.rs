//! Who a message mentions: `@name`, `@channel` (or `@all`) and `@here`.
//!
//! Mentions are found by the same parser that renders the message ([`crate::markdown`]), so a
//! name counts exactly when the reader sees it highlighted: never inside code, a URL or an
//! e-mail address.

use crate::markdown::{Sink, walk};

/// The mentions of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    /// User names, lower-cased, each once, in order of first appearance. Whether such a user
    /// exists (and is a member) is for the caller to decide.
    pub users: Vec<String>,
    /// `@channel` or `@all`: every member.
    pub channel: bool,
    /// `@here`: every member who is online.
    pub here: bool,
}

impl Mentions {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && !self.channel && !self.here
    }
}

/// The mentions in a message's Markdown source.
pub fn extract(text: &str) -> Mentions {
    let mut found = Vec::new();
    walk(text, &mut Sink { html: None, mentions: Some(&mut found) });
    let mut m = Mentions::default();
    for name in found {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "channel" | "all" => m.channel = true,
            "here" => m.here = true,
            // Madang's `Username` rule: `.` and `..` are not names.
            "." | ".." => {}
            _ if !m.users.contains(&name) => m.users.push(name),
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(text: &str) -> Vec<String> {
        extract(text).users
    }

    #[test]
    fn names_lower_cased_and_deduplicated() {
        assert_eq!(users("@Bob and @alice, then @bob again"), ["bob", "alice"]);
        assert_eq!(users("(@bob) @carol. @d-e_f.g"), ["bob", "carol", "d-e_f.g"]);
    }

    #[test]
    fn channel_here_all() {
        let m = extract("@here look, @channel and @ALL");
        assert!(m.channel && m.here && m.users.is_empty());
        assert!(!extract("hello").channel);
        assert!(extract("hello").is_empty());
    }

    #[test]
    fn not_in_code_urls_or_addresses() {
        assert!(extract("`@bob` and\n```\n@carol\n```\nmail dave@example.org").is_empty());
        assert!(extract("https://medium.com/@erin/post and [x](https://a.b/@frank)").is_empty());
        assert!(extract("@grace@example.org").is_empty());
        assert!(extract("\\@heidi").is_empty());
        assert!(extract("@").is_empty());
        assert!(extract(&format!("@{}", "a".repeat(65))).is_empty());
        assert_eq!(users(&format!("@{}", "a".repeat(64))), ["a".repeat(64)]);
    }

    #[test]
    fn in_markup() {
        assert_eq!(
            users("**@ivan** _@judy_ > no\n> @ken\n- @leo\n[@mallory](https://a.b)"),
            ["ivan", "judy", "ken", "leo", "mallory"]
        );
    }
}
