//! The company directory's cards: one vCard 3.0 per account, built from the few public fields of a profile.
//!
//! 3.0 because that is what is stored and served by default (macOS Contacts
//! refuses 4.0, rustical#265); readers asking for 4.0 get it converted like any
//! stored card. The card is a pure function of its inputs, so an unchanged
//! account keeps a byte-identical card and therefore its ETag.

use crate::text::escape_text;

/// What a directory card shows of an account.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    /// A stable, unique identifier of the account (never its name, which can change).
    pub uid: &'a str,
    pub display_name: &'a str,
    pub username: &'a str,
    pub email: &'a str,
}

/// The card of one person.
pub fn card(p: &Person<'_>) -> String {
    let name = if p.display_name.trim().is_empty() { p.username } else { p.display_name.trim() };
    // N is required in 3.0 (RFC 2426 §3.1.2). A display name is one string in
    // Madang; "Given Family" is the common Western order, and a name without a
    // space (most Korean names) is kept whole as the family name, which sorts
    // and shows as written.
    let (given, family) = match name.rsplit_once(' ') {
        Some((given, family)) => (given.trim(), family.trim()),
        None => ("", name),
    };
    let lines = [
        "BEGIN:VCARD".to_string(),
        "VERSION:3.0".to_string(),
        "PRODID:-//Madang//Directory//EN".to_string(),
        format!("UID:{}", escape_text(p.uid)),
        format!("FN:{}", escape_text(name)),
        format!("N:{};{};;;", escape_text(family), escape_text(given)),
        format!("NICKNAME:{}", escape_text(p.username)),
        format!("EMAIL;TYPE=INTERNET,WORK,PREF:{}", escape_text(p.email)),
        "END:VCARD".to_string(),
    ];
    let mut out = String::new();
    for line in &lines {
        crate::fold_line(&mut out, line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{VCardVersion, parse_card};

    fn person<'a>(display_name: &'a str, username: &'a str) -> Person<'a> {
        Person { uid: "urn:uuid:1", display_name, username, email: "alice@example.com" }
    }

    #[test]
    fn the_card_parses_and_converts() {
        let text = card(&person("Alice Kim", "alice"));
        let parsed = parse_card(&text).expect("valid card");
        assert_eq!(parsed.uid(), "urn:uuid:1");
        assert_eq!(parsed.display_name(), "Alice Kim");
        assert_eq!(parsed.emails(), ["alice@example.com"]);
        assert!(text.contains("N:Kim;Alice;;;\r\n"), "{text}");
        assert!(text.contains("NICKNAME:alice\r\n"));
        let v4 = parsed.render(VCardVersion::V4, None);
        assert!(v4.contains("VERSION:4.0"), "{v4}");
    }

    #[test]
    fn names_are_escaped_and_never_break_a_line() {
        let text = card(&person("Kim, Alice;\r\nEMAIL:evil@x", "alice"));
        let parsed = parse_card(&text).expect("valid card");
        assert_eq!(parsed.emails(), ["alice@example.com"]);
        assert!(text.contains("FN:Kim\\, Alice\\; \\nEMAIL:evil@x\r\n"), "{text}");
    }

    #[test]
    fn a_name_without_a_space_is_kept_whole_and_an_empty_one_is_the_username() {
        assert!(card(&person("김철수", "chulsoo")).contains("N:김철수;;;;\r\n"));
        assert!(card(&person(" ", "chulsoo")).contains("FN:chulsoo\r\n"));
    }

    #[test]
    fn the_same_person_gives_the_same_bytes() {
        assert_eq!(card(&person("Alice Kim", "alice")), card(&person("Alice Kim", "alice")));
        assert_ne!(card(&person("Alice Kim", "alice")), card(&person("Alice Lee", "alice")));
    }
}
