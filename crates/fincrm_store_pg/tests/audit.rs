//! The audit-log story on PostgreSQL, in a fresh schema per case.
//!
//! Runs when `FINCRM_TEST_PG_URL` is set; without it each test reports itself skipped on stderr
//! and passes. Tests connect as a superuser, so the REVOKE does not bind them: the trigger is
//! the wall they can see.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use async_trait::async_trait;
use fincrm_store::audit::conformance::{self, RawSql, TAMPER_CASES};
use fincrm_store::audit::{AuditEntry, AuditStore, verify};
use fincrm_store_pg::testing::{TestSchema, url_or_skip};
use std::sync::Arc;

/// The store's own pool (same schema), used as a DBA's session that bypasses the store.
struct Raw(sqlx::PgPool);

#[async_trait]
impl RawSql for Raw {
    async fn execute(&self, sql: &str) -> Result<u64, String> {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.0)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    }

    async fn drop_guards(&self) -> Result<(), String> {
        self.execute("DROP TRIGGER audit_log_no_update_delete ON audit_log")
            .await?;
        self.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
            .await?;
        Ok(())
    }
}

/// A migrated store in a new schema, with its raw session.
async fn fresh(url: &str, name: &str) -> (TestSchema, Raw) {
    let schema = TestSchema::migrated(url, &format!("audit_{name}"))
        .await
        .unwrap();
    let raw = Raw(schema.store.pool().clone());
    (schema, raw)
}

#[tokio::test]
async fn records_round_trip_and_verify() {
    let Some(url) = url_or_skip("the audit suite") else {
        return;
    };
    let (schema, _) = fresh(&url, "round_trip").await;
    conformance::append_read_and_verify(&schema.store).await;
    schema.drop().await.unwrap();
}

#[tokio::test]
async fn the_database_refuses_updates_deletes_and_truncate() {
    let Some(url) = url_or_skip("the audit suite") else {
        return;
    };
    let (schema, raw) = fresh(&url, "refuse").await;
    conformance::updates_and_deletes_are_refused(&schema.store, &raw).await;
    let err = raw.execute("TRUNCATE audit_log").await.unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    let public_can_change: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.role_table_grants \
         WHERE table_schema = current_schema() AND table_name = 'audit_log' \
         AND grantee = 'PUBLIC' AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE'))",
    )
    .fetch_one(schema.store.pool())
    .await
    .unwrap();
    assert!(!public_can_change);
    schema.drop().await.unwrap();
}

#[tokio::test]
async fn every_kind_of_tampering_is_reported_at_its_seq() {
    let Some(url) = url_or_skip("the audit suite") else {
        return;
    };
    for case in TAMPER_CASES {
        let (schema, raw) = fresh(&url, &format!("{case:?}")).await;
        conformance::tampering_is_detected(&schema.store, &raw, case).await;
        schema.drop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_never_fork_the_chain() {
    let Some(url) = url_or_skip("the audit suite") else {
        return;
    };
    let (schema, _) = fresh(&url, "concurrent").await;
    // Four stores, as four server processes would be: each appends on its own connection and
    // follows its own head in one statement, so they keep finding the head moved by the others
    // (a head check that fails, a collision on `seq`) and fall back to the full append.
    let mut stores = vec![Arc::new(schema.store.clone())];
    for _ in 1..4 {
        stores.push(Arc::new(schema.another_store(&url).await.unwrap()));
    }
    let store = Arc::clone(&stores[0]);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&stores[t % stores.len()]);
            tokio::spawn(async move {
                for i in 0..25 {
                    let e = AuditEntry::new(
                        chrono::Utc::now(),
                        format!("u{t}"),
                        "customer.view",
                        "customer",
                        format!("C{i}"),
                    );
                    store.append(&[e]).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let summary = verify(store.as_ref(), None, 64).await.unwrap().unwrap();
    assert_eq!((summary.records, summary.head_seq), (200, 200));
    schema.drop().await.unwrap();
}
