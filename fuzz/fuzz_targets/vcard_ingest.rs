//! Fuzz target: what an address-book PUT or import does to a body (split, parse and validate) and
//! what a GET or addressbook-query answers with (the card rendered as vCard 3.0 and 4.0, whole
//! and cut down to a few properties, plus the search helpers the JSON API uses).
//!
//! Invariant besides "never panic": a card Madang converts for a client is one Madang itself
//! would accept, so a client that PUTs back what it was served is never refused.

#![no_main]

use libfuzzer_sys::fuzz_target;
use madang_ical::{VCardVersion, normalize_phone, parse_card, split_cards};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Imports split first; a PUT body goes to parse_card as it is.
    let _ = split_cards(text);
    let Ok(card) = parse_card(text) else { return };
    let _ = (card.is_group(), card.members(), card.display_name(), card.emails());
    for phone in card.phones() {
        let _ = normalize_phone(&phone);
    }
    let selection = ["FN".to_string(), "EMAIL".to_string(), "item1.TEL".to_string()];
    for version in [VCardVersion::V3, VCardVersion::V4] {
        let _ = card.render(version, Some(&selection));
        let served = card.render(version, None);
        if let Err(e) = parse_card(&served) {
            panic!("served {} card is refused on PUT: {e}\n--- served ---\n{served}", version.as_str());
        }
    }
});
