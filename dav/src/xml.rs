//! A small, bounded XML tree read with quick-xml's namespace-aware `NsReader`,
//! plus escaping and self-contained re-serialization.
//!
//! DAV request bodies are small, so the parsers first build this tree and then
//! walk it; that keeps each RFC's grammar readable as plain code. The reader
//! enforces the safety rules once for every method: no DOCTYPE (hence no
//! entity tricks), and limits on depth, elements, attributes and namespace
//! declarations that keep the work linear in the size of the body.
//!
//! Two parts of quick-xml are quadratic if left unbounded, so the limits are
//! chosen around them (issue 19: 100,000 declarations or attributes on one
//! element took ~12 s of CPU each):
//! * `Attributes` checks for duplicates by comparing each attribute with every
//!   earlier one. Attributes are therefore counted first with that check off,
//!   and an element over the limit is refused before the checked pass.
//! * `NamespaceResolver` finds a prefix by scanning every binding in scope,
//!   once per element and prefixed attribute. [`MAX_NAMESPACES_IN_SCOPE`]
//!   bounds that scan, so a body costs at most that many comparisons per name.

use std::borrow::Cow;
use std::collections::HashMap;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use crate::error::XmlError;
use crate::names::{self, QName};

/// Deepest element nesting accepted. Real DAV bodies stay below 12 (a
/// calendar-query filter is the deepest); dead properties get some slack.
pub const MAX_DEPTH: usize = 64;
/// Most elements accepted in one body: a multiget of 10,000 hrefs fits.
pub const MAX_ELEMENTS: usize = 100_000;
/// Most namespace declarations on one element. Real clients declare up to
/// about ten, all on the root (iOS's principal PROPFIND: eight).
pub const MAX_NAMESPACES_PER_ELEMENT: usize = 64;
/// Most namespace declarations in scope at once (on an element and its
/// ancestors). quick-xml resolves each name by scanning them all, so this is
/// what bounds the cost of a name; Go's `encoding/xml` redeclares `xmlns` on
/// every element, which stays far below it at any real depth.
pub const MAX_NAMESPACES_IN_SCOPE: usize = 128;
/// Most namespace declarations in one body: one per element on average, which
/// still admits clients that redeclare on every element.
pub const MAX_NAMESPACES: usize = MAX_ELEMENTS;
/// Most attributes (declarations not counted) on one element. DAV elements
/// carry one or two (`name`, `match-type`, `start`/`end`); dead properties get slack.
pub const MAX_ATTRIBUTES_PER_ELEMENT: usize = 64;
/// Most attributes in one body, a memory bound like [`MAX_ELEMENTS`].
pub const MAX_ATTRIBUTES: usize = MAX_ELEMENTS;

/// An element with its namespace-resolved name, attributes and children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: QName,
    pub attrs: Vec<Attribute>,
    pub children: Vec<Node>,
}

/// An attribute; unprefixed attributes are in no namespace (Namespaces in XML §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: QName,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    /// Character data with entities and CDATA already resolved.
    Text(String),
}

