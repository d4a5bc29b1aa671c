//! DAV collections (calendars, address books), their members, the change log behind sync tokens, and dead properties.
//!
//! Every member change bumps its collection's `revision` and upserts one row
//! of `dav_changes` in the same transaction, so a sync token is just a
//! revision: "everything whose change revision is above N". The revision bump
//! is an `UPDATE … RETURNING` on the collection row, which also serialises
//! concurrent writers of one collection, so revisions become visible in the
//! order they were handed out and a reader never skips one.

use chrono::{DateTime, Utc};

use super::push::announce;
use super::{Backend, BeginWrite, Store, StoreError, StoreResult, read, write};
use crate::domain::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionKind {
    Calendar,
    AddressBook,
}

/// What the members of a derived collection are made from (`dav_collections.derived`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// The company directory: one card per active user; one per instance, owned by nobody.
    Directory,
    /// A user's birthday calendar: one yearly event per BDAY/ANNIVERSARY in their address books.
    Birthdays,
    /// A user's subscription to an external calendar feed (`dav_subscriptions`): one member per UID of the feed.
    Subscription,
}

impl Derived {
    fn as_column(self) -> &'static str {
        match self {
            Derived::Directory => "users",
            Derived::Birthdays => "contacts",
            Derived::Subscription => "feed",
        }
    }

    fn from_column(s: &str) -> Option<Derived> {
        match s {
            "users" => Some(Derived::Directory),
            "contacts" => Some(Derived::Birthdays),
            "feed" => Some(Derived::Subscription),
            _ => None,
        }
    }
}

impl CollectionKind {
    fn as_str(self) -> &'static str {
        match self {
            CollectionKind::Calendar => "calendar",
            CollectionKind::AddressBook => "addressbook",
        }
    }
}

/// A calendar or address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: CollectionId,
    /// `None` only for the instance's own collections (the company directory).
    pub owner: Option<UserId>,
    /// What Madang derives the members from; `None` for a collection clients write.
    pub derived: Option<Derived>,
    /// For a derived collection, the fingerprint of the source it was last brought in line with.
    pub source_tag: Option<String>,
    pub kind: CollectionKind,
    pub slug: String,
    pub props: CollectionProps,
    pub revision: i64,
    pub pruned_revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The live properties a client may set (RFC 4791 §5.2, Apple's colour and order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CollectionProps {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub color: Option<String>,
    pub sort_order: Option<String>,
    pub timezone: Option<String>,
    /// Component names accepted (RFC 4791 §5.2.3), e.g. `["VEVENT", "VTODO"]`.
    pub components: Vec<String>,
    pub transparent: bool,
}

/// A dead property: the element as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadProperty {
    pub namespace: String,
    pub local_name: String,
    pub xml: String,
}

impl DeadProperty {
    /// Bytes it takes as stored: what the size limits and the quota count.
    pub fn size(&self) -> i64 {
        (self.namespace.len() + self.local_name.len() + self.xml.len()) as i64
    }
}

/// Bounds on what dead properties may take, checked inside the write
/// transaction that stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyLimits {
    /// Most bytes of dead properties one resource (a collection, or one
    /// member) may hold; a change that grows a resource past it fails with
    /// `PropertiesTooLarge`. A resource already above it may still shrink.
    pub per_resource: u64,
    /// The owner's storage quota (RFC 4331), shared with member data.
    pub quota: Option<u64>,
}

/// What PROPPATCH changes, applied in one transaction (RFC 4918 §9.2: all or nothing).
#[derive(Debug, Clone, Default)]
pub struct PropertyChanges {
    /// New live properties for a collection; `None` leaves them alone.
    pub live: Option<CollectionProps>,
    pub set: Vec<DeadProperty>,
    /// (namespace, local name)
    pub remove: Vec<(String, String)>,
}

/// A member without its body: enough for PROPFIND and sync-collection.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ObjectMeta {
    pub name: String,
    pub etag: String,
    pub size: i64,
    pub component: String,
    pub modified_at: DateTime<Utc>,
}

/// A member with its body.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredObject {
    pub name: String,
    pub uid: String,
    pub etag: String,
    pub size: i64,
    pub component: String,
    pub data: String,
    pub range_exact: bool,
    pub modified_at: DateTime<Utc>,
}

impl StoredObject {
    pub fn meta(&self) -> ObjectMeta {
        ObjectMeta {
            name: self.name.clone(),
            etag: self.etag.clone(),
            size: self.size,
            component: self.component.clone(),
            modified_at: self.modified_at,
        }
    }
}

/// A member to write, with the derived columns computed by the caller.
#[derive(Debug, Clone)]
pub struct NewObject<'a> {
    pub name: &'a str,
    pub uid: &'a str,
    pub component: &'a str,
    pub etag: &'a str,
    pub data: &'a str,
    pub range_start: Option<i64>,
    pub range_end: Option<i64>,
    pub range_exact: bool,
}

/// A [`NewObject`] that owns its text, to hand to the writer task.
struct OwnedObject {
    name: String,
    uid: String,
    component: String,
    etag: String,
    data: String,
    range_start: Option<i64>,
    range_end: Option<i64>,
    range_exact: bool,
}

