//! The handlers of [`crate::ROUTES`]: thin over `fincrm_service`.

use crate::AppState;
use crate::authn::{Authenticated, ClientAddr, SESSION_COOKIE, came_over_tls, cookie};
use crate::json::ApiJson;
use crate::problem::ApiError;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fincrm_service::customers::{self, Caller, RevealField};
use fincrm_store::Backend;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: Backend,
}

/// `GET /health`: 200 when the database answers, 503 when it does not.
pub async fn health(State(state): State<AppState>) -> Response {
    let database = state.store.backend();
    match state.store.ping().await {
        Ok(()) => axum::Json(Health {
            status: "ok",
            database,
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(Health {
                    status: "unavailable",
                    database,
                }),
            )
                .into_response()
        }
    }
}

#[derive(Serialize)]
struct Version {
    name: &'static str,
    version: &'static str,
}

/// `GET /version`: the build's name and version.
pub async fn version() -> Response {
    axum::Json(Version {
        name: "fincrm",
        version: env!("CARGO_PKG_VERSION"),
    })
    .into_response()
}

/// Whether the request came over TLS (for the cookie's `Secure` flag).
pub struct Tls(bool);

impl<S: Send + Sync> FromRequestParts<S> for Tls {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(came_over_tls(parts)))
    }
}

/// The body of `POST /api/v1/session`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    user_id: String,
    password: String,
}

#[derive(Serialize)]
struct UserView {
    id: String,
    name: String,
    branch_id: String,
    role: fincrm_domain::StaffRole,
}

#[derive(Serialize)]
struct LoginResponse {
    csrf_token: String,
    expires_at: chrono::DateTime<chrono::Utc>,
    must_change_password: bool,
    user: UserView,
}

fn session_cookie(value: &str, max_age_secs: i64, secure: bool) -> Result<HeaderValue, ApiError> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    ))
    .map_err(|e| ApiError::internal(&e))
}

/// `POST /api/v1/session`: logs in; sets the session cookie (`HttpOnly; SameSite=Strict`, and
/// `Secure` over TLS) and returns the CSRF token the client must send as `X-CSRF-Token` on
/// state-changing requests.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Tls(tls): Tls,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now();
    let session = state
        .auth
        .login(&body.user_id, &body.password, addr.as_deref(), now)
        .await?;
    let max_age = (session.expires_at - now).num_seconds().max(0);
    let cookie = session_cookie(&session.token, max_age, tls)?;
    let body = LoginResponse {
        csrf_token: session.csrf_token.clone(),
        expires_at: session.expires_at,
        must_change_password: session.must_change_password,
        user: UserView {
            id: session.user.id.as_str().to_owned(),
            name: session.user.name.clone(),
            branch_id: session.user.branch_id.as_str().to_owned(),
            role: session.user.role,
        },
    };
    let mut res = (StatusCode::OK, axum::Json(body)).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `DELETE /api/v1/session`: ends the caller's session (cookie callers; a bearer token is left
/// as it is) and clears the cookie. 204.
pub async fn logout(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Tls(tls): Tls,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if principal.session_id_hash().is_some()
        && let Some(token) = cookie(&headers, SESSION_COOKIE)
    {
        state
            .auth
            .logout(token, addr.as_deref(), chrono::Utc::now())
            .await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0, tls)?);
    Ok(res)
}

/// `GET /api/v1/customers/{id}`: the masked customer (audited `customer.view`).
pub async fn get_customer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = Caller {
        principal: &principal,
        client_addr: addr.as_deref(),
        now: chrono::Utc::now(),
    };
    let view = customers::get(state.store.as_ref(), state.audit.as_ref(), &caller, &id).await?;
    Ok(no_store(axum::Json(view)))
}

/// `GET /api/v1/customers/{id}/360`: masked profile, holdings, latest activity, scores.
pub async fn get_customer_360(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = Caller {
        principal: &principal,
        client_addr: addr.as_deref(),
        now: chrono::Utc::now(),
    };
    let view =
        customers::view_360(state.store.as_ref(), state.audit.as_ref(), &caller, &id).await?;
    Ok(no_store(axum::Json(view)))
}

/// The body of `POST /api/v1/customers/{id}/reveal`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    field: RevealField,
    reason: String,
}

/// `POST /api/v1/customers/{id}/reveal`: one clear value, audited with its reason first.
pub async fn reveal_customer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RevealRequest>,
) -> Result<Response, ApiError> {
    let caller = Caller {
        principal: &principal,
        client_addr: addr.as_deref(),
        now: chrono::Utc::now(),
    };
    let revealed = customers::reveal(
        state.store.as_ref(),
        state.audit.as_ref(),
        &caller,
        &id,
        body.field,
        &body.reason,
    )
    .await?;
    Ok(no_store(axum::Json(revealed)))
}

/// Responses carrying personal information must not be cached anywhere.
fn no_store(body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
