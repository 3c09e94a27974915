//! Customer search, create and update, activity pages, contacts, consents, tokens and the
//! password change, end to end over a temporary SQLite store.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, TimeZone as _, Utc};
use common::{
    Bank, CA_ID_NUMBER, CA_PHONE, IN_SCOPE, OUT_OF_SCOPE, PASSWORD, assert_problem, bank, get,
    json, patch_json, post_json, text, user_of,
};
use fincrm_domain::{Channel, ConsentPurpose, Currency, Direction, Money, StaffRole, Transaction};
use fincrm_store::{AuditStore as _, Store as _, tables};

const NEW_ID_NUMBER: &str = "110105198503151230";

fn token(bank: &Bank, role: StaffRole) -> &str {
    &bank.tokens[&role]
}

async fn ids(bank: &Bank, path: &str, role: StaffRole) -> (Vec<String>, Option<String>) {
    let res = bank.send(get(path, token(bank, role))).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    let v = json(res).await;
    let ids = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, v["next_cursor"].as_str().map(str::to_owned))
}

async fn audit_actions(bank: &Bank) -> Vec<(String, Option<String>, Option<String>)> {
    bank.store
        .records(1, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.entry.action, r.entry.before_json, r.entry.after_json))
        .collect()
}

fn q(s: &str) -> String {
    url_encode(s)
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn search_finds_names_in_characters_and_pinyin_within_scope() {
    let bank = bank().await;
    let admin = StaffRole::Admin;
    let rm = StaffRole::RelationshipManager;
    for query in [
        "郭东兰",
        "东兰",
        "郭",
        "guodonglan",
        "GDL",
        "donglan",
        "guo",
    ] {
        let (found, _) = ids(&bank, &format!("/api/v1/customers?q={}", q(query)), admin).await;
        assert_eq!(found, [IN_SCOPE], "{query}");
    }
    let path = format!("/api/v1/customers?q={}", q("王小明"));
    assert_eq!(ids(&bank, &path, admin).await.0, [OUT_OF_SCOPE]);
    assert!(
        ids(&bank, &path, rm).await.0.is_empty(),
        "outside the RM's book: not found, not refused"
    );
    let (found, _) = ids(&bank, &format!("/api/v1/customers?q={IN_SCOPE}"), rm).await;
    assert_eq!(found, [IN_SCOPE], "by customer number");
}

#[tokio::test]
async fn a_search_by_id_number_or_phone_is_audited_without_the_value() {
    let bank = bank().await;
    let rm = StaffRole::RelationshipManager;
    let (found, _) = ids(&bank, &format!("/api/v1/customers?q={CA_ID_NUMBER}"), rm).await;
    assert_eq!(found, [IN_SCOPE]);
    let (found, _) = ids(&bank, &format!("/api/v1/customers?q={CA_PHONE}"), rm).await;
    assert_eq!(found, [IN_SCOPE]);
    let (found, _) = ids(&bank, "/api/v1/customers?q=13912345678", rm).await;
    assert!(found.is_empty(), "CB's phone, outside the book");
    let searches: Vec<_> = bank
        .store
        .records(1, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.action == "customer.search")
        .collect();
    assert_eq!(
        searches.len(),
        3,
        "found or not, every PI lookup is recorded"
    );
    assert_eq!(searches[0].entry.customer_id.as_deref(), Some(IN_SCOPE));
    assert!(
        searches[0]
            .entry
            .after_json
            .as_deref()
            .unwrap()
            .contains("id_number")
    );
    assert!(
        searches[1]
            .entry
            .after_json
            .as_deref()
            .unwrap()
            .contains("phone")
    );
    assert!(
        searches[2]
            .entry
            .after_json
            .as_deref()
            .unwrap()
            .contains(r#""found":0"#)
    );
    for r in &searches {
        let row = format!("{r:?}");
        assert!(
            !row.contains(CA_ID_NUMBER) && !row.contains(CA_PHONE) && !row.contains("13912345678")
        );
    }
}

#[tokio::test]
async fn lists_page_with_cursors_and_filters() {
    let bank = bank().await;
    let admin = StaffRole::Admin;
    let (page1, cursor) = ids(&bank, "/api/v1/customers?limit=1", admin).await;
    assert_eq!(page1, [IN_SCOPE]);
    let cursor = cursor.expect("more to come");
    let (page2, end) = ids(
        &bank,
        &format!("/api/v1/customers?limit=1&cursor={cursor}"),
        admin,
    )
    .await;
    assert_eq!(page2, [OUT_OF_SCOPE]);
    assert_eq!(end, None);
    let (b2, _) = ids(&bank, "/api/v1/customers?branch_id=B2", admin).await;
    assert_eq!(b2, [OUT_OF_SCOPE]);
    let (rm_book, _) = ids(&bank, "/api/v1/customers", StaffRole::RelationshipManager).await;
    assert_eq!(rm_book, [IN_SCOPE]);
    let t = token(&bank, admin);
    for (path, field) in [
        ("/api/v1/customers?limit=0", "limit"),
        ("/api/v1/customers?limit=101", "limit"),
        ("/api/v1/customers?cursor=!!!", "cursor"),
        ("/api/v1/customers?kind=alien", "kind"),
        ("/api/v1/customers?status=asleep", "status"),
        ("/api/v1/customers?stage=asleep", "stage"),
        ("/api/v1/customers?q=%20%2D%2D%20", "q"),
    ] {
        let p = assert_problem(&bank, get(path, t), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(p["errors"][0]["field"], field, "{path}: {p}");
    }
    let p = assert_problem(
        &bank,
        get("/api/v1/customers?colour=red", t),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("colour"), "{p}");
    let p = assert_problem(
        &bank,
        get("/api/v1/customers?limit=99999999999999999999999", t),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("limit"), "{p}");
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one story: create, find, refuse each bad field"
)]
async fn creating_a_customer_validates_indexes_and_audits_it() {
    let bank = bank().await;
    let rm = token(&bank, StaffRole::RelationshipManager);
    let body = serde_json::json!({
        "kind": "individual", "name": "欧阳娜娜", "id_type": "resident_id",
        "id_number": NEW_ID_NUMBER, "phone": "+86 138-0013-8000", "email": "nana@example.com",
        "tags": ["新客", "新客", "代发"],
    });
    let res = bank
        .send(post_json("/api/v1/customers", Some(rm), body.to_string()))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let created = json(res).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with('P'), "{id}");
    assert_eq!(location, format!("/api/v1/customers/{id}"));
    assert_eq!(created["phone"], "138****8000");
    assert_eq!(created["status"], "prospect");
    assert_eq!(created["branch_id"], "B1-1", "the RM's branch");
    assert_eq!(
        created["primary_rm"],
        user_of(StaffRole::RelationshipManager)
    );
    assert_eq!(created["tags"], serde_json::json!(["新客", "代发"]));
    let (found, _) = ids(
        &bank,
        "/api/v1/customers?q=ouyangnana",
        StaffRole::RelationshipManager,
    )
    .await;
    assert_eq!(found, std::slice::from_ref(&id), "searchable at once");
    let (_, _, after) = audit_actions(&bank)
        .await
        .into_iter()
        .find(|(a, _, _)| a == "customer.create")
        .unwrap();
    let after = after.unwrap();
    assert!(
        !after.contains(NEW_ID_NUMBER) && !after.contains("13800138000"),
        "{after}"
    );

    let again = serde_json::json!({ "kind": "individual", "name": "另一个", "id_type": "resident_id", "id_number": NEW_ID_NUMBER });
    let p = assert_problem(
        &bank,
        post_json("/api/v1/customers", Some(rm), again.to_string()),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("ID document"), "{p}");
    let same_number = serde_json::json!({ "id": IN_SCOPE, "kind": "individual", "name": "重号" });
    assert_problem(
        &bank,
        post_json("/api/v1/customers", Some(rm), same_number.to_string()),
        StatusCode::CONFLICT,
    )
    .await;

    for (body, field) in [
        (
            serde_json::json!({ "kind": "individual", "name": "" }),
            "name",
        ),
        (serde_json::json!({ "kind": "alien", "name": "甲" }), "kind"),
        (
            serde_json::json!({ "kind": "individual", "name": "甲", "phone": "12345" }),
            "phone",
        ),
        (
            serde_json::json!({ "kind": "individual", "name": "甲", "email": "not-mail" }),
            "email",
        ),
        (
            serde_json::json!({ "kind": "individual", "name": "甲", "id_type": "resident_id", "id_number": "110105198503151231" }),
            "id_number",
        ),
        (
            serde_json::json!({ "kind": "individual", "name": "甲", "id_number": NEW_ID_NUMBER }),
            "id_type",
        ),
        (
            serde_json::json!({ "kind": "individual", "name": "甲", "risk_tolerance": "C9" }),
            "risk_tolerance",
        ),
        (
            serde_json::json!({ "kind": "individual", "name": "甲", "tags": ["x".repeat(31)] }),
            "tags",
        ),
        (
            serde_json::json!({ "kind": "individual", "name": "甲", "address": "路\u{0}" }),
            "address",
        ),
        (
            serde_json::json!({ "kind": "individual", "name": "甲".repeat(201) }),
            "name",
        ),
    ] {
        let p = assert_problem(
            &bank,
            post_json("/api/v1/customers", Some(rm), body.to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], field, "{body}: {p}");
    }
    let p = assert_problem(
        &bank,
        post_json(
            "/api/v1/customers",
            Some(rm),
            r#"{"kind":"individual","name":"甲","shoe_size":42}"#,
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("shoe_size"), "{p}");
    let (all, _) = ids(&bank, "/api/v1/customers", StaffRole::Admin).await;
    assert_eq!(
        all.len(),
        3,
        "nothing written by a refused request: {all:?}"
    );
}

#[tokio::test]
async fn an_update_is_audited_with_masked_before_and_after_and_stays_in_scope() {
    let bank = bank().await;
    let rm = token(&bank, StaffRole::RelationshipManager);
    let path = format!("/api/v1/customers/{IN_SCOPE}");
    let res = bank
        .send(patch_json(
            &path,
            rm,
            &serde_json::json!({ "phone": "13800138000", "risk_tolerance": "C4", "name": "郭冬兰" }),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = json(res).await;
    assert_eq!(v["phone"], "138****8000");
    assert_eq!(v["risk_tolerance"], "C4");
    let (_, before, after) = audit_actions(&bank)
        .await
        .into_iter()
        .find(|(a, _, _)| a == "customer.update")
        .unwrap();
    let (before, after) = (before.unwrap(), after.unwrap());
    assert!(
        before.contains("132****8287") && after.contains("138****8000"),
        "{before} {after}"
    );
    assert!(!before.contains(CA_PHONE) && !after.contains("13800138000"));
    let (found, _) = ids(
        &bank,
        &format!("/api/v1/customers?q={}", q("郭冬兰")),
        StaffRole::Admin,
    )
    .await;
    assert_eq!(found, [IN_SCOPE], "renamed: the index follows");
    assert!(
        ids(
            &bank,
            &format!("/api/v1/customers?q={}", q("郭东兰")),
            StaffRole::Admin
        )
        .await
        .0
        .is_empty()
    );

    let p = assert_problem(
        &bank,
        patch_json(
            &path,
            rm,
            &serde_json::json!({ "primary_rm": "u_elsewhere" }),
        ),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("scope"), "{p}");
    let p = assert_problem(
        &bank,
        patch_json(&path, rm, &serde_json::json!({ "status": "merged" })),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "status");
    assert_problem(
        &bank,
        patch_json(
            &path,
            rm,
            &serde_json::json!({ "id_number": NEW_ID_NUMBER }),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(
        &bank,
        patch_json(
            &format!("/api/v1/customers/{OUT_OF_SCOPE}"),
            rm,
            &serde_json::json!({ "tags": [] }),
        ),
        StatusCode::NOT_FOUND,
    )
    .await;
    let updates = audit_actions(&bank)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "customer.update")
        .count();
    assert_eq!(updates, 1, "refused changes leave no record and no change");
}

#[tokio::test]
async fn a_read_only_token_cannot_change_anything() {
    let bank = bank().await;
    let store: std::sync::Arc<dyn fincrm_store::AuthStore> =
        std::sync::Arc::new(bank.store.clone());
    let auth = fincrm_service::auth::Auth::new(store, fincrm_service::auth::AuthConfig::default());
    let (read_only, _) = auth
        .create_api_token(
            &user_of(StaffRole::RelationshipManager),
            "read only",
            &[fincrm_service::auth::Scope::CustomersRead],
            Duration::days(1),
            "test",
            None,
            Utc::now(),
        )
        .await
        .unwrap();
    let p = assert_problem(
        &bank,
        patch_json(
            &format!("/api/v1/customers/{IN_SCOPE}"),
            &read_only,
            &serde_json::json!({ "tags": ["x"] }),
        ),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("customers:write"),
        "{p}"
    );
}

#[tokio::test]
async fn transactions_page_newest_first_within_a_window() {
    let bank = bank().await;
    let txns: Vec<Transaction> = (1..=5)
        .map(|day| Transaction {
            id: format!("T2-{day}").parse().unwrap(),
            customer_id: IN_SCOPE.parse().unwrap(),
            holding_id: common::CA_ACCOUNT.parse().unwrap(),
            at: Utc
                .with_ymd_and_hms(2026, 2, day, 1, 0, 0)
                .single()
                .unwrap(),
            amount: Money::new(100 * i64::from(day), Currency::Cny),
            direction: Direction::Credit,
            channel: None,
            counterparty: None,
            kind: None,
            memo: None,
        })
        .collect();
    bank.store
        .write(None, &[tables::transactions(&txns)])
        .await
        .unwrap();
    let rm = token(&bank, StaffRole::RelationshipManager);
    let base = format!("/api/v1/customers/{IN_SCOPE}/transactions");
    let page = json(bank.send(get(&format!("{base}?limit=2"), rm)).await).await;
    let got: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["T2-5", "T2-4"]);
    assert_eq!(page["items"][0]["account"], "************8538");
    let cursor = page["next_cursor"].as_str().unwrap();
    let page = json(
        bank.send(get(&format!("{base}?limit=2&cursor={cursor}"), rm))
            .await,
    )
    .await;
    let got: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["T2-3", "T2-2"]);
    let window = format!("{base}?from=2026-02-02T00:00:00Z&to=2026-02-04T00:00:00Z");
    let page = json(bank.send(get(&window, rm)).await).await;
    let got: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["T2-3", "T2-2"]);
    assert!(page["next_cursor"].is_null());
    for bad in [
        "?from=yesterday",
        "?from=2026-02-04T00:00:00Z&to=2026-02-02T00:00:00Z",
        "?cursor=abc",
    ] {
        assert_problem(
            &bank,
            get(&format!("{base}{bad}"), rm),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let holdings = json(
        bank.send(get(&format!("/api/v1/customers/{IN_SCOPE}/holdings"), rm))
            .await,
    )
    .await;
    assert_eq!(holdings[0]["balance"]["minor"], 1_234_500);
}

#[tokio::test]
async fn contacts_are_logged_audited_and_listed_newest_first() {
    let bank = bank().await;
    let agent = token(&bank, StaffRole::ServiceAgent);
    let path = format!("/api/v1/customers/{IN_SCOPE}/interactions");
    let res = bank
        .send(post_json(
            &path,
            Some(agent),
            serde_json::json!({ "channel": "phone", "kind": "回访", "content": "满意\n无投诉" })
                .to_string(),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let logged = json(res).await;
    assert_eq!(logged["user_id"], user_of(StaffRole::ServiceAgent));
    let list = json(bank.send(get(&path, agent)).await).await;
    assert_eq!(list["items"][0]["id"], logged["id"]);
    assert_eq!(list["items"][0]["content"], "满意\n无投诉");
    assert!(
        audit_actions(&bank)
            .await
            .iter()
            .any(|(a, _, _)| a == "interaction.create")
    );
    let future = (Utc::now() + Duration::days(1)).to_rfc3339();
    for (body, field) in [
        (
            serde_json::json!({ "channel": "pigeon", "kind": "回访" }),
            "channel",
        ),
        (
            serde_json::json!({ "channel": "phone", "kind": "" }),
            "kind",
        ),
        (
            serde_json::json!({ "channel": "phone", "kind": "回访", "at": future }),
            "at",
        ),
        (
            serde_json::json!({ "channel": "phone", "kind": "回访", "content": "x".repeat(2001) }),
            "content",
        ),
        (
            serde_json::json!({ "channel": "phone", "kind": "回访\u{7}" }),
            "kind",
        ),
    ] {
        let p = assert_problem(
            &bank,
            post_json(&path, Some(agent), body.to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
    }
    let analyst = token(&bank, StaffRole::HeadOfficeAnalyst);
    assert_problem(
        &bank,
        post_json(&path, Some(analyst), r#"{"channel":"phone","kind":"回访"}"#),
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn consents_are_recorded_with_history_and_checked_before_marketing() {
    let bank = bank().await;
    let rm = token(&bank, StaffRole::RelationshipManager);
    let path = format!("/api/v1/customers/{IN_SCOPE}/consents");
    let ca = IN_SCOPE.parse().unwrap();
    let may = |purpose, channel| {
        let store = bank.store.clone();
        let ca = &ca;
        async move {
            fincrm_service::activity::may_use_for(&store, ca, purpose, channel)
                .await
                .unwrap()
        }
    };
    assert!(
        !may(ConsentPurpose::Marketing, Channel::Phone).await,
        "no record, no consent"
    );
    for body in [
        serde_json::json!({ "purpose": "marketing", "granted": true }),
        serde_json::json!({ "purpose": "marketing", "channel": "sms", "granted": false }),
    ] {
        let res = bank
            .send(post_json(&path, Some(rm), body.to_string()))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    assert!(may(ConsentPurpose::Marketing, Channel::Phone).await);
    assert!(
        !may(ConsentPurpose::Marketing, Channel::Sms).await,
        "withdrawn for SMS"
    );
    assert!(!may(ConsentPurpose::Profiling, Channel::Phone).await);
    let v = json(bank.send(get(&path, rm)).await).await;
    assert_eq!(v["current"].as_array().unwrap().len(), 2);
    assert_eq!(v["history"].as_array().unwrap().len(), 2);
    let actions: Vec<String> = audit_actions(&bank)
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    assert!(
        actions.contains(&"consent.grant".to_owned())
            && actions.contains(&"consent.withdraw".to_owned())
    );
    let p = assert_problem(
        &bank,
        post_json(&path, Some(rm), r#"{"purpose":"spam","granted":true}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "purpose");
    assert_problem(
        &bank,
        post_json(
            &path,
            Some(rm),
            r#"{"purpose":"marketing","granted":"yes"}"#,
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

/// Logs `role` in; returns the cookie pair and the CSRF token.
async fn login(bank: &Bank, user: &str, password: &str) -> (String, String, serde_json::Value) {
    let res = bank
        .send(post_json(
            "/api/v1/session",
            None,
            serde_json::json!({ "user_id": user, "password": password }).to_string(),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let v = json(res).await;
    (cookie, v["csrf_token"].as_str().unwrap().to_owned(), v)
}

fn with_session(
    req: axum::http::request::Builder,
    cookie: &str,
    csrf: &str,
) -> axum::http::request::Builder {
    req.header(header::COOKIE, cookie)
        .header("x-csrf-token", csrf)
}

#[tokio::test]
async fn tokens_are_minted_from_a_session_listed_and_revoked() {
    let bank = bank().await;
    let (cookie, csrf, _) = login(&bank, &user_of(StaffRole::RelationshipManager), PASSWORD).await;
    let req = with_session(Request::post("/api/v1/tokens"), &cookie, &csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"name":"crm-sync","scopes":["customers:read"],"days":7}"#,
        ))
        .unwrap();
    let res = bank.send(req).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created = json(res).await;
    let secret = created["token"].as_str().unwrap().to_owned();
    let id = created["record"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("fcrm_"));
    assert_eq!(
        bank.send(get(&format!("/api/v1/customers/{IN_SCOPE}"), &secret))
            .await
            .status(),
        StatusCode::OK
    );
    let listed = text(bank.send(get("/api/v1/tokens", &secret)).await).await;
    assert!(
        listed.contains(&id) && !listed.contains(&secret),
        "{listed}"
    );
    // Another user's token id reads as missing.
    let other = token(&bank, StaffRole::ServiceAgent);
    let req = Request::delete(format!("/api/v1/tokens/{id}"))
        .header(header::AUTHORIZATION, format!("Bearer {other}"))
        .body(Body::empty())
        .unwrap();
    assert_problem(&bank, req, StatusCode::NOT_FOUND).await;
    let req = with_session(
        Request::delete(format!("/api/v1/tokens/{id}")),
        &cookie,
        &csrf,
    )
    .body(Body::empty())
    .unwrap();
    assert_eq!(bank.send(req).await.status(), StatusCode::NO_CONTENT);
    assert_problem(
        &bank,
        get("/api/v1/tokens", &secret),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    for (body, field) in [
        (r#"{"name":"x","scopes":["root"],"days":7}"#, "scopes"),
        (
            r#"{"name":"x","scopes":["customers:read"],"days":0}"#,
            "days",
        ),
        (r#"{"name":"x","scopes":["admin"],"days":7}"#, "scopes"),
    ] {
        let req = with_session(Request::post("/api/v1/tokens"), &cookie, &csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let p = assert_problem(&bank, req, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn a_one_time_password_session_may_only_change_the_password() {
    let bank = bank().await;
    let store: std::sync::Arc<dyn fincrm_store::AuthStore> =
        std::sync::Arc::new(bank.store.clone());
    let auth = fincrm_service::auth::Auth::new(store, fincrm_service::auth::AuthConfig::default());
    let user = user_of(StaffRole::BranchManager);
    auth.set_password(&user, "One-Time-Pass-77!", true, "admin", None, Utc::now())
        .await
        .unwrap();
    let (cookie, csrf, v) = login(&bank, &user, "One-Time-Pass-77!").await;
    assert_eq!(v["must_change_password"], true);
    let read = |cookie: String| {
        Request::get("/api/v1/customers")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap()
    };
    for path in ["/api/v1/customers", "/api/v1/branches", "/api/v1/tokens"] {
        let req = Request::get(path)
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap();
        assert_problem(&bank, req, StatusCode::FORBIDDEN).await;
    }
    let change = |current: &str, new: &str| {
        with_session(Request::post("/api/v1/session/password"), &cookie, &csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                serde_json::json!({ "current": current, "new": new }).to_string(),
            ))
            .unwrap()
    };
    assert_problem(
        &bank,
        change("wrong-Password-1", "Brand-New-Pass-88!"),
        StatusCode::FORBIDDEN,
    )
    .await;
    let p = assert_problem(
        &bank,
        change("One-Time-Pass-77!", "short"),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "password");
    assert_eq!(
        bank.send(change("One-Time-Pass-77!", "Brand-New-Pass-88!"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        bank.send(read(cookie.clone())).await.status(),
        StatusCode::OK,
        "the session goes on"
    );
    let (_, _, v) = login(&bank, &user, "Brand-New-Pass-88!").await;
    assert_eq!(v["must_change_password"], false);
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one merge story: list, merge, refuse, undo"
)]
async fn duplicates_merge_reversibly_with_lineage() {
    let bank = bank().await;
    let mut dup = fincrm_domain::Customer::individual("CA2".parse().unwrap(), "郭东兰".to_owned());
    dup.document = Some(fincrm_domain::IdentityDocument::ResidentId(
        fincrm_domain::ResidentId::parse(CA_ID_NUMBER).unwrap(),
    ));
    dup.branch_id = Some("B1-1".parse().unwrap());
    dup.primary_rm = Some(user_of(StaffRole::RelationshipManager).parse().unwrap());
    let account = fincrm_domain::Holding {
        id: "6222000000000001".parse().unwrap(),
        customer_id: dup.id.clone(),
        product_code: "DEP001".parse().unwrap(),
        product_type: fincrm_domain::ProductType::Deposit,
        balance: Money::new(500, Currency::Cny),
        limit: None,
        opened_on: None,
        matures_on: None,
        status: fincrm_domain::HoldingStatus::Active,
    };
    bank.store
        .write(
            None,
            &[tables::customers(&[dup]), tables::holdings(&[account])],
        )
        .await
        .unwrap();
    bank.store.detect_duplicates().await.unwrap();
    let bm = token(&bank, StaffRole::BranchManager);
    let pairs = json(bank.send(get("/api/v1/duplicates", bm)).await).await;
    assert_eq!(pairs[0]["a"]["id"], IN_SCOPE, "{pairs}");
    assert_eq!(pairs[0]["b"]["id"], "CA2");
    assert_eq!(pairs[0]["reason"], "same_id_number");

    let merge = |t: &str, reason: &str| {
        post_json(
            "/api/v1/customers/CA2/merge",
            Some(t),
            serde_json::json!({ "into": IN_SCOPE, "reason": reason }).to_string(),
        )
    };
    let rm = token(&bank, StaffRole::RelationshipManager);
    assert_problem(&bank, merge(rm, "same ID number"), StatusCode::FORBIDDEN).await;
    let p = assert_problem(&bank, merge(bm, "dup"), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "reason");
    let res = bank
        .send(merge(bm, "same ID number, confirmed at the counter"))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let record = json(res).await;
    let merge_id = record["merge_id"].as_str().unwrap().to_owned();
    assert_eq!(record["survivor_id"], IN_SCOPE);
    assert_eq!(record["prior_status"], "active");

    let holdings = |t: &str| get(&format!("/api/v1/customers/{IN_SCOPE}/holdings"), t);
    let h = json(bank.send(holdings(bm)).await).await;
    assert_eq!(
        h.as_array().unwrap().len(),
        2,
        "the survivor shows the duplicate's account"
    );
    let merged = json(bank.send(get("/api/v1/customers/CA2", bm)).await).await;
    assert_eq!(merged["status"], "merged");
    assert_eq!(merged["merged_into"], IN_SCOPE);
    assert!(
        json(bank.send(get("/api/v1/duplicates", bm)).await)
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_problem(
        &bank,
        merge(bm, "same ID number again"),
        StatusCode::CONFLICT,
    )
    .await;
    assert_problem(
        &bank,
        patch_json(
            "/api/v1/customers/CA2",
            bm,
            &serde_json::json!({ "tags": ["x"] }),
        ),
        StatusCode::CONFLICT,
    )
    .await;
    let merge_records = audit_actions(&bank)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "customer.merge")
        .count();
    assert_eq!(merge_records, 2, "one record on each customer");

    let undo = |t: &str| {
        Request::post(format!("/api/v1/merges/{merge_id}/undo"))
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_problem(&bank, undo(rm), StatusCode::FORBIDDEN).await;
    let res = bank.send(undo(bm)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        json(bank.send(holdings(bm)).await)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let restored = json(bank.send(get("/api/v1/customers/CA2", bm)).await).await;
    assert_eq!(restored["status"], "active");
    assert!(restored["merged_into"].is_null());
    assert_problem(&bank, undo(bm), StatusCode::CONFLICT).await;
    let lineage = json(
        bank.send(get(&format!("/api/v1/customers/{IN_SCOPE}/merges"), rm))
            .await,
    )
    .await;
    assert_eq!(lineage[0]["merge_id"], merge_id.as_str());
    assert!(lineage[0]["undone_at"].is_string());
    assert_eq!(lineage[0]["undone_by"], user_of(StaffRole::BranchManager));
}

#[tokio::test]
async fn the_personal_data_copy_is_clear_and_audited_first() {
    let bank = bank().await;
    let rm = token(&bank, StaffRole::RelationshipManager);
    let path = format!("/api/v1/customers/{IN_SCOPE}/export");
    let body = r#"{"reason":"customer's written request, ID checked at the counter"}"#;
    let res = bank.send(post_json(&path, Some(rm), body)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let copy = json(res).await;
    assert_eq!(copy["id_number"], CA_ID_NUMBER);
    assert_eq!(copy["phone"], CA_PHONE);
    assert_eq!(copy["holdings"][0]["account"], common::CA_ACCOUNT);
    assert_eq!(copy["transactions"].as_array().unwrap().len(), 1);
    let records = bank.store.records(1, 100).await.unwrap();
    let export = records
        .iter()
        .find(|r| r.entry.action == "customer.export")
        .expect("audited");
    assert_eq!(
        export.entry.reason.as_deref(),
        Some("customer's written request, ID checked at the counter")
    );
    assert!(!format!("{export:?}").contains(CA_ID_NUMBER));
    let auditor = token(&bank, StaffRole::Auditor);
    assert_problem(
        &bank,
        post_json(&path, Some(auditor), body),
        StatusCode::FORBIDDEN,
    )
    .await;
    let p = assert_problem(
        &bank,
        post_json(&path, Some(rm), r#"{"reason":"x"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "reason");
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one erasure story: refused, allowed, checked"
)]
async fn erasure_anonymises_what_the_law_does_not_keep() {
    let bank = bank().await;
    let admin = token(&bank, StaffRole::Admin);
    let agent = token(&bank, StaffRole::ServiceAgent);
    let contact =
        serde_json::json!({ "channel": "branch", "kind": "咨询", "content": "客户说住在西湖区" });
    let res = bank
        .send(post_json(
            &format!("/api/v1/customers/{IN_SCOPE}/interactions"),
            Some(agent),
            contact.to_string(),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let path = format!("/api/v1/customers/{IN_SCOPE}/erase");
    let body = r#"{"reason":"PIPL art. 47 request no. 2026-118"}"#;
    let p = assert_problem(
        &bank,
        post_json(&path, Some(admin), body),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("close"), "{p}");
    assert_problem(
        &bank,
        post_json(&path, Some(token(&bank, StaffRole::BranchManager)), body),
        StatusCode::FORBIDDEN,
    )
    .await;
    // The account is closed and paid out; now the erasure goes ahead.
    let closed = fincrm_domain::Holding {
        id: common::CA_ACCOUNT.parse().unwrap(),
        customer_id: IN_SCOPE.parse().unwrap(),
        product_code: "DEP001".parse().unwrap(),
        product_type: fincrm_domain::ProductType::Deposit,
        balance: Money::new(0, Currency::Cny),
        limit: None,
        opened_on: None,
        matures_on: None,
        status: fincrm_domain::HoldingStatus::Closed,
    };
    bank.store
        .write(None, &[tables::holdings(&[closed])])
        .await
        .unwrap();
    let res = bank.send(post_json(&path, Some(admin), body)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let erased = json(res).await;
    assert_eq!(erased["name"], "已注销客户");
    assert_eq!(erased["status"], "closed");
    for field in ["id_number", "phone", "email", "address"] {
        assert!(erased[field].is_null(), "{field}: {erased}");
    }
    let copy = json(
        bank.send(post_json(
            &format!("/api/v1/customers/{IN_SCOPE}/export"),
            Some(admin),
            r#"{"reason":"check the erasure"}"#,
        ))
        .await,
    )
    .await;
    assert!(copy["id_number"].is_null() && copy["phone"].is_null());
    assert_eq!(
        copy["transactions"].as_array().unwrap().len(),
        1,
        "kept by law"
    );
    assert!(
        copy["interactions"][0]["content"].is_null(),
        "free text gone"
    );
    assert!(
        ids(
            &bank,
            &format!("/api/v1/customers?q={}", q("郭东兰")),
            StaffRole::Admin
        )
        .await
        .0
        .is_empty(),
        "the old name no longer finds the record"
    );
    assert!(
        ids(
            &bank,
            &format!("/api/v1/customers?q={CA_ID_NUMBER}"),
            StaffRole::Admin
        )
        .await
        .0
        .is_empty()
    );
    let (_, before, _) = audit_actions(&bank)
        .await
        .into_iter()
        .find(|(a, _, _)| a == "customer.erase")
        .unwrap();
    let before = before.unwrap();
    assert!(
        before.contains("郭东兰") && !before.contains(CA_PHONE),
        "{before}"
    );
}

#[tokio::test]
async fn the_360_carries_relationships_consents_and_open_items() {
    let bank = bank().await;
    bank.store
        .write(
            None,
            &[tables::relationships(&[fincrm_domain::Relationship {
                from: IN_SCOPE.parse().unwrap(),
                to: OUT_OF_SCOPE.parse().unwrap(),
                kind: fincrm_domain::RelationshipKind::Household,
                role: Some("配偶".to_owned()),
            }])],
        )
        .await
        .unwrap();
    let rm = token(&bank, StaffRole::RelationshipManager);
    let res = bank
        .send(post_json(
            &format!("/api/v1/customers/{IN_SCOPE}/consents"),
            Some(rm),
            r#"{"purpose":"marketing","granted":true}"#,
        ))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v = json(
        bank.send(get(&format!("/api/v1/customers/{IN_SCOPE}/360"), rm))
            .await,
    )
    .await;
    assert_eq!(v["relationships"][0]["other"], OUT_OF_SCOPE);
    assert_eq!(v["relationships"][0]["role"], "配偶");
    assert_eq!(v["relationships"][0]["outgoing"], true);
    assert_eq!(v["consents"][0]["purpose"], "marketing");
    assert_eq!(v["holdings"][0]["balance"]["minor"], 1_234_500);
    assert!(v["open_items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn administrators_manage_staff_with_one_time_passwords() {
    let bank = bank().await;
    let admin = token(&bank, StaffRole::Admin);
    let body =
        r#"{"id":"u_new_rm","name":"李新","branch_id":"B1-1","role":"relationship_manager"}"#;
    let res = bank
        .send(post_json("/api/v1/users", Some(admin), body))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created = json(res).await;
    let otp = created["one_time_password"].as_str().unwrap().to_owned();
    let (_, _, session) = login(&bank, "u_new_rm", &otp).await;
    assert_eq!(session["must_change_password"], true);
    assert_problem(
        &bank,
        post_json("/api/v1/users", Some(admin), body),
        StatusCode::CONFLICT,
    )
    .await;
    for (bad, field) in [
        (
            r#"{"id":"u_x","name":"甲","branch_id":"B1","role":"king"}"#,
            "role",
        ),
        (
            r#"{"id":"u_x","name":"甲","branch_id":"NOPE","role":"auditor"}"#,
            "branch_id",
        ),
        (
            r#"{"id":"u x","name":"甲","branch_id":"B1","role":"auditor"}"#,
            "id",
        ),
    ] {
        let p = assert_problem(
            &bank,
            post_json("/api/v1/users", Some(admin), bad),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], field, "{bad}: {p}");
    }
    let res = bank
        .send(patch_json(
            "/api/v1/users/u_new_rm",
            admin,
            &serde_json::json!({ "role": "branch_manager", "branch_id": "B1" }),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, before, after) = audit_actions(&bank)
        .await
        .into_iter()
        .find(|(a, _, _)| a == "user.update")
        .unwrap();
    assert!(
        before.unwrap().contains("relationship_manager")
            && after.unwrap().contains("branch_manager")
    );
    let p = assert_problem(
        &bank,
        patch_json(
            &format!("/api/v1/users/{}", user_of(StaffRole::Admin)),
            admin,
            &serde_json::json!({ "role": "auditor" }),
        ),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("last administrator"),
        "{p}"
    );
    let res = bank
        .send(post_json(
            "/api/v1/users/u_new_rm/password-reset",
            Some(admin),
            "",
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let new_otp = json(res).await["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_otp, otp);
    login(&bank, "u_new_rm", &new_otp).await;
    let listed = text(bank.send(get("/api/v1/users", admin)).await).await;
    assert!(listed.contains("u_new_rm") && !listed.contains(&new_otp));
}

/// A member of staff's new branch or role applies from their next request, even with an API
/// token the server has just read (and keeps for a few seconds).
#[tokio::test]
async fn a_staff_change_applies_to_a_token_at_once() {
    let bank = bank().await;
    let admin = token(&bank, StaffRole::Admin);
    let manager = token(&bank, StaffRole::BranchManager);
    let view = format!("/api/v1/customers/{IN_SCOPE}/360");
    assert_eq!(
        bank.send(get(&view, manager)).await.status(),
        StatusCode::OK
    );
    let res = bank
        .send(patch_json(
            &format!("/api/v1/users/{}", user_of(StaffRole::BranchManager)),
            admin,
            &serde_json::json!({ "branch_id": "B2" }),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        bank.send(get(&view, manager)).await.status(),
        StatusCode::NOT_FOUND,
        "the manager moved to B2 no longer sees B1-1's customer"
    );
}

/// Creates racing for one key end as one create and one 409, never as an overwrite: the stored
/// record is the one the 201 answered, with one `*.create` audit record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_of_one_key_make_one_record() {
    let bank = bank().await;
    let admin = token(&bank, StaffRole::Admin);
    let rm = token(&bank, StaffRole::RelationshipManager);
    for round in 0..8 {
        let code = format!("B9{round}");
        let body = |name: &str| {
            serde_json::json!({ "id": code, "name": name, "parent": "HO", "level": "branch" })
                .to_string()
        };
        let (a, b) = tokio::join!(
            bank.send(post_json("/api/v1/branches", Some(admin), body("甲分行"))),
            bank.send(post_json("/api/v1/branches", Some(admin), body("乙分行"))),
        );
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "{code}"
        );
        let winner = if a.status() == StatusCode::CREATED {
            a
        } else {
            b
        };
        let name = json(winner).await["name"].as_str().unwrap().to_owned();
        let stored = bank.store.branches().await.unwrap();
        let stored = stored.iter().find(|b| b.id.as_str() == code).unwrap();
        assert_eq!(
            stored.name, name,
            "{code}: the 201's branch is the stored one"
        );

        let number = format!("PRACE{round}");
        let body = |name: &str| {
            serde_json::json!({ "id": number, "kind": "individual", "name": name }).to_string()
        };
        let (a, b) = tokio::join!(
            bank.send(post_json("/api/v1/customers", Some(rm), body("先到"))),
            bank.send(post_json("/api/v1/customers", Some(rm), body("后到"))),
        );
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "{number}"
        );
        let winner = if a.status() == StatusCode::CREATED {
            a
        } else {
            b
        };
        let name = json(winner).await["name"].as_str().unwrap().to_owned();
        let stored = bank
            .store
            .customer(&number.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.name, name,
            "{number}: the 201's customer is the stored one"
        );
    }
    let actions = audit_actions(&bank).await;
    for action in ["branch.create", "customer.create"] {
        let n = actions.iter().filter(|(a, _, _)| a == action).count();
        assert_eq!(n, 8, "one {action} record per key");
    }
}

/// Two tree changes each valid alone but not together (a sub-branch moved under X while X
/// becomes a sub-branch) never both pass: one is checked against the tree the other left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_tree_changes_keep_the_tree_valid() {
    let bank = bank().await;
    let admin = token(&bank, StaffRole::Admin);
    for round in 0..8 {
        let (sub, x) = (format!("S{round}"), format!("X{round}"));
        for body in [
            serde_json::json!({ "id": sub, "name": "支行", "parent": "B1", "level": "sub_branch" }),
            serde_json::json!({ "id": x, "name": "分行", "parent": "HO", "level": "branch" }),
        ] {
            let res = bank
                .send(post_json("/api/v1/branches", Some(admin), body.to_string()))
                .await;
            assert_eq!(res.status(), StatusCode::CREATED);
        }
        let (a, b) = tokio::join!(
            bank.send(patch_json(
                &format!("/api/v1/branches/{sub}"),
                admin,
                &serde_json::json!({ "parent": x }),
            )),
            bank.send(patch_json(
                &format!("/api/v1/branches/{x}"),
                admin,
                &serde_json::json!({ "level": "sub_branch" }),
            )),
        );
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY],
            "round {round}"
        );
        let tree = bank.store.branches().await.unwrap();
        let level = |id: &str| tree.iter().find(|b| b.id.as_str() == id).unwrap().level;
        let parent = tree
            .iter()
            .find(|b| b.id.as_str() == sub)
            .unwrap()
            .parent
            .clone();
        if parent.as_ref().map(fincrm_domain::BranchId::as_str) == Some(x.as_str()) {
            assert_eq!(
                level(&x),
                fincrm_domain::BranchLevel::Branch,
                "round {round}"
            );
        }
    }
}

/// A branch change that would break the tree is refused, naming the field and the reason, and
/// writes nothing.
#[tokio::test]
async fn branch_changes_that_break_the_tree_are_refused() {
    let bank = bank().await;
    let admin = token(&bank, StaffRole::Admin);
    for (bad, field, says) in [
        (
            r#"{"id":"H2","name":"二号总行","level":"head_office"}"#,
            "level",
            "head office already",
        ),
        (
            r#"{"id":"B3","name":"新分行","level":"branch"}"#,
            "parent",
            "needs a parent",
        ),
        (
            r#"{"id":"B3","name":"新分行","parent":"NOPE","level":"branch"}"#,
            "parent",
            "no such branch",
        ),
        (
            r#"{"id":"B3","name":"新分行","parent":"B1-1","level":"branch"}"#,
            "parent",
            "cannot sit under",
        ),
        (
            r#"{"id":"B3","name":"新分行","parent":"HO","level":"city"}"#,
            "level",
            "",
        ),
        (
            r#"{"id":"B 3","name":"新分行","parent":"HO","level":"branch"}"#,
            "id",
            "",
        ),
        (
            r#"{"id":"B3","name":"  ","parent":"HO","level":"branch"}"#,
            "name",
            "",
        ),
    ] {
        let p = assert_problem(
            &bank,
            post_json("/api/v1/branches", Some(admin), bad),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], field, "{bad}: {p}");
        assert!(p.to_string().contains(says), "{bad}: {p}");
    }
    for (bad, says) in [
        // Under its own child: refused by level before it could close a loop.
        (serde_json::json!({ "parent": "B1-1" }), "cannot sit under"),
        (serde_json::json!({ "level": "sub_branch" }), "B1-1"),
    ] {
        let p = assert_problem(
            &bank,
            patch_json("/api/v1/branches/B1", admin, &bad),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(p.to_string().contains(says), "{bad}: {p}");
    }
    assert_problem(
        &bank,
        patch_json(
            "/api/v1/branches/NOPE",
            admin,
            &serde_json::json!({ "name": "无" }),
        ),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(
        !audit_actions(&bank)
            .await
            .iter()
            .any(|(a, _, _)| a.starts_with("branch.")),
        "refused changes write nothing"
    );
}

/// Opening and moving branches: the tree stays a tree, every change is audited, and a move
/// changes a branch manager's scope at once (the manager sits in B1; CA is in B1-1).
#[tokio::test]
async fn administrators_open_and_move_branches_within_the_tree_rules() {
    let bank = bank().await;
    let admin = token(&bank, StaffRole::Admin);
    let manager = token(&bank, StaffRole::BranchManager);
    let body = r#"{"id":"B1-2","name":"西湖支行","parent":"B1","level":"sub_branch"}"#;
    let res = bank
        .send(post_json("/api/v1/branches", Some(admin), body))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(json(res).await["parent"], "B1");
    assert_problem(
        &bank,
        post_json("/api/v1/branches", Some(admin), body),
        StatusCode::CONFLICT,
    )
    .await;
    assert_problem(
        &bank,
        post_json("/api/v1/branches", Some(manager), body),
        StatusCode::FORBIDDEN,
    )
    .await;
    let path = format!("/api/v1/customers/{IN_SCOPE}");
    assert_eq!(
        bank.send(get(&path, manager)).await.status(),
        StatusCode::OK
    );
    let res = bank
        .send(patch_json(
            "/api/v1/branches/B1-1",
            admin,
            &serde_json::json!({ "parent": "B2", "name": "滨江支行" }),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // B1-1 now sits under B2: the B1 manager no longer sees its customers.
    assert_eq!(
        bank.send(get(&path, manager)).await.status(),
        StatusCode::NOT_FOUND
    );
    let tree = json(bank.send(get("/api/v1/branches", manager)).await).await;
    let moved = tree
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == "B1-1")
        .unwrap();
    assert_eq!(
        (&moved["parent"], &moved["name"]),
        (&"B2".into(), &"滨江支行".into())
    );

    let audit = audit_actions(&bank).await;
    assert!(audit.iter().any(|(a, before, after)| a == "branch.create"
        && before.is_none()
        && after.as_deref().unwrap().contains("西湖支行")));
    let (_, before, after) = audit.iter().find(|(a, _, _)| a == "branch.update").unwrap();
    assert!(
        before.as_deref().unwrap().contains(r#""parent":"B1""#),
        "{before:?}"
    );
    assert!(
        after.as_deref().unwrap().contains(r#""parent":"B2""#),
        "{after:?}"
    );
    assert_eq!(
        audit
            .iter()
            .filter(|(a, _, _)| a.starts_with("branch."))
            .count(),
        2,
        "the refused create wrote nothing"
    );
}

#[tokio::test]
async fn administrators_version_the_tier_and_lifecycle_rules() {
    let bank = bank().await;
    let admin = token(&bank, StaffRole::Admin);
    let put = |kind: &str, body: &str| {
        Request::put(format!("/api/v1/rules/{kind}"))
            .header(header::AUTHORIZATION, format!("Bearer {admin}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let v = json(bank.send(get("/api/v1/rules/tiers", admin)).await).await;
    assert_eq!(v["version"], 0, "the built-in defaults");
    assert_eq!(v["rules"]["grace_days"], 90);
    let res = bank.send(put("tiers", r#"{"grace_days": 30}"#)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = json(res).await;
    assert_eq!(v["version"], 1);
    assert_eq!(v["rules"]["grace_days"], 30);
    let rm = token(&bank, StaffRole::RelationshipManager);
    let seen = json(bank.send(get("/api/v1/rules/tiers", rm)).await).await;
    assert_eq!(seen["version"], 1, "everyone reads the rules in force");
    for (kind, body) in [
        ("tiers", r#"{"grace_days": "soon"}"#),
        ("tiers", r#"{"colour": "red"}"#),
        (
            "lifecycle",
            r#"{"dormant_after_days": 400, "churned_after_days": 300}"#,
        ),
        ("tiers", "[1, 2]"),
    ] {
        let p = assert_problem(&bank, put(kind, body), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(p["errors"][0]["field"], "rules", "{body}: {p}");
    }
    assert_problem(&bank, put("moods", "{}"), StatusCode::NOT_FOUND).await;
    let changes: Vec<_> = bank
        .store
        .records(1, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.action == "rule_set.update")
        .collect();
    assert_eq!(changes.len(), 1, "refused versions leave no record");
    assert_eq!(changes[0].entry.actor, user_of(StaffRole::Admin));
}
