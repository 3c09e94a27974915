//! The store conformance suite on PostgreSQL, in a fresh schema per test.
//!
//! Runs when `FINCRM_TEST_PG_URL` is set (`.ci/run` sets it and fails if PostgreSQL is down);
//! without it the test reports itself skipped on stderr and passes, so a plain `cargo test` on a
//! machine without PostgreSQL stays green.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use fincrm_store::Store;
use fincrm_store::conformance::KeyringHarness;
use fincrm_store::pii::{CustomerPi, PI_COLUMNS};
use fincrm_store_pg::PgStore;
use fincrm_store_pg::testing::{TestSchema, url_or_skip};
use std::sync::Arc;

#[tokio::test]
async fn postgres_store_passes_the_conformance_suite() {
    let Some(url) = url_or_skip("the conformance suite") else {
        return;
    };
    let schema = TestSchema::migrated(&url, "conformance").await.unwrap();
    fincrm_store::conformance::run_all(&schema.store).await;
    schema.drop().await.unwrap();
}

#[tokio::test]
async fn migrate_rebuilds_an_emptied_name_index() {
    use fincrm_store::conformance::{names_found_by_the_index, write_index_rebuild_fixtures};
    let Some(url) = url_or_skip("the name index rebuild") else {
        return;
    };
    let schema = TestSchema::migrated(&url, "rebuild").await.unwrap();
    let store = &schema.store;
    write_index_rebuild_fixtures(store).await;
    let indexed = (
        vec!["RB1".to_owned()],
        vec!["RB1".to_owned(), "RB2".to_owned()],
    );
    assert_eq!(names_found_by_the_index(store).await, indexed);
    sqlx::query("TRUNCATE customer_search")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(
        names_found_by_the_index(store).await,
        (vec![], vec![]),
        "an emptied index finds nothing"
    );
    store.migrate().await.unwrap();
    assert_eq!(names_found_by_the_index(store).await, indexed);
    schema.drop().await.unwrap();
}

#[tokio::test]
async fn migrate_finishes_a_name_index_build_cut_short() {
    let Some(url) = url_or_skip("the name index resume") else {
        return;
    };
    let schema = TestSchema::migrated(&url, "resume").await.unwrap();
    let pool = schema.store.pool().clone();
    fincrm_store::conformance::migrate_finishes_a_name_index_build_cut_short(
        &schema.store,
        async |sql: &str| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        },
    )
    .await;
    schema.drop().await.unwrap();
}

struct Harness {
    store: PgStore,
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
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PI_COLUMNS} FROM customer ORDER BY customer_id COLLATE \"C\""
        )))
        .fetch_all(self.store.pool())
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn postgres_store_seals_personal_information_with_a_keyring() {
    let Some(url) = url_or_skip("the sealing story") else {
        return;
    };
    let schema = TestSchema::migrated(&url, "sealed").await.unwrap();
    fincrm_store::conformance::keyring_story(&Harness {
        store: schema.store.clone(),
    })
    .await;
    // SECURITY.md P1: no column of any customer row holds P1's ID number or phone as text.
    let hits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM customer c \
          WHERE c::text LIKE '%500103195701208679%' OR c::text LIKE '%13273878287%'",
    )
    .fetch_one(schema.store.pool())
    .await
    .unwrap();
    assert_eq!(hits, 0);
    schema.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_edits_from_two_processes_wait_for_each_other() {
    let Some(url) = url_or_skip("the tree edit story") else {
        return;
    };
    let schema = TestSchema::migrated(&url, "tree").await.unwrap();
    let first = schema.store.clone();
    let second = schema.another_store(&url).await.unwrap();
    fincrm_store::conformance::tree_edits_wait_for_each_other(Arc::new(first), Arc::new(second))
        .await;
    schema.drop().await.unwrap();
}
