//! The storage contract for DAV collections, members, the change log and dead
//! properties, run against SQLite and PostgreSQL alike.

mod common;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use common::TestDb;
use madang::domain::{Email, NewUser, Role, UserId, UserState, Username};
use madang::store::dav::{
    CollectionId, CollectionKind, CollectionProps, DeadProperty, NewObject, PropertyChanges, PropertyLimits,
};
use madang::store::{Store, StoreError};

/// For tests about something other than property limits.
const UNLIMITED: PropertyLimits = PropertyLimits { per_resource: u64::MAX, quota: None };

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

async fn user(store: &Store, name: &str) -> UserId {
    let new = NewUser {
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
        display_name: name.into(),
        role: Role::Member,
        state: UserState::Active,
        password_hash: None,
    };
    store.create_user(&new, now()).await.unwrap().id
}

fn props(name: &str) -> CollectionProps {
    CollectionProps {
        display_name: Some(name.into()),
        components: vec!["VEVENT".into(), "VTODO".into()],
        ..Default::default()
    }
}

fn object<'a>(name: &'a str, uid: &'a str, etag: &'a str, data: &'a str) -> NewObject<'a> {
    NewObject {
        name,
        uid,
        component: "VEVENT",
        etag,
        data,
        range_start: Some(1_000),
        range_end: Some(2_000),
        range_exact: true,
    }
}

fn any(_: Option<&str>) -> bool {
    true
}

async fn provisioning_happens_once(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let defaults = [(CollectionKind::Calendar, "default", props("Calendar"))];
    assert!(store.provision_dav_home(alice, &defaults, now()).await.unwrap());
    let cals = store.collections(alice, CollectionKind::Calendar).await.unwrap();
    assert_eq!(cals.len(), 1);
    assert_eq!(cals[0].props.display_name.as_deref(), Some("Calendar"));
    assert_eq!(cals[0].props.components, ["VEVENT", "VTODO"]);
    store.delete_collection(cals[0].id, now()).await.unwrap();
    assert!(!store.provision_dav_home(alice, &defaults, now()).await.unwrap(), "deleted defaults stay deleted");
    assert!(store.collections(alice, CollectionKind::Calendar).await.unwrap().is_empty());
}

