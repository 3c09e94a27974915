//! The authorisation matrix: every route of `fincrm_http::ROUTES` × every role (and no
//! credentials) × {customer in scope, customer out of scope}, each against an expected status
//! written here independently of the code's tables. A route added to `ROUTES` without an entry
//! in [`expected`] fails this test (SECURITY.md §0.2: test every endpoint, not a hand-picked
//! list).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{IN_SCOPE, OTHER_PASSWORD, OUT_OF_SCOPE, PASSWORD, bank, user_of};
use fincrm_domain::StaffRole;
use fincrm_http::{Access, ROUTES, RouteSpec};

/// Whether `role` may see `customer` (the seed: CA in B1-1 with RM `u_rm` and the agent on its
/// coverage team, CB in B2; the branch manager sits in B1).
fn sees(role: StaffRole, customer: &str) -> bool {
    match role {
        StaffRole::Admin
        | StaffRole::HeadOfficeAnalyst
        | StaffRole::RiskOfficer
        | StaffRole::Auditor
        | StaffRole::Marketing => true,
        StaffRole::BranchManager | StaffRole::RelationshipManager | StaffRole::ServiceAgent => {
            customer == IN_SCOPE
        }
    }
}

fn may_reveal(role: StaffRole) -> bool {
    matches!(
        role,
        StaffRole::Admin
            | StaffRole::Auditor
            | StaffRole::RelationshipManager
            | StaffRole::BranchManager
            | StaffRole::ServiceAgent
    )
}

fn may_write(role: StaffRole) -> bool {
    matches!(
        role,
        StaffRole::Admin
            | StaffRole::BranchManager
            | StaffRole::RelationshipManager
            | StaffRole::ServiceAgent
    )
}

fn admin_only(role: Option<StaffRole>, admin: StatusCode) -> StatusCode {
    match role {
        None => StatusCode::UNAUTHORIZED,
        Some(StaffRole::Admin) => admin,
        Some(_) => StatusCode::FORBIDDEN,
    }
}