impl From<&NewObject<'_>> for OwnedObject {
    fn from(o: &NewObject<'_>) -> Self {
        OwnedObject {
            name: o.name.to_string(),
            uid: o.uid.to_string(),
            component: o.component.to_string(),
            etag: o.etag.to_string(),
            data: o.data.to_string(),
            range_start: o.range_start,
            range_end: o.range_end,
            range_exact: o.range_exact,
        }
    }
}

impl OwnedObject {
    fn borrowed(&self) -> NewObject<'_> {
        NewObject {
            name: &self.name,
            uid: &self.uid,
            component: &self.component,
            etag: &self.etag,
            data: &self.data,
            range_start: self.range_start,
            range_end: self.range_end,
            range_exact: self.range_exact,
        }
    }
}

/// One entry of the change log, with the member's metadata when it still exists.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Change {
    pub name: String,
    pub revision: i64,
    pub deleted: bool,
    pub etag: Option<String>,
    pub size: Option<i64>,
    pub component: Option<String>,
    pub modified_at: Option<DateTime<Utc>>,
}

impl Change {
    /// The member as it is now; `None` if it is gone.
    pub fn meta(&self) -> Option<ObjectMeta> {
        match (&self.etag, self.size, &self.component, self.modified_at) {
            (Some(etag), Some(size), Some(component), Some(modified_at)) if !self.deleted => Some(ObjectMeta {
                name: self.name.clone(),
                etag: etag.clone(),
                size,
                component: component.clone(),
                modified_at,
            }),
            _ => None,
        }
    }
}

/// Changes after a token, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    pub changes: Vec<Change>,
    /// More changes follow the last one returned (the caller asked for a limit).
    pub truncated: bool,
    /// The revision a client is at after applying `changes`.
    pub revision: i64,
}

/// The state of a member that a conditional request is checked against:
/// `None` if it does not exist, else its ETag.
pub type Condition<'a> = &'a (dyn Fn(Option<&str>) -> bool + Sync);

/// A [`Condition`] the store can keep: SQLite writes run on the writer task
/// (see `store::batch`), after the request that asked for them may be gone.
pub type WriteCondition = Box<dyn Fn(Option<&str>) -> bool + Send + Sync>;

