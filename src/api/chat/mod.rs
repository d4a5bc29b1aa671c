//! The chat doors (`/api/v1/chat`, docs/chat.md).

pub mod presence;
pub mod search;
