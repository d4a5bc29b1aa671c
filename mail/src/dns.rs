//! DNS messages for mail set-up (RFC 1035 §4): a query for SRV (RFC 2782) or MX records, and the
//! answer read back, bounds-checked, so `src/mail/discover.rs` can find a domain's IMAP and
//! submission servers (RFC 6186) without a resolver crate. Encoding and parsing only; the
//! sockets, the query id and the nameservers are the caller's.
//!
//! Everything here reads bytes a stranger on the network may have written, so nothing indexes
//! unchecked, compression pointers may only point backwards (no loops), a name is at most 255
//! bytes (RFC 1035 §2.3.4) and at most [`MAX_RECORDS`] records are read.

use std::fmt::Write as _;

/// The record types looked up (RFC 1035 §3.2.2, RFC 2782).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QType {
    Mx,
    Srv,
}

impl QType {
    pub fn code(self) -> u16 {
        match self {
            QType::Mx => 15,
            QType::Srv => 33,
        }
    }
}

const TYPE_CNAME: u16 = 5;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

/// Answers beyond this many records are not read: mail set-up needs a handful.
pub const MAX_RECORDS: usize = 64;
/// The UDP payload size offered with EDNS(0) (RFC 6891 §6.2.5; 1232 avoids IP fragmentation,
/// the figure DNS Flag Day 2020 settled on). Larger answers come truncated and go to TCP.
pub const UDP_PAYLOAD: u16 = 1232;
/// Compression pointers followed in one name; each must point further back, so this is only a
/// second fence.
const MAX_POINTERS: usize = 32;
/// CNAMEs followed from the question's name to the records (a resolver sends the chain).
const MAX_CNAMES: usize = 8;

/// Why a message could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("`{0}` is not a domain name DNS can ask for")]
    BadName(String),
    #[error("the message ends early")]
    Truncated,
    #[error("a compressed name points forwards or too often")]
    BadPointer,
    #[error("a name is longer than 255 bytes or has a reserved label type")]
    BadLabel,
    #[error("a record's data does not fit its type")]
    BadRecord,
}

/// One SRV record (RFC 2782): where a service is, in what order to try it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The host, without the final dot; `"."`, the root, means the service is not offered.
    pub target: String,
}

/// One MX record (RFC 1035 §3.3.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    pub exchange: String,
}

/// A record's data, as far as mail set-up cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    Srv(Srv),
    Mx(Mx),
    Cname(String),
    /// Any other type, kept by its number.
    Other(u16),
}

/// A resource record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner, lower case, without the final dot.
    pub name: String,
    pub ttl: u32,
    pub data: RData,
}

/// A parsed message: its header bits, its first question and its answer records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    /// QR: a response, not a query (RFC 1035 §4.1.1).
    pub response: bool,
    pub opcode: u8,
    /// TC: the answer did not fit; ask again over TCP (RFC 7766 §5).
    pub truncated: bool,
    /// RCODE: 0 no error, 3 NXDOMAIN (the name does not exist), others are failures.
    pub rcode: u8,
    /// The first question: name (lower case, no final dot), type and class.
    pub question: Option<(String, u16, u16)>,
    pub answers: Vec<Record>,
}

impl Message {
    /// Whether this is the answer to the query `id` asked about `name` and `qtype`: the id and the
    /// question must be repeated (RFC 5452 §4.2), or the packet is someone else's or forged.
    pub fn is_answer_to(&self, id: u16, name: &str, qtype: QType) -> bool {
        self.response
            && self.opcode == 0
            && self.id == id
            && self.question.as_ref().is_some_and(|(n, t, c)| {
                n.eq_ignore_ascii_case(name.trim_end_matches('.')) && *t == qtype.code() && *c == CLASS_IN
            })
    }

    /// The SRV and MX records for `name`, following the CNAME chain the answer carries.
    pub fn records_for(&self, name: &str) -> Vec<&RData> {
        let mut owner = name.trim_end_matches('.').to_ascii_lowercase();
        for _ in 0..MAX_CNAMES {
            let next = self.answers.iter().find_map(|r| match &r.data {
                RData::Cname(to) if r.name == owner => Some(to.clone()),
                _ => None,
            });
            match next {
                Some(to) => owner = to,
                None => break,
            }
        }
        self.answers
            .iter()
            .filter(|r| r.name == owner && matches!(r.data, RData::Srv(_) | RData::Mx(_)))
            .map(|r| &r.data)
            .collect()
    }
}

