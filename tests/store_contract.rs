//! The storage contract: every behaviour of `Store`, run against SQLite and
//! PostgreSQL alike (see `on_both_databases!`).

mod common;

use std::collections::HashSet;

use chrono::{DateTime, SubsecRound, Utc};
use common::{Backend, TestDb};
use madang::domain::{AppPasswordId, Email, NewUser, Role, UserId, UserState, Username};
use madang::store::{SchemaStatus, Store, StoreError};

fn now() -> DateTime<Utc> {
    // PostgreSQL keeps microseconds; compare at that precision everywhere.
    Utc::now().trunc_subsecs(6)
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
        display_name: format!("{name} Example"),
        role: Role::Member,
        state: UserState::Active,
        password_hash: Some("$argon2id$placeholder".into()),
    }
}

async fn users_round_trip(db: &TestDb) {
    let store = db.store().await;
    let at = now();
    let created = store.create_user(&new_user("alice"), at).await.unwrap();
    assert_eq!(created.username.as_str(), "alice");
    assert_eq!(created.display_name, "alice Example");
    assert_eq!(created.role, Role::Member);
    assert_eq!(created.state, UserState::Active);
    assert_eq!(created.created_at, at);
    assert_eq!(created.updated_at, at);

    assert_eq!(store.user(created.id).await.unwrap(), created);
    assert_eq!(store.user_by_name(&Username::parse("ALICE").unwrap()).await.unwrap(), created);
    let creds = store.credentials_by_name(&created.username).await.unwrap();
    assert_eq!(creds.password_hash.as_deref(), Some("$argon2id$placeholder"));
    assert_eq!(creds.credentials_version, 1);

    let bob = store.create_user(&new_user("bob"), at).await.unwrap();
    let names: Vec<_> = store.users().await.unwrap().into_iter().map(|u| u.username.to_string()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(bob.id > created.id);
}

async fn usernames_are_unique_case_insensitively(db: &TestDb) {
    let store = db.store().await;
    store.create_user(&new_user("carol"), now()).await.unwrap();
    let again = store.create_user(&new_user("CaRoL"), now()).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
    assert_eq!(store.users().await.unwrap().len(), 1, "the failed insert left nothing behind");
}

async fn missing_things_are_not_found(db: &TestDb) {
    let store = db.store().await;
    assert_eq!(store.user(UserId(4242)).await.unwrap_err(), StoreError::NotFound);
    assert_eq!(store.user_by_name(&Username::parse("nobody").unwrap()).await.unwrap_err(), StoreError::NotFound);
    assert_eq!(store.set_role(UserId(4242), Role::Admin, now()).await.unwrap_err(), StoreError::NotFound);
    assert_eq!(store.delete_user(UserId(4242)).await.unwrap_err(), StoreError::NotFound);
    assert_eq!(
        store.revoke_app_password(UserId(4242), AppPasswordId(1), now()).await.unwrap_err(),
        StoreError::NotFound
    );
}

async fn credential_changes_bump_the_version(db: &TestDb) {
    let store = db.store().await;
    let user = store.create_user(&new_user("dave"), now()).await.unwrap();
    let version = |s: &Store| {
        let s = s.clone();
        async move {
            let c = s.credentials_by_id(user.id).await.unwrap();
            (c.user.state, c.credentials_version)
        }
    };
    assert_eq!(version(&store).await, (UserState::Active, 1));
    store.set_password_hash(user.id, "$argon2id$new", now()).await.unwrap();
    assert_eq!(version(&store).await, (UserState::Active, 2));
    store.set_role(user.id, Role::Admin, now()).await.unwrap();
    assert_eq!(version(&store).await, (UserState::Active, 3));
    store.set_state(user.id, UserState::Disabled, now()).await.unwrap();
    assert_eq!(version(&store).await, (UserState::Disabled, 4));
    assert_eq!(store.user(user.id).await.unwrap().role, Role::Admin);

    // A hash upgrade keeps the password, so cached sign-ins stay valid; and
    // it only applies if the hash is still the one that was verified.
    assert!(store.upgrade_password_hash(user.id, "$argon2id$new", "$argon2id$stronger").await.unwrap());
    assert!(!store.upgrade_password_hash(user.id, "$argon2id$new", "$argon2id$other").await.unwrap());
    assert_eq!(version(&store).await, (UserState::Disabled, 4));
    let creds = store.credentials_by_name(&user.username).await.unwrap();
    assert_eq!(creds.password_hash.as_deref(), Some("$argon2id$stronger"));
}

async fn state_transitions_are_conditional(db: &TestDb) {
    let store = db.store().await;
    let mut pending = new_user("erin");
    pending.state = UserState::Pending;
    let user = store.create_user(&pending, now()).await.unwrap();
    assert!(store.transition_state(user.id, UserState::Pending, UserState::Active, now()).await.unwrap());
    assert!(!store.transition_state(user.id, UserState::Pending, UserState::Active, now()).await.unwrap());
    assert_eq!(store.user(user.id).await.unwrap().state, UserState::Active);
}

async fn app_passwords_belong_to_one_user(db: &TestDb) {
    let store = db.store().await;
    let alice = store.create_user(&new_user("alice"), now()).await.unwrap();
    let bob = store.create_user(&new_user("bob"), now()).await.unwrap();
    let hash = [7u8; 32];
    let phone = store.create_app_password(alice.id, "iPhone", &hash, now()).await.unwrap();
    assert_eq!(phone.label, "iPhone");
    assert_eq!(phone.last_used_at, None);
    assert_eq!(store.app_password_by_hash(alice.id, &hash).await.unwrap(), Some(phone.clone()));
    // Isolation: Bob cannot sign in with Alice's app password, nor list or revoke it.
    assert_eq!(store.app_password_by_hash(bob.id, &hash).await.unwrap(), None);
    assert!(store.app_passwords(bob.id).await.unwrap().is_empty());
    assert_eq!(store.revoke_app_password(bob.id, phone.id, now()).await.unwrap_err(), StoreError::NotFound);
    // The same secret hash cannot be stored twice.
    assert!(matches!(store.create_app_password(bob.id, "x", &hash, now()).await.unwrap_err(), StoreError::Conflict(_)));

    let used = now();
    store.touch_app_password(phone.id, used).await.unwrap();
    let listed = store.app_passwords(alice.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, Some(used));

    let before = store.credentials_by_id(alice.id).await.unwrap().credentials_version;
    store.revoke_app_password(alice.id, phone.id, now()).await.unwrap();
    assert_eq!(store.credentials_by_id(alice.id).await.unwrap().credentials_version, before + 1);
    assert_eq!(store.app_password_by_hash(alice.id, &hash).await.unwrap(), None);
}

async fn deleting_a_user_deletes_what_it_owns(db: &TestDb) {
    let store = db.store().await;
    let gone = store.create_user(&new_user("gone"), now()).await.unwrap();
    let kept = store.create_user(&new_user("kept"), now()).await.unwrap();
    store.create_app_password(gone.id, "a", &[1u8; 32], now()).await.unwrap();
    store.create_app_password(kept.id, "b", &[2u8; 32], now()).await.unwrap();
    store.delete_user(gone.id).await.unwrap();
    assert_eq!(store.user(gone.id).await.unwrap_err(), StoreError::NotFound);
    assert_eq!(store.app_password_by_hash(gone.id, &[1u8; 32]).await.unwrap(), None);
    assert_eq!(store.app_passwords(kept.id).await.unwrap().len(), 1);
    // The freed name can be taken again, as a new identity.
    let again = store.create_user(&new_user("gone"), now()).await.unwrap();
    assert_ne!(again.id, gone.id);
}

async fn counting_active_admins(db: &TestDb) {
    let store = db.store().await;
    assert_eq!(store.count_active_admins().await.unwrap(), 0);
    let mut admin = new_user("root");
    admin.role = Role::Admin;
    let admin = store.create_user(&admin, now()).await.unwrap();
    store.create_user(&new_user("member"), now()).await.unwrap();
    assert_eq!(store.count_active_admins().await.unwrap(), 1);
    let names =
        |users: Vec<madang::domain::User>| users.into_iter().map(|u| u.username.to_string()).collect::<Vec<_>>();
    assert_eq!(names(store.active_admins().await.unwrap()), ["root"]);
    store.set_state(admin.id, UserState::Disabled, now()).await.unwrap();
    assert_eq!(store.count_active_admins().await.unwrap(), 0);
    assert!(store.active_admins().await.unwrap().is_empty());
}

async fn counting_pending_sign_ups(db: &TestDb) {
    let store = db.store().await;
    assert_eq!(store.count_pending_users().await.unwrap(), 0);
    store.create_user(&new_user("member"), now()).await.unwrap();
    let mut waiting = new_user("waiting");
    waiting.state = UserState::Pending;
    let waiting = store.create_user(&waiting, now()).await.unwrap();
    assert_eq!(store.count_pending_users().await.unwrap(), 1);
    store.set_state(waiting.id, UserState::Active, now()).await.unwrap();
    assert_eq!(store.count_pending_users().await.unwrap(), 0);
}

async fn instance_secrets_are_created_once(db: &TestDb) {
    let store = db.store().await;
    let first = store.instance_secret("k", b"first", now()).await.unwrap();
    let second = store.instance_secret("k", b"second", now()).await.unwrap();
    assert_eq!(first, b"first");
    assert_eq!(second, b"first");
    // Another process (another pool) sees the same value.
    let other = db.store().await;
    assert_eq!(other.instance_secret("k", b"third", now()).await.unwrap(), b"first");
}

async fn migrations_are_idempotent_and_current(db: &TestDb) {
    let store = Store::connect(&db.database_config()).await.unwrap();
    let known = store.known_version();
    assert_eq!(store.schema_status().await.unwrap(), SchemaStatus::Behind { applied: 0, known });
    assert_eq!(store.migrate().await.unwrap(), SchemaStatus::Current { version: known });
    assert_eq!(store.migrate().await.unwrap(), SchemaStatus::Current { version: known });
}

async fn a_newer_schema_is_refused(db: &TestDb) {
    let store = db.store().await;
    let future = store.known_version() + 1;
    // What a newer madang would leave behind.
    let sql = format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({future}, 'from the future', TRUE, X'00', 1)"
    );
    let sql = if db.backend == Backend::Postgres { sql.replace("X'00'", "'\\x00'::bytea") } else { sql };
    db.execute(&sql).await;
    let err = store.schema_status().await.unwrap_err();
    assert_eq!(err, StoreError::SchemaTooNew { found: future, known: store.known_version() });
    assert!(err.to_string().contains("newer than this madang"), "{err}");
    assert_eq!(store.migrate().await.unwrap_err(), err);
}

