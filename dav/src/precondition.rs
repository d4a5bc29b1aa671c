//! Every DAV precondition Madang reports, rendered in one place as `<D:error>`.
//!
//! Status codes follow RFC 3253 §1.6, which RFC 4791 §1.3 and RFC 6352 adopt:
//! 403 (Forbidden) when repeating the request can never succeed, 409
//! (Conflict) when the client can fix the situation and retry. 412 is never
//! used here: it belongs to `If`/`If-Match`/`If-None-Match` alone.

use crate::names::{CALDAV, CARDDAV, MADANG, QName};
use crate::xml::{escape_attr, escape_text};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    // ----- WebDAV, RFC 4918 §16 -----
    /// PROPFIND with `Depth: infinity`, which Madang refuses (§9.1).
    PropfindFiniteDepth,
    /// PROPPATCH on a live, server-computed property (§9.2); reported inside
    /// the 403 propstat rather than on its own.
    CannotModifyProtectedProperty,
    /// A lock applies and its token was not submitted; carries the locked
    /// resources' hrefs (§16: 423 Locked).
    LockTokenSubmitted(Vec<String>),
    /// The body used a DOCTYPE or external entity (§16, §20.6).
    NoExternalEntities,
    /// COPY/MOVE could not keep a live property's behaviour (§16: 409).
    PreservedLiveProperties,
    /// MKCOL/MKCALENDAR on a mapped URL (RFC 4791 §5.3.1.1, RFC 5689 §3).
    /// Plain MKCOL answers 405 without a body instead (RFC 4918 §9.3.1).
    ResourceMustBeNull,
    /// Extended MKCOL asked for a resourcetype Madang cannot create (RFC 5689 §3).
    ValidResourcetype,

    // ----- Versioning and ACL -----
    /// A REPORT the resource does not support (RFC 3253 §3.6).
    SupportedReport,
    /// Privileges missing, as (resource href, privilege) pairs (RFC 3744 §7.1.1).
    NeedPrivileges(Vec<(String, QName)>),

    // ----- Collection synchronization, RFC 6578 -----
    /// The sync-token is unknown or too old; the client falls back to a full
    /// sync with an empty token (§3.2). 403: the same token never becomes valid.
    ValidSyncToken,
    /// More results than the server (or the client's `DAV:limit`) allows
    /// (§3.6, §6.1: 507 Insufficient Storage).
    NumberOfMatchesWithinLimits,

    // ----- Quota, RFC 4331 §6 -----
    /// The write would take the user over their quota (507).
    QuotaNotExceeded,

    // ----- CalDAV, RFC 4791 -----
    /// The body is not `text/calendar` (§5.3.2.1).
    SupportedCalendarData,
    /// The body is not valid iCalendar (§5.3.2.1); also a `calendar-timezone`
    /// that is not a VCALENDAR with one VTIMEZONE (§5.2.2).
    ValidCalendarData(String),
    /// The object breaks §4.1's rules (one UID, one component type, …).
    ValidCalendarObjectResource(String),
    /// The collection does not accept this component type (§5.3.2.1, §5.3.1.1).
    SupportedCalendarComponent,
    /// Another object in the collection already has this UID; carries that
    /// object's href. 409: the client can update the existing one instead.
    NoUidConflict(String),
    /// Larger than `max-resource-size` (§5.2.5). 403 rather than 413, as
    /// RFC 4791 §1.3 asks for a precondition element in a 403/409.
    MaxResourceSize,
    MinDateTime,
    MaxDateTime,
    MaxInstances,
    MaxAttendeesPerInstance,
    /// MKCALENDAR or MOVE/COPY of a calendar where one cannot be (§5.3.1.1).
    CalendarCollectionLocationOk,
    /// A calendar-query filter that breaks §9.7 (§7.8).
    ValidFilter,
    /// A filter naming components, properties or parameters Madang cannot filter on.
    SupportedFilter,
    /// A `text-match` collation outside §7.5.1's set.
    SupportedCollation,
    /// An unknown `CALDAV:timezone-id` (RFC 7809 §5.2).
    ValidTimezone,

    // ----- CardDAV, RFC 6352 -----
    /// PUT/COPY/MOVE of something that is not `text/vcard` (§6.3.2.1), or an
    /// `address-data` element asking for a media type or vCard version Madang
    /// does not serve (§8.6, §8.7).
    SupportedAddressData,
    /// The body is not a valid vCard (§6.3.2.1).
    ValidAddressData(String),
    /// Another vCard in the address book already has this UID; carries that
    /// card's href (§6.3.2.1). 409, as for CalDAV.
    AddressNoUidConflict(String),
    /// Larger than the address book's `max-resource-size` (§6.3.2.1).
    AddressMaxResourceSize,
    /// MKCOL or MOVE/COPY of an address book where one cannot be (§6.3.2.1).
    AddressbookCollectionLocationOk,
    /// The card cannot be converted to the media type or vCard version the
    /// client asked for with `Accept` or `address-data` (§5.1.1.1). Used for
    /// the whole response, or inside the `DAV:response` of one card in a report.
    SupportedAddressDataConversion,
    /// An addressbook-query filter naming a property, parameter or match type
    /// Madang cannot filter on (§8.6, §10.5.4).
    AddressSupportedFilter,
    /// A CardDAV `text-match` collation outside the supported set (§8.3, §8.6).
    AddressSupportedCollation,
}

