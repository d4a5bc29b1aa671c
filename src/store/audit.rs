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

    /// Records matching `query`, newest first. The filters are bound as
    /// values, with `NULL` meaning "any": the table is append-only and paged
    /// by id, so the primary key bounds the scan.
    pub async fn audit_records(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let (action_exact, action_prefix) = match query.action.as_deref() {
            Some(a) if a.ends_with('.') => (None, Some(format!("{}%", like_escape(a)))),
            Some(a) => (Some(a.to_string()), None),
            None => (None, None),
        };
        let limit = i64::from(query.limit.clamp(1, 1000));
        let rows: Vec<AuditRecord> = read!(self, |pool| sqlx::query_as(
            "SELECT id, at, actor_id, actor_name, action, target, detail, address FROM audit_log \
             WHERE ($1 IS NULL OR id < $1) AND ($2 IS NULL OR action = $2) \
             AND ($3 IS NULL OR action LIKE $3 ESCAPE '\\') \
             AND ($4 IS NULL OR actor_name = $4 OR target = $4) ORDER BY id DESC LIMIT $5"
        )
        .bind(query.before)
        .bind(action_exact.as_deref())
        .bind(action_prefix.as_deref())
        .bind(query.user.as_deref())
        .bind(limit)
        .fetch_all(pool)
        .await?);
        Ok(rows)
    }
}

/// `s` as a literal inside a `LIKE … ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
