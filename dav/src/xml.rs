//! A small, bounded XML tree read with quick-xml's namespace-aware `NsReader`,
//! plus escaping and self-contained re-serialization.
//!
//! DAV request bodies are small, so the parsers first build this tree and then
//! walk it; that keeps each RFC's grammar readable as plain code. The reader
//! enforces the safety rules once for every method: no DOCTYPE (hence no
//! entity tricks), a depth limit and an element-count limit.

use std::borrow::Cow;

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
        let mut namespaces: Vec<&str> = Vec::new();
        self.collect_namespaces(&mut namespaces);
        let prefixes: Vec<(&str, String)> = namespaces
            .iter()
            .enumerate()
            .map(|(i, ns)| (*ns, names::fixed_prefix(ns).map(str::to_owned).unwrap_or_else(|| format!("x{i}"))))
            .collect();
        let mut out = String::new();
        self.write(&mut out, &prefixes, true);
        out
    }

    fn collect_namespaces<'a>(&'a self, acc: &mut Vec<&'a str>) {
        let mut add = |ns: &'a str| {
            if !ns.is_empty() && ns != names::XML && !acc.contains(&ns) {
                acc.push(ns);
            }
        };
        add(&self.name.ns);
        for a in &self.attrs {
            add(&a.name.ns);
        }
        for e in self.elements() {
            e.collect_namespaces(acc);
        }
    }

    fn write(&self, out: &mut String, prefixes: &[(&str, String)], root: bool) {
        let prefixed = |q: &QName| -> String {
            if q.ns.is_empty() {
                return q.local.to_string();
            }
            if q.ns == names::XML {
                return format!("xml:{}", q.local);
            }
            let p = prefixes.iter().find(|(ns, _)| *ns == q.ns).map(|(_, p)| p.as_str()).unwrap_or("x");
            format!("{p}:{}", q.local)
        };
        let tag = prefixed(&self.name);
        out.push('<');
        out.push_str(&tag);
        if root {
            for (ns, p) in prefixes {
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
                Node::Element(e) => e.write(out, prefixes, false),
            }
        }
        out.push_str("</");
        out.push_str(&tag);
        out.push('>');
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

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        match reader.read_event()? {
            Event::Start(start) => {
                let element = open(&reader, &start, root.is_some(), stack.len(), &mut count)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let element = open(&reader, &start, root.is_some(), stack.len(), &mut count)?;
                close(element, &mut stack, &mut root);
            }
            Event::End(_) => match stack.pop() {
                Some(element) => close(element, &mut stack, &mut root),
                None => return Err(XmlError::Malformed("unexpected end tag".into())),
            },
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| XmlError::Malformed(e.to_string()))?;
                push_text(&mut stack, &s)?;
            }
            Event::CData(c) => {
                let s = c.xml10_content().map_err(|e| XmlError::Malformed(e.to_string()))?;
                push_text(&mut stack, &s)?;
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
                push_text(&mut stack, &resolved)?;
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed("unexpected end of document".into()));
    }
    match root {
        Some(root) => Ok(Some(root)),
        None => Err(XmlError::Malformed("no root element".into())),
    }
}

/// XML 1.0 §2.2 `Char` (Rust strings cannot hold surrogates, the other excluded range).
fn is_xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Like [`parse_document`] but for methods whose body is mandatory.
pub(crate) fn parse_required(body: &[u8]) -> Result<Element, XmlError> {
    parse_document(body)?.ok_or(XmlError::Empty)
}

/// Starts an element after checking the document-wide limits.
fn open(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    root_done: bool,
    depth: usize,
    count: &mut usize,
) -> Result<Element, XmlError> {
    if root_done {
        return Err(XmlError::Malformed("more than one root element".into()));
    }
    *count += 1;
    if *count > MAX_ELEMENTS {
        return Err(XmlError::TooManyElements(MAX_ELEMENTS));
    }
    if depth >= MAX_DEPTH {
        return Err(XmlError::TooDeep(MAX_DEPTH));
    }
    let (ns, local) = reader.resolver().resolve_element(start.name());
    let name = qname(ns, local.as_ref())?;
    let mut attrs = Vec::new();
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
        attrs.push(Attribute { name, value: value.into_owned() });
    }
    Ok(Element { name, attrs, children: Vec::new() })
}

fn qname(ns: ResolveResult<'_>, local: &[u8]) -> Result<QName, XmlError> {
    let local = std::str::from_utf8(local).map_err(|_| XmlError::NotUtf8)?.to_owned();
    let ns = match ns {
        ResolveResult::Unbound => String::new(),
        ResolveResult::Bound(ns) => std::str::from_utf8(ns.as_ref()).map_err(|_| XmlError::NotUtf8)?.to_owned(),
        ResolveResult::Unknown(p) => {
            return Err(XmlError::Malformed(format!("unknown namespace prefix {}", String::from_utf8_lossy(&p))));
        }
    };
    Ok(QName::new(ns, local))
}

fn push_text(stack: &mut [Element], s: &str) -> Result<(), XmlError> {
    let Some(top) = stack.last_mut() else {
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

fn close(mut element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    // Indentation between child elements is not content: dropping it keeps
    // stored dead properties compact. Text-only elements keep their text exactly.
    if element.children.iter().any(|n| matches!(n, Node::Element(_))) {
        element.children.retain(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()));
    }
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(element)),
        None => *root = Some(element),
    }
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

    #[test]
    fn refuses_characters_xml_forbids_issue19() {
        for bad in
            ["<a>x\u{0}y</a>", "<a>&#0;</a>", "<a>&#x1;</a>", "<a b=\"&#0;\"/>", "<a>\u{ffff}</a>", "<a b=\"\u{7}\"/>"]
        {
            assert!(matches!(parse(bad), Err(XmlError::Malformed(_))), "{bad:?}");
        }
        assert_eq!(parse("<a>\t&#9;&#10;&#13;\u{e000}</a>").unwrap().text(), "\t\t\n\r\u{e000}");
    }

    #[test]
    fn bounds_element_count() {
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(&many), Err(XmlError::TooManyElements(MAX_ELEMENTS)));
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
