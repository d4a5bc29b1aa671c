//! The administrators' pages (`/admin`): pending sign-ups, accounts, groups,
//! the modules that are on, and the audit log. Every change goes through the same operations as the
//! admin JSON API (`crate::http::admin`), so both are audited alike.
//!
//! Only a signed-in administrator gets in; everyone else gets 403 (or the
//! sign-in page when not signed in). Every form carries the session's CSRF
//! token, and every change answers 303 back to the page (POST/redirect/GET).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::Client;
use super::account::{page_for, require_session};
use super::csrf;
use super::form::{CsrfForm, SignedInForm};
use super::i18n::{Lang, t, tf};
use super::page::{
    button, error_html, escape, field, hidden, html_page_with_status, internal_error, notice_html, query_escape,
    see_other,
};
use super::session::WebSession;
use crate::app::state::AppState;
use crate::domain::{Role, UserState};
use crate::http::admin::{
    Admin, change_user, drop_group, membership, new_group, reset_link_for, set_modules, transition,
};
use crate::http::error::ApiError;
use crate::modules::{Module, ModuleStates};
use crate::store::audit::AuditQuery;

/// The signed-in administrator, or the response to send instead.
async fn require_admin(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    path: &str,
) -> Result<(WebSession, Admin), Response> {
    let session = require_session(state, headers, path).await?;
    let admin = admin_of(&session, client).ok_or_else(|| forbidden(Lang::from_headers(headers)))?;
    Ok((session, admin))
}

/// The administrator behind a signed-in session; `None` for anyone else.
fn admin_of(session: &WebSession, client: &Client) -> Option<Admin> {
    (session.user.role == Role::Admin).then(|| Admin { user: session.user.clone(), address: client.address })
}