/// The status a request must get. Panics for a route it does not know.
fn expected(route: &RouteSpec, role: Option<StaffRole>, customer: &str) -> StatusCode {
    let customer_read = |role: Option<StaffRole>| match role {
        None => StatusCode::UNAUTHORIZED,
        Some(r) if sees(r, customer) => StatusCode::OK,
        Some(_) => StatusCode::NOT_FOUND,
    };
    match (route.method.as_str(), route.path) {
        ("GET", "/health" | "/version" | "/api/v1/openapi.json") => StatusCode::OK,
        // The session: with the role's credentials, or wrong ones without a role. The list
        // routes are scoped, never refused.
        ("POST", "/api/v1/session")
        | (
            "GET",
            "/api/v1/customers"
            | "/api/v1/tokens"
            | "/api/v1/branches"
            | "/api/v1/duplicates"
            | "/api/v1/rules/{kind}",
        ) => match role {
            Some(_) => StatusCode::OK,
            None => StatusCode::UNAUTHORIZED,
        },
        // Each role changes its password to another (in-scope pass) and back (out-of-scope).
        ("DELETE", "/api/v1/session") | ("POST", "/api/v1/session/password") => match role {
            Some(_) => StatusCode::NO_CONTENT,
            None => StatusCode::UNAUTHORIZED,
        },
        (
            "GET",
            "/api/v1/customers/{id}"
            | "/api/v1/customers/{id}/360"
            | "/api/v1/customers/{id}/holdings"
            | "/api/v1/customers/{id}/transactions"
            | "/api/v1/customers/{id}/interactions"
            | "/api/v1/customers/{id}/consents"
            | "/api/v1/customers/{id}/merges",
        ) => customer_read(role),
        // Erasure needs closed accounts: CA has a balance (409), CB has no account (200 once,
        // then it is erased and still 200).
        ("POST", "/api/v1/customers/{id}/erase") => match role {
            None => StatusCode::UNAUTHORIZED,
            Some(r) if !sees(r, customer) => StatusCode::NOT_FOUND,
            Some(StaffRole::Admin) if customer == IN_SCOPE => StatusCode::CONFLICT,
            Some(StaffRole::Admin) => StatusCode::OK,
            Some(_) => StatusCode::FORBIDDEN,
        },
        // Staff administration: administrators only. `{id}` is a customer number: no such user.
        ("GET", "/api/v1/users") | ("PUT", "/api/v1/rules/{kind}") => {
            admin_only(role, StatusCode::OK)
        }
        ("POST", "/api/v1/users" | "/api/v1/branches") => admin_only(role, StatusCode::CREATED),
        ("PATCH", "/api/v1/users/{id}" | "/api/v1/branches/{id}")
        | ("POST", "/api/v1/users/{id}/password-reset") => admin_only(role, StatusCode::NOT_FOUND),
        // Merging a customer into itself: past the scope and role checks, refused as invalid.
        ("POST", "/api/v1/customers/{id}/merge") => match role {
            None => StatusCode::UNAUTHORIZED,
            Some(r) if !sees(r, customer) => StatusCode::NOT_FOUND,
            Some(StaffRole::Admin | StaffRole::BranchManager) => StatusCode::UNPROCESSABLE_ENTITY,
            Some(_) => StatusCode::FORBIDDEN,
        },
        ("POST", "/api/v1/customers/{id}/reveal") => match role {
            None => StatusCode::UNAUTHORIZED,
            Some(r) if !sees(r, customer) => StatusCode::NOT_FOUND,
            Some(r) if may_reveal(r) => StatusCode::OK,
            Some(_) => StatusCode::FORBIDDEN,
        },
        // Creating a customer in the caller's own branch/book (in) or in B2 for another RM (out).
        ("POST", "/api/v1/customers") => match role {
            None => StatusCode::UNAUTHORIZED,
            Some(StaffRole::Admin) => StatusCode::CREATED,
            Some(StaffRole::BranchManager | StaffRole::RelationshipManager)
                if customer == IN_SCOPE =>
            {
                StatusCode::CREATED
            }
            Some(_) => StatusCode::FORBIDDEN,
        },
        // The roles that change customer data are the ones that hand over a copy of it.
        ("PATCH", "/api/v1/customers/{id}") | ("POST", "/api/v1/customers/{id}/export") => {
            match role {
                None => StatusCode::UNAUTHORIZED,
                Some(r) if !sees(r, customer) => StatusCode::NOT_FOUND,
                Some(r) if may_write(r) => StatusCode::OK,
                Some(_) => StatusCode::FORBIDDEN,
            }
        }
        ("POST", "/api/v1/customers/{id}/interactions" | "/api/v1/customers/{id}/consents") => {
            match role {
                None => StatusCode::UNAUTHORIZED,
                Some(r) if !sees(r, customer) => StatusCode::NOT_FOUND,
                Some(r) if may_write(r) => StatusCode::CREATED,
                Some(_) => StatusCode::FORBIDDEN,
            }
        }
        // Tokens are minted from sessions only; the matrix calls with tokens.
        ("POST", "/api/v1/tokens") => match role {
            None => StatusCode::UNAUTHORIZED,
            Some(_) => StatusCode::FORBIDDEN,
        },
        // `{id}` is a customer number here: no token or merge has it.
        ("DELETE", "/api/v1/tokens/{id}") | ("POST", "/api/v1/merges/{id}/undo") => match role {
            None => StatusCode::UNAUTHORIZED,
            Some(_) => StatusCode::NOT_FOUND,
        },
        (m, p) => panic!("no expectation for route {m} {p}: add it to the matrix"),
    }
}

