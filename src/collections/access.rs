//! Who may do what with a collection: the one place a user's access level to a calendar or address book is computed, for every door.
//!
//! RFC 3744 privileges are what clients read (`DAV:current-user-privilege-set`)
//! and what refusals name (`DAV:need-privileges`), so both come from here: the
//! DAV door renders `Access::privileges` and turns a missing `Privilege` into
//! the precondition, the JSON API refuses the same writes. Today a user reaches
//! their own collections (`Owner`), their derived birthday calendar and the
//! company directory and their external subscriptions (`Read`); a read-only share
//! is another `Read`, a read-write share a level between the two, added here.

use crate::domain::UserId;
use crate::store::dav::{Collection, Derived};

/// A user's access level to one collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every privilege: the owner of an ordinary collection.
    Owner,
    /// Read only: a derived collection (the directory, a birthday calendar).
    Read,
}

/// The RFC 3744 §3 privileges a request needs, in the granularity Madang checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    Read,
    /// Changing properties (PROPPATCH).
    WriteProperties,
    /// Replacing an existing member's body (PUT over it).
    WriteContent,
    /// Adding a member (PUT of a new one, COPY/MOVE into, MKCOL inside).
    Bind,
    /// Removing a member (DELETE, MOVE out of) or the collection from its home.
    Unbind,
}

impl Privilege {
    /// The element's local name in the `DAV:` namespace.
    pub fn name(self) -> &'static str {
        match self {
            Privilege::Read => "read",
            Privilege::WriteProperties => "write-properties",
            Privilege::WriteContent => "write-content",
            Privilege::Bind => "bind",
            Privilege::Unbind => "unbind",
        }
    }
}

impl Access {
    /// What `user` may do with `collection`; `None` when they may not reach it at all.
    pub fn of(collection: &Collection, user: UserId) -> Option<Access> {
        match collection.derived {
            // One directory for the instance: every signed-in user reads it.
            Some(Derived::Directory) => Some(Access::Read),
            Some(Derived::Birthdays | Derived::Subscription) => {
                (collection.owner == Some(user)).then_some(Access::Read)
            }
            None => (collection.owner == Some(user)).then_some(Access::Owner),
        }
    }

    pub fn grants(self, privilege: Privilege) -> bool {
        match self {
            Access::Owner => true,
            Access::Read => privilege == Privilege::Read,
        }
    }

    pub fn can_write(self) -> bool {
        self.grants(Privilege::WriteContent)
    }

    /// `DAV:current-user-privilege-set` (RFC 3744 §5.4): the privileges held,
    /// aggregates listed together with what they contain, as clients look for
    /// `write` or `write-content` to decide whether a collection is read-only.
    pub fn privileges(self) -> &'static [&'static str] {
        match self {
            Access::Owner => &[
                "read",
                "read-current-user-privilege-set",
                "all",
                "write",
                "write-properties",
                "write-content",
                "bind",
                "unbind",
            ],
            Access::Read => &["read", "read-current-user-privilege-set"],
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::store::dav::{CollectionId, CollectionKind, CollectionProps};

    fn collection(owner: Option<i64>, derived: Option<Derived>) -> Collection {
        Collection {
            id: CollectionId(1),
            owner: owner.map(UserId),
            derived,
            source_tag: None,
            kind: CollectionKind::Calendar,
            slug: "c".into(),
            props: CollectionProps::default(),
            revision: 0,
            pruned_revision: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn levels() {
        let me = UserId(7);
        assert_eq!(Access::of(&collection(Some(7), None), me), Some(Access::Owner));
        assert_eq!(Access::of(&collection(Some(8), None), me), None);
        assert_eq!(Access::of(&collection(None, Some(Derived::Directory)), me), Some(Access::Read));
        assert_eq!(Access::of(&collection(Some(7), Some(Derived::Birthdays)), me), Some(Access::Read));
        assert_eq!(Access::of(&collection(Some(8), Some(Derived::Birthdays)), me), None);
        assert_eq!(Access::of(&collection(Some(7), Some(Derived::Subscription)), me), Some(Access::Read));
        assert_eq!(Access::of(&collection(Some(8), Some(Derived::Subscription)), me), None);
    }

    #[test]
    fn read_grants_read_only() {
        for p in [Privilege::WriteProperties, Privilege::WriteContent, Privilege::Bind, Privilege::Unbind] {
            assert!(!Access::Read.grants(p), "{p:?}");
            assert!(Access::Owner.grants(p), "{p:?}");
        }
        assert!(Access::Read.grants(Privilege::Read));
        assert!(!Access::Read.privileges().iter().any(|p| p.starts_with("write") || *p == "bind" || *p == "all"));
    }
}
