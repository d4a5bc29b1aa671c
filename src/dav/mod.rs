//! CalDAV and CardDAV over HTTP: the glue between `madang-dav` (parse and write) and the store (apply).
//!
//! Every request follows the same three steps: parse the body and headers
//! into `madang_dav` types, apply them to the store in this module's method
//! files (one per DAV method), write the result with `madang_dav`'s
//! multistatus writer or precondition errors. WebDAV's extension methods
//! (PROPFIND, REPORT, MKCALENDAR, …) are not routable by axum's method
//! router, so one handler takes every method on the DAV paths and dispatches
//! on the method name.
//!
//! Isolation: a user reaches only paths under their own name. Another user's
//! principal answers a PROPFIND with its public properties (clients look up
//! attendees), and everything else of theirs answers 403 without looking
//! anything up, so the answer does not reveal what exists.

mod card;
mod copymove;
mod error;
mod export;
mod mkcol;
mod object;
pub mod path;
mod propfind;
mod proppatch;
pub mod props;
mod report;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chrono::{DateTime, Utc};
use madang_ical::{EvalContext, Limits};

use crate::app::state::AppState;
use crate::collections::access::{Access, Privilege};
use crate::config::DavConfig;
use crate::domain::User;
use crate::http::auth::{AuthRejection, Authenticated};
use crate::store::dav::{Collection, CollectionKind, PropertyLimits};
pub use card::VCARD;
pub use error::{DavError, DavResult};
pub use object::etag_of;
use path::Target;

/// Forgets deletions older than `retention`, hourly, so the change log does
/// not grow without bound; clients holding older tokens resync fully.
pub fn spawn_tombstone_pruning(
    store: crate::store::Store,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    retention: std::time::Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let Ok(retention) = chrono::Duration::from_std(retention) else { return };
            match store.prune_tombstones(clock.now() - retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tombstones = n, "pruned old deletions from the DAV change log"),
                Err(e) => tracing::warn!(error = %e, "could not prune the DAV change log"),
            }
        }
    });
}

/// `DAV` header (RFC 4918 §10.1, RFC 4791 §5.1, RFC 3744 §7.2, RFC 5689 §3.1).
/// Class 2 (locking) is not claimed: Madang does not lock. `addressbook` is
/// RFC 6352 §6.1.
pub const DAV_HEADER: &str = "1, 3, access-control, calendar-access, addressbook, extended-mkcol";
pub const ALLOW: &str = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, COPY, MOVE, REPORT";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/caldav", any(well_known))
        .route("/.well-known/carddav", any(well_known))
        // Some clients (and caldav-server-tester) probe the directory form.
        .route("/.well-known/caldav/", any(well_known))
        .route("/.well-known/carddav/", any(well_known))
        .route("/", any(handle))
        .route("/dav", any(handle))
        .route("/dav/", any(handle))
        .route("/dav/{*rest}", any(handle))
}

/// RFC 6764 §5: the well-known URIs redirect to the context path, where
/// PROPFIND finds `current-user-principal`.
async fn well_known() -> Response {
    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, HeaderValue::from_static(path::ROOT))]).into_response()
}

/// One request's view: who asks, when, and the services.
pub struct Ctx {
    pub state: AppState,
    pub user: User,
    pub now: DateTime<Utc>,
}

impl Ctx {
    pub fn me(&self) -> &str {
        self.user.username.as_str()
    }

    pub fn config(&self) -> &DavConfig {
        &self.state.collections.config
    }

    pub fn property_limits(&self) -> PropertyLimits {
        self.state.collections.property_limits()
    }

    pub fn limits(&self) -> Limits {
        self.config().limits()
    }

    /// Evaluation context for a calendar: floating times in its time zone
    /// (RFC 4791 §7.3), or in the request's when it names one.
    pub fn eval_context(&self, calendar: &Collection, request_tz: Option<chrono_tz::Tz>) -> EvalContext {
        let floating_tz = request_tz
            .or_else(|| calendar.props.timezone.as_deref().and_then(|t| madang_ical::timezone_from_vcalendar(t).ok()))
            .unwrap_or(chrono_tz::UTC);
        EvalContext { floating_tz, limits: self.limits() }
    }

