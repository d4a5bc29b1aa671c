//! OpenID Connect provider storage: clients, consents, authorization codes,
//! grants (token families), opaque tokens and signing keys.
//!
//! Secrets arrive here already hashed (HMAC-SHA256 under an instance key,
//! see `crate::oidc`); the store only ever compares hashes with an index
//! look-up. Every state change that must be atomic — redeeming a code,
//! rotating a refresh token — is one conditional `UPDATE` whose affected-row
//! count decides who won, so two concurrent redemptions cannot both succeed.
//!
//! Rows that can no longer be used are removed by [`Store::purge_oauth`],
//! which the server runs hourly; nothing on the request path deletes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{BeginWrite, Store, StoreError, StoreResult, conflict_as, read, write};
use crate::domain::UserId;

/// RFC 7636 policy for one client: public clients always `Required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PkcePolicy {
    Required,
    Optional,
}

impl PkcePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PkcePolicy::Required => "required",
            PkcePolicy::Optional => "optional",
        }
    }

    pub fn parse(s: &str) -> Option<PkcePolicy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "required" => Some(PkcePolicy::Required),
            "optional" => Some(PkcePolicy::Optional),
            _ => None,
        }
    }
}

/// JWS algorithms Madang signs id_tokens with (RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SigningAlg {
    RS256,
    ES256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::RS256, SigningAlg::ES256];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<SigningAlg> {
        match s.trim().to_ascii_uppercase().as_str() {
            "RS256" => Some(SigningAlg::RS256),
            "ES256" => Some(SigningAlg::ES256),
            _ => None,
        }
    }
}

/// A registered relying party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OAuthClient {
    #[serde(skip)]
    pub id: i64,
    pub client_id: String,
    pub name: String,
    /// RFC 6749 §2.1: a public client has no secret.
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    /// `required` or `optional`.
    #[schema(value_type = String)]
    pub pkce: PkcePolicy,
    /// Trusted by an admin: the consent screen is skipped.
    pub first_party: bool,
    /// `RS256` or `ES256`.
    #[schema(value_type = String)]
    pub id_token_alg: SigningAlg,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub secret_hash: Option<Vec<u8>>,
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: i64,
    client_id: String,
    name: String,
    secret_hash: Option<Vec<u8>>,
    public: bool,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    allowed_scopes: String,
    pkce: String,
    first_party: bool,
    id_token_alg: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ClientRow {
    fn into_client(self) -> StoreResult<OAuthClient> {
        let corrupt = |what: &str| StoreError::Internal(format!("OAuth client {} has an invalid {what}", self.id));
        let list = |text: &str, what: &str| serde_json::from_str::<Vec<String>>(text).map_err(|_| corrupt(what));
        Ok(OAuthClient {
            redirect_uris: list(&self.redirect_uris, "redirect URI list")?,
            post_logout_redirect_uris: list(&self.post_logout_redirect_uris, "post-logout URI list")?,
            allowed_scopes: self.allowed_scopes.split_whitespace().map(str::to_string).collect(),
            pkce: PkcePolicy::parse(&self.pkce).ok_or_else(|| corrupt("PKCE policy"))?,
            id_token_alg: SigningAlg::parse(&self.id_token_alg).ok_or_else(|| corrupt("id_token algorithm"))?,
            id: self.id,
            client_id: self.client_id,
            name: self.name,
            public: self.public,
            first_party: self.first_party,
            created_at: self.created_at,
            updated_at: self.updated_at,
            secret_hash: self.secret_hash,
        })
    }
}

macro_rules! client_columns {
    () => {
        "id, client_id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, \
         allowed_scopes, pkce, first_party, id_token_alg, created_at, updated_at"
    };
}

macro_rules! select_clients {
    ($tail:literal) => {
        concat!("SELECT ", client_columns!(), " FROM oauth_clients ", $tail)
    };
}

fn json_list(list: &[String]) -> StoreResult<String> {
    serde_json::to_string(list).map_err(|e| StoreError::Internal(e.to_string()))
}