impl Element {
    /// The child elements, skipping text.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element called `{ns}local`.
    pub fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.elements().find(|e| e.name.is(ns, local))
    }

    /// Every child element called `{ns}local`, in document order.
    pub fn children_named<'a>(&'a self, ns: &'a str, local: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name.is(ns, local))
    }

    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.name.is(ns, local)
    }

    /// All descendant character data, concatenated (the DOM's `textContent`).
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out
    }

    fn collect_text(&self, out: &mut String) {
        for node in &self.children {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.collect_text(out),
            }
        }
    }

    /// The value of an attribute in no namespace (how every DAV attribute is written).
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attr_ns("", local)
    }

    pub fn attr_ns(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs.iter().find(|a| a.name.is(ns, local)).map(|a| a.value.as_str())
    }

    /// A self-contained serialization: every namespace used in the subtree is
    /// declared on this element, so the string can be stored as a dead property
    /// and later written verbatim inside any other document. Well-known
    /// namespaces get their usual prefixes (`D`, `C`, …), others `x0`, `x1`, …;
    /// the default namespace is never used, so un-namespaced names stay so.
    pub fn to_xml(&self) -> String {
        // A map, not a list: a property may use thousands of namespaces (one
        // declared on each child), and a list search per name is quadratic.
        let mut namespaces = Namespaces::default();
        self.collect_namespaces(&mut namespaces);
        let mut out = String::new();
        self.write(&mut out, &namespaces, true);
        out
    }

    fn collect_namespaces<'a>(&'a self, acc: &mut Namespaces<'a>) {
        acc.add(&self.name.ns);
        for a in &self.attrs {
            acc.add(&a.name.ns);
        }
        for e in self.elements() {
            e.collect_namespaces(acc);
        }
    }

    fn write(&self, out: &mut String, namespaces: &Namespaces<'_>, root: bool) {
        let prefixed = |q: &QName| -> String {
            if q.ns.is_empty() {
                return q.local.to_string();
            }
            if q.ns == names::XML {
                return format!("xml:{}", q.local);
            }
            let p = namespaces.prefix(&q.ns).unwrap_or("x");
            format!("{p}:{}", q.local)
        };
        let tag = prefixed(&self.name);
        out.push('<');
        out.push_str(&tag);
        if root {
            for (ns, p) in &namespaces.list {
                out.push_str(&format!(" xmlns:{p}=\"{}\"", escape_attr(ns)));
            }
        }
        for a in &self.attrs {
            out.push_str(&format!(" {}=\"{}\"", prefixed(&a.name), escape_attr(&a.value)));
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for node in &self.children {
            match node {
                Node::Text(t) => out.push_str(&escape_text(t)),
                Node::Element(e) => e.write(out, namespaces, false),
            }
        }
        out.push_str("</");
        out.push_str(&tag);
        out.push('>');
    }
}

/// The namespaces a subtree uses, in order of first use, each with its prefix.
#[derive(Default)]
struct Namespaces<'a> {
    list: Vec<(&'a str, String)>,
    index: HashMap<&'a str, usize>,
}

impl<'a> Namespaces<'a> {
    fn add(&mut self, ns: &'a str) {
        if ns.is_empty() || ns == names::XML || self.index.contains_key(ns) {
            return;
        }
        let i = self.list.len();
        self.index.insert(ns, i);
        self.list.push((ns, names::fixed_prefix(ns).map(str::to_owned).unwrap_or_else(|| format!("x{i}"))));
    }

    fn prefix(&self, ns: &str) -> Option<&str> {
        let i = *self.index.get(ns)?;
        self.list.get(i).map(|(_, p)| p.as_str())
    }
}

/// Escapes character data: `&`, `<`, `>` (the last so `]]>` cannot appear), and
/// `\r`, which XML parsers would otherwise normalise away (XML 1.0 §2.11).
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Escapes an attribute value for use inside double quotes; also keeps tabs and
/// newlines, which attribute-value normalisation would turn into spaces (XML 1.0 §3.3.3).
pub fn escape_attr(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, attr: bool) -> Cow<'_, str> {
    let needs = |c: char| matches!(c, '&' | '<' | '>' | '\r') || (attr && matches!(c, '"' | '\n' | '\t'));
    if !s.contains(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attr => out.push_str("&quot;"),
            '\n' if attr => out.push_str("&#10;"),
            '\t' if attr => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Parses a request body into its root element. `Ok(None)` means the body is
/// empty or only whitespace, which some methods treat specially (an empty
/// PROPFIND is allprop, RFC 4918 §9.1).
pub fn parse_document(body: &[u8]) -> Result<Option<Element>, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // XML 1.0 §2.2 `Char`: no C0 control but tab, LF and CR, and not U+FFFE/U+FFFF. A NUL
    // would otherwise reach stored dead properties, which PostgreSQL cannot hold.
    if let Some(c) = text.chars().find(|c| !is_xml_char(*c)) {
        return Err(XmlError::Malformed(format!("character U+{:04X} is not allowed in XML", c as u32)));
    }
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;

    let mut tree = Tree::default();
    loop {
        match reader.read_event()? {
            Event::Start(start) => {
                let (element, declarations) = tree.open(&reader, &start)?;
                tree.push(element, declarations);
            }
            Event::Empty(start) => {
                let (element, _) = tree.open(&reader, &start)?;
                tree.close(element);
            }
            Event::End(_) => tree.end()?,
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| XmlError::Malformed(e.to_string()))?;
                tree.text(&s)?;
            }
            Event::CData(c) => {
                let s = c.xml10_content().map_err(|e| XmlError::Malformed(e.to_string()))?;
                tree.text(&s)?;
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    match r.resolve_char_ref()? {
                        Some(c) if is_xml_char(c) => c.to_string(),
                        _ => return Err(XmlError::Malformed("invalid character reference".into())),
                    }
                } else {
                    let name = r.decode().map_err(|e| XmlError::Malformed(e.to_string()))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => s.to_string(),
                        None => return Err(XmlError::UnknownEntity(name.into_owned())),
                    }
                };
                tree.text(&resolved)?;
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    tree.finish()
}

