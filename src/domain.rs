//! Domain types shared by the store, authentication, the CLI and the API.
//!
//! Values that have rules (user names, e-mail addresses) can only be built
//! through a validating constructor, so code that holds one never re-checks.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Why a value given by a person or a client was refused. The message is
/// shown as is, so it says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidInput;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse::<i64>().map($name).map_err(|_| {
                    InvalidInput(format!("`{s}` is not a valid id: expected a number"))
                })
            }
        }
    };
}

id_type!(
    /// Database identity of a user; never reused.
    UserId
);
id_type!(
    /// Database identity of an app password.
    AppPasswordId
);

/// A user name in canonical (lower-case) form: `[a-z0-9._-]`, 1–64 bytes.
///
/// Names are case-insensitive: `Alice` and `alice` are the same account, so
/// the canonical form is what is stored and what the unique index sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let name = raw.trim().to_lowercase();
        if name.is_empty() || name.len() > Self::MAX_LEN {
            return Err(InvalidInput(format!("invalid user name `{raw}`: must be 1 to {} characters", Self::MAX_LEN)));
        }
        if let Some(bad) =
            name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
        {
            return Err(InvalidInput(format!(
                "invalid user name `{raw}`: `{bad}` is not allowed; use letters a-z, digits, `.`, `_` and `-`"
            )));
        }
        // The name is a path segment of every DAV URL (`/dav/calendars/<name>/`); `.` and `..`
        // are dot-segments that URL normalisation removes (RFC 3986 §5.2.4), so such an account
        // would have unreachable calendars. Every other allowed character is unreserved.
        if name == "." || name == ".." {
            return Err(InvalidInput(format!(
                "invalid user name `{raw}`: `.` and `..` cannot be used, they are not names in a URL"
            )));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from the database, which only ever holds names
    /// that passed [`Username::parse`].
    pub(crate) fn from_trusted(name: String) -> Self {
        Self(name)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A group name in canonical form, with the same rules as user names: it
/// travels in the `groups` claim, where relying parties match it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        Username::parse(raw)
            .map(|n| Self(n.0))
            .map_err(|e| InvalidInput(e.0.replacen("invalid user name", "invalid group name", 1)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from the database.
    pub(crate) fn from_trusted(name: String) -> Self {
        Self(name)
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// An e-mail address, checked for shape only (one `@`, something on each
/// side, no spaces); whether it receives mail is not our business here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let email = raw.trim();
        let bad = || InvalidInput(format!("invalid e-mail address `{raw}`: expected name@domain"));
        // RFC 5321 §4.5.3.1.3 limits a path to 256 octets, so an address to 254.
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty() || domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') {
            return Err(bad());
        }
        Ok(Self(email.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_trusted(email: String) -> Self {
        Self(email)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A display name: free text, but bounded and without control characters,
/// because it ends up in HTTP headers, iCalendar lines and log lines.
pub fn parse_display_name(raw: &str) -> Result<String, InvalidInput> {
    let name = raw.trim();
    if name.chars().count() > 200 {
        return Err(InvalidInput("display name is longer than 200 characters".into()));
    }
    if name.chars().any(char::is_control) {
        return Err(InvalidInput("display name must not contain control characters".into()));
    }
    Ok(name.to_string())
}

/// What a user may do on the server as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

impl FromStr for Role {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            _ => Err(InvalidInput(format!("invalid role `{s}`: expected `admin` or `member`"))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where an account is in its life: only `Active` accounts can sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    /// Asked to join; waits for an administrator's approval.
    Pending,
    Active,
    Disabled,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Pending => "pending",
            UserState::Active => "active",
            UserState::Disabled => "disabled",
        }
    }
}

impl FromStr for UserState {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => Ok(UserState::Pending),
            "active" => Ok(UserState::Active),
            "disabled" => Ok(UserState::Disabled),
            _ => Err(InvalidInput(format!("invalid state `{s}`: expected `pending`, `active` or `disabled`"))),
        }
    }
}

impl fmt::Display for UserState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// An account as everyone but the authentication code sees it: no hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: Email,
    pub display_name: String,
    pub role: Role,
    pub state: UserState,
    /// True only once the user proved they receive mail at `email`: relying
    /// parties (Gitea) link accounts by a verified address.
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What is needed to create an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub display_name: String,
    pub role: Role,
    pub state: UserState,
    /// A PHC-format hash (argon2id, or bcrypt for imported accounts); `None`
    /// for accounts that cannot sign in with a password yet.
    pub password_hash: Option<String>,
}

/// A user's credentials as the authentication code needs them.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: Option<String>,
    /// Bumped whenever anything that can invalidate a cached sign-in changes:
    /// password, state, role, or an app password being revoked.
    pub credentials_version: i64,
}

/// A per-device password for native clients. The secret itself is never
/// stored; only its keyed hash is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppPassword {
    pub id: AppPasswordId,
    pub user_id: UserId,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A device label: what the user will recognise in the list later.
pub fn parse_app_password_label(raw: &str) -> Result<String, InvalidInput> {
    let label = raw.trim();
    if label.is_empty() || label.chars().count() > 100 {
        return Err(InvalidInput("app password label must be 1 to 100 characters, e.g. `iPhone`".into()));
    }
    if label.chars().any(char::is_control) {
        return Err(InvalidInput("app password label must not contain control characters".into()));
    }
    Ok(label.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_insensitive_and_restricted() {
        assert_eq!(Username::parse("Alice").unwrap().as_str(), "alice");
        assert_eq!(Username::parse(" bob.smith_1-x ").unwrap().as_str(), "bob.smith_1-x");
        assert!(Username::parse("").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        // See: issue 19 — `.` and `..` were accepted and had unusable DAV URLs.
        assert!(Username::parse(".").is_err());
        assert!(Username::parse(" .. ").is_err());
        assert!(Username::parse("...").is_ok());
        assert!(Username::parse(".alice").is_ok());
        for bad in ["a b", "a@b", "ü", "a/b", "a:b"] {
            assert!(Username::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn email_shape_is_checked() {
        assert!(Email::parse("a@example.com").is_ok());
        for bad in ["", "a", "@x", "a@", "a b@x", "a@.x"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn roles_and_states_round_trip() {
        for r in [Role::Admin, Role::Member] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        for s in [UserState::Pending, UserState::Active, UserState::Disabled] {
            assert_eq!(s.as_str().parse::<UserState>().unwrap(), s);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
