//! The audit log on SQLite (`migrations/0002_audit.sql`).
//!
//! Appends are serialised by SQLite's single writer: every write of this store goes through the
//! writer pool's one connection, and [`AuditStore::append`] opens its transaction with
//! `BEGIN IMMEDIATE`, so another process writing the same file waits (busy timeout) instead of
//! reading a head that is stale by the time it inserts. The `seq` primary key is the last wall:
//! two appenders that read the same head cannot both commit.

use crate::SqliteStore;
use async_trait::async_trait;
use fincrm_store::StoreResult;
use fincrm_store::audit::{
    AUDIT_COLUMNS, AuditRecord, AuditRow, AuditStore, NewAuditEntry, check_entries,
};
use sqlx::{AssertSqlSafe, SqliteConnection};

/// Appends `entries` to the audit chain inside the caller's open transaction, and returns the
/// records written.
///
/// This is how a business write records its audit entries atomically with the change: on the
/// writer pool, `let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;`, make the
/// change, call `append_in(&mut tx, &entries)`, then `tx.commit()`. The head is read inside the
/// transaction, so the records chain after whatever committed last; a rollback removes change
/// and audit records together. Entries failing [`fincrm_store::audit::AuditEntry::check`] are
/// refused before anything is written.
pub(crate) async fn append_in(
    conn: &mut SqliteConnection,
    entries: &[NewAuditEntry],
) -> StoreResult<Vec<AuditRecord>> {
    check_entries(entries)?;
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let records = AuditRecord::chain_after(
        head.as_ref().map(|(s, h)| (*s, h.as_str())),
        entries.iter().cloned(),
    );
    for r in &records {
        let e = &r.entry;
        sqlx::query(
            "INSERT INTO audit_log (seq, recorded_at, actor, action, customer_id, client_addr, \
             target_table, target_key, before_json, after_json, reason, prev_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(r.seq)
        .bind(e.recorded_at)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.customer_id)
        .bind(&e.client_addr)
        .bind(&e.target_table)
        .bind(&e.target_key)
        .bind(&e.before_json)
        .bind(&e.after_json)
        .bind(&e.reason)
        .bind(&r.prev_hash)
        .bind(&r.hash)
        .execute(&mut *conn)
        .await?;
    }
    Ok(records)
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<AuditRecord>> {
        check_entries(entries)?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let records = append_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(records)
    }

    async fn records(&self, from_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let sql =
            format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?");
        let rows: Vec<AuditRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(from_seq)
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(AuditRecord::from).collect())
    }

    async fn head(&self) -> StoreResult<Option<(i64, String)>> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.reader)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fincrm_store::Store;
    use fincrm_store::audit::conformance::expected_sample_chain;
    use fincrm_store::audit::conformance::sample_entries;

    async fn business_write(store: &SqliteStore, branch: &str, commit: bool) {
        let entries = sample_entries();
        let mut tx = store.writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO branch (branch_id, name, level) VALUES (?, 'x', 'branch')")
            .bind(branch)
            .execute(&mut *tx)
            .await
            .unwrap();
        append_in(&mut tx, &entries[..2]).await.unwrap();
        if commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }
    }

    #[tokio::test]
    async fn audit_records_commit_and_roll_back_with_the_business_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("tx.db")).await.unwrap();
        store.migrate().await.unwrap();
        business_write(&store, "B1", false).await;
        assert_eq!(store.head().await.unwrap(), None);
        assert_eq!(store.counts().await.unwrap().branches, 0);
        business_write(&store, "B2", true).await;
        assert_eq!(
            store.head().await.unwrap(),
            Some((2, expected_sample_chain()[1].hash.clone()))
        );
        assert_eq!(store.counts().await.unwrap().branches, 1);
    }
}