#[derive(sqlx::FromRow)]
struct CollectionRow {
    id: i64,
    owner_id: Option<i64>,
    derived: Option<String>,
    source_tag: Option<String>,
    kind: String,
    slug: String,
    display_name: Option<String>,
    description: Option<String>,
    color: Option<String>,
    sort_order: Option<String>,
    timezone: Option<String>,
    components: String,
    transparent: bool,
    revision: i64,
    pruned_revision: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<CollectionRow> for Collection {
    fn from(r: CollectionRow) -> Self {
        Collection {
            id: CollectionId(r.id),
            owner: r.owner_id.map(UserId),
            derived: r.derived.as_deref().and_then(Derived::from_column),
            source_tag: r.source_tag,
            kind: if r.kind == "addressbook" { CollectionKind::AddressBook } else { CollectionKind::Calendar },
            slug: r.slug,
            props: CollectionProps {
                display_name: r.display_name,
                description: r.description,
                color: r.color,
                sort_order: r.sort_order,
                timezone: r.timezone,
                components: r.components.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect(),
                transparent: r.transparent,
            },
            revision: r.revision,
            pruned_revision: r.pruned_revision,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! collection_columns {
    () => {
        "id, owner_id, derived, source_tag, kind, slug, display_name, description, color, sort_order, timezone, components, transparent, \
         revision, pruned_revision, created_at, updated_at"
    };
}

macro_rules! insert_collection {
    ($conn:expr, $owner:expr, $kind:expr, $slug:expr, $props:expr, $now:expr) => {{
        let sql = concat!(
            "INSERT INTO dav_collections (owner_id, kind, slug, display_name, description, color, sort_order, \
             timezone, components, transparent, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING ",
            collection_columns!()
        );
        let props: &CollectionProps = $props;
        sqlx::query_as::<_, CollectionRow>(sql)
            .bind($owner.0)
            .bind($kind.as_str())
            .bind($slug)
            .bind(&props.display_name)
            .bind(&props.description)
            .bind(&props.color)
            .bind(&props.sort_order)
            .bind(&props.timezone)
            .bind(props.components.join(","))
            .bind(props.transparent)
            .bind($now)
            .fetch_one($conn)
    }};
}

macro_rules! set_dead {
    ($conn:expr, $id:expr, $object:expr, $p:expr) => {
        sqlx::query(
            "INSERT INTO dav_properties (collection_id, object_name, namespace, local_name, xml, size) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (collection_id, object_name, namespace, local_name) \
             DO UPDATE SET xml = excluded.xml, size = excluded.size",
        )
        .bind($id)
        .bind($object)
        .bind(&$p.namespace)
        .bind(&$p.local_name)
        .bind(&$p.xml)
        .bind($p.size())
        .execute($conn)
    };
}

/// Bytes of the dead properties of one resource (`object` `""` = the collection itself).
macro_rules! properties_size {
    ($conn:expr, $id:expr, $object:expr) => {
        sqlx::query_scalar::<_, i64>(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM dav_properties \
             WHERE collection_id = $1 AND object_name = $2",
        )
        .bind($id)
        .bind($object)
        .fetch_one($conn)
    };
}

/// Moves collection `$id`'s byte counter by `$delta` inside the write
/// transaction `$tx`; growth is first checked against the owner's `$quota`
/// (RFC 4331 §6). The caller has locked the collection row already (the
/// revision bump, or the insert), so the sum cannot go stale before the
/// counter moves.
macro_rules! charge {
    ($tx:ident, $id:expr, $delta:expr, $quota:expr) => {
        async {
            let (id, delta, quota): (i64, i64, Option<u64>) = ($id, $delta, $quota);
            if let Some(quota) = quota
                && delta > 0
            {
                let used: Option<i64> = sqlx::query_scalar(
                    "SELECT CAST(SUM(bytes) AS BIGINT) FROM dav_collections \
                     WHERE owner_id = (SELECT owner_id FROM dav_collections WHERE id = $1) AND derived IS NULL",
                )
                .bind(id)
                .fetch_one(&mut *$tx)
                .await?;
                if used.unwrap_or(0).saturating_add(delta) > i64::try_from(quota).unwrap_or(i64::MAX) {
                    return Err(StoreError::QuotaExceeded);
                }
            }
            if delta != 0 {
                sqlx::query("UPDATE dav_collections SET bytes = bytes + $2 WHERE id = $1")
                    .bind(id)
                    .bind(delta)
                    .execute(&mut *$tx)
                    .await?;
            }
            Ok::<(), StoreError>(())
        }
    };
}

macro_rules! bump_revision {
    ($conn:expr, $id:expr, $now:expr) => {
        async {
            let r: Option<i64> = sqlx::query_scalar(
                "UPDATE dav_collections SET revision = revision + 1, updated_at = $2 WHERE id = $1 RETURNING revision",
            )
            .bind($id)
            .bind($now)
            .fetch_optional($conn)
            .await?;
            r.ok_or(StoreError::NotFound)
        }
    };
}

macro_rules! log_change {
    ($conn:expr, $id:expr, $name:expr, $revision:expr, $deleted:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO dav_changes (collection_id, name, revision, deleted, changed_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (collection_id, name) DO UPDATE SET revision = excluded.revision, \
             deleted = excluded.deleted, changed_at = excluded.changed_at",
        )
        .bind($id)
        .bind($name)
        .bind($revision)
        .bind($deleted)
        .bind($now)
        .execute($conn)
    };
}

/// The body of a PUT inside a write transaction `$tx`; see `Store::put_object`.
macro_rules! put_member {
    ($tx:ident, $id:expr, $object:expr, $condition:expr, $quota:expr, $now:expr) => {
        async {
            let (id, object, now): (CollectionId, &NewObject<'_>, DateTime<Utc>) = ($id, $object, $now);
            let size = object.data.len() as i64;
            // The revision bump locks the collection row first, so the size
            // read below cannot go stale before the byte counter moves.
            let revision = bump_revision!(&mut *$tx, id.0, now).await?;
            let current: Option<(String, i64)> =
                sqlx::query_as("SELECT etag, size FROM dav_objects WHERE collection_id = $1 AND name = $2")
                    .bind(id.0)
                    .bind(object.name)
                    .fetch_optional(&mut *$tx)
                    .await?;
            if !($condition)(current.as_ref().map(|(etag, _)| etag.as_str())) {
                return Err(StoreError::PreconditionFailed);
            }
            let delta = size - current.as_ref().map_or(0, |(_, s)| *s);
            charge!($tx, id.0, delta, $quota).await?;
            let other: Option<String> = sqlx::query_scalar(
                "SELECT name FROM dav_objects WHERE collection_id = $1 AND uid = $2 AND name <> $3",
            )
            .bind(id.0)
            .bind(object.uid)
            .bind(object.name)
            .fetch_optional(&mut *$tx)
            .await?;
            if let Some(other) = other {
                return Err(StoreError::UidConflict(other));
            }
            sqlx::query(
                "INSERT INTO dav_objects (collection_id, name, uid, component, etag, size, data, range_start, \
                 range_end, range_exact, revision, created_at, modified_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
                 ON CONFLICT (collection_id, name) DO UPDATE SET uid = excluded.uid, component = excluded.component, \
                 etag = excluded.etag, size = excluded.size, data = excluded.data, \
                 range_start = excluded.range_start, range_end = excluded.range_end, \
                 range_exact = excluded.range_exact, revision = excluded.revision, modified_at = excluded.modified_at",
            )
            .bind(id.0)
            .bind(object.name)
            .bind(object.uid)
            .bind(object.component)
            .bind(object.etag)
            .bind(size)
            .bind(object.data)
            .bind(object.range_start)
            .bind(object.range_end)
            .bind(object.range_exact)
            .bind(revision)
            .bind(now)
            .execute(&mut *$tx)
            .await
            .map_err(uid_race)?;
            log_change!(&mut *$tx, id.0, object.name, revision, false, now).await?;
            Ok::<bool, StoreError>(current.is_none())
        }
    };
}

/// The body of a DELETE inside a write transaction `$tx`; see `Store::delete_object`.
/// Evaluates to the deleted member's UID.
macro_rules! delete_member {
    ($tx:ident, $id:expr, $name:expr, $condition:expr, $now:expr) => {
        async {
            let (id, name, now): (CollectionId, &str, DateTime<Utc>) = ($id, $name, $now);
            let revision = bump_revision!(&mut *$tx, id.0, now).await?;
            let current: Option<(String, i64, String)> =
                sqlx::query_as("SELECT etag, size, uid FROM dav_objects WHERE collection_id = $1 AND name = $2")
                    .bind(id.0)
                    .bind(name)
                    .fetch_optional(&mut *$tx)
                    .await?;
            let Some((current, size, uid)) = current else { return Err(StoreError::NotFound) };
            if !($condition)(Some(&current)) {
                return Err(StoreError::PreconditionFailed);
            }
            // The member's dead properties go with it, and so do their bytes.
            let properties = properties_size!(&mut *$tx, id.0, name).await?;
            charge!($tx, id.0, -(size + properties), None).await?;
            sqlx::query("DELETE FROM dav_objects WHERE collection_id = $1 AND name = $2")
                .bind(id.0)
                .bind(name)
                .execute(&mut *$tx)
                .await?;
            sqlx::query("DELETE FROM dav_properties WHERE collection_id = $1 AND object_name = $2")
                .bind(id.0)
                .bind(name)
                .execute(&mut *$tx)
                .await?;
            log_change!(&mut *$tx, id.0, name, revision, true, now).await?;
            Ok::<String, StoreError>(uid)
        }
    };
}

impl Store {
    /// Creates the user's default collections once. Returns `false` if the
    /// home was already provisioned (even if the user deleted them since).
    pub async fn provision_dav_home(
        &self,
        owner: UserId,
        defaults: &[(CollectionKind, &str, CollectionProps)],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let known: Option<i64> =
            read!(self, |pool| sqlx::query_scalar("SELECT user_id FROM dav_homes WHERE user_id = $1")
                .bind(owner.0)
                .fetch_optional(pool)
                .await?);
        if known.is_some() {
            return Ok(false);
        }
        Ok(write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO dav_homes (user_id, provisioned_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(owner.0)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                for (kind, slug, props) in defaults {
                    insert_collection!(&mut *tx, owner, *kind, slug, props, now).await?;
                }
            }
            tx.commit().await?;
            inserted == 1
        }))
    }

    /// Creates a collection with its initial dead properties (MKCALENDAR,
    /// extended MKCOL), which count toward `limits` like a PROPPATCH's.
    pub async fn create_collection(
        &self,
        owner: UserId,
        (kind, slug): (CollectionKind, &str),
        props: &CollectionProps,
        dead: &[DeadProperty],
        limits: &PropertyLimits,
        now: DateTime<Utc>,
    ) -> StoreResult<Collection> {
        let total: i64 = dead.iter().map(DeadProperty::size).sum();
        if total > i64::try_from(limits.per_resource).unwrap_or(i64::MAX) {
            return Err(StoreError::PropertiesTooLarge);
        }
        let row: CollectionRow = write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let row: CollectionRow = insert_collection!(&mut *tx, owner, kind, slug, props, now)
                .await
                .map_err(super::conflict_as("a collection with this name exists"))?;
            for p in dead {
                set_dead!(&mut *tx, row.id, "", p).await?;
            }
            charge!(tx, row.id, total, limits.quota).await?;
            announce!(tx, row.id, None, false, now).await?;
            tx.commit().await?;
            row
        });
        self.committed(owner);
        Ok(row.into())
    }

    pub async fn collection(&self, owner: UserId, kind: CollectionKind, slug: &str) -> StoreResult<Option<Collection>> {
        let sql = concat!(
            "SELECT ",
            collection_columns!(),
            " FROM dav_collections WHERE owner_id = $1 AND kind = $2 AND slug = $3"
        );
        let row: Option<CollectionRow> = read!(self, |pool| sqlx::query_as(sql)
            .bind(owner.0)
            .bind(kind.as_str())
            .bind(slug)
            .fetch_optional(pool)
            .await?);
        Ok(row.map(Into::into))
    }

    /// A user's collections of one kind, by name.
    pub async fn collections(&self, owner: UserId, kind: CollectionKind) -> StoreResult<Vec<Collection>> {
        let sql = concat!(
            "SELECT ",
            collection_columns!(),
            " FROM dav_collections WHERE owner_id = $1 AND kind = $2 ORDER BY slug"
        );
        let rows: Vec<CollectionRow> =
            read!(self, |pool| sqlx::query_as(sql).bind(owner.0).bind(kind.as_str()).fetch_all(pool).await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Deletes a collection with everything in it.
    pub async fn delete_collection(&self, id: CollectionId, now: DateTime<Utc>) -> StoreResult<()> {
        let owner = write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // Announced first: the event names the collection, whose row goes next.
            let owner = match announce!(tx, id.0, None, true, now).await {
                Err(StoreError::NotFound) => return Err(StoreError::NotFound),
                other => other?,
            };
            sqlx::query("DELETE FROM dav_collections WHERE id = $1").bind(id.0).execute(&mut *tx).await?;
            tx.commit().await?;
            owner
        });
        self.committed(owner);
        Ok(())
    }

    /// Applies a PROPPATCH to a collection (`object` = `None`) or a member,
    /// atomically. Dead properties are counted in the collection's bytes;
    /// `PropertiesTooLarge` or `QuotaExceeded` when they would grow past
    /// `limits`, and then nothing is applied (RFC 4918 §9.2).
    pub async fn change_properties(
        &self,
        id: CollectionId,
        object: Option<&str>,
        changes: &PropertyChanges,
        limits: &PropertyLimits,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let object_name = object.unwrap_or("");
        let owner = write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // A property change is a change: a member's shows up in the next
            // sync-collection, a calendar's moves its getctag. The bump also
            // locks the collection row for the byte count below.
            let revision = bump_revision!(&mut *tx, id.0, now).await?;
            if let Some(name) = object {
                // Checked here, not only by the caller: properties left on a
                // member deleted in between would hold bytes nothing frees.
                let exists: Option<String> =
                    sqlx::query_scalar("SELECT name FROM dav_objects WHERE collection_id = $1 AND name = $2")
                        .bind(id.0)
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    return Err(StoreError::NotFound);
                }
                log_change!(&mut *tx, id.0, name, revision, false, now).await?;
            }
            let before = properties_size!(&mut *tx, id.0, object_name).await?;
            if let Some(p) = &changes.live {
                sqlx::query(
                    "UPDATE dav_collections SET display_name = $2, description = $3, color = $4, sort_order = $5, \
                     timezone = $6, components = $7, transparent = $8, updated_at = $9 WHERE id = $1",
                )
                .bind(id.0)
                .bind(&p.display_name)
                .bind(&p.description)
                .bind(&p.color)
                .bind(&p.sort_order)
                .bind(&p.timezone)
                .bind(p.components.join(","))
                .bind(p.transparent)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for p in &changes.set {
                set_dead!(&mut *tx, id.0, object_name, p).await?;
            }
            for (ns, local) in &changes.remove {
                sqlx::query(
                    "DELETE FROM dav_properties WHERE collection_id = $1 AND object_name = $2 \
                     AND namespace = $3 AND local_name = $4",
                )
                .bind(id.0)
                .bind(object_name)
                .bind(ns)
                .bind(local)
                .execute(&mut *tx)
                .await?;
            }
            // Measured after the writes, so a value replacing a larger one,
            // or set and removed in one request, counts once. Returning
            // early drops the transaction: nothing is applied.
            let after = properties_size!(&mut *tx, id.0, object_name).await?;
            if after > before && after > i64::try_from(limits.per_resource).unwrap_or(i64::MAX) {
                return Err(StoreError::PropertiesTooLarge);
            }
            charge!(tx, id.0, after - before, limits.quota).await?;
            // A member's properties are not in the JSON models; the collection event makes
            // a client refetch what it shows of this collection either way.
            let owner = announce!(tx, id.0, None, false, now).await?;
            tx.commit().await?;
            owner
        });
        self.committed(owner);
        Ok(())
    }

    /// Dead properties of a collection (`object` = `None`) or one member.
    pub async fn dead_properties(&self, id: CollectionId, object: Option<&str>) -> StoreResult<Vec<DeadProperty>> {
        let rows: Vec<(String, String, String)> = read!(self, |pool| sqlx::query_as(
            "SELECT namespace, local_name, xml FROM dav_properties WHERE collection_id = $1 AND object_name = $2 \
             ORDER BY namespace, local_name"
        )
        .bind(id.0)
        .bind(object.unwrap_or(""))
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(|(namespace, local_name, xml)| DeadProperty { namespace, local_name, xml }).collect())
    }

    /// Dead properties of every member of a collection, by member name.
    pub async fn member_dead_properties(&self, id: CollectionId) -> StoreResult<Vec<(String, DeadProperty)>> {
        let rows: Vec<(String, String, String, String)> = read!(self, |pool| sqlx::query_as(
            "SELECT object_name, namespace, local_name, xml FROM dav_properties \
             WHERE collection_id = $1 AND object_name <> '' ORDER BY object_name, namespace, local_name"
        )
        .bind(id.0)
        .fetch_all(pool)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(name, namespace, local_name, xml)| (name, DeadProperty { namespace, local_name, xml }))
            .collect())
    }

    /// Members' metadata, by name; at most `limit` of them when given.
    pub async fn object_metas(&self, id: CollectionId, limit: Option<usize>) -> StoreResult<Vec<ObjectMeta>> {
        let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
        Ok(read!(self, |pool| sqlx::query_as(
            "SELECT name, etag, size, component, modified_at FROM dav_objects WHERE collection_id = $1 \
             ORDER BY name LIMIT $2"
        )
        .bind(id.0)
        .bind(limit)
        .fetch_all(pool)
        .await?))
    }

    /// Metadata of the named members that exist.
    pub async fn object_metas_named(&self, id: CollectionId, names: &[String]) -> StoreResult<Vec<ObjectMeta>> {
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(500) {
            let sql = format!(
                "SELECT name, etag, size, component, modified_at FROM dav_objects \
                 WHERE collection_id = $1 AND name IN ({})",
                placeholders(2, chunk.len())
            );
            let rows: Vec<ObjectMeta> = read!(self, |pool| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id.0);
                for n in chunk {
                    q = q.bind(n);
                }
                q.fetch_all(pool).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    pub async fn object(&self, id: CollectionId, name: &str) -> StoreResult<Option<StoredObject>> {
        Ok(read!(self, |pool| sqlx::query_as(
            "SELECT name, uid, etag, size, component, data, range_exact, modified_at FROM dav_objects \
             WHERE collection_id = $1 AND name = $2"
        )
        .bind(id.0)
        .bind(name)
        .fetch_optional(pool)
        .await?))
    }

    /// The member `name` of `owner`'s collection `slug`, in one query: a GET
    /// needs nothing else from the collection.
    pub async fn object_at(
        &self,
        owner: UserId,
        kind: CollectionKind,
        slug: &str,
        name: &str,
    ) -> StoreResult<Option<StoredObject>> {
        Ok(read!(self, |pool| sqlx::query_as(
            "SELECT o.name, o.uid, o.etag, o.size, o.component, o.data, o.range_exact, o.modified_at \
             FROM dav_collections c JOIN dav_objects o ON o.collection_id = c.id \
             WHERE c.owner_id = $1 AND c.kind = $2 AND c.slug = $3 AND o.name = $4"
        )
        .bind(owner.0)
        .bind(kind.as_str())
        .bind(slug)
        .bind(name)
        .fetch_optional(pool)
        .await?))
    }

    /// The named members that exist (calendar-multiget), in no particular order.
    pub async fn objects_named(&self, id: CollectionId, names: &[String]) -> StoreResult<Vec<StoredObject>> {
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(500) {
            let sql = format!(
                "SELECT name, uid, etag, size, component, data, range_exact, modified_at FROM dav_objects \
                 WHERE collection_id = $1 AND name IN ({})",
                placeholders(2, chunk.len())
            );
            let rows: Vec<StoredObject> = read!(self, |pool| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id.0);
                for n in chunk {
                    q = q.bind(n);
                }
                q.fetch_all(pool).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// Members whose derived range may overlap `[start, end)` (UTC seconds;
    /// `None` = unbounded), optionally only of one component type. A
    /// pre-filter: callers still evaluate the filter unless `range_exact`.
    /// The end is inclusive for inexact ranges: RFC 4791 §9.9 matches a
    /// to-do whose DUE equals the window's end.
    pub async fn objects_overlapping(
        &self,
        id: CollectionId,
        component: Option<&str>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> StoreResult<Vec<StoredObject>> {
        // One SQL text per combination of bounds, without `$n IS NULL OR`
        // terms: those hide the range from both planners, which then walk
        // the whole collection (see migration 20261121000003).
        let mut sql = String::from(
            "SELECT name, uid, etag, size, component, data, range_exact, modified_at FROM dav_objects \
             WHERE collection_id = $1",
        );
        let mut n = 1;
        let mut next = || {
            n += 1;
            n
        };
        if component.is_some() {
            sql.push_str(&format!(" AND component = ${}", next()));
        }
        if start.is_some() {
            sql.push_str(&format!(" AND (range_end IS NULL OR range_end > ${})", next()));
        }
        if end.is_some() {
            // A zero-length event at the window's end does not overlap it
            // (RFC 4791 §9.9), unless the range is only an estimate.
            let e = next();
            sql.push_str(&format!(
                " AND (range_start IS NULL OR range_start < ${e} OR (range_start = ${e} AND NOT range_exact))"
            ));
        }
        let mut objects: Vec<StoredObject> = read!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id.0);
            if let Some(component) = component {
                query = query.bind(component);
            }
            for value in [start, end].into_iter().flatten() {
                query = query.bind(value);
            }
            query.fetch_all(pool).await?
        });
        objects.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    /// Creates or replaces a member if `condition` accepts its current state
    /// and the owner stays within `quota` bytes. Returns whether it was
    /// created. Fails with `UidConflict` when another member has the same UID
    /// (RFC 4791 §5.3.2 `no-uid-conflict`), `QuotaExceeded` over quota.
    pub async fn put_object(
        &self,
        id: CollectionId,
        object: &NewObject<'_>,
        condition: WriteCondition,
        quota: Option<u64>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        match &self.backend {
            Backend::Sqlite { batcher, .. } => {
                let object = OwnedObject::from(object);
                let (created, owner) = batcher
                    .run(move |tx| {
                        Box::pin(async move {
                            let object = object.borrowed();
                            let created = put_member!(tx, id, &object, &*condition, quota, now).await?;
                            let owner = announce!(tx, id.0, Some((object.name, object.uid)), false, now).await?;
                            Ok((created, owner))
                        })
                    })
                    .await?;
                self.committed(owner);
                Ok(created)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin_write().await?;
                let created = put_member!(tx, id, object, &*condition, quota, now).await?;
                let owner = announce!(tx, id.0, Some((object.name, object.uid)), false, now).await?;
                tx.commit().await?;
                self.committed(owner);
                Ok(created)
            }
        }
    }

    /// Deletes a member if `condition` accepts its current ETag.
    pub async fn delete_object(
        &self,
        id: CollectionId,
        name: &str,
        condition: WriteCondition,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        match &self.backend {
            Backend::Sqlite { batcher, .. } => {
                let name = name.to_string();
                let owner = batcher
                    .run(move |tx| {
                        Box::pin(async move {
                            let uid = delete_member!(tx, id, &name, &*condition, now).await?;
                            announce!(tx, id.0, Some((name.as_str(), uid.as_str())), true, now).await
                        })
                    })
                    .await?;
                self.committed(owner);
                Ok(())
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin_write().await?;
                let uid = delete_member!(tx, id, name, &*condition, now).await?;
                let owner = announce!(tx, id.0, Some((name, uid.as_str())), true, now).await?;
                tx.commit().await?;
                self.committed(owner);
                Ok(())
            }
        }
    }

    /// MOVE (RFC 4918 §9.9) in one transaction: the member `from` (collection
    /// and name) becomes `object` in `to`, or nothing happens. `condition` is
    /// checked against the destination. Returns whether the destination was
    /// created.
    pub async fn move_object(
        &self,
        (from, from_name): (CollectionId, &str),
        to: CollectionId,
        object: &NewObject<'_>,
        condition: Condition<'_>,
        quota: Option<u64>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let any = |_: Option<&str>| true;
        let any: Condition<'_> = &any;
        write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // Dead properties travel with the member (RFC 4918 §9.9.1); a
            // replaced destination's own go.
            let replaced = properties_size!(&mut *tx, to.0, object.name).await?;
            sqlx::query("DELETE FROM dav_properties WHERE collection_id = $1 AND object_name = $2")
                .bind(to.0)
                .bind(object.name)
                .execute(&mut *tx)
                .await?;
            let moved = properties_size!(&mut *tx, from.0, from_name).await?;
            sqlx::query(
                "UPDATE dav_properties SET collection_id = $3, object_name = $4 \
                 WHERE collection_id = $1 AND object_name = $2",
            )
            .bind(from.0)
            .bind(from_name)
            .bind(to.0)
            .bind(object.name)
            .execute(&mut *tx)
            .await?;
            // The source goes first: within one calendar it holds the UID.
            let uid = delete_member!(tx, from, from_name, any, now).await?;
            let created = put_member!(tx, to, object, condition, quota, now).await?;
            // The properties' bytes follow them, after both rows were locked
            // in the order above. The owner's total does not grow (the same
            // bytes change collection), so there is no quota to check.
            charge!(tx, from.0, -moved, None).await?;
            charge!(tx, to.0, moved - replaced, None).await?;
            let source = announce!(tx, from.0, Some((from_name, uid.as_str())), true, now).await?;
            let target = announce!(tx, to.0, Some((object.name, object.uid)), false, now).await?;
            tx.commit().await?;
            self.committed(source);
            if target != source {
                self.committed(target);
            }
            Ok(created)
        })
    }

    /// COPY (RFC 4918 §9.8) in one transaction: `object` is written to `to`
    /// with the dead properties of the member `from`. Returns whether the
    /// destination was created.
    pub async fn copy_object(
        &self,
        (from, from_name): (CollectionId, &str),
        to: CollectionId,
        object: &NewObject<'_>,
        condition: Condition<'_>,
        quota: Option<u64>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let created = put_member!(tx, to, object, condition, quota, now).await?;
            let copied = properties_size!(&mut *tx, from.0, from_name).await?;
            let replaced = properties_size!(&mut *tx, to.0, object.name).await?;
            sqlx::query("DELETE FROM dav_properties WHERE collection_id = $1 AND object_name = $2")
                .bind(to.0)
                .bind(object.name)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO dav_properties (collection_id, object_name, namespace, local_name, xml, size) \
                 SELECT $3, $4, namespace, local_name, xml, size FROM dav_properties \
                 WHERE collection_id = $1 AND object_name = $2",
            )
            .bind(from.0)
            .bind(from_name)
            .bind(to.0)
            .bind(object.name)
            .execute(&mut *tx)
            .await?;
            // The copies take space of their own (RFC 4331 §6).
            charge!(tx, to.0, copied - replaced, quota).await?;
            let owner = announce!(tx, to.0, Some((object.name, object.uid)), false, now).await?;
            tx.commit().await?;
            self.committed(owner);
            Ok(created)
        })
    }

    /// Changes after revision `since`, oldest first, at most `limit` of them.
    /// `since = None` is an initial sync: every current member, no tombstones
    /// (RFC 6578 §3.8). `InvalidSyncToken` when `since` is in the future or
    /// its tombstones are gone.
    pub async fn changes_since(
        &self,
        id: CollectionId,
        since: Option<i64>,
        limit: Option<u32>,
    ) -> StoreResult<ChangeSet> {
        let (revision, pruned): (i64, i64) =
            read!(self, |pool| sqlx::query_as("SELECT revision, pruned_revision FROM dav_collections WHERE id = $1")
                .bind(id.0)
                .fetch_one(pool)
                .await?);
        if let Some(since) = since
            && (since > revision || since < pruned)
        {
            return Err(StoreError::InvalidSyncToken);
        }
        let initial = since.is_none();
        let since = since.unwrap_or(0);
        // Fetch one more than asked to learn whether the answer is truncated.
        let fetch = limit.map(|l| i64::from(l) + 1).unwrap_or(i64::MAX);
        let mut changes: Vec<Change> = read!(self, |pool| sqlx::query_as(
            "SELECT c.name, c.revision, c.deleted, o.etag, o.size, o.component, o.modified_at \
             FROM dav_changes c LEFT JOIN dav_objects o ON o.collection_id = c.collection_id AND o.name = c.name \
             WHERE c.collection_id = $1 AND c.revision > $2 AND NOT (c.deleted AND $3) ORDER BY c.revision LIMIT $4"
        )
        .bind(id.0)
        .bind(since)
        .bind(initial)
        .bind(fetch)
        .fetch_all(pool)
        .await?);
        let truncated = limit.is_some_and(|l| changes.len() > l as usize);
        if truncated {
            changes.truncate(limit.unwrap_or(0) as usize);
        }
        // Each change has its own revision, so resuming from the last one
        // returned neither repeats nor skips anything (RFC 6578 §3.6).
        let at = if truncated { changes.last().map_or(since, |c| c.revision) } else { revision };
        Ok(ChangeSet { changes, truncated, revision: at })
    }

    /// Drops tombstones older than `before`; tokens that predate them become
    /// invalid, which sends clients back to a full sync (RFC 6578 §3.7).
    pub async fn prune_tombstones(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE dav_collections SET pruned_revision = (SELECT MAX(revision) FROM dav_changes \
                 WHERE dav_changes.collection_id = dav_collections.id AND deleted AND changed_at < $1) \
                 WHERE EXISTS (SELECT 1 FROM dav_changes WHERE dav_changes.collection_id = dav_collections.id \
                 AND deleted AND changed_at < $1)",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?;
            let n = sqlx::query("DELETE FROM dav_changes WHERE deleted AND changed_at < $1")
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            n
        }))
    }

    /// A value that changes whenever any of a user's collections of `kind`
    /// or their members change: the home's `getctag`, which iOS polls.
    pub async fn home_tag(&self, owner: UserId, kind: CollectionKind) -> StoreResult<String> {
        let (count, revisions, updated): (i64, Option<i64>, Option<DateTime<Utc>>) =
            read!(self, |pool| sqlx::query_as(
                "SELECT COUNT(*), CAST(SUM(revision) AS BIGINT), MAX(updated_at) FROM dav_collections \
             WHERE owner_id = $1 AND kind = $2"
            )
            .bind(owner.0)
            .bind(kind.as_str())
            .fetch_one(pool)
            .await?);
        let updated = updated.map_or(0, |t| t.timestamp_micros());
        Ok(format!("{count}-{}-{updated}", revisions.unwrap_or(0)))
    }

    /// Bytes of DAV data a user stores (RFC 4331 quota): members and dead
    /// properties, read from the counters the quota check itself reads, so
    /// `quota-used-bytes` and the refusals agree.
    pub async fn dav_bytes_used(&self, owner: UserId) -> StoreResult<i64> {
        let used: Option<i64> = read!(self, |pool| {
            sqlx::query_scalar(
                "SELECT CAST(SUM(bytes) AS BIGINT) FROM dav_collections WHERE owner_id = $1 AND derived IS NULL",
            )
            .bind(owner.0)
            .fetch_one(pool)
            .await?
        });
        Ok(used.unwrap_or(0))
    }

    /// The member with this UID, if any: the JSON API names contacts by UID,
    /// while CardDAV clients pick resource names of their own.
    pub async fn object_by_uid(&self, id: CollectionId, uid: &str) -> StoreResult<Option<StoredObject>> {
        Ok(read!(self, |pool| sqlx::query_as(
            "SELECT name, uid, etag, size, component, data, range_exact, modified_at FROM dav_objects \
             WHERE collection_id = $1 AND uid = $2"
        )
        .bind(id.0)
        .bind(uid)
        .fetch_optional(pool)
        .await?))
    }
}

mod derived;
mod subscriptions;
pub use derived::{DerivedMember, DirectoryEntry};
pub use subscriptions::{FetchOutcome, Subscription};

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Two writers racing to give the same UID to different names: the unique
/// index decides, and the loser gets the same answer as a sequential check.
fn uid_race(e: sqlx::Error) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::UidConflict(String::new()),
        other => other,
    }
}