/// An authorization code as stored (RFC 6749 §4.1.2: bound to everything the
/// token request must repeat).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRecord {
    pub client_id: i64,
    pub user_id: i64,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub scopes: String,
    pub auth_time: DateTime<Utc>,
    pub amr: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub grant_id: Option<i64>,
}

/// A new code to store.
#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub code_hash: &'a [u8],
    pub client_id: i64,
    pub user_id: UserId,
    pub redirect_uri: &'a str,
    pub code_challenge: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub scopes: &'a str,
    pub auth_time: DateTime<Utc>,
    pub amr: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// A token to store within a grant.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub kind: TokenKind,
    pub token_hash: [u8; 32],
    pub scopes: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

/// A token with its grant and client, as the token, introspection,
/// revocation, userinfo and bearer paths need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: i64,
    pub grant_id: i64,
    kind: String,
    pub scopes: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub grant_revoked_at: Option<DateTime<Utc>>,
    pub user_id: i64,
    pub auth_time: DateTime<Utc>,
    pub amr: String,
    /// The client's database id and its public `client_id`.
    pub client_pk: i64,
    pub client_id: String,
}

impl TokenRecord {
    pub fn kind(&self) -> TokenKind {
        if self.kind == "refresh" { TokenKind::Refresh } else { TokenKind::Access }
    }

    /// Not expired, not revoked, its grant not revoked, and (refresh) not
    /// yet rotated.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now && self.revoked_at.is_none() && self.grant_revoked_at.is_none() && self.used_at.is_none()
    }
}

/// The grant to create when a code is redeemed.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub client_id: i64,
    pub user_id: i64,
    pub scopes: String,
    pub auth_time: DateTime<Utc>,
    pub amr: String,
}

/// What redeeming a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code was fresh; here is the new grant.
    Granted { grant_id: i64 },
    /// The code had been redeemed already: a replay (RFC 6749 §4.1.2).
    Replayed,
}

/// A signing key as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

const TOKEN_SELECT: &str = "SELECT t.id, t.grant_id, t.kind, t.scopes, t.created_at, t.expires_at, t.used_at, \
     t.revoked_at, g.revoked_at AS grant_revoked_at, g.user_id, g.auth_time, g.amr, \
     c.id AS client_pk, c.client_id \
     FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id JOIN oauth_clients c ON c.id = g.client_id \
     WHERE t.token_hash = $1";

/// Stores `tokens` under grant `$grant_id`, inside the caller's transaction
/// (redeeming a code and rotating a refresh token both end with this).
macro_rules! insert_tokens {
    ($tx:ident, $grant_id:expr, $tokens:expr, $now:expr) => {{
        let (grant_id, tokens, now): (i64, &[NewToken], DateTime<Utc>) = ($grant_id, $tokens, $now);
        for t in tokens {
            sqlx::query(
                "INSERT INTO oauth_tokens (grant_id, kind, token_hash, scopes, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(grant_id)
            .bind(t.kind.as_str())
            .bind(&t.token_hash[..])
            .bind(&t.scopes)
            .bind(now)
            .bind(t.expires_at)
            .execute(&mut *$tx)
            .await
            .map_err(conflict_as("token collision"))?;
        }
    }};
}

/// How long dead rows (expired or revoked tokens, revoked grants) are kept
/// before [`Store::purge_oauth`] removes them: long enough that a rotated
/// refresh token presented again shortly after it expired is still
/// recognised as reuse, and that an operator can look at a revocation.
const DEAD_RETENTION: chrono::Duration = chrono::Duration::days(1);

/// How long a code is kept after it expired, so that a late replay is still
/// recognised as one and revokes what the code produced (RFC 6749 §4.1.2).
const CODE_RETENTION: chrono::Duration = chrono::Duration::hours(1);

/// The fields of a client an admin may set (everything but the secret).
#[derive(Debug, Clone)]
pub struct ClientFields<'a> {
    pub name: &'a str,
    pub redirect_uris: &'a [String],
    pub post_logout_redirect_uris: &'a [String],
    pub allowed_scopes: &'a [String],
    pub pkce: PkcePolicy,
    pub first_party: bool,
    pub id_token_alg: SigningAlg,
}

