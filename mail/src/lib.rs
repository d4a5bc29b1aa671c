//! Mail formats for linked accounts, parse and write only (no I/O, no SQL, no HTTP framework),
//! as `madang-dav` is for DAV: what the index keeps of a message (`summary`), what the reader
//! shows (`body`, with HTML sanitised), conversations (`thread`, JWZ), IMAP mailbox names
//! (`utf7`), the DNS messages that find a domain's mail servers (`dns`, RFC 6186), reading a
//! large message by its parts (`parts`), and the two protocols Madang serves to mail apps: IMAP
//! before login (`imap_login`: commands, literals) and SMTP submission (`smtp_submit`), with the
//! SASL exchanges both share (`sasl`).

pub mod body;
pub mod compose;
pub mod dns;
pub mod imap_login;
pub mod parts;
pub mod sasl;
pub mod smtp_submit;
pub mod summary;
pub mod thread;
pub mod utf7;

/// One address as people see it: `Kim <kim@example.com>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Addr {
    /// The display name, decoded (RFC 2047); empty when there is none.
    pub name: String,
    pub email: String,
}

/// The addresses of a parsed header, groups flattened (RFC 5322 §3.4).
pub(crate) fn addrs(address: Option<&mail_parser::Address<'_>>) -> Vec<Addr> {
    address
        .map(|a| {
            a.iter()
                .map(|x| Addr {
                    name: x.name().unwrap_or_default().trim().to_string(),
                    email: x.address().unwrap_or_default().trim().to_string(),
                })
                .filter(|x| !x.email.is_empty() || !x.name.is_empty())
                .collect()
        })
        .unwrap_or_default()
}
