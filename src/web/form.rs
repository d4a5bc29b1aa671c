//! [`SignedInForm`]: what every form of a signed-in user checks first — a
//! live session, then the session's CSRF token — done once, as an extractor.

use axum::Form;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::account::require_session;
use super::csrf;
use super::i18n::Lang;
use super::page::csrf_failed;
use super::session::WebSession;
use crate::app::state::AppState;

/// A form that carries the CSRF token (field [`csrf::FIELD`]).
pub trait CsrfForm {
    fn csrf(&self) -> &str;
}

/// A form posted by a signed-in browser whose CSRF token matches its
/// session. Without a session the browser is sent to the sign-in page,
/// which comes back to the page the form was on; a wrong token is 403.
pub struct SignedInForm<T> {
    pub session: WebSession,
    pub lang: Lang,
    pub form: T,
}

impl<T> FromRequest<AppState> for SignedInForm<T>
where
    T: CsrfForm + DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let page = form_page(req.uri().path()).to_string();
        let lang = Lang::from_headers(&headers);
        let Form(form) = Form::<T>::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        let session = require_session(state, &headers, &page).await?;
        if !csrf::check(state, &session, form.csrf()) {
            return Err(csrf_failed(lang));
        }
        Ok(SignedInForm { session, lang, form })
    }
}

/// The page whose form posts to `path`, for the sign-in to return to:
/// account pages post to themselves; administrators' actions post below
/// the page they are on.
fn form_page(path: &str) -> &str {
    if path.starts_with("/admin/clients") {
        "/admin/clients"
    } else if path.starts_with("/admin") {
        "/admin"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_return_to_their_page() {
        assert_eq!(form_page("/account/password"), "/account/password");
        assert_eq!(form_page("/admin/users/alice/approve"), "/admin");
        assert_eq!(form_page("/admin/groups"), "/admin");
        assert_eq!(form_page("/admin/clients/x/delete"), "/admin/clients");
    }
}
