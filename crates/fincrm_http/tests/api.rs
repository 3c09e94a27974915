//! The customer API end to end over a temporary SQLite store: masking, audited reveal, the
//! session cookie with CSRF, and problem+json for every kind of bad request (never 500).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{
    Bank, CA_ACCOUNT, CA_ADDRESS, CA_EMAIL, CA_ID_NUMBER, CA_PHONE, IN_SCOPE, OUT_OF_SCOPE,
    PASSWORD, assert_problem, bank, get, json, post_json, text, user_of,
};
use fincrm_domain::StaffRole;
use fincrm_store::AuditStore as _;

fn rm(bank: &Bank) -> &str {
    &bank.tokens[&StaffRole::RelationshipManager]
}

#[tokio::test]
async fn customer_reads_are_masked_and_audited() {
    let bank = bank().await;
    let res = bank
        .send(get(&format!("/api/v1/customers/{IN_SCOPE}"), rm(&bank)))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let body = text(res).await;
    for secret in [CA_ID_NUMBER, CA_PHONE, CA_ADDRESS, CA_EMAIL] {
        assert!(!body.contains(secret), "{body}");
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["id_number"], "**************8679");
    assert_eq!(v["phone"], "132****8287");
    assert_eq!(v["email"], "g***@example.com");
    assert_eq!(v["address"], "杭州市西湖区**********");
    assert_eq!(v["name"], "郭东兰");

    let res = bank
        .send(get(&format!("/api/v1/customers/{IN_SCOPE}/360"), rm(&bank)))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = text(res).await;
    for secret in [CA_ID_NUMBER, CA_PHONE, CA_ACCOUNT] {
        assert!(!body.contains(secret), "{body}");
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["holdings"][0]["account"], "************8538");
    assert_eq!(v["transactions"][0]["account"], "************8538");
    assert_eq!(v["transactions"].as_array().unwrap().len(), 1);
    assert!(v["scores"].as_array().unwrap().is_empty());

    let views: Vec<_> = bank
        .store
        .records(1, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.action == "customer.view")
        .collect();
    assert_eq!(views.len(), 2);
    for r in &views {
        assert_eq!(r.entry.actor, user_of(StaffRole::RelationshipManager));
        assert_eq!(r.entry.customer_id.as_deref(), Some(IN_SCOPE));
    }
}

