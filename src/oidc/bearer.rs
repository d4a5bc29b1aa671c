//! `Authorization: Bearer` on the JSON API and DAV (RFC 6750): an access
//! token is accepted only while live (not expired, revoked or in a revoked
//! grant), for an active account, and only for the resource its scopes
//! name — `api` for `/api/v1`, `dav` for CalDAV/CardDAV. A token for
//! identity alone (`openid profile …`) opens nothing but userinfo.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::auth::app_password::KeyedHasher;
use crate::auth::{AuthError, BearerResource, BearerVerifier, Credential, Principal};
use crate::clock::Clock;
use crate::domain::{UserId, UserState};
use crate::store::oidc::TokenKind;
use crate::store::{Store, StoreError};

pub struct OidcBearer {
    store: Store,
    clock: Arc<dyn Clock>,
    hasher: KeyedHasher,
}

impl OidcBearer {
    pub fn new(store: Store, clock: Arc<dyn Clock>, hasher: KeyedHasher) -> OidcBearer {
        OidcBearer { store, clock, hasher }
    }

    /// The scope a token needs for `resource`.
    pub fn scope_for(resource: BearerResource) -> &'static str {
        match resource {
            BearerResource::Api => "api",
            BearerResource::Dav => "dav",
        }
    }

    async fn check(&self, token: &str, resource: BearerResource) -> Result<Principal, AuthError> {
        // Our tokens are 43 base64url characters; anything else is not one.
        if token.len() != 43 {
            return Err(AuthError::InvalidCredentials);
        }
        let Some(rec) = self.store.oauth_token(&self.hasher.hash(token.as_bytes())).await? else {
            return Err(AuthError::InvalidCredentials);
        };
        if rec.kind() != TokenKind::Access
            || !rec.is_live(self.clock.now())
            || !super::has_scope(&rec.scopes, Self::scope_for(resource))
        {
            return Err(AuthError::InvalidCredentials);
        }
        let user = match self.store.user(UserId(rec.user_id)).await {
            Ok(user) if user.state == UserState::Active => user,
            Ok(_) | Err(StoreError::NotFound) => return Err(AuthError::InvalidCredentials),
            Err(e) => return Err(e.into()),
        };
        Ok(Principal { user, credential: Credential::Bearer })
    }
}

impl BearerVerifier for OidcBearer {
    fn verify<'a>(
        &'a self,
        token: &'a str,
        resource: BearerResource,
    ) -> Pin<Box<dyn Future<Output = Result<Principal, AuthError>> + Send + 'a>> {
        Box::pin(self.check(token, resource))
    }
}
