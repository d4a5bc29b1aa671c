//! OAuth client registration rules, shared by `madang oidc client …` and the
//! admin API: validation of redirect URIs and scopes, secrets shown once and
//! stored hashed, audit records; and redirect URI matching for the
//! authorization endpoint.

use serde::Deserialize;

use super::random_token;
use super::{DEFAULT_CLIENT_SCOPES, Oidc, SCOPES};
use crate::audit::{Entry, record_in};
use crate::domain::User;
use crate::store::StoreError;
use crate::store::oidc::{ClientFields, OAuthClient, PkcePolicy, SigningAlg};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Bad input; the text says what is allowed.
    #[error("{0}")]
    Invalid(String),
    #[error("no OAuth client `{0}`")]
    NotFound(String),
    #[error("an OAuth client `{0}` already exists")]
    Exists(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        ClientError::Store(e)
    }
}

/// A client to register.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub client_id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (RFC 6749 §2.1) has no secret and must use PKCE.
    #[serde(default)]
    pub public: bool,
    /// `required` (default) or `optional`; public clients always `required`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub pkce: Option<PkcePolicy>,
    /// Default: [`DEFAULT_CLIENT_SCOPES`].
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub first_party: bool,
    /// `RS256` (default) or `ES256`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub id_token_alg: Option<SigningAlg>,
}

/// Changes to a client; `None` keeps the current value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `required` or `optional`.
    #[schema(value_type = Option<String>)]
    pub pkce: Option<PkcePolicy>,
    pub scopes: Option<Vec<String>>,
    pub first_party: Option<bool>,
    /// `RS256` or `ES256`.
    #[schema(value_type = Option<String>)]
    pub id_token_alg: Option<SigningAlg>,
}

impl<'de> Deserialize<'de> for PkcePolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PkcePolicy::parse(&s).ok_or_else(|| serde::de::Error::custom("expected `required` or `optional`"))
    }
}

impl<'de> Deserialize<'de> for SigningAlg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SigningAlg::parse(&s).ok_or_else(|| serde::de::Error::custom("expected `RS256` or `ES256`"))
    }
}

/// Client management on top of the provider.
pub struct Clients<'a> {
    oidc: &'a Oidc,
}

impl<'a> Clients<'a> {
    pub fn new(oidc: &'a Oidc) -> Clients<'a> {
        Clients { oidc }
    }

    /// Registers a client; for a confidential client, also returns its
    /// secret, which is not stored and cannot be shown again.
    pub async fn create(
        &self,
        new: NewClient,
        actor: Option<&User>,
    ) -> Result<(OAuthClient, Option<String>), ClientError> {
        check_client_id(&new.client_id)?;
        let name = check_name(new.name.as_deref().unwrap_or(&new.client_id))?;
        let redirect_uris = self.check_uris(&new.redirect_uris, "redirect URI")?;
        if redirect_uris.is_empty() {
            return Err(ClientError::Invalid("at least one redirect URI is required".into()));
        }
        let logout_uris = self.check_uris(&new.post_logout_redirect_uris, "post-logout redirect URI")?;
        let scopes = check_scopes(new.scopes.as_deref())?;
        check_admin_scope(&scopes, new.first_party)?;
        let pkce = if new.public {
            if new.pkce == Some(PkcePolicy::Optional) {
                return Err(ClientError::Invalid("public clients must use PKCE (RFC 9700 §2.1.1)".into()));
            }
            PkcePolicy::Required
        } else {
            new.pkce.unwrap_or(PkcePolicy::Required)
        };
        let secret = if new.public { None } else { Some(random_token()?) };
        let hash = secret.as_deref().map(|s| self.oidc.hash(s));
        let fields = ClientFields {
            name: &name,
            redirect_uris: &redirect_uris,
            post_logout_redirect_uris: &logout_uris,
            allowed_scopes: &scopes,
            pkce,
            first_party: new.first_party,
            id_token_alg: new.id_token_alg.unwrap_or(SigningAlg::RS256),
        };
        let client = self
            .oidc
            .store
            .create_oauth_client(&new.client_id, &fields, hash.as_ref().map(|h| &h[..]), self.oidc.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => ClientError::Exists(new.client_id.clone()),
                other => other.into(),
            })?;
        let kind = if client.public { "public" } else { "confidential" };
        self.audit("oidc.client.create", actor, &client.client_id, kind).await;
        Ok((client, secret))
    }

