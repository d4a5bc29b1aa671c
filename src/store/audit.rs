//! The audit log: append-only records of sign-ins and administrative actions.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreResult, read, write};
use crate::domain::UserId;

/// One audit record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The acting account, if any (a failed sign-in for an unknown name has none).
    pub actor_id: Option<i64>,
    /// The actor's name at the time, or the name that was tried.
    pub actor_name: String,
    /// Dotted action name, e.g. `signin.failure`, `admin.user.approve`.
    pub action: String,
    /// What the action was done to (a user name, a client id), or empty.
    pub target: String,
    pub detail: String,
    /// The client address the request came from, when known.
    pub address: Option<String>,
}

/// A record to append.
#[derive(Debug, Clone, Default)]
pub struct NewAuditRecord {
    pub actor_id: Option<UserId>,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub address: Option<String>,
}

/// Which records to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only records with an id below this (for paging backwards).
    pub before: Option<i64>,
    /// Only this action, or every action starting with it when it ends in `.`.
    pub action: Option<String>,
    /// Only records whose actor or target is this name.
    pub user: Option<String>,
    pub limit: u32,
}

impl Store {
    pub async fn append_audit(&self, record: &NewAuditRecord, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| sqlx::query(
            "INSERT INTO audit_log (at, actor_id, actor_name, action, target, detail, address) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(now)
        .bind(record.actor_id.map(|id| id.0))
        .bind(&record.actor_name)
        .bind(&record.action)
        .bind(&record.target)
        .bind(&record.detail)
        .bind(record.address.as_deref())
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Records matching `query`, newest first. The SQL names only the
    /// filters that are set (`$n IS NULL OR …` terms would hide the indexes
    /// from both planners); every value is bound, never spliced.
    pub async fn audit_records(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut sql = String::from(
            "SELECT id, at, actor_id, actor_name, action, target, detail, address FROM audit_log WHERE TRUE",
        );
        let mut n = 0;
        let mut param = |sql: &mut String, fragment: &str| {
            n += 1;
            sql.push_str(&fragment.replace("$?", &format!("${n}")));
        };
        if query.before.is_some() {
            param(&mut sql, " AND id < $?");
        }
        // A prefix is compared with `substr`, not `LIKE`: SQLite's LIKE
        // ignores case and PostgreSQL's does not, and a prefix needs no
        // escaping this way.
        let (exact, prefix) = match query.action.as_deref() {
            Some(a) if a.ends_with('.') => (None, Some(a)),
            Some(a) => (Some(a), None),
            None => (None, None),
        };
        if exact.is_some() {
            param(&mut sql, " AND action = $?");
        }
        if let Some(p) = prefix {
            // The length is a literal number of characters, not user text.
            param(&mut sql, &format!(" AND substr(action, 1, {}) = $?", p.chars().count()));
        }
        if query.user.is_some() {
            n += 1;
            sql.push_str(&format!(" AND (actor_name = ${n} OR target = ${n})"));
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${n}"));
        let limit = i64::from(query.limit.clamp(1, 1000));
        let rows: Vec<AuditRecord> = read!(self, |pool| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            if let Some(before) = query.before {
                q = q.bind(before);
            }
            if let Some(a) = exact.or(prefix) {
                q = q.bind(a);
            }
            if let Some(u) = query.user.as_deref() {
                q = q.bind(u);
            }
            q.bind(limit).fetch_all(pool).await?
        });
        Ok(rows)
    }
}
