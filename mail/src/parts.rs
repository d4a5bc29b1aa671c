//! Reading a large message by its parts instead of whole (RFC 9051 §6.4.5 `BODY[section]`,
//! §7.5.2 `BODYSTRUCTURE`): which sections to fetch for the reader (the header, the text it
//! shows, small pictures the HTML embeds), how to put what was fetched back together into one
//! message `mail-parser` reads as it would the whole (the parts left out stay in their places,
//! empty, so a part has the same number either way), and decoding a part's transfer encoding
//! as it arrives in pieces (an attachment download streams).

use std::fmt::Write as _;

/// A part's Content-Transfer-Encoding (RFC 2045 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// 7bit, 8bit, binary, or anything unknown: the bytes as they are.
    Identity,
    Base64,
    QuotedPrintable,
}

impl Encoding {
    pub fn parse(name: &str) -> Encoding {
        match name.to_ascii_lowercase().as_str() {
            "base64" => Encoding::Base64,
            "quoted-printable" => Encoding::QuotedPrintable,
            _ => Encoding::Identity,
        }
    }
}

/// A message's MIME tree as the server describes it (from `BODYSTRUCTURE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Structure {
    Multipart {
        /// The `boundary` parameter; the parts are put back between its delimiters.
        boundary: String,
        parts: Vec<Structure>,
    },
    /// Anything else, `message/rfc822` included (kept whole: a forwarded message is an
    /// attachment to the reader).
    Leaf(Leaf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// `type/subtype`, lower case.
    pub media_type: String,
    /// `Content-Disposition: attachment`.
    pub attachment: bool,
    /// It has a Content-ID, so the HTML may show it (`cid:`, RFC 2392).
    pub content_id: bool,
    pub encoding: Encoding,
    /// The encoded size (`body-fld-octets`).
    pub octets: u64,
}

/// What the reader needs fetched, and how big its pieces are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Section specifiers for `BODY.PEEK[…]`: `HEADER`, `n.MIME`, `n`.
    pub sections: Vec<String>,
    /// Encoded bytes of the part bodies fetched (text and embedded pictures).
    pub body_octets: u64,
}

/// Limits of what a plan fetches beyond the text.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// An embedded picture larger than this is loaded when the browser asks for it.
    pub max_inline_image: u64,
    /// All embedded pictures fetched up front, together.
    pub inline_images: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { max_inline_image: 256 << 10, inline_images: 2 << 20 }
    }
}

/// Where a part of an assembled message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRef {
    /// The part's section number (`2.1`): what `BODY.PEEK[2.1]` fetches.
    pub section: String,
    pub encoding: Encoding,
    pub octets: u64,
    /// Its body is in the assembled message; otherwise it was left out (empty).
    pub fetched: bool,
}

/// A message put back together from fetched sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub raw: Vec<u8>,
    /// By the offset where each leaf's header starts in `raw` (what `mail-parser` records as
    /// the part's `offset_header`), where it came from.
    pub leaves: Vec<(usize, PartRef)>,
}

impl Assembled {
    /// The leaf whose header starts at `offset`.
    pub fn leaf_at(&self, offset: usize) -> Option<&PartRef> {
        self.leaves.iter().find(|(o, _)| *o == offset).map(|(_, p)| p)
    }
}

/// A section number: the root's own parts are `1`, `2`…; theirs `2.1`, `2.2`…
fn child(prefix: &str, index: usize) -> String {
    if prefix.is_empty() { (index + 1).to_string() } else { format!("{prefix}.{}", index + 1) }
}

fn shown_text(leaf: &Leaf) -> bool {
    !leaf.attachment && matches!(leaf.media_type.as_str(), "text/plain" | "text/html")
}

/// The sections the reader needs: the header, every part's MIME header (names, types,
/// Content-IDs, charsets), the bodies of the text shown, and embedded pictures within
/// `budget`. Attachments are left for their download.
pub fn plan(structure: &Structure, budget: Budget) -> Plan {
    let mut plan = Plan { sections: vec!["HEADER".to_string()], body_octets: 0 };
    let mut images = 0u64;
    match structure {
        // RFC 9051 §6.4.5: the body of a message that is not multipart is section 1; its MIME
        // header is the message header, already fetched.
        Structure::Leaf(leaf) => {
            if shown_text(leaf) {
                plan.sections.push("1".into());
                plan.body_octets += leaf.octets;
            }
        }
        Structure::Multipart { parts, .. } => walk(parts, "", budget, &mut images, &mut plan),
    }
    plan
}