/// A standard query (RFC 1035 §4.1) for `name`'s `qtype` records with recursion desired and an
/// EDNS(0) OPT record offering [`UDP_PAYLOAD`] bytes (RFC 6891 §6.1.2).
pub fn query(id: u16, name: &str, qtype: QType) -> Result<Vec<u8>, DnsError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&id.to_be_bytes());
    // Flags: RD (recursion desired); QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 1 (the OPT).
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    write_name(&mut out, name)?;
    out.extend_from_slice(&qtype.code().to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type 41, class = payload size, TTL = extended rcode/version/flags 0, no data.
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&UDP_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(out)
}

/// `name` as labels (RFC 1035 §3.1). Only letters, digits, `-` and `_` (service labels, RFC
/// 2782): an internationalised domain must come as its A-label (`xn--…`).
fn write_name(out: &mut Vec<u8>, name: &str) -> Result<(), DnsError> {
    let bad = || DnsError::BadName(name.chars().take(80).collect());
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(bad());
    }
    for label in trimmed.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(bad());
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

/// Reads a message. The caller checks [`Message::is_answer_to`] before trusting it.
pub fn parse(bytes: &[u8]) -> Result<Message, DnsError> {
    let mut r = Reader { bytes, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    let qdcount = r.u16()?;
    let ancount = r.u16()?;
    // NSCOUNT and ARCOUNT: the authority and additional sections are not read.
    r.u16()?;
    r.u16()?;
    let mut question = None;
    for i in 0..qdcount {
        let name = r.name()?;
        let (qtype, class) = (r.u16()?, r.u16()?);
        if i == 0 {
            question = Some((name, qtype, class));
        }
    }
    let mut answers = Vec::new();
    for _ in 0..usize::from(ancount).min(MAX_RECORDS) {
        let name = r.name()?;
        let rtype = r.u16()?;
        let _class = r.u16()?;
        let ttl = r.u32()?;
        let len = usize::from(r.u16()?);
        let end = r.pos.checked_add(len).filter(|e| *e <= bytes.len()).ok_or(DnsError::Truncated)?;
        // Names inside the data may point back anywhere before them, so they are read with the
        // whole message at hand, then the reader must land exactly at the end of the data.
        let data = match rtype {
            33 => {
                let (priority, weight, port) = (r.u16()?, r.u16()?, r.u16()?);
                RData::Srv(Srv { priority, weight, port, target: r.name_or_root()? })
            }
            15 => {
                let preference = r.u16()?;
                RData::Mx(Mx { preference, exchange: r.name_or_root()? })
            }
            TYPE_CNAME => RData::Cname(r.name()?),
            other => {
                r.pos = end;
                RData::Other(other)
            }
        };
        if r.pos != end {
            return Err(DnsError::BadRecord);
        }
        answers.push(Record { name, ttl, data });
    }
    Ok(Message {
        id,
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0f) as u8,
        truncated: flags & 0x0200 != 0,
        rcode: (flags & 0x000f) as u8,
        question,
        answers,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DnsError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len()).ok_or(DnsError::Truncated)?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DnsError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A name that may be the root: SRV's "." (not offered) and MX's "." (RFC 7505, no mail).
    fn name_or_root(&mut self) -> Result<String, DnsError> {
        let name = self.name()?;
        Ok(if name.is_empty() { ".".into() } else { name })
    }

    /// A possibly compressed name (RFC 1035 §4.1.4), lower case, labels joined by dots, without
    /// the final dot (the root is ""). Bytes other than letters, digits, `-`, `_` and `*` are
    /// written `\DDD` (RFC 1035 §5.1), so a hostile label can never pass for a host name.
    fn name(&mut self) -> Result<String, DnsError> {
        let mut out = String::new();
        let mut wire_len = 0usize;
        let mut at = self.pos;
        // Where the reader continues: after the first pointer, or after the final zero.
        let mut resume = None;
        let mut pointers = 0;
        loop {
            let len = *self.bytes.get(at).ok_or(DnsError::Truncated)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    self.pos = resume.unwrap_or(at + 1);
                    return Ok(out);
                }
                0x00 => {
                    let start = at + 1;
                    let label = self.bytes.get(start..start + usize::from(len)).ok_or(DnsError::Truncated)?;
                    wire_len += 1 + label.len();
                    if wire_len + 1 > 255 {
                        return Err(DnsError::BadLabel);
                    }
                    if !out.is_empty() {
                        out.push('.');
                    }
                    for &b in label {
                        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*') {
                            out.push(char::from(b.to_ascii_lowercase()));
                        } else {
                            let _ = write!(out, "\\{b:03}");
                        }
                    }
                    at = start + label.len();
                }
                0xc0 => {
                    let low = *self.bytes.get(at + 1).ok_or(DnsError::Truncated)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                    // Backwards only: a pointer to itself or ahead could loop for ever.
                    pointers += 1;
                    if target >= at || pointers > MAX_POINTERS {
                        return Err(DnsError::BadPointer);
                    }
                    resume.get_or_insert(at + 2);
                    at = target;
                }
                // 0x40 and 0x80: extended label types (RFC 6891 §5), not used in names here.
                _ => return Err(DnsError::BadLabel),
            }
        }
    }
}

