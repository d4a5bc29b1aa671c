//! What the chat store needs from the pure chat crate (`madang-chat`): rendering and mention
//! extraction, in one place so payloads built in a transaction and answers agree.

pub use madang_chat::mentions::{Mentions, extract};

/// `text` as the safe HTML every client is sent (`madang_chat::markdown::render`).
pub fn render(text: &str) -> String {
    madang_chat::markdown::render(text)
}
