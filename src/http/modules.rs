//! The route gate for modules that are off: which JSON API paths belong to
//! which module ([`GATED`]), and the middleware that answers 403
//! `module_disabled` for them while their module is off.
//!
//! One prefix table rather than a layer per router, so a new module's routes
//! plug in with one line (mail: `/api/v1/mail`, chat: `/api/v1/chat`) and
//! the table can be read in one place. DAV (`/dav`, `/.well-known`) is not
//! in it: CalDAV and CardDAV are governed by their own setting.
//!
//! The gate runs before authentication, so a refused request costs no
//! password check; that a module is off is no secret (the web client shows
//! it to every signed-in user).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::app::state::AppState;
use crate::modules::Module;

/// Path prefixes (whole segments) and the module that owns them.
pub const GATED: &[(&str, Module)] = &[
    ("/api/v1/calendars", Module::Calendar),
    ("/api/v1/addressbooks", Module::Contacts),
    ("/api/v1/chat", Module::Chat),
    ("/api/v1/mail", Module::Mail),
    // The OAuth callback of linked mail accounts (`web::mail_oauth`). Not all of `/mail`:
    // `/mail/config-v1.1.xml` is autoconfig, which answers 404 itself (mail apps then go on
    // to their next method) rather than the JSON API's 403.
    ("/mail/oauth", Module::Mail),
    ("/hooks", Module::Chat),
];

/// The module that owns `path`, if any: a prefix matches the path itself and
/// everything below it, not a longer name (`/api/v1/calendarsx`).
pub fn module_of(path: &str) -> Option<Module> {
    GATED.iter().find_map(|(prefix, module)| {
        let rest = path.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(*module)
    })
}

/// 403 with the JSON error shape, naming the module in `details`.
pub fn disabled(module: Module) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "module_disabled",
        format!("the {module} module is turned off on this server; an administrator can turn it on"),
    )
    .with_details(serde_json::json!({ "module": module.name() }))
}

/// Refuses requests to a module that is off; everything else passes.
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(module) = module_of(req.uri().path()) else { return next.run(req).await };
    match state.modules.is_on(module).await {
        Ok(true) => next.run(req).await,
        Ok(false) => disabled(module).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert_eq!(module_of("/api/v1/calendars"), Some(Module::Calendar));
        assert_eq!(module_of("/api/v1/calendars/work/events/x"), Some(Module::Calendar));
        assert_eq!(module_of("/api/v1/addressbooks/default/contacts"), Some(Module::Contacts));
        assert_eq!(module_of("/api/v1/calendarsx"), None);
        assert_eq!(module_of("/api/v1/me"), None);
        assert_eq!(module_of("/dav/calendars/alice/"), None);
        assert_eq!(module_of("/mail/oauth/callback"), Some(Module::Mail));
        assert_eq!(module_of("/mail/config-v1.1.xml"), None);
    }
}
