//! Loads the sample core-banking extract (`shared/data/core-export`) through the shipped mapping
//! and compares the outcome with its `expected.json` record by record, on SQLite and (when
//! `FINCRM_TEST_PG_URL` is set) on PostgreSQL.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use chrono::{FixedOffset, NaiveDate};
use fincrm_domain::CustomerId;
use fincrm_service::import::{ImportOptions, Mapping, NoProgress, import};
use fincrm_store::Store;
use fincrm_store_pg::testing::{TestSchema, url_or_skip};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn export_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/core-export")
}

fn mapping() -> Mapping {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings/core-export-sample.toml"),
    )
    .unwrap();
    Mapping::from_toml(&text).unwrap()
}

/// The words our reject reason must contain for each reason `expected.json` names.
fn reason_words(expected: &str) -> &'static str {
    match expected {
        "id_number check digit" => "check digit",
        "uscc check character" => "check character",
        "missing name" => "missing name",
        "missing amount" => "missing amount",
        "invalid date" => "invalid date",
        "invalid timestamp" => "invalid timestamp",
        "invalid amount" => "invalid amount",
        "unknown currency" => "unknown currency",
        "unknown customer" => "unknown customer",
        "unknown account" => "unknown account",
        "wrong number of fields" => "wrong number of fields",
        other => panic!("expected.json names a reason the test does not know: {other}"),
    }
}

fn read_rejects(path: &Path) -> BTreeMap<u64, (String, String)> {
    let mut out = BTreeMap::new();
    if !path.exists() {
        return out;
    }
    let mut r = csv::Reader::from_path(path).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        out.insert(
            rec[1].parse().unwrap(),
            (rec[2].to_owned(), rec[3].to_owned()),
        );
    }
    out
}

