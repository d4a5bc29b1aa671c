//! No input may panic a parser: every truncation of every sample body, and
//! some junk, must come back as `Ok` or `Err`, never as a panic.

use crate::{Mkcol, PropFind, PropertyUpdate, Report};

const SAMPLES: &[&[u8]] = &[
    include_bytes!("../testdata/requests/carddav-query-email-limit.xml"),
    include_bytes!("../testdata/requests/davx5-addressbook-multiget-v4.xml"),
    include_bytes!("../testdata/requests/davx5-sync-collection-initial.xml"),
    include_bytes!("../testdata/requests/ios-calendar-query.xml"),
    include_bytes!("../testdata/requests/ios-expand-property-proxy.xml"),
    include_bytes!("../testdata/requests/ios-principal-property-search.xml"),
    include_bytes!("../testdata/requests/ios-propfind-principal.xml"),
    include_bytes!("../testdata/requests/ios-proppatch-calendar.xml"),
    include_bytes!("../testdata/requests/ios-sync-collection-addressbook.xml"),
    include_bytes!("../testdata/requests/macos-addressbook-multiget.xml"),
    include_bytes!("../testdata/requests/rfc4791-mkcalendar.xml"),
    include_bytes!("../testdata/requests/rfc4791-query-expand.xml"),
    include_bytes!("../testdata/requests/rfc4791-query-partstat.xml"),
    include_bytes!("../testdata/requests/rfc6352-query-anyof.xml"),
    include_bytes!("../testdata/requests/thunderbird-multiget.xml"),
    include_bytes!("../testdata/requests/thunderbird-sync-collection.xml"),
];

fn feed(body: &[u8]) {
    let _ = PropFind::parse(body);
    let _ = PropertyUpdate::parse(body);
    let _ = Mkcol::parse_mkcalendar(body);
    let _ = Mkcol::parse_mkcol(body);
    let _ = Report::parse(body);
}

#[test]
fn every_truncation_of_every_sample() {
    for sample in SAMPLES {
        for end in 0..=sample.len() {
            feed(&sample[..end]);
            // Chopping the start off as well exercises text before the root.
            feed(&sample[end..]);
        }
    }
}

#[test]
fn samples_parse_whole() {
    for sample in SAMPLES {
        let ok = PropFind::parse(sample).is_ok()
            || PropertyUpdate::parse(sample).is_ok()
            || Mkcol::parse_mkcalendar(sample).is_ok()
            || Report::parse(sample).is_ok();
        assert!(ok, "{}", String::from_utf8_lossy(sample));
    }
}

#[test]
fn junk() {
    let junk: &[&[u8]] = &[
        b"\0\0\0\0",
        b"\xef\xbb\xbf",
        b"\xef\xbb\xbf<propfind xmlns='DAV:'/>",
        b"<",
        b"<>",
        b"</a>",
        b"<a",
        b"<a b>",
        b"<a b='1' b='2'/>",
        b"<a xmlns:p=''><p:b/></a>",
        b"<?xml version='1.0' encoding='UTF-16'?><a/>",
        b"<![CDATA[x]]>",
        b"<a><![CDATA[",
        b"<a>&#0;</a>",
        b"<a>&#xD800;</a>",
        b"<a>&#99999999999;</a>",
        b"<a>&;</a>",
        b"<!-- only a comment -->",
        b"<?pi?>",
        b"\xff\xfe<\x00a\x00/\x00>\x00",
        br#"<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="99999999T999999Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#,
        br#"<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="00000101T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#,
        br#"<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="2006010\xc3\x84T00000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#,
    ];
    for body in junk {
        feed(body);
    }
    // Deeply nested filters stop at the depth limit instead of recursing without bound.
    let deep = format!(
        r#"<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter>{}</C:filter></C:calendar-query>"#,
        r#"<C:comp-filter name="VCALENDAR">"#.repeat(10_000)
    );
    assert!(matches!(Report::parse(deep.as_bytes()), Err(crate::XmlError::TooDeep(_))));
    let deep = format!(
        r#"<C:addressbook-query xmlns:C="urn:ietf:params:xml:ns:carddav"><C:filter>{}</C:filter></C:addressbook-query>"#,
        r#"<C:prop-filter name="FN">"#.repeat(10_000)
    );
    assert!(matches!(Report::parse(deep.as_bytes()), Err(crate::XmlError::TooDeep(_))));
    let deep = format!(r#"<D:expand-property xmlns:D="DAV:">{}"#, r#"<D:property name="x">"#.repeat(10_000));
    assert!(matches!(Report::parse(deep.as_bytes()), Err(crate::XmlError::TooDeep(_))));
}

/// Deterministic byte mutations of the samples: a poor man's fuzzer that
/// needs no extra tooling and runs in every `cargo test`.
#[test]
fn mutated_samples() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64*: enough randomness to reach odd corners, same run every time.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    const BYTES: &[u8] = b"<>/&;:\"'=!?[]-#x \0\xff\xc3";
    for sample in SAMPLES {
        for _ in 0..300 {
            let mut body = sample.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = usize::try_from(next() % body.len() as u64).unwrap_or(0);
                let byte = BYTES[usize::try_from(next() % BYTES.len() as u64).unwrap_or(0)];
                match next() % 3 {
                    0 => body[at] = byte,
                    1 => body.insert(at, byte),
                    _ => {
                        body.remove(at);
                    }
                }
            }
            feed(&body);
        }
    }
}
