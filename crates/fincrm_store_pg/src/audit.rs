//! The audit log on PostgreSQL (`migrations/0002_audit.sql`).
//!
//! Appends are serialised by a transaction-level advisory lock keyed on the `audit_log` table's
//! oid (so stores in different schemas of one database do not wait for each other): the head is
//! read only after the lock is held, under READ COMMITTED, so it is the last committed record and
//! concurrent appenders never fork the chain. The `seq` primary key is the last wall.

use crate::PgStore;
use async_trait::async_trait;
use fincrm_store::StoreResult;
use fincrm_store::audit::{
    AUDIT_COLUMNS, AuditRecord, AuditRow, AuditStore, NewAuditEntry, check_entries,
};
use sqlx::{AssertSqlSafe, PgConnection};

/// Appends `entries` to the audit chain inside the caller's open transaction, and returns the
/// records written.
///
/// This is how a business write records its audit entries atomically with the change:
/// `let mut tx = self.pool.begin().await?;`, make the change, call
/// `append_in(&mut tx, &entries)`, then `tx.commit()`. It takes the append lock, which is held
/// until the transaction ends: call it last in the transaction, to keep the serialised part
/// short and the lock order the same everywhere (no deadlocks). A rollback removes change and
/// audit records together. Entries failing [`fincrm_store::audit::AuditEntry::check`] are
/// refused before anything is written.
pub(crate) async fn append_in(
    conn: &mut PgConnection,
    entries: &[NewAuditEntry],
) -> StoreResult<Vec<AuditRecord>> {
    check_entries(entries)?;
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(AssertSqlSafe(LOCK_SQL))
        .execute(&mut *conn)
        .await?;
    append_locked(conn, entries).await
}

/// Takes the advisory lock that serialises appends until the transaction ends. Its first key is
/// "fcrm" (0x6663726d); the second is the table's oid.
const LOCK_SQL: &str =
    "SELECT pg_advisory_xact_lock(1717793389, ('audit_log'::regclass)::oid::int)";

/// [`append_in`] once the lock is held: the head is read after the lock, so with a snapshot
/// that sees every record committed before.
async fn append_locked(
    conn: &mut PgConnection,
    entries: &[NewAuditEntry],
) -> StoreResult<Vec<AuditRecord>> {
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let records = AuditRecord::chain_after(
        head.as_ref().map(|(s, h)| (*s, h.as_str())),
        entries.iter().cloned(),
    );
    insert_records(conn, &records).await?;
    Ok(records)
}

/// Writes `records` with one statement, whatever their number: a group commit of hundreds of
/// views is one round trip, not hundreds, while the append lock is held.
async fn insert_records(conn: &mut PgConnection, records: &[AuditRecord]) -> StoreResult<()> {
    fn column<T>(records: &[AuditRecord], f: impl Fn(&AuditRecord) -> T) -> Vec<T> {
        records.iter().map(f).collect()
    }
    sqlx::query(
        "INSERT INTO audit_log (seq, recorded_at, actor, action, customer_id, client_addr, \
         target_table, target_key, before_json, after_json, reason, prev_hash, hash) \
         SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], \
             $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
             $11::text[], $12::text[], $13::text[])",
    )
    .bind(column(records, |r| r.seq))
    .bind(column(records, |r| r.entry.recorded_at))
    .bind(column(records, |r| r.entry.actor.clone()))
    .bind(column(records, |r| r.entry.action.clone()))
    .bind(column(records, |r| r.entry.customer_id.clone()))
    .bind(column(records, |r| r.entry.client_addr.clone()))
    .bind(column(records, |r| r.entry.target_table.clone()))
    .bind(column(records, |r| r.entry.target_key.clone()))
    .bind(column(records, |r| r.entry.before_json.clone()))
    .bind(column(records, |r| r.entry.after_json.clone()))
    .bind(column(records, |r| r.entry.reason.clone()))
    .bind(column(records, |r| r.prev_hash.clone()))
    .bind(column(records, |r| r.hash.clone()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<AuditRecord>> {
        check_entries(entries)?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // BEGIN and the append lock in one simple-protocol message: a group commit of views is
        // then four round trips (this, the head, the insert, COMMIT), not five.
        let mut tx = self
            .pool
            .begin_with(AssertSqlSafe(format!("BEGIN; {LOCK_SQL}")))
            .await?;
        let records = append_locked(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(records)
    }

    async fn records(&self, from_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let sql =
            format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2");
        let rows: Vec<AuditRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(from_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(AuditRecord::from).collect())
    }

    async fn head(&self) -> StoreResult<Option<(i64, String)>> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fincrm_store::Store;
    use fincrm_store::audit::conformance::{expected_sample_chain, sample_entries};

    async fn business_write(store: &PgStore, branch: &str, commit: bool) {
        let entries = sample_entries();
        let mut tx = store.pool.begin().await.unwrap();
        sqlx::query("INSERT INTO branch (branch_id, name, level) VALUES ($1, 'x', 'branch')")
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

    /// Runs when `FINCRM_TEST_PG_URL` is set, in a fresh schema.
    #[tokio::test]
    async fn audit_records_commit_and_roll_back_with_the_business_change() {
        let Some(url) = crate::testing::url_or_skip("the audit transaction test") else {
            return;
        };
        let schema = crate::testing::TestSchema::migrated(&url, "audit_tx")
            .await
            .unwrap();
        let store = &schema.store;
        business_write(store, "B1", false).await;
        assert_eq!(store.head().await.unwrap(), None);
        assert_eq!(store.counts().await.unwrap().branches, 0);
        business_write(store, "B2", true).await;
        assert_eq!(
            store.head().await.unwrap(),
            Some((2, expected_sample_chain()[1].hash.clone()))
        );
        assert_eq!(store.counts().await.unwrap().branches, 1);
        schema.drop().await.unwrap();
    }
}