    pub async fn list(&self) -> Result<Vec<OAuthClient>, ClientError> {
        Ok(self.oidc.store.oauth_clients().await?)
    }

    pub async fn get(&self, client_id: &str) -> Result<OAuthClient, ClientError> {
        self.oidc.store.oauth_client(client_id).await?.ok_or_else(|| ClientError::NotFound(client_id.to_string()))
    }

    pub async fn update(
        &self,
        client_id: &str,
        update: ClientUpdate,
        actor: Option<&User>,
    ) -> Result<OAuthClient, ClientError> {
        let current = self.get(client_id).await?;
        let name = check_name(update.name.as_deref().unwrap_or(&current.name))?;
        let redirect_uris = match &update.redirect_uris {
            Some(list) => self.check_uris(list, "redirect URI")?,
            None => current.redirect_uris.clone(),
        };
        if redirect_uris.is_empty() {
            return Err(ClientError::Invalid("at least one redirect URI is required".into()));
        }
        let logout_uris = match &update.post_logout_redirect_uris {
            Some(list) => self.check_uris(list, "post-logout redirect URI")?,
            None => current.post_logout_redirect_uris.clone(),
        };
        let scopes = match &update.scopes {
            Some(list) => check_scopes(Some(list))?,
            None => current.allowed_scopes.clone(),
        };
        let first_party = update.first_party.unwrap_or(current.first_party);
        check_admin_scope(&scopes, first_party)?;
        let pkce = update.pkce.unwrap_or(current.pkce);
        if current.public && pkce == PkcePolicy::Optional {
            return Err(ClientError::Invalid("public clients must use PKCE (RFC 9700 §2.1.1)".into()));
        }
        let fields = ClientFields {
            name: &name,
            redirect_uris: &redirect_uris,
            post_logout_redirect_uris: &logout_uris,
            allowed_scopes: &scopes,
            pkce,
            first_party,
            id_token_alg: update.id_token_alg.unwrap_or(current.id_token_alg),
        };
        let client =
            self.oidc.store.update_oauth_client(client_id, &fields, self.oidc.now()).await.map_err(|e| match e {
                StoreError::NotFound => ClientError::NotFound(client_id.to_string()),
                other => other.into(),
            })?;
        self.audit("oidc.client.update", actor, client_id, "").await;
        Ok(client)
    }

    /// A new secret for a confidential client; the old one stops working.
    pub async fn rotate_secret(&self, client_id: &str, actor: Option<&User>) -> Result<String, ClientError> {
        let client = self.get(client_id).await?;
        if client.public {
            return Err(ClientError::Invalid(format!("`{client_id}` is a public client and has no secret")));
        }
        let secret = random_token()?;
        self.oidc.store.set_oauth_client_secret(client_id, &self.oidc.hash(&secret), self.oidc.now()).await?;
        self.audit("oidc.client.rotate_secret", actor, client_id, "").await;
        Ok(secret)
    }

    /// Deletes a client and every grant and token it holds.
    pub async fn delete(&self, client_id: &str, actor: Option<&User>) -> Result<(), ClientError> {
        self.oidc.store.delete_oauth_client(client_id).await.map_err(|e| match e {
            StoreError::NotFound => ClientError::NotFound(client_id.to_string()),
            other => other.into(),
        })?;
        self.audit("oidc.client.delete", actor, client_id, "").await;
        Ok(())
    }

    async fn audit(&self, action: &str, actor: Option<&User>, client_id: &str, detail: &str) {
        let entry = Entry::new(action).target(format!("oauth client {client_id}")).detail(detail);
        let entry = match actor {
            Some(user) => entry.actor(user),
            None => entry.actor_name("command line"),
        };
        record_in(&self.oidc.store, self.oidc.now(), entry).await;
    }

