//! Calendars and address books as a domain service, shared by the doors that serve them (CalDAV/CardDAV in `dav`, the JSON API in `api`).
//!
//! What both doors need to agree on lives here, below them (see `shared/LAYERS.md`): where a
//! collection or member lives (`href`), what a version is (`etag_of`, `sync_token`), which
//! collections a user starts with (`Collections::provision`) and the limits every write and
//! query obeys (`Collections::limits`). This module takes the store, the clock's `now` and
//! configuration values as arguments; it knows no HTTP and no `AppState`.

pub mod access;
pub mod derived;
pub mod export;
pub mod href;
pub mod ics;
pub mod publish;

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use madang_ical::Limits;
use sha2::{Digest, Sha256};

use crate::config::DavConfig;
use crate::domain::UserId;
use crate::store::dav::{Collection, CollectionKind, CollectionProps, PropertyLimits};
use crate::store::{Store, StoreError};

/// The component column for vCards; calendar objects hold VEVENT, VTODO, ….
pub const VCARD: &str = "VCARD";

/// The collection settings (`[dav]` in the configuration: sizes, quota, limits, default
/// collections) and what the service remembers between requests.
pub struct Collections {
    pub config: DavConfig,
    /// Users whose home this process has already provisioned, so the check costs one query per
    /// user and process, not one per request.
    provisioned: Mutex<HashSet<UserId>>,
    /// Places for building whole-collection documents (`export`), [`export::CONCURRENT_EXPORTS`]
    /// per process: each holds its collection's data about three times over, so
    /// `dav.max_export_size` bounds one and these places bound their sum; more requests wait.
    pub exports: tokio::sync::Semaphore,
}

impl Collections {
    pub fn new(config: DavConfig) -> Collections {
        Collections {
            config,
            provisioned: Mutex::new(HashSet::new()),
            exports: tokio::sync::Semaphore::new(export::CONCURRENT_EXPORTS),
        }
    }

    /// What the store checks when dead properties grow: the per-resource total and the
    /// owner's quota.
    pub fn property_limits(&self) -> PropertyLimits {
        PropertyLimits { per_resource: self.config.max_properties_size as u64, quota: self.config.quota }
    }

    /// The bounds of recurrence expansion and evaluation.
    pub fn limits(&self) -> Limits {
        self.config.limits()
    }

    /// Creates the default calendar, task list and address book the first time a user
    /// arrives, through DAV or the JSON API alike (configurable; none where the name is
    /// empty). Once per user and process it costs a query; after that, nothing.
    pub async fn provision(&self, store: &Store, user: UserId, now: DateTime<Utc>) -> Result<(), StoreError> {
        if self.provisioned.lock().map(|p| p.contains(&user)).unwrap_or(false) {
            return Ok(());
        }
        let mut defaults = Vec::new();
        if let Some(name) = &self.config.default_calendar {
            let props = CollectionProps {
                display_name: Some(name.clone()),
                components: vec!["VEVENT".into(), "VTODO".into(), "VJOURNAL".into()],
                ..Default::default()
            };
            defaults.push((CollectionKind::Calendar, "default", props));
        }
        if let Some(name) = &self.config.default_task_list {
            let props = CollectionProps {
                display_name: Some(name.clone()),
                components: vec!["VTODO".into()],
                ..Default::default()
            };
            defaults.push((CollectionKind::Calendar, "tasks", props));
        }
        if let Some(name) = &self.config.default_addressbook {
            let props = CollectionProps { display_name: Some(name.clone()), ..Default::default() };
            defaults.push((CollectionKind::AddressBook, "default", props));
        }
        store.provision_dav_home(user, &defaults, now).await?;
        if let Ok(mut p) = self.provisioned.lock() {
            p.insert(user);
        }
        Ok(())
    }
}

/// A strong ETag from the bytes stored: identical content, identical tag, whichever door
/// wrote or reads it.
pub fn etag_of(data: &str) -> String {
    let digest = Sha256::digest(data.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// `sync-token` and `getctag` (RFC 6578 §4): a URI naming the collection and its revision.
/// The JSON API shows the same value as `sync_token`.
pub fn sync_token(c: &Collection) -> String {
    format!("urn:x-madang:sync:{}:{}", c.id.0, c.revision)
}

/// The revision in a token of this collection; `None` for anything else.
pub fn parse_sync_token(c: &Collection, token: &str) -> Option<i64> {
    let rest = token.strip_prefix("urn:x-madang:sync:")?;
    let (id, revision) = rest.split_once(':')?;
    (id.parse::<i64>().ok()? == c.id.0).then_some(())?;
    revision.parse::<i64>().ok().filter(|r| *r >= 0)
}
