//! Error types: what a client did wrong (RFC 4791 §5.3.2 preconditions) and when a query hits a limit.

use thiserror::Error;

/// Why an iCalendar object was refused on PUT. The two families map onto the two
/// preconditions of RFC 4791 §5.3.2 so `dav` can answer with the right `<C:…>` element.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ObjectError {
    /// `CALDAV:valid-calendar-data`: the body is not iCalendar at all (no parseable VCALENDAR).
    #[error("invalid calendar data: {0}")]
    InvalidData(String),
    /// `CALDAV:valid-calendar-object-resource`: iCalendar, but not a storable calendar object
    /// resource (RFC 4791 §4.1): no component, several UIDs, mixed component types, missing UID.
    #[error("invalid calendar object resource: {0}")]
    InvalidObject(String),
}

impl ObjectError {
    /// True for [`ObjectError::InvalidData`] (`valid-calendar-data`), false for `valid-calendar-object-resource`.
    pub fn is_invalid_data(&self) -> bool {
        matches!(self, ObjectError::InvalidData(_))
    }

    /// The CalDAV precondition element name this error maps to (RFC 4791 §5.3.2).
    pub fn precondition(&self) -> &'static str {
        match self {
            ObjectError::InvalidData(_) => "valid-calendar-data",
            ObjectError::InvalidObject(_) => "valid-calendar-object-resource",
        }
    }
}

/// A query could not be answered within the configured [`crate::Limits`]. This is
/// never a hang or a panic: the caller turns it into a DAV error (for `expand`, RFC 4791
/// §9.6.5 allows refusing) or a 507-style "too much" answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    /// More recurrence instances than `limit` would have to be considered.
    #[error("recurrence expansion exceeds the limit of {limit} instances")]
    TooManyInstances { limit: usize },
    /// An `expand` or `limit-*` request without a start or end (RFC 4791 §9.6.5 requires both).
    #[error("an expand request needs a time range with both start and end")]
    UnboundedRange,
}

/// Why a vCard was refused on PUT. RFC 6352 §6.3.2.1 has one precondition for a body that is
/// not a storable address object resource: `CARDDAV:valid-address-data`. (`no-uid-conflict`
/// needs the store and lives in `dav`.)
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CardError {
    /// Not a vCard, more than one VCARD in the body, or a card without UID (RFC 6352 §5.1).
    #[error("invalid address data: {0}")]
    InvalidData(String),
}

impl CardError {
    /// The CardDAV precondition element name this error maps to (RFC 6352 §6.3.2.1).
    pub fn precondition(&self) -> &'static str {
        match self {
            CardError::InvalidData(_) => "valid-address-data",
        }
    }
}