    /// RFC 6749 §3.1.2: absolute, no fragment. Plain `http` only to a
    /// loopback host (RFC 8252 §7.3, RFC 9700 §2.6) — unless Madang itself is
    /// served over `http`, as in a test lab, where nothing would be gained.
    /// ASCII only (RFC 3986 §2.1: other characters percent-encoded, hosts in
    /// punycode): the URI goes out in a `Location` header, which cannot carry
    /// anything else, and is compared as sent, so it is not normalised here.
    fn check_uris(&self, uris: &[String], what: &str) -> Result<Vec<String>, ClientError> {
        let insecure_ok = self.oidc.config.issuer.starts_with("http://");
        let mut out = Vec::new();
        for raw in uris {
            let uri = raw.trim();
            let bad = |why: &str| ClientError::Invalid(format!("invalid {what} `{uri}`: {why}"));
            let parsed = url::Url::parse(uri).map_err(|_| bad("not an absolute URI"))?;
            if uri.contains('#') {
                return Err(bad("must not contain a fragment (RFC 6749 §3.1.2)"));
            }
            if uri.len() > 2000 || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("too long or contains spaces"));
            }
            if !uri.is_ascii() {
                return Err(bad("must be ASCII: percent-encode other characters and use the punycode host name"));
            }
            match parsed.scheme() {
                "https" => {}
                "http" if insecure_ok || is_loopback_host(&parsed) || parsed.host_str() == Some("localhost") => {}
                "http" => return Err(bad("plain http is allowed only for loopback addresses; use https")),
                // Private-use schemes of native apps (RFC 8252 §7.1); never
                // schemes a browser would run.
                "javascript" | "data" | "file" | "vbscript" | "blob" => return Err(bad("scheme not allowed")),
                _ => {}
            }
            if !out.iter().any(|o| o == uri) {
                out.push(uri.to_string());
            }
        }
        Ok(out)
    }
}

fn check_client_id(id: &str) -> Result<(), ClientError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if ok {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "invalid client_id `{id}`: use 1 to 128 letters, digits, `-`, `_`, `.` or `~`"
        )))
    }
}

fn check_name(name: &str) -> Result<String, ClientError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ClientError::Invalid("client name must be 1 to 100 characters without control characters".into()));
    }
    Ok(name.to_string())
}

/// The `admin` scope opens the admin API: only a client the administrators
/// run themselves (first-party) may be allowed it.
fn check_admin_scope(scopes: &[String], first_party: bool) -> Result<(), ClientError> {
    if !first_party && scopes.iter().any(|s| s == "admin") {
        return Err(ClientError::Invalid(
            "the `admin` scope is only for first-party clients (register with --first-party)".into(),
        ));
    }
    Ok(())
}

