//! Runs the real `fincrm keys` commands: a key file is created with mode 600 and never
//! overwritten, a database loaded in plaintext mode is sealed by `keys rotate`, and the full
//! rotation procedure (add → activate → rotate → remove) leaves every value under the new key.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use std::path::Path;
use std::process::Command;

/// Runs `fincrm --database DB ARGS…` with `key_file` as `FINCRM_KEY_FILE` (or no keys): exit
/// code, stdout, stderr.
fn fincrm(db: &Path, key_file: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fincrm"));
    cmd.arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .args(args)
        .env("FINCRM_LOG", "warn")
        .env_remove("FINCRM_KEYS")
        .env_remove("FINCRM_KEY_FILE");
    if let Some(k) = key_file {
        cmd.env("FINCRM_KEY_FILE", k);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// (customers with a plaintext phone, sealed phones, sealed phones under `key_id`).
async fn phone_columns(db: &Path, key_id: &str) -> (i64, i64, i64) {
    let mut conn =
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(db).read_only(true))
            .await
            .unwrap();
    let row = sqlx::query_as(
        "SELECT count(phone), count(phone_enc), \
                count(CASE WHEN phone_enc LIKE 'v1:' || ?1 || ':%' THEN 1 END) FROM customer",
    )
    .bind(key_id)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    row
}

#[tokio::test]
async fn keys_init_rotate_and_the_rotation_procedure() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crm.db");
    let keys = dir.path().join("keys.toml");

    let (code, out, _) = fincrm(&db, None, &["keys", "init", keys.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("active key k1"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = std::fs::read(&keys).unwrap();
    let (code, _, err) = fincrm(&db, None, &["keys", "init", keys.to_str().unwrap()]);
    assert_ne!(code, 0, "init must not overwrite a key file");
    assert!(err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(&keys).unwrap(), before);

    // Plaintext mode warns, and stores phones in clear.
    let (code, _, err) = fincrm(&db, None, &["demo", "--customers", "300"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("personal information is stored unencrypted"),
        "{err}"
    );
    let (plain, ..) = phone_columns(&db, "k1").await;
    assert!(plain > 0);
    // Rotation needs keys.
    let (code, ..) = fincrm(&db, None, &["keys", "rotate"]);
    assert_ne!(code, 0);

    // `keys rotate` seals what plaintext mode wrote, page by page; a second run rewrites nothing.
    let (code, out, err) = fincrm(&db, Some(&keys), &["keys", "rotate", "--page-size", "70"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("300 customers scanned, 300 re-encrypted"),
        "{out}"
    );
    assert_eq!(phone_columns(&db, "k1").await, (0, plain, plain));
    let (_, out, _) = fincrm(&db, Some(&keys), &["keys", "rotate"]);
    assert!(
        out.contains("300 customers scanned, 0 re-encrypted"),
        "{out}"
    );

    // The procedure: add k2, activate it, rotate, remove k1.
    let path = keys.to_str().unwrap();
    assert_eq!(fincrm(&db, None, &["keys", "add", path, "k2"]).0, 0);
    let (_, out, _) = fincrm(&db, Some(&keys), &["keys", "rotate"]);
    assert!(
        out.contains(", 0 re-encrypted"),
        "k2 is not active yet: {out}"
    );
    assert_eq!(fincrm(&db, None, &["keys", "activate", path, "k2"]).0, 0);
    let (_, out, _) = fincrm(&db, Some(&keys), &["keys", "rotate", "--page-size", "128"]);
    assert!(
        out.contains("300 customers scanned, 300 re-encrypted"),
        "{out}"
    );
    assert_eq!(phone_columns(&db, "k2").await, (0, plain, plain));
    let (code, _, err) = fincrm(&db, None, &["keys", "remove", path, "k2"]);
    assert_ne!(code, 0, "the active key cannot be removed: {err}");
    assert_eq!(fincrm(&db, None, &["keys", "remove", path, "k1"]).0, 0);
    let text = std::fs::read_to_string(&keys).unwrap();
    assert!(
        text.contains("active = \"k2\"") && !text.contains("k1 ="),
        "key ids only"
    );
    // The database is still readable and complete with k2 alone.
    let (code, out, err) = fincrm(&db, Some(&keys), &["keys", "rotate"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("300 customers scanned, 0 re-encrypted"),
        "{out}"
    );
}
