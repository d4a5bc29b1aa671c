//! HTTP plumbing the doors share: the `Authenticated` extractor, the JSON error shape, the
//! edge checks, health and metrics, the accept loop; plus the account and admin JSON routes.
//!
//! The router and the shared state are above the doors, in `crate::app`.

pub mod admin;
pub mod api;
pub mod auth;
pub mod autoconfig;
pub mod error;
pub mod feeds;
pub mod health;
pub mod modules;
pub mod server;
pub(crate) mod valid_text;
