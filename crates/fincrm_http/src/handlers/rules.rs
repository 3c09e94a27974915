//! The value-tier and lifecycle rules in force, and new versions of them
//! (`fincrm_service::rules`): what `fincrm rules show|set` does, with the caller as the actor.

use super::{CsrfHeader, no_store};
use crate::AppState;
use crate::authn::{Authenticated, ClientAddr};
use crate::json::ApiJson;
use crate::problem::{ApiError, FieldError, ProblemBody};
use axum::extract::{Path, State};
use axum::response::Response;
use fincrm_domain::StaffRole;
use fincrm_domain::auth::Scope;
use fincrm_service::rules::{self, RulesError};
use serde::Serialize;

/// A rule set and its version (0: the built-in defaults, never saved).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RuleSetView {
    /// `tiers` or `lifecycle`.
    kind: String,
    /// The version in force.
    version: i64,
    /// The rules (the shape of `fincrm rules show`).
    #[schema(value_type = Object)]
    rules: serde_json::Value,
}

fn rules_error(e: RulesError) -> ApiError {
    match e {
        RulesError::Invalid { reason, .. } => ApiError::validation(vec![FieldError {
            field: "rules".to_owned(),
            message: reason,
        }]),
        RulesError::Store(e) => ApiError::internal(&e),
    }
}

async fn current(state: &AppState, kind: &str) -> Result<RuleSetView, ApiError> {
    let (version, rules) = match kind {
        "tiers" => {
            let (v, r) = rules::tier_rules(state.store.as_ref())
                .await
                .map_err(rules_error)?;
            (
                v,
                serde_json::to_value(r).map_err(|e| ApiError::internal(&e))?,
            )
        }
        "lifecycle" => {
            let (v, r) = rules::lifecycle_rules(state.store.as_ref())
                .await
                .map_err(rules_error)?;
            (
                v,
                serde_json::to_value(r).map_err(|e| ApiError::internal(&e))?,
            )
        }
        _ => return Err(ApiError::not_found()),
    };
    Ok(RuleSetView {
        kind: kind.to_owned(),
        version,
        rules,
    })
}

/// `GET /api/v1/rules/{kind}`: the `tiers` or `lifecycle` rules in force.
#[utoipa::path(
    get,
    path = "/api/v1/rules/{kind}",
    tag = "rules",
    params(("kind" = String, Path, description = "`tiers` or `lifecycle`.")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The rules in force and their version.", body = RuleSetView),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "The password must be changed first.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such kind of rules.", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn get_rules(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(kind): Path<String>,
) -> Result<Response, ApiError> {
    super::admin::password_settled(&principal)?;
    Ok(no_store(axum::Json(current(&state, &kind).await?)))
}

/// `PUT /api/v1/rules/{kind}`: saves the body as the next version of the rules
/// (administrators; validated; audited with the caller as the actor). The next analytics run
/// uses it.
#[utoipa::path(
    put,
    path = "/api/v1/rules/{kind}",
    tag = "rules",
    params(("kind" = String, Path, description = "`tiers` or `lifecycle`."), CsrfHeader),
    request_body(content = Object, description = "The whole rule set, as `GET` returns it under `rules` (missing keys take the defaults)."),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Saved; the new version.", body = RuleSetView),
        (status = 400, description = "Malformed JSON.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or a cookie caller without `X-CSRF-Token`.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 404, description = "No such kind of rules.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body.", body = ProblemBody<'static>, content_type = "application/problem+json"),
        (status = 422, description = "The rules are invalid (the reason names the key).", body = ProblemBody<'static>, content_type = "application/problem+json"),
    ),
)]
pub async fn put_rules(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientAddr(_addr): ClientAddr,
    Path(kind): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    super::admin::password_settled(&principal)?;
    if principal.role != StaffRole::Admin || !principal.allows(Scope::Admin) {
        return Err(ApiError::forbidden("only administrators change rules"));
    }
    if !body.is_object() {
        return Err(ApiError::validation(vec![FieldError {
            field: "rules".to_owned(),
            message: "must be a JSON object".to_owned(),
        }]));
    }
    let text = body.to_string();
    let actor = principal.user_id.as_str();
    match kind.as_str() {
        "tiers" => rules::save_tier_rules(state.store.as_ref(), &text, actor).await,
        "lifecycle" => rules::save_lifecycle_rules(state.store.as_ref(), &text, actor).await,
        _ => return Err(ApiError::not_found()),
    }
    .map_err(rules_error)?;
    Ok(no_store(axum::Json(current(&state, &kind).await?)))
}
