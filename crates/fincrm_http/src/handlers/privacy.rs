//! A customer's personal-information copy and erasure (`fincrm_service::privacy`).

use super::{CsrfHeader, caller, no_store};
use crate::AppState;
use crate::authn::{Authenticated, ClientAddr};
use crate::json::ApiJson;
use crate::problem::{ApiError, ProblemBody};
use axum::extract::{Path, State};
use axum::response::Response;
use fincrm_service::customers::CustomerView;
use fincrm_service::privacy::{self, PersonalDataCopy, PrivacyRequest};

/// `POST /api/v1/customers/{id}/export`: the customer's personal-information copy, in clear,
/// audited with the reason before it is returned.
#[utoipa::path(
    post,
    path = "/api/v1/customers/{id}/export",
    tag = "privacy",
    params(("id" = String, Path, description = "Customer number."), CsrfHeader),
    request_body = PrivacyRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The copy.", body = PersonalDataCopy),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The role may not export, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid reason.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn export_customer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PrivacyRequest>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let copy = privacy::export(state.store.as_ref(), &caller, &id, &body).await?;
    Ok(no_store(axum::Json(copy)))
}

/// `POST /api/v1/customers/{id}/erase`: anonymises the customer (administrators; accounts
/// must be closed first); records kept by law stay.
#[utoipa::path(
    post,
    path = "/api/v1/customers/{id}/erase",
    tag = "privacy",
    params(("id" = String, Path, description = "Customer number."), CsrfHeader),
    request_body = PrivacyRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The record as erased.", body = CustomerView),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 409, description = "Accounts with a balance are still open.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid reason.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn erase_customer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PrivacyRequest>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let erased = privacy::erase(state.store.as_ref(), &caller, &id, &body).await?;
    Ok(no_store(axum::Json(erased)))
}
