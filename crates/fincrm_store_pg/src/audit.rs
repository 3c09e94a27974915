//! The audit log on PostgreSQL (`migrations/0002_audit.sql`).
//!
//! Appends are serialised by a transaction-level advisory lock keyed on the `audit_log` table's
//! oid (so stores in different schemas of one database do not wait for each other): the head is
//! read only after the lock is held, under READ COMMITTED, so it is the last committed record and
//! concurrent appenders never fork the chain. The `seq` primary key is the last wall.
//!
//! [`AuditStore::append`] runs on a connection of its own ([`AuditConnection`]), not one from
//! the pool; business writes append inside their own transactions ([`append_in`]).

use crate::{PING_AFTER_IDLE, PgStore};
use async_trait::async_trait;
use fincrm_store::audit::{
    AUDIT_COLUMNS, AuditRecord, AuditRow, AuditStore, NewAuditEntry, check_entries,
};
use fincrm_store::{StoreError, StoreResult};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::time::Instant;

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

/// The connection [`AuditStore::append`] runs on, apart from the pool, and the head of the
/// chain as its last append left it.
///
/// Every customer view waits for its audit record before it answers, and the service
/// group-commits those records, so one append holds up every caller in its group: the fewer
/// round trips an append takes, the shorter every audited request.
/// - **One statement, one round trip**, while the chain's head is the one this connection
///   wrote last ([`append_after`]): the lock, the insert and the commit, against four round
///   trips for taking the lock, reading the head, inserting and committing.
/// - **The full append** ([`append_locked`], four round trips) for the first append, and
///   whenever another writer (a business write's [`append_in`], another server process) has
///   moved the head since; after such a miss, for the next [`FULL_APPENDS_AFTER_A_MISS`]
///   appends.
/// - **Apart from the pool**: under load the requests' own reads keep every pooled connection
///   busy, and an append should not queue behind them. Appends are serialised by the append
///   lock anyway, so one connection of their own costs them nothing.
///
/// The connection and the head are taken out while an append runs and put back only once it
/// committed: an append that failed or was cancelled midway leaves no half-finished transaction
/// and no head it is unsure of behind; the next one connects afresh and reads the head.
pub(crate) struct AuditConnection {
    options: PgConnectOptions,
    between: tokio::sync::Mutex<BetweenAppends>,
}

/// What an [`AuditConnection`] keeps from one append to the next.
#[derive(Default)]
struct BetweenAppends {
    /// The connection and when it was last used.
    conn: Option<(PgConnection, Instant)>,
    /// The `seq` and hash of the last record this connection committed.
    head: Option<(i64, String)>,
    /// Full appends still to make before the one statement is tried again.
    full_appends_left: u32,
}

/// Full appends made after the one statement found the head moved, before it is tried again.
/// Where other writers append all the time (several server processes on one database), the
/// one statement would nearly always miss and cost a round trip more than the full append
/// alone, and each collision an `ERROR` line in PostgreSQL's log; where they append now and
/// then (a business write among views), it is back after a few groups.
const FULL_APPENDS_AFTER_A_MISS: u32 = 16;

impl AuditConnection {
    /// Connects lazily, with the pool's `options` (schema and settings included), under the
    /// application name `fincrm audit`, so a DBA can tell it apart in `pg_stat_activity`.
    pub(crate) fn new(options: PgConnectOptions) -> Self {
        Self {
            options: options.application_name("fincrm audit"),
            between: tokio::sync::Mutex::default(),
        }
    }

    async fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<AuditRecord>> {
        let mut between = self.between.lock().await;
        let head = between.head.take();
        let mut conn = match between.conn.take() {
            // As the pool does: only a connection that sat idle (where a restart or a firewall
            // may have cut it) is checked before use.
            Some((mut conn, last_used)) => {
                if last_used.elapsed() < PING_AFTER_IDLE || conn.ping().await.is_ok() {
                    conn
                } else {
                    PgConnection::connect_with(&self.options).await?
                }
            }
            None => PgConnection::connect_with(&self.options).await?,
        };
        let try_one_statement = between.full_appends_left == 0;
        let appended = match &head {
            Some((seq, hash)) if try_one_statement => {
                append_after(&mut conn, (*seq, hash), entries).await?
            }
            _ => None,
        };
        let missed = try_one_statement && head.is_some() && appended.is_none();
        let records = if let Some(records) = appended {
            records
        } else {
            // BEGIN and the append lock in one simple-protocol message: three more round trips
            // (the head, the insert, COMMIT).
            let mut tx = conn
                .begin_with(AssertSqlSafe(format!("BEGIN; {LOCK_SQL}")))
                .await?;
            let records = append_locked(&mut tx, entries).await?;
            tx.commit().await?;
            records
        };
        between.head = records.last().map(|r| (r.seq, r.hash.clone()));
        between.conn = Some((conn, Instant::now()));
        between.full_appends_left = if missed {
            FULL_APPENDS_AFTER_A_MISS
        } else {
            between.full_appends_left.saturating_sub(1)
        };
        Ok(records)
    }

