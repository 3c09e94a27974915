//! The audit log on SQLite (`migrations/0002_audit.sql`).
//!
//! Appends are serialised by SQLite's single writer: an append opens its transaction with
//! `BEGIN IMMEDIATE`, so another connection or process writing the same file waits (busy
//! timeout) instead of reading a head that is stale by the time it inserts. The `seq` primary
//! key is the last wall: two appenders that read the same head cannot both commit.
//!
//! A business write appends inside its own transaction on the sqlx writer ([`append_in`]). Bare
//! appends (views, reveals, lookups) are group-committed by [`AuditCommitter`], a thread with a
//! connection of its own: each group is one transaction ([`append_direct`]), on SQLite's own
//! lock. Two steps led here, measured under the API benchmark's load:
//! - The service's group writer (a Tokio task) used to append each group through sqlx: four
//!   statements, four round trips to sqlx's connection thread, each a wake-up that waits for a
//!   core, and a wait for the pool's connection (sqlx pings it as it goes back). A group took
//!   about 3.5 ms; as one job on a rusqlite connection, about 2 ms, most of it the fsync.
//! - The group writer task itself then sat in Tokio's run queue behind the requests each time
//!   its job came back, and the callers again behind it. Grouping on the committing thread
//!   answers each caller straight from it.

use crate::SqliteStore;
use async_trait::async_trait;
use fincrm_store::StoreError;
use fincrm_store::StoreResult;
use fincrm_store::audit::group::{self, Waiting};
use fincrm_store::audit::{
    AUDIT_COLUMNS, AuditRecord, AuditRow, AuditStore, NewAuditEntry, check_entries,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use sqlx::{AssertSqlSafe, SqliteConnection};
use std::panic::AssertUnwindSafe;
use std::path::Path;

/// Group commit of bare appends on a thread of its own: it takes every append waiting (up to
/// [`group::MAX_GROUP`] entries), commits them in one transaction with one fsync, and answers
/// each caller with its own records ([`fincrm_store::audit::group`]).
pub(crate) struct AuditCommitter {
    waiting: flume::Sender<Waiting>,
}

impl std::fmt::Debug for AuditCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditCommitter")
            .field("waiting", &self.waiting.len())
            .finish()
    }
}

