//! Fuzz target: the IMAP listener's pre-login reader (`madang_mail::imap_login`), fed the input
//! in pieces of the sizes the first byte picks, commands and SASL lines taken as a session
//! takes them, every SASL mechanism run over what comes out.
//!
//! Invariants besides "never panic": the reader never holds more than its bound plus one read,
//! and a command it hands out never came from more bytes than the bound allows.

#![no_main]

use libfuzzer_sys::fuzz_target;
use madang_mail::imap_login::{Command, Mechanism, Read, Reader, Sasl, SaslStep};

const MAX: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let piece = usize::from(split % 32) + 1;
    let mut reader = Reader::new(MAX);
    let mut sasl: Option<Sasl> = None;
    for chunk in input.chunks(piece) {
        reader.feed(chunk);
        loop {
            if let Some(exchange) = sasl.as_mut() {
                match reader.line() {
                    Read::Ready(line) => match exchange.respond(&line) {
                        SaslStep::Challenge(_) => continue,
                        _ => sasl = None,
                    },
                    Read::NeedMore => break,
                    _ => return,
                }
                continue;
            }
            match reader.command() {
                Read::Ready(tagged) => {
                    assert!(!tagged.tag.is_empty() && tagged.tag.len() <= 64);
                    if let Command::Login { user, password } = &tagged.command {
                        assert!(user.len() + password.len() <= MAX * 3);
                    }
                    if let Command::Authenticate { mechanism, initial } = tagged.command {
                        let (exchange, step) = Sasl::start(mechanism, initial.as_deref());
                        if let SaslStep::Challenge(_) = step {
                            sasl = Some(exchange);
                        }
                    }
                }
                Read::Continue | Read::Bad { .. } => {}
                Read::NeedMore => break,
                Read::Close { .. } => return,
            }
        }
    }
    // The decoders on the raw input too, whatever the reader made of it.
    for mechanism in [Mechanism::Plain, Mechanism::Login, Mechanism::OAuthBearer, Mechanism::XOAuth2] {
        let _ = Sasl::start(mechanism, Some(input));
    }
    let _ = madang_mail::sasl::oauthbearer(input);
    let _ = madang_mail::sasl::xoauth2(input);
    let _ = madang_mail::sasl::plain(input);
});