    /// The server process of the idle connection, if there is one.
    #[cfg(test)]
    async fn backend_pid(&self) -> Option<i32> {
        let mut between = self.between.lock().await;
        let (conn, _) = between.conn.as_mut()?;
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(conn)
            .await
            .ok()
    }

    /// Closes the connection, if one is open; the next append would open another.
    pub(crate) async fn close(&self) {
        let mut between = self.between.lock().await;
        between.head = None;
        if let Some((conn, _)) = between.conn.take() {
            // Closing says goodbye to the server; a failure only means the server went first.
            let _ = conn.close().await;
        }
    }
}

/// Appends `entries` after `head` in one statement, outside any transaction, so the statement
/// commits itself: `None` (nothing written) when the head has moved.
///
/// The statement takes the append lock before it inserts, so no other append can start until
/// it has committed. Its head check runs on the snapshot taken before the lock, which may not
/// show a record committed while the statement waited for the lock: then the insert collides
/// with that record on the `seq` primary key and fails whole, and the full append follows. The
/// check sees every other case of a moved head. Either way no record is written after a head
/// that is not the chain's.
async fn append_after(
    conn: &mut PgConnection,
    head: (i64, &str),
    entries: &[NewAuditEntry],
) -> StoreResult<Option<Vec<AuditRecord>>> {
    let records = AuditRecord::chain_after(Some(head), entries.iter().cloned());
    let insert = bind_records(
        sqlx::query(AssertSqlSafe(format!(
            "WITH append_lock AS MATERIALIZED ({LOCK_SQL}) \
             INSERT INTO audit_log ({INSERT_COLUMNS}) \
             SELECT r.* FROM {UNNEST_RECORDS} AS r, append_lock \
             WHERE (SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1) = $14"
        ))),
        &records,
    )
    .bind(head.0);
    match insert.execute(&mut *conn).await {
        Ok(done) if done.rows_affected() == records.len() as u64 => Ok(Some(records)),
        Ok(done) if done.rows_affected() == 0 => Ok(None),
        Ok(done) => Err(StoreError::Other(anyhow::anyhow!(
            "audit append after seq {} wrote {} of {} records",
            head.0,
            done.rows_affected(),
            records.len()
        ))),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl std::fmt::Debug for AuditConnection {
    // Not the options: they may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditConnection").finish_non_exhaustive()
    }
}

/// The columns an append writes, in the order of [`UNNEST_RECORDS`].
const INSERT_COLUMNS: &str = "seq, recorded_at, actor, action, customer_id, client_addr, \
    target_table, target_key, before_json, after_json, reason, prev_hash, hash";

/// The records of [`bind_records`] as rows: `$1` to `$13`, one array a column.
const UNNEST_RECORDS: &str = "UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], \
    $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
    $12::text[], $13::text[])";

/// Binds `records` to `query` as [`UNNEST_RECORDS`] reads them: a group commit of hundreds of
/// views is one statement, not hundreds, while the append lock is held.
fn bind_records<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    records: &[AuditRecord],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    fn column<T>(records: &[AuditRecord], f: impl Fn(&AuditRecord) -> T) -> Vec<T> {
        records.iter().map(f).collect()
    }
    query
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
}