async fn collections_are_per_owner_and_unique(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let a = store
        .create_collection(alice, (CollectionKind::Calendar, "work"), &props("Work"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    store
        .create_collection(bob, (CollectionKind::Calendar, "work"), &props("Bob"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    let again =
        store.create_collection(alice, (CollectionKind::Calendar, "work"), &props("x"), &[], &UNLIMITED, now()).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let found = store.collection(alice, CollectionKind::Calendar, "work").await.unwrap().unwrap();
    assert_eq!(found, a);
    assert!(store.collection(alice, CollectionKind::AddressBook, "work").await.unwrap().is_none());
    assert_eq!(
        store.collections(bob, CollectionKind::Calendar).await.unwrap()[0].props.display_name.as_deref(),
        Some("Bob")
    );
}

async fn objects_round_trip_with_conditions(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let cal = store
        .create_collection(alice, (CollectionKind::Calendar, "c"), &props("C"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    let created = store
        .put_object(cal.id, &object("a.ics", "uid-a", "\"1\"", "DATA-1"), Box::new(any), None, now())
        .await
        .unwrap();
    assert!(created);
    let stored = store.object(cal.id, "a.ics").await.unwrap().unwrap();
    assert_eq!(
        (stored.uid.as_str(), stored.etag.as_str(), stored.data.as_str(), stored.size),
        ("uid-a", "\"1\"", "DATA-1", 6)
    );

    // If-None-Match: * on an existing member fails and changes nothing.
    let absent = |cur: Option<&str>| cur.is_none();
    let r = store.put_object(cal.id, &object("a.ics", "uid-a", "\"2\"", "DATA-2"), Box::new(absent), None, now()).await;
    assert_eq!(r, Err(StoreError::PreconditionFailed));
    // If-Match with the right ETag replaces.
    let matches_1 = |cur: Option<&str>| cur == Some("\"1\"");
    assert!(
        !store
            .put_object(cal.id, &object("a.ics", "uid-a", "\"2\"", "DATA-2"), Box::new(matches_1), None, now())
            .await
            .unwrap()
    );
    assert_eq!(store.object(cal.id, "a.ics").await.unwrap().unwrap().data, "DATA-2");
    // A stale ETag fails.
    let r =
        store.put_object(cal.id, &object("a.ics", "uid-a", "\"3\"", "DATA-3"), Box::new(matches_1), None, now()).await;
    assert_eq!(r, Err(StoreError::PreconditionFailed));

    // Another name with the same UID is a conflict naming the holder.
    let r = store.put_object(cal.id, &object("b.ics", "uid-a", "\"9\"", "X"), Box::new(any), None, now()).await;
    assert_eq!(r, Err(StoreError::UidConflict("a.ics".into())));
    assert!(store.object(cal.id, "b.ics").await.unwrap().is_none());

    let metas = store.object_metas(cal.id, None).await.unwrap();
    assert_eq!(store.object_metas(cal.id, Some(0)).await.unwrap().len(), 0);
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].etag, "\"2\"");
    let named = store.objects_named(cal.id, &["a.ics".into(), "zzz.ics".into()]).await.unwrap();
    assert_eq!(named.len(), 1);

    let r = store.delete_object(cal.id, "a.ics", Box::new(|cur| cur == Some("\"1\"")), now()).await;
    assert_eq!(r, Err(StoreError::PreconditionFailed));
    store.delete_object(cal.id, "a.ics", Box::new(any), now()).await.unwrap();
    assert_eq!(store.delete_object(cal.id, "a.ics", Box::new(any), now()).await, Err(StoreError::NotFound));
}

async fn change_log_drives_sync(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let cal = store
        .create_collection(alice, (CollectionKind::Calendar, "c"), &props("C"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    assert_eq!(cal.revision, 0);
    for i in 0..5 {
        let (name, uid) = (format!("{i}.ics"), format!("uid-{i}"));
        store.put_object(cal.id, &object(&name, &uid, "\"e\"", "D"), Box::new(any), None, now()).await.unwrap();
    }
    let initial = store.changes_since(cal.id, Some(0), None).await.unwrap();
    assert_eq!(initial.changes.len(), 5);
    assert!(!initial.truncated);
    assert_eq!(initial.revision, 5);

    store.put_object(cal.id, &object("1.ics", "uid-1", "\"f\"", "D2"), Box::new(any), None, now()).await.unwrap();
    store.delete_object(cal.id, "2.ics", Box::new(any), now()).await.unwrap();
    let delta = store.changes_since(cal.id, Some(initial.revision), None).await.unwrap();
    let got: Vec<_> = delta.changes.iter().map(|c| (c.name.as_str(), c.deleted)).collect();
    assert_eq!(got, [("1.ics", false), ("2.ics", true)]);
    assert_eq!(delta.revision, 7);

    // A limit truncates, and resuming from the returned revision skips nothing.
    let first = store.changes_since(cal.id, Some(0), Some(2)).await.unwrap();
    assert!(first.truncated);
    assert_eq!(first.changes.len(), 2);
    let rest = store.changes_since(cal.id, Some(first.revision), None).await.unwrap();
    let mut all: Vec<_> = first.changes.iter().chain(&rest.changes).map(|c| c.name.clone()).collect();
    all.sort();
    assert_eq!(all, ["0.ics", "1.ics", "2.ics", "3.ics", "4.ics"]);

    // Tokens from the future, and tokens older than pruned tombstones, are invalid.
    assert_eq!(store.changes_since(cal.id, Some(99), None).await, Err(StoreError::InvalidSyncToken));
    store.prune_tombstones(now() + Duration::seconds(1)).await.unwrap();
    assert_eq!(store.changes_since(cal.id, Some(0), None).await, Err(StoreError::InvalidSyncToken));
    let after = store.changes_since(cal.id, Some(7), None).await.unwrap();
    assert!(after.changes.is_empty());
    // An initial sync is always possible and never reports tombstones.
    let fresh = store.changes_since(cal.id, None, None).await.unwrap();
    assert_eq!(fresh.changes.len(), 4);
    assert!(fresh.changes.iter().all(|c| !c.deleted));
    assert_eq!(fresh.revision, 7);
}

async fn range_prefilter(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let cal = store
        .create_collection(alice, (CollectionKind::Calendar, "c"), &props("C"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    let mut open = object("open.ics", "open", "\"o\"", "D");
    open.range_end = None;
    store.put_object(cal.id, &open, Box::new(any), None, now()).await.unwrap();
    store.put_object(cal.id, &object("a.ics", "a", "\"a\"", "D"), Box::new(any), None, now()).await.unwrap();
    let names = |v: Vec<madang::store::dav::StoredObject>| v.into_iter().map(|o| o.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.objects_overlapping(cal.id, Some("VEVENT"), Some(1_500), Some(1_600)).await.unwrap()),
        ["a.ics", "open.ics"]
    );
    assert_eq!(names(store.objects_overlapping(cal.id, None, Some(2_000), None).await.unwrap()), ["open.ics"]);
    assert_eq!(names(store.objects_overlapping(cal.id, None, None, Some(1_000)).await.unwrap()), Vec::<String>::new());
    assert!(store.objects_overlapping(cal.id, Some("VTODO"), None, None).await.unwrap().is_empty());
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 2);
}

async fn properties_are_atomic_and_per_resource(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let dead =
        DeadProperty { namespace: "urn:x".into(), local_name: "p".into(), xml: "<p xmlns=\"urn:x\">1</p>".into() };
    let cal = store
        .create_collection(
            alice,
            (CollectionKind::Calendar, "c"),
            &props("C"),
            std::slice::from_ref(&dead),
            &UNLIMITED,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(store.dead_properties(cal.id, None).await.unwrap(), std::slice::from_ref(&dead));
    let mut live = cal.props.clone();
    live.color = Some("#ff0000".into());
    let changes = PropertyChanges {
        live: Some(live),
        set: vec![DeadProperty { xml: "<p xmlns=\"urn:x\">2</p>".into(), ..dead.clone() }],
        remove: vec![],
    };
    store.change_properties(cal.id, None, &changes, &UNLIMITED, now()).await.unwrap();
    let again = store.collection(alice, CollectionKind::Calendar, "c").await.unwrap().unwrap();
    assert_eq!(again.props.color.as_deref(), Some("#ff0000"));
    assert_eq!(store.dead_properties(cal.id, None).await.unwrap()[0].xml, "<p xmlns=\"urn:x\">2</p>");
    // Member properties are separate from the collection's, and go with the member.
    store.put_object(cal.id, &object("a.ics", "a", "\"a\"", "D"), Box::new(any), None, now()).await.unwrap();
    let member = PropertyChanges { set: vec![dead.clone()], ..Default::default() };
    store.change_properties(cal.id, Some("a.ics"), &member, &UNLIMITED, now()).await.unwrap();
    assert_eq!(store.dead_properties(cal.id, Some("a.ics")).await.unwrap().len(), 1);
    store.delete_object(cal.id, "a.ics", Box::new(any), now()).await.unwrap();
    assert!(store.dead_properties(cal.id, Some("a.ics")).await.unwrap().is_empty());
    let remove = PropertyChanges { remove: vec![("urn:x".into(), "p".into())], ..Default::default() };
    store.change_properties(cal.id, None, &remove, &UNLIMITED, now()).await.unwrap();
    assert!(store.dead_properties(cal.id, None).await.unwrap().is_empty());
}

async fn concurrent_writers_get_distinct_revisions(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let cal = store
        .create_collection(alice, (CollectionKind::Calendar, "c"), &props("C"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let (name, uid) = (format!("{i}.ics"), format!("u{i}"));
            store.put_object(cal.id, &object(&name, &uid, "\"e\"", "D"), Box::new(any), None, now()).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = store.changes_since(cal.id, Some(0), None).await.unwrap();
    assert_eq!(all.changes.len(), 40);
    assert_eq!(all.revision, 40);
    let mut revs: Vec<_> = all.changes.iter().map(|c| c.revision).collect();
    revs.dedup();
    assert_eq!(revs, (1..=40).collect::<Vec<_>>());
}

/// Concurrent writes share transactions on SQLite (group commit): a write
/// that fails inside a shared transaction must leave no trace (no revision,
/// no change-log row, no bytes), and its neighbours must all stand.
async fn failed_writes_among_concurrent_ones_leave_no_trace(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let cal = store
        .create_collection(alice, (CollectionKind::Calendar, "c"), &props("C"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    store.put_object(cal.id, &object("seed.ics", "seed", "\"s\"", "SEED"), Box::new(any), None, now()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("{i}.ics");
            match i % 4 {
                // If-Match that cannot hold: fails after the revision was bumped.
                0 => store
                    .put_object(
                        cal.id,
                        &object(&name, &name, "\"x\"", "XX"),
                        Box::new(|c| c == Some("\"nope\"")),
                        None,
                        now(),
                    )
                    .await
                    .map(|_| ()),
                // Another member already has this UID.
                1 => store
                    .put_object(cal.id, &object(&name, "seed", "\"x\"", "XX"), Box::new(any), None, now())
                    .await
                    .map(|_| ()),
                2 => store.delete_object(cal.id, &format!("missing-{i}.ics"), Box::new(any), now()).await,
                _ => store
                    .put_object(cal.id, &object(&name, &name, "\"ok\"", "OKAY"), Box::new(any), None, now())
                    .await
                    .map(|_| ()),
            }
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    for (i, r) in results.iter().enumerate() {
        let expected = match i % 4 {
            0 => Err(StoreError::PreconditionFailed),
            1 => Err(StoreError::UidConflict("seed.ics".into())),
            2 => Err(StoreError::NotFound),
            _ => Ok(()),
        };
        assert_eq!(r, &expected, "write {i}");
    }
    let all = store.changes_since(cal.id, Some(0), None).await.unwrap();
    assert_eq!(all.changes.len(), 1 + 15);
    assert_eq!(all.revision, 1 + 15, "failed writes must not consume revisions");
    assert!(all.changes.iter().all(|c| c.name == "seed.ics" || c.name.parse::<u32>().is_err()));
    for i in 0..60 {
        let stored = store.object(cal.id, &format!("{i}.ics")).await.unwrap();
        assert_eq!(stored.is_some(), i % 4 == 3, "object {i}");
    }
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 4 + 15 * 4);
}

async fn deleting_a_user_removes_their_collections(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let cal = store
        .create_collection(alice, (CollectionKind::Calendar, "c"), &props("C"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    store.put_object(cal.id, &object("a.ics", "a", "\"a\"", "D"), Box::new(any), None, now()).await.unwrap();
    store.delete_user(alice).await.unwrap();
    assert!(store.object(cal.id, "a.ics").await.unwrap().is_none());
}

async fn bytes_are_counted_and_quota_enforced(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let a = store
        .create_collection(alice, (CollectionKind::Calendar, "a"), &props("A"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    let b = store
        .create_collection(alice, (CollectionKind::Calendar, "b"), &props("B"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    store.put_object(a.id, &object("1.ics", "1", "\"1\"", "0123456789"), Box::new(any), Some(25), now()).await.unwrap();
    store.put_object(b.id, &object("2.ics", "2", "\"2\"", "0123456789"), Box::new(any), Some(25), now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 20);
    // Over quota across calendars: refused, nothing written.
    let r = store.put_object(b.id, &object("3.ics", "3", "\"3\"", "0123456789"), Box::new(any), Some(25), now()).await;
    assert_eq!(r, Err(StoreError::QuotaExceeded));
    assert!(store.object(b.id, "3.ics").await.unwrap().is_none());
    // Replacing counts the difference; shrinking is always allowed.
    store
        .put_object(a.id, &object("1.ics", "1", "\"1b\"", "0123456789012"), Box::new(any), Some(25), now())
        .await
        .unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 23);
    store.put_object(a.id, &object("1.ics", "1", "\"1c\"", "01"), Box::new(any), Some(1), now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 12);
    store.delete_object(b.id, "2.ics", Box::new(any), now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 2);
    store.delete_collection(a.id, now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 0);
}

async fn moves_are_all_or_nothing(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let a = store
        .create_collection(alice, (CollectionKind::Calendar, "a"), &props("A"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    let b = store
        .create_collection(alice, (CollectionKind::Calendar, "b"), &props("B"), &[], &UNLIMITED, now())
        .await
        .unwrap();
    store.put_object(a.id, &object("1.ics", "u1", "\"1\"", "ONE"), Box::new(any), None, now()).await.unwrap();
    store.put_object(b.id, &object("x.ics", "u1", "\"x\"", "CLASH"), Box::new(any), None, now()).await.unwrap();
    // The destination already holds the UID under another name: nothing moves.
    let moved =
        store.move_object((a.id, "1.ics"), b.id, &object("1.ics", "u1", "\"1\"", "ONE"), &any, None, now()).await;
    assert_eq!(moved, Err(StoreError::UidConflict("x.ics".into())));
    assert_eq!(store.object(a.id, "1.ics").await.unwrap().unwrap().data, "ONE", "the source is still there");
    assert!(store.object(b.id, "1.ics").await.unwrap().is_none());
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 8);
    // A rename inside one calendar keeps the UID and logs both names.
    let before = store.changes_since(a.id, None, None).await.unwrap().revision;
    let renamed = object("2.ics", "u1", "\"1\"", "ONE");
    assert!(store.move_object((a.id, "1.ics"), a.id, &renamed, &any, None, now()).await.unwrap());
    assert!(store.object(a.id, "1.ics").await.unwrap().is_none());
    assert_eq!(store.object(a.id, "2.ics").await.unwrap().unwrap().uid, "u1");
    let delta = store.changes_since(a.id, Some(before), None).await.unwrap();
    let got: Vec<_> = delta.changes.iter().map(|c| (c.name.as_str(), c.deleted)).collect();
    assert_eq!(got, [("1.ics", true), ("2.ics", false)]);
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 8);

    // Dead properties travel with a move and are duplicated by a copy.
    let dead = DeadProperty { namespace: "urn:x".into(), local_name: "p".into(), xml: "<p xmlns=\"urn:x\"/>".into() };
    let set = PropertyChanges { set: vec![dead.clone()], ..Default::default() };
    store.change_properties(a.id, Some("2.ics"), &set, &UNLIMITED, now()).await.unwrap();
    let moved = object("3.ics", "u1", "\"1\"", "ONE");
    store.move_object((a.id, "2.ics"), b.id, &moved, &any, None, now()).await.unwrap_err();
    store.delete_object(b.id, "x.ics", Box::new(any), now()).await.unwrap();
    store.move_object((a.id, "2.ics"), b.id, &moved, &any, None, now()).await.unwrap();
    assert_eq!(store.dead_properties(b.id, Some("3.ics")).await.unwrap(), std::slice::from_ref(&dead));
    assert!(store.dead_properties(a.id, Some("2.ics")).await.unwrap().is_empty());
    let copied = object("4.ics", "u1", "\"1\"", "ONE");
    store.copy_object((b.id, "3.ics"), a.id, &copied, &any, None, now()).await.unwrap();
    assert_eq!(store.dead_properties(a.id, Some("4.ics")).await.unwrap(), std::slice::from_ref(&dead));
    assert_eq!(store.dead_properties(b.id, Some("3.ics")).await.unwrap(), std::slice::from_ref(&dead));
}

/// A dead property in `urn:x` whose stored XML carries `len` bytes of text.
fn prop(local: &str, len: usize) -> DeadProperty {
    DeadProperty {
        namespace: "urn:x".into(),
        local_name: local.into(),
        xml: format!("<{local} xmlns=\"urn:x\">{}</{local}>", "v".repeat(len)),
    }
}

fn set(props: &[DeadProperty]) -> PropertyChanges {
    PropertyChanges { set: props.to_vec(), ..Default::default() }
}

fn remove(local: &str) -> PropertyChanges {
    PropertyChanges { remove: vec![("urn:x".into(), local.into())], ..Default::default() }
}

/// What the counters should say, measured from what is stored.
async fn stored_bytes(store: &Store, collections: &[CollectionId]) -> i64 {
    let mut total = 0;
    for &id in collections {
        total += store.object_metas(id, None).await.unwrap().iter().map(|m| m.size).sum::<i64>();
        total += store.dead_properties(id, None).await.unwrap().iter().map(DeadProperty::size).sum::<i64>();
        total += store.member_dead_properties(id).await.unwrap().iter().map(|(_, p)| p.size()).sum::<i64>();
    }
    total
}

/// See: issue 19, "Dead properties bypass both `dav.max_resource_size` and
/// the quota". Property bytes move the collection's counter (so
/// quota-used-bytes and the quota check see them), a resource's total is
/// capped, and a refused change leaves no trace.
async fn issue19_dead_properties_count_toward_quota_and_limits(db: &TestDb) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let limits = PropertyLimits { per_resource: 1_000, quota: Some(3_000) };
    let a = store
        .create_collection(alice, (CollectionKind::Calendar, "a"), &props("A"), &[], &limits, now())
        .await
        .unwrap();
    let b = store
        .create_collection(alice, (CollectionKind::Calendar, "b"), &props("B"), &[], &limits, now())
        .await
        .unwrap();
    let both = [a.id, b.id];
    store
        .put_object(a.id, &object("1.ics", "1", "\"1\"", &"x".repeat(100)), Box::new(any), Some(3_000), now())
        .await
        .unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 100);

    // Setting counts, overwriting counts the difference, removing gives it back.
    let p400 = prop("p", 400);
    store.change_properties(a.id, None, &set(std::slice::from_ref(&p400)), &limits, now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 100 + p400.size());
    let p100 = prop("p", 100);
    store.change_properties(a.id, None, &set(std::slice::from_ref(&p100)), &limits, now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 100 + p100.size());
    store.change_properties(a.id, None, &remove("p"), &limits, now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 100);
    // Removing what is not there changes nothing.
    store.change_properties(a.id, None, &remove("p"), &limits, now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 100);

    // One resource's total is capped; a refused change applies nothing, not
    // even the live change that came with it.
    store.change_properties(a.id, None, &set(&[prop("p", 400), prop("q", 400)]), &limits, now()).await.unwrap();
    let swap = PropertyChanges { set: vec![prop("r", 300)], remove: vec![("urn:x".into(), "q".into())], live: None };
    store.change_properties(a.id, None, &swap, &limits, now()).await.unwrap();
    let used = store.dav_bytes_used(alice).await.unwrap();
    assert_eq!(used, 100 + prop("p", 400).size() + prop("r", 300).size());
    let revision = store.changes_since(a.id, None, None).await.unwrap().revision;
    let mut live = a.props.clone();
    live.color = Some("#FF0000".into());
    let too_much = PropertyChanges { live: Some(live), set: vec![prop("s", 400)], remove: vec![] };
    let r = store.change_properties(a.id, None, &too_much, &limits, now()).await;
    assert_eq!(r, Err(StoreError::PropertiesTooLarge));
    let names: Vec<_> = store.dead_properties(a.id, None).await.unwrap().into_iter().map(|p| p.local_name).collect();
    assert_eq!(names, ["p", "r"], "nothing applied");
    assert_eq!(store.collection(alice, CollectionKind::Calendar, "a").await.unwrap().unwrap().props.color, None);
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), used);
    assert_eq!(store.changes_since(a.id, None, None).await.unwrap().revision, revision, "no revision used");
    let after_ok = used;

    // Member properties are a resource of their own, and go with the member.
    store.change_properties(a.id, Some("1.ics"), &set(&[prop("m", 900)]), &limits, now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), after_ok + prop("m", 900).size());
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), stored_bytes(&store, &both).await);

    // The quota counts members and properties together (RFC 4331).
    let used = store.dav_bytes_used(alice).await.unwrap();
    let tight = PropertyLimits { per_resource: 1_000, quota: Some(used as u64 + 500) };
    let r = store.change_properties(b.id, None, &set(&[prop("big", 600)]), &tight, now()).await;
    assert_eq!(r, Err(StoreError::QuotaExceeded));
    assert!(store.dead_properties(b.id, None).await.unwrap().is_empty());
    store.change_properties(b.id, None, &set(&[prop("fits", 400)]), &tight, now()).await.unwrap();
    let r = store
        .put_object(b.id, &object("2.ics", "2", "\"2\"", &"x".repeat(200)), Box::new(any), tight.quota, now())
        .await;
    assert_eq!(r, Err(StoreError::QuotaExceeded), "properties use up room that members then lack");
    // Over quota (lowered since), shrinking is still allowed.
    let lowered = PropertyLimits { per_resource: 1_000, quota: Some(10) };
    store.change_properties(b.id, None, &set(&[prop("fits", 10)]), &lowered, now()).await.unwrap();
    // A resource already over a lowered per-resource cap may shrink, not grow.
    let capped = PropertyLimits { per_resource: 100, quota: None };
    store.change_properties(a.id, None, &set(&[prop("p", 300)]), &capped, now()).await.unwrap();
    let r = store.change_properties(a.id, None, &set(&[prop("p", 301)]), &capped, now()).await;
    assert_eq!(r, Err(StoreError::PropertiesTooLarge));
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), stored_bytes(&store, &both).await);

    // COPY duplicates the properties' bytes (and is refused when they do not
    // fit); MOVE carries them along; DELETE frees them.
    let used = store.dav_bytes_used(alice).await.unwrap();
    let hundred = "x".repeat(100);
    let copy = object("1c.ics", "1c", "\"1\"", &hundred);
    let r = store.copy_object((a.id, "1.ics"), b.id, &copy, &any, Some(used as u64 + 150), now()).await;
    assert_eq!(r, Err(StoreError::QuotaExceeded), "the member fits, its properties do not");
    assert!(store.object(b.id, "1c.ics").await.unwrap().is_none());
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), used);
    store.copy_object((a.id, "1.ics"), b.id, &copy, &any, None, now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), used + 100 + prop("m", 900).size());
    store.delete_object(b.id, "1c.ics", Box::new(any), now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), used);
    let moved = object("1m.ics", "1", "\"1\"", &hundred);
    store.move_object((a.id, "1.ics"), b.id, &moved, &any, None, now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), used);
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), stored_bytes(&store, &both).await);
    // The bytes moved collection too: deleting the source frees only its own.
    let in_b = stored_bytes(&store, &[b.id]).await;
    store.delete_collection(a.id, now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), in_b);
    store.delete_object(b.id, "1m.ics", Box::new(any), now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), stored_bytes(&store, &[b.id]).await);

    // Initial properties (MKCALENDAR, extended MKCOL) are bounded the same way.
    let r = store
        .create_collection(
            alice,
            (CollectionKind::Calendar, "c"),
            &props("C"),
            &[prop("x", 600), prop("y", 600)],
            &limits,
            now(),
        )
        .await;
    assert_eq!(r, Err(StoreError::PropertiesTooLarge));
    let r = store
        .create_collection(
            alice,
            (CollectionKind::Calendar, "c"),
            &props("C"),
            &[prop("x", 600)],
            &tight_quota(&store, alice, 100).await,
            now(),
        )
        .await;
    assert_eq!(r, Err(StoreError::QuotaExceeded));
    assert!(store.collection(alice, CollectionKind::Calendar, "c").await.unwrap().is_none());
    let c = store
        .create_collection(alice, (CollectionKind::Calendar, "c"), &props("C"), &[prop("x", 600)], &limits, now())
        .await
        .unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), stored_bytes(&store, &[b.id, c.id]).await);
    store.delete_collection(c.id, now()).await.unwrap();
    store.delete_collection(b.id, now()).await.unwrap();
    assert_eq!(store.dav_bytes_used(alice).await.unwrap(), 0);
}

/// Limits allowing `room` more bytes than `owner` uses now.
async fn tight_quota(store: &Store, owner: UserId, room: u64) -> PropertyLimits {
    PropertyLimits { per_resource: u64::MAX, quota: Some(store.dav_bytes_used(owner).await.unwrap() as u64 + room) }
}

on_both_databases!(
    issue19_dead_properties_count_toward_quota_and_limits,
    moves_are_all_or_nothing,
    bytes_are_counted_and_quota_enforced,
    failed_writes_among_concurrent_ones_leave_no_trace,
    provisioning_happens_once,
    collections_are_per_owner_and_unique,
    objects_round_trip_with_conditions,
    change_log_drives_sync,
    range_prefilter,
    properties_are_atomic_and_per_resource,
    concurrent_writers_get_distinct_revisions,
    deleting_a_user_removes_their_collections,
);
