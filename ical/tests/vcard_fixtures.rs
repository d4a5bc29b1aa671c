//! Golden tests over real-client vCards in `fixtures/vcard/`: parse, vCard 3 and 4 renderings, round trips, robustness.
//! Run with `UPDATE_EXPECT=1` to rewrite the `.expected` files, then review the diff.

use calcard::vcard::{VCardProperty, VCardValue};
use madang_ical::filter::{AddressFilter, CardPropFilter, Collation, FilterTest, MatchType, TextMatch};
use madang_ical::{CardObject, VCardVersion, parse_card, split_cards};
use std::path::{Path, PathBuf};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vcard")
}

fn fixtures() -> Vec<(PathBuf, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/vcard exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "vcf"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "expected the real-client corpus in {}", fixtures_dir().display());
    files.into_iter().map(|p| (p.clone(), std::fs::read_to_string(&p).expect("utf-8 fixture"))).collect()
}

/// The cards of a fixture as a client would PUT them. A multi-card export is split, and a card
/// without UID gets one, as the importer must do (Google exports carry no UID).
fn cards_of(text: &str) -> Vec<String> {
    let parts = split_cards(text);
    if parts.len() <= 1 {
        return vec![text.to_string()];
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, card)| {
            if parse_card(&card).is_ok() {
                return card;
            }
            card.replacen("BEGIN:VCARD\r\n", &format!("BEGIN:VCARD\r\nUID:import-{i}\r\n"), 1)
        })
        .collect()
}

fn summary(obj: &CardObject) -> String {
    format!(
        "uid: {}\nversion: {:?}\nlegacy: {}\nis_group: {}\nmembers: {:?}\ndisplay_name: {}\nemails: {:?}\nphones: {:?}\nwarnings: {:?}\n",
        obj.uid(),
        obj.version(),
        obj.is_legacy(),
        obj.is_group(),
        obj.members(),
        obj.display_name(),
        obj.emails(),
        obj.phones(),
        obj.warnings()
    )
}

/// What must survive v3 → v4 → v3: names, emails, phones, addresses, photo bytes, X- properties.
fn content(obj: &CardObject) -> Vec<String> {
    let mut out: Vec<String> = obj
        .vcard()
        .entries
        .iter()
        .filter_map(|e| {
            let name = e.name.as_str().to_ascii_uppercase();
            let keep = matches!(
                e.name,
                VCardProperty::Fn
                    | VCardProperty::N
                    | VCardProperty::Email
                    | VCardProperty::Tel
                    | VCardProperty::Adr
                    | VCardProperty::Org
                    | VCardProperty::Note
                    | VCardProperty::Uid
            ) || (name.starts_with("X-") && !name.starts_with("X-ADDRESSBOOKSERVER-"));
            if e.name == VCardProperty::Photo {
                return e.values.iter().find_map(|v| match v {
                    VCardValue::Binary(d) => Some(format!("PHOTO bytes {:?}", d.data)),
                    VCardValue::Text(t) => Some(format!("PHOTO uri {t}")),
                    _ => None,
                });
            }
            // 2.1's CR LF line breaks become LF (RFC 6350 §3.4); the text is otherwise the same.
            let group = e.group.as_deref().map(|g| format!("{g}.")).unwrap_or_default();
            keep.then(|| format!("{group}{name} {:?}", e.values).replace("\\r\\n", "\\n"))
        })
        .collect();
    out.sort();
    out
}

fn parse(text: &str, what: &str) -> CardObject {
    parse_card(text).unwrap_or_else(|e| panic!("{what} does not parse: {e}\n{text}"))
}

/// What Apple's vCard 3 parser would choke on or misread.
fn assert_plain_v3(text: &str, what: &str) {
    let unfolded = text.replace("\r\n ", "");
    assert!(unfolded.contains("\r\nVERSION:3.0\r\n"), "{what}: no VERSION:3.0\n{text}");
    assert!(!unfolded.contains("VERSION:4.0"), "{what}");
    for line in unfolded.lines() {
        let head = line.split(':').next().unwrap_or_default().to_ascii_uppercase();
        let name = head.split(';').next().unwrap_or_default();
        let name = name.rsplit('.').next().unwrap_or_default();
        assert!(!matches!(name, "KIND" | "MEMBER"), "{what}: vCard 4 group property in 3.0: {line}");
        assert!(!head.contains(";PREF="), "{what}: PREF= in 3.0: {line}");
        assert!(!head.contains("CHARSET"), "{what}: CHARSET in 3.0: {line}");
        assert!(!line.contains(":data:"), "{what}: data: URI in 3.0: {line}");
    }
}