/// Writes `records` with one statement, whatever their number.
async fn insert_records(conn: &mut PgConnection, records: &[AuditRecord]) -> StoreResult<()> {
    bind_records(
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO audit_log ({INSERT_COLUMNS}) SELECT * FROM {UNNEST_RECORDS}"
        ))),
        records,
    )
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
        self.audit.append(entries).await
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

    /// The last statement of the audit connection, `pid`, as the server reports it.
    async fn last_statement(store: &PgStore, pid: i32) -> String {
        sqlx::query_scalar("SELECT query FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    /// Runs when `FINCRM_TEST_PG_URL` is set, in a fresh schema.
    #[tokio::test]
    async fn appends_follow_their_own_head_in_one_statement_and_any_other_in_full() {
        let Some(url) = crate::testing::url_or_skip("the one-statement audit append test") else {
            return;
        };
        let schema = crate::testing::TestSchema::migrated(&url, "audit_head")
            .await
            .unwrap();
        let store = &schema.store;
        let entries: Vec<NewAuditEntry> =
            std::iter::repeat_n(sample_entries(), 3).flatten().collect();
        // The entries in order, each either appended here or by a business write.
        let taken = std::cell::Cell::new(0);
        let take = || {
            taken.set(taken.get() + 1);
            entries[taken.get() - 1].clone()
        };
        let append = async || store.append(&[take()]).await.unwrap();
        let one_statement = |sql: &str| sql.starts_with("WITH append_lock");

        // The first append reads the head; the next follows its own in one statement.
        append().await;
        let pid = store
            .audit
            .backend_pid()
            .await
            .expect("an audit connection");
        assert!(!one_statement(&last_statement(store, pid).await));
        append().await;
        assert!(one_statement(&last_statement(store, pid).await));

        // A business write moves the head: the one statement writes nothing, the full append
        // follows the new head, and so do the next few, before the one statement again.
        let mut tx = store.pool.begin().await.unwrap();
        append_in(&mut tx, &[take()]).await.unwrap();
        tx.commit().await.unwrap();
        for _ in 0..=FULL_APPENDS_AFTER_A_MISS {
            append().await;
            assert_eq!(last_statement(store, pid).await, "COMMIT");
        }
        append().await;
        assert!(one_statement(&last_statement(store, pid).await));

        // The head moves while the one statement waits for the append lock: its head check ran
        // on a snapshot from before, so the insert collides on `seq`, and the full append
        // follows.
        let mut tx = store.pool.begin().await.unwrap();
        append_in(&mut tx, &[take()]).await.unwrap();
        let waiting = tokio::spawn({
            let store = store.clone();
            let entry = take();
            async move { store.append(&[entry]).await }
        });
        let mut waited = false;
        for _ in 0..200 {
            let lock_wait: Option<String> = sqlx::query_scalar(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
            )
            .bind(pid)
            .fetch_optional(&store.pool)
            .await
            .unwrap();
            if lock_wait.as_deref() == Some("Lock") {
                waited = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(waited, "the append waited for the lock");
        assert!(one_statement(&last_statement(store, pid).await));
        tx.commit().await.unwrap();
        let records = waiting.await.unwrap().unwrap();
        let written = taken.get();
        assert_eq!(records[0].seq, i64::try_from(written).unwrap());
        assert_eq!(last_statement(store, pid).await, "COMMIT");

        // Whatever path each took, the chain is the one the domain computes.
        let stored = store.records(1, 100).await.unwrap();
        let expected = AuditRecord::chain_after(None, entries[..written].iter().cloned());
        assert_eq!(stored, expected);
        schema.drop().await.unwrap();
    }

    /// Runs when `FINCRM_TEST_PG_URL` is set, in a fresh schema.
    #[tokio::test]
    async fn appends_do_not_wait_for_the_pool_and_outlive_their_connection() {
        let Some(url) = crate::testing::url_or_skip("the audit connection test") else {
            return;
        };
        let schema = crate::testing::TestSchema::migrated(&url, "audit_conn")
            .await
            .unwrap();
        let store = &schema.store;
        let entries = sample_entries();
        // Every pooled connection busy, as under load: the append still goes through.
        let mut held = Vec::new();
        for _ in 0..store.pool.options().get_max_connections() {
            held.push(store.pool.acquire().await.unwrap());
        }
        assert!(store.pool.try_acquire().is_none(), "the pool is exhausted");
        let appended = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store.append(&entries[..1]),
        )
        .await
        .expect("an append waited for the busy pool")
        .unwrap();
        assert_eq!(appended.len(), 1);

        // The server ends the audit connection (a restart, an administrator): the append that
        // finds it gone fails and writes nothing, and the next one connects afresh.
        let pid = store
            .audit
            .backend_pid()
            .await
            .expect("an audit connection");
        let name: String =
            sqlx::query_scalar("SELECT application_name FROM pg_stat_activity WHERE pid = $1")
                .bind(pid)
                .fetch_one(&mut *held[0])
                .await
                .unwrap();
        assert_eq!(name, "fincrm audit");
        let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 10000)")
            .bind(pid)
            .fetch_one(&mut *held[0])
            .await
            .unwrap();
        assert!(ended, "the audit connection's server process has ended");
        drop(held);
        let mut failures = 0;
        for entry in &entries[1..3] {
            if store.append(std::slice::from_ref(entry)).await.is_err() {
                failures += 1;
                store.append(std::slice::from_ref(entry)).await.unwrap();
            }
        }
        assert_eq!(
            failures, 1,
            "the append that found the connection gone failed, only it"
        );
        assert_eq!(
            store.head().await.unwrap(),
            Some((3, expected_sample_chain()[2].hash.clone())),
            "one chain, nothing lost or doubled"
        );
        let report = fincrm_store::audit::verify(store, None, 100).await.unwrap();
        assert!(report.is_ok(), "{report:?}");
        schema.drop().await.unwrap();
    }
}