/// XML 1.0 §2.2 `Char` (Rust strings cannot hold surrogates, the other excluded range).
fn is_xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Like [`parse_document`] but for methods whose body is mandatory.
pub(crate) fn parse_required(body: &[u8]) -> Result<Element, XmlError> {
    parse_document(body)?.ok_or(XmlError::Empty)
}

/// The tree under construction and the document-wide counts its limits need.
#[derive(Default)]
struct Tree {
    /// Open elements, each with the number of namespaces it declared.
    stack: Vec<(Element, usize)>,
    root: Option<Element>,
    elements: usize,
    attributes: usize,
    namespaces: usize,
    /// Declarations on the open elements: the bindings quick-xml scans.
    in_scope: usize,
}

impl Tree {
    /// Builds an element after checking the limits, all of them before any
    /// work that grows faster than the element's own size. Returns it with
    /// the number of namespaces it declares.
    fn open(&mut self, reader: &NsReader<&[u8]>, start: &BytesStart<'_>) -> Result<(Element, usize), XmlError> {
        if self.root.is_some() {
            return Err(XmlError::Malformed("more than one root element".into()));
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(XmlError::TooManyElements(MAX_ELEMENTS));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(XmlError::TooDeep(MAX_DEPTH));
        }
        // Count with quick-xml's duplicate check off: with it on, the count
        // itself would be the quadratic work the limits are there to prevent.
        let (mut declarations, mut attributes) = (0usize, 0usize);
        for attr in start.attributes().with_checks(false) {
            let attr = attr.map_err(|e| XmlError::Malformed(e.to_string()))?;
            if attr.key.as_namespace_binding().is_some() {
                declarations += 1;
                if declarations > MAX_NAMESPACES_PER_ELEMENT {
                    return Err(XmlError::TooManyNamespacesOnElement(MAX_NAMESPACES_PER_ELEMENT));
                }
            } else {
                attributes += 1;
                if attributes > MAX_ATTRIBUTES_PER_ELEMENT {
                    return Err(XmlError::TooManyAttributesOnElement(MAX_ATTRIBUTES_PER_ELEMENT));
                }
            }
        }
        self.namespaces += declarations;
        if self.namespaces > MAX_NAMESPACES {
            return Err(XmlError::TooManyNamespaces(MAX_NAMESPACES));
        }
        if self.in_scope + declarations > MAX_NAMESPACES_IN_SCOPE {
            return Err(XmlError::TooManyNamespacesInScope(MAX_NAMESPACES_IN_SCOPE));
        }
        self.attributes += attributes;
        if self.attributes > MAX_ATTRIBUTES {
            return Err(XmlError::TooManyAttributes(MAX_ATTRIBUTES));
        }

        let (ns, local) = reader.resolver().resolve_element(start.name());
        let name = qname(ns, local.as_ref())?;
        // The XML namespace is reserved (Namespaces in XML §3) and defines attributes only
        // (`xml:lang`, `xml:space`); a property named in it could not be answered in a 207 that
        // strict parsers accept (fuzz finding F1).
        if name.ns == names::XML {
            return Err(XmlError::Malformed(format!("element `xml:{}` is in the reserved XML namespace", name.local)));
        }
        let mut attrs = Vec::with_capacity(attributes);
        // Now that the element is known to be small, quick-xml's pairwise
        // duplicate check (XML 1.0 §3.1, "Unique Att Spec") is cheap.
        for attr in start.attributes() {
            let attr = attr.map_err(|e| XmlError::Malformed(e.to_string()))?;
            if attr.key.as_namespace_binding().is_some() {
                continue;
            }
            let (ns, local) = reader.resolver().resolve_attribute(attr.key);
            let name = qname(ns, local.as_ref())?;
            let value = attr.decode_and_unescape_value(reader.decoder()).map_err(|e| match e {
                quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
                    XmlError::UnknownEntity(name)
                }
                e => XmlError::Malformed(e.to_string()),
            })?;
            // References are resolved by quick-xml here, unchecked: `&#11;` in an attribute
            // would be stored and written back as a character XML forbids (fuzz, issue 19).
            if let Some(c) = value.chars().find(|c| !is_xml_char(*c)) {
                return Err(XmlError::Malformed(format!("character U+{:04X} is not allowed in XML", c as u32)));
            }
            attrs.push(Attribute { name, value: value.into_owned() });
        }
        Ok((Element { name, attrs, children: Vec::new() }, declarations))
    }

    /// Makes an element the parent of what follows, until its end tag.
    fn push(&mut self, element: Element, declarations: usize) {
        self.in_scope += declarations;
        self.stack.push((element, declarations));
    }

    fn end(&mut self) -> Result<(), XmlError> {
        match self.stack.pop() {
            Some((element, declarations)) => {
                self.in_scope -= declarations;
                self.close(element);
                Ok(())
            }
            None => Err(XmlError::Malformed("unexpected end tag".into())),
        }
    }

    fn close(&mut self, mut element: Element) {
        // Indentation between child elements is not content: dropping it keeps
        // stored dead properties compact. Text-only elements keep their text exactly.
        if element.children.iter().any(|n| matches!(n, Node::Element(_))) {
            element.children.retain(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()));
        }
        match self.stack.last_mut() {
            Some((parent, _)) => parent.children.push(Node::Element(element)),
            None => self.root = Some(element),
        }
    }

    fn text(&mut self, s: &str) -> Result<(), XmlError> {
        let Some((top, _)) = self.stack.last_mut() else {
            // Only whitespace may surround the root element (XML 1.0 §2.1).
            if s.trim().is_empty() {
                return Ok(());
            }
            return Err(XmlError::Malformed("text outside the root element".into()));
        };
        match top.children.last_mut() {
            Some(Node::Text(t)) => t.push_str(s),
            _ => top.children.push(Node::Text(s.to_owned())),
        }
        Ok(())
    }

    fn finish(self) -> Result<Option<Element>, XmlError> {
        if !self.stack.is_empty() {
            return Err(XmlError::Malformed("unexpected end of document".into()));
        }
        match self.root {
            Some(root) => Ok(Some(root)),
            None => Err(XmlError::Malformed("no root element".into())),
        }
    }
}

