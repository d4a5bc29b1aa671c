//! Modules an administrator turns on or off for the whole instance while it
//! runs: calendar (with tasks), contacts, mail and chat.
//!
//! The states live in the database (`instance_settings`, names
//! `module.<name>`, values `on`/`off`; no row means the built-in default), so
//! every process sharing a PostgreSQL database sees the same ones and a
//! change needs no restart. The doors ask [`Modules::states`] per request; what
//! a module that is off means for a door is the door's business (the JSON API
//! answers 403, the web client hides it). DAV is governed by its own setting,
//! not by these.
//!
//! Freshness. Each process keeps the states it read for at most
//! [`FRESH_FOR`] (one second), then reads the table again. Why not a version
//! check per request: it would cost one query per request just like reading
//! the few rows does, so it would buy nothing; why not `LISTEN/NOTIFY`: it
//! exists only on PostgreSQL and needs a connection of its own, for a setting
//! that changes a few times in an instance's life. One query per second per
//! process is nothing, and another process's change is visible within a
//! second. A change made through this process clears the cache at once, so
//! the administrator who made it sees it on the next request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::Clock;
use crate::store::{Store, StoreResult};

/// How long a process trusts the states it read before reading them again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// A module of the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    /// Calendars and task lists (`/api/v1/calendars…`).
    Calendar,
    /// Address books (`/api/v1/addressbooks…`).
    Contacts,
    Mail,
    Chat,
}

impl Module {
    pub const ALL: [Module; 4] = [Module::Calendar, Module::Contacts, Module::Mail, Module::Chat];

    /// The name on the wire and in the settings table.
    pub fn name(self) -> &'static str {
        match self {
            Module::Calendar => "calendar",
            Module::Contacts => "contacts",
            Module::Mail => "mail",
            Module::Chat => "chat",
        }
    }

    pub fn parse(name: &str) -> Option<Module> {
        Module::ALL.into_iter().find(|m| m.name() == name)
    }

    /// On unless an administrator turned it off. Mail and chat have nothing
    /// to show yet, so they start off; the issues that build them decide
    /// their default (an instance that never chose follows it).
    fn default_on(self) -> bool {
        matches!(self, Module::Calendar | Module::Contacts)
    }

    fn setting(self) -> String {
        format!("module.{}", self.name())
    }
}

impl std::fmt::Display for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which modules are on; the JSON shape of `GET /api/v1/admin/modules` and of
/// `modules` in `GET /api/v1/me`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModuleStates {
    pub calendar: bool,
    pub contacts: bool,
    pub mail: bool,
    pub chat: bool,
}

impl Default for ModuleStates {
    fn default() -> Self {
        let mut states = ModuleStates { calendar: false, contacts: false, mail: false, chat: false };
        for m in Module::ALL {
            states.set(m, m.default_on());
        }
        states
    }
}

impl ModuleStates {
    pub fn is_on(&self, module: Module) -> bool {
        match module {
            Module::Calendar => self.calendar,
            Module::Contacts => self.contacts,
            Module::Mail => self.mail,
            Module::Chat => self.chat,
        }
    }

    pub fn set(&mut self, module: Module, on: bool) {
        match module {
            Module::Calendar => self.calendar = on,
            Module::Contacts => self.contacts = on,
            Module::Mail => self.mail = on,
            Module::Chat => self.chat = on,
        }
    }

    /// The defaults overlaid with the stored rows. A value other than
    /// `on`/`off` (written by hand) keeps the default and is logged.
    fn from_settings(rows: &[(String, String)]) -> ModuleStates {
        let mut states = ModuleStates::default();
        for (name, value) in rows {
            let Some(module) = name.strip_prefix("module.").and_then(Module::parse) else { continue };
            match value.as_str() {
                "on" => states.set(module, true),
                "off" => states.set(module, false),
                other => {
                    tracing::warn!(setting = %name, value = %other, "ignoring a module setting that is not on/off")
                }
            }
        }
        states
    }
}

/// The module states of this instance, read from the store and cached
/// briefly (see the module documentation). One per process.
pub struct Modules {
    store: Store,
    clock: Arc<dyn Clock>,
    cache: Mutex<Cache>,
    /// One refresh at a time: requests that find the cache stale while a read
    /// is under way wait for it instead of all querying the database.
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    read: Option<(Instant, ModuleStates)>,
    /// Bumped by every change made here; a read that started before a change
    /// must not put its older answer back into the cache.
    generation: u64,
}

impl Modules {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Modules {
        Modules { store, clock, cache: Mutex::default(), refresh: tokio::sync::Mutex::new(()) }
    }

    fn cached(&self, now: Instant) -> Result<ModuleStates, u64> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.read {
            Some((at, states)) if now.saturating_duration_since(at) < FRESH_FOR => Ok(states),
            _ => Err(cache.generation),
        }
    }

    /// The current states, at most [`FRESH_FOR`] old.
    pub async fn states(&self) -> StoreResult<ModuleStates> {
        if let Ok(states) = self.cached(self.clock.instant()) {
            return Ok(states);
        }
        let _one_at_a_time = self.refresh.lock().await;
        let started = self.clock.instant();
        let generation = match self.cached(started) {
            Ok(states) => return Ok(states),
            Err(generation) => generation,
        };
        let states = ModuleStates::from_settings(&self.store.instance_settings().await?);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.generation == generation {
            cache.read = Some((started, states));
        }
        Ok(states)
    }

    pub async fn is_on(&self, module: Module) -> StoreResult<bool> {
        Ok(self.states().await?.is_on(module))
    }

    /// Applies `changes` and returns the ones that changed something (for
    /// the audit log), compared with the states in the database, not the
    /// cache.
    pub async fn set(&self, changes: &[(Module, bool)]) -> StoreResult<Vec<(Module, bool)>> {
        let current = ModuleStates::from_settings(&self.store.instance_settings().await?);
        let mut changed: Vec<(Module, bool)> = Vec::new();
        for &(module, on) in changes {
            if current.is_on(module) != on && !changed.iter().any(|(m, _)| *m == module) {
                changed.push((module, on));
            }
        }
        if !changed.is_empty() {
            let rows: Vec<(String, &str)> =
                changed.iter().map(|(m, on)| (m.setting(), if *on { "on" } else { "off" })).collect();
            let rows: Vec<(&str, &str)> = rows.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            self.store.set_instance_settings(&rows, self.clock.now()).await?;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.read = None;
        cache.generation += 1;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_rows_overlay_the_defaults() {
        assert_eq!(ModuleStates::default(), ModuleStates { calendar: true, contacts: true, mail: false, chat: false });
        let rows = vec![
            ("module.calendar".to_string(), "off".to_string()),
            ("module.chat".to_string(), "on".to_string()),
            ("module.contacts".to_string(), "maybe".to_string()),
            ("module.unknown".to_string(), "on".to_string()),
            ("other".to_string(), "off".to_string()),
        ];
        let states = ModuleStates::from_settings(&rows);
        assert_eq!(states, ModuleStates { calendar: false, contacts: true, mail: false, chat: true });
    }

    #[test]
    fn names_round_trip() {
        for m in Module::ALL {
            assert_eq!(Module::parse(m.name()), Some(m));
        }
        assert_eq!(Module::parse("Calendar"), None);
    }
}
