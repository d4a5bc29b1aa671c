//! The chat's JSON API (`/api/v1/chat`, docs/chat.md): one file per area.

pub mod files;