/// 403 for everyone but administrators.
fn forbidden(lang: Lang) -> Response {
    html_page_with_status(
        StatusCode::FORBIDDEN,
        lang,
        t(lang, "admin.forbidden_title"),
        error_html(t(lang, "admin.forbidden")),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Notice {
    /// `1` after a redirect from a successful action. Errors are never
    /// carried in the URL (anyone could link an admin to a page showing
    /// text of their choosing); a failed action answers with the page itself.
    done: String,
}

fn notice_top(lang: Lang, notice: &Notice) -> String {
    if notice.done == "1" { notice_html(t(lang, "admin.done")) } else { String::new() }
}

/// `GET /admin`: everything on one page, small teams have few accounts.
pub async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Query(notice): Query<Notice>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let (session, _) = match require_admin(&state, &headers, &client, "/admin").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    render_overview(&state, lang, &session, notice_top(lang, &notice), StatusCode::OK).await
}

async fn render_overview(
    state: &AppState,
    lang: Lang,
    session: &WebSession,
    top: String,
    status: StatusCode,
) -> Response {
    let (users, groups, modules) =
        match (state.store.users().await, state.store.groups().await, state.modules.states().await) {
            (Ok(u), Ok(g), Ok(m)) => (u, g, m),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal_error(lang, &e),
        };
    let csrf_field = csrf::form_field(state, session);
    let action = |name: &str, verb: &str, label: &str| {
        format!(
            r#"<form class="inline" method="post" action="/admin/users/{}/{verb}">{csrf_field}<button class="secondary" type="submit" aria-label="{}">{}</button></form>"#,
            query_escape(name),
            escape(&format!("{label}: {name}")),
            escape(label),
        )
    };
    let mut body = top;
    body.push_str(&format!(
        r#"<nav class="account" aria-label="{}"><a href="/admin">{}</a><a href="/admin/audit">{}</a><a href="/admin/clients">{}</a></nav>"#,
        t(lang, "admin.nav"),
        t(lang, "admin.title"),
        t(lang, "admin.audit_title"),
        t(lang, "admin.clients_title"),
    ));

    let pending: Vec<_> = users.iter().filter(|u| u.state == UserState::Pending).collect();
    body.push_str(&format!(r#"<h2 id="pending">{}</h2>"#, t(lang, "admin.pending_title")));
    if pending.is_empty() {
        body.push_str(&format!("<p>{}</p>", t(lang, "admin.pending_none")));
    } else {
        body.push_str(&format!(
            r#"<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
            t(lang, "field.username"),
            t(lang, "field.email"),
            t(lang, "admin.requested"),
            t(lang, "admin.actions"),
        ));
        for u in pending {
            let name = u.username.as_str();
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                escape(name),
                escape(u.email.as_str()),
                u.created_at.format("%Y-%m-%d %H:%M UTC"),
                action(name, "approve", t(lang, "admin.approve")),
                action(name, "reject", t(lang, "admin.reject")),
            ));
        }
        body.push_str("</tbody></table>");
    }

    body.push_str(&format!("<h2>{}</h2>", t(lang, "admin.users_title")));
    body.push_str(&format!(
        r#"<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
        t(lang, "field.username"),
        t(lang, "field.email"),
        t(lang, "admin.role"),
        t(lang, "admin.state"),
        t(lang, "admin.actions"),
    ));
    for u in users.iter().filter(|u| u.state != UserState::Pending) {
        let name = u.username.as_str();
        let mut actions = String::new();
        match u.state {
            UserState::Active => actions.push_str(&action(name, "disable", t(lang, "admin.disable"))),
            _ => actions.push_str(&action(name, "enable", t(lang, "admin.enable"))),
        }
        match u.role {
            Role::Admin => actions.push_str(&action(name, "make-member", t(lang, "admin.make_member"))),
            Role::Member => actions.push_str(&action(name, "make-admin", t(lang, "admin.make_admin"))),
        }
        if u.email_verified {
            actions.push_str(&action(name, "unverify-email", t(lang, "admin.unverify_email")));
        } else {
            actions.push_str(&action(name, "verify-email", t(lang, "admin.verify_email")));
        }
        if u.state == UserState::Active {
            actions.push_str(&action(name, "reset-link", t(lang, "admin.reset_link")));
        }
        let verified = if u.email_verified { t(lang, "admin.verified") } else { t(lang, "admin.unverified") };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
            escape(name),
            escape(u.email.as_str()),
            verified,
            u.role,
            u.state,
        ));
    }
    body.push_str("</tbody></table>");

    body.push_str(&format!("<h2>{}</h2><p>{}</p>", t(lang, "admin.groups_title"), t(lang, "admin.groups_intro")));
    for g in &groups {
        let gname = g.name.as_str();
        body.push_str(&format!("<h3>{}</h3>", escape(gname)));
        if !g.description.is_empty() {
            body.push_str(&format!("<p>{}</p>", escape(&g.description)));
        }
        body.push_str("<ul>");
        for m in &g.members {
            body.push_str(&format!(
                r#"<li>{} <form class="inline" method="post" action="/admin/groups/{}/remove">{csrf_field}{}<button class="secondary" type="submit" aria-label="{}">{}</button></form></li>"#,
                escape(m.as_str()),
                query_escape(gname),
                hidden("user", m.as_str()),
                escape(&tf(lang, "admin.remove_member_named", &[m.as_str(), gname])),
                t(lang, "admin.remove_member"),
            ));
        }
        body.push_str("</ul>");
        let add_id = format!("user-{gname}");
        body.push_str(&format!(
            r#"<form method="post" action="/admin/groups/{}/add">{csrf_field}<p><label for="{}">{}</label> <input id="{}" name="user" type="text" autocomplete="off" required> <button type="submit">{}</button></p></form>"#,
            query_escape(gname),
            escape(&add_id),
            escape(&tf(lang, "admin.add_member_to", &[gname])),
            escape(&add_id),
            t(lang, "admin.add_member"),
        ));
        body.push_str(&format!(
            r#"<form class="inline" method="post" action="/admin/groups/{}/delete">{csrf_field}<button class="secondary" type="submit" aria-label="{}">{}</button></form>"#,
            query_escape(gname),
            escape(&tf(lang, "admin.delete_group_named", &[gname])),
            t(lang, "admin.delete_group"),
        ));
    }
    body.push_str(&format!("<h3>{}</h3>", t(lang, "admin.create_group")));
    body.push_str(r#"<form method="post" action="/admin/groups">"#);
    body.push_str(&csrf_field);
    body.push_str(&field("name", t(lang, "admin.group_name"), "text", "off", "", true));
    body.push_str(&field("description", t(lang, "admin.group_description"), "text", "off", "", false));
    body.push_str(&button(t(lang, "admin.create_group")));
    body.push_str("</form>");
    body.push_str(&modules_section(lang, &modules, &csrf_field));
    let mut response = page_for(lang, t(lang, "admin.title"), state, session, body).await;
    *response.status_mut() = status;
    response
}

