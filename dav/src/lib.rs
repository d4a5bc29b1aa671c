//! WebDAV, CalDAV and CardDAV for Madang: the protocol, and nothing else.
//!
//! This crate will parse DAV requests into typed values (`PropFind`,
//! `CalendarQuery`, `SyncCollection`, …), apply them through a storage trait
//! it defines itself, and write multistatus responses and RFC precondition
//! errors. It knows neither SQL nor the web framework: `src/store` implements
//! its storage trait and `src/http` feeds it requests. The CalDAV issue fills
//! it; until then it is empty on purpose rather than holding guesses.

pub use madang_ical as ical;
