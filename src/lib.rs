//! Madang, a self-hosted workspace server: the server crate.
//!
//! Madang is protocol-first. People keep the apps they already use — native
//! calendar and contact apps over CalDAV/CardDAV, other web apps through
//! OpenID Connect — and Madang is the one place that holds the data and the
//! identities. This crate is the server: configuration, the command line,
//! the HTTP stack, authentication, and storage. The protocol crates
//! (`madang-dav`, `madang-ical`) know nothing about it.
//!
//! The request path is deliberately short and one-directional:
//!
//! ```text
//! http (axum router, middleware)  ->  auth (who is asking)  ->  store (SQL)
//! ```
//!
//! * [`config`] turns a TOML file, environment variables and command-line
//!   flags into one validated [`config::Config`]; every error names the key.
//! * [`store`] owns the database. It speaks in domain types ([`domain`]) and
//!   one error enum ([`store::StoreError`]); it never sees HTTP.
//! * [`auth`] verifies credentials (account passwords, app passwords), caches
//!   successful verifications and rate-limits failures.
//! * [`app`] wires the shared state ([`app::state::AppState`]) and builds the
//!   router (`app::app`), above every door; [`http`] is the plumbing the doors
//!   share (extractors, errors, edge checks) and the listener.
//! * [`dav`] serves CalDAV: it parses with `madang-dav`, evaluates with
//!   `madang-ical` and applies to the store.
//! * [`api`] is the JSON API for calendars and contacts, over the same
//!   collections as DAV, with its OpenAPI description.
//! * [`push`] is the push channel's service: per-user numbered events written
//!   with each change, and the wake-ups (in-process, and across processes
//!   through PostgreSQL `LISTEN`/`NOTIFY`) that tell open streams to read them.
//! * [`modules`] says which modules (calendar, contacts, mail, chat) an
//!   administrator turned on for the instance.
//! * [`chat`] is team chat's domain service (permissions, limits, rate limit)
//!   over the chat store, which writes each change's push events in its transaction.
//! * [`client`] serves the browser client (`client/`, embedded) and its HTML shell at `/`.
//! * [`collections`] is what those two doors share: hrefs, ETags, sync
//!   tokens, provisioning and limits.
//! * [`devices`] writes what sets up a device in one step: Mozilla autoconfig,
//!   Autodiscover and the Apple configuration profile (doors: `http::autoconfig`, `web::devices`).
//! * [`cli`] implements every `madang …` subcommand on top of the same store.
//!
//! Time always comes from a [`clock::Clock`] passed in, so tests can fix it.

pub mod accounts;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod blob;
pub mod brand;
pub mod chat;
pub mod chat_files;
pub mod chat_integrations;
pub mod cli;
pub mod client;
pub mod clock;
pub mod collections;
pub mod config;
pub mod dav;
pub mod devices;
pub mod domain;
pub mod http;
pub mod mail;
pub mod mailer;
pub mod mailproxy;
pub mod modules;
pub mod oidc;
pub mod outbound;
pub mod proxies;
pub mod push;
pub mod store;
pub mod subscriptions;
pub mod telemetry;
pub mod tokens;
pub mod web;
