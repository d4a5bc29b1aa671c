//! Live properties: what each kind of DAV resource says about itself, and the PROPFIND answer built from them.

use madang_dav::multistatus::{PropValue, Response};
use madang_dav::names::{APPLE_ICAL, CALDAV, CALENDARSERVER, CARDDAV, DAV, QName};
use madang_dav::propfind::PropFind;

use super::path;
use crate::collections::access::Access;
pub use crate::collections::{parse_sync_token, sync_token};
use crate::domain::User;
use crate::store::dav::{Collection, CollectionKind, DeadProperty, Derived, ObjectMeta};

/// A resource that exists, with what its properties are computed from.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    Root,
    Principals,
    Principal(&'a User),
    /// Another user's principal: only what identifies them (attendee look-up).
    OtherPrincipal(&'a User),
    CalendarHome(&'a User),
    AddressbookHome(&'a User),
    Calendar(&'a Collection),
    Object(&'a Collection, &'a ObjectMeta),
}

/// Request-wide facts the properties need.
pub struct PropContext<'a> {
    pub me: &'a User,
    /// (used, available) bytes, computed only when a quota property was asked for.
    pub quota: Option<(u64, Option<u64>)>,
    /// Whether the company directory is on (`dav.directory`), for `CARDDAV:directory-gateway`.
    pub directory: bool,
    /// `dav.max_resource_size`, announced as CALDAV:max-resource-size.
    pub max_resource_size: usize,
    /// The calendar home's change tag, computed only when asked for.
    pub home_tag: Option<String>,
}

/// Properties a client sets and reads back (RFC 4791 §5.2, Apple's ical namespace).
pub const CALENDAR_DESCRIPTION: QName = QName::caldav("calendar-description");
pub const CALENDAR_TIMEZONE: QName = QName::caldav("calendar-timezone");
pub const SUPPORTED_COMPONENTS: QName = QName::caldav("supported-calendar-component-set");
pub const SCHEDULE_TRANSP: QName = QName::caldav("schedule-calendar-transp");
pub const DISPLAYNAME: QName = QName::dav("displayname");
pub const CALENDAR_COLOR: QName = QName::apple_ical("calendar-color");
pub const CALENDAR_ORDER: QName = QName::apple_ical("calendar-order");
pub const CALENDAR_DATA: QName = QName::caldav("calendar-data");
pub const ADDRESS_DATA: QName = QName::carddav("address-data");
pub const ADDRESSBOOK_DESCRIPTION: QName = QName::carddav("addressbook-description");
pub const GETETAG: QName = QName::dav("getetag");

/// Reports each kind of resource supports (RFC 3253 §3.1.5).
fn reports(resource: &Resource<'_>) -> Vec<QName> {
    match resource {
        Resource::Calendar(c) if c.kind == CollectionKind::AddressBook => vec![
            QName::carddav("addressbook-multiget"),
            QName::carddav("addressbook-query"),
            QName::dav("sync-collection"),
            QName::dav("expand-property"),
        ],
        Resource::Object(c, _) if c.kind == CollectionKind::AddressBook => {
            vec![QName::carddav("addressbook-multiget"), QName::dav("expand-property")]
        }
        Resource::AddressbookHome(_) => vec![QName::carddav("addressbook-multiget"), QName::dav("expand-property")],
        Resource::Calendar(_) => vec![
            QName::caldav("calendar-multiget"),
            QName::caldav("calendar-query"),
            QName::caldav("free-busy-query"),
            QName::dav("sync-collection"),
            QName::dav("expand-property"),
        ],
        Resource::Object(..) => vec![QName::caldav("calendar-multiget"), QName::dav("expand-property")],
        Resource::CalendarHome(_) => vec![QName::caldav("calendar-multiget"), QName::dav("expand-property")],
        _ => vec![
            QName::dav("expand-property"),
            QName::dav("principal-property-search"),
            QName::dav("principal-search-property-set"),
        ],
    }
}

/// RFC 3744 §5.3: the privileges Madang knows, as the aggregation tree.
const SUPPORTED_PRIVILEGES: &str = "<D:supported-privilege><D:privilege><D:all/></D:privilege><D:abstract/>\
<D:description xml:lang=\"en\">Any operation</D:description>\
<D:supported-privilege><D:privilege><D:read/></D:privilege><D:description xml:lang=\"en\">Read</D:description>\
<D:supported-privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege>\
<D:description xml:lang=\"en\">Read own privileges</D:description></D:supported-privilege></D:supported-privilege>\
<D:supported-privilege><D:privilege><D:write/></D:privilege><D:description xml:lang=\"en\">Write</D:description>\
<D:supported-privilege><D:privilege><D:write-properties/></D:privilege>\
<D:description xml:lang=\"en\">Write properties</D:description></D:supported-privilege>\
<D:supported-privilege><D:privilege><D:write-content/></D:privilege>\
<D:description xml:lang=\"en\">Write content</D:description></D:supported-privilege>\
<D:supported-privilege><D:privilege><D:bind/></D:privilege>\
<D:description xml:lang=\"en\">Add members</D:description></D:supported-privilege>\
<D:supported-privilege><D:privilege><D:unbind/></D:privilege>\
<D:description xml:lang=\"en\">Remove members</D:description></D:supported-privilege>\
</D:supported-privilege></D:supported-privilege>";

/// The user's access to a resource, from `collections::access` for
/// collections and their members: what `current-user-privilege-set`, `owner`
/// and `acl` say, and what the write handlers enforce, is one computation.
fn access(resource: &Resource<'_>, me: &User) -> Access {
    match resource {
        Resource::Principal(_) | Resource::CalendarHome(_) | Resource::AddressbookHome(_) => Access::Owner,
        Resource::Calendar(c) | Resource::Object(c, _) => Access::of(c, me.id).unwrap_or(Access::Read),
        Resource::Root | Resource::Principals | Resource::OtherPrincipal(_) => Access::Read,
    }
}

/// `DAV:owner` (RFC 3744 §5.1): the principal owning the resource; empty when
/// nobody does (the company directory belongs to the instance).
fn owner(resource: &Resource<'_>, me: &User) -> Option<PropValue> {
    match resource {
        Resource::Principal(u) | Resource::CalendarHome(u) | Resource::AddressbookHome(u) => {
            Some(PropValue::Href(path::principal_href(u.username.as_str())))
        }
        Resource::Calendar(c) | Resource::Object(c, _) => match c.owner {
            Some(id) if id == me.id => Some(PropValue::Href(path::principal_href(me.username.as_str()))),
            None => Some(PropValue::Empty),
            Some(_) => None,
        },
        Resource::Root | Resource::Principals | Resource::OtherPrincipal(_) => None,
    }
}

/// `DAV:acl` (RFC 3744 §5.5), protected: what each principal is granted.
/// Only the principals the user may know of are listed: themself, or every
/// authenticated user for the directory.
fn acl(resource: &Resource<'_>, me: &User) -> Option<PropValue> {
    let ace = |principal: String, privilege: &str| {
        PropValue::Xml(format!(
            "<D:ace><D:principal>{principal}</D:principal><D:grant><D:privilege><D:{privilege}/></D:privilege>\
             </D:grant><D:protected/></D:ace>"
        ))
    };
    let me_href = format!("<D:href>{}</D:href>", path::principal_href(me.username.as_str()));
    match (resource, access(resource, me)) {
        (Resource::Root | Resource::Principals | Resource::OtherPrincipal(_), _) => None,
        (Resource::Calendar(c) | Resource::Object(c, _), Access::Read) if c.owner.is_none() => {
            Some(ace("<D:authenticated/>".into(), "read"))
        }
        (_, Access::Read) => Some(ace(me_href, "read")),
        (_, Access::Owner) => Some(ace(me_href, "all")),
    }
}

/// The value of one live property, or `None` if the resource does not have it.
pub fn live(resource: &Resource<'_>, name: &QName, ctx: &PropContext<'_>) -> Option<PropValue> {
    let me = ctx.me.username.as_str();
    let text = |s: &str| Some(PropValue::Text(s.to_string()));
    // Properties every resource has.
    if name.ns == DAV {
        match name.local.as_ref() {
            "current-user-principal" => return Some(PropValue::Href(path::principal_href(me))),
            "principal-collection-set" => return Some(PropValue::Href(path::principals_href())),
            "supported-report-set" => return Some(PropValue::SupportedReports(reports(resource))),
            "current-user-privilege-set" => {
                let held = access(resource, ctx.me).privileges().iter().map(|p| QName::dav(p)).collect::<Vec<_>>();
                return Some(PropValue::Privileges(held));
            }
            "owner" => return owner(resource, ctx.me),
            // RFC 3744 §5.5, §5.3, §5.6: read-only ACLs (the ACL method is refused).
            "acl" => return acl(resource, ctx.me),
            "supported-privilege-set" => return Some(PropValue::Xml(SUPPORTED_PRIVILEGES.to_string())),
            "acl-restrictions" => return Some(PropValue::Xml("<D:grant-only/><D:no-invert/>".to_string())),
            _ => {}
        }
    }
    match resource {
        Resource::Root | Resource::Principals => match (name.ns.as_ref(), name.local.as_ref()) {
            (DAV, "resourcetype") => Some(PropValue::Children(vec![QName::dav("collection")])),
            _ => None,
        },
        // Draft-daboo-carddav-directory-gateway §3: where the directory is;
        // Apple's clients search it there (docs/clients.md).
        Resource::Principal(_) if name.ns == CARDDAV && name.local == "directory-gateway" => ctx
            .directory
            .then(|| PropValue::Hrefs(vec![path::addressbook_href(me, crate::collections::derived::DIRECTORY_SLUG)])),
        Resource::Principal(user) => principal(user, name),
        Resource::OtherPrincipal(user) => match (name.ns.as_ref(), name.local.as_ref()) {
            // The home's href is no secret (it follows from the name) and
            // directory clients insist on it; every request under it is 403.
            (DAV, "resourcetype" | "displayname" | "principal-URL")
            | (CALDAV, "calendar-user-address-set" | "calendar-user-type" | "calendar-home-set")
            | (CALENDARSERVER, "email-address-set") => principal(user, name),
            _ => None,
        },
        Resource::CalendarHome(user) | Resource::AddressbookHome(user) => match (name.ns.as_ref(), name.local.as_ref())
        {
            (DAV, "resourcetype") => Some(PropValue::Children(vec![QName::dav("collection")])),
            (DAV, "displayname") => text(&user.display_name),
            // Stalwart had to add this: iOS re-syncs an account only when
            // the home's ctag changes.
            (CALENDARSERVER, "getctag") if matches!(resource, Resource::CalendarHome(_)) => {
                ctx.home_tag.as_ref().map(|t| PropValue::Text(t.clone()))
            }
            (DAV, "quota-used-bytes") => ctx.quota.map(|(used, _)| PropValue::Text(used.to_string())),
            (DAV, "quota-available-bytes") => {
                ctx.quota.and_then(|(used, limit)| limit.map(|l| PropValue::Text(l.saturating_sub(used).to_string())))
            }
            _ => None,
        },
        Resource::Calendar(c) if c.kind == CollectionKind::AddressBook => addressbook(c, name, ctx),
        Resource::Calendar(c) => calendar(c, name, ctx),
        Resource::Object(c, o) => match (name.ns.as_ref(), name.local.as_ref()) {
            (DAV, "resourcetype") => Some(PropValue::Empty),
            (DAV, "getetag") => text(&o.etag),
            (DAV, "getcontenttype") if c.kind == CollectionKind::AddressBook => text("text/vcard; charset=utf-8"),
            (DAV, "getcontenttype") => text(&format!("text/calendar; charset=utf-8; component={}", o.component)),
            (DAV, "getcontentlength") => text(&o.size.to_string()),
            (DAV, "getlastmodified") => text(&http_date(o.modified_at)),
            _ => None,
        },
    }
}

fn principal(user: &User, name: &QName) -> Option<PropValue> {
    let username = user.username.as_str();
    let mailto = format!("mailto:{}", user.email.as_str());
    match (name.ns.as_ref(), name.local.as_ref()) {
        (DAV, "resourcetype") => Some(PropValue::Children(vec![QName::dav("principal")])),
        (DAV, "displayname") => Some(PropValue::Text(user.display_name.clone())),
        (DAV, "principal-URL") => Some(PropValue::Href(path::principal_href(username))),
        // RFC 3744 §4.4: no groups yet, so an empty set.
        (DAV, "group-membership") | (DAV, "group-member-set") => Some(PropValue::Hrefs(Vec::new())),
        (DAV, "alternate-URI-set") => Some(PropValue::Hrefs(Vec::new())),
        (CALDAV, "calendar-home-set") => Some(PropValue::Href(path::calendar_home_href(username))),
        (CALDAV, "calendar-user-address-set") => Some(PropValue::Hrefs(vec![mailto, path::principal_href(username)])),
        (CALDAV, "calendar-user-type") => Some(PropValue::Text("INDIVIDUAL".into())),
        (CARDDAV, "addressbook-home-set") => Some(PropValue::Href(path::addressbook_home_href(username))),
        (CALENDARSERVER, "email-address-set") => {
            Some(PropValue::Xml(format!("<CS:email-address>{}</CS:email-address>", xml_text(user.email.as_str()))))
        }
        // Delegation is not supported; iOS asks for these through
        // expand-property and is content with empty sets.
        (CALENDARSERVER, "calendar-proxy-read-for") | (CALENDARSERVER, "calendar-proxy-write-for") => {
            Some(PropValue::Hrefs(Vec::new()))
        }
        _ => None,
    }
}

fn calendar(c: &Collection, name: &QName, ctx: &PropContext<'_>) -> Option<PropValue> {
    let text = |s: &Option<String>| s.as_ref().map(|v| PropValue::Text(v.clone()));
    let token = sync_token(c);
    match (name.ns.as_ref(), name.local.as_ref()) {
        (DAV, "resourcetype") => Some(PropValue::Children(vec![QName::dav("collection"), QName::caldav("calendar")])),
        (DAV, "displayname") => text(&c.props.display_name),
        (DAV, "sync-token") => Some(PropValue::Text(token)),
        (CALENDARSERVER, "getctag") => Some(PropValue::Text(token)),
        (DAV, "quota-used-bytes") => ctx.quota.map(|(used, _)| PropValue::Text(used.to_string())),
        (DAV, "quota-available-bytes") => {
            ctx.quota.and_then(|(used, limit)| limit.map(|l| PropValue::Text(l.saturating_sub(used).to_string())))
        }
        (CALDAV, "calendar-description") => text(&c.props.description),
        (CALDAV, "calendar-timezone") => text(&c.props.timezone),
        (CALDAV, "supported-calendar-component-set") => Some(PropValue::Comps(c.props.components.clone())),
        (CALDAV, "supported-calendar-data") => {
            Some(PropValue::SupportedCalendarData(vec![("text/calendar".into(), "2.0".into())]))
        }
        (CALDAV, "max-resource-size") => Some(PropValue::Text(ctx.max_resource_size.to_string())),
        (CALDAV, "schedule-calendar-transp") => {
            Some(PropValue::Xml(if c.props.transparent { "<C:transparent/>" } else { "<C:opaque/>" }.to_string()))
        }
        (APPLE_ICAL, "calendar-color") => text(&c.props.color),
        (APPLE_ICAL, "calendar-order") => text(&c.props.sort_order),
        _ => None,
    }
}

/// Address-book properties (RFC 6352 §6.2).
fn addressbook(c: &Collection, name: &QName, ctx: &PropContext<'_>) -> Option<PropValue> {
    let text = |s: &Option<String>| s.as_ref().map(|v| PropValue::Text(v.clone()));
    let token = sync_token(c);
    match (name.ns.as_ref(), name.local.as_ref()) {
        (DAV, "resourcetype") => {
            let mut types = vec![QName::dav("collection"), QName::carddav("addressbook")];
            // The directory-gateway draft's marker of a directory address book.
            if c.derived == Some(Derived::Directory) {
                types.push(QName::carddav("directory"));
            }
            Some(PropValue::Children(types))
        }
        (DAV, "displayname") => text(&c.props.display_name),
        (DAV, "sync-token") => Some(PropValue::Text(token)),
        (CALENDARSERVER, "getctag") => Some(PropValue::Text(token)),
        (DAV, "quota-used-bytes") => ctx.quota.map(|(used, _)| PropValue::Text(used.to_string())),
        (DAV, "quota-available-bytes") => {
            ctx.quota.and_then(|(used, limit)| limit.map(|l| PropValue::Text(l.saturating_sub(used).to_string())))
        }
        (ns, "addressbook-description") if ns == CARDDAV => text(&c.props.description),
        // Both versions are offered: what a client stores is kept, and each
        // reader gets the version it asks for (RFC 6352 §6.2.2).
        (ns, "supported-address-data") if ns == CARDDAV => Some(PropValue::SupportedAddressData(vec![
            ("text/vcard".into(), "3.0".into()),
            ("text/vcard".into(), "4.0".into()),
        ])),
        (ns, "max-resource-size") if ns == CARDDAV => Some(PropValue::Text(ctx.max_resource_size.to_string())),
        _ => None,
    }
}

/// Properties `allprop` returns besides dead ones (RFC 4918 §9.1: the live
/// properties this spec defines; expensive or ACL ones only via `include`).
fn allprop_names(resource: &Resource<'_>) -> Vec<QName> {
    let mut names = vec![QName::dav("resourcetype"), DISPLAYNAME];
    match resource {
        Resource::Object(..) => names.extend([
            GETETAG,
            QName::dav("getcontenttype"),
            QName::dav("getcontentlength"),
            QName::dav("getlastmodified"),
        ]),
        Resource::Calendar(c) if c.kind == CollectionKind::AddressBook => names.extend([
            ADDRESSBOOK_DESCRIPTION,
            QName::carddav("supported-address-data"),
            QName::carddav("max-resource-size"),
            QName::dav("sync-token"),
            QName::calendarserver("getctag"),
        ]),
        Resource::Calendar(_) => names.extend([
            CALENDAR_DESCRIPTION,
            CALENDAR_TIMEZONE,
            SUPPORTED_COMPONENTS,
            QName::caldav("supported-calendar-data"),
            QName::caldav("max-resource-size"),
            QName::dav("sync-token"),
            QName::calendarserver("getctag"),
            CALENDAR_COLOR,
            CALENDAR_ORDER,
        ]),
        Resource::Principal(_) | Resource::OtherPrincipal(_) => names.extend([
            QName::dav("principal-URL"),
            QName::caldav("calendar-home-set"),
            QName::caldav("calendar-user-address-set"),
        ]),
        _ => {}
    }
    names
}

/// Every property name a resource has (for `propname`).
fn all_names(resource: &Resource<'_>) -> Vec<QName> {
    let mut names = allprop_names(resource);
    names.extend([
        QName::dav("current-user-principal"),
        QName::dav("current-user-privilege-set"),
        QName::dav("supported-report-set"),
        QName::dav("principal-collection-set"),
        QName::dav("supported-privilege-set"),
        QName::dav("acl-restrictions"),
    ]);
    match resource {
        Resource::Calendar(_) => names.extend([SCHEDULE_TRANSP, QName::dav("owner"), QName::dav("quota-used-bytes")]),
        Resource::Principal(_) => names.extend([
            QName::carddav("addressbook-home-set"),
            QName::carddav("directory-gateway"),
            QName::caldav("calendar-user-type"),
            QName::calendarserver("email-address-set"),
        ]),
        _ => {}
    }
    names
}

/// The PROPFIND (or report) answer for one resource.
pub fn respond(
    href: String,
    resource: &Resource<'_>,
    request: &PropFind,
    ctx: &PropContext<'_>,
    dead: &[DeadProperty],
    calendar_data: Option<&str>,
) -> Response {
    let dead_value = |name: &QName| {
        dead.iter()
            .find(|d| d.namespace == name.ns && d.local_name == name.local)
            .map(|d| PropValue::Raw(d.xml.clone()))
    };
    let value = |name: &QName| -> Option<PropValue> {
        if *name == CALENDAR_DATA || *name == ADDRESS_DATA {
            return calendar_data.map(|d| PropValue::Text(d.to_string()));
        }
        live(resource, name, ctx).or_else(|| dead_value(name))
    };
    match request {
        PropFind::Prop(names) => {
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for name in names {
                match value(name) {
                    Some(v) => found.push((name.clone(), v)),
                    None => missing.push(name.clone()),
                }
            }
            Response::found_and_missing(href, found, missing)
        }
        PropFind::AllProp { include } => {
            let mut found: Vec<(QName, PropValue)> = Vec::new();
            for name in allprop_names(resource).iter().chain(include) {
                if found.iter().any(|(n, _)| n == name) {
                    continue;
                }
                if let Some(v) = value(name) {
                    found.push((name.clone(), v));
                }
            }
            for d in dead {
                if !found.iter().any(|(n, _)| n.ns == d.namespace && n.local == d.local_name) {
                    found.push((QName::new(d.namespace.clone(), d.local_name.clone()), PropValue::Raw(d.xml.clone())));
                }
            }
            Response::found_and_missing(href, found, Vec::new())
        }
        PropFind::PropName => {
            let mut names: Vec<(QName, PropValue)> = Vec::new();
            for name in all_names(resource) {
                if live(resource, &name, ctx).is_some() && !names.iter().any(|(n, _)| *n == name) {
                    names.push((name, PropValue::Empty));
                }
            }
            for d in dead {
                names.push((QName::new(d.namespace.clone(), d.local_name.clone()), PropValue::Empty));
            }
            Response::found_and_missing(href, names, Vec::new())
        }
    }
}

/// Whether a request names any quota property, so the handler computes usage only then.
pub fn wants_quota(request: &PropFind) -> bool {
    request.names().iter().any(|n| n.ns == DAV && (n.local == "quota-used-bytes" || n.local == "quota-available-bytes"))
}

/// RFC 9110 §5.6.7 IMF-fixdate.
pub fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn xml_text(s: &str) -> String {
    madang_dav::xml::escape_text(s).into_owned()
}
