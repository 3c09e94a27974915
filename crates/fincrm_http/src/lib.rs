//! fincrm's HTTP API: the axum router and its handlers, thin over the service layer.
//!
//! For now: health and version. The customer API, authentication and the security core come
//! with issue #3; they mount under `/api/v1` in [`router`].

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fincrm_store::{Backend, Store};
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .with_state(state)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: Backend,
}

/// `GET /health`: 200 when the database answers, 503 when it does not.
async fn health(State(state): State<AppState>) -> Response {
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
async fn version() -> axum::Json<Version> {
    axum::Json(Version {
        name: "fincrm",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Serves `router` on `listener` until `shutdown` resolves; requests in flight finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
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
        (
            router(AppState {
                store: Arc::new(store),
            }),
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
