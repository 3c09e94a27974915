//! A customer's holdings, transactions, interactions and consents
//! (`fincrm_service::activity`).

use super::{CsrfHeader, caller, no_store};
use crate::AppState;
use crate::authn::{Authenticated, ClientAddr};
use crate::json::{ApiJson, ApiQuery};
use crate::problem::{ApiError, ProblemBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fincrm_service::activity::{
    self, ConsentView, Consents, InteractionPage, NewConsent, NewInteraction, TimePageParams,
    TransactionPage,
};
use fincrm_service::customers::{HoldingView, InteractionView};

/// `GET /api/v1/customers/{id}/holdings`: the customer's holdings with balances.
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}/holdings",
    tag = "customers",
    params(("id" = String, Path, description = "Customer number.")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Holdings, account numbers masked.", body = Vec<HoldingView>),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (e.g. the password must be changed first).", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn list_holdings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let holdings = activity::holdings(state.store.as_ref(), &caller, &id).await?;
    Ok(no_store(axum::Json(holdings)))
}

/// `GET /api/v1/customers/{id}/transactions`: a page of transactions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}/transactions",
    tag = "customers",
    params(("id" = String, Path, description = "Customer number."), TimePageParams),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of transactions.", body = TransactionPage),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn list_transactions(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<TimePageParams>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let page = activity::transactions(state.store.as_ref(), &caller, &id, &params).await?;
    Ok(no_store(axum::Json(page)))
}

/// `GET /api/v1/customers/{id}/interactions`: the contact timeline, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}/interactions",
    tag = "customers",
    params(("id" = String, Path, description = "Customer number."), TimePageParams),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of interactions.", body = InteractionPage),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn list_interactions(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<TimePageParams>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let page = activity::interactions(state.store.as_ref(), &caller, &id, &params).await?;
    Ok(no_store(axum::Json(page)))
}

/// `POST /api/v1/customers/{id}/interactions`: logs a contact (audited). 201.
#[utoipa::path(
    post,
    path = "/api/v1/customers/{id}/interactions",
    tag = "customers",
    params(("id" = String, Path, description = "Customer number."), CsrfHeader),
    request_body = NewInteraction,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Logged.", body = InteractionView),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The role may not change customer data, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn log_interaction(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewInteraction>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let logged = activity::log_interaction(state.store.as_ref(), &caller, &id, &body).await?;
    Ok(no_store((StatusCode::CREATED, axum::Json(logged))))
}

/// `GET /api/v1/customers/{id}/consents`: consents in force and their history.
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}/consents",
    tag = "customers",
    params(("id" = String, Path, description = "Customer number.")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Consents.", body = Consents),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn list_consents(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let consents = activity::consents(state.store.as_ref(), &caller, &id).await?;
    Ok(no_store(axum::Json(consents)))
}

/// `POST /api/v1/customers/{id}/consents`: records a consent granted or withdrawn (audited).
/// 201.
#[utoipa::path(
    post,
    path = "/api/v1/customers/{id}/consents",
    tag = "customers",
    params(("id" = String, Path, description = "Customer number."), CsrfHeader),
    request_body = NewConsent,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Recorded.", body = ConsentView),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The role may not change customer data, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn record_consent(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewConsent>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let recorded = activity::record_consent(state.store.as_ref(), &caller, &id, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(recorded)).into_response())
}