/// The modules section: one checkbox per module, checked when it is on, and
/// one button that saves them all (a plain form, no JavaScript).
fn modules_section(lang: Lang, modules: &ModuleStates, csrf_field: &str) -> String {
    let mut html = format!(
        r#"<h2 id="modules">{}</h2><p>{}</p><form method="post" action="/admin/modules">{csrf_field}<fieldset><legend>{}</legend>"#,
        t(lang, "admin.modules_title"),
        t(lang, "admin.modules_intro"),
        t(lang, "admin.modules_legend"),
    );
    for module in Module::ALL {
        let name = module.name();
        html.push_str(&format!(
            r#"<p><label class="check" for="module-{name}"><input id="module-{name}" name="{name}" type="checkbox" value="on"{}><span>{}</span></label></p>"#,
            if modules.is_on(module) { " checked" } else { "" },
            module_label(lang, module),
        ));
    }
    html.push_str("</fieldset>");
    html.push_str(&button(t(lang, "admin.modules_save")));
    html.push_str("</form>");
    html
}

/// A module's name for people.
pub fn module_label(lang: Lang, module: Module) -> &'static str {
    match module {
        Module::Calendar => t(lang, "module.calendar"),
        Module::Contacts => t(lang, "module.contacts"),
        Module::Mail => t(lang, "module.mail"),
        Module::Chat => t(lang, "module.chat"),
    }
}

/// The modules form: a checkbox is sent only when it is checked.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ModulesForm {
    csrf: String,
    calendar: Option<String>,
    contacts: Option<String>,
    mail: Option<String>,
    chat: Option<String>,
}

impl CsrfForm for ModulesForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /admin/modules`: sets every module to what the form shows.
pub async fn modules_submit(
    State(state): State<AppState>,
    client: Client,
    SignedInForm { session, lang, form }: SignedInForm<ModulesForm>,
) -> Response {
    let Some(admin) = admin_of(&session, &client) else { return forbidden(lang) };
    let changes = [
        (Module::Calendar, form.calendar.is_some()),
        (Module::Contacts, form.contacts.is_some()),
        (Module::Mail, form.mail.is_some()),
        (Module::Chat, form.chat.is_some()),
    ];
    let result = set_modules(&state, &admin, &changes).await;
    back(&state, lang, &session, result).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfOnly {
    csrf: String,
}

impl CsrfForm for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// After an action: back to the overview (303), or the overview with the
/// reason when it was refused, under the error's status.
async fn back(state: &AppState, lang: Lang, session: &WebSession, result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => see_other("/admin?done=1"),
        Err(e) if e.status.is_server_error() => internal_error(lang, &e.message),
        Err(e) => render_overview(state, lang, session, error_html(&e.message), e.status).await,
    }
}

/// `POST /admin/users/{name}/{verb}`.
pub async fn user_action(
    State(state): State<AppState>,
    client: Client,
    Path((name, verb)): Path<(String, String)>,
    SignedInForm { session, lang, .. }: SignedInForm<CsrfOnly>,
) -> Response {
    let Some(admin) = admin_of(&session, &client) else { return forbidden(lang) };
    let result = match verb.as_str() {
        "approve" => transition(&state, &admin, &name, "admin.user.approve").await.map(drop),
        "reject" => transition(&state, &admin, &name, "admin.user.reject").await.map(drop),
        "disable" => transition(&state, &admin, &name, "admin.user.disable").await.map(drop),
        "enable" => transition(&state, &admin, &name, "admin.user.enable").await.map(drop),
        "make-admin" => change_user(&state, &admin, &name, Some(Role::Admin), None).await.map(drop),
        "make-member" => change_user(&state, &admin, &name, Some(Role::Member), None).await.map(drop),
        "verify-email" => change_user(&state, &admin, &name, None, Some(true)).await.map(drop),
        "unverify-email" => change_user(&state, &admin, &name, None, Some(false)).await.map(drop),
        "reset-link" => {
            return match reset_link_for(&state, &admin, &name).await {
                Ok(url) => {
                    let body = format!(
                        r#"<p>{}</p><p><span class="secret">{}</span></p><p><a href="/admin">{}</a></p>"#,
                        escape(&tf(lang, "admin.reset_link_for", &[&name])),
                        escape(&url),
                        t(lang, "admin.back"),
                    );
                    page_for(lang, t(lang, "admin.reset_link"), &state, &session, body).await
                }
                Err(e) => back(&state, lang, &session, Err(e)).await,
            };
        }
        _ => return see_other("/admin"),
    };
    back(&state, lang, &session, result).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GroupForm {
    csrf: String,
    name: String,
    description: String,
    user: String,
}

impl CsrfForm for GroupForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /admin/groups`: create.
pub async fn group_create(
    State(state): State<AppState>,
    client: Client,
    SignedInForm { session, lang, form }: SignedInForm<GroupForm>,
) -> Response {
    let Some(admin) = admin_of(&session, &client) else { return forbidden(lang) };
    let result = new_group(&state, &admin, &form.name, &form.description).await.map(drop);
    back(&state, lang, &session, result).await
}

