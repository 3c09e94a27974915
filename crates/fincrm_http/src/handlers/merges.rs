//! Duplicate candidates, reversible merges and their lineage (`fincrm_service::merges`).

use super::{CsrfHeader, caller, no_store};
use crate::AppState;
use crate::authn::{Authenticated, ClientAddr};
use crate::json::ApiJson;
use crate::problem::{ApiError, ProblemBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use fincrm_service::merges::{self, DuplicatePair, MergeRequest};
use fincrm_store::MergeRecord;

/// `GET /api/v1/duplicates`: candidate duplicate pairs inside the caller's scope.
#[utoipa::path(
    get,
    path = "/api/v1/duplicates",
    tag = "duplicates",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Candidate pairs, masked.", body = Vec<DuplicatePair>),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (e.g. the password must be changed first).", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn list_duplicates(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let pairs = merges::duplicates(state.store.as_ref(), &caller).await?;
    Ok(no_store(axum::Json(pairs)))
}

/// `POST /api/v1/customers/{id}/merge`: merges this customer into `into` (reversible,
/// audited on both). 201.
#[utoipa::path(
    post,
    path = "/api/v1/customers/{id}/merge",
    tag = "duplicates",
    params(("id" = String, Path, description = "The duplicate's customer number."), CsrfHeader),
    request_body = MergeRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Merged; the lineage record.", body = MergeRecord),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The role may not merge, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "Either customer missing or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 409, description = "Already merged, or others are merged into it.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (itself, kinds differ, reason).", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn merge_customer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MergeRequest>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let record = merges::merge(state.store.as_ref(), &caller, &id, &body).await?;
    Ok(no_store((StatusCode::CREATED, axum::Json(record))))
}

/// `POST /api/v1/merges/{id}/undo`: undoes a merge; both records as before (audited).
#[utoipa::path(
    post,
    path = "/api/v1/merges/{id}/undo",
    tag = "duplicates",
    params(("id" = String, Path, description = "The merge's id."), CsrfHeader),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Undone; the lineage record.", body = MergeRecord),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The role may not merge, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such merge, or a record outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 409, description = "Already undone.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn undo_merge(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let record = merges::undo(state.store.as_ref(), &caller, &id).await?;
    Ok(no_store(axum::Json(record)))
}

/// `GET /api/v1/customers/{id}/merges`: the customer's merge lineage, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}/merges",
    tag = "duplicates",
    params(("id" = String, Path, description = "Customer number.")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Every merge it took part in.", body = Vec<MergeRecord>),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn list_merges(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let lineage = merges::lineage(state.store.as_ref(), &caller, &id).await?;
    Ok(no_store(axum::Json(lineage)))
}