impl AuditCommitter {
    /// Opens a read-write connection to the database at `path` (set up as the bulk writer's:
    /// [`crate::bulk::configure`]) and starts the committing thread; it ends when the last
    /// handle is dropped, after the appends already waiting.
    pub(crate) fn start(
        path: &Path,
        writer: sqlx::SqlitePool,
        runtime: tokio::runtime::Handle,
    ) -> StoreResult<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(crate::bulk::write_error)?;
        conn.busy_handler(Some(lock_wait))
            .map_err(crate::bulk::write_error)?;
        crate::bulk::configure(&conn).map_err(crate::bulk::write_error)?;
        let (waiting, queue) = flume::unbounded::<Waiting>();
        std::thread::Builder::new()
            .name("fincrm-sqlite-audit".to_owned())
            .spawn(move || {
                for first in &queue {
                    let group = group::gather(first, || queue.try_recv().ok());
                    let held = give_way_to_the_sqlx_writer(&writer, &runtime);
                    commit_group(&conn, group);
                    // The pool takes its connection back on a task of the runtime's.
                    let _in_runtime = runtime.enter();
                    drop(held);
                }
            })
            .map_err(|e| StoreError::Other(anyhow::Error::new(e)))?;
        Ok(Self { waiting })
    }

    /// Appends `entries` with whatever else is waiting, and returns their records.
    pub(crate) async fn append(
        &self,
        entries: Vec<NewAuditEntry>,
    ) -> StoreResult<Vec<AuditRecord>> {
        let stopped = || StoreError::Other(anyhow::anyhow!("the SQLite audit writer stopped"));
        let (waiting, answer) = Waiting::new(entries);
        self.waiting.send(waiting).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Gives the sqlx writer the way: while its one connection is taken (a business write, an
/// import's batch, the analytics run's score pages), the group waits for it, for up to 2 ms in
/// steps of 100 µs, then in the pool's queue like any other writer, and holds it while it
/// commits (returned, to be dropped after). A free writer is not taken: SQLite's lock keeps the
/// two connections apart, and taking it costs a round trip to its thread on the way back.
///
/// Both connections wait for SQLite's lock with its own busy handler, which sleeps 1, 2, 5 …
/// 100 ms between tries. Under the API's load the audit groups hold the lock most of the time,
/// so a sqlx write that met them kept waking to find it taken: `UPDATE api_token SET
/// last_used_at` took 1.1 s once, and requests queued for the writer's pool 2 s. The pool's
/// queue, in turn, keeps a run of sqlx writes (an import) from starving the groups.
fn give_way_to_the_sqlx_writer(
    writer: &sqlx::SqlitePool,
    runtime: &tokio::runtime::Handle,
) -> Option<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
    for _ in 0..20 {
        if writer.num_idle() > 0 || writer.size() == 0 || writer.is_closed() {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    // A runtime shutting down (the process ending) leaves the group to SQLite's lock.
    std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(writer.acquire())))
        .ok()
        .and_then(Result::ok)
}

/// The committing connection's busy handler. The lock's other holders keep it a millisecond or
/// two (a business write, the checkpointer starting the WAL over), and SQLite's own handler
/// sleeps 1, 2, 5, 10 … ms, which a group's callers would wait out: so the first 100 tries
/// sleep 50 µs, the next 30,000 1 ms: at least 30 s in all, as the busy timeout of the other
/// connections.
fn lock_wait(tries: i32) -> bool {
    const BRIEF: i32 = 100;
    let sleep = if tries < BRIEF {
        std::time::Duration::from_micros(50)
    } else {
        std::time::Duration::from_millis(1)
    };
    std::thread::sleep(sleep);
    tries < BRIEF + 30_000
}

/// Commits `group` in one transaction and answers each caller.
fn commit_group(conn: &Connection, group: Vec<Waiting>) {
    let all = group::entries(&group);
    // A bug in the commit costs this group (each caller gets an error), not the thread.
    let committed = std::panic::catch_unwind(AssertUnwindSafe(|| append_direct(conn, &all)))
        .unwrap_or_else(|_| {
            Err(StoreError::Other(anyhow::anyhow!(
                "the SQLite audit writer failed"
            )))
        });
    group::answer(group, committed);
}

/// The chain's head: the last record's seq and hash.
const HEAD_SQL: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";

/// One statement for the whole group, whatever its size (rows from [`records_json`]): a group
/// commit of hundreds of views is one statement, not hundreds.
const INSERT_SQL: &str = "INSERT INTO audit_log (seq, recorded_at, actor, action, customer_id, \
     client_addr, target_table, target_key, before_json, after_json, reason, prev_hash, hash) \
     SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, \
            value->>7, value->>8, value->>9, value->>10, value->>11, value->>12 \
     FROM json_each(?1)";

/// One record, bound column by column: on a rusqlite connection a prepared statement run once
/// a record costs less than building and parsing the group's JSON.
const INSERT_ONE_SQL: &str = "INSERT INTO audit_log (seq, recorded_at, actor, action, \
     customer_id, client_addr, target_table, target_key, before_json, after_json, reason, \
     prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

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
    let head: Option<(i64, String)> = sqlx::query_as(HEAD_SQL).fetch_optional(&mut *conn).await?;
    let records = AuditRecord::chain_after(
        head.as_ref().map(|(s, h)| (*s, h.as_str())),
        entries.iter().cloned(),
    );
    sqlx::query(INSERT_SQL)
        .bind(records_json(&records))
        .execute(&mut *conn)
        .await?;
    Ok(records)
}

/// Appends `entries` to the audit chain in a transaction of their own on `conn`, the audit
/// committer's connection, and returns the records written: the same rows as [`append_in`]
/// writes.
pub(crate) fn append_direct(
    conn: &rusqlite::Connection,
    entries: &[NewAuditEntry],
) -> StoreResult<Vec<AuditRecord>> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(crate::bulk::write_error)?;
    let head: Option<(i64, String)> = tx
        .query_row(HEAD_SQL, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(crate::bulk::write_error)?;
    let records = AuditRecord::chain_after(
        head.as_ref().map(|(s, h)| (*s, h.as_str())),
        entries.iter().cloned(),
    );
    {
        let mut insert = tx
            .prepare_cached(INSERT_ONE_SQL)
            .map_err(crate::bulk::write_error)?;
        for r in &records {
            let seq = rusqlite::types::Value::Integer(r.seq);
            let text = text_columns(r)
                .into_iter()
                .map(rusqlite::types::Value::from);
            insert
                .execute(rusqlite::params_from_iter(std::iter::once(seq).chain(text)))
                .map_err(crate::bulk::write_error)?;
        }
    }
    tx.commit().map_err(crate::bulk::write_error)?;
    Ok(records)
}

/// A record's columns after `seq`, in the inserts' order: the instant as sqlx writes it
/// (RFC 3339), so rows written either way read back alike, then the text columns.
fn text_columns(r: &AuditRecord) -> [Option<String>; 12] {
    let e = &r.entry;
    let text = |v: &str| Some(v.to_owned());
    [
        Some(
            e.recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
        ),
        text(&e.actor),
        text(&e.action),
        e.customer_id.clone(),
        e.client_addr.clone(),
        text(&e.target_table),
        text(&e.target_key),
        e.before_json.clone(),
        e.after_json.clone(),
        e.reason.clone(),
        text(&r.prev_hash),
        text(&r.hash),
    ]
}

