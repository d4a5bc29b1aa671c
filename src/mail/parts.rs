//! Opening a large message by its parts (RFC 9051 §6.4.5): its BODYSTRUCTURE first, then only
//! the sections the reader needs in one command (`madang_mail::parts` chooses them and puts
//! them back together), and an attachment fetched in pieces (`BODY.PEEK[n]<offset.length>`)
//! as its download streams, so neither Madang nor the browser waits for bytes nobody asked for.
//!
//! Protocol only, as `sync` is: the caller decides when a message is read this way and caches
//! what comes back.

use std::collections::HashMap;

use async_imap::imap_proto::{BodyStructure, ContentEncoding, MessageSection, SectionPath};
use futures_util::TryStreamExt;
use madang_mail::parts::{Decoder, Encoding, Leaf, PartRef, Structure};

use super::connect::{Connector, Failure, Session, Step};

/// How many sections one FETCH asks for: a message of hundreds of parts takes a few commands,
/// not one line longer than servers accept (RFC 7162 §4 suggests 8,192 octets for a command).
const SECTIONS_PER_COMMAND: usize = 100;

/// How much of an attachment one piece of its download fetches: the memory a download holds.
pub const PIECE: u32 = 1 << 20;

fn encoding(e: &ContentEncoding<'_>) -> Encoding {
    match e {
        ContentEncoding::Base64 => Encoding::Base64,
        ContentEncoding::QuotedPrintable => Encoding::QuotedPrintable,
        ContentEncoding::SevenBit | ContentEncoding::EightBit | ContentEncoding::Binary => Encoding::Identity,
        ContentEncoding::Other(name) => Encoding::parse(name),
    }
}

/// The server's description of a message as `madang_mail` reads it; `None` for a multipart
/// without a boundary (the parts could not be put back: the caller fetches the message whole).
pub fn structure(b: &BodyStructure<'_>) -> Option<Structure> {
    let leaf = |common: &async_imap::imap_proto::BodyContentCommon<'_>,
                other: &async_imap::imap_proto::BodyContentSinglePart<'_>| {
        Structure::Leaf(Leaf {
            media_type: format!("{}/{}", common.ty.ty, common.ty.subtype).to_ascii_lowercase(),
            attachment: common.disposition.as_ref().is_some_and(|d| d.ty.eq_ignore_ascii_case("attachment")),
            content_id: other.id.is_some(),
            encoding: encoding(&other.transfer_encoding),
            octets: u64::from(other.octets),
        })
    };
    match b {
        BodyStructure::Basic { common, other, .. }
        | BodyStructure::Text { common, other, .. }
        | BodyStructure::Message { common, other, .. } => Some(leaf(common, other)),
        BodyStructure::Multipart { common, bodies, .. } => {
            let boundary = common
                .ty
                .params
                .as_ref()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
                .map(|(_, v)| v.to_string())
                .filter(|b| !b.is_empty())?;
            let parts = bodies.iter().map(structure).collect::<Option<Vec<_>>>()?;
            Some(Structure::Multipart { boundary, parts })
        }
    }
}

/// A section specifier as `madang_mail::parts` writes it, as the response names it.
fn section_path(spec: &str) -> Option<SectionPath> {
    if spec.eq_ignore_ascii_case("HEADER") {
        return Some(SectionPath::Full(MessageSection::Header));
    }
    let (numbers, mime) = match spec.strip_suffix(".MIME") {
        Some(n) => (n, Some(MessageSection::Mime)),
        None => (spec, None),
    };
    let numbers = numbers.split('.').map(|n| n.parse::<u32>().ok()).collect::<Option<Vec<_>>>()?;
    Some(SectionPath::Part(numbers, mime))
}