impl Store {
    pub async fn create_oauth_client(
        &self,
        client_id: &str,
        fields: &ClientFields<'_>,
        secret_hash: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> StoreResult<OAuthClient> {
        let redirect = json_list(fields.redirect_uris)?;
        let logout = json_list(fields.post_logout_redirect_uris)?;
        let scopes = fields.allowed_scopes.join(" ");
        const SQL: &str = concat!(
            "INSERT INTO oauth_clients (client_id, name, secret_hash, public, redirect_uris, ",
            "post_logout_redirect_uris, allowed_scopes, pkce, first_party, id_token_alg, created_at, updated_at) ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING ",
            client_columns!()
        );
        let row: ClientRow = write!(self, |pool| sqlx::query_as(SQL)
            .bind(client_id)
            .bind(fields.name)
            .bind(secret_hash)
            .bind(secret_hash.is_none())
            .bind(&redirect)
            .bind(&logout)
            .bind(&scopes)
            .bind(fields.pkce.as_str())
            .bind(fields.first_party)
            .bind(fields.id_token_alg.as_str())
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(conflict_as("an OAuth client with this client_id already exists"))?);
        row.into_client()
    }

    /// Every client, by `client_id`.
    pub async fn oauth_clients(&self) -> StoreResult<Vec<OAuthClient>> {
        let rows: Vec<ClientRow> =
            read!(self, |pool| sqlx::query_as(select_clients!("ORDER BY client_id")).fetch_all(pool).await?);
        rows.into_iter().map(ClientRow::into_client).collect()
    }

    pub async fn oauth_client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>> {
        let row: Option<ClientRow> = read!(self, |pool| sqlx::query_as(select_clients!("WHERE client_id = $1"))
            .bind(client_id)
            .fetch_optional(pool)
            .await?);
        row.map(ClientRow::into_client).transpose()
    }

    pub async fn update_oauth_client(
        &self,
        client_id: &str,
        fields: &ClientFields<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<OAuthClient> {
        let redirect = json_list(fields.redirect_uris)?;
        let logout = json_list(fields.post_logout_redirect_uris)?;
        let scopes = fields.allowed_scopes.join(" ");
        const SQL: &str = concat!(
            "UPDATE oauth_clients SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4, ",
            "allowed_scopes = $5, pkce = $6, first_party = $7, id_token_alg = $8, updated_at = $9 ",
            "WHERE client_id = $1 RETURNING ",
            client_columns!()
        );
        let row: Option<ClientRow> = write!(self, |pool| sqlx::query_as(SQL)
            .bind(client_id)
            .bind(fields.name)
            .bind(&redirect)
            .bind(&logout)
            .bind(&scopes)
            .bind(fields.pkce.as_str())
            .bind(fields.first_party)
            .bind(fields.id_token_alg.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?);
        row.ok_or(StoreError::NotFound)?.into_client()
    }

    /// Replaces a confidential client's secret hash.
    pub async fn set_oauth_client_secret(&self, client_id: &str, hash: &[u8], now: DateTime<Utc>) -> StoreResult<()> {
        let n = write!(self, |pool| {
            sqlx::query(
            "UPDATE oauth_clients SET secret_hash = $2, updated_at = $3 WHERE client_id = $1 AND secret_hash IS NOT NULL"
        )
        .bind(client_id)
        .bind(hash)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
        });
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Deletes a client with its consents, codes, grants and tokens.
    pub async fn delete_oauth_client(&self, client_id: &str) -> StoreResult<()> {
        let n = write!(self, |pool| sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .execute(pool)
            .await?
            .rows_affected());
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// The scopes `user` has allowed `client` (its database id), if any.
    pub async fn oauth_consent(&self, user: UserId, client: i64) -> StoreResult<Option<String>> {
        Ok(read!(self, |pool| sqlx::query_scalar(
            "SELECT scopes FROM oauth_consents WHERE user_id = $1 AND client_id = $2"
        )
        .bind(user.0)
        .bind(client)
        .fetch_optional(pool)
        .await?))
    }

    pub async fn save_oauth_consent(
        &self,
        user: UserId,
        client: i64,
        scopes: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        write!(self, |pool| {
            sqlx::query(
            "INSERT INTO oauth_consents (user_id, client_id, scopes, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at"
        )
        .bind(user.0)
        .bind(client)
        .bind(scopes)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
        });
        Ok(())
    }

    /// Stores a new authorization code.
    pub async fn create_oauth_code(&self, code: &NewCode<'_>, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| {
            sqlx::query(
                "INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, code_challenge, nonce, scopes, \
                 auth_time, amr, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(code.code_hash)
            .bind(code.client_id)
            .bind(code.user_id.0)
            .bind(code.redirect_uri)
            .bind(code.code_challenge)
            .bind(code.nonce)
            .bind(code.scopes)
            .bind(code.auth_time)
            .bind(code.amr)
            .bind(now)
            .bind(code.expires_at)
            .execute(pool)
            .await
            .map_err(conflict_as("authorization code collision"))?
            .rows_affected()
        });
        Ok(())
    }

    pub async fn oauth_code(&self, code_hash: &[u8]) -> StoreResult<Option<CodeRecord>> {
        Ok(read!(self, |pool| sqlx::query_as(
            "SELECT client_id, user_id, redirect_uri, code_challenge, nonce, scopes, auth_time, amr, expires_at, \
             used_at, grant_id FROM oauth_codes WHERE code_hash = $1"
        )
        .bind(code_hash)
        .fetch_optional(pool)
        .await?))
    }

    /// Marks the code used and, if it was unused, creates its grant and
    /// tokens — all in one transaction, so a code yields tokens once.
    pub async fn redeem_oauth_code(
        &self,
        code_hash: &[u8],
        grant: &NewGrant,
        tokens: &[NewToken],
        now: DateTime<Utc>,
    ) -> StoreResult<Redeemed> {
        Ok(write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL")
                .bind(code_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                tx.rollback().await?;
                Redeemed::Replayed
            } else {
                let grant_id: i64 = sqlx::query_scalar(
                    "INSERT INTO oauth_grants (client_id, user_id, scopes, auth_time, amr, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(grant.client_id)
                .bind(grant.user_id)
                .bind(&grant.scopes)
                .bind(grant.auth_time)
                .bind(&grant.amr)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("UPDATE oauth_codes SET grant_id = $2 WHERE code_hash = $1")
                    .bind(code_hash)
                    .bind(grant_id)
                    .execute(&mut *tx)
                    .await?;
                insert_tokens!(tx, grant_id, tokens, now);
                tx.commit().await?;
                Redeemed::Granted { grant_id }
            }
        }))
    }

    /// A token with its grant and client, live or not.
    pub async fn oauth_token(&self, token_hash: &[u8]) -> StoreResult<Option<TokenRecord>> {
        Ok(read!(self, |pool| sqlx::query_as(TOKEN_SELECT).bind(token_hash).fetch_optional(pool).await?))
    }

    /// Rotates a refresh token: marks it used and stores its successors, only
    /// if nobody rotated it first. `false` means it had been used already.
    pub async fn rotate_refresh_token(
        &self,
        old_token_id: i64,
        grant_id: i64,
        tokens: &[NewToken],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        Ok(write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE oauth_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
            )
            .bind(old_token_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                tx.rollback().await?;
                false
            } else {
                insert_tokens!(tx, grant_id, tokens, now);
                tx.commit().await?;
                true
            }
        }))
    }