impl Precondition {
    /// The HTTP status that carries this precondition.
    pub fn status(&self) -> u16 {
        match self {
            Precondition::LockTokenSubmitted(_) => 423,
            Precondition::NumberOfMatchesWithinLimits | Precondition::QuotaNotExceeded => 507,
            Precondition::PreservedLiveProperties
            | Precondition::NoUidConflict(_)
            | Precondition::AddressNoUidConflict(_) => 409,
            _ => 403,
        }
    }

    /// The condition element's name.
    pub fn name(&self) -> QName {
        use Precondition::*;
        match self {
            PropfindFiniteDepth => QName::dav("propfind-finite-depth"),
            CannotModifyProtectedProperty => QName::dav("cannot-modify-protected-property"),
            LockTokenSubmitted(_) => QName::dav("lock-token-submitted"),
            NoExternalEntities => QName::dav("no-external-entities"),
            PreservedLiveProperties => QName::dav("preserved-live-properties"),
            ResourceMustBeNull => QName::dav("resource-must-be-null"),
            ValidResourcetype => QName::dav("valid-resourcetype"),
            SupportedReport => QName::dav("supported-report"),
            NeedPrivileges(_) => QName::dav("need-privileges"),
            ValidSyncToken => QName::dav("valid-sync-token"),
            NumberOfMatchesWithinLimits => QName::dav("number-of-matches-within-limits"),
            QuotaNotExceeded => QName::dav("quota-not-exceeded"),
            SupportedCalendarData => QName::caldav("supported-calendar-data"),
            ValidCalendarData(_) => QName::caldav("valid-calendar-data"),
            ValidCalendarObjectResource(_) => QName::caldav("valid-calendar-object-resource"),
            SupportedCalendarComponent => QName::caldav("supported-calendar-component"),
            NoUidConflict(_) => QName::caldav("no-uid-conflict"),
            MaxResourceSize => QName::caldav("max-resource-size"),
            MinDateTime => QName::caldav("min-date-time"),
            MaxDateTime => QName::caldav("max-date-time"),
            MaxInstances => QName::caldav("max-instances"),
            MaxAttendeesPerInstance => QName::caldav("max-attendees-per-instance"),
            CalendarCollectionLocationOk => QName::caldav("calendar-collection-location-ok"),
            ValidFilter => QName::caldav("valid-filter"),
            SupportedFilter => QName::caldav("supported-filter"),
            SupportedCollation => QName::caldav("supported-collation"),
            ValidTimezone => QName::caldav("valid-timezone"),
            SupportedAddressData => QName::carddav("supported-address-data"),
            ValidAddressData(_) => QName::carddav("valid-address-data"),
            AddressNoUidConflict(_) => QName::carddav("no-uid-conflict"),
            AddressMaxResourceSize => QName::carddav("max-resource-size"),
            AddressbookCollectionLocationOk => QName::carddav("addressbook-collection-location-ok"),
            SupportedAddressDataConversion => QName::carddav("supported-address-data-conversion"),
            AddressSupportedFilter => QName::carddav("supported-filter"),
            AddressSupportedCollation => QName::carddav("supported-collation"),
        }
    }

    /// The human-readable reason, for the variants that carry one.
    pub fn description(&self) -> Option<&str> {
        match self {
            Precondition::ValidCalendarData(d)
            | Precondition::ValidCalendarObjectResource(d)
            | Precondition::ValidAddressData(d) => Some(d),
            _ => None,
        }
    }