fn walk(parts: &[Structure], prefix: &str, budget: Budget, images: &mut u64, plan: &mut Plan) {
    for (i, part) in parts.iter().enumerate() {
        let section = child(prefix, i);
        plan.sections.push(format!("{section}.MIME"));
        match part {
            Structure::Multipart { parts, .. } => walk(parts, &section, budget, images, plan),
            Structure::Leaf(leaf) => {
                let picture = leaf.content_id
                    && !leaf.attachment
                    && leaf.media_type.starts_with("image/")
                    && leaf.octets <= budget.max_inline_image
                    && *images + leaf.octets <= budget.inline_images;
                if picture {
                    *images += leaf.octets;
                }
                if picture || shown_text(leaf) {
                    plan.sections.push(section);
                    plan.body_octets += leaf.octets;
                }
            }
        }
    }
}

/// A header block as it must end: with its empty line.
fn push_header(out: &mut Vec<u8>, header: &[u8]) {
    out.extend_from_slice(header);
    let ending: &[u8] = match header {
        // An empty header block is its empty line alone.
        [] => b"\r\n",
        b"\r\n" => b"",
        h if h.ends_with(b"\r\n\r\n") || h.ends_with(b"\n\n") => b"",
        h if h.ends_with(b"\n") => b"\r\n",
        _ => b"\r\n\r\n",
    };
    out.extend_from_slice(ending);
}

/// Puts the message back together from its sections (`fetched` answers by section specifier,
/// as [`plan`] names them); `None` when the header itself is missing. A part whose MIME header
/// is missing gets an empty one.
pub fn assemble<'a>(structure: &Structure, fetched: &dyn Fn(&str) -> Option<&'a [u8]>) -> Option<Assembled> {
    let mut out = Assembled { raw: Vec::new(), leaves: Vec::new() };
    push_header(&mut out.raw, fetched("HEADER")?);
    match structure {
        Structure::Leaf(leaf) => {
            let body = fetched("1");
            out.leaves.push((0, part_ref("1", leaf, body.is_some())));
            out.raw.extend_from_slice(body.unwrap_or_default());
        }
        Structure::Multipart { boundary, parts } => write_parts(&mut out, boundary, parts, "", fetched),
    }
    Some(out)
}

fn part_ref(section: &str, leaf: &Leaf, fetched: bool) -> PartRef {
    PartRef { section: section.to_string(), encoding: leaf.encoding, octets: leaf.octets, fetched }
}

fn write_parts<'a>(
    out: &mut Assembled,
    boundary: &str,
    parts: &[Structure],
    prefix: &str,
    fetched: &dyn Fn(&str) -> Option<&'a [u8]>,
) {
    // RFC 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter, not to the part.
    for (i, part) in parts.iter().enumerate() {
        let section = child(prefix, i);
        let mut delimiter = String::new();
        let _ = write!(delimiter, "\r\n--{boundary}\r\n");
        out.raw.extend_from_slice(delimiter.as_bytes());
        let start = out.raw.len();
        push_header(&mut out.raw, fetched(&format!("{section}.MIME")).unwrap_or_default());
        match part {
            Structure::Multipart { boundary, parts } => write_parts(out, boundary, parts, &section, fetched),
            Structure::Leaf(leaf) => {
                let body = fetched(&section);
                out.leaves.push((start, part_ref(&section, leaf, body.is_some())));
                out.raw.extend_from_slice(body.unwrap_or_default());
            }
        }
    }
    out.raw.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
}

/// The decoded size of a part not fetched, from its encoded size: exact for identity, about
/// 57/78 for base64 in 76-character lines (RFC 2045 §6.8), the encoded size for
/// quoted-printable (mostly text, mostly literal).
pub fn decoded_size(encoding: Encoding, octets: u64) -> u64 {
    match encoding {
        Encoding::Base64 => octets * 57 / 78,
        Encoding::Identity | Encoding::QuotedPrintable => octets,
    }
}

