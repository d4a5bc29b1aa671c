//! Channel names and reaction emoji: what a valid one is, in its one canonical form.

use thiserror::Error;
use unicode_segmentation::UnicodeSegmentation;

/// The longest channel name, in characters (docs/chat.md: names are at most 80 characters).
pub const MAX_CHANNEL_NAME_CHARS: usize = 80;
/// The longest emoji grapheme cluster accepted as a reaction, in bytes (a family with skin
/// tones is 25 bytes; a flag with tags such as England's is 28).
pub const MAX_EMOJI_BYTES: usize = 32;
/// The longest `:shortcode:`, without the colons.
pub const MAX_SHORTCODE_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("a channel name cannot be empty")]
    EmptyChannelName,
    #[error("a channel name is at most {MAX_CHANNEL_NAME_CHARS} characters")]
    ChannelNameTooLong,
    #[error("`{0}` is not allowed in a channel name; use letters, digits, `-`, `_` and `.`, without spaces")]
    ChannelNameCharacter(char),
    #[error("a channel name must contain a letter or a digit")]
    ChannelNameOnlyPunctuation,
    #[error("a reaction cannot be empty")]
    EmptyEmoji,
    #[error("a reaction is one emoji of at most {MAX_EMOJI_BYTES} bytes, or a :shortcode:")]
    NotAnEmoji,
    #[error("a :shortcode: is 1 to {MAX_SHORTCODE_CHARS} of a-z, 0-9, `_`, `+` and `-`")]
    BadShortcode,
}

/// A channel name in canonical form: trimmed and lower-cased; letters of any script (Hangul
/// included), digits, `-`, `_` and `.`; 1 to 80 characters.
pub fn channel_name(raw: &str) -> Result<String, NameError> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() {
        return Err(NameError::EmptyChannelName);
    }
    if name.chars().count() > MAX_CHANNEL_NAME_CHARS {
        return Err(NameError::ChannelNameTooLong);
    }
    if let Some(bad) = name.chars().find(|&c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(NameError::ChannelNameCharacter(bad));
    }
    // `.`, `..` or `---` would be confusing as a name and unreadable in `in:` searches.
    if !name.chars().any(char::is_alphanumeric) {
        return Err(NameError::ChannelNameOnlyPunctuation);
    }
    Ok(name)
}

/// A reaction in canonical form: one emoji grapheme cluster (as sent), or a `:shortcode:`
/// (lower-cased).
pub fn emoji(raw: &str) -> Result<String, NameError> {
    let e = raw.trim();
    if e.is_empty() {
        return Err(NameError::EmptyEmoji);
    }
    if e.len() >= 2 && e.starts_with(':') && e.ends_with(':') {
        let code = e[1..e.len() - 1].to_ascii_lowercase();
        let ok = (1..=MAX_SHORTCODE_CHARS).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'+' | b'-'));
        return if ok { Ok(format!(":{code}:")) } else { Err(NameError::BadShortcode) };
    }
    if e.len() > MAX_EMOJI_BYTES || e.graphemes(true).count() != 1 || !is_emoji_cluster(e) {
        return Err(NameError::NotAnEmoji);
    }
    Ok(e.to_string())
}

/// Whether a single grapheme cluster is an emoji (UTS #51 §1.4): it starts with a pictographic
/// code point, a regional indicator, or a keycap base followed by U+20E3, and holds nothing but
/// emoji code points and the characters that join and modify them.
fn is_emoji_cluster(cluster: &str) -> bool {
    let mut chars = cluster.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let keycap = matches!(first, '0'..='9' | '#' | '*') && cluster.contains('\u{20E3}');
    if !(pictographic(first) || keycap) {
        return false;
    }
    chars.all(|c| pictographic(c) || component(c))
}

fn pictographic(c: char) -> bool {
    let c = c as u32;
    matches!(
        c,
        0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139
            | 0x2194..=0x2199 | 0x21A9..=0x21AA | 0x231A..=0x231B | 0x2328 | 0x23CF
            | 0x23E9..=0x23F3 | 0x23F8..=0x23FA | 0x24C2 | 0x25AA..=0x25AB | 0x25B6 | 0x25C0
            | 0x25FB..=0x25FE | 0x2600..=0x27BF | 0x2934..=0x2935 | 0x2B05..=0x2B07
            | 0x2B1B..=0x2B1C | 0x2B50 | 0x2B55 | 0x3030 | 0x303D | 0x3297 | 0x3299
            // Mahjong to Symbols and Pictographs Extended-A, regional indicators included.
            | 0x1F000..=0x1FAFF
    )
}

/// Zero-width joiner, variation selectors, the keycap mark, skin tones (inside the range
/// above) and tag characters (subdivision flags).
fn component(c: char) -> bool {
    matches!(c as u32, 0x200D | 0xFE0E | 0xFE0F | 0x20E3 | 0xE0020..=0xE007F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        assert_eq!(channel_name("  General "), Ok("general".into()));
        assert_eq!(channel_name("개발-팀_2026.q1"), Ok("개발-팀_2026.q1".into()));
        assert_eq!(channel_name("Ünïcode"), Ok("ünïcode".into()));
        assert_eq!(channel_name(""), Err(NameError::EmptyChannelName));
        assert_eq!(channel_name("   "), Err(NameError::EmptyChannelName));
        assert_eq!(channel_name("two words"), Err(NameError::ChannelNameCharacter(' ')));
        assert_eq!(channel_name("#general"), Err(NameError::ChannelNameCharacter('#')));
        assert_eq!(channel_name("a<b>"), Err(NameError::ChannelNameCharacter('<')));
        assert_eq!(channel_name("a\u{202E}b"), Err(NameError::ChannelNameCharacter('\u{202E}')));
        assert_eq!(channel_name(".."), Err(NameError::ChannelNameOnlyPunctuation));
        assert_eq!(channel_name(&"가".repeat(80)), Ok("가".repeat(80)));
        assert_eq!(channel_name(&"가".repeat(81)), Err(NameError::ChannelNameTooLong));
    }

    #[test]
    fn emoji_reactions() {
        for ok in ["👍", "👍🏽", "❤️", "🇰🇷", "👨‍👩‍👧‍👦", "1️⃣", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "©️", "⭐"]
        {
            assert_eq!(emoji(ok), Ok(ok.to_string()), "{ok}");
        }
        assert_eq!(emoji(" :+1: "), Ok(":+1:".into()));
        assert_eq!(emoji(":Thumbs_Up:"), Ok(":thumbs_up:".into()));
        assert_eq!(emoji(""), Err(NameError::EmptyEmoji));
        assert_eq!(emoji("::"), Err(NameError::BadShortcode));
        assert_eq!(emoji(":a b:"), Err(NameError::BadShortcode));
        assert_eq!(emoji(&format!(":{}:", "a".repeat(65))), Err(NameError::BadShortcode));
        for bad in ["a", "1", "👍👍", "👍a", "<script>", "\u{200D}", "\u{FE0F}", "가", "👍\u{0301}"] {
            assert_eq!(emoji(bad), Err(NameError::NotAnEmoji), "{bad:?}");
        }
    }
}
