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
use crate::domain::UserState;
use crate::store::Store;

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
            BearerResource::Mail => "mail",
            BearerResource::Admin => "admin",
        }
    }

    async fn check(&self, token: &str, resource: BearerResource) -> Result<Principal, AuthError> {
        // Our tokens are 43 base64url characters; anything else is not one.
        if token.len() != 43 {
            return Err(AuthError::InvalidCredentials);
        }
        let hash = self.hasher.hash(token.as_bytes());
        let Some((user, scopes)) = self.store.user_by_access_token(&hash, self.clock.now()).await? else {
            return Err(AuthError::InvalidCredentials);
        };
        if user.state != UserState::Active || !super::has_scope(&scopes, Self::scope_for(resource)) {
            return Err(AuthError::InvalidCredentials);
        }
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