async fn data_survives_reconnecting(db: &TestDb) {
    let store = db.store().await;
    let user = store.create_user(&new_user("persist"), now()).await.unwrap();
    store.create_app_password(user.id, "laptop", &[9u8; 32], now()).await.unwrap();
    store.close().await;
    assert!(matches!(store.schema_status().await.unwrap_err(), StoreError::Unavailable(_)));

    let reopened = db.store().await;
    assert_eq!(reopened.user(user.id).await.unwrap(), user);
    assert_eq!(reopened.app_passwords(user.id).await.unwrap().len(), 1);
}

/// 50 concurrent writers, each doing several writes: no "database is
/// locked", nothing lost.
async fn fifty_concurrent_writers(db: &TestDb) {
    let store = db.store().await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let user = store.create_user(&new_user(&format!("writer{i}")), now()).await?;
            for j in 0..4u8 {
                let mut hash = [0u8; 32];
                hash[0] = i as u8;
                hash[1] = j;
                let app = store.create_app_password(user.id, "device", &hash, now()).await?;
                store.touch_app_password(app.id, now()).await?;
            }
            store.set_password_hash(user.id, "$argon2id$changed", now()).await?;
            let first = store.app_passwords(user.id).await?[0].id;
            store.revoke_app_password(user.id, first, now()).await?;
            Ok::<_, StoreError>(user.id)
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(id) => assert!(ids.insert(id)),
            Err(e) => panic!("a concurrent write failed: {e}"),
        }
    }
    assert_eq!(store.users().await.unwrap().len(), 50);
    for id in ids {
        assert_eq!(store.app_passwords(id).await.unwrap().len(), 3);
        assert_eq!(store.credentials_by_id(id).await.unwrap().credentials_version, 3);
    }
}

on_both_databases!(
    users_round_trip,
    usernames_are_unique_case_insensitively,
    missing_things_are_not_found,
    credential_changes_bump_the_version,
    state_transitions_are_conditional,
    app_passwords_belong_to_one_user,
    deleting_a_user_deletes_what_it_owns,
    counting_active_admins,
    counting_pending_sign_ups,
    instance_secrets_are_created_once,
    migrations_are_idempotent_and_current,
    a_newer_schema_is_refused,
    data_survives_reconnecting,
    fifty_concurrent_writers,
);
