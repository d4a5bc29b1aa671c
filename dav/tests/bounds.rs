//! Issue 19, "Quadratic XML": bodies built to make the parser quadratic are
//! refused or parsed in time linear in their size. Each test measures the
//! parse's wall time and peak heap (with the counting allocator below) and
//! asserts a ceiling on both. Before the fix, in a release build: 100,000
//! namespace prefixes 15 s, 100,000 attributes 20 s, 99,000 property names
//! 34 s, 99,000 namespaces inside one dead property 70 s.
//!
//! Ceilings are for an unoptimised test build on a busy machine, several
//! times the measured figures, and far below the quadratic ones.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use madang_dav::propfind::MAX_PROPERTIES;
use madang_dav::xml::{self, MAX_NAMESPACES_IN_SCOPE, MAX_NAMESPACES_PER_ELEMENT};
use madang_dav::{PropFind, PropertyUpdate, XmlError};

#[global_allocator]
static ALLOCATOR: madang_testkit::CountingAlloc = madang_testkit::CountingAlloc;

/// One test at a time: the counters are process-wide, and a body being
/// built on another thread would count as this test's allocation.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const MIB: usize = 1 << 20;

/// Runs `parse` on `body`; returns its result, wall time and peak heap growth.
/// The caller holds [`one_at_a_time`].
fn measure<T>(what: &str, body: &str, parse: impl FnOnce(&[u8]) -> T) -> (T, Duration, usize) {
    let (out, peak, took) = madang_testkit::measure(|| parse(body.as_bytes()));
    eprintln!(
        "{what}: body {:.2} MiB, {:.3} s, peak heap {:.1} MiB",
        body.len() as f64 / MIB as f64,
        took.as_secs_f64(),
        peak as f64 / MIB as f64
    );
    (out, took, peak)
}

fn assert_within(took: Duration, time: Duration, peak: usize, heap: usize) {
    assert!(took < time, "took {took:?}, ceiling {time:?}");
    assert!(peak < heap, "peak heap {} KiB, ceiling {} KiB", peak >> 10, heap >> 10);
}

/// The issue's first body: a PROPFIND whose root declares 100,000 prefixes (2.5 MiB).
#[test]
fn issue19_quadratic_xml_namespaces() {
    let _serial = one_at_a_time();
    let mut body = String::from(r#"<D:propfind xmlns:D="DAV:""#);
    for i in 0..100_000 {
        body.push_str(&format!(r#" xmlns:p{i}="urn:x:{i}""#));
    }
    body.push_str("><D:allprop/></D:propfind>");
    let (result, took, peak) = measure("100,000 prefixes", &body, PropFind::parse);
    assert_eq!(result, Err(XmlError::TooManyNamespacesOnElement(MAX_NAMESPACES_PER_ELEMENT)));
    // quick-xml records an element's declarations before its caller sees
    // the element: about twice the body, once.
    assert_within(took, Duration::from_secs(1), peak, 3 * body.len());
}

/// The issue's second body: 100,000 attributes on one element (1 MiB).
#[test]
fn issue19_quadratic_xml_attributes() {
    let _serial = one_at_a_time();
    let mut body = String::from(r#"<D:propfind xmlns:D="DAV:""#);
    for i in 0..100_000 {
        body.push_str(&format!(r#" a{i}="""#));
    }
    body.push_str("><D:allprop/></D:propfind>");
    let (result, took, peak) = measure("100,000 attributes", &body, PropFind::parse);
    assert_eq!(result, Err(XmlError::TooManyAttributesOnElement(xml::MAX_ATTRIBUTES_PER_ELEMENT)));
    assert_within(took, Duration::from_secs(1), peak, MIB);
}

/// 99,000 distinct property names: each was compared with all before it.
#[test]
fn issue19_quadratic_xml_property_names() {
    let _serial = one_at_a_time();
    let mut body = String::from(r#"<D:propfind xmlns:D="DAV:"><D:prop>"#);
    for i in 0..99_000 {
        body.push_str(&format!("<D:n{i}/>"));
    }
    body.push_str("</D:prop></D:propfind>");
    let (result, took, peak) = measure("99,000 property names", &body, PropFind::parse);
    assert_eq!(result, Err(XmlError::TooManyProperties(MAX_PROPERTIES)));
    // The whole tree is built before the grammar counts properties.
    assert_within(took, Duration::from_secs(3), peak, 64 * MIB);
}

/// 99,000 removals in one PROPPATCH: the server's bookkeeping per change
/// scanned every change before it.
#[test]
fn issue19_quadratic_xml_property_changes() {
    let _serial = one_at_a_time();
    let mut body = String::from(r#"<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop>"#);
    for i in 0..99_000 {
        body.push_str(&format!("<D:n{i}/>"));
    }
    body.push_str("</D:prop></D:remove></D:propertyupdate>");
    let (result, took, peak) = measure("99,000 property removals", &body, PropertyUpdate::parse);
    assert_eq!(result, Err(XmlError::TooManyProperties(MAX_PROPERTIES)));
    assert_within(took, Duration::from_secs(3), peak, 64 * MIB);
}

/// One dead property whose 99,000 children each declare their own namespace
/// (2.4 MiB, accepted): its self-contained serialization looked each
/// namespace up in a list.
#[test]
fn issue19_quadratic_xml_dead_property_namespaces() {
    let _serial = one_at_a_time();
    let mut body = String::from(r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:p xmlns:x="urn:p">"#);
    for i in 0..99_000 {
        body.push_str(&format!(r#"<a:c xmlns:a="urn:{i}"/>"#));
    }
    body.push_str("</x:p></D:prop></D:set></D:propertyupdate>");
    let (result, took, peak) = measure("99,000 namespaces in one dead property", &body, PropertyUpdate::parse);
    assert_eq!(result.map(|u| u.changes.len()), Ok(1));
    // The tree, its copy in the property, and the serialization.
    assert_within(took, Duration::from_secs(4), peak, 96 * MIB);
}

/// The most expensive names the limits admit: every binding allowed in scope,
/// then nearly 100,000 elements whose prefix quick-xml finds last.
#[test]
fn issue19_xml_name_lookups_are_bounded() {
    let _serial = one_at_a_time();
    let levels = MAX_NAMESPACES_IN_SCOPE / MAX_NAMESPACES_PER_ELEMENT;
    let mut body = String::new();
    for level in 0..levels {
        body.push_str(&format!("<l{level}"));
        for i in 0..MAX_NAMESPACES_PER_ELEMENT {
            body.push_str(&format!(r#" xmlns:l{level}p{i}="urn:{level}:{i}""#));
        }
        body.push('>');
    }
    for _ in 0..99_000 {
        body.push_str("<l0p0:x/>");
    }
    for level in (0..levels).rev() {
        body.push_str(&format!("</l{level}>"));
    }
    let (result, took, peak) = measure("99,000 names among 128 bindings", &body, xml::parse_document);
    assert!(result.is_ok(), "{result:?}");
    assert_within(took, Duration::from_secs(3), peak, 64 * MIB);
}
