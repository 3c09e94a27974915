//! The handlers of [`crate::ROUTES`]: thin over `fincrm_service`. System, session and customer
//! reads here; a customer's activity in [`activity`], changes in [`changes`], duplicates and
//! merges in [`merges`], the personal-information copy and erasure in [`privacy`],
//! the tier and lifecycle rules in [`rules`], administration in [`admin`].

pub mod activity;
pub mod admin;
pub mod changes;
pub mod merges;
pub mod privacy;
pub mod rules;

use crate::AppState;
use crate::authn::{Authenticated, ClientAddr, SESSION_COOKIE, came_over_tls, cookie};
use crate::json::ApiJson;
use crate::problem::{ApiError, ProblemBody};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fincrm_service::customers::{self, Caller, CustomerView, RevealField, Revealed, View360};
use fincrm_store::Backend;
use serde::{Deserialize, Serialize};

/// The state of the service.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    #[schema(schema_with = health_status_schema)]
    status: &'static str,
    /// The database engine.
    #[schema(schema_with = backend_schema)]
    database: Backend,
}

fn health_status_schema() -> utoipa::openapi::schema::Object {
    fincrm_service::schema::string_enum(["ok", "unavailable"], false)
}

fn backend_schema() -> utoipa::openapi::schema::Object {
    let names: Vec<String> = [Backend::Sqlite, Backend::Postgres]
        .iter()
        .filter_map(|b| serde_json::to_value(b).ok())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    fincrm_service::schema::string_enum(names.iter().map(String::as_str), false)
}

/// `GET /health`: 200 when the database answers, 503 when it does not.
#[utoipa::path(
    get,
    path = "/health",
    tag = "system",
    responses(
        (status = 200, description = "The database answers.", body = Health),
        (status = 503, description = "The database does not answer.", body = Health),
    ),
)]
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

/// The build.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Version {
    /// Always `fincrm`.
    name: &'static str,
    /// The version, semver.
    version: &'static str,
}

/// `GET /version`: the build's name and version.
#[utoipa::path(
    get,
    path = "/version",
    tag = "system",
    responses((status = 200, description = "The build's name and version.", body = Version)),
)]
pub async fn version() -> Response {
    axum::Json(Version {
        name: "fincrm",
        version: env!("CARGO_PKG_VERSION"),
    })
    .into_response()
}

/// `GET /api/v1/openapi.json`: this API's OpenAPI 3.1 document (public; not described in
/// itself).
pub async fn openapi_json() -> Response {
    axum::Json(crate::openapi()).into_response()
}

/// The CSRF header of state-changing requests (documentation only: [`Authenticated`] checks it).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct CsrfHeader {
    /// The session's CSRF token; required when authenticating with the session cookie.
    #[param(rename = "X-CSRF-Token")]
    #[expect(dead_code, reason = "read by the OpenAPI document only")]
    x_csrf_token: Option<String>,
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
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The user's id.
    user_id: String,
    /// The user's password.
    #[schema(format = Password)]
    password: String,
}

/// The logged-in user.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// User id.
    id: String,
    /// Name.
    name: String,
    /// Branch.
    branch_id: String,
    /// Role.
    #[schema(schema_with = fincrm_service::schema::staff_role)]
    role: fincrm_domain::StaffRole,
}

/// The answer to a login.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// To send as `X-CSRF-Token` on every state-changing request of this session.
    csrf_token: String,
    /// When the session ends.
    expires_at: chrono::DateTime<chrono::Utc>,
    /// Whether the password must be changed before anything else.
    must_change_password: bool,
    /// Who logged in.
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
#[utoipa::path(
    post,
    path = "/api/v1/session",
    tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in.", body = LoginResponse,
            headers(("Set-Cookie" = String, description = "The session cookie `fincrm_session`."))),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Invalid user or password.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Wrong shape or invalid fields.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 429, description = "Too many login attempts from this address.", body = ProblemBody<'static>, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait."))),
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Tls(tls): Tls,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    if let Some(ip) = addr.as_deref().and_then(|a| a.parse().ok())
        && let Err(wait) = state.edge.login_limiter.take(ip, std::time::Instant::now())
    {
        return Err(ApiError::too_many_requests(wait));
    }
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
#[utoipa::path(
    delete,
    path = "/api/v1/session",
    tag = "session",
    params(CsrfHeader),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Logged out; the cookie is cleared.",
            headers(("Set-Cookie" = String, description = "Clears `fincrm_session`."))),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Cookie caller without the session's `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
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

/// The service's view of a request: who, from where, and when (now).
pub(crate) fn caller<'a>(
    principal: &'a fincrm_service::auth::Principal,
    client_addr: Option<&'a str>,
) -> Caller<'a> {
    Caller {
        principal,
        client_addr,
        now: chrono::Utc::now(),
    }
}

/// `GET /api/v1/customers/{id}`: the masked customer (audited `customer.view`).
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}",
    tag = "customers",
    params(("id" = String, Path, description = "Customer number.")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The masked customer.", body = CustomerView),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (e.g. the password must be changed first).", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn get_customer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let view = customers::get(state.store.as_ref(), state.audit.as_ref(), &caller, &id).await?;
    Ok(no_store(axum::Json(view)))
}

/// `GET /api/v1/customers/{id}/360`: masked profile, holdings, latest activity, scores.
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}/360",
    tag = "customers",
    params(("id" = String, Path, description = "Customer number.")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The customer 360.", body = View360),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (e.g. the password must be changed first).", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn get_customer_360(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let view =
        customers::view_360(state.store.as_ref(), state.audit.as_ref(), &caller, &id).await?;
    Ok(no_store(axum::Json(view)))
}

/// The body of `POST /api/v1/customers/{id}/reveal`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// The field to unmask.
    field: RevealField,
    /// The purpose, recorded in the audit trail.
    #[schema(min_length = 5, max_length = 500)]
    reason: String,
}

/// `POST /api/v1/customers/{id}/reveal`: one clear value, audited with its reason first.
#[utoipa::path(
    post,
    path = "/api/v1/customers/{id}/reveal",
    tag = "customers",
    params(("id" = String, Path, description = "Customer number."), CsrfHeader),
    request_body = RevealRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The clear value.", body = Revealed),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The role may not reveal, or a cookie caller without the session's `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Wrong shape or invalid fields (e.g. the reason's length).", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn reveal_customer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RevealRequest>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
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
pub(crate) fn no_store(body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