/// Orders SRV records as RFC 2782 says a client tries them: lowest priority first; within one
/// priority, a weighted random draw repeated until none is left (records of weight 0 have a
/// small chance of coming first). `random(n)` returns a number in `0..=n`; the caller brings the
/// randomness, so tests can fix it.
pub fn order_srv(mut records: Vec<Srv>, mut random: impl FnMut(u32) -> u32) -> Vec<Srv> {
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    while !records.is_empty() {
        let priority = records[0].priority;
        let same = records.iter().take_while(|r| r.priority == priority).count();
        let mut group: Vec<Srv> = records.drain(..same).collect();
        // RFC 2782: "arrange all SRV RRs (that have not been ordered yet) in any order, except
        // that all those with weight 0 are placed at the beginning of the list."
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let draw = random(total).min(total);
            let mut running = 0u32;
            let mut chosen = group.len() - 1;
            for (i, r) in group.iter().enumerate() {
                running += u32::from(r.weight);
                if running >= draw {
                    chosen = i;
                    break;
                }
            }
            out.push(group.remove(chosen));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response as a nameserver writes it: the question, then answers whose owner is a
    /// pointer to the question's name (offset 12), the common compression.
    fn response(id: u16, name: &str, qtype: QType, flags: u16, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&(0x8180 | flags).to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        write_name(&mut out, name).unwrap();
        out.extend_from_slice(&qtype.code().to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        for (rtype, data) in answers {
            out.extend_from_slice(&[0xc0, 12]);
            out.extend_from_slice(&rtype.to_be_bytes());
            out.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]);
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    fn srv_data(priority: u16, weight: u16, port: u16, target: &str) -> Vec<u8> {
        let mut d = Vec::new();
        for n in [priority, weight, port] {
            d.extend_from_slice(&n.to_be_bytes());
        }
        if target == "." {
            d.push(0);
        } else {
            write_name(&mut d, target).unwrap();
        }
        d
    }

    #[test]
    fn a_query_is_laid_out_as_rfc_1035_says() {
        let q = query(0xbeef, "_imaps._tcp.Example.com.", QType::Srv).unwrap();
        assert_eq!(&q[..12], &[0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&q[12..37], b"\x06_imaps\x04_tcp\x07Example\x03com\x00");
        assert_eq!(&q[37..41], &[0, 33, 0, 1]);
        assert_eq!(&q[41..], &[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        // The query reads back as a query (the test responder relies on it).
        let m = parse(&q).unwrap();
        assert!(!m.response && m.question == Some(("_imaps._tcp.example.com".into(), 33, 1)));
        for bad in ["", ".", "a..b", "kim@example.com", "한국.kr", &"a".repeat(64), &"a.".repeat(130)] {
            assert!(matches!(query(1, bad, QType::Mx), Err(DnsError::BadName(_))), "{bad}");
        }
    }

    #[test]
    fn srv_answers_with_compression() {
        let name = "_imaps._tcp.example.test";
        let bytes = response(
            7,
            name,
            QType::Srv,
            0,
            &[
                (33, srv_data(10, 5, 993, "imap.example.test")),
                // A target compressed against the question's name: "mail" + pointer to
                // "example.test" at offset 12 + 1 + 6 + 1 + 4 = 24.
                (33, [&srv_data(20, 0, 993, ".")[..6], b"\x04mail\xc0\x18"].concat()),
                (1, vec![192, 0, 2, 1]),
            ],
        );
        let m = parse(&bytes).unwrap();
        assert!(m.is_answer_to(7, "_IMAPS._tcp.example.test.", QType::Srv));
        assert!(!m.is_answer_to(8, name, QType::Srv), "another id");
        assert!(!m.is_answer_to(7, "_imap._tcp.example.test", QType::Srv), "another name");
        assert!(!m.is_answer_to(7, name, QType::Mx), "another type");
        let found = m.records_for(name);
        assert_eq!(
            found,
            vec![
                &RData::Srv(Srv { priority: 10, weight: 5, port: 993, target: "imap.example.test".into() }),
                &RData::Srv(Srv { priority: 20, weight: 0, port: 993, target: "mail.example.test".into() }),
            ]
        );
        assert_eq!(m.answers[2].data, RData::Other(1));
    }

    #[test]
    fn root_targets_cnames_and_nxdomain() {
        let name = "_submission._tcp.example.test";
        let m = parse(&response(1, name, QType::Srv, 0, &[(33, srv_data(0, 0, 0, "."))])).unwrap();
        assert_eq!(m.records_for(name), vec![&RData::Srv(Srv { priority: 0, weight: 0, port: 0, target: ".".into() })]);
        // A CNAME chain: the records belong to its end, not to another name in the answer.
        let mut cname = Vec::new();
        write_name(&mut cname, "alias.example.test").unwrap();
        let mut bytes = response(2, "example.test", QType::Mx, 0, &[(TYPE_CNAME, cname)]);
        let mut mx = vec![0, 10];
        write_name(&mut mx, "mx.example.test").unwrap();
        bytes[7] = 3;
        for (owner, data) in [("alias.example.test", mx.clone()), ("other.example.test", mx)] {
            write_name(&mut bytes, owner).unwrap();
            bytes.extend_from_slice(&[0, 15, 0, 1, 0, 0, 0, 60, 0, data.len() as u8]);
            bytes.extend_from_slice(&data);
        }
        let m = parse(&bytes).unwrap();
        assert_eq!(
            m.records_for("example.test"),
            vec![&RData::Mx(Mx { preference: 10, exchange: "mx.example.test".into() })]
        );
        let m = parse(&response(3, "nope.example.test", QType::Mx, 3, &[])).unwrap();
        assert_eq!((m.rcode, m.answers.len()), (3, 0));
        let m = parse(&response(4, "big.example.test", QType::Mx, 0x0200, &[])).unwrap();
        assert!(m.truncated);
    }

    #[test]
    fn hostile_messages_are_refused() {
        let good = response(1, "example.test", QType::Mx, 0, &[(15, b"\x00\x0a\x02mx\xc0\x0c".to_vec())]);
        assert!(parse(&good).is_ok());
        // Every proper prefix ends early.
        for n in 0..good.len() {
            assert!(parse(&good[..n]).is_err(), "prefix {n}");
        }
        // A pointer to itself, and one pointing forwards.
        let mut looped = good.clone();
        let at = looped.len() - 2;
        looped[at..].copy_from_slice(&[0xc0, at as u8]);
        assert_eq!(parse(&looped), Err(DnsError::BadPointer));
        let mut ahead = good.clone();
        ahead[at + 1] = 0xff;
        assert_eq!(parse(&ahead), Err(DnsError::BadPointer));
        // Two names pointing at each other (each backwards from the other's view is impossible,
        // so one of them points forwards).
        let mut pair = response(1, "a", QType::Mx, 0, &[]);
        pair.truncate(12);
        pair.extend_from_slice(&[0xc0, 14, 0xc0, 12, 0, 15, 0, 1]);
        assert_eq!(parse(&pair), Err(DnsError::BadPointer));
        // RDLENGTH longer than the message; and shorter than the data it holds.
        let mut long = good.clone();
        let rdlen = good.len() - 9;
        long[rdlen] = 0xff;
        assert_eq!(parse(&long), Err(DnsError::Truncated));
        let mut short = good.clone();
        short[rdlen + 1] = 3;
        assert!(parse(&short).is_err());
        // A name over 255 bytes made of chained labels.
        let mut huge = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..5 {
            huge.push(63);
            huge.extend_from_slice(&[b'a'; 63]);
        }
        huge.push(0);
        assert_eq!(parse(&huge), Err(DnsError::BadLabel));
        // Extended label types, and odd bytes in a label kept escaped.
        let mut ext = good.clone();
        ext[12] = 0x41;
        assert_eq!(parse(&ext), Err(DnsError::BadLabel));
        let mut odd = response(1, "x", QType::Mx, 0, &[]);
        odd[13] = b'.';
        assert_eq!(parse(&odd).unwrap().question.unwrap().0, "\\046");
        // A claimed 65535 answers in a short message: an error, quickly.
        let mut many = good;
        many[6..8].copy_from_slice(&[0xff, 0xff]);
        assert_eq!(parse(&many), Err(DnsError::Truncated));
    }

    /// xorshift64*: a fixed, dependency-free stream for the random-input loops.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let len = (next() % 600) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Ok(m) = parse(&bytes) {
                assert!(m.answers.len() <= MAX_RECORDS);
                let _ = m.records_for("example.test");
            }
        }
        // Mutations of a real answer reach deeper than random bytes do.
        let good = response(
            9,
            "_imaps._tcp.example.test",
            QType::Srv,
            0,
            &[(33, srv_data(1, 2, 993, "imap.example.test")), (33, b"\x00\x01\x00\x01\x03\xe1\x02mx\xc0\x18".to_vec())],
        );
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
            if next().is_multiple_of(8) {
                bytes.truncate((next() as usize) % bytes.len());
            }
            if let Ok(m) = parse(&bytes) {
                let _ = m.records_for("_imaps._tcp.example.test");
            }
        }
    }

    fn srv(priority: u16, weight: u16, target: &str) -> Srv {
        Srv { priority, weight, port: 993, target: target.into() }
    }

    #[test]
    fn srv_order_is_priority_then_weight() {
        let records = vec![srv(20, 0, "backup"), srv(10, 1, "light"), srv(10, 99, "heavy"), srv(5, 0, "first")];
        let names = |v: Vec<Srv>| v.into_iter().map(|r| r.target).collect::<Vec<_>>();
        // A draw of the maximum picks the last of the running sum: the heavy one first.
        assert_eq!(names(order_srv(records.clone(), |n| n)), ["first", "heavy", "light", "backup"]);
        // A draw of 1 lands on the light one (running sum 1 ≥ 1).
        assert_eq!(names(order_srv(records.clone(), |_| 1)), ["first", "light", "heavy", "backup"]);
        // Weight 0 comes first only on a draw of 0; a random source that lies is clamped.
        let zeros = vec![srv(1, 5, "five"), srv(1, 0, "zero")];
        assert_eq!(names(order_srv(zeros.clone(), |_| 0)), ["zero", "five"]);
        assert_eq!(names(order_srv(zeros, |_| u32::MAX)), ["five", "zero"]);
        // Over many draws, the heavy one comes first about 99 times in 100.
        let mut next = rng(42);
        let heavy_first = (0..1000)
            .filter(|_| {
                let pair = vec![srv(1, 1, "light"), srv(1, 99, "heavy")];
                order_srv(pair, |n| (next() % (u64::from(n) + 1)) as u32)[0].target == "heavy"
            })
            .count();
        assert!((960..=1000).contains(&heavy_first), "{heavy_first}");
    }
}
