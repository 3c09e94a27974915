//! The caller's own account and the organisation: password change, API tokens, branches,
//! and staff administration.

use super::{CsrfHeader, no_store};
use crate::AppState;
use crate::authn::{Authenticated, ClientAddr};
use crate::json::ApiJson;
use crate::problem::{ApiError, ProblemBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fincrm_domain::StaffRole;
use fincrm_domain::auth::Scope;
use fincrm_service::auth::Principal;
use fincrm_service::branches::{self, BranchPatch, BranchView, NewBranch};
use fincrm_service::staff::{self, NewStaff, StaffCredentials, StaffPatch, StaffView};
use serde::{Deserialize, Serialize};

/// Refuses a session still on its one-time password (only a password change may proceed).
pub(crate) fn password_settled(principal: &Principal) -> Result<(), ApiError> {
    if principal.password_pending() {
        return Err(ApiError::forbidden(
            "the password must be changed before anything else",
        ));
    }
    Ok(())
}

/// The body of `POST /api/v1/session/password`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    #[schema(format = Password)]
    current: String,
    /// The new password (policy: see `docs/PERMISSIONS.md`).
    #[schema(format = Password)]
    new: String,
}

/// `POST /api/v1/session/password`: changes the caller's own password; ends their other
/// sessions. The one request a session on a one-time password may make. 204.
#[utoipa::path(
    post,
    path = "/api/v1/session/password",
    tag = "session",
    params(CsrfHeader),
    request_body = PasswordChange,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Changed."),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The current password is wrong, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks the policy.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn change_password(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Response, ApiError> {
    state
        .auth
        .change_password(
            principal.user_id.as_str(),
            &body.current,
            &body.new,
            principal.session_id_hash(),
            addr.as_deref(),
            chrono::Utc::now(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An API token, without its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView {
    /// The token's public id (to revoke it).
    id: String,
    /// What it is for.
    name: String,
    /// What it may do.
    #[schema(schema_with = scope_list_schema)]
    scopes: Vec<String>,
    /// Created.
    created_at: chrono::DateTime<chrono::Utc>,
    /// Expires.
    expires_at: chrono::DateTime<chrono::Utc>,
    /// Revoked, if it was.
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Last used.
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn scope_list_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::Array::new(fincrm_service::schema::string_enum(
        Scope::ALL.iter().map(|s| s.as_str()),
        false,
    ))
}

impl From<&fincrm_store::auth::ApiTokenRecord> for TokenView {
    fn from(r: &fincrm_store::auth::ApiTokenRecord) -> Self {
        Self {
            id: r.token_id.clone(),
            name: r.name.clone(),
            scopes: r.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// `GET /api/v1/tokens`: the caller's API tokens, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The caller's tokens.", body = Vec<TokenView>),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The password must be changed first.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    password_settled(&principal)?;
    let tokens = state.auth.api_tokens(principal.user_id.as_str()).await?;
    let views: Vec<TokenView> = tokens.iter().map(TokenView::from).collect();
    Ok(no_store(axum::Json(views)))
}

/// The body of `POST /api/v1/tokens`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// What it may do (`admin` only for administrators).
    #[schema(schema_with = scope_list_schema)]
    scopes: Vec<String>,
    /// Lifetime in days, 1–366.
    #[schema(minimum = 1, maximum = 366)]
    days: i64,
}

/// A new token: the secret is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The bearer token (`fcrm_…`); only its hash is kept.
    token: String,
    /// Its record.
    record: TokenView,
}

/// `POST /api/v1/tokens`: creates an API token for the caller, from a browser session only (a
/// token cannot mint tokens). Audited. 201.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    params(CsrfHeader),
    request_body = NewToken,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Created; the secret is in the body, once.", body = CreatedToken),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Called with a token, before the password change, or without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn create_token(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<Response, ApiError> {
    password_settled(&principal)?;
    if principal.session_id_hash().is_none() {
        return Err(ApiError::forbidden(
            "API tokens are created from a logged-in session, not with another token",
        ));
    }
    let mut scopes = Vec::with_capacity(body.scopes.len());
    for s in &body.scopes {
        scopes.push(Scope::parse(s).map_err(|e| {
            ApiError::validation(vec![crate::problem::FieldError {
                field: "scopes".to_owned(),
                message: e.reason.into_owned(),
            }])
        })?);
    }
    if !(1..=366).contains(&body.days) {
        return Err(ApiError::validation(vec![crate::problem::FieldError {
            field: "days".to_owned(),
            message: "must be between 1 and 366".to_owned(),
        }]));
    }
    let user = principal.user_id.as_str();
    let (token, record) = state
        .auth
        .create_api_token(
            user,
            &body.name,
            &scopes,
            chrono::Duration::days(body.days),
            user,
            addr.as_deref(),
            chrono::Utc::now(),
        )
        .await?;
    let body = CreatedToken {
        token,
        record: TokenView::from(&record),
    };
    Ok(no_store((StatusCode::CREATED, axum::Json(body))))
}

/// `DELETE /api/v1/tokens/{id}`: revokes one of the caller's tokens (an administrator: anyone's).
/// Audited. 204.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's public id."), CsrfHeader),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The password must be changed first, or without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such unrevoked token of the caller's.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    password_settled(&principal)?;
    let own = state
        .auth
        .api_tokens(principal.user_id.as_str())
        .await?
        .iter()
        .any(|t| t.token_id == id);
    let admin = principal.role == StaffRole::Admin && principal.allows(Scope::Admin);
    if !(own || admin) {
        return Err(ApiError::not_found());
    }
    let revoked = state
        .auth
        .revoke_api_token(
            &id,
            principal.user_id.as_str(),
            addr.as_deref(),
            chrono::Utc::now(),
        )
        .await?;
    if revoked {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found())
    }
}

