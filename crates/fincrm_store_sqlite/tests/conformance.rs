//! The store conformance suite on SQLite (always runs: a temporary file needs no server).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use fincrm_store::Store;
use fincrm_store_sqlite::SqliteStore;

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("conformance.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    fincrm_store::conformance::run_all(&store).await;
}

#[tokio::test]
async fn the_database_file_is_durable_wal_with_full_sync_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("pragmas.db"))
        .await
        .unwrap();
    let (journal, synchronous, foreign_keys) = store.durability().await.unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 2, "synchronous must be FULL (2)");
    assert_eq!(foreign_keys, 1);
}