fn request(
    route: &RouteSpec,
    role: Option<StaffRole>,
    customer: &str,
    token: Option<&str>,
) -> Request<Body> {
    let path = route
        .path
        .replace("{id}", customer)
        .replace("{kind}", "tiers");
    let mut req = Request::builder().method(route.method.clone()).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match (route.method.as_str(), route.path) {
        ("POST", "/api/v1/session") => {
            let (user, password) = match role {
                Some(r) => (user_of(r), PASSWORD),
                None => (user_of(StaffRole::Admin), "Wrong-Password-99!"),
            };
            Some(serde_json::json!({ "user_id": user, "password": password }))
        }
        ("POST", "/api/v1/customers/{id}/reveal") => Some(serde_json::json!({
            "field": "phone",
            "reason": "customer called to confirm the number",
        })),
        ("POST", "/api/v1/session/password") => Some(if customer == IN_SCOPE {
            serde_json::json!({ "current": PASSWORD, "new": OTHER_PASSWORD })
        } else {
            serde_json::json!({ "current": OTHER_PASSWORD, "new": PASSWORD })
        }),
        ("POST", "/api/v1/customers") => {
            let tag = role.map_or("anon", StaffRole::as_str);
            Some(if customer == IN_SCOPE {
                serde_json::json!({ "id": format!("N-{tag}-in"), "kind": "individual", "name": "新客户" })
            } else {
                serde_json::json!({
                    "id": format!("N-{tag}-out"), "kind": "individual", "name": "新客户",
                    "branch_id": "B2", "primary_rm": "u_elsewhere",
                })
            })
        }
        ("PATCH", "/api/v1/customers/{id}") => Some(serde_json::json!({ "tags": ["matrix"] })),
        ("POST", "/api/v1/users") => Some(serde_json::json!({
            "id": format!("new-{}-{customer}", role.map_or("anon", StaffRole::as_str)),
            "name": "新员工", "branch_id": "B1", "role": "service_agent",
        })),
        ("PATCH", "/api/v1/users/{id}" | "/api/v1/branches/{id}") => {
            Some(serde_json::json!({ "name": "改名" }))
        }
        ("POST", "/api/v1/branches") => Some(serde_json::json!({
            "id": format!("NB-{}-{customer}", role.map_or("anon", StaffRole::as_str)),
            "name": "新支行", "parent": "B1", "level": "sub_branch",
        })),
        ("PUT", "/api/v1/rules/{kind}") => Some(serde_json::json!({ "grace_days": 60 })),
        ("POST", "/api/v1/customers/{id}/export" | "/api/v1/customers/{id}/erase") => {
            Some(serde_json::json!({ "reason": "customer's written request, ID checked" }))
        }
        ("POST", "/api/v1/customers/{id}/merge") => Some(serde_json::json!({
            "into": customer, "reason": "matrix: itself",
        })),
        ("POST", "/api/v1/customers/{id}/interactions") => Some(serde_json::json!({
            "channel": "phone", "kind": "回访", "content": "matrix call",
        })),
        ("POST", "/api/v1/customers/{id}/consents") => Some(serde_json::json!({
            "purpose": "marketing", "granted": true,
        })),
        ("POST", "/api/v1/tokens") => Some(serde_json::json!({
            "name": "matrix", "scopes": ["customers:read"], "days": 1,
        })),
        _ => None,
    };
    match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    }
}

#[tokio::test]
async fn every_route_answers_every_role_as_expected() {
    let bank = bank().await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for route in ROUTES {
        let roles = std::iter::once(None).chain(StaffRole::ALL.iter().copied().map(Some));
        for role in roles {
            for customer in [IN_SCOPE, OUT_OF_SCOPE] {
                let want = expected(route, role, customer);
                // The login route is public: no token; everything else with the role's token.
                let token = match (route.access, role) {
                    (Access::Authenticated, Some(r)) => Some(bank.tokens[&r].as_str()),
                    _ => None,
                };
                let res = bank.send(request(route, role, customer, token)).await;
                let got = res.status();
                if got.is_client_error() || got.is_server_error() {
                    assert_eq!(
                        res.headers()[header::CONTENT_TYPE],
                        "application/problem+json",
                        "{} {} {role:?} {customer}",
                        route.method,
                        route.path
                    );
                }
                if got != want {
                    failures.push(format!(
                        "{} {} as {role:?} on {customer}: expected {want}, got {got}",
                        route.method, route.path
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "matrix failures:\n{}",
        failures.join("\n")
    );
    assert_eq!(checked, ROUTES.len() * 9 * 2);
}

#[test]
fn public_routes_are_only_health_version_openapi_and_login() {
    let public: Vec<(Method, &str)> = ROUTES
        .iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| (r.method.clone(), r.path))
        .collect();
    assert_eq!(
        public,
        [
            (Method::GET, "/health"),
            (Method::GET, "/version"),
            (Method::GET, "/api/v1/openapi.json"),
            (Method::POST, "/api/v1/session"),
        ]
    );
}

#[test]
#[should_panic(expected = "no expectation for route")]
fn a_route_without_an_expectation_fails_the_matrix() {
    let unknown = RouteSpec {
        method: Method::GET,
        path: "/api/v1/not-in-the-matrix",
        access: Access::Authenticated,
        handler: ROUTES[0].handler,
    };
    expected(&unknown, None, IN_SCOPE);
}