#[expect(
    clippy::too_many_lines,
    reason = "one comparison per expected.json section"
)]
async fn load_and_compare(store: &dyn Store) {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(export_dir().join("expected.json")).unwrap())
            .unwrap();
    let reports = tempfile::tempdir().unwrap();
    let options = ImportOptions {
        batch_size: 700,
        dry_run: false,
        report_dir: reports.path().to_owned(),
    };
    let report = import(store, &mapping(), &export_dir(), &options, &NoProgress)
        .await
        .unwrap();

    for file in &report.files {
        let exp = &expected["files"][&file.file];
        assert_eq!(
            file.records,
            exp["records"].as_u64().unwrap(),
            "{}: records",
            file.file
        );
        assert_eq!(
            file.loaded,
            exp["valid"].as_u64().unwrap(),
            "{}: loaded",
            file.file
        );
        let rejects = read_rejects(&reports.path().join(format!("{}.rejects.csv", file.file)));
        let must: BTreeMap<u64, String> = exp["must_reject"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            rejects.keys().collect::<Vec<_>>(),
            must.keys().collect::<Vec<_>>(),
            "{}: rejected records",
            file.file
        );
        for (n, why) in &must {
            let (column, reason) = &rejects[n];
            assert!(
                reason.contains(reason_words(why)),
                "{} record {n}: expected {why:?}, got {column}: {reason}",
                file.file
            );
            assert!(
                !column.is_empty(),
                "{} record {n}: the reject names no column",
                file.file
            );
        }
    }
    assert_eq!(report.files.len(), 5);

    // Normalised values of the sampled valid records.
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    for (id, s) in expected["files"]["individuals.csv"]["samples"]
        .as_object()
        .unwrap()
    {
        let c = store
            .customer(&CustomerId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} not loaded"));
        assert_eq!(
            c.document.as_ref().unwrap().expose(),
            s["id_number"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            c.phone.as_ref().unwrap().expose(),
            s["phone"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(c.name, s["name"].as_str().unwrap(), "{id}");
        let birth: NaiveDate = s["birth_date"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            c.individual.as_ref().unwrap().birth_date,
            Some(birth),
            "{id}"
        );
    }
    for (id, s) in expected["files"]["corporates.csv"]["samples"]
        .as_object()
        .unwrap()
    {
        let c = store
            .customer(&CustomerId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            c.corporate
                .as_ref()
                .unwrap()
                .uscc
                .as_ref()
                .unwrap()
                .as_str(),
            s["uscc"].as_str().unwrap()
        );
        assert_eq!(c.name, s["name"].as_str().unwrap());
    }
    for (id, s) in expected["files"]["holdings.csv"]["samples"]
        .as_object()
        .unwrap()
    {
        let h = store.holding(&id.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(h.customer_id.as_str(), s["customer"].as_str().unwrap());
        assert_eq!(h.balance.minor, s["balance_fen"].as_i64().unwrap(), "{id}");
    }
    for (id, s) in expected["files"]["transactions.csv"]["samples"]
        .as_object()
        .unwrap()
    {
        let holding: fincrm_domain::HoldingId = s["account"].as_str().unwrap().parse().unwrap();
        let owner = store.holding(&holding).await.unwrap().unwrap().customer_id;
        let txns = store.recent_transactions(&owner, 10_000).await.unwrap();
        let t = txns
            .iter()
            .find(|t| t.id.as_str() == id)
            .unwrap_or_else(|| panic!("{id} not loaded"));
        assert_eq!(t.holding_id, holding);
        assert_eq!(t.amount.minor, s["amount_fen"].as_i64().unwrap());
        assert_eq!(t.direction.as_str(), s["direction"].as_str().unwrap());
        let local =
            t.at.with_timezone(&beijing)
                .naive_local()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string();
        assert_eq!(local, s["time"].as_str().unwrap(), "{id}: Beijing time");
    }

    // A re-run of the same extract changes nothing and reports every batch as already loaded.
    let before = store.counts().await.unwrap();
    let again = import(store, &mapping(), &export_dir(), &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!(store.counts().await.unwrap(), before);
    assert_eq!(again.loaded(), report.loaded());
    let batches: u64 = again.files.iter().map(|f| f.resumed_batches).sum();
    assert_eq!(batches, u64::try_from(before.import_batches).unwrap());

    // The quality report counts what was normalised, e.g. phones written with +86 or dashes.
    let individuals = &report.files[0];
    let phone = individuals
        .quality
        .columns
        .iter()
        .find(|c| c.field == "phone")
        .unwrap();
    assert!(phone.normalised > 100, "{phone:?}");
    let id = individuals
        .quality
        .columns
        .iter()
        .find(|c| c.field == "id_number")
        .unwrap();
    assert!(id.invalid >= 17, "{id:?}");
    assert!(reports.path().join("quality.json").exists());
    assert!(report.quality_text().contains("手机号码"));
}

#[tokio::test]
async fn the_sample_extract_loads_as_expected_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = fincrm_store_sqlite::SqliteStore::open(&dir.path().join("core.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    load_and_compare(&store).await;
}

/// The same extract with personal information sealed (issue #3): every comparison above reads
/// the values back through the keyring; the raw columns hold no plaintext.
#[tokio::test]
async fn the_sample_extract_loads_as_expected_on_sqlite_with_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sealed.db");
    let keyring = std::sync::Arc::new(fincrm_crypto::Keyring::generate().unwrap());
    let store = fincrm_store_sqlite::SqliteStore::open(&path)
        .await
        .unwrap()
        .with_keyring(keyring);
    store.migrate().await.unwrap();
    load_and_compare(&store).await;
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true),
    )
    .await
    .unwrap();
    let (plain, sealed): (i64, i64) = sqlx::query_as(
        "SELECT count(id_number) + count(phone) + count(email) + count(address), \
                count(id_number_enc) FROM customer",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(plain, 0, "no plaintext PI column is written");
    assert!(sealed > 0);
    pool.close().await;
}

#[tokio::test]
async fn the_sample_extract_loads_as_expected_on_postgres_with_encryption() {
    let Some(url) = url_or_skip("the sealed core-export import") else {
        return;
    };
    let keyring = std::sync::Arc::new(fincrm_crypto::Keyring::generate().unwrap());
    let schema = TestSchema::migrated_with_keyring(&url, "core_export_sealed", keyring)
        .await
        .unwrap();
    load_and_compare(&schema.store).await;
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(id_number) + count(phone) + count(email) + count(address) FROM customer",
    )
    .fetch_one(schema.store.pool())
    .await
    .unwrap();
    assert_eq!(plain, 0, "no plaintext PI column is written");
    schema.drop().await.unwrap();
}

#[tokio::test]
async fn the_sample_extract_loads_as_expected_on_postgres() {
    let Some(url) = url_or_skip("the core-export import") else {
        return;
    };
    let schema = TestSchema::migrated(&url, "core_export").await.unwrap();
    load_and_compare(&schema.store).await;
    schema.drop().await.unwrap();
}

#[tokio::test]
async fn a_dry_run_reports_the_same_rejects_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = fincrm_store_sqlite::SqliteStore::open(&dir.path().join("dry.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let reports = tempfile::tempdir().unwrap();
    let options = ImportOptions {
        batch_size: 1000,
        dry_run: true,
        report_dir: reports.path().to_owned(),
    };
    let report = import(&store, &mapping(), &export_dir(), &options, &NoProgress)
        .await
        .unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(export_dir().join("expected.json")).unwrap())
            .unwrap();
    for f in &report.files {
        assert_eq!(
            f.loaded,
            expected["files"][&f.file]["valid"].as_u64().unwrap(),
            "{}",
            f.file
        );
    }
    assert_eq!(
        store.counts().await.unwrap(),
        fincrm_store::TableCounts::default()
    );
}