#[tokio::test]
async fn reveal_is_audited_with_its_reason_before_the_value_is_returned() {
    let bank = bank().await;
    let path = format!("/api/v1/customers/{IN_SCOPE}/reveal");
    for (field, value) in [("id_number", CA_ID_NUMBER), ("phone", CA_PHONE)] {
        let body = serde_json::json!({ "field": field, "reason": "KYC refresh call 2026-01" });
        let res = bank
            .send(post_json(&path, Some(rm(&bank)), body.to_string()))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let v = json(res).await;
        assert_eq!(v["field"], field);
        assert_eq!(v["value"], value);
    }
    let reveals: Vec<_> = bank
        .store
        .records(1, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.action == "customer.reveal")
        .collect();
    assert_eq!(reveals.len(), 2);
    assert_eq!(
        reveals[0].entry.reason.as_deref(),
        Some("KYC refresh call 2026-01")
    );
    assert_eq!(reveals[0].entry.customer_id.as_deref(), Some(IN_SCOPE));
    assert!(
        !reveals[0]
            .entry
            .after_json
            .as_deref()
            .unwrap()
            .contains(CA_ID_NUMBER),
        "the audit trail names the field, never the value"
    );
    let summary = fincrm_store::audit::verify(&bank.store, None, 100)
        .await
        .unwrap();
    assert!(summary.is_ok(), "{summary:?}");

    // A role without the permission: 403 (the customer is in its scope, nothing leaks).
    let analyst = &bank.tokens[&StaffRole::HeadOfficeAnalyst];
    let body = serde_json::json!({ "field": "phone", "reason": "curious analyst" });
    assert_problem(
        &bank,
        post_json(&path, Some(analyst), body.to_string()),
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn out_of_scope_reads_exactly_like_a_missing_customer() {
    let bank = bank().await;
    let out = bank
        .send(get(&format!("/api/v1/customers/{OUT_OF_SCOPE}"), rm(&bank)))
        .await;
    let missing = bank.send(get("/api/v1/customers/NO-SUCH", rm(&bank))).await;
    assert_eq!(out.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(text(out).await, text(missing).await);
    let body = assert_problem(
        &bank,
        get(&format!("/api/v1/customers/{OUT_OF_SCOPE}/360"), rm(&bank)),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(body["type"], "urn:fincrm:problem:not-found");
}

#[tokio::test]
async fn missing_or_bad_credentials_get_one_401_problem() {
    let bank = bank().await;
    let path = format!("/api/v1/customers/{IN_SCOPE}");
    let none = Request::get(&path).body(Body::empty()).unwrap();
    let res = bank.send(none).await;
    assert_eq!(
        res.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"fincrm\""
    );
    let none = Request::get(&path).body(Body::empty()).unwrap();
    let b1 = assert_problem(&bank, none, StatusCode::UNAUTHORIZED).await;
    let b2 = assert_problem(
        &bank,
        get(&path, "fcrm_not-a-token"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let basic = Request::get(&path)
        .header(header::AUTHORIZATION, "Basic dTpw")
        .body(Body::empty())
        .unwrap();
    let b3 = assert_problem(&bank, basic, StatusCode::UNAUTHORIZED).await;
    let cookie = Request::get(&path)
        .header(header::COOKIE, "fincrm_session=forged")
        .body(Body::empty())
        .unwrap();
    let b4 = assert_problem(&bank, cookie, StatusCode::UNAUTHORIZED).await;
    assert_eq!(b1, b2);
    assert_eq!(b1, b3);
    assert_eq!(b1, b4);
    assert_eq!(b1["type"], "urn:fincrm:problem:unauthenticated");
}

#[tokio::test]
async fn bad_bodies_are_400_or_422_problems_never_500() {
    let bank = bank().await;
    let path = format!("/api/v1/customers/{IN_SCOPE}/reveal");
    let t = Some(rm(&bank));
    // Malformed JSON.
    assert_problem(
        &bank,
        post_json(&path, t, "{\"field\":"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Invalid UTF-8 inside a string.
    let bytes: Vec<u8> = b"{\"field\":\"phone\",\"reason\":\"\xff\xfe bad\"}".to_vec();
    assert_problem(&bank, post_json(&path, t, bytes), StatusCode::BAD_REQUEST).await;
    // Unknown field.
    let unknown = r#"{"field":"phone","reason":"a good reason","extra":1}"#;
    let body = assert_problem(
        &bank,
        post_json(&path, t, unknown),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("extra"), "{body}");
    // Wrong type, unknown enum value, missing field.
    for bad in [
        r#"{"field":"phone","reason":42}"#,
        r#"{"field":"salary","reason":"a good reason"}"#,
        r#"{"field":"phone"}"#,
    ] {
        assert_problem(
            &bank,
            post_json(&path, t, bad),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    // A reason too short: 422 naming the field.
    let body = assert_problem(
        &bank,
        post_json(&path, t, r#"{"field":"phone","reason":"x"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "reason");
    // No JSON content type.
    let req = Request::post(&path)
        .header(header::AUTHORIZATION, format!("Bearer {}", rm(&bank)))
        .body(Body::from(r#"{"field":"phone","reason":"a good reason"}"#))
        .unwrap();
    assert_problem(&bank, req, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // Too large.
    let huge = format!(
        r#"{{"field":"phone","reason":"{}"}}"#,
        "x".repeat(fincrm_http::BODY_LIMIT + 1)
    );
    assert_problem(
        &bank,
        post_json(&path, t, huge),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    // Malformed login body, unknown route, wrong method.
    assert_problem(
        &bank,
        post_json(
            "/api/v1/session",
            None,
            r#"{"user_id":"u","password":"p","x":1}"#,
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let req = Request::get("/api/v1/nothing-here")
        .body(Body::empty())
        .unwrap();
    assert_problem(&bank, req, StatusCode::NOT_FOUND).await;
    let req = Request::put("/api/v1/session").body(Body::empty()).unwrap();
    assert_problem(&bank, req, StatusCode::METHOD_NOT_ALLOWED).await;
    // No reveal was recorded by any of these.
    let records = bank.store.records(1, 1000).await.unwrap();
    assert!(records.iter().all(|r| r.entry.action != "customer.reveal"));
}

#[tokio::test]
async fn the_session_cookie_flow_needs_the_csrf_token_for_writes() {
    let bank = bank().await;
    let login = serde_json::json!({
        "user_id": user_of(StaffRole::RelationshipManager),
        "password": PASSWORD,
    })
    .to_string();
    let res = bank
        .send(post_json("/api/v1/session", None, login.clone()))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let set_cookie = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
    let v = json(res).await;
    let csrf = v["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(v["user"]["role"], "relationship_manager");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    // Behind a TLS proxy the cookie is Secure.
    let mut req = post_json("/api/v1/session", None, login);
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let res = bank.send(req).await;
    assert!(
        res.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );

    let with_cookie = |req: axum::http::request::Builder| req.header(header::COOKIE, &cookie);
    let res = bank
        .send(
            with_cookie(Request::get(format!("/api/v1/customers/{IN_SCOPE}")))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let reveal = format!("/api/v1/customers/{IN_SCOPE}/reveal");
    let body = r#"{"field":"email","reason":"send the statement"}"#;
    let req = with_cookie(Request::post(&reveal))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    assert_problem(&bank, req, StatusCode::FORBIDDEN).await;
    let req = with_cookie(Request::post(&reveal))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-csrf-token", "wrong")
        .body(Body::from(body))
        .unwrap();
    assert_problem(&bank, req, StatusCode::FORBIDDEN).await;
    let req = with_cookie(Request::post(&reveal))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-csrf-token", &csrf)
        .body(Body::from(body))
        .unwrap();
    let res = bank.send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["value"], CA_EMAIL);

    // Logout needs the CSRF token too, then the cookie is dead.
    let req = with_cookie(Request::delete("/api/v1/session"))
        .body(Body::empty())
        .unwrap();
    assert_problem(&bank, req, StatusCode::FORBIDDEN).await;
    let req = with_cookie(Request::delete("/api/v1/session"))
        .header("x-csrf-token", &csrf)
        .body(Body::empty())
        .unwrap();
    let res = bank.send(req).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        res.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let req = with_cookie(Request::get(format!("/api/v1/customers/{IN_SCOPE}")))
        .body(Body::empty())
        .unwrap();
    assert_problem(&bank, req, StatusCode::UNAUTHORIZED).await;

    // A wrong password: the generic 401.
    let bad = serde_json::json!({ "user_id": "u_admin", "password": "Not-The-Password-1" });
    let body = assert_problem(
        &bank,
        post_json("/api/v1/session", None, bad.to_string()),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["detail"], "invalid user or password");
}

#[tokio::test]
async fn logins_are_rate_limited_per_client_address() {
    let bank = bank().await;
    let from = |ip: &str| {
        let mut req = post_json(
            "/api/v1/session",
            None,
            serde_json::json!({ "user_id": user_of(StaffRole::Admin), "password": "Wrong-Pass-123!" })
                .to_string(),
        );
        let addr: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
        // A spoofed header from an untrusted peer changes nothing.
        req.headers_mut()
            .insert("x-forwarded-for", "198.51.100.1".parse().unwrap());
        req
    };
    for _ in 0..10 {
        assert_eq!(
            bank.send(from("192.0.2.9")).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = bank.send(from("192.0.2.9")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=6).contains(&wait), "{wait}");
    assert_eq!(json(res).await["type"], "urn:fincrm:problem:rate-limited");
    assert_eq!(
        bank.send(from("192.0.2.10")).await.status(),
        StatusCode::UNAUTHORIZED,
        "another address is not held back"
    );
}

#[tokio::test]
async fn a_reason_must_fit_as_sent_and_without_its_blanks() {
    let bank = bank().await;
    let path = format!("/api/v1/customers/{IN_SCOPE}/reveal");
    for reason in [format!(" {}", "a".repeat(500)), "   ab   ".to_owned()] {
        let body = serde_json::json!({ "field": "phone", "reason": reason }).to_string();
        let p = assert_problem(
            &bank,
            post_json(&path, Some(rm(&bank)), body),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], "reason");
    }
    let ok = serde_json::json!({ "field": "phone", "reason": format!(" {} ", "a".repeat(498)) });
    let res = bank
        .send(post_json(&path, Some(rm(&bank)), ok.to_string()))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_change_finishes_even_when_the_client_goes_away() {
    use fincrm_store::Store as _;
    use tower::ServiceExt as _;
    let bank = bank().await;
    let agent = bank.tokens[&StaffRole::ServiceAgent].clone();
    let req = post_json(
        &format!("/api/v1/customers/{IN_SCOPE}/interactions"),
        Some(&agent),
        r#"{"channel":"phone","kind":"回访","content":"the caller hung up"}"#,
    );
    // Polled once, then dropped: the client disconnected before any answer.
    let abandoned = tokio::time::timeout(
        std::time::Duration::from_nanos(1),
        bank.app.clone().oneshot(req),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "the request was cut off before it answered"
    );
    let id = IN_SCOPE.parse().unwrap();
    let mut written = false;
    // Up to 10 s: on a loaded 2-core machine (the whole suite running) the detached write has
    // been seen to take over 2 s.
    for _ in 0..500 {
        let contacts = bank.store.interactions_of(&id, 10).await.unwrap();
        if contacts
            .iter()
            .any(|c| c.content.as_deref() == Some("the caller hung up"))
        {
            written = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(written, "the change ran to completion");
    let audited = bank
        .store
        .records(1, 100)
        .await
        .unwrap()
        .iter()
        .any(|r| r.entry.action == "interaction.create");
    assert!(audited, "with its audit record");
}
