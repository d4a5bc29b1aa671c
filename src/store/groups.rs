//! Groups of users: named sets an administrator manages, handed to relying
//! parties as the `groups` claim (Gitea maps them to admin and restricted).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{BeginWrite, Store, StoreError, StoreResult, conflict_as, read, write};
use crate::domain::{GroupName, UserId, Username};

/// A group with its members' names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub id: i64,
    #[schema(value_type = String)]
    pub name: GroupName,
    pub description: String,
    pub created_at: DateTime<Utc>,
    #[schema(value_type = Vec<String>)]
    pub members: Vec<Username>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: i64,
    name: String,
    description: String,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    group_id: i64,
    username: String,
}

impl Store {
    pub async fn create_group(&self, name: &GroupName, description: &str, now: DateTime<Utc>) -> StoreResult<Group> {
        let row: GroupRow = write!(self, |pool| sqlx::query_as(
            "INSERT INTO groups (name, description, created_at) VALUES ($1, $2, $3) \
             RETURNING id, name, description, created_at"
        )
        .bind(name.as_str())
        .bind(description)
        .bind(now)
        .fetch_one(pool)
        .await
        .map_err(conflict_as("a group with this name already exists"))?);
        Ok(Group {
            id: row.id,
            name: GroupName::from_trusted(row.name),
            description: row.description,
            created_at: row.created_at,
            members: Vec::new(),
        })
    }

    /// Every group with its members, by name.
    pub async fn groups(&self) -> StoreResult<Vec<Group>> {
        let (rows, members): (Vec<GroupRow>, Vec<MemberRow>) = read!(self, |pool| {
            let rows = sqlx::query_as("SELECT id, name, description, created_at FROM groups ORDER BY name")
                .fetch_all(pool)
                .await?;
            let members = sqlx::query_as(
                "SELECT m.group_id, u.username FROM group_members m JOIN users u ON u.id = m.user_id \
                 ORDER BY u.username",
            )
            .fetch_all(pool)
            .await?;
            (rows, members)
        });
        let mut groups: Vec<Group> = rows
            .into_iter()
            .map(|r| Group {
                id: r.id,
                name: GroupName::from_trusted(r.name),
                description: r.description,
                created_at: r.created_at,
                members: Vec::new(),
            })
            .collect();
        for m in members {
            if let Some(g) = groups.iter_mut().find(|g| g.id == m.group_id) {
                g.members.push(Username::from_trusted(m.username));
            }
        }
        Ok(groups)
    }

    pub async fn group(&self, name: &GroupName) -> StoreResult<Group> {
        self.groups().await?.into_iter().find(|g| &g.name == name).ok_or(StoreError::NotFound)
    }

    pub async fn delete_group(&self, name: &GroupName) -> StoreResult<()> {
        let done = write!(self, |pool| sqlx::query("DELETE FROM groups WHERE name = $1")
            .bind(name.as_str())
            .execute(pool)
            .await?
            .rows_affected());
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Adds a member; adding one who is already in the group is not an error.
    pub async fn add_group_member(&self, group: &GroupName, user: UserId, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM groups WHERE name = $1")
                .bind(group.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let id = id.ok_or(StoreError::NotFound)?;
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, added_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (group_id, user_id) DO NOTHING",
            )
            .bind(id)
            .bind(user.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn remove_group_member(&self, group: &GroupName, user: UserId) -> StoreResult<()> {
        let done = write!(self, |pool| sqlx::query(
            "DELETE FROM group_members WHERE user_id = $2 AND group_id = (SELECT id FROM groups WHERE name = $1)"
        )
        .bind(group.as_str())
        .bind(user.0)
        .execute(pool)
        .await?
        .rows_affected());
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// The names of the groups `user` belongs to, sorted: the `groups` claim.
    pub async fn user_groups(&self, user: UserId) -> StoreResult<Vec<String>> {
        Ok(read!(self, |pool| sqlx::query_scalar(
            "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name"
        )
        .bind(user.0)
        .fetch_all(pool)
        .await?))
    }
}