    /// Revokes a grant: every token issued under it stops working at once.
    pub async fn revoke_oauth_grant(&self, grant_id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| sqlx::query(
            "UPDATE oauth_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
        )
        .bind(grant_id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Revokes every grant of `user` (a password change or reset: whoever
    /// held the old password may have signed in to a client with it), so
    /// their access tokens stop working at once and their refresh tokens
    /// answer `invalid_grant`. Codes not yet redeemed are deleted, so none
    /// can start a new grant afterwards. Returns the number of grants.
    pub async fn revoke_oauth_grants_of_user(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<u64> {
        Ok(write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("UPDATE oauth_grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(user.0)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM oauth_codes WHERE user_id = $1 AND used_at IS NULL")
                .bind(user.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n
        }))
    }

    /// Removes what can no longer be used; returns the number of rows
    /// deleted (not counting those that went with a deleted grant).
    ///
    /// - tokens that expired, or were revoked, more than [`DEAD_RETENTION`]
    ///   ago. A refresh token that was rotated stays until it would have
    ///   expired, so presenting it again is still caught as reuse;
    /// - codes that expired more than [`CODE_RETENTION`] ago;
    /// - grants revoked more than [`DEAD_RETENTION`] ago, and grants older
    ///   than that with no token left. A grant whose refresh token is still
    ///   valid always keeps that token (it has neither expired nor been
    ///   revoked), so it is never deleted; a grant left with no token can
    ///   never issue one again, since tokens are only issued from a code
    ///   (which creates a new grant) or from a refresh token of the grant.
    pub async fn purge_oauth(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let dead_before = now.checked_sub_signed(DEAD_RETENTION).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let codes_before = now.checked_sub_signed(CODE_RETENTION).unwrap_or(DateTime::<Utc>::MIN_UTC);
        Ok(write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let tokens = sqlx::query("DELETE FROM oauth_tokens WHERE expires_at < $1 OR revoked_at < $1")
                .bind(dead_before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let grants = sqlx::query(
                "DELETE FROM oauth_grants WHERE revoked_at < $1 OR (created_at < $1 AND NOT EXISTS \
                 (SELECT 1 FROM oauth_tokens t WHERE t.grant_id = oauth_grants.id))",
            )
            .bind(dead_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let codes = sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
                .bind(codes_before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            tokens + grants + codes
        }))
    }

    /// Revokes one token.
    pub async fn revoke_oauth_token(&self, token_id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| sqlx::query(
            "UPDATE oauth_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
        )
        .bind(token_id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Every signing key, newest first.
    pub async fn oidc_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        Ok(read!(self, |pool| sqlx::query_as(
            "SELECT kid, alg, private_key, public_jwk, created_at, retired_at FROM oidc_signing_keys ORDER BY id DESC"
        )
        .fetch_all(pool)
        .await?))
    }

    /// Adds signing keys and retires every older key of the same algorithms,
    /// in one transaction. With `only_if_none`, nothing happens when an
    /// unretired key of that algorithm exists (first start of several
    /// processes at once); returns whether anything was inserted.
    pub async fn add_oidc_signing_keys(
        &self,
        keys: &[SigningKeyRecord],
        only_if_none: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        Ok(write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut inserted = false;
            for key in keys {
                if only_if_none {
                    let existing: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM oidc_signing_keys WHERE alg = $1 AND retired_at IS NULL",
                    )
                    .bind(&key.alg)
                    .fetch_one(&mut *tx)
                    .await?;
                    if existing > 0 {
                        continue;
                    }
                }
                sqlx::query("UPDATE oidc_signing_keys SET retired_at = $2 WHERE alg = $1 AND retired_at IS NULL")
                    .bind(&key.alg)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO oidc_signing_keys (kid, alg, private_key, public_jwk, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.private_key)
                .bind(&key.public_jwk)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                inserted = true;
            }
            tx.commit().await?;
            inserted
        }))
    }

    /// Deletes retired keys retired before `horizon`: nothing they signed
    /// can still be valid.
    pub async fn prune_oidc_signing_keys(&self, horizon: DateTime<Utc>) -> StoreResult<u64> {
        Ok(write!(self, |pool| sqlx::query("DELETE FROM oidc_signing_keys WHERE retired_at < $1")
            .bind(horizon)
            .execute(pool)
            .await?
            .rows_affected()))
    }
}
