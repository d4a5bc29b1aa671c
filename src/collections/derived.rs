//! The collections Madang writes itself: the company directory and each user's birthday calendar, and how a user reaches any collection (their own or these) with an access level.
//!
//! Both are kept in step by reading, not by hooks in every writer: whenever a
//! user reaches one (its home listed, its URL asked for), the source's
//! fingerprint is compared with the one the collection was last built from,
//! and only on a difference are the members computed again and handed to
//! `Store::sync_derived`, which writes just the members whose bytes changed.
//! So an account renamed by the CLI in another process, or a contact changed
//! through the JSON API, shows up on the next sync with a normal change-log
//! delta, and an unchanged source costs one or two small queries.
//!
//! Where they live (docs/clients.md has the reasoning): inside the user's own
//! homes, `/dav/addressbooks/<user>/directory/` and `/dav/calendars/<user>/birthdays/`,
//! because DAVx⁵, Thunderbird, vdirsyncer and Apple's clients sync what a home
//! lists and most ignore `CARDDAV:directory-gateway`. The directory is one
//! collection for the instance seen under every user's home; a user who owns a
//! collection of the same name keeps theirs and is shown theirs.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::access::Access;
use super::{Collections, etag_of};
use crate::domain::UserId;
use crate::store::dav::{Collection, CollectionKind, CollectionProps, Derived, DerivedMember, DirectoryEntry};
use crate::store::{Store, StoreError};

/// The name the directory has in every address-book home.
pub const DIRECTORY_SLUG: &str = "directory";
/// The name of a user's birthday calendar in their calendar home.
pub const BIRTHDAYS_SLUG: &str = "birthdays";

impl Collections {
    /// The collection `user` reaches at `slug` among their collections of
    /// `kind`, with their access to it; a derived one is brought in step first.
    pub async fn reach(
        &self,
        store: &Store,
        user: UserId,
        kind: CollectionKind,
        slug: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Collection, Access)>, StoreError> {
        let found = match store.collection(user, kind, slug).await? {
            Some(c) if c.derived == Some(Derived::Birthdays) => self.birthdays(store, user, now).await?,
            Some(c) => Some(c),
            None if kind == CollectionKind::AddressBook && slug == DIRECTORY_SLUG => self.directory(store, now).await?,
            None if kind == CollectionKind::Calendar && slug == BIRTHDAYS_SLUG => {
                self.birthdays(store, user, now).await?
            }
            None => None,
        };
        Ok(found.and_then(|c| Access::of(&c, user).map(|a| (c, a))))
    }

    /// What `user`'s home of `kind` lists, by name, with their access to each.
    pub async fn home(
        &self,
        store: &Store,
        user: UserId,
        kind: CollectionKind,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Collection, Access)>, StoreError> {
        let mut found = match kind {
            CollectionKind::Calendar => {
                // Made or refreshed before the listing reads the revisions.
                self.birthdays(store, user, now).await?;
                store.collections(user, kind).await?
            }
            CollectionKind::AddressBook => {
                let mut own = store.collections(user, kind).await?;
                if !own.iter().any(|c| c.slug == DIRECTORY_SLUG)
                    && let Some(directory) = self.directory(store, now).await?
                {
                    own.push(directory);
                    own.sort_by(|a, b| a.slug.cmp(&b.slug));
                }
                own
            }
        };
        // A birthday calendar stays stored while the feature is off, unseen.
        if self.config.birthday_calendar.is_none() {
            found.retain(|c| c.derived != Some(Derived::Birthdays));
        }
        Ok(found.into_iter().filter_map(|c| Access::of(&c, user).map(|a| (c, a))).collect())
    }

    /// Brings the user's birthday calendar in step with their address books
    /// before anything reads the calendar home (its `getctag` included).
    pub async fn refresh_birthdays(&self, store: &Store, user: UserId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.birthdays(store, user, now).await.map(|_| ())
    }

    /// The company directory, made on first use and brought in step with the
    /// active accounts; `None` when `dav.directory` turns it off.
    async fn directory(&self, store: &Store, now: DateTime<Utc>) -> Result<Option<Collection>, StoreError> {
        let Some(name) = &self.config.directory else { return Ok(None) };
        let props = CollectionProps { display_name: Some(name.clone()), ..Default::default() };
        let Some(collection) = store
            .ensure_derived_collection(
                Derived::Directory,
                None,
                (CollectionKind::AddressBook, DIRECTORY_SLUG),
                &props,
                now,
            )
            .await?
        else {
            return Ok(None);
        };
        // The accounts' public fields are the whole source: when they hash as they did, the
        // cards would come out byte for byte the same, so none is built (2,000 accounts: one
        // query and one hash per request instead of 2,000 cards and ETags).
        let entries = store.directory_entries().await?;
        let tag = fingerprint(&entries);
        if collection.source_tag.as_deref() == Some(tag.as_str()) {
            return Ok(Some(collection));
        }
        let members: Vec<DerivedMember> = entries.iter().map(directory_member).collect();
        refresh(store, collection, &tag, &members, now).await.map(Some)
    }