/// `records` as a JSON array of rows in the column order of the insert.
fn records_json(records: &[AuditRecord]) -> String {
    let rows: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let mut row = vec![serde_json::Value::from(r.seq)];
            row.extend(text_columns(r).into_iter().map(serde_json::Value::from));
            serde_json::Value::Array(row)
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<AuditRecord>> {
        check_entries(entries)?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // Grouped and committed on the committer's own connection and thread; it takes the
        // sqlx writer only while that one is busy (`give_way_to_the_sqlx_writer`).
        self.audit.append(entries.to_vec()).await
    }

    fn groups_appends(&self) -> bool {
        true
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
        Ok(sqlx::query_as(HEAD_SQL)
            .fetch_optional(&self.reader)
            .await?)
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

    /// While the sqlx writer's connection is taken (a business write under way), bare appends
    /// wait for it to come back rather than race it for SQLite's lock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bare_appends_give_way_to_a_taken_sqlx_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("way.db")).await.unwrap();
        store.migrate().await.unwrap();
        let held = store.writer.acquire().await.unwrap();
        let bare = tokio::spawn({
            let (store, entry) = (store.clone(), sample_entries()[0].clone());
            async move { store.append(&[entry]).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            !bare.is_finished(),
            "the append waits while the writer is taken"
        );
        drop(held);
        assert_eq!(bare.await.unwrap().unwrap()[0].seq, 1);
    }

    /// A run of sqlx writes back to back (an import's batches) does not starve bare appends:
    /// they queue for the writer's connection with the writes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bare_appends_get_through_a_run_of_sqlx_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("run.db")).await.unwrap();
        store.migrate().await.unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writes = tokio::spawn({
            let (store, done) = (store.clone(), std::sync::Arc::clone(&done));
            async move {
                let mut n = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) && n < 20_000 {
                    let mut tx = store.writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
                    sqlx::query(
                        "INSERT INTO branch (branch_id, name, level) VALUES (?, 'x', 'branch')",
                    )
                    .bind(format!("B{n}"))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                    tx.commit().await.unwrap();
                    n += 1;
                }
                n
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for entry in sample_entries() {
            store.append(&[entry]).await.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let n = writes.await.unwrap();
        assert!(
            n < 20_000,
            "the appends went through while the writes ran ({n})"
        );
    }

    /// Concurrent bare appends are committed in groups, in one chain, and each caller gets its
    /// own records back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_bare_appends_share_groups_and_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("group.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        assert!(store.groups_appends());
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let e = NewAuditEntry::new(
                        chrono::Utc::now(),
                        format!("u{i}"),
                        "customer.view",
                        "customer",
                        format!("C{i}"),
                    );
                    store.append(&[e.clone(), e]).await
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let records = task.await.unwrap().unwrap();
            assert_eq!(records.len(), 2);
            for r in &records {
                assert_eq!(r.entry.actor, format!("u{i}"), "each caller gets its own");
                seqs.push(r.seq);
            }
            assert_eq!(
                records[1].seq,
                records[0].seq + 1,
                "a caller's records stay together"
            );
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=400).collect::<Vec<i64>>());
        let report = fincrm_store::audit::verify(&store, None, 100)
            .await
            .unwrap();
        assert!(report.is_ok(), "{report:?}");
    }

    /// A bare append runs on its own connection: while a business write holds SQLite's write
    /// lock it waits, then chains after that write's records.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bare_append_waits_for_an_open_business_write_and_chains_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("lock.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let entries = sample_entries();
        let mut tx = store.writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        append_in(&mut tx, &entries[..2]).await.unwrap();
        let bare = tokio::spawn({
            let (store, entry) = (store.clone(), entries[2].clone());
            async move { store.append(&[entry]).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!bare.is_finished(), "the bare append waits for the lock");
        tx.commit().await.unwrap();
        let records = bare.await.unwrap().unwrap();
        assert_eq!(records[0].seq, 3);
        let report = fincrm_store::audit::verify(&store, None, 100)
            .await
            .unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(
            store.head().await.unwrap(),
            Some((3, records[0].hash.clone()))
        );
    }

    #[tokio::test]
    async fn a_group_is_stored_column_for_column_as_sqlx_binds_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("cols.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let entries = sample_entries();
        let records = store.append(&entries).await.unwrap();
        for r in &records {
            let stored: (i64, String, Option<String>, Option<String>, String) = sqlx::query_as(
                "SELECT seq, recorded_at, customer_id, before_json, hash FROM audit_log \
                 WHERE seq = ?",
            )
            .bind(r.seq)
            .fetch_one(&store.reader)
            .await
            .unwrap();
            // The instant as sqlx itself writes a DateTime<Utc>, so every reader parses it.
            let expected_time: String = sqlx::query_scalar("SELECT ?")
                .bind(r.entry.recorded_at)
                .fetch_one(&store.reader)
                .await
                .unwrap();
            assert_eq!(
                stored,
                (
                    r.seq,
                    expected_time,
                    r.entry.customer_id.clone(),
                    r.entry.before_json.clone(),
                    r.hash.clone()
                )
            );
        }
        assert_eq!(store.records(1, 100).await.unwrap(), records);
    }
}
