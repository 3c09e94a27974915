//! Runs the real `fincrm audit verify` and `fincrm audit checkpoint` on a SQLite file, before and
//! after tampering with it.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use fincrm_store::audit::AuditRecord;
use fincrm_store::audit::conformance::sample_entries;
use fincrm_store::{AuditStore, Store};
use fincrm_store_sqlite::SqliteStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use std::path::Path;
use std::process::Command;

/// Runs `fincrm --database DB audit ARGS…`: exit code, stdout, stderr.
fn audit(db: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fincrm"))
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .arg("audit")
        .args(args)
        .env("FINCRM_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A database file holding the first `n` sample records.
async fn log_with(path: &Path, n: usize) -> Vec<AuditRecord> {
    let store = SqliteStore::open(path).await.unwrap();
    store.migrate().await.unwrap();
    let records = store.append(&sample_entries()[..n]).await.unwrap();
    store.close().await;
    records
}

/// Runs SQL on the file directly, as a DBA who bypasses fincrm.
async fn dba(path: &Path, statements: &[&str]) -> Result<(), String> {
    let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .unwrap();
    let mut result = Ok(());
    for sql in statements {
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe((*sql).to_owned()))
            .execute(&mut conn)
            .await
        {
            result = Err(e.to_string());
            break;
        }
    }
    conn.close().await.unwrap();
    result
}

#[tokio::test]
async fn verify_passes_an_intact_chain_and_reports_an_edited_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let records = log_with(&db, 5).await;
    let head = &records[4].hash;

    let (code, out, err) = audit(&db, &["verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, format!("ok: 5 records, head seq 5 hash {head}\n"));

    let (code, checkpoint, err) = audit(&db, &["checkpoint"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(checkpoint, format!("5 {head}\n"));
    let (code, out, err) = audit(&db, &["verify", "--checkpoint", checkpoint.trim()]);
    assert_eq!(code, 0, "{out}{err}");

    let refused = dba(
        &db,
        &["UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"],
    )
    .await;
    assert!(refused.unwrap_err().contains("append-only"));
    assert_eq!(audit(&db, &["verify"]).0, 0);

    dba(
        &db,
        &[
            "DROP TRIGGER audit_log_no_update",
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3",
        ],
    )
    .await
    .unwrap();
    let (code, out, _) = audit(&db, &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("broken at seq 3: hash mismatch"), "{out}");
}

#[tokio::test]
async fn a_checkpoint_catches_a_cut_off_tail() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    log_with(&db, 6).await;
    let (_, checkpoint, _) = audit(&db, &["checkpoint"]);

    dba(
        &db,
        &[
            "DROP TRIGGER audit_log_no_delete",
            "DELETE FROM audit_log WHERE seq > 4",
        ],
    )
    .await
    .unwrap();
    let (code, out, _) = audit(&db, &["verify"]);
    assert_eq!(
        code, 0,
        "without a checkpoint a cut tail looks like a shorter chain: {out}"
    );
    assert!(out.starts_with("ok: 4 records, head seq 4 "), "{out}");

    let (code, out, _) = audit(&db, &["verify", "--checkpoint", checkpoint.trim()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("broken at seq 6: checkpoint record missing: the chain ends at seq 4"),
        "{out}"
    );
}

#[tokio::test]
async fn a_deleted_record_is_reported_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    log_with(&db, 6).await;
    dba(
        &db,
        &[
            "DROP TRIGGER audit_log_no_delete",
            "DELETE FROM audit_log WHERE seq = 2",
        ],
    )
    .await
    .unwrap();
    let (code, out, _) = audit(&db, &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("broken at seq 2: sequence gap"), "{out}");
}

#[test]
fn bad_arguments_and_missing_files_are_errors_not_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let (code, out, err) = audit(&missing, &["verify"]);
    assert_eq!(code, 1);
    assert!(
        out.is_empty() && err.contains("does not exist"),
        "{out}{err}"
    );
    assert!(!missing.exists());
    let (code, _, err) = audit(&missing, &["verify", "--checkpoint", "12 nothex"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("HASH must be 64 lowercase hex digits"),
        "{err}"
    );
}
