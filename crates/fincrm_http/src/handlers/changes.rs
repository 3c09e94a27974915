//! Customer search and list, create and update (`fincrm_service::customers::search`,
//! `fincrm_service::customer_changes`).

use super::{CsrfHeader, caller, no_store};
use crate::AppState;
use crate::authn::{Authenticated, ClientAddr};
use crate::json::{ApiJson, ApiQuery};
use crate::problem::{ApiError, ProblemBody};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fincrm_service::customer_changes::{self, CustomerPatch, NewCustomer};
use fincrm_service::customers::{self, CustomerPage, CustomerView, SearchParams};

/// `GET /api/v1/customers`: search by customer number, ID number, phone or name (Chinese or
/// pinyin), or list the customers in scope; filtered, in customer-number pages.
#[utoipa::path(
    get,
    path = "/api/v1/customers",
    tag = "customers",
    params(SearchParams),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of masked customers.", body = CustomerPage),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (e.g. the password must be changed first).", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn search_customers(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let page =
        customers::search(state.store.as_ref(), state.audit.as_ref(), &caller, &params).await?;
    Ok(no_store(axum::Json(page)))
}

/// `POST /api/v1/customers`: creates a customer in the caller's scope (audited). 201 with
/// `Location`.
#[utoipa::path(
    post,
    path = "/api/v1/customers",
    tag = "customers",
    params(CsrfHeader),
    request_body = NewCustomer,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Created.", body = CustomerView,
            headers(("Location" = String, description = "The new customer's URL."))),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The role may not create customers, the customer would be outside the caller's scope, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 409, description = "The number or the ID document is in use.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn create_customer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    ApiJson(body): ApiJson<NewCustomer>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let created = customer_changes::create(state.store.as_ref(), &caller, &body).await?;
    let location = HeaderValue::from_str(&format!("/api/v1/customers/{}", created.id))
        .map_err(|e| ApiError::internal(&e))?;
    let mut res = no_store((StatusCode::CREATED, axum::Json(created)));
    res.headers_mut().insert(header::LOCATION, location);
    Ok(res)
}

/// `PATCH /api/v1/customers/{id}`: changes the fields given (audited with before and after).
#[utoipa::path(
    patch,
    path = "/api/v1/customers/{id}",
    tag = "customers",
    params(("id" = String, Path, description = "Customer number."), CsrfHeader),
    request_body = CustomerPatch,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The customer as changed.", body = CustomerView),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The role may not change customers, the change would move the customer out of scope, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or outside the caller's scope.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 409, description = "The record was merged into another.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn update_customer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CustomerPatch>,
) -> Result<Response, ApiError> {
    let caller = caller(&principal, addr.as_deref());
    let updated = customer_changes::update(state.store.as_ref(), &caller, &id, &body).await?;
    Ok(no_store(axum::Json(updated)).into_response())
}
