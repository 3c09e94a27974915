//! The OpenAPI document (`fincrm_http::openapi`) against the committed `docs/openapi.json`, so
//! every change to the API's surface shows up in review; and against [`ROUTES`], so an endpoint
//! without a `#[utoipa::path]` annotation fails.
//!
//! To update the committed copy after an intended change:
//! `FINCRM_UPDATE_OPENAPI=1 cargo test -p fincrm_http --test openapi`, then commit
//! `docs/openapi.json`.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fincrm_http::{OPENAPI_PATH, ROUTES};
use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// The document as committed: pretty JSON with a trailing newline.
fn generated() -> String {
    let mut json = serde_json::to_string_pretty(&fincrm_http::openapi()).unwrap();
    json.push('\n');
    json
}

#[test]
fn the_committed_document_is_up_to_date() {
    let path = committed_path();
    let json = generated();
    if std::env::var("FINCRM_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, &json).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == json,
        "docs/openapi.json is not the document the code generates; if the change is intended, \
         run FINCRM_UPDATE_OPENAPI=1 cargo test -p fincrm_http --test openapi and commit \
         docs/openapi.json"
    );
}

#[test]
fn the_document_is_openapi_3_1() {
    let doc = serde_json::to_value(fincrm_http::openapi()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "fincrm");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["cookie"]["type"], "apiKey");
    assert_eq!(schemes["cookie"]["in"], "cookie");
    assert_eq!(schemes["cookie"]["name"], "fincrm_session");
}

#[test]
fn every_route_is_in_the_document() {
    let doc = serde_json::to_value(fincrm_http::openapi()).unwrap();
    let missing: Vec<String> = ROUTES
        .iter()
        .filter(|r| r.path != OPENAPI_PATH)
        .filter(|r| !doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()].is_object())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a #[utoipa::path] annotation listed in fincrm_http::api_doc: {missing:?}"
    );
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        operations,
        ROUTES.len() - 1,
        "the document describes an operation that is not in ROUTES"
    );
}

#[test]
fn authenticated_routes_name_both_security_schemes_and_public_ones_none() {
    let doc = serde_json::to_value(fincrm_http::openapi()).unwrap();
    for route in ROUTES.iter().filter(|r| r.path != OPENAPI_PATH) {
        let op = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        let security = &op["security"];
        match route.access {
            fincrm_http::Access::Public => {
                assert!(security.is_null(), "{} {}", route.method, route.path);
            }
            fincrm_http::Access::Authenticated => assert_eq!(
                *security,
                serde_json::json!([{ "bearer": [] }, { "cookie": [] }]),
                "{} {}",
                route.method,
                route.path
            ),
        }
    }
}

#[tokio::test]
async fn the_document_is_served_without_credentials() {
    let bank = common::bank().await;
    let res = bank
        .send(Request::get(OPENAPI_PATH).body(Body::empty()).unwrap())
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    let body = common::json(res).await;
    assert_eq!(body, serde_json::to_value(fincrm_http::openapi()).unwrap());
}
