#![allow(
    dead_code,
    reason = "shared by several test binaries, each using a part of it"
)]

//! A small bank for the API tests: HO → B1 → B1-1, and B2; one user of every role; customer
//! `CA` in B1-1 (primary RM `u_rm`, the service agent on its coverage team) and `CB` in B2.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use chrono::{Duration, TimeZone as _, Utc};
use fincrm_domain::{
    Branch, BranchLevel, Coverage, CoverageRole, Currency, Customer, Direction, Holding,
    HoldingStatus, IdentityDocument, MobilePhone, Money, ProductType, ResidentId, StaffRole,
    Transaction, User,
};
use fincrm_http::{AppState, router};
use fincrm_service::auth::{Auth, AuthConfig, HashParams, Scope};
use fincrm_store::{Store, tables};
use fincrm_store_sqlite::SqliteStore;
use http_body_util::BodyExt as _;
use std::collections::HashMap;
use std::sync::Arc;
use tower::ServiceExt as _;

pub const PASSWORD: &str = "Matrix-Pass-2026!";
/// What the matrix changes the password to, and back from.
pub const OTHER_PASSWORD: &str = "Matrix-Other-2026?";
pub const IN_SCOPE: &str = "CA";
pub const OUT_OF_SCOPE: &str = "CB";
pub const CA_ID_NUMBER: &str = "500103195701208679";
pub const CA_PHONE: &str = "13273878287";
pub const CA_ADDRESS: &str = "杭州市西湖区学府路808号2单元";
pub const CA_EMAIL: &str = "guo.donglan@example.com";
pub const CA_ACCOUNT: &str = "6222624244768538";

pub struct Bank {
    pub app: Router,
    pub store: SqliteStore,
    /// A bearer token per role.
    pub tokens: HashMap<StaffRole, String>,
    _dir: tempfile::TempDir,
}

/// The user id of the member of staff with `role`.
pub fn user_of(role: StaffRole) -> String {
    format!("u_{}", role.as_str())
}

fn branch(id: &str, parent: Option<&str>, level: BranchLevel) -> Branch {
    Branch {
        id: id.parse().unwrap(),
        name: format!("branch {id}"),
        parent: parent.map(|p| p.parse().unwrap()),
        level,
    }
}

fn home_branch(role: StaffRole) -> &'static str {
    match role {
        StaffRole::BranchManager => "B1",
        StaffRole::RelationshipManager | StaffRole::ServiceAgent => "B1-1",
        _ => "HO",
    }
}

#[expect(clippy::too_many_lines, reason = "one seed, read top to bottom")]
pub async fn bank() -> Bank {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("api.db")).await.unwrap();
    store.migrate().await.unwrap();
    let staff: Vec<User> = StaffRole::ALL
        .iter()
        .map(|&role| User {
            id: user_of(role).parse().unwrap(),
            name: format!("staff {}", role.as_str()),
            branch_id: home_branch(role).parse().unwrap(),
            role,
        })
        .collect();
    let mut ca = Customer::individual(IN_SCOPE.parse().unwrap(), "郭东兰".to_owned());
    ca.document = Some(IdentityDocument::ResidentId(
        ResidentId::parse(CA_ID_NUMBER).unwrap(),
    ));
    ca.phone = Some(MobilePhone::parse(CA_PHONE).unwrap());
    ca.address = Some(CA_ADDRESS.to_owned());
    ca.email = Some(CA_EMAIL.to_owned());
    ca.branch_id = Some("B1-1".parse().unwrap());
    ca.primary_rm = Some(user_of(StaffRole::RelationshipManager).parse().unwrap());
    let mut cb = Customer::individual(OUT_OF_SCOPE.parse().unwrap(), "王小明".to_owned());
    cb.phone = Some(MobilePhone::parse("13912345678").unwrap());
    cb.branch_id = Some("B2".parse().unwrap());
    cb.primary_rm = Some("u_elsewhere".parse().unwrap());
    let holding = Holding {
        id: CA_ACCOUNT.parse().unwrap(),
        customer_id: ca.id.clone(),
        product_code: "DEP001".parse().unwrap(),
        product_type: ProductType::Deposit,
        balance: Money::new(1_234_500, Currency::Cny),
        limit: None,
        opened_on: None,
        matures_on: None,
        status: HoldingStatus::Active,
    };
    let txn = Transaction {
        id: "T1".parse().unwrap(),
        customer_id: ca.id.clone(),
        holding_id: holding.id.clone(),
        at: Utc.with_ymd_and_hms(2026, 1, 5, 2, 0, 0).single().unwrap(),
        amount: Money::new(10_000, Currency::Cny),
        direction: Direction::Debit,
        channel: Some("ATM".to_owned()),
        counterparty: None,
        kind: None,
        memo: None,
    };
    store
        .write(
            None,
            &[
                tables::branches(&[
                    branch("HO", None, BranchLevel::HeadOffice),
                    branch("B1", Some("HO"), BranchLevel::Branch),
                    branch("B1-1", Some("B1"), BranchLevel::SubBranch),
                    branch("B2", Some("HO"), BranchLevel::Branch),
                ]),
                tables::staff(&staff),
                tables::customers(&[ca, cb]),
                tables::coverage(&[Coverage {
                    customer_id: IN_SCOPE.parse().unwrap(),
                    user_id: user_of(StaffRole::ServiceAgent).parse().unwrap(),
                    role: CoverageRole::CoRm,
                }]),
                tables::holdings(&[holding]),
                tables::transactions(&[txn]),
            ],
        )
        .await
        .unwrap();
    let config = AuthConfig {
        hash: HashParams::fast_for_tests(),
        ..AuthConfig::default()
    };
    let auth = Auth::new(Arc::new(store.clone()), config);
    let now = Utc::now();
    let mut tokens = HashMap::new();
    for &role in StaffRole::ALL {
        let user = user_of(role);
        auth.set_password(&user, PASSWORD, false, "test", None, now)
            .await
            .unwrap();
        let (token, _) = auth
            .create_api_token(
                &user,
                "matrix",
                if role == StaffRole::Admin {
                    &[Scope::CustomersRead, Scope::CustomersWrite, Scope::Admin][..]
                } else {
                    &[Scope::CustomersRead, Scope::CustomersWrite][..]
                },
                Duration::days(30),
                "test",
                None,
                now,
            )
            .await
            .unwrap();
        tokens.insert(role, token);
    }
    let app = router(AppState::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(auth),
    ));
    Bank {
        app,
        store,
        tokens,
        _dir: dir,
    }
}

impl Bank {
    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(req).await.unwrap()
    }
}

/// The body of a response as JSON (`Null` when empty).
pub async fn json(res: Response<Body>) -> serde_json::Value {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    }
}

/// The body of a response as text.
pub async fn text(res: Response<Body>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A `GET` with a bearer token.
pub fn get(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// A JSON `POST`, with a bearer token when given.
pub fn post_json(path: &str, token: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    req.body(body.into()).unwrap()
}

/// Sends `req`, checks it is a problem+json of `status`, and returns the problem.
pub async fn assert_problem(
    bank: &Bank,
    req: Request<Body>,
    status: StatusCode,
) -> serde_json::Value {
    let res = bank.send(req).await;
    assert_eq!(res.status(), status);
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let body = json(res).await;
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:fincrm:problem:")
    );
    assert!(body["title"].is_string());
    assert!(body["detail"].is_string());
    body
}

/// A JSON `PATCH` with a bearer token.
pub fn patch_json(path: &str, token: &str, body: &serde_json::Value) -> Request<Body> {
    Request::patch(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap()
}
