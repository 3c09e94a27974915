//! The OpenAPI 3.1 document of the API, generated from the code: the `#[utoipa::path]`
//! annotations of [`crate::handlers`] and the `ToSchema` derives of the request and response
//! types. Served at [`crate::OPENAPI_PATH`]; `tests/openapi.rs` checks it against the committed
//! `docs/openapi.json` and that every route of [`crate::ROUTES`] is in it.

use crate::handlers;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The name of the bearer-token security scheme in the document (the handlers' `security(…)`
/// name it literally).
pub const BEARER_SCHEME: &str = "bearer";

/// The name of the session-cookie security scheme in the document.
pub const COOKIE_SCHEME: &str = "cookie";

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        handlers::health,
        handlers::version,
        handlers::login,
        handlers::logout,
        handlers::get_customer,
        handlers::get_customer_360,
        handlers::reveal_customer,
        handlers::admin::change_password,
        handlers::changes::search_customers,
        handlers::changes::create_customer,
        handlers::changes::update_customer,
        handlers::activity::list_holdings,
        handlers::activity::list_transactions,
        handlers::activity::list_interactions,
        handlers::activity::log_interaction,
        handlers::activity::list_consents,
        handlers::activity::record_consent,
        handlers::admin::list_tokens,
        handlers::admin::create_token,
        handlers::admin::revoke_token,
        handlers::admin::list_branches,
        handlers::admin::create_branch,
        handlers::admin::update_branch,
        handlers::merges::list_duplicates,
        handlers::merges::list_merges,
        handlers::merges::merge_customer,
        handlers::merges::undo_merge,
        handlers::privacy::export_customer,
        handlers::privacy::erase_customer,
        handlers::admin::list_users,
        handlers::admin::create_user,
        handlers::admin::update_user,
        handlers::admin::reset_password,
        handlers::rules::get_rules,
        handlers::rules::put_rules,
    ),
    tags(
        (name = "system", description = "Health and version."),
        (name = "session", description = "Logging in and out."),
        (name = "customers", description = "Customer search, masked views, audited reveals and changes, holdings, transactions, interactions, consents."),
        (name = "tokens", description = "The caller's API tokens."),
        (name = "rules", description = "Value-tier and lifecycle rules, versioned (issue #4)."),
        (name = "privacy", description = "The personal-information copy and erasure (PIPL art. 45, 47)."),
        (name = "duplicates", description = "Candidate duplicates, reversible merges and their lineage."),
        (name = "organisation", description = "The branch tree; staff and their roles (administrators)."),
    )
)]
struct ApiDoc;

/// The OpenAPI 3.1 document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    "fincrm".clone_into(&mut doc.info.title);
    env!("CARGO_PKG_VERSION").clone_into(&mut doc.info.version);
    doc.info.description = Some(
        "fincrm's HTTP API. Errors are RFC 9457 problem details (`application/problem+json`). \
         Callers authenticate with a bearer token (`Authorization: Bearer fcrm_…`) or the session \
         cookie from `POST /api/v1/session`; cookie callers send the session's CSRF token as \
         `X-CSRF-Token` on every request that is not `GET`, `HEAD` or `OPTIONS`."
            .to_owned(),
    );
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("fcrm_…")
                .description(Some("An API token (`fcrm_…`)."))
                .build(),
        ),
    );
    components.add_security_scheme(
        COOKIE_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::authn::SESSION_COOKIE,
            "The session cookie set by `POST /api/v1/session`; state-changing requests also need \
             the session's CSRF token in `X-CSRF-Token`.",
        ))),
    );
    doc
}