/// `UID FETCH uid query`: the answer for that UID, `None` when the message is gone.
async fn fetch_one(
    connector: &Connector,
    session: &mut Session,
    uid: u32,
    query: &str,
) -> Result<Option<async_imap::types::Fetch>, Failure> {
    let fetches = connector
        .step(Step::Protocol, async {
            let stream = session.uid_fetch(uid.to_string(), query).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    Ok(fetches.into_iter().find(|f| f.uid == Some(uid)))
}

/// The message's BODYSTRUCTURE (RFC 9051 §7.5.2), `None` when it is gone or unusable.
pub async fn fetch_structure(
    connector: &Connector,
    session: &mut Session,
    uid: u32,
) -> Result<Option<Structure>, Failure> {
    let fetch = fetch_one(connector, session, uid, "(UID BODYSTRUCTURE)").await?;
    Ok(fetch.as_ref().and_then(|f| f.bodystructure()).and_then(structure))
}

/// The sections named (peeked: reading does not set `\Seen`), by specifier. A section the
/// server does not return is missing from the map.
pub async fn fetch_sections(
    connector: &Connector,
    session: &mut Session,
    uid: u32,
    sections: &[String],
) -> Result<HashMap<String, Vec<u8>>, Failure> {
    let mut out = HashMap::new();
    for chunk in sections.chunks(SECTIONS_PER_COMMAND) {
        let items: Vec<String> = chunk.iter().map(|s| format!("BODY.PEEK[{s}]")).collect();
        let query = format!("(UID {})", items.join(" "));
        let Some(fetch) = fetch_one(connector, session, uid, &query).await? else { continue };
        for spec in chunk {
            if let Some(bytes) = section_path(spec).and_then(|p| fetch.section(&p)) {
                out.insert(spec.clone(), bytes.to_vec());
            }
        }
    }
    Ok(out)
}

/// One piece of a section (RFC 9051 §6.4.5 `<origin.length>`); shorter than `length` at its end,
/// `None` when the message is gone.
pub async fn fetch_piece(
    connector: &Connector,
    session: &mut Session,
    uid: u32,
    section: &str,
    origin: u64,
    length: u32,
) -> Result<Option<Vec<u8>>, Failure> {
    let path = section_path(section).ok_or_else(|| Failure::new(Step::Protocol, "bad section"))?;
    let query = format!("(UID BODY.PEEK[{section}]<{origin}.{length}>)");
    let Some(fetch) = fetch_one(connector, session, uid, &query).await? else { return Ok(None) };
    // A server answers an origin past the end with an empty string (RFC 9051 §6.4.5).
    Ok(Some(fetch.section(&path).map(<[u8]>::to_vec).unwrap_or_default()))
}

/// An attachment's download: its first piece (fetched before the answer starts, so a server
/// that fails says so with a status, not with a cut-off file), then the rest as it comes.
pub struct Download {
    pub first: Vec<u8>,
    /// The remaining decoded pieces; `None` when the first was all.
    pub rest: Option<tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>>,
}

/// Starts streaming `part` of message `uid` from `session` (its folder selected). The session
/// is logged out when the download ends, or when the browser goes away (the receiver dropped).
pub async fn download(
    connector: Connector,
    mut session: Session,
    uid: u32,
    part: PartRef,
    logout_within: std::time::Duration,
) -> Result<Download, Failure> {
    let mut decoder = Decoder::new(part.encoding);
    let piece = match fetch_piece(&connector, &mut session, uid, &part.section, 0, PIECE).await {
        Ok(Some(piece)) => piece,
        Ok(None) => {
            let _ = tokio::time::timeout(logout_within, session.logout()).await;
            return Err(Failure::new(Step::Protocol, "the message is no longer on the server"));
        }
        Err(e) => {
            let _ = tokio::time::timeout(logout_within, session.logout()).await;
            return Err(e);
        }
    };
    let mut first = decoder.push(&piece);
    if piece.len() < PIECE as usize {
        first.extend(decoder.finish());
        let _ = tokio::time::timeout(logout_within, session.logout()).await;
        return Ok(Download { first, rest: None });
    }
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        let mut origin = u64::from(PIECE);
        loop {
            let piece = match fetch_piece(&connector, &mut session, uid, &part.section, origin, PIECE).await {
                Ok(Some(p)) => p,
                Ok(None) => {
                    let _ = tx.send(Err(std::io::Error::other("the message left the server"))).await;
                    break;
                }
                Err(e) => {
                    // The answer has started: all the browser can be told is that it broke off.
                    tracing::warn!(step = ?e.step, error = %e.message, "mail: attachment download broke off");
                    let _ = tx.send(Err(std::io::Error::other(e.message))).await;
                    break;
                }
            };
            origin += piece.len() as u64;
            let last = piece.len() < PIECE as usize;
            let mut bytes = decoder.push(&piece);
            if last {
                bytes.extend(std::mem::replace(&mut decoder, Decoder::new(part.encoding)).finish());
            }
            if tx.send(Ok(bytes)).await.is_err() || last {
                break;
            }
        }
        let _ = tokio::time::timeout(logout_within, session.logout()).await;
    });
    Ok(Download { first, rest: Some(rx) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_specifiers_name_what_the_response_names() {
        assert_eq!(section_path("HEADER"), Some(SectionPath::Full(MessageSection::Header)));
        assert_eq!(section_path("2.1.MIME"), Some(SectionPath::Part(vec![2, 1], Some(MessageSection::Mime))));
        assert_eq!(section_path("3"), Some(SectionPath::Part(vec![3], None)));
        assert_eq!(section_path("x"), None);
    }
}
