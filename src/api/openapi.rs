//! The OpenAPI 3.1 description of `/api/v1`, derived from the handlers' `#[utoipa::path]` annotations.
//!
//! Error responses every authenticated route can give (401, 429, 503; 400 with a path
//! parameter, 413 and 415 with a JSON body) are added here once, by [`CommonResponses`],
//! rather than repeated on each handler; route-specific ones (404, 409, 412, 422, …) sit on
//! the handler they belong to.

use axum::Json;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Spec, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{calendars, chat, contact_model, contacts, event_model, events, series};
use crate::http::admin;
use crate::http::api as account;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Madang JSON API",
        description = "Calendars, contacts and account settings of the signed-in user. Every change made here \
                       is visible to CalDAV/CardDAV clients at their next sync.",
        version = "1",
    ),
    paths(
        spec,
        super::push::stream,
        account::me,
        account::list_app_passwords,
        account::create_app_password,
        account::revoke_app_password,
        admin::list_users,
        admin::show_user,
        admin::update_user,
        admin::approve,
        admin::reject,
        admin::disable,
        admin::enable,
        admin::reset_link,
        admin::list_groups,
        admin::create_group,
        admin::show_group,
        admin::delete_group,
        admin::add_member,
        admin::remove_member,
        admin::list_audit,
        admin::show_modules,
        admin::update_modules,
        admin::list_clients,
        admin::create_client,
        admin::show_client,
        admin::update_client,
        admin::delete_client,
        admin::rotate_client_secret,
        calendars::list,
        calendars::create,
        calendars::show,
        calendars::update,
        calendars::remove,
        super::publication::show,
        super::publication::publish,
        super::publication::revoke,
        super::subscriptions::list,
        super::subscriptions::create,
        super::subscriptions::show,
        super::subscriptions::refresh,
        super::subscriptions::remove,
        events::list,
        events::create,
        events::show,
        events::replace,
        events::remove,
        events::edit_occurrence,
        events::remove_occurrence,
        events::instances,
        events::import,
        events::export,
        contacts::list_books,
        contacts::search,
        contacts::create,
        contacts::show,
        contacts::replace,
        contacts::remove,
        contacts::add_group_member,
        contacts::remove_group_member,
        contacts::import,
        contacts::export,
        chat::channels::list,
        chat::channels::browse,
        chat::channels::create,
        chat::channels::show,
        chat::channels::update,
        chat::channels::members,
        chat::channels::put_member,
        chat::channels::remove_member,
        chat::channels::dm,
        chat::messages::history,
        chat::messages::send,
        chat::messages::show,
        chat::messages::edit,
        chat::messages::remove,
        chat::messages::edit_history,
        chat::messages::react,
        chat::messages::unreact,
        chat::messages::pin,
        chat::messages::unpin,
        chat::messages::pins,
        chat::messages::preview,
        chat::threads::thread,
        chat::threads::follow,
        chat::threads::unfollow,
        chat::threads::read,
        chat::threads::list,
        chat::read::read,
        super::chat::search::search,
        super::chat::presence::typing,
        super::chat::presence::presence,
        super::chat::presence::set_presence,
        super::chat::presence::people,
        super::chat::files::upload,
        super::chat::files::download,
        super::chat::files::thumbnail,
        chat::webhooks::list,
        chat::webhooks::create,
        chat::webhooks::revoke,
        chat::bots::channel_bots,
        chat::bots::add,
        chat::bots::remove,
        chat::bots::create,
        chat::bots::list,
        chat::bots::revoke,
        super::mail::list,
        super::mail::create,
        super::mail::test,
        super::mail::show,
        super::mail::replace,
        super::mail::remove,
        super::mail::retest,
        super::mail::make_default,
        super::mail::providers,
        super::mail::oauth_providers,
        super::mail::oauth_start,
        super::mail::folders,
        super::mail::create_folder,
        super::mail::change_folder,
        super::mail::delete_folder,
        super::mail::sync,
        super::mail::send,
        super::mail::save_draft,
        super::mail::messages,
        super::mail::move_message,
        super::mail::copy_message,
        super::mail::delete_message,
        super::mail::message,
        super::mail::flag,
        super::mail::part,
        super::mail::image,
        super::mail::image_senders,
        super::mail::trust_sender,
        super::mail::distrust_sender,
        super::mail::thread,
    ),
    components(schemas(
        ErrorBody,
        super::publication::Publication,
        super::publication::NewPublication,
        super::subscriptions::SubscriptionView,
        super::subscriptions::NewSubscription,
        crate::mail::Account,
        crate::mail::oauth::ProviderView,
        crate::mail::oauth::Start,
        crate::mail::oauth::Started,
        crate::mail::AccountInput,
        crate::mail::TestReport,
        crate::mail::ServerReport,
        crate::mail::Failure,
        crate::mail::Step,
        crate::mail::Security,
        crate::mail::Folder,
        crate::mail::folders::NewFolder,
        crate::mail::folders::FolderChange,
        crate::mail::index::SyncReport,
        crate::mail::index::Address,
        crate::mail::index::MessageSummary,
        crate::mail::index::MessagePage,
        crate::mail::index::AttachmentView,
        crate::mail::index::MessageDetail,
        crate::mail::index::FlagChange,
        crate::mail::images::ImageSender,
        crate::mail::images::NewImageSender,
        crate::mail::send::Outgoing,
        super::mail::MoveTo,
        crate::mail::send::OutgoingFile,
        crate::mail::send::Sent,
        crate::mail::send::Draft,
        crate::mail::sync::Role,
        crate::mail::providers::Suggestion,
        crate::modules::ModuleStates,
        contact_model::ContactFields,
        contact_model::StructuredName,
        contact_model::TypedValue,
        contact_model::Address,
        contacts::GroupRef,
        event_model::EventFields,
        event_model::ItemKind,
        event_model::When,
        event_model::Recurrence,
        event_model::Person,
        event_model::Attendee,
        event_model::Alarm,
        series::Scope,
        crate::store::chat_files::ChatFile,
    )),
    modifiers(&CommonResponses),
    tags(
        (name = "account", description = "The signed-in user and their app passwords"),
        (name = "calendars", description = "Calendars (CalDAV collections)"),
        (name = "events", description = "Events, tasks and journal entries in calendars (iCalendar objects), their occurrences, import and export"),
        (name = "contacts", description = "Address books and contacts (CardDAV collections, vCard)"),
        (name = "chat", description = "Team chat: channels, direct messages, messages, threads, reactions, pins, read state, files, search, presence (docs/chat.md)"),
        (name = "mail", description = "Linked mail accounts: settings, connection test, provider suggestions (docs/mail.md)"),
        (name = "push", description = "Live changes as Server-Sent Events, resumable with `Last-Event-ID`"),
        (name = "admin", description = "Administration: sign-up approval, accounts, groups, modules, the audit log (administrators: account password, or a bearer token with the `admin` scope)"),
        (name = "meta", description = "This description"),
    ),
)]
pub struct ApiDoc;

