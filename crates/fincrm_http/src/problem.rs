//! One error envelope for the whole API: RFC 9457 problem details
//! (`application/problem+json`).
//!
//! ```json
//! {"type":"urn:fincrm:problem:validation","title":"Unprocessable Content","status":422,
//!  "detail":"…","errors":[{"field":"reason","message":"…"}]}
//! ```
//! `type` is a stable URN per kind of problem (clients switch on it), `title` the status's
//! reason phrase, `detail` a sentence for people. A 5xx body never carries internals: the cause
//! is logged once, server-side, and the client gets a generic detail.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fincrm_service::auth::AuthError;
use fincrm_service::customers::CustomerError;
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as named in the request body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An API error, rendered as a problem+json response.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<std::time::Duration>,
}

/// The body of every error response (`application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody<'a> {
    /// A stable URN per kind of problem, e.g. `urn:fincrm:problem:validation`.
    #[serde(rename = "type")]
    kind: String,
    /// The status's reason phrase.
    title: &'a str,
    /// The HTTP status.
    status: u16,
    /// A sentence for people; never server internals.
    detail: &'a str,
    /// The invalid fields (422 only).
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

/// The stable problem type of a status.
fn slug(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad-request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not-found",
        405 => "method-not-allowed",
        408 => "timeout",
        413 => "payload-too-large",
        409 => "conflict",
        415 => "unsupported-media-type",
        429 => "rate-limited",
        422 => "validation",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "client-error",
    }
}

impl ApiError {
    /// A problem with `status` and a human-readable `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 401 with the one generic body every authentication failure gets.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication required: a valid session cookie or bearer token",
        )
    }

    /// 404 with the one body a missing and an out-of-scope resource share.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no such resource")
    }

    /// 429 with `Retry-After` (whole seconds, rounded up).
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many login attempts from this address; wait and try again",
        );
        e.retry_after = Some(wait);
        e
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 422 naming the invalid fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: "the request has invalid fields".to_owned(),
            errors,
            retry_after: None,
        }
    }

    /// 500: logs `cause` once and answers with a generic body.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error serving a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an internal error occurred; it has been logged",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// A generic problem for a bare status (used for errors produced outside our handlers).
    pub fn from_status(status: StatusCode) -> Self {
        let detail = if status.is_server_error() {
            "the server could not complete the request".to_owned()
        } else {
            status
                .canonical_reason()
                .unwrap_or("the request failed")
                .to_owned()
        };
        Self::new(status, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            kind: format!("urn:fincrm:problem:{}", slug(self.status)),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut res = (self.status, bytes).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §15.5.2: a 401 names the scheme to use.
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"fincrm\""),
            );
        }
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        res
    }
}

impl From<CustomerError> for ApiError {
    fn from(e: CustomerError) -> Self {
        match e {
            CustomerError::NotFound => Self::not_found(),
            CustomerError::Forbidden(why) => Self::forbidden(why),
            CustomerError::Conflict(why) => Self::new(StatusCode::CONFLICT, why),
            CustomerError::Invalid(v) => Self::validation(vec![FieldError {
                field: v.field.into_owned(),
                message: v.reason.into_owned(),
            }]),
            CustomerError::Store(e) => Self::internal(&e),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::LoginFailed => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid user or password")
            }
            AuthError::Unauthenticated => Self::unauthenticated(),
            AuthError::WrongPassword => Self::forbidden("the current password is wrong"),
            AuthError::Policy(v) | AuthError::Invalid(v) => Self::validation(vec![FieldError {
                field: v.field.into_owned(),
                message: v.reason.into_owned(),
            }]),
            AuthError::NotFound(_) => Self::not_found(),
            e @ (AuthError::Store(_) | AuthError::Internal(_)) => Self::internal(&e),
        }
    }
}

/// Middleware: any error response that is not problem+json yet (axum's 404 and 405, the body
/// limit's 413, the timeout's 408, a path rejection's 400) becomes a problem with a generic
/// detail, so every error the API answers has the same shape.
pub async fn problemize(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        return res;
    }
    let mut problem = ApiError::from_status(status).into_response();
    // Keep headers that matter to clients (e.g. `Allow` on 405).
    if let Some(allow) = res.headers().get(header::ALLOW) {
        problem.headers_mut().insert(header::ALLOW, allow.clone());
    }
    problem
}
