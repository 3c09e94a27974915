//! The store conformance suite on SQLite (always runs: a temporary file needs no server).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use fincrm_store::Store;
use fincrm_store::conformance::KeyringHarness;
use fincrm_store::pii::{CustomerPi, PI_COLUMNS};
use fincrm_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;

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
async fn migrate_rebuilds_an_emptied_name_index() {
    use fincrm_store::conformance::{names_found_by_the_index, write_index_rebuild_fixtures};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rebuild.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    write_index_rebuild_fixtures(&store).await;
    let indexed = (
        vec!["RB1".to_owned()],
        vec!["RB1".to_owned(), "RB2".to_owned()],
    );
    assert_eq!(names_found_by_the_index(&store).await, indexed);
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("DELETE FROM customer_search")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    assert_eq!(
        names_found_by_the_index(&store).await,
        (vec![], vec![]),
        "an emptied index finds nothing"
    );
    store.migrate().await.unwrap();
    assert_eq!(names_found_by_the_index(&store).await, indexed);
}

#[tokio::test]
async fn migrate_finishes_a_name_index_build_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resume.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    fincrm_store::conformance::migrate_finishes_a_name_index_build_cut_short(
        &store,
        async |sql: &str| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&raw)
                .await
                .unwrap();
        },
    )
    .await;
    raw.close().await;
}

#[tokio::test]
async fn the_wal_is_checkpointed_into_the_database_file_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    // The writer never checkpoints (wal_autocheckpoint=0): the schema reaches the database
    // file only through the checkpointing thread, within a second or so.
    let mut size = 0;
    for _ in 0..40 {
        size = std::fs::metadata(&path).unwrap().len();
        if size > 64 * 1024 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(size > 64 * 1024, "the database file is still {size} bytes");
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

struct Harness {
    store: SqliteStore,
    path: PathBuf,
}

#[async_trait::async_trait]
impl KeyringHarness for Harness {
    fn store_with(&self, keyring: Option<Arc<fincrm_crypto::Keyring>>) -> Box<dyn Store> {
        let store = self.store.clone();
        Box::new(match keyring {
            Some(k) => store.with_keyring(k),
            None => store,
        })
    }

    async fn raw_pi(&self) -> Vec<CustomerPi> {
        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&self.path)
                .read_only(true),
        )
        .await
        .unwrap();
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PI_COLUMNS} FROM customer ORDER BY customer_id"
        )))
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows
    }
}

#[tokio::test]
async fn sqlite_store_seals_personal_information_with_a_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sealed.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    let harness = Harness {
        store: store.clone(),
        path: path.clone(),
    };
    fincrm_store::conformance::keyring_story(&harness).await;
    store.close().await;
    // SECURITY.md P1: the database file and its WAL hold no plaintext of the values that were
    // only ever written sealed (P1's ID number and phone).
    for file in ["sealed.db", "sealed.db-wal"] {
        let Ok(bytes) = std::fs::read(dir.path().join(file)) else {
            continue;
        };
        for canary in ["500103195701208679", "13273878287"] {
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{canary} found in {file}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_edits_from_two_processes_wait_for_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tree.db");
    let first = SqliteStore::open(&path).await.unwrap();
    first.migrate().await.unwrap();
    let second = SqliteStore::open(&path).await.unwrap();
    fincrm_store::conformance::tree_edits_wait_for_each_other(Arc::new(first), Arc::new(second))
        .await;
}

/// A database written before `customer_debits` existed (the migration leaves a fill to do):
/// until `migrate` fills it, runs read the transactions; a write meanwhile is not lost; after
/// it, the lists give the same days.
#[tokio::test]
async fn migrate_fills_the_debit_lists_of_an_older_database() {
    use fincrm_store::conformance::{sample_individual, sample_transaction};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("debits.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    let people = [
        sample_individual("DF1", "500103195701208679", "13273878287", "郭东兰"),
        sample_individual("DF2", "110101199003074477", "13800138000", "王芳"),
    ];
    store
        .write(None, &[fincrm_store::tables::customers(&people)])
        .await
        .unwrap();
    let transactions: Vec<_> = (0..24)
        .map(|i| {
            let customer = if i % 3 == 0 { "DF1" } else { "DF2" };
            sample_transaction(&format!("DFT{i}"), customer, "DFH1", i * 3_660)
        })
        .collect();
    let (first, later) = transactions.split_at(16);
    store
        .write(None, &[fincrm_store::tables::transactions(first)])
        .await
        .unwrap();
    let days = |store: &SqliteStore| {
        let store = store.clone();
        async move {
            store
                .analytics_activity("DF1", "DF2", 28_800)
                .await
                .unwrap()
        }
    };
    let before = days(&store).await;
    assert_eq!(before.customers, ["DF1", "DF2"]);

    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "DELETE FROM customer_debits; \
         INSERT INTO store_task (name, cursor) VALUES ('customer_debits', '')",
    )
    .execute(&raw)
    .await
    .unwrap();
    assert_eq!(
        days(&store).await,
        before,
        "read from the transactions meanwhile"
    );
    store
        .write(None, &[fincrm_store::tables::transactions(later)])
        .await
        .unwrap();
    let all_days = days(&store).await;
    assert_ne!(all_days, before, "the later debits count");

    store.migrate().await.unwrap();
    let (tasks, lists): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM store_task), (SELECT count(*) FROM customer_debits)",
    )
    .fetch_one(&raw)
    .await
    .unwrap();
    assert_eq!((tasks, lists), (0, 2), "filled, and the task done");
    assert_eq!(days(&store).await, all_days, "read from the lists");
    raw.close().await;
}