/// The error shape of every JSON API error (`http::error::ApiError`).
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the wire shape; `ApiError` writes it.
pub struct ErrorBody {
    /// A stable machine-readable code: `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `invalid`, `bad_json`, `precondition_failed`, `unavailable`, …
    #[schema(example = "not_found")]
    pub error: String,
    /// A sentence for people.
    pub message: String,
    /// Machine-readable extras, e.g. `{"current_etag": "\"…\""}` on a 412.
    pub details: Option<serde_json::Value>,
}

/// The spec itself, as JSON.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json", body = Object)),
)]
pub async fn spec() -> Json<Spec> {
    Json(ApiDoc::openapi())
}

/// HTTP Basic (an app password, or the account password) or an OAuth bearer token for every route but the spec,
/// with the errors authentication and the database can cause, and those the extractors give
/// before a handler runs (400 for a malformed path, 413/415 for a JSON body).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut Spec) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        // OAuth access tokens from Madang's own provider: scope `api` for
        // these routes, `admin` for `/api/v1/admin` (RFC 6750).
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        let error = |description: &str| -> RefOr<Response> {
            let mut r = Response::new(description);
            r.content.insert("application/json".into(), Content::new(Some(Ref::from_schema_name("ErrorBody"))));
            RefOr::T(r)
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            // Routes of a module an administrator can turn off (`http::modules::GATED`).
            let gated = crate::http::modules::module_of(path);
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head];
            for op in operations.into_iter().flatten() {
                // `security(())` on a handler marks it public.
                let public =
                    op.security.as_ref().is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
                if public {
                    continue;
                }
                op.security = Some(vec![
                    SecurityRequirement::new("basic", Vec::<String>::new()),
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                ]);
                let responses = &mut op.responses.responses;
                responses.entry("401".into()).or_insert_with(|| error("Missing or wrong credentials"));
                responses.entry("429".into()).or_insert_with(|| error("Too many failed sign-ins; see Retry-After"));
                responses.entry("503".into()).or_insert_with(|| error("The database is unavailable; retry later"));
                if let Some(module) = gated {
                    let text = format!("The {module} module is turned off on this server (`module_disabled`)");
                    responses.entry("403".into()).or_insert_with(|| error(&text));
                }
                // Every path parameter is decoded (and numbers parsed) before the handler runs, and
                // the edge check (`http::valid_text`) refuses NUL in any query string, declared
                // parameters or not, on every route.
                let has_path_params =
                    op.parameters.as_ref().is_some_and(|ps| ps.iter().any(|p| p.parameter_in == ParameterIn::Path));
                let text = if has_path_params {
                    "Malformed path parameter, or a NUL character in the query"
                } else {
                    "A NUL character in the query"
                };
                responses.entry("400".into()).or_insert_with(|| error(text));
                // `ApiJson` bodies: no JSON content type, or over the server's body size limit.
                let json_body = op.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));
                if json_body {
                    responses.entry("413".into()).or_insert_with(|| error("The body is over the size limit"));
                    responses.entry("415".into()).or_insert_with(|| error("The body is not application/json"));
                    responses.entry("422".into()).or_insert_with(|| {
                        error("The body is JSON but not of the expected shape, or a value is refused")
                    });
                }
            }
        }
    }
}
