//! Madang's team chat wire formats: everything about chat that is text in, value out.
//!
//! The server (`src/chat`, `src/api/chat`) decides who may do what and stores it; this crate
//! only reads and writes the formats people and other programs send: the Markdown subset of
//! messages and its safe HTML ([`markdown`]), the mentions in a message ([`mentions`]), channel
//! and reaction names ([`names`]), Slack-compatible incoming webhook payloads ([`slack`]) and
//! the search syntax ([`query`]).
//!
//! **Architecture Invariant:** no I/O, no SQL, no HTTP framework, no clock, and nothing of
//! Madang's: every function is a pure function of its input, so it is tested with strings and
//! fuzzed. Work is bounded by the input (nesting depths and sizes are capped by constants here).

pub mod markdown;
pub mod mentions;
pub mod names;
pub mod query;
pub mod slack;