/// Undoes a transfer encoding over pieces of a part as they arrive: whatever a piece ends in
/// the middle of (a base64 quantum, a `=XX` escape) waits for the next.
#[derive(Debug)]
pub struct Decoder {
    encoding: Encoding,
    pending: Vec<u8>,
}

fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

impl Decoder {
    pub fn new(encoding: Encoding) -> Decoder {
        Decoder { encoding, pending: Vec::new() }
    }

    /// The decoded bytes of `piece` (and what waited from before) that are complete.
    pub fn push(&mut self, piece: &[u8]) -> Vec<u8> {
        match self.encoding {
            Encoding::Identity => piece.to_vec(),
            Encoding::Base64 => {
                // RFC 2045 §6.8: characters outside the alphabet (line breaks, padding) are
                // ignored; a quantum split across pieces waits.
                self.pending.extend(piece.iter().filter_map(|&c| base64_value(c)));
                let whole = self.pending.len() / 4 * 4;
                let out = decode_quanta(&self.pending[..whole]);
                self.pending.drain(..whole);
                out
            }
            Encoding::QuotedPrintable => {
                self.pending.extend_from_slice(piece);
                let (out, used) = decode_qp(&self.pending, false);
                self.pending.drain(..used);
                out
            }
        }
    }

    /// The rest, at the end of the part.
    pub fn finish(mut self) -> Vec<u8> {
        match self.encoding {
            Encoding::Identity => Vec::new(),
            Encoding::Base64 => {
                // A final quantum of 2 or 3 characters carries 1 or 2 bytes (its `=` padding
                // was dropped); a lone character carries none.
                let mut v = std::mem::take(&mut self.pending);
                let n = v.len();
                v.resize(4, 0);
                let bytes = decode_quanta(&v);
                bytes[..n.saturating_sub(1)].to_vec()
            }
            Encoding::QuotedPrintable => decode_qp(&self.pending, true).0,
        }
    }
}

fn decode_quanta(values: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 4 * 3);
    for q in values.chunks_exact(4) {
        let n = (u32::from(q[0]) << 18) | (u32::from(q[1]) << 12) | (u32::from(q[2]) << 6) | u32::from(q[3]);
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out
}