/// `POST /admin/groups/{name}/{verb}`: add, remove (a member) or delete.
pub async fn group_action(
    State(state): State<AppState>,
    client: Client,
    Path((name, verb)): Path<(String, String)>,
    SignedInForm { session, lang, form }: SignedInForm<GroupForm>,
) -> Response {
    let Some(admin) = admin_of(&session, &client) else { return forbidden(lang) };
    let result = match verb.as_str() {
        "add" => membership(&state, &admin, &name, &form.user, true).await,
        "remove" => membership(&state, &admin, &name, &form.user, false).await,
        "delete" => drop_group(&state, &admin, &name).await,
        _ => return see_other("/admin"),
    };
    back(&state, lang, &session, result).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuditPage {
    before: Option<i64>,
    action: Option<String>,
    user: Option<String>,
}

/// `GET /admin/audit`: the log, newest first, 100 per page.
pub async fn audit_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Query(page): Query<AuditPage>,
) -> Response {
    const PAGE: u32 = 100;
    let lang = Lang::from_headers(&headers);
    let (session, _) = match require_admin(&state, &headers, &client, "/admin/audit").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let action = page.action.filter(|a| !a.is_empty());
    let user = page.user.filter(|u| !u.is_empty());
    let query = AuditQuery { before: page.before, action: action.clone(), user: user.clone(), limit: PAGE };
    let records = match state.store.audit_records(&query).await {
        Ok(r) => r,
        Err(e) => return internal_error(lang, &e),
    };
    let mut body = format!(
        r#"<form method="get" action="/admin/audit">{}{}{}</form>"#,
        field("action", t(lang, "admin.audit_action"), "text", "off", action.as_deref().unwrap_or(""), false),
        field("user", t(lang, "field.username"), "text", "off", user.as_deref().unwrap_or(""), false),
        button(t(lang, "admin.audit_filter")),
    );
    body.push_str(&format!(
        r#"<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
        t(lang, "admin.audit_when"),
        t(lang, "admin.audit_who"),
        t(lang, "admin.audit_action"),
        t(lang, "admin.audit_target"),
        t(lang, "admin.audit_detail"),
        t(lang, "admin.audit_from"),
    ));
    for r in &records {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.at.format("%Y-%m-%d %H:%M:%S UTC"),
            escape(&r.actor_name),
            escape(&r.action),
            escape(&r.target),
            escape(&r.detail),
            escape(r.address.as_deref().unwrap_or("")),
        ));
    }
    body.push_str("</tbody></table>");
    if records.len() == PAGE as usize
        && let Some(last) = records.last()
    {
        let mut next = format!("/admin/audit?before={}", last.id);
        if let Some(a) = &action {
            next.push_str(&format!("&action={}", query_escape(a)));
        }
        if let Some(u) = &user {
            next.push_str(&format!("&user={}", query_escape(u)));
        }
        body.push_str(&format!(r#"<p><a href="{}">{}</a></p>"#, escape(&next), t(lang, "admin.audit_older")));
    }
    page_for(lang, t(lang, "admin.audit_title"), &state, &session, body).await
}

/// `GET /admin/clients`: the registered OpenID Connect clients and a form to
/// register one.
pub async fn clients(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Query(notice): Query<Notice>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let (session, _) = match require_admin(&state, &headers, &client, "/admin/clients").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    render_clients(&state, lang, &session, notice_top(lang, &notice)).await
}

async fn render_clients(state: &AppState, lang: Lang, session: &WebSession, top: String) -> Response {
    let list = match state.oidc.clients().list().await {
        Ok(list) => list,
        Err(e) => return internal_error(lang, &e),
    };
    let csrf_field = csrf::form_field(state, session);
    let mut body = top;
    body.push_str(&format!(
        r#"<p><a href="/admin">{}</a></p><p>{}</p>"#,
        t(lang, "admin.back"),
        escape(&tf(
            lang,
            "admin.clients_intro",
            &[&state.oidc.endpoint(".well-known/openid-configuration"), state.brand.name()]
        )),
    ));
    if list.is_empty() {
        body.push_str(&format!("<p>{}</p>", t(lang, "admin.clients_none")));
    }
    for c in &list {
        let id = c.client_id.as_str();
        let kind = if c.public { t(lang, "admin.client_public") } else { t(lang, "admin.client_confidential") };
        body.push_str(&format!("<h2>{} <small>({})</small></h2><dl>", escape(&c.name), escape(id)));
        let rows = [
            (t(lang, "admin.client_kind"), kind.to_string()),
            (t(lang, "admin.client_redirects"), c.redirect_uris.join(" ")),
            (t(lang, "admin.client_logout_redirects"), c.post_logout_redirect_uris.join(" ")),
            (t(lang, "admin.client_scopes"), c.allowed_scopes.join(" ")),
            (t(lang, "admin.client_pkce"), format!("{:?}", c.pkce).to_lowercase()),
            (t(lang, "admin.client_first_party"), if c.first_party { "✓" } else { "—" }.to_string()),
        ];
        for (label, value) in rows {
            body.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(label), escape(&value)));
        }
        body.push_str("</dl>");
        if !c.public {
            body.push_str(&format!(
                r#"<form class="inline" method="post" action="/admin/clients/{}/rotate-secret">{csrf_field}<button class="secondary" type="submit">{}</button></form>"#,
                query_escape(id),
                t(lang, "admin.client_rotate"),
            ));
        }
        body.push_str(&format!(
            r#"<form class="inline" method="post" action="/admin/clients/{}/delete">{csrf_field}<button class="secondary" type="submit" aria-label="{}">{}</button></form>"#,
            query_escape(id),
            escape(&tf(lang, "admin.client_delete_named", &[id])),
            t(lang, "admin.client_delete"),
        ));
    }
    body.push_str(&format!("<h2>{}</h2>", t(lang, "admin.client_new")));
    body.push_str(r#"<form method="post" action="/admin/clients">"#);
    body.push_str(&csrf_field);
    body.push_str(&field("client_id", t(lang, "admin.client_id"), "text", "off", "", true));
    body.push_str(&field("name", t(lang, "admin.client_name"), "text", "off", "", false));
    for (id, key) in
        [("redirect_uris", "admin.client_redirects"), ("post_logout_redirect_uris", "admin.client_logout_redirects")]
    {
        body.push_str(&format!(
            r#"<p><label for="{id}">{}</label><br><textarea id="{id}" name="{id}" rows="2" cols="60"></textarea></p>"#,
            t(lang, key),
        ));
    }
    for (id, key) in [
        ("public", "admin.client_make_public"),
        ("pkce_optional", "admin.client_make_pkce_optional"),
        ("first_party", "admin.client_make_first_party"),
    ] {
        body.push_str(&format!(
            r#"<p><label class="check" for="{id}"><input id="{id}" name="{id}" type="checkbox" value="1"><span>{}</span></label></p>"#,
            t(lang, key),
        ));
    }
    body.push_str(&button(t(lang, "admin.client_register")));
    body.push_str("</form>");
    page_for(lang, t(lang, "admin.clients_title"), state, session, body).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClientForm {
    csrf: String,
    client_id: String,
    name: String,
    /// One URI per line (or separated by spaces).
    redirect_uris: String,
    post_logout_redirect_uris: String,
    public: Option<String>,
    pkce_optional: Option<String>,
    first_party: Option<String>,
}

impl CsrfForm for ClientForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn uri_list(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// Shows a secret once, on a page of its own (never in a redirect URL).
async fn secret_page(lang: Lang, state: &AppState, session: &WebSession, client_id: &str, secret: &str) -> Response {
    let body = format!(
        r#"<p>{}</p><p><span class="secret">{}</span></p><p>{}</p><p><a href="/admin/clients">{}</a></p>"#,
        escape(&tf(lang, "admin.client_secret_for", &[client_id])),
        escape(secret),
        t(lang, "app_passwords.shown_once"),
        t(lang, "admin.back"),
    );
    page_for(lang, t(lang, "admin.clients_title"), state, session, body).await
}

/// `POST /admin/clients`: register.
pub async fn client_create(
    State(state): State<AppState>,
    client: Client,
    SignedInForm { session, lang, form }: SignedInForm<ClientForm>,
) -> Response {
    let Some(admin) = admin_of(&session, &client) else { return forbidden(lang) };
    let new = crate::oidc::clients::NewClient {
        client_id: form.client_id.trim().to_string(),
        name: Some(form.name.trim().to_string()).filter(|n| !n.is_empty()),
        redirect_uris: uri_list(&form.redirect_uris),
        post_logout_redirect_uris: uri_list(&form.post_logout_redirect_uris),
        public: form.public.is_some(),
        pkce: form.pkce_optional.is_some().then_some(crate::store::oidc::PkcePolicy::Optional),
        first_party: form.first_party.is_some(),
        ..Default::default()
    };
    match state.oidc.clients().create(new, Some(&admin.user)).await {
        Ok((created, Some(secret))) => secret_page(lang, &state, &session, &created.client_id, &secret).await,
        Ok((_, None)) => see_other("/admin/clients?done=1"),
        Err(e) => {
            let e = ApiError::from(e);
            let mut response = render_clients(&state, lang, &session, error_html(&e.message)).await;
            if !e.status.is_server_error() {
                *response.status_mut() = e.status;
            }
            response
        }
    }
}

/// `POST /admin/clients/{client_id}/{verb}`: rotate-secret or delete.
pub async fn client_action(
    State(state): State<AppState>,
    client: Client,
    Path((client_id, verb)): Path<(String, String)>,
    SignedInForm { session, lang, .. }: SignedInForm<CsrfOnly>,
) -> Response {
    let Some(admin) = admin_of(&session, &client) else { return forbidden(lang) };
    let clients = state.oidc.clients();
    let result = match verb.as_str() {
        "rotate-secret" => match clients.rotate_secret(&client_id, Some(&admin.user)).await {
            Ok(secret) => return secret_page(lang, &state, &session, &client_id, &secret).await,
            Err(e) => Err(e),
        },
        "delete" => clients.delete(&client_id, Some(&admin.user)).await,
        _ => return see_other("/admin/clients"),
    };
    match result.map_err(ApiError::from) {
        Ok(()) => see_other("/admin/clients?done=1"),
        Err(e) if e.status.is_server_error() => internal_error(lang, &e.message),
        Err(e) => {
            let mut response = render_clients(&state, lang, &session, error_html(&e.message)).await;
            *response.status_mut() = e.status;
            response
        }
    }
}
