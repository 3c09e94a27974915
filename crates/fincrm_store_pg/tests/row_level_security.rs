//! The second wall: PostgreSQL's row-level security on `customer` hides what lies outside the
//! scope a transaction declares, even from a query with no WHERE clause at all. Runs as a
//! non-superuser role (superusers bypass RLS; the application's role must not be one).
//!
//! Runs when `FINCRM_TEST_PG_URL` is set (`.ci/run` sets it); otherwise reports itself
//! skipped.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use fincrm_domain::{Branch, BranchLevel, Customer, CustomerId};
use fincrm_store::{CustomerScope, Store, tables};
use fincrm_store_pg::PgStore;
use fincrm_store_pg::testing::{TestSchema, url_or_skip};

const PROBE_ROLE: &str = "fincrm_rls_probe";

fn branch(id: &str, parent: Option<&str>, level: BranchLevel) -> Branch {
    Branch {
        id: id.parse().unwrap(),
        name: id.to_owned(),
        parent: parent.map(|p| p.parse().unwrap()),
        level,
    }
}

fn customer(id: &str, branch: &str, rm: &str) -> Customer {
    let mut c = Customer::individual(CustomerId::parse(id).unwrap(), format!("客户{id}"));
    c.branch_id = Some(branch.parse().unwrap());
    c.primary_rm = Some(rm.parse().unwrap());
    c
}

/// Every customer number the probe role can see with `scope` declared, from a bare
/// `SELECT … FROM customer` (no WHERE clause: only the policy filters).
async fn visible(store: &PgStore, scope: Option<(&str, &str)>) -> Vec<String> {
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL ROLE {PROBE_ROLE}")))
        .execute(&mut *tx)
        .await
        .unwrap();
    if let Some((kind, key)) = scope {
        sqlx::query(
            "SELECT set_config('fincrm.scope', $1, true), set_config('fincrm.scope_key', $2, true)",
        )
        .bind(kind)
        .bind(key)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    let ids: Vec<String> = sqlx::query_scalar("SELECT customer_id FROM customer ORDER BY 1")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    ids
}

#[tokio::test]
async fn row_level_security_hides_customers_outside_the_declared_scope() {
    let Some(url) = url_or_skip("the row-level security test") else {
        return;
    };
    let test_schema = TestSchema::migrated(&url, "rls").await.unwrap();
    let (store, schema) = (&test_schema.store, &test_schema.name);
    store
        .write(
            None,
            &[
                tables::branches(&[
                    branch("HO", None, BranchLevel::HeadOffice),
                    branch("B1", Some("HO"), BranchLevel::Branch),
                    branch("B11", Some("B1"), BranchLevel::SubBranch),
                    branch("B2", Some("HO"), BranchLevel::Branch),
                ]),
                tables::customers(&[
                    customer("R1", "B11", "RM1"),
                    customer("R2", "B2", "RM2"),
                    customer("R3", "B1", "RM2"),
                ]),
                tables::coverage(&[fincrm_domain::Coverage {
                    customer_id: CustomerId::parse("R2").unwrap(),
                    user_id: "RM1".parse().unwrap(),
                    role: fincrm_domain::CoverageRole::CoRm,
                }]),
            ],
        )
        .await
        .unwrap();
    for sql in [
        format!(
            "DO $$ BEGIN CREATE ROLE {PROBE_ROLE} NOLOGIN; \
             EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        ),
        format!("GRANT USAGE ON SCHEMA {schema} TO {PROBE_ROLE}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {PROBE_ROLE}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(store.pool())
            .await
            .unwrap();
    }

    assert_eq!(
        visible(store, Some(("book", "RM1"))).await,
        ["R1", "R2"],
        "primary RM and coverage"
    );
    assert_eq!(
        visible(store, Some(("book", "RM9"))).await,
        Vec::<String>::new()
    );
    assert_eq!(
        visible(store, Some(("branches", "B1"))).await,
        ["R1", "R3"],
        "the subtree"
    );
    assert_eq!(visible(store, Some(("branches", "B2"))).await, ["R2"]);
    assert_eq!(visible(store, Some(("all", ""))).await, ["R1", "R2", "R3"]);
    assert_eq!(
        visible(store, None).await,
        ["R1", "R2", "R3"],
        "batch jobs declare nothing"
    );

    // The store's own scoped reads pass through the policy and still answer as before.
    let rm1 = CustomerScope::Book("RM1".to_owned());
    let found = store
        .find_customers(
            &rm1,
            &fincrm_store::CustomerQuery {
                limit: 10,
                ..fincrm_store::CustomerQuery::default()
            },
        )
        .await
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["R1", "R2"]);
    assert!(
        store
            .customer_in_scope(&rm1, &CustomerId::parse("R3").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    test_schema.drop().await.unwrap();
}