    /// The user's birthday calendar, made on first use and brought in step
    /// with their own address books; `None` when `dav.birthday_calendar`
    /// turns it off, or when the user has a calendar of that name already.
    async fn birthdays(
        &self,
        store: &Store,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<Collection>, StoreError> {
        let Some(name) = &self.config.birthday_calendar else { return Ok(None) };
        let props = CollectionProps {
            display_name: Some(name.clone()),
            components: vec!["VEVENT".into()],
            // A birthday never makes anyone busy (RFC 4791 §9.1 free-busy, RFC 6638 §9.1).
            transparent: true,
            ..Default::default()
        };
        let Some(collection) = store
            .ensure_derived_collection(
                Derived::Birthdays,
                Some(user),
                (CollectionKind::Calendar, BIRTHDAYS_SLUG),
                &props,
                now,
            )
            .await?
        else {
            return Ok(None);
        };
        // The address-book home's tag moves with every card written or deleted.
        let tag = store.home_tag(user, CollectionKind::AddressBook).await?;
        if collection.source_tag.as_deref() == Some(tag.as_str()) {
            return Ok(Some(collection));
        }
        let mut members = Vec::new();
        let mut seen = HashSet::new();
        for book in store.collections(user, CollectionKind::AddressBook).await? {
            for object in store.objects_overlapping(book.id, None, None, None).await? {
                // A card that no longer parses (stored by an older version) is skipped, not fatal.
                let Ok(card) = madang_ical::parse_card(&object.data) else { continue };
                for a in madang_ical::birthdays::anniversaries(&card) {
                    // The same contact in two books makes one event.
                    let key =
                        hex(&Sha256::digest(format!("{}\u{0}{}", card.uid(), a.occasion.key())))[..32].to_string();
                    if !seen.insert(key.clone()) {
                        continue;
                    }
                    let uid = format!("{key}@birthdays.madang");
                    let data = madang_ical::birthdays::event(&uid, &card.display_name(), &a);
                    // Derived from a parse that cannot fail on what `event` writes; an
                    // index left empty would only make queries evaluate the event.
                    let index = madang_ical::parse_object(&data)
                        .map(|o| o.index(&self.limits()))
                        .unwrap_or(madang_ical::Index { start: None, end: None, exact: false });
                    members.push(DerivedMember {
                        name: format!("{key}.ics"),
                        uid,
                        component: "VEVENT".into(),
                        etag: etag_of(&data),
                        data,
                        range_start: index.start,
                        range_end: index.end,
                        range_exact: index.exact,
                    });
                }
            }
        }
        refresh(store, collection, &tag, &members, now).await.map(Some)
    }
}

/// Syncs `members` into `collection` unless it was built from `tag` already,
/// and returns the collection as it now is (its revision moved if anything changed).
async fn refresh(
    store: &Store,
    collection: Collection,
    tag: &str,
    members: &[DerivedMember],
    now: DateTime<Utc>,
) -> Result<Collection, StoreError> {
    if collection.source_tag.as_deref() == Some(tag) {
        return Ok(collection);
    }
    store.sync_derived(collection.id, tag, members, now).await?;
    let derived = collection.derived.unwrap_or(Derived::Directory);
    Ok(store.derived_collection(derived, collection.owner).await?.unwrap_or(collection))
}

/// One account's directory card. The subject names it, so a rename changes
/// the card's content (and ETag), never its href.
fn directory_member(entry: &DirectoryEntry) -> DerivedMember {
    let uid = format!("urn:uuid:{}", uuid_form(&entry.subject));
    let data = madang_ical::directory::card(&madang_ical::directory::Person {
        uid: &uid,
        display_name: &entry.display_name,
        username: &entry.username,
        email: &entry.email,
    });
    DerivedMember {
        name: format!("{}.vcf", entry.subject),
        uid,
        component: super::VCARD.into(),
        etag: etag_of(&data),
        data,
        range_start: None,
        range_end: None,
        range_exact: false,
    }
}

/// A subject of 32 hex digits written as a UUID (8-4-4-4-12); anything else as it is.
fn uuid_form(subject: &str) -> String {
    if subject.len() == 32 && subject.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("{}-{}-{}-{}-{}", &subject[..8], &subject[8..12], &subject[12..16], &subject[16..20], &subject[20..])
    } else {
        subject.to_string()
    }
}

/// What a derived collection's members are, in one value: any added, removed or changed
/// member changes it (a subscription's `source_tag`; the directory fingerprints its accounts
/// instead, which is cheaper than building the cards to compare).
pub(crate) fn members_fingerprint(members: &[DerivedMember]) -> String {
    let mut hash = Sha256::new();
    for m in members {
        hash.update(m.name.as_bytes());
        hash.update([0]);
        hash.update(m.etag.as_bytes());
        hash.update([0]);
    }
    hex(&hash.finalize())
}

/// The directory's source in one value: any account added, removed or changed in a field the
/// cards show changes it. `CARD_FORMAT` is part of it so a release that writes the cards
/// differently rebuilds them once.
fn fingerprint(entries: &[DirectoryEntry]) -> String {
    const CARD_FORMAT: &str = "directory-card-1";
    let mut hash = Sha256::new();
    hash.update(CARD_FORMAT.as_bytes());
    for e in entries {
        for field in [&e.subject, &e.username, &e.email, &e.display_name] {
            hash.update(field.as_bytes());
            hash.update([0]);
        }
    }
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