fn qname(ns: ResolveResult<'_>, local: &[u8]) -> Result<QName, XmlError> {
    let local = std::str::from_utf8(local).map_err(|_| XmlError::NotUtf8)?.to_owned();
    // quick-xml does not check names: `<D:a=b/>` or an attribute `1x` would be stored as dead
    // properties and echoed into every later 207, which strict clients refuse (fuzz finding F2).
    if !is_ncname(&local) {
        return Err(XmlError::Malformed(format!("`{}` is not an XML name", local.escape_debug())));
    }
    let ns = match ns {
        ResolveResult::Unbound => String::new(),
        ResolveResult::Bound(ns) => {
            let raw = std::str::from_utf8(ns.as_ref()).map_err(|_| XmlError::NotUtf8)?;
            // The namespace name is an attribute value, so its references are resolved like any
            // other (XML 1.0 §3.3.3); taken raw, `urn:a&amp;b` gained an `amp;` on every store
            // and replay of a dead property (fuzz finding F4).
            let ns = quick_xml::escape::unescape(raw)
                .map_err(|e| XmlError::Malformed(format!("namespace name: {e}")))?
                .into_owned();
            if ns.chars().any(|c| !is_xml_char(c)) {
                return Err(XmlError::Malformed("a namespace name contains a character XML forbids".into()));
            }
            // Namespaces in XML §3: nothing is *in* the xmlns namespace.
            if ns == XMLNS {
                return Err(XmlError::Malformed("no element or attribute may be in the xmlns namespace".into()));
            }
            ns
        }
        ResolveResult::Unknown(p) => {
            return Err(XmlError::Malformed(format!("unknown namespace prefix {}", String::from_utf8_lossy(&p))));
        }
    };
    Ok(QName::new(ns, local))
}

const XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// Namespaces in XML §3 `NCName`: an XML 1.0 §2.3 `Name` without colons.
fn is_ncname(s: &str) -> bool {
    let start = |c: char| {
        matches!(c, 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
            | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
            | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
            | '\u{10000}'..='\u{EFFFF}')
    };
    let rest = |c: char| {
        start(c) || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
    };
    let mut chars = s.chars();
    chars.next().is_some_and(start) && chars.all(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{CALDAV, DAV};

    fn parse(s: &str) -> Result<Element, XmlError> {
        parse_required(s.as_bytes())
    }

    #[test]
    fn resolves_prefixes_and_default_namespace() {
        let e = parse(
            r#"<x:a xmlns:x="DAV:" xmlns="urn:ietf:params:xml:ns:caldav"><b n="1"/><x:c>t&amp;u&#65;</x:c></x:a>"#,
        )
        .unwrap();
        assert!(e.is(DAV, "a"));
        let b = e.child(CALDAV, "b").unwrap();
        assert_eq!(b.attr("n"), Some("1"));
        assert_eq!(e.child(DAV, "c").unwrap().text(), "t&uA");
    }

    #[test]
    fn refuses_doctype_and_unknown_entities() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert_eq!(parse(laughs), Err(XmlError::Doctype));
        assert_eq!(parse("<a>&xxe;</a>"), Err(XmlError::UnknownEntity("xxe".into())));
        assert!(matches!(parse(r#"<a b="&xxe;"/>"#), Err(XmlError::UnknownEntity(_))));
    }

    #[test]
    fn bounds_depth_and_rejects_garbage() {
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&deep), Err(XmlError::TooDeep(MAX_DEPTH)));
        assert!(matches!(parse("<a><b></a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse("<a/><b/>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse("<a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse("<p:a/>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse("junk"), Err(XmlError::Malformed(_))));
        assert_eq!(parse_document(b" \r\n ").unwrap(), None);
        assert_eq!(parse_document(b"\xff<a/>"), Err(XmlError::NotUtf8));
    }

    /// See: fuzz findings F2 and F4 (issue 19).
    #[test]
    fn names_must_be_xml_names_and_namespaces_are_unescaped_fuzz_f2_f4() {
        for bad in [
            "<D:a=b xmlns:D=\"DAV:\"/>",
            "<a 1x=\"v\"/>",
            "<a><b-=c/></a>",
            "<x:a xmlns:x=\"&#1;\"/>",
            "<xmlns:a/>",
            "<xml:a/>",
            "<D:prop xmlns:D=\"DAV:\"><xml:foo/></D:prop>",
        ] {
            assert!(matches!(parse(bad), Err(XmlError::Malformed(_))), "{bad}: {:?}", parse(bad));
        }
        for dir in ["F2-attribute-name-not-an-xml-name.xml", "F2-property-name-not-an-xml-name.xml"] {
            let body = std::fs::read(format!("{}/../fuzz/findings/{dir}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            assert!(parse_document(&body).is_err(), "{dir}");
        }
        let e = parse(r#"<Z:k xmlns:Z="urn:a&amp;b" a-b.c="1" _x="2"/>"#).unwrap();
        assert_eq!(e.name.ns, "urn:a&b");
        assert_eq!(e.attr("a-b.c"), Some("1"));
        // Store and replay is a fixpoint: no `amp;` is added.
        assert_eq!(parse(&e.to_xml()).unwrap(), e);
        assert!(parse("<한국어 xmlns=\"urn:k\"/>").is_ok(), "non-ASCII names are names");
    }

    #[test]
    fn refuses_characters_xml_forbids_issue19() {
        for bad in [
            "<a>x\u{0}y</a>",
            "<a>&#0;</a>",
            "<a>&#x1;</a>",
            "<a b=\"&#0;\"/>",
            "<a>\u{ffff}</a>",
            "<a b=\"\u{7}\"/>",
            // Found by the fuzz smoke run: a reference in an attribute value.
            "<a b=\"x&#11;\"/>",
            "<a b=\"&#xFFFE;\"/>",
        ] {
            assert!(matches!(parse(bad), Err(XmlError::Malformed(_))), "{bad:?}");
        }
        assert_eq!(parse("<a>\t&#9;&#10;&#13;\u{e000}</a>").unwrap().text(), "\t\t\n\r\u{e000}");
    }

    #[test]
    fn bounds_element_count() {
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(&many), Err(XmlError::TooManyElements(MAX_ELEMENTS)));
    }

    /// ` xmlns:{prefix}0="urn:{prefix}0" …`: `n` namespace declarations.
    fn declarations(n: usize, prefix: &str) -> String {
        (0..n).map(|i| format!(r#" xmlns:{prefix}{i}="urn:{prefix}{i}""#)).collect()
    }

    /// ` a0="0" a1="1" …`: `n` attributes.
    fn attributes(n: usize) -> String {
        (0..n).map(|i| format!(r#" a{i}="{i}""#)).collect()
    }

    // See: issue 19, "Quadratic XML" (100,000 declarations on one element).
    #[test]
    fn issue19_bounds_namespaces_per_element() {
        let most = format!("<a{}/>", declarations(MAX_NAMESPACES_PER_ELEMENT, "p"));
        assert!(parse(&most).is_ok());
        let over = format!("<a{}/>", declarations(MAX_NAMESPACES_PER_ELEMENT + 1, "p"));
        assert_eq!(parse(&over), Err(XmlError::TooManyNamespacesOnElement(MAX_NAMESPACES_PER_ELEMENT)));
        // The default namespace is a declaration like any other.
        let over = format!(r#"<a xmlns="DAV:"{}/>"#, declarations(MAX_NAMESPACES_PER_ELEMENT, "p"));
        assert_eq!(parse(&over), Err(XmlError::TooManyNamespacesOnElement(MAX_NAMESPACES_PER_ELEMENT)));
    }

    // See: issue 19. The resolver scans every binding in scope for each name.
    #[test]
    fn issue19_bounds_namespaces_in_scope() {
        let levels = MAX_NAMESPACES_IN_SCOPE / MAX_NAMESPACES_PER_ELEMENT;
        let open: String = (0..levels)
            .map(|l| format!("<e{l}{}>", declarations(MAX_NAMESPACES_PER_ELEMENT, &format!("l{l}p"))))
            .collect();
        let close: String = (0..levels).rev().map(|l| format!("</e{l}>")).collect();
        assert!(parse(&format!("{open}<l0p0:x/>{close}")).is_ok());
        assert_eq!(
            parse(&format!(r#"{open}<x xmlns:q="urn:q"/>{close}"#)),
            Err(XmlError::TooManyNamespacesInScope(MAX_NAMESPACES_IN_SCOPE))
        );
        // Declarations leave scope with their element, so siblings do not add up.
        let siblings: String =
            (0..10).map(|_| format!("<s{}/>", declarations(MAX_NAMESPACES_PER_ELEMENT, "p"))).collect();
        assert!(parse(&format!("<r>{siblings}</r>")).is_ok());
    }

    // See: issue 19. Go's encoding/xml redeclares `xmlns` on every element,
    // which the per-document limit must admit at real sizes.
    #[test]
    fn issue19_bounds_namespaces_per_document() {
        let pair = r#"<e xmlns="DAV:" xmlns:x="urn:x"/>"#;
        let most = format!("<r>{}</r>", pair.repeat(MAX_NAMESPACES / 2));
        assert!(parse(&most).is_ok());
        let over = format!("<r>{}</r>", pair.repeat(MAX_NAMESPACES / 2 + 1));
        assert_eq!(parse(&over), Err(XmlError::TooManyNamespaces(MAX_NAMESPACES)));
    }

    // See: issue 19, "Quadratic XML" (100,000 attributes on one element).
    #[test]
    fn issue19_bounds_attributes_per_element() {
        // Declarations are counted apart from attributes.
        let most =
            format!("<a{}{}/>", attributes(MAX_ATTRIBUTES_PER_ELEMENT), declarations(MAX_NAMESPACES_PER_ELEMENT, "p"));
        assert_eq!(parse(&most).unwrap().attrs.len(), MAX_ATTRIBUTES_PER_ELEMENT);
        let over = format!("<a{}/>", attributes(MAX_ATTRIBUTES_PER_ELEMENT + 1));
        assert_eq!(parse(&over), Err(XmlError::TooManyAttributesOnElement(MAX_ATTRIBUTES_PER_ELEMENT)));
    }

    #[test]
    fn issue19_bounds_attributes_per_document() {
        let pair = r#"<e a="1" b="2"/>"#;
        assert!(parse(&format!("<r>{}</r>", pair.repeat(MAX_ATTRIBUTES / 2))).is_ok());
        let over = format!("<r>{}</r>", pair.repeat(MAX_ATTRIBUTES / 2 + 1));
        assert_eq!(parse(&over), Err(XmlError::TooManyAttributes(MAX_ATTRIBUTES)));
    }

    /// Counting without quick-xml's check must not let duplicates through.
    #[test]
    fn refuses_duplicate_attributes_and_declarations() {
        assert!(matches!(parse(r#"<a x="1" x="2"/>"#), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(r#"<a xmlns:p="urn:1" xmlns:p="urn:2"/>"#), Err(XmlError::Malformed(_))));
    }

    #[test]
    fn reserializes_with_explicit_declarations() {
        let e = parse(concat!(
            r#"<q:foo xmlns:q="urn:x" xmlns:z="DAV:" xml:lang="en" q:k="a&quot;b">"#,
            "\n  <z:bar/>\n  <q:baz><![CDATA[1 < 2]]></q:baz>\n  <plain>x</plain>\n</q:foo>"
        ))
        .unwrap();
        let xml = e.to_xml();
        assert_eq!(
            xml,
            r#"<x0:foo xmlns:x0="urn:x" xmlns:D="DAV:" xml:lang="en" x0:k="a&quot;b"><D:bar/><x0:baz>1 &lt; 2</x0:baz><plain>x</plain></x0:foo>"#
        );
        // The serialization is a fixpoint: parse → write → parse gives the same tree.
        assert_eq!(parse(&xml).unwrap(), e);
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_text("a<b>&c\r"), "a&lt;b&gt;&amp;c&#13;");
        assert_eq!(escape_attr("\"x\"\n"), "&quot;x&quot;&#10;");
        assert!(matches!(escape_text("plain"), Cow::Borrowed(_)));
    }
}
