//! The administrators' pages (`/admin`): pending sign-ups, accounts, groups
//! and the audit log. Every change goes through the same operations as the
//! admin JSON API (`crate::http::admin`), so both are audited alike.
//!
//! Only a signed-in administrator gets in; everyone else gets 403 (or the
//! sign-in page when not signed in). Every form carries the session's CSRF
//! token, and every change answers 303 back to the page (POST/redirect/GET).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::Client;
use super::account::{page_for, require_session};
use super::csrf;
use super::i18n::{Lang, t, tf};
use super::page::{
    button, csrf_failed, error_html, escape, field, hidden, html_page_with_status, internal_error, notice_html,
    query_escape, see_other,
};
use super::session::WebSession;
use crate::domain::{Role, UserState};
use crate::http::AppState;
use crate::http::admin::{Admin, change_user, drop_group, membership, new_group, reset_link_for, transition};
use crate::http::error::ApiError;
use crate::store::audit::AuditQuery;

/// The signed-in administrator, or the response to send instead.
async fn require_admin(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    path: &str,
) -> Result<(WebSession, Admin), Response> {
    let lang = Lang::from_headers(headers);
    let session = require_session(state, headers, path).await?;
    if session.user.role != Role::Admin {
        return Err(html_page_with_status(
            StatusCode::FORBIDDEN,
            lang,
            t(lang, "admin.forbidden_title"),
            error_html(t(lang, "admin.forbidden")),
        ));
    }
    let admin = Admin { user: session.user.clone(), address: client.address };
    Ok((session, admin))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Notice {
    /// A message key to show above the page after a redirect (`done`), or an
    /// error text from the last action (`error`).
    done: String,
    error: String,
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
    let (users, groups) = match (state.store.users().await, state.store.groups().await) {
        (Ok(u), Ok(g)) => (u, g),
        (Err(e), _) | (_, Err(e)) => return internal_error(lang, &e),
    };
    let csrf_field = csrf::form_field(&state, &session);
    let action = |name: &str, verb: &str, label: &str| {
        format!(
            r#"<form class="inline" method="post" action="/admin/users/{}/{verb}">{csrf_field}<button class="secondary" type="submit" aria-label="{}">{}</button></form>"#,
            query_escape(name),
            escape(&format!("{label}: {name}")),
            escape(label),
        )
    };
    let mut body = String::new();
    if !notice.error.is_empty() {
        body.push_str(&error_html(&notice.error));
    } else if notice.done == "1" {
        body.push_str(&notice_html(t(lang, "admin.done")));
    }
    body.push_str(&format!(
        r#"<nav class="account" aria-label="{}"><a href="/admin">{}</a><a href="/admin/audit">{}</a><a href="/admin/clients">{}</a></nav>"#,
        t(lang, "admin.nav"),
        t(lang, "admin.title"),
        t(lang, "admin.audit_title"),
        t(lang, "admin.clients_title"),
    ));

    let pending: Vec<_> = users.iter().filter(|u| u.state == UserState::Pending).collect();
    body.push_str(&format!("<h2>{}</h2>", t(lang, "admin.pending_title")));
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
    page_for(lang, t(lang, "admin.title"), &state, &session, body)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfOnly {
    csrf: String,
}

/// Where to go after an action: back to the overview, with the outcome.
fn back(result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => see_other("/admin?done=1"),
        Err(e) if e.status.is_server_error() => see_other("/admin?error=internal%20error"),
        Err(e) => see_other(&format!("/admin?error={}", query_escape(&e.message))),
    }
}

/// `POST /admin/users/{name}/{verb}`.
pub async fn user_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Path((name, verb)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let (session, admin) = match require_admin(&state, &headers, &client, "/admin").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !csrf::check(&state, &session, &form.csrf) {
        return csrf_failed(lang);
    }
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
                    page_for(lang, t(lang, "admin.reset_link"), &state, &session, body)
                }
                Err(e) => back(Err(e)),
            };
        }
        _ => return see_other("/admin"),
    };
    back(result)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GroupForm {
    csrf: String,
    name: String,
    description: String,
    user: String,
}

/// `POST /admin/groups`: create.
pub async fn group_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Form(form): Form<GroupForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let (session, admin) = match require_admin(&state, &headers, &client, "/admin").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !csrf::check(&state, &session, &form.csrf) {
        return csrf_failed(lang);
    }
    back(new_group(&state, &admin, &form.name, &form.description).await.map(drop))
}

/// `POST /admin/groups/{name}/{verb}`: add, remove (a member) or delete.
pub async fn group_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Path((name, verb)): Path<(String, String)>,
    Form(form): Form<GroupForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let (session, admin) = match require_admin(&state, &headers, &client, "/admin").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !csrf::check(&state, &session, &form.csrf) {
        return csrf_failed(lang);
    }
    let result = match verb.as_str() {
        "add" => membership(&state, &admin, &name, &form.user, true).await,
        "remove" => membership(&state, &admin, &name, &form.user, false).await,
        "delete" => drop_group(&state, &admin, &name).await,
        _ => return see_other("/admin"),
    };
    back(result)
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
    page_for(lang, t(lang, "admin.audit_title"), &state, &session, body)
}
