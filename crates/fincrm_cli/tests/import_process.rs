//! Runs the real `fincrm import` process: twice over the same files (idempotent), and killed
//! with SIGKILL half way (no partial batch; a re-run completes it). On SQLite always, and on
//! PostgreSQL when `FINCRM_TEST_PG_URL` is set.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use fincrm_store::Store;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CUSTOMERS: usize = 500;
const TRANSACTIONS: usize = 240_000;
const BATCH: usize = 2_000;

/// Writes a small extract in fincrm's plain layout.
fn write_extract(dir: &Path) {
    let mut c = std::fs::File::create(dir.join("customers.csv")).unwrap();
    writeln!(c, "customer_id,kind,name,phone").unwrap();
    for i in 0..CUSTOMERS {
        writeln!(c, "P{i:06},individual,客户{i},138{i:08}").unwrap();
    }
    let mut h = std::fs::File::create(dir.join("holdings.csv")).unwrap();
    writeln!(
        h,
        "holding_id,customer_id,product_code,product_type,balance,currency,status"
    )
    .unwrap();
    for i in 0..CUSTOMERS {
        writeln!(
            h,
            "6222{i:012},P{i:06},DEP001,deposit,{},CNY,active",
            i * 100
        )
        .unwrap();
    }
    let mut t =
        std::io::BufWriter::new(std::fs::File::create(dir.join("transactions.csv")).unwrap());
    writeln!(
        t,
        "transaction_id,customer_id,holding_id,posted_at,amount,currency,direction,channel,memo"
    )
    .unwrap();
    for i in 0..TRANSACTIONS {
        let c = i % CUSTOMERS;
        let day = 1 + i % 28;
        writeln!(t, "T{i:012},P{c:06},6222{c:012},2025-03-{day:02}T08:00:{:02}Z,{},CNY,debit,手机银行,\"备注,{i}\"", i % 60, 100 + i).unwrap();
    }
    t.flush().unwrap();
}

fn fincrm(db: &str, dir: &Path, report: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fincrm"));
    cmd.args(["--database", db, "import"])
        .arg(dir)
        .args(["--batch-size", &BATCH.to_string(), "--report-dir"])
        .arg(report)
        .env("FINCRM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

async fn batches_done(store: &dyn Store) -> i64 {
    store.counts().await.map_or(0, |c| c.import_batches)
}

async fn kill_mid_import_then_resume(db: &str, store: &dyn Store) {
    let dir = tempfile::tempdir().unwrap();
    write_extract(dir.path());
    let report = dir.path().join("report");

    let mut child = fincrm(db, dir.path(), &report).spawn().unwrap();
    // Wait until some transaction batches are committed, then SIGKILL the importer.
    let deadline = Instant::now() + Duration::from_mins(2);
    let customers_and_holdings_batches = 2;
    loop {
        if batches_done(store).await >= customers_and_holdings_batches + 5 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import finished before it could be killed; make the extract bigger"
        );
        assert!(
            Instant::now() < deadline,
            "no batch was committed within two minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();

    let counts = store.counts().await.unwrap();
    let total_batches =
        i64::try_from(TRANSACTIONS / BATCH).unwrap() + customers_and_holdings_batches;
    assert!(
        counts.import_batches < total_batches,
        "the kill came after the import finished"
    );
    // Every committed marker covers exactly BATCH transactions (none rejected), and no
    // transaction exists outside a committed batch: no partial batch.
    let txn_batches = counts.import_batches - customers_and_holdings_batches;
    assert_eq!(
        counts.transactions,
        txn_batches * i64::try_from(BATCH).unwrap(),
        "a partial batch was left behind"
    );

    // The re-run completes the import without duplicating anything.
    let status = fincrm(db, dir.path(), &report).status().unwrap();
    assert!(status.success());
    let done = store.counts().await.unwrap();
    assert_eq!(done.transactions, i64::try_from(TRANSACTIONS).unwrap());
    assert_eq!(done.customers, i64::try_from(CUSTOMERS).unwrap());
    assert_eq!(done.holdings, i64::try_from(CUSTOMERS).unwrap());
    assert_eq!(done.import_batches, total_batches);

    // Importing the same files once more changes nothing.
    let status = fincrm(db, dir.path(), &report).status().unwrap();
    assert!(status.success());
    assert_eq!(store.counts().await.unwrap(), done);
}

#[tokio::test]
async fn a_killed_import_leaves_whole_batches_and_a_rerun_completes_it_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.db");
    let store = fincrm_store_sqlite::SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    kill_mid_import_then_resume(&format!("sqlite://{}", path.display()), &store).await;
}

#[tokio::test]
async fn a_killed_import_leaves_whole_batches_and_a_rerun_completes_it_on_postgres() {
    let Some(base) = fincrm_store_pg::testing::url_or_skip("the import kill test") else {
        return;
    };
    // A database of its own: the importer connects with the plain URL (no schema option).
    let name = fincrm_store_pg::testing::unique_name("kill");
    let admin = fincrm_store_pg::PgStore::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .unwrap();
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => panic!("FINCRM_TEST_PG_URL has no database part"),
    };
    let store = fincrm_store_pg::PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    kill_mid_import_then_resume(&url, &store).await;
    store.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(admin.pool())
    .await
    .unwrap();
}

#[test]
fn a_bad_mapping_fails_before_any_row_is_read_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write_extract(dir.path());
    let mapping = dir.path().join("bad.toml");
    std::fs::write(
        &mapping,
        "[[file]]\nname = \"customers.csv\"\nkind = \"customers\"\ndefaults = { kind = \"individual\" }\ncolumns = { customer_id = \"customer_id\", name = \"姓名\" }\n",
    )
    .unwrap();
    let db = dir.path().join("m.db");
    let out = Command::new(env!("CARGO_BIN_EXE_fincrm"))
        .args([
            "--database",
            &format!("sqlite://{}", db.display()),
            "import",
            "--mapping",
        ])
        .arg(&mapping)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("file[0].columns.name") && stderr.contains("姓名"),
        "{stderr}"
    );
}
