//! `DavError`: every way a DAV request fails, turned into a response in one place.
//!
//! Preconditions get their `DAV:error` body and the status RFC 4791 §1.3
//! assigns (403/409/507); failed `If-Match`/`If-None-Match` alone get 412.
//! Store failures never leak detail: 503 when the database is away, 500 otherwise.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use madang_dav::error::XmlError;
use madang_dav::headers::HeaderError;
use madang_dav::precondition::Precondition;
use madang_ical::{ExpandError, ObjectError};

use crate::store::StoreError;

#[derive(Debug)]
pub enum DavError {
    Precondition(Precondition),
    /// A plain status with a short reason for humans.
    Status(StatusCode, String),
    Store(StoreError),
}

pub type DavResult<T> = Result<T, DavError>;

impl DavError {
    pub fn status(status: StatusCode, reason: impl Into<String>) -> DavError {
        DavError::Status(status, reason.into())
    }

    pub fn not_found() -> DavError {
        DavError::status(StatusCode::NOT_FOUND, "no such resource")
    }

    pub fn forbidden(reason: &str) -> DavError {
        DavError::status(StatusCode::FORBIDDEN, reason)
    }

    pub fn precondition_failed() -> DavError {
        DavError::status(StatusCode::PRECONDITION_FAILED, "the resource does not match the request's condition")
    }

    /// RFC 3744 §7.1.1: 403 naming the resource and the privilege the user lacks.
    pub fn need_privileges(href: String, privilege: crate::collections::access::Privilege) -> DavError {
        DavError::Precondition(Precondition::NeedPrivileges(vec![(
            href,
            madang_dav::names::QName::dav(privilege.name()),
        )]))
    }

    pub fn method_not_allowed(reason: &str) -> DavError {
        DavError::status(StatusCode::METHOD_NOT_ALLOWED, reason)
    }
}

impl From<StoreError> for DavError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => DavError::not_found(),
            StoreError::PreconditionFailed => DavError::precondition_failed(),
            StoreError::InvalidSyncToken => DavError::Precondition(Precondition::ValidSyncToken),
            // RFC 4331 §6: 507 with DAV:quota-not-exceeded.
            StoreError::QuotaExceeded => DavError::Precondition(Precondition::QuotaNotExceeded),
            // RFC 4918 §9.2.1: no room to record the properties.
            StoreError::PropertiesTooLarge => DavError::status(
                StatusCode::INSUFFICIENT_STORAGE,
                "the resource's dead properties would exceed dav.max_properties_size",
            ),
            StoreError::Conflict(m) => DavError::Status(StatusCode::CONFLICT, m),
            other => DavError::Store(other),
        }
    }
}

impl From<XmlError> for DavError {
    fn from(e: XmlError) -> Self {
        match e.precondition() {
            Some(p) => DavError::Precondition(p),
            None => {
                DavError::Status(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST), e.to_string())
            }
        }
    }
}

impl From<HeaderError> for DavError {
    fn from(e: HeaderError) -> Self {
        match e.precondition() {
            Some(p) => DavError::Precondition(p),
            None => DavError::Status(StatusCode::BAD_REQUEST, e.to_string()),
        }
    }
}

impl From<ObjectError> for DavError {
    fn from(e: ObjectError) -> Self {
        // RFC 4791 §5.3.2.1: unparseable data and a valid file that breaks
        // §4.1's rules are different preconditions.
        if e.is_invalid_data() {
            DavError::Precondition(Precondition::ValidCalendarData(e.to_string()))
        } else {
            DavError::Precondition(Precondition::ValidCalendarObjectResource(e.to_string()))
        }
    }
}

impl From<ExpandError> for DavError {
    fn from(e: ExpandError) -> Self {
        // The request asked for more instances than the configured bound:
        // the client can narrow the window, so say why instead of timing out.
        DavError::Status(StatusCode::FORBIDDEN, e.to_string())
    }
}

impl IntoResponse for DavError {
    fn into_response(self) -> Response {
        match self {
            DavError::Precondition(p) => {
                let status = StatusCode::from_u16(p.status()).unwrap_or(StatusCode::FORBIDDEN);
                xml_response(status, p.to_xml())
            }
            DavError::Status(status, reason) => text_response(status, reason),
            DavError::Store(StoreError::Unavailable(m)) => {
                tracing::error!(error = %m, "database unavailable");
                let mut r = text_response(StatusCode::SERVICE_UNAVAILABLE, "database unavailable; retry later".into());
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                r
            }
            DavError::Store(e) => {
                tracing::error!(error = %e, "DAV request failed");
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

pub fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"))], body).into_response()
}

fn text_response(status: StatusCode, reason: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], reason + "\n")
        .into_response()
}