#[test]
fn golden_fixtures() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for (path, text) in fixtures() {
        let mut actual = String::new();
        let (mut v3, mut v4) = (String::new(), String::new());
        let cards = cards_of(&text);
        if cards.len() > 1 {
            let err = parse_card(&text).expect_err("a multi-card file is not one resource");
            actual.push_str(&format!("whole file: {err}\ncards: {}\n", cards.len()));
        }
        for (i, card) in cards.iter().enumerate() {
            if cards.len() > 1 {
                actual.push_str(&format!("--- card {i}\n"));
            }
            let obj = match parse_card(card) {
                Ok(obj) => obj,
                Err(err) => {
                    actual.push_str(&format!("error: {err}\n"));
                    continue;
                }
            };
            assert_eq!(obj.raw(), card.as_str(), "raw text must be kept byte for byte");
            if !obj.is_legacy()
                && let Some(version) = obj.version()
            {
                assert_eq!(obj.render(version, None), *card, "{}: same version must be byte-identical", path.display());
            }
            actual.push_str(&summary(&obj));
            v3.push_str(&obj.render(VCardVersion::V3, None));
            v4.push_str(&obj.render(VCardVersion::V4, None));
        }
        for (ext, out) in [("expected", &actual), ("v3.expected", &v3), ("v4.expected", &v4)] {
            let expected_path = path.with_extension(ext);
            if update {
                std::fs::write(&expected_path, out).expect("write expected");
                continue;
            }
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
            if expected != *out {
                failures.push(format!("{}:\n--- expected\n{expected}--- actual\n{out}", expected_path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "golden mismatch (UPDATE_EXPECT=1 to bless):\n{}", failures.join("\n"));
}

// See: rustical#265 (macOS Contacts fails the whole sync on a vCard 4.0 card).
#[test]
fn vcard3_rendering_has_no_vcard4_syntax() {
    for (path, text) in fixtures() {
        for card in cards_of(&text) {
            let obj = parse(&card, &path.display().to_string());
            let v3 = obj.render(VCardVersion::V3, None);
            assert_plain_v3(&v3, &path.display().to_string());
            parse(&v3, "the 3.0 rendering");
        }
    }
}

#[test]
fn round_trips_keep_content() {
    for (path, text) in fixtures() {
        for card in cards_of(&text) {
            let what = path.display().to_string();
            let original = parse(&card, &what);
            let v4 = parse(&original.render(VCardVersion::V4, None), &what);
            let v3 = parse(&v4.render(VCardVersion::V3, None), &what);
            let v4_again = parse(&v3.render(VCardVersion::V4, None), &what);
            assert_eq!(content(&original), content(&v4), "{what}: lost in → 4.0");
            assert_eq!(content(&original), content(&v3), "{what}: lost in → 4.0 → 3.0");
            assert_eq!(summary(&v4), summary(&v4_again), "{what}: 4.0 → 3.0 → 4.0 changed the card");
            assert_eq!(original.is_group(), v3.is_group(), "{what}");
            assert_eq!(original.members(), v4.members(), "{what}");
            // The conversions are a fixpoint after one round.
            assert_eq!(v3.render(VCardVersion::V4, None), v4_again.raw(), "{what}");
        }
    }
}

// See: nextcloud/contacts#213 (Apple groups vs vCard 4 KIND/MEMBER).
#[test]
fn groups_cross_between_apple_and_vcard4() {
    let ios = parse(&std::fs::read_to_string(fixtures_dir().join("ios-group.vcf")).unwrap(), "ios-group");
    let v4 = ios.render(VCardVersion::V4, None);
    assert!(v4.contains("\r\nKIND:group\r\n"), "{v4}");
    assert!(v4.contains("\r\nMEMBER:urn:uuid:9B8A6E2A-3F2C-4D1B-9E8F-1A2B3C4D5E6F\r\n"), "{v4}");
    assert!(!v4.contains("X-ADDRESSBOOKSERVER"), "{v4}");
    let davx5 = parse(&std::fs::read_to_string(fixtures_dir().join("davx5-group-v4.vcf")).unwrap(), "davx5-group");
    let v3 = davx5.render(VCardVersion::V3, None);
    assert!(v3.contains("\r\nX-ADDRESSBOOKSERVER-KIND:group\r\n"), "{v3}");
    assert!(v3.contains("\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:0e6c1c7a-5b1e-4c8f-9a0d-3f2b1e4d5c6a\r\n"), "{v3}");
    assert!(davx5.is_group() && ios.is_group());
}

#[test]
fn photos_convert_between_inline_and_data_uri() {
    let ios = parse(&std::fs::read_to_string(fixtures_dir().join("ios-contact-with-photo.vcf")).unwrap(), "ios");
    let v4 = ios.render(VCardVersion::V4, None).replace("\r\n ", "");
    assert!(v4.contains("\r\nPHOTO:data:image/jpeg;base64,/9j/4AAQ"), "{v4}");
    let davx5 = parse(&std::fs::read_to_string(fixtures_dir().join("davx5-contact-v4.vcf")).unwrap(), "davx5");
    let v3 = davx5.render(VCardVersion::V3, None).replace("\r\n ", "");
    assert!(v3.contains("\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ"), "{v3}");
}

#[test]
fn filters_on_fixtures() {
    let ios = parse(&std::fs::read_to_string(fixtures_dir().join("ios-contact-with-photo.vcf")).unwrap(), "ios");
    let search = |name: &str, value: &str| AddressFilter {
        test: FilterTest::AnyOf,
        props: vec![CardPropFilter {
            name: name.into(),
            test: FilterTest::AnyOf,
            is_not_defined: false,
            text_matches: vec![TextMatch {
                value: value.into(),
                collation: Collation::UnicodeCasemap,
                match_type: MatchType::Contains,
                negate: false,
            }],
            params: vec![],
        }],
    };
    assert!(ios.matches(&search("EMAIL", "JOHNNY@EXAMPLE")));
    assert!(ios.matches(&search("N", "appleseed;johnny")));
    assert!(ios.matches(&search("ADR", "cupertino")));
    assert!(ios.matches(&search("NOTE", "WWDC, 2019")));
    assert!(!ios.matches(&search("EMAIL", "nobody")));
    let outlook = parse(&std::fs::read_to_string(fixtures_dir().join("outlook-2.1.vcf")).unwrap(), "outlook");
    assert!(outlook.matches(&search("FN", "jürgen müller")), "quoted-printable Windows-1252 is decoded");
}

/// A small deterministic generator, so the robustness test needs no extra crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound.max(1)
    }
}

fn exercise(text: &str) {
    let Ok(obj) = parse_card(text) else { return };
    let filter = AddressFilter {
        test: FilterTest::AllOf,
        props: vec![CardPropFilter {
            name: "EMAIL".into(),
            test: FilterTest::AnyOf,
            is_not_defined: false,
            text_matches: vec![TextMatch {
                value: "e".into(),
                collation: Collation::UnicodeCasemap,
                match_type: MatchType::EndsWith,
                negate: true,
            }],
            params: vec![],
        }],
    };
    let _ = obj.matches(&filter);
    let _ = (obj.display_name(), obj.emails(), obj.phones(), obj.members(), obj.is_group());
    for version in [VCardVersion::V3, VCardVersion::V4] {
        let out = obj.render(version, None);
        let _ = obj.render(version, Some(&["FN".to_string(), "item1.EMAIL".to_string()]));
        // A rendering of anything we accepted must itself be accepted.
        assert!(parse_card(&out).is_ok(), "rendering does not parse:\n{out}\nfrom:\n{text}");
    }
}

#[test]
fn no_panic_on_truncated_or_sliced_input() {
    let mut rng = Lcg(0x6d61_6461_6e67);
    for (_, text) in fixtures() {
        let bounds: Vec<usize> = (0..=text.len()).filter(|i| text.is_char_boundary(*i)).collect();
        for &end in &bounds {
            exercise(&text[..end]);
        }
        for _ in 0..2000 {
            let a = bounds[rng.next(bounds.len())];
            let b = bounds[rng.next(bounds.len())];
            exercise(&text[a.min(b)..a.max(b)]);
        }
        // Line endings as some exporters write them.
        exercise(&text.replace("\r\n", "\n"));
        exercise(&text.replace("\r\n", "\r"));
    }
}
