//! The audit-log story on SQLite: a fresh database file per case (always runs).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use async_trait::async_trait;
use fincrm_store::Store;
use fincrm_store::audit::conformance::{self, RawSql, TAMPER_CASES};
use fincrm_store::audit::{AuditEntry, AuditStore, verify};
use fincrm_store_sqlite::SqliteStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Mutex;

/// A second connection to the file, playing a DBA who bypasses the store.
struct Raw(Mutex<SqliteConnection>);

#[async_trait]
impl RawSql for Raw {
    async fn execute(&self, sql: &str) -> Result<u64, String> {
        let mut conn = self.0.lock().await;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    }

    async fn drop_guards(&self) -> Result<(), String> {
        self.execute("DROP TRIGGER audit_log_no_update").await?;
        self.execute("DROP TRIGGER audit_log_no_delete").await?;
        Ok(())
    }
}

async fn fresh(dir: &Path, name: &str) -> (SqliteStore, Raw) {
    let path = dir.join(format!("{name}.db"));
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    let conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
    (store, Raw(Mutex::new(conn)))
}

#[tokio::test]
async fn records_round_trip_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh(dir.path(), "round_trip").await;
    conformance::append_read_and_verify(&store).await;
}

#[tokio::test]
async fn the_database_refuses_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, raw) = fresh(dir.path(), "refuse").await;
    conformance::updates_and_deletes_are_refused(&store, &raw).await;
}

#[tokio::test]
async fn every_kind_of_tampering_is_reported_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    for case in TAMPER_CASES {
        let (store, raw) = fresh(dir.path(), &format!("{case:?}")).await;
        conformance::tampering_is_detected(&store, &raw, case).await;
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_never_fork_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh(dir.path(), "concurrent").await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
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
}
