//! fincrm's HTTP API: the axum router and its handlers, thin over the service layer.
//!
//! Every route is declared once in [`ROUTES`], which builds the router and which the
//! authorisation matrix test (`tests/authz_matrix.rs`) enumerates: a route without an expected
//! status for every role fails that test. Errors are RFC 9457 problem+json ([`problem`]), JSON
//! bodies go through [`json::ApiJson`], callers authenticate through [`authn::Authenticated`].
//! Request bodies are limited to [`BODY_LIMIT`] bytes and requests to [`REQUEST_TIMEOUT`]; a
//! panicking handler becomes a logged 500 problem. Logins are rate-limited per client address,
//! and the client address is read through trusted proxies only ([`edge`]).
//! The OpenAPI 3.1 document ([`openapi`]) is generated from the handlers' annotations and served
//! at [`OPENAPI_PATH`].

pub mod api_doc;
pub mod authn;
pub mod edge;
pub mod handlers;
pub mod json;
pub mod problem;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::{MethodFilter, MethodRouter, on};
use fincrm_service::auth::Auth;
use fincrm_store::{AuditStore, Store};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use api_doc::openapi;

/// The largest request body accepted (413 above).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The longest a request may take (408 after).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the OpenAPI document is served (public; the one route not described in it).
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The audit trail of the same database.
    pub audit: Arc<dyn AuditStore>,
    /// Authentication over the same database.
    pub auth: Arc<Auth>,
    /// Trusted proxies and the login rate limit.
    pub edge: Arc<edge::EdgeSettings>,
}

impl AppState {
    /// The state over one database's ports, with default edge settings (no trusted proxy).
    pub fn new(store: Arc<dyn Store>, audit: Arc<dyn AuditStore>, auth: Arc<Auth>) -> Self {
        Self {
            store,
            audit,
            auth,
            edge: Arc::new(edge::EdgeSettings::default()),
        }
    }
}

/// Who may call a route at all (what they may then see is the service layer's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, version, login, the OpenAPI document.
    Public,
    /// A valid session (with CSRF token when not `GET`) or bearer token.
    Authenticated,
}

/// One route of the API.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// The method.
    pub method: Method,
    /// The path, axum syntax (`{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Builds the handler for `method`.
    pub handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

/// Every route of the API: the one table the router and the authorisation matrix test share.
pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        method: Method::GET,
        path: "/health",
        access: Access::Public,
        handler: |m| on(m, handlers::health),
    },
    RouteSpec {
        method: Method::GET,
        path: "/version",
        access: Access::Public,
        handler: |m| on(m, handlers::version),
    },
    RouteSpec {
        method: Method::GET,
        path: OPENAPI_PATH,
        access: Access::Public,
        handler: |m| on(m, handlers::openapi_json),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/session",
        access: Access::Public,
        handler: |m| on(m, handlers::login),
    },
    RouteSpec {
        method: Method::DELETE,
        path: "/api/v1/session",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::logout),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/customers/{id}",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::get_customer),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/customers/{id}/360",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::get_customer_360),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/customers/{id}/reveal",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::reveal_customer),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/session/password",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::change_password),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/customers",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::changes::search_customers),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/customers",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::changes::create_customer),
    },
    RouteSpec {
        method: Method::PATCH,
        path: "/api/v1/customers/{id}",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::changes::update_customer),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/customers/{id}/holdings",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::activity::list_holdings),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/customers/{id}/transactions",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::activity::list_transactions),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/customers/{id}/interactions",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::activity::list_interactions),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/customers/{id}/interactions",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::activity::log_interaction),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/customers/{id}/consents",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::activity::list_consents),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/customers/{id}/consents",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::activity::record_consent),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/tokens",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::list_tokens),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/tokens",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::create_token),
    },
    RouteSpec {
        method: Method::DELETE,
        path: "/api/v1/tokens/{id}",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::revoke_token),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/branches",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::list_branches),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/branches",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::create_branch),
    },
    RouteSpec {
        method: Method::PATCH,
        path: "/api/v1/branches/{id}",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::update_branch),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/duplicates",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::merges::list_duplicates),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/customers/{id}/merges",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::merges::list_merges),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/customers/{id}/merge",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::merges::merge_customer),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/merges/{id}/undo",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::merges::undo_merge),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/customers/{id}/export",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::privacy::export_customer),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/customers/{id}/erase",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::privacy::erase_customer),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/users",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::list_users),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/users",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::create_user),
    },
    RouteSpec {
        method: Method::PATCH,
        path: "/api/v1/users/{id}",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::update_user),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/v1/users/{id}/password-reset",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::admin::reset_password),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/v1/rules/{kind}",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::rules::get_rules),
    },
    RouteSpec {
        method: Method::PUT,
        path: "/api/v1/rules/{kind}",
        access: Access::Authenticated,
        handler: |m| on(m, handlers::rules::put_rules),
    },
];

/// The whole HTTP surface, built from [`ROUTES`].
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for spec in ROUTES {
        let filter = MethodFilter::try_from(spec.method.clone())
            .unwrap_or_else(|_| panic!("unsupported method in ROUTES: {}", spec.method));
        router = router.route(spec.path, (spec.handler)(filter));
    }
    router
        .fallback(|| async { problem::ApiError::not_found() })
        // A bug must cost one request a 500 problem (logged), not the connection or the process.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                axum::response::IntoResponse::into_response(problem::ApiError::internal(
                    &"a request handler panicked",
                ))
            },
        ))
        .layer(axum::middleware::from_fn(run_to_completion))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::map_response(problem::problemize))
        .with_state(state)
}

/// Runs the rest of the request in a task of its own, so a client that disconnects cannot
/// cancel it halfway: a database transaction is always committed or rolled back, never
/// abandoned on a pooled connection (sqlx 0.9 can return such a connection to the pool with the
/// transaction still open: transact-rs/sqlx#4393), and a change the server started is finished
/// and audited even if nobody waits for the answer.
async fn run_to_completion(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::spawn(next.run(req)).await {
        Ok(res) => res,
        Err(e) => axum::response::IntoResponse::into_response(problem::ApiError::internal(&e)),
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; requests in flight finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    async fn app() -> (Router, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = fincrm_store_sqlite::SqliteStore::open(&dir.path().join("h.db"))
            .await
            .unwrap();
        let auth = Auth::new(
            Arc::new(store.clone()),
            fincrm_service::auth::AuthConfig::default(),
        );
        (
            router(AppState::new(
                Arc::new(store.clone()),
                Arc::new(store),
                Arc::new(auth),
            )),
            dir,
        )
    }

    #[tokio::test]
    async fn health_reports_the_database() {
        let (app, _dir) = app().await;
        let res = app
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"status":"ok","database":"sqlite"}"#);
    }

    #[tokio::test]
    async fn version_names_the_build() {
        let (app, _dir) = app().await;
        let res = app
            .oneshot(Request::get("/version").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    }
}