    /// A complete `application/xml` error body (RFC 4918 §8.7, §14.5).
    ///
    /// The description goes in a Madang-namespace `message` element next to
    /// the condition, as sabre/dav does with `s:message`: clients skip
    /// elements they do not know, and a description in a `DAV:` element would
    /// read as another condition.
    pub fn to_xml(&self) -> String {
        let mut out = String::from(concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            "\n",
            r#"<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav">"#
        ));
        self.write_condition(&mut out);
        out.push_str("</D:error>\n");
        out
    }

    /// Writes the condition element (and message) for use inside a `D:error`
    /// whose document declares the `D`, `C` and `CR` prefixes.
    pub(crate) fn write_condition(&self, out: &mut String) {
        let name = self.name();
        let prefix = match name.ns.as_ref() {
            CALDAV => "C",
            CARDDAV => "CR",
            _ => "D",
        };
        let tag = format!("{prefix}:{}", name.local);
        let hrefs: Vec<&str> = match self {
            Precondition::NoUidConflict(h) | Precondition::AddressNoUidConflict(h) => vec![h],
            Precondition::LockTokenSubmitted(hs) => hs.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        if let Precondition::NeedPrivileges(pairs) = self {
            // RFC 3744 §7.1.1: <!ELEMENT need-privileges (resource)*>, <!ELEMENT resource (href, privilege)>
            out.push_str("<D:need-privileges>");
            for (href, privilege) in pairs {
                out.push_str("<D:resource><D:href>");
                out.push_str(&escape_text(href));
                out.push_str("</D:href><D:privilege>");
                crate::multistatus::write_empty_element(out, privilege);
                out.push_str("</D:privilege></D:resource>");
            }
            out.push_str("</D:need-privileges>");
        } else if hrefs.is_empty() {
            out.push('<');
            out.push_str(&tag);
            out.push_str("/>");
        } else {
            out.push('<');
            out.push_str(&tag);
            out.push('>');
            for h in hrefs {
                out.push_str("<D:href>");
                out.push_str(&escape_text(h));
                out.push_str("</D:href>");
            }
            out.push_str("</");
            out.push_str(&tag);
            out.push('>');
        }
        if let Some(d) = self.description() {
            out.push_str(&format!(r#"<M:message xmlns:M="{}">{}</M:message>"#, escape_attr(MADANG), escape_text(d)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::golden;

    #[test]
    fn statuses_follow_rfc3253_section_1_6() {
        assert_eq!(Precondition::NoUidConflict("/a".into()).status(), 409);
        assert_eq!(Precondition::ValidCalendarData("x".into()).status(), 403);
        assert_eq!(Precondition::SupportedCalendarComponent.status(), 403);
        assert_eq!(Precondition::ValidSyncToken.status(), 403);
        assert_eq!(Precondition::NumberOfMatchesWithinLimits.status(), 507);
        assert_eq!(Precondition::LockTokenSubmitted(vec![]).status(), 423);
        assert_eq!(Precondition::PropfindFiniteDepth.status(), 403);
    }

    #[test]
    fn carddav_conditions_are_in_the_carddav_namespace() {
        use crate::names::CARDDAV;
        let cases = [
            (Precondition::SupportedAddressData, "supported-address-data", 403),
            (Precondition::ValidAddressData("x".into()), "valid-address-data", 403),
            (Precondition::AddressNoUidConflict("/a.vcf".into()), "no-uid-conflict", 409),
            (Precondition::AddressMaxResourceSize, "max-resource-size", 403),
            (Precondition::AddressbookCollectionLocationOk, "addressbook-collection-location-ok", 403),
            (Precondition::SupportedAddressDataConversion, "supported-address-data-conversion", 403),
            (Precondition::AddressSupportedFilter, "supported-filter", 403),
            (Precondition::AddressSupportedCollation, "supported-collation", 403),
        ];
        for (p, local, status) in cases {
            assert_eq!(p.name(), QName::new(CARDDAV, local), "{p:?}");
            assert_eq!(p.status(), status, "{p:?}");
        }
        assert_eq!(Precondition::ValidAddressData("line 2: no FN".into()).description(), Some("line 2: no FN"));
        assert_eq!(Precondition::SupportedCollation.name(), QName::caldav("supported-collation"));
        assert_eq!(Precondition::SupportedFilter.name(), QName::caldav("supported-filter"));
    }

    #[test]
    fn error_bodies() {
        let mut all = String::new();
        for p in [
            Precondition::NoUidConflict("/dav/calendars/alice/work/a&b.ics".into()),
            Precondition::ValidCalendarData("line 3: expected BEGIN:VCALENDAR <here>".into()),
            Precondition::SupportedReport,
            Precondition::AddressNoUidConflict("/dav/addressbooks/alice/contacts/x.vcf".into()),
            Precondition::NeedPrivileges(vec![("/dav/calendars/bob/".into(), QName::dav("write"))]),
            Precondition::ValidSyncToken,
        ] {
            all.push_str(&p.to_xml());
            crate::xml::parse_document(p.to_xml().as_bytes()).unwrap();
        }
        golden("precondition-errors.xml", &all);
    }

    #[test]
    fn carddav_error_bodies() {
        let mut all = String::new();
        for p in [
            Precondition::ValidAddressData("line 2: vCard without FN".into()),
            Precondition::AddressNoUidConflict("/dav/addressbooks/alice/contacts/a%20b.vcf".into()),
            Precondition::SupportedAddressDataConversion,
            Precondition::AddressSupportedFilter,
            Precondition::AddressSupportedCollation,
        ] {
            all.push_str(&p.to_xml());
            crate::xml::parse_document(p.to_xml().as_bytes()).unwrap();
        }
        golden("precondition-errors-carddav.xml", &all);
    }
}