    /// The user's calendar named `slug`, or 404.
    pub async fn calendar(&self, slug: &str) -> DavResult<Collection> {
        self.collection(CollectionKind::Calendar, slug).await
    }

    /// The collection of `kind` the user reaches at `slug` (their own, or a derived one), or 404.
    pub async fn collection(&self, kind: CollectionKind, slug: &str) -> DavResult<Collection> {
        Ok(self.reach(kind, slug).await?.ok_or_else(DavError::not_found)?.0)
    }

    /// The collection of `kind` the user reaches at `slug`, with their access to it.
    pub async fn reach(&self, kind: CollectionKind, slug: &str) -> DavResult<Option<(Collection, Access)>> {
        Ok(self.state.collections.reach(&self.state.store, self.user.id, kind, slug, self.now).await?)
    }

    /// The collection, when the user holds `privilege` on it; else 403 with
    /// `DAV:need-privileges` naming it (RFC 3744 §7.1.1). Every DAV write goes
    /// through here or `for_put`, so what `current-user-privilege-set`
    /// advertises and what is refused come from the same `Access`.
    pub async fn writable(&self, kind: CollectionKind, slug: &str, privilege: Privilege) -> DavResult<Collection> {
        let (collection, access) = self.reach(kind, slug).await?.ok_or_else(DavError::not_found)?;
        if !access.grants(privilege) {
            return Err(DavError::need_privileges(path::collection_href(kind, self.me(), &collection.slug), privilege));
        }
        Ok(collection)
    }

    /// The collection a PUT of member `name` writes into: creating a member
    /// needs `bind` on the collection, replacing one `write-content` on the
    /// member (RFC 3744 Appendix B), and the refusal names whichever applies.
    pub async fn for_put(&self, kind: CollectionKind, slug: &str, name: &str) -> DavResult<Collection> {
        let (collection, access) = self.reach(kind, slug).await?.ok_or_else(DavError::not_found)?;
        if access.can_write() {
            return Ok(collection);
        }
        let exists = !self.state.store.object_metas_named(collection.id, &[name.to_string()]).await?.is_empty();
        Err(if exists {
            DavError::need_privileges(
                path::member_href(kind, self.me(), &collection.slug, name),
                Privilege::WriteContent,
            )
        } else {
            DavError::need_privileges(path::collection_href(kind, self.me(), &collection.slug), Privilege::Bind)
        })
    }

    /// Creates the user's default collections on their first DAV request.
    async fn provision(&self) -> DavResult<()> {
        Ok(self.state.collections.provision(&self.state.store, self.user.id, self.now).await?)
    }
}

