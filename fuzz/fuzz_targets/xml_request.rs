//! Fuzz target: the DAV request-body parsers (PROPFIND, PROPPATCH, REPORT, MKCOL, MKCALENDAR) and
//! the two places parsed XML goes back out: dead properties replayed verbatim and 207 bodies.
//!
//! Besides "never panic", two invariants are checked, because a failure of either sends a client
//! malformed XML long after the request that caused it:
//! * a PROPPATCH value stored as a dead property (`PropertyValue::xml`) parses back to the same
//!   tree, and is well-formed to a strict parser (roxmltree);
//! * a `207 Multi-Status` naming the requested properties and replaying those values is
//!   well-formed to a strict parser.

#![no_main]

use libfuzzer_sys::fuzz_target;
use madang_dav::xml::parse_document;
use madang_dav::{Mkcol, MultistatusWriter, PropFind, PropValue, PropertyChange, PropertyUpdate, Report, Response};

fuzz_target!(|body: &[u8]| {
    let _ = parse_document(body);
    let _ = Report::parse(body);
    let _ = Mkcol::parse_mkcol(body);
    let _ = Mkcol::parse_mkcalendar(body);

    let mut props = Vec::new();
    if let Ok(propfind) = PropFind::parse(body) {
        props.extend(propfind.names().iter().map(|name| (name.clone(), PropValue::Empty)));
    }
    if let Ok(update) = PropertyUpdate::parse(body) {
        for change in update.changes {
            let PropertyChange::Set(name, value) = change else { continue };
            let stored = value.xml();
            let replayed = parse_document(stored.as_bytes());
            assert!(
                matches!(&replayed, Ok(Some(e)) if e == value.element()),
                "dead property does not round-trip:\n stored: {stored:?}\n reparsed: {replayed:?}\n original: {:?}",
                value.element()
            );
            if let Err(e) = roxmltree::Document::parse(stored) {
                panic!("dead property is not well-formed XML ({e}):\n{stored}");
            }
            props.push((name, PropValue::Raw(stored.to_string())));
        }
    }
    if !props.is_empty() {
        let mut writer = MultistatusWriter::new();
        writer.push(&Response::found_and_missing("/dav/fuzz/", props, Vec::new()));
        let out = writer.finish(Some("http://madang.invalid/sync/1"));
        assert!(parse_document(out.as_bytes()).is_ok(), "207 body is not well-formed XML:\n{out}");
        if let Err(e) = roxmltree::Document::parse(&out) {
            panic!("207 body is not well-formed XML ({e}):\n{out}");
        }
    }
});