/// RFC 2045 §6.7: `=XX` is a byte, `=` at the end of a line a soft break; anything else is
/// itself. Returns the bytes and how much input was used (an escape cut off at the end of a
/// piece is left unless `last`).
fn decode_qp(input: &[u8], last: bool) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c != b'=' {
            out.push(c);
            i += 1;
            continue;
        }
        let rest = &input[i + 1..];
        if rest.len() < 2 && !last {
            // `=`, `=X` or `=\r` at the end of this piece: the next one says what it is.
            break;
        }
        match rest {
            [b'\r', b'\n', ..] => i += 3,
            [b'\n', ..] => i += 2,
            [a, b, ..] if hex(*a).is_some() && hex(*b).is_some() => {
                out.push(hex(*a).unwrap_or(0) << 4 | hex(*b).unwrap_or(0));
                i += 3;
            }
            _ => {
                // Not an escape (a broken encoder): kept as it is, as readers do.
                out.push(b'=');
                i += 1;
            }
        }
    }
    (out, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(media_type: &str, encoding: Encoding, octets: u64) -> Structure {
        Structure::Leaf(Leaf { media_type: media_type.into(), attachment: false, content_id: false, encoding, octets })
    }

    fn report() -> Structure {
        // multipart/mixed: (multipart/alternative: text, html), a PDF, a picture the HTML shows.
        let mut pdf = leaf("application/pdf", Encoding::Base64, 3_000_000);
        if let Structure::Leaf(l) = &mut pdf {
            l.attachment = true;
        }
        let mut logo = leaf("image/png", Encoding::Base64, 4_000);
        if let Structure::Leaf(l) = &mut logo {
            l.content_id = true;
        }
        Structure::Multipart {
            boundary: "m".into(),
            parts: vec![
                Structure::Multipart {
                    boundary: "a".into(),
                    parts: vec![
                        leaf("text/plain", Encoding::QuotedPrintable, 10),
                        leaf("text/html", Encoding::Identity, 30),
                    ],
                },
                pdf,
                logo,
            ],
        }
    }

    #[test]
    fn the_plan_fetches_headers_text_and_small_pictures_but_not_attachments() {
        let plan = plan(&report(), Budget::default());
        assert_eq!(plan.sections, ["HEADER", "1.MIME", "1.1.MIME", "1.1", "1.2.MIME", "1.2", "2.MIME", "3.MIME", "3"]);
        assert_eq!(plan.body_octets, 4_040);
        let tight = super::plan(&report(), Budget { max_inline_image: 1_000, inline_images: 10_000 });
        assert!(!tight.sections.contains(&"3".to_string()));
        // A single-part message: its body is section 1.
        assert_eq!(
            super::plan(&leaf("text/plain", Encoding::Identity, 5), Budget::default()).sections,
            ["HEADER", "1"]
        );
        assert_eq!(super::plan(&leaf("application/zip", Encoding::Base64, 5), Budget::default()).sections, ["HEADER"]);
    }

    #[test]
    fn an_assembled_message_has_its_parts_where_the_whole_had_them() {
        let sections: std::collections::HashMap<&str, &[u8]> = [
            ("HEADER", &b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"[..]),
            ("1.MIME", b"Content-Type: multipart/alternative; boundary=a\r\n\r\n"),
            ("1.1.MIME", b"Content-Type: text/plain\r\n\r\n"),
            ("1.1", b"hello"),
            ("1.2.MIME", b"Content-Type: text/html\r\n\r\n"),
            ("1.2", b"<p>hello</p>"),
            ("2.MIME", b"Content-Type: application/pdf; name=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
            ("3.MIME", b"Content-Type: image/png\r\nContent-ID: <logo>\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
            ("3", b"iVBORw0KGgo="),
        ]
        .into_iter()
        .collect();
        let a = assemble(&report(), &|s| sections.get(s).copied()).unwrap();
        let text = String::from_utf8(a.raw.clone()).unwrap();
        assert!(text.contains("\r\n--a\r\nContent-Type: text/plain\r\n\r\nhello\r\n--a\r\n"), "{text}");
        assert!(text.ends_with("\r\n--a--\r\n\r\n--m\r\nContent-Type: application/pdf; name=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\r\n--m\r\nContent-Type: image/png\r\nContent-ID: <logo>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--m--\r\n"), "{text}");
        let sections: Vec<(&str, bool)> = a.leaves.iter().map(|(_, p)| (p.section.as_str(), p.fetched)).collect();
        assert_eq!(sections, [("1.1", true), ("1.2", true), ("2", false), ("3", true)]);
        // mail-parser finds each leaf's header where the assembly says it starts.
        let parsed = mail_parser::MessageParser::default().parse(&a.raw).unwrap();
        for (offset, part) in &a.leaves {
            assert!(parsed.parts.iter().any(|p| p.offset_header as usize == *offset), "{part:?}");
        }
        assert_eq!(parsed.body_text(0).unwrap(), "hello");
        assert_eq!(parsed.attachments.len(), 2);
    }

    #[test]
    fn base64_decodes_across_pieces_cut_anywhere() {
        let encoded = b"SGVsbG8s\r\nIHdvcmxk\r\nIQ==\r\n";
        for cut in 0..encoded.len() {
            let mut d = Decoder::new(Encoding::Base64);
            let mut out = d.push(&encoded[..cut]);
            out.extend(d.push(&encoded[cut..]));
            out.extend(d.finish());
            assert_eq!(out, b"Hello, world!", "cut at {cut}");
        }
    }

    #[test]
    fn quoted_printable_decodes_across_pieces_cut_anywhere() {
        let encoded = b"caf=C3=A9 au lait, soft=\r\nbreak, a = sign=3D, end=";
        for cut in 0..encoded.len() {
            let mut d = Decoder::new(Encoding::QuotedPrintable);
            let mut out = d.push(&encoded[..cut]);
            out.extend(d.push(&encoded[cut..]));
            out.extend(d.finish());
            assert_eq!(String::from_utf8_lossy(&out), "café au lait, softbreak, a = sign=, end=", "cut at {cut}");
        }
    }

    #[test]
    fn decoded_sizes_are_estimated_from_the_encoding() {
        assert_eq!(decoded_size(Encoding::Base64, 78_000), 57_000);
        assert_eq!(decoded_size(Encoding::Identity, 10), 10);
    }
}