fn check_scopes(scopes: Option<&[String]>) -> Result<Vec<String>, ClientError> {
    let Some(scopes) = scopes else {
        return Ok(DEFAULT_CLIENT_SCOPES.iter().map(|s| s.to_string()).collect());
    };
    let mut out: Vec<String> = Vec::new();
    for s in scopes.iter().flat_map(|s| s.split([' ', ','])).filter(|s| !s.is_empty()) {
        if !SCOPES.contains(&s) {
            return Err(ClientError::Invalid(format!("unknown scope `{s}`; known: {}", SCOPES.join(" "))));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    if !out.iter().any(|s| s == "openid") {
        out.insert(0, "openid".into());
    }
    out.sort_by_key(|s| SCOPES.iter().position(|k| k == s));
    Ok(out)
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Whether `requested` may be used as `registered`: equal strings (RFC 9700
/// §2.1 exact matching), or — only for `http` redirect URIs on a loopback IP
/// literal — equal except for the port (RFC 8252 §7.3: native apps listen
/// on a port chosen at run time).
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(a), Ok(b)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    if a.scheme() != "http" || b.scheme() != "http" || !is_loopback_host(&a) || a.host() != b.host() {
        return false;
    }
    // Compare everything but the port, on the strings as sent: the parsed
    // form normalises (case, dot segments), which exact matching must not.
    let strip = |u: &url::Url, raw: &str| -> Option<String> {
        let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
        let host = match u.host()? {
            url::Host::Ipv6(ip) => format!("[{ip}]"),
            other => other.to_string(),
        };
        let prefix = format!("http://{host}{port}");
        raw.strip_prefix(&prefix).map(|rest| format!("http://{host}{rest}"))
    };
    match (strip(&a, registered), strip(&b, requested)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// The client's registered redirect URI that `requested` matches, if any. The loopback-port
/// exception is for native apps, which are public clients (RFC 8252 §7.3, §8.4); a confidential
/// client runs at a fixed address and gets exact matching, port included (RFC 9700 §2.1), so a
/// process on the user's machine cannot catch its codes on another port.
pub fn find_redirect_uri<'c>(client: &'c OAuthClient, requested: &str) -> Option<&'c str> {
    client
        .redirect_uris
        .iter()
        .map(String::as_str)
        .find(|r| if client.public { redirect_uri_matches(r, requested) } else { *r == requested })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_except_loopback_ports() {
        let m = redirect_uri_matches;
        assert!(m("https://app.example/cb", "https://app.example/cb"));
        assert!(!m("https://app.example/cb", "https://app.example/cb/"));
        assert!(!m("https://app.example/cb", "https://app.example/CB"));
        assert!(!m("https://app.example/cb", "https://app.example:8443/cb"));
        assert!(!m("https://app.example/cb", "https://app.example/cb?x=1"));
        assert!(m("http://127.0.0.1/cb", "http://127.0.0.1:53211/cb"));
        assert!(m("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb"));
        assert!(m("http://[::1]:1/cb", "http://[::1]:2/cb"));
        assert!(!m("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/other"));
        assert!(!m("http://127.0.0.1/cb", "http://127.0.0.2:9000/cb"));
        assert!(!m("http://localhost:8000/cb", "http://localhost:9000/cb"), "RFC 8252 §8.3: IP literals only");
        assert!(!m("https://127.0.0.1:8000/cb", "https://127.0.0.1:9000/cb"));
        assert!(!m("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb/../cb"));
    }

    /// See: issue 19 — a confidential client's loopback redirect URI accepted any port.
    #[test]
    fn loopback_port_varies_only_for_public_clients_issue19() {
        let now = chrono::Utc::now();
        let mut client = OAuthClient {
            id: 1,
            client_id: "c".into(),
            name: "c".into(),
            public: false,
            redirect_uris: vec!["http://127.0.0.1:8000/cb".into()],
            post_logout_redirect_uris: vec![],
            allowed_scopes: vec![],
            pkce: PkcePolicy::Required,
            first_party: false,
            id_token_alg: SigningAlg::RS256,
            created_at: now,
            updated_at: now,
            secret_hash: None,
        };
        assert_eq!(find_redirect_uri(&client, "http://127.0.0.1:8000/cb"), Some("http://127.0.0.1:8000/cb"));
        assert_eq!(find_redirect_uri(&client, "http://127.0.0.1:9000/cb"), None);
        client.public = true;
        assert_eq!(find_redirect_uri(&client, "http://127.0.0.1:9000/cb"), Some("http://127.0.0.1:8000/cb"));
    }

    #[test]
    fn scopes_are_checked_and_openid_added() {
        assert_eq!(check_scopes(Some(&["email groups".into()])).unwrap(), vec!["openid", "email", "groups"]);
        assert!(check_scopes(Some(&["root".into()])).is_err());
        let admin = check_scopes(Some(&["admin".into()])).unwrap();
        assert!(check_admin_scope(&admin, false).is_err(), "admin only for first-party clients");
        assert!(check_admin_scope(&admin, true).is_ok());
        assert_eq!(check_scopes(None).unwrap().len(), DEFAULT_CLIENT_SCOPES.len());
    }

    #[test]
    fn client_ids_are_restricted() {
        assert!(check_client_id("gitea").is_ok());
        assert!(check_client_id("my.app-1_x~").is_ok());
        assert!(check_client_id("").is_err());
        assert!(check_client_id("a b").is_err());
        assert!(check_client_id("a:b").is_err());
    }
}