/// `GET /api/v1/branches`: the organisation tree (every authenticated user: it names no
/// customer).
#[utoipa::path(
    get,
    path = "/api/v1/branches",
    tag = "organisation",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Every branch, by code.", body = Vec<BranchView>),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The password must be changed first.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn list_branches(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    password_settled(&principal)?;
    let branches = state
        .store
        .branches()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let views: Vec<BranchView> = branches.iter().map(BranchView::from).collect();
    Ok(axum::Json(views).into_response())
}

/// `POST /api/v1/branches`: opens a branch under an existing parent of a higher level
/// (administrators; audited). 201.
#[utoipa::path(
    post,
    path = "/api/v1/branches",
    tag = "organisation",
    params(CsrfHeader),
    request_body = NewBranch,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Opened.", body = BranchView),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 409, description = "The branch code is taken.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a place in the tree that breaks it (no such parent, a parent not above it, a second head office).", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn create_branch(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    ApiJson(body): ApiJson<NewBranch>,
) -> Result<Response, ApiError> {
    let caller = super::caller(&principal, addr.as_deref());
    let created = branches::create(state.store.as_ref(), &caller, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

/// `PATCH /api/v1/branches/{id}`: renames a branch, moves it (with its subtree) or changes its
/// level (administrators; audited with before and after). A move changes branch managers'
/// scope from the next request.
#[utoipa::path(
    patch,
    path = "/api/v1/branches/{id}",
    tag = "organisation",
    params(("id" = String, Path, description = "Branch code."), CsrfHeader),
    request_body = BranchPatch,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The branch as changed.", body = BranchView),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such branch.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a change that breaks the tree (a loop, a parent not above it, children no longer below it).", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn update_branch(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<BranchPatch>,
) -> Result<Response, ApiError> {
    let caller = super::caller(&principal, addr.as_deref());
    let updated = branches::update(state.store.as_ref(), &caller, &id, &body).await?;
    Ok(axum::Json(updated).into_response())
}

/// `GET /api/v1/users`: every member of staff (administrators).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "organisation",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Staff, by user id.", body = Vec<StaffView>),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn list_users(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
) -> Result<Response, ApiError> {
    let caller = super::caller(&principal, addr.as_deref());
    let users = staff::list(&state.auth, &caller).await?;
    Ok(no_store(axum::Json(users)))
}

/// `POST /api/v1/users`: creates a member of staff with a one-time password, shown once
/// (administrators; audited). 201.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "organisation",
    params(CsrfHeader),
    request_body = NewStaff,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Created; the one-time password is in the body, once.", body = StaffCredentials),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 409, description = "The user id is taken.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn create_user(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    ApiJson(body): ApiJson<NewStaff>,
) -> Result<Response, ApiError> {
    let caller = super::caller(&principal, addr.as_deref());
    let created = staff::create(state.store.as_ref(), &state.auth, &caller, &body).await?;
    Ok(no_store((StatusCode::CREATED, axum::Json(created))))
}

/// `PATCH /api/v1/users/{id}`: changes a member of staff's name, branch or role
/// (administrators; audited with before and after).
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "organisation",
    params(("id" = String, Path, description = "User id."), CsrfHeader),
    request_body = StaffPatch,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The user as changed.", body = StaffView),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such user.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 409, description = "The last administrator would lose the role.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn update_user(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StaffPatch>,
) -> Result<Response, ApiError> {
    let caller = super::caller(&principal, addr.as_deref());
    let updated = staff::update(state.store.as_ref(), &state.auth, &caller, &id, &body).await?;
    Ok(no_store(axum::Json(updated)))
}

/// `POST /api/v1/users/{id}/password-reset`: a new one-time password for the user, shown
/// once; their sessions end (administrators; audited).
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/password-reset",
    tag = "organisation",
    params(("id" = String, Path, description = "User id."), CsrfHeader),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The new one-time password, once.", body = StaffCredentials),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such user.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = super::caller(&principal, addr.as_deref());
    let reset = staff::reset_password(&state.auth, &caller, &id).await?;
    Ok(no_store(axum::Json(reset)))
}
