//! Fuzz target: what an SMTP submission client sends before and during a transaction: command
//! lines cut by `Lines`, each parsed, SASL responses decoded, and a DATA body read.
//!
//! Invariants besides "never panic": no line handed out is longer than the limit, the DATA
//! reader never keeps more than its limit, and a message it kept, dot-stuffed again as the relay
//! sends it, reads back to the same bytes (what reaches the upstream is what the client sent).

#![no_main]

use libfuzzer_sys::fuzz_target;
use madang_mail::sasl::{decode_response, oauthbearer, plain, xoauth2};
use madang_mail::smtp_submit::{DataReader, Line, Lines, dot_stuff, parse_command, parse_reply_line};

const MAX_LINE: usize = 512;
const MAX_DATA: usize = 4096;

fuzz_target!(|data: &[u8]| {
    // The first half as commands, the rest as a DATA body (split where a DATA line would be).
    let cut = data.windows(6).position(|w| w == b"DATA\r\n").map_or(data.len(), |i| i + 6);
    let (commands, body) = data.split_at(cut);
    let mut lines = Lines::new(MAX_LINE);
    for chunk in commands.chunks(97) {
        lines.push(chunk);
        loop {
            match lines.next_line() {
                Line::Complete(line) => {
                    assert!(line.len() <= MAX_LINE, "a line of {} bytes", line.len());
                    let _ = parse_command(&line).map(|c| format!("{c:?}")).map_err(|r| r.to_bytes());
                    let _ = parse_reply_line(&line);
                    if let Some(decoded) = decode_response(&line) {
                        let _ = (plain(&decoded), oauthbearer(&decoded), xoauth2(&decoded));
                    }
                }
                Line::TooLong => {}
                Line::Incomplete => break,
            }
        }
    }
    let mut reader = DataReader::new(MAX_DATA);
    let mut ended = false;
    for chunk in body.chunks(61) {
        if reader.feed(chunk).is_some() {
            ended = true;
            break;
        }
    }
    let (over, bare) = (reader.over_limit(), reader.bare_newline());
    let message = reader.into_message();
    assert!(message.len() <= MAX_DATA);
    if ended && !over && !bare {
        let wire = dot_stuff(&message);
        let mut again = DataReader::new(MAX_DATA + 8);
        assert_eq!(again.feed(&wire), Some(wire.len()), "the stuffed message does not end where it should");
        let back = again.into_message();
        // A message that ends without CRLF gets one, so the terminator starts a line.
        let expected = if message.is_empty() || message.ends_with(b"\r\n") {
            message.clone()
        } else {
            [&message[..], b"\r\n"].concat()
        };
        assert_eq!(back, expected, "a relayed message changed");
    }
});