async fn handle(
    State(state): State<AppState>,
    auth: Result<Authenticated, AuthRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(target) = Target::parse(uri.path()) else {
        // Below a calendar object, or deeper than calendars nest: no
        // collection can ever be made there (RFC 4791 §5.3.1.1).
        if matches!(method.as_str(), "MKCALENDAR" | "MKCOL") && uri.path().starts_with("/dav/calendars/") {
            return DavError::Precondition(madang_dav::precondition::Precondition::CalendarCollectionLocationOk)
                .into_response();
        }
        return DavError::not_found().into_response();
    };
    // OPTIONS needs no credentials: clients probe capabilities first.
    // GNOME Online Accounts wants 200 here, not 204.
    if method == Method::OPTIONS {
        return options();
    }
    // `/` is the DAV root only for DAV methods: `GET /` and `HEAD /` are routed to the web
    // client's shell (`crate::client`) before they reach this handler.
    let principal = match auth {
        Ok(Authenticated(p)) => p,
        Err(rejection) => return rejection.into_response(),
    };
    let ctx = Ctx { now: state.clock.now(), state, user: principal.user };
    match dispatch(&ctx, &method, &target, &headers, &body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    ctx: &Ctx,
    method: &Method,
    target: &Target,
    headers: &HeaderMap,
    body: &Bytes,
) -> DavResult<Response> {
    if let Some(owner) = target.owner() {
        if !owner.eq_ignore_ascii_case(ctx.me()) {
            let public = matches!(target, Target::Principal(_)) && matches!(method.as_str(), "PROPFIND");
            if !public {
                return Err(DavError::forbidden("this resource belongs to another user"));
            }
        } else {
            ctx.provision().await?;
            // The home's getctag and listing must already count today's contacts.
            if matches!(target, Target::CalendarHome(_)) {
                ctx.state.collections.refresh_birthdays(&ctx.state.store, ctx.user.id, ctx.now).await?;
            }
        }
    }
    // Every method but GET is boxed: the arms' futures differ in size by
    // kilobytes, and unboxed this future is the size of the largest,
    // copied on every poll-path move of every request (measured: two
    // 15 KB memcpys per GET).
    match method.as_str() {
        "GET" => object::get(ctx, target, headers, false).await,
        "HEAD" => object::get(ctx, target, headers, true).await,
        "PROPFIND" => Box::pin(propfind::propfind(ctx, target, headers, body)).await,
        "PROPPATCH" => Box::pin(proppatch::proppatch(ctx, target, body)).await,
        "MKCALENDAR" => Box::pin(mkcol::mkcalendar(ctx, target, body)).await,
        "MKCOL" => Box::pin(mkcol::mkcol(ctx, target, body)).await,
        "PUT" => Box::pin(object::put(ctx, target, headers, body)).await,
        "DELETE" => Box::pin(object::delete(ctx, target, headers)).await,
        "COPY" => Box::pin(copymove::copy_or_move(ctx, target, headers, false)).await,
        "MOVE" => Box::pin(copymove::copy_or_move(ctx, target, headers, true)).await,
        "REPORT" => Box::pin(report::report(ctx, target, headers, body)).await,
        "LOCK" | "UNLOCK" => Err(DavError::method_not_allowed("locking is not supported")),
        // RFC 3744 §8.1: ACLs are read-only until sharing arrives.
        "ACL" => Err(DavError::forbidden("access control lists cannot be changed; only the owner has access")),
        _ => Err(DavError::method_not_allowed("method not supported here")),
    }
}

fn options() -> Response {
    (
        StatusCode::OK,
        [
            (header::HeaderName::from_static("dav"), HeaderValue::from_static(DAV_HEADER)),
            (header::ALLOW, HeaderValue::from_static(ALLOW)),
            (header::CONTENT_LENGTH, HeaderValue::from_static("0")),
        ],
    )
        .into_response()
}

/// Bodies up to this size are parsed where the request runs: a linear parse
/// of 16 KiB takes a millisecond or two at worst, and every real client's
/// PROPFIND and REPORT fits, so the common case does not pay for a hand-off
/// to another thread.
const INLINE_PARSE_MAX: usize = 16 * 1024;

/// Parses a request body, on the blocking pool when it is large. Parsing is
/// linear, but the largest bodies the limits admit still take a few hundred
/// milliseconds of CPU; done on the async workers (as many as there are
/// cores), two such bodies at once would stall every other request,
/// `/healthz` included (issue 19). On the blocking pool the workers stay
/// free. When `server.request_timeout` answers 408 first, the parse cannot be
/// interrupted, but it is bounded by the body and its result is dropped.
pub async fn parse_body<T, E, F>(body: &Bytes, parse: F) -> DavResult<T>
where
    F: FnOnce(&[u8]) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    DavError: From<E>,
{
    if body.len() <= INLINE_PARSE_MAX {
        return Ok(parse(body)?);
    }
    let body = body.clone();
    match tokio::task::spawn_blocking(move || parse(&body)).await {
        Ok(parsed) => Ok(parsed?),
        // A panic is re-raised here, where the request's panic handler answers 500.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(DavError::status(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down")),
    }
}

/// Lets other requests run between the items of a long answer. Building a
/// 207 is CPU work between awaits (parsing, expanding, writing each object),
/// and without a yield a REPORT over thousands of objects would hold its
/// worker until done (issue 19). Tokio's cooperative budget yields once per
/// 128 calls, so a short answer pays nothing.
pub async fn take_turn() {
    tokio::task::consume_budget().await;
}

/// A 207 with the standard content type.
pub fn multistatus(body: String) -> Response {
    error::xml_response(StatusCode::MULTI_STATUS, body)
}

/// Reads an optional header as text; a non-ASCII value is a 400.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> DavResult<Option<&'a str>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| DavError::status(StatusCode::BAD_REQUEST, format!("header {name} is not ASCII"))),
    }
}
