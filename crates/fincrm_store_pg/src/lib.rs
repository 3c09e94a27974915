//! fincrm's production store: PostgreSQL through sqlx.
//!
//! Bulk writes `COPY` a batch into a session-local staging table and move it with one
//! `INSERT … SELECT … ON CONFLICT`: close to `COPY`'s speed, with upserts.
//! Text comparisons that decide order use `COLLATE "C"`, so results match SQLite's byte order
//! whatever the database's locale.

mod audit;
mod auth;
mod debits;
mod pii;
mod tasks;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fincrm_crypto::Keyring;
use fincrm_domain::{Customer, CustomerId, Holding, HoldingId, Interaction, Transaction};
use fincrm_store::merge::{MERGE_COLUMNS, MergeRecord};
use fincrm_store::rows::{
    BRANCH_COLUMNS, BranchRow, CONSENT_COLUMNS, CUSTOMER_COLUMNS, ConsentRow, CustomerRow,
    HOLDING_COLUMNS, HoldingRow, INTERACTION_COLUMNS, InteractionRow, TRANSACTION_COLUMNS,
    TransactionRow,
};
use fincrm_store::sql::{Dialect, SqlArg};
use fincrm_store::tables::Rows;
use fincrm_store::{
    Backend, BatchMarker, ColumnData, CustomerQuery, CustomerScope, DuplicateCandidate,
    ImportRunRecord, KeyMatch, OnConflict, PiKey, Store, StoreResult, TableBatch, TableCounts,
    TimeWindow,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Rows encoded per `COPY` message: bounds the client's buffer, whatever the batch size.
const ROWS_PER_STATEMENT: usize = 10_000;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Audit appends run on a connection of their own, apart from the pool (`audit.rs`).
    audit: Arc<audit::AuditConnection>,
    /// Seals personal information on write and opens it on read (`fincrm_store::pii`); `None`
    /// stores it in plaintext.
    keyring: Option<Arc<Keyring>>,
}

/// How long a pooled connection may sit idle before it is pinged when taken again.
pub(crate) const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_in_schema(url, None).await
    }

    /// Connects with `search_path` set to `schema` (created if missing): how tests isolate
    /// themselves in one database, and how a bank may keep fincrm beside other applications.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> StoreResult<Self> {
        // No JIT: it pays off for long analytical queries, and compiling one (up to 200 ms
        // seen here) dwarfs the millisecond reads the API is made of.
        let mut options = PgConnectOptions::from_str(url)?
            .application_name("fincrm")
            .options([("jit", "off")]);
        if let Some(schema) = schema {
            if !schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(fincrm_store::StoreError::Other(anyhow::anyhow!(
                    "schema name must be letters, digits and '_'"
                )));
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            sqlx::query(AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&admin)
            .await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            // sqlx pings every connection it takes from the pool: a round trip per statement.
            // Only a connection that sat idle for a while (where a restart or a firewall may have
            // cut it) is checked; a busy one proves itself with every statement.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await?;
        Ok(Self {
            pool,
            audit: Arc::new(audit::AuditConnection::new(options)),
            keyring: None,
        })
    }

    /// This store with `keyring`: customer personal information is written sealed, with blind
    /// indexes for lookups, and read back through it.
    #[must_use]
    pub fn with_keyring(mut self, keyring: Arc<Keyring>) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// The connection pool, for adapters' own tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool and the audit connection.
    pub async fn close(&self) {
        self.audit.close().await;
        self.pool.close().await;
    }
}

/// Appends `value` to `out` in `COPY … (FORMAT text)` form: backslash, tab, newline and carriage
/// return escaped; `\N` is NULL.
fn copy_text(out: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// Encodes rows `start..end` of `batch` as `COPY` text.
fn copy_rows(batch: &TableBatch, start: usize, end: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = Vec::with_capacity((end - start) * 128);
    for row in start..end {
        for (c, col) in batch.columns.iter().enumerate() {
            if c > 0 {
                out.push(b'\t');
            }
            let written = match col {
                ColumnData::Text(v) => v[row].as_deref().map(|s| copy_text(&mut out, s)),
                ColumnData::Int(v) => v[row].map(|n| {
                    let _ = write!(out, "{n}");
                }),
                ColumnData::Float(v) => v[row].map(|x| {
                    // Rust prints the shortest text that reads back as the same f64.
                    let _ = write!(out, "{x}");
                }),
                ColumnData::Date(v) => v[row].map(|d| {
                    out.extend_from_slice(fincrm_store::tables::iso_date(d).as_bytes());
                }),
                // RFC 3339 in UTC (`…T05:39:00.123Z`), which PostgreSQL reads as timestamptz;
                // written without parsing a format string per value.
                ColumnData::Timestamp(v) => v[row].map(|t| {
                    out.extend_from_slice(
                        t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                            .as_bytes(),
                    );
                }),
            };
            if written.is_none() {
                out.extend_from_slice(b"\\N");
            }
        }
        out.push(b'\n');
    }
    out
}

/// Writes a batch by `COPY` into a session-local staging table, then one
/// `INSERT … SELECT … ON CONFLICT` into the real table: `COPY`'s speed with upsert semantics.
async fn insert_batch(
    conn: &mut sqlx::PgConnection,
    batch: &TableBatch,
    on_conflict: OnConflict,
) -> StoreResult<u64> {
    let spec = batch.spec;
    let total = batch.rows();
    if total == 0 {
        return Ok(0);
    }
    let stage = format!("stage_{}", spec.name);
    let cols = spec.columns.join(", ");
    // Temporary, so invisible to other sessions; emptied at every commit.
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
        spec.name
    )))
    .execute(&mut *conn)
    .await?;
    sqlx::query(AssertSqlSafe(format!("TRUNCATE {stage}")))
        .execute(&mut *conn)
        .await?;
    copy_into(conn, &stage, batch).await?;
    let conflict = match on_conflict {
        OnConflict::Ignore => "DO NOTHING".to_owned(),
        OnConflict::Update => {
            let sets: Vec<String> = spec
                .columns
                .iter()
                .filter(|c| !spec.key.contains(c))
                .map(|c| format!("{c} = excluded.{c}"))
                .collect();
            format!("DO UPDATE SET {}", sets.join(", "))
        }
    };
    let sql = format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({}) {conflict}",
        spec.name,
        spec.key.join(", ")
    );
    Ok(sqlx::query(AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// `COPY`s the rows of `batch` into `table`: the rows copied.
async fn copy_into(
    conn: &mut sqlx::PgConnection,
    table: &str,
    batch: &TableBatch,
) -> StoreResult<u64> {
    let cols = batch.spec.columns.join(", ");
    let total = batch.rows();
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({cols}) FROM STDIN"))
        .await?;
    let mut start = 0;
    while start < total {
        let end = (start + ROWS_PER_STATEMENT).min(total);
        copy.send(copy_rows(batch, start, end)).await?;
        start = end;
    }
    Ok(copy.finish().await?)
}

fn keys(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

/// Replaces the name-index rows of `customers` with `terms` (a renamed customer loses its old
/// terms).
async fn replace_search_terms(
    conn: &mut sqlx::PgConnection,
    customers: &[String],
    terms: &TableBatch,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM customer_search WHERE customer_id = ANY($1)")
        .bind(customers)
        .execute(&mut *conn)
        .await?;
    insert_batch(conn, terms, terms.spec.on_conflict).await?;
    Ok(())
}

/// The store task that indexes every customer's name: started by `migrate` when customers
/// exist but the index is empty (a migration emptied it, as 0011 did), and by migration 0014
/// when some customer had no terms (a build cut short before builds could resume).
const SEARCH_TASK: &str = "customer_search";

/// Indexes every customer's name when the search task is pending (see [`SEARCH_TASK`]), a
/// page of customers a transaction, resuming after the last page done.
async fn build_search_index(pool: &PgPool) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO store_task (name, cursor) SELECT $1, '' \
          WHERE EXISTS (SELECT 1 FROM customer) AND NOT EXISTS (SELECT 1 FROM customer_search) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(SEARCH_TASK)
    .execute(pool)
    .await?;
    let built = tasks::run(pool, SEARCH_TASK, async |tx, after| {
        let page: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT customer_id, name, name_latin FROM customer WHERE customer_id > $1 \
             ORDER BY customer_id LIMIT $2",
        )
        .bind(after)
        .bind(tasks::PAGE)
        .fetch_all(&mut *tx)
        .await?;
        let Some((last, _, _)) = page.last() else {
            return Ok(None);
        };
        let ids: Vec<String> = page.iter().map(|(id, _, _)| id.clone()).collect();
        let terms = fincrm_store::search::index_batch(
            page.iter()
                .map(|(id, name, latin)| (id.as_str(), name.as_str(), latin.as_deref())),
        );
        replace_search_terms(tx, &ids, &terms).await?;
        Ok(Some(last.clone()))
    })
    .await?;
    if built {
        // A rebuilt index has new term frequencies: plan searches with them.
        sqlx::query("ANALYZE customer_search").execute(pool).await?;
    }
    Ok(())
}

/// The body of `write`, inside the caller's transaction: each batch, its search-index rows,
/// and the import marker.
async fn write_in(
    tx: &mut sqlx::PgConnection,
    keyring: Option<&fincrm_crypto::Keyring>,
    marker: Option<&BatchMarker>,
    batches: &[TableBatch],
    rows: Rows,
) -> StoreResult<u64> {
    let search = batches
        .iter()
        .map(fincrm_store::search::search_batch)
        .collect::<StoreResult<Vec<_>>>()?;
    let debits = batches
        .iter()
        .map(fincrm_store::debits::batch_debits)
        .collect::<StoreResult<Vec<_>>>()?;
    let batches = fincrm_store::pii::seal_batches(keyring, batches)?;
    let mut written = 0;
    for ((batch, search), debits) in batches.into_iter().zip(search).zip(debits) {
        let batch_rows = u64::try_from(batch.rows()).unwrap_or(u64::MAX);
        // Whether every row written was a new one (no stored row updated or skipped).
        let all_new;
        if rows == Rows::New {
            // Stored keys are skipped, then counted: one skipped row refuses the whole write
            // (the caller's transaction is dropped, so rolled back).
            let inserted = insert_batch(&mut *tx, &batch, OnConflict::Ignore).await?;
            if inserted < batch_rows {
                return Err(fincrm_store::StoreError::Conflict {
                    constraint: format!("{}_pkey", batch.spec.name),
                });
            }
            written += inserted;
            all_new = true;
        } else if batch.spec.on_conflict == OnConflict::Update && batch.repeats_a_key() {
            // A sealed batch is a copy already; `into_owned` copies the others.
            let mut deduped = batch.into_owned();
            deduped.keep_last_per_key();
            written += insert_batch(&mut *tx, &deduped, OnConflict::Update).await?;
            all_new = false;
        } else {
            let inserted = insert_batch(&mut *tx, &batch, batch.spec.on_conflict).await?;
            written += inserted;
            all_new = batch.spec.on_conflict == OnConflict::Ignore && inserted == batch_rows;
        }
        if let Some(debits) = debits {
            debits::keep(&mut *tx, &debits, all_new).await?;
        }
        if let Some((customers, terms)) = search {
            replace_search_terms(&mut *tx, &customers, &terms).await?;
        }
    }
    if let Some(m) = marker {
        insert_marker(tx, m).await?;
    }
    Ok(written)
}

/// Records a committed batch (inside the transaction that writes it).
async fn insert_marker(tx: &mut sqlx::PgConnection, m: &BatchMarker) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO import_batch (source, batch_no, records, loaded, committed_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, batch_no) DO NOTHING",
    )
    .bind(&m.source)
    .bind(m.batch_no)
    .bind(m.records)
    .bind(m.loaded)
    .bind(Utc::now())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Binds the arguments of a shared statement ([`fincrm_store::sql`]) in order.
fn bind_all<O>(
    mut q: sqlx::query::QueryAs<'_, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    args: Vec<SqlArg>,
) -> sqlx::query::QueryAs<'_, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    for arg in args {
        q = match arg {
            SqlArg::Text(t) => q.bind(t),
            SqlArg::Int(i) => q.bind(i),
            SqlArg::Time(t) => q.bind(t),
        };
    }
    q
}

/// `scope` as SQL on `customer`, its key bound at placeholder `key`: the common table
/// expression it needs (the branch subtree), and the condition to append to a `WHERE` on
/// `customer` (empty for all customers). The row-level security policy (migration 0010) is
/// the same rule, kept as the second wall.
fn customer_scope_sql(scope: &CustomerScope, key: &str) -> (Option<String>, String) {
    match scope {
        CustomerScope::All => (None, String::new()),
        // UNION (not UNION ALL) stops at a cycle in a hand-edited tree.
        CustomerScope::Branches(_) => (
            Some(format!(
                "subtree(branch_id) AS (SELECT {key}::text \
                 UNION SELECT b.branch_id FROM branch b JOIN subtree s ON b.parent_id = s.branch_id)"
            )),
            " AND branch_id IN (SELECT branch_id FROM subtree)".to_owned(),
        ),
        CustomerScope::Book(_) => (
            None,
            format!(
                " AND (primary_rm_id = {key} OR EXISTS (SELECT 1 FROM coverage cv \
                 WHERE cv.customer_id = customer.customer_id AND cv.user_id = {key}))"
            ),
        ),
    }
}

/// The value bound at the key placeholder of [`customer_scope_sql`].
fn scope_key(scope: &CustomerScope) -> Option<&str> {
    match scope {
        CustomerScope::All => None,
        CustomerScope::Branches(root) => Some(root),
        CustomerScope::Book(user) => Some(user),
    }
}

/// One section of [`customer_360_sql`] parsed back from its JSON.
fn from_json<T: serde::de::DeserializeOwned>(section: &str, json: &str) -> StoreResult<T> {
    serde_json::from_str(json)
        .map_err(|e| fincrm_store::StoreError::Corrupt(format!("360 read of {section}: {e}")))
}

/// The whole customer 360 as one statement: the customer within `scope` (a CTE of at most one
/// row) and, for that row only, each list as a JSON array in its order. One round trip instead
/// of seven, and nothing at all is read beyond the customer when it is outside the scope.
/// Placeholders: `$1` the customer, `$2` latest rows, `$3` scores, `$4` the scope's key.
fn customer_360_sql(
    scope: &CustomerScope,
    id: &CustomerId,
    limits: fincrm_store::View360Limits,
) -> (String, Vec<SqlArg>) {
    use fincrm_store::merge::family_union;
    let mut args = vec![
        SqlArg::Text(id.as_str().to_owned()),
        SqlArg::Int(limits.latest),
        SqlArg::Int(limits.scores),
    ];
    if let Some(key) = scope_key(scope) {
        args.push(SqlArg::Text(key.to_owned()));
    }
    let (subtree, in_scope) = customer_scope_sql(scope, "$4");
    let with = subtree.map_or_else(
        || "WITH ".to_owned(),
        |cte| format!("WITH RECURSIVE {cte}, "),
    );
    // A list as a JSON array, ordered as `select` orders it.
    let list = |select: String, order: &str| {
        format!("(SELECT coalesce(json_agg(f ORDER BY {order}), '[]')::text FROM ({select}) f)")
    };
    let family = |columns: &str, table: &str, order: &str, limit: Option<&str>| {
        list(family_union(columns, table, "$1", &[], order, limit), order)
    };
    let scores_order = "as_of DESC, run_id DESC";
    let relationships_order = "from_customer_id, to_customer_id, kind";
    let sections = [
        "row_to_json(c)::text".to_owned(),
        family(HOLDING_COLUMNS, "holding", "holding_id COLLATE \"C\"", None),
        family(
            TRANSACTION_COLUMNS,
            "bank_transaction",
            "posted_at DESC, transaction_id COLLATE \"C\" DESC",
            Some("$2"),
        ),
        family(
            INTERACTION_COLUMNS,
            "interaction",
            "occurred_at DESC, interaction_id COLLATE \"C\" DESC",
            Some("$2"),
        ),
        list(
            fincrm_store::analytics::score_history_sql("$1", "$3"),
            scores_order,
        ),
        list(
            format!(
                "SELECT from_customer_id, to_customer_id, kind, role FROM relationship \
                 WHERE from_customer_id = $1 OR to_customer_id = $1 ORDER BY {relationships_order}"
            ),
            relationships_order,
        ),
        family(
            CONSENT_COLUMNS,
            "consent",
            "recorded_at DESC, purpose, channel",
            None,
        ),
    ];
    let sql = format!(
        "{with}c AS (SELECT {CUSTOMER_COLUMNS} FROM customer WHERE customer_id = $1{in_scope}) \
         SELECT {} FROM c",
        sections.join(", ")
    );
    (sql, args)
}

impl PgStore {
    /// `batches` written as `rows` says, and the audit `entries` appended, in one transaction.
    async fn write_rows_audited(
        &self,
        batches: &[TableBatch],
        entries: &[fincrm_store::NewAuditEntry],
        rows: Rows,
    ) -> StoreResult<u64> {
        fincrm_store::audit::check_entries(entries)?;
        let mut tx = self.pool.begin().await?;
        let written = write_in(&mut tx, self.keyring.as_deref(), None, batches, rows).await?;
        audit::append_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// A transaction whose reads of `customer` the row-level security policy (migration 0010)
    /// limits to `scope`: the second wall behind the scoped query itself.
    async fn scoped(
        &self,
        scope: &CustomerScope,
    ) -> StoreResult<sqlx::Transaction<'_, sqlx::Postgres>> {
        let (kind, key) = match scope {
            CustomerScope::All => ("all", ""),
            CustomerScope::Branches(root) => ("branches", root.as_str()),
            CustomerScope::Book(user) => ("book", user.as_str()),
        };
        // Staff and branch codes are plain identifiers: the scope then travels with BEGIN in one
        // simple-protocol message (one round trip less on every scoped read). Anything else
        // is bound as a parameter.
        if key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Ok(self
                .pool
                .begin_with(AssertSqlSafe(format!(
                    "BEGIN; SELECT set_config('fincrm.scope', '{kind}', true), \
                     set_config('fincrm.scope_key', '{key}', true)"
                )))
                .await?);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "SELECT set_config('fincrm.scope', $1, true), set_config('fincrm.scope_key', $2, true)",
        )
        .bind(kind)
        .bind(key)
        .execute(&mut *tx)
        .await?;
        Ok(tx)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .map_err(|e| fincrm_store::StoreError::Other(e.into()))?;
        build_search_index(&self.pool).await
    }

    async fn write(
        &self,
        marker: Option<&BatchMarker>,
        batches: &[TableBatch],
    ) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let written = write_in(
            &mut tx,
            self.keyring.as_deref(),
            marker,
            batches,
            Rows::AsSpecified,
        )
        .await?;
        tx.commit().await?;
        Ok(written)
    }

    /// A page of a run's scores is new (a page whose transaction committed is skipped when the
    /// run resumes, and one that did not left nothing): `COPY` straight into the table, with
    /// no staging table and no upsert (the two were most of a run's write at 1M customers).
    /// A page the table refuses (a score stored before for the same customer and run, a run
    /// that does not exist) is written the usual way instead, which replaces or refuses it.
    async fn write_scores(
        &self,
        marker: &BatchMarker,
        scores: Vec<fincrm_store::tables::CustomerScore>,
    ) -> StoreResult<u64> {
        let batch = fincrm_store::tables::customer_scores(&scores);
        let mut tx = self.pool.begin().await?;
        sqlx::query("SAVEPOINT scores_copied")
            .execute(&mut *tx)
            .await?;
        let written = match copy_into(&mut tx, batch.spec.name, &batch).await {
            Ok(copied) => {
                insert_marker(&mut tx, marker).await?;
                copied
            }
            Err(fincrm_store::StoreError::Conflict { .. }) => {
                sqlx::query("ROLLBACK TO SAVEPOINT scores_copied")
                    .execute(&mut *tx)
                    .await?;
                write_in(
                    &mut tx,
                    self.keyring.as_deref(),
                    Some(marker),
                    &[batch],
                    Rows::AsSpecified,
                )
                .await?
            }
            Err(e) => return Err(e),
        };
        tx.commit().await?;
        Ok(written)
    }

    async fn write_audited(
        &self,
        batches: &[TableBatch],
        entries: &[fincrm_store::NewAuditEntry],
    ) -> StoreResult<u64> {
        self.write_rows_audited(batches, entries, Rows::AsSpecified)
            .await
    }

    async fn create_audited(
        &self,
        batches: &[TableBatch],
        entries: &[fincrm_store::NewAuditEntry],
    ) -> StoreResult<u64> {
        self.write_rows_audited(batches, entries, Rows::New).await
    }

    async fn committed_batches(&self, source: &str) -> StoreResult<HashSet<i64>> {
        let rows: Vec<i64> =
            sqlx::query_scalar("SELECT batch_no FROM import_batch WHERE source = $1")
                .bind(source)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }

    async fn record_import_run(&self, run: &ImportRunRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO import_run (source, file_name, kind, started_at, finished_at, records, \
             loaded, rejected, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&run.source)
        .bind(&run.file_name)
        .bind(&run.kind)
        .bind(run.started_at)
        .bind(run.finished_at)
        .bind(run.records)
        .bind(run.loaded)
        .bind(run.rejected)
        .bind(&run.status)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn existing_customers(&self, ids: &[&str]) -> StoreResult<HashSet<String>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT customer_id FROM customer WHERE customer_id = ANY($1)")
                .bind(keys(ids))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }

    async fn existing_corporates(&self, ids: &[&str]) -> StoreResult<HashSet<String>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT customer_id FROM customer WHERE kind = 'corporate' AND customer_id = ANY($1)",
        )
        .bind(keys(ids))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn existing_holdings(&self, ids: &[&str]) -> StoreResult<HashMap<String, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows =
            sqlx::query("SELECT holding_id, customer_id FROM holding WHERE holding_id = ANY($1)")
                .bind(keys(ids))
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn detect_duplicates(&self) -> StoreResult<i64> {
        // Rows written without a keyring match on the plaintext columns, sealed rows on the blind
        // indexes (the other pair is NULL), so one statement serves both modes. A plaintext row
        // and a sealed row are not compared: `fincrm keys rotate` seals the plaintext ones.
        sqlx::query(
            "INSERT INTO duplicate_candidate (customer_a, customer_b, reason, detected_at) \
             SELECT a.customer_id, b.customer_id, \
                    CASE a.id_type WHEN 'uscc' THEN 'same_uscc' ELSE 'same_id_number' END, $1 \
               FROM customer a JOIN customer b \
                 ON a.id_number = b.id_number AND a.id_type = b.id_type \
                AND a.customer_id COLLATE \"C\" < b.customer_id COLLATE \"C\" \
              WHERE a.id_number IS NOT NULL \
             UNION ALL \
             SELECT a.customer_id, b.customer_id, 'same_phone_and_name', $1 \
               FROM customer a JOIN customer b \
                 ON a.phone = b.phone AND a.name = b.name \
                AND a.customer_id COLLATE \"C\" < b.customer_id COLLATE \"C\" \
              WHERE a.phone IS NOT NULL \
             UNION ALL \
             SELECT a.customer_id, b.customer_id, \
                    CASE a.id_type WHEN 'uscc' THEN 'same_uscc' ELSE 'same_id_number' END, $1 \
               FROM customer a JOIN customer b \
                 ON a.id_number_bidx = b.id_number_bidx AND a.id_type = b.id_type \
                AND a.customer_id COLLATE \"C\" < b.customer_id COLLATE \"C\" \
              WHERE a.id_number_bidx IS NOT NULL \
             UNION ALL \
             SELECT a.customer_id, b.customer_id, 'same_phone_and_name', $1 \
               FROM customer a JOIN customer b \
                 ON a.phone_bidx = b.phone_bidx AND a.name = b.name \
                AND a.customer_id COLLATE \"C\" < b.customer_id COLLATE \"C\" \
              WHERE a.phone_bidx IS NOT NULL \
             ON CONFLICT DO NOTHING",
        )
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM duplicate_candidate")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn duplicate_candidates(&self, limit: i64) -> StoreResult<Vec<DuplicateCandidate>> {
        Ok(sqlx::query_as(
            "SELECT customer_a, customer_b, reason FROM duplicate_candidate \
             ORDER BY customer_a, customer_b, reason COLLATE \"C\" LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<Customer>> {
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customer WHERE customer_id = $1");
        let row: Option<CustomerRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.into_customer(self.keyring.as_deref()))
            .transpose()
    }

    async fn customer_360(
        &self,
        scope: &CustomerScope,
        id: &CustomerId,
        limits: fincrm_store::View360Limits,
    ) -> StoreResult<Option<fincrm_store::Customer360>> {
        type Sections = (String, String, String, String, String, String, String);
        let (sql, args) = customer_360_sql(scope, id, limits);
        let query = bind_all(sqlx::query_as::<_, Sections>(AssertSqlSafe(sql)), args);
        let row = if *scope == CustomerScope::All {
            query.fetch_optional(&self.pool).await?
        } else {
            let mut tx = self.scoped(scope).await?;
            let row = query.fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            row
        };
        let Some((customer, holdings, transactions, interactions, scores, relationships, consents)) =
            row
        else {
            return Ok(None);
        };
        let customer: CustomerRow = from_json("customer", &customer)?;
        let holdings: Vec<HoldingRow> = from_json("holding", &holdings)?;
        let transactions: Vec<TransactionRow> = from_json("bank_transaction", &transactions)?;
        let interactions: Vec<InteractionRow> = from_json("interaction", &interactions)?;
        let relationships: Vec<fincrm_store::rows::RelationshipRow> =
            from_json("relationship", &relationships)?;
        let consents: Vec<ConsentRow> = from_json("consent", &consents)?;
        Ok(Some(fincrm_store::Customer360 {
            customer: customer.into_customer(self.keyring.as_deref())?,
            holdings: holdings
                .into_iter()
                .map(Holding::try_from)
                .collect::<Result<_, _>>()?,
            transactions: transactions
                .into_iter()
                .map(Transaction::try_from)
                .collect::<Result<_, _>>()?,
            interactions: interactions
                .into_iter()
                .map(Interaction::try_from)
                .collect::<Result<_, _>>()?,
            scores: from_json("customer_score", &scores)?,
            relationships: relationships
                .into_iter()
                .map(fincrm_domain::Relationship::try_from)
                .collect::<Result<_, _>>()?,
            consents: consents
                .into_iter()
                .map(fincrm_domain::Consent::try_from)
                .collect::<Result<_, _>>()?,
        }))
    }

    async fn refresh_statistics(&self) -> StoreResult<()> {
        // The whole schema: a load touches most tables, and ANALYZE samples (seconds at 1M).
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }

    async fn customer_in_scope(
        &self,
        scope: &CustomerScope,
        id: &CustomerId,
    ) -> StoreResult<Option<Customer>> {
        if *scope == CustomerScope::All {
            // Nothing to declare: the policy reads an undeclared scope as all (one round trip,
            // not four).
            return self.customer(id).await;
        }
        let (subtree, in_scope) = customer_scope_sql(scope, "$2");
        let with = subtree
            .map(|cte| format!("WITH RECURSIVE {cte} "))
            .unwrap_or_default();
        let sql = format!(
            "{with}SELECT {CUSTOMER_COLUMNS} FROM customer WHERE customer_id = $1{in_scope}"
        );
        let mut tx = self.scoped(scope).await?;
        let row: Option<CustomerRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(scope_key(scope))
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| r.into_customer(self.keyring.as_deref()))
            .transpose()
    }

    /// One statement, one round trip: the number and the personal-information key together,
    /// the number's match picked out here. A search by ID or phone number took three before
    /// (the number, the key, then each customer found), each a wait for a process on the busy
    /// server.
    async fn customers_by_key(
        &self,
        scope: &CustomerScope,
        number: Option<&CustomerId>,
        pi: Option<PiKey<'_>>,
    ) -> StoreResult<KeyMatch> {
        let term = pi.and_then(|key| {
            let (field, term) = key.field_and_term();
            term.map(|t| fincrm_store::pii::lookup_term(self.keyring.as_deref(), field, &t))
        });
        let nothing = if pi.is_some() {
            KeyMatch::Pi(Vec::new())
        } else {
            KeyMatch::Neither
        };
        if number.is_none() && term.is_none() {
            return Ok(nothing);
        }
        // `column` is one of `lookup_term`'s constants, never input; with no term the
        // comparison with NULL matches nothing.
        let (column, value) = term.map_or(("id_number", None), |(c, v)| (c, Some(v)));
        let (subtree, in_scope) = customer_scope_sql(scope, "$3");
        let with = subtree
            .map(|cte| format!("WITH RECURSIVE {cte} "))
            .unwrap_or_default();
        let sql = format!(
            "{with}SELECT {CUSTOMER_COLUMNS} FROM customer \
             WHERE (customer_id = $1 OR {column} = $2){in_scope} ORDER BY customer_id COLLATE \"C\""
        );
        let query = sqlx::query_as::<_, CustomerRow>(AssertSqlSafe(sql))
            .bind(number.map(CustomerId::as_str))
            .bind(value);
        let rows = if *scope == CustomerScope::All {
            // As `customer_in_scope`: the policy reads an undeclared scope as all.
            query.fetch_all(&self.pool).await?
        } else {
            let mut tx = self.scoped(scope).await?;
            let rows = query.bind(scope_key(scope)).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        };
        let mut found = rows
            .into_iter()
            .map(|r| r.into_customer(self.keyring.as_deref()))
            .collect::<StoreResult<Vec<_>>>()?;
        if let Some(number) = number
            && let Some(at) = found.iter().position(|c| c.id == *number)
        {
            return Ok(KeyMatch::Number(Box::new(found.swap_remove(at))));
        }
        Ok(match pi {
            Some(_) => KeyMatch::Pi(found),
            None => nothing,
        })
    }

    async fn transactions_page(
        &self,
        id: &CustomerId,
        window: &TimeWindow,
    ) -> StoreResult<Vec<Transaction>> {
        let (sql, args) = fincrm_store::sql::time_page_sql(
            Dialect::Postgres,
            TRANSACTION_COLUMNS,
            "bank_transaction",
            ("posted_at", "transaction_id"),
            id.as_str(),
            window,
        );
        let rows: Vec<TransactionRow> = bind_all(sqlx::query_as(AssertSqlSafe(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Transaction::try_from).collect()
    }

    async fn interactions_page(
        &self,
        id: &CustomerId,
        window: &TimeWindow,
    ) -> StoreResult<Vec<Interaction>> {
        let (sql, args) = fincrm_store::sql::time_page_sql(
            Dialect::Postgres,
            INTERACTION_COLUMNS,
            "interaction",
            ("occurred_at", "interaction_id"),
            id.as_str(),
            window,
        );
        let rows: Vec<InteractionRow> = bind_all(sqlx::query_as(AssertSqlSafe(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Interaction::try_from).collect()
    }

    async fn consents_of(&self, id: &CustomerId) -> StoreResult<Vec<fincrm_domain::Consent>> {
        let (sql, args) = fincrm_store::merge::family_select(
            Dialect::Postgres,
            CONSENT_COLUMNS,
            "consent",
            id.as_str(),
            "recorded_at DESC, purpose, channel",
            None,
        );
        let rows: Vec<ConsentRow> = bind_all(sqlx::query_as(AssertSqlSafe(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(fincrm_domain::Consent::try_from)
            .collect()
    }

    async fn branches(&self) -> StoreResult<Vec<fincrm_domain::Branch>> {
        let sql = format!("SELECT {BRANCH_COLUMNS} FROM branch ORDER BY branch_id");
        let rows: Vec<BranchRow> = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(fincrm_domain::Branch::try_from)
            .collect()
    }

    async fn edit_branches(
        &self,
        edit: fincrm_store::tree::TreeEdit<'_>,
    ) -> StoreResult<Result<fincrm_domain::Branch, fincrm_store::tree::TreeRefusal>> {
        use fincrm_store::tree::{Outcome, decide};
        // SHARE ROW EXCLUSIVE conflicts with itself and with every row write to `branch`
        // (an import's included) but not with reads: other tree changes wait, scoped reads go on.
        let mut tx = self.pool.begin().await?;
        sqlx::query("LOCK TABLE branch IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let sql = format!("SELECT {BRANCH_COLUMNS} FROM branch ORDER BY branch_id");
        let tree = sqlx::query_as::<_, BranchRow>(AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(fincrm_domain::Branch::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let (branch, entry, new) = match decide(&tree, edit)? {
            Outcome::Answer(answer) => return Ok(answer),
            Outcome::Write { branch, entry, new } => (branch, entry, new),
        };
        let rows = if new { Rows::New } else { Rows::AsSpecified };
        let batch = fincrm_store::tables::branches(std::slice::from_ref(&branch));
        write_in(&mut tx, self.keyring.as_deref(), None, &[batch], rows).await?;
        audit::append_in(&mut tx, std::slice::from_ref(&*entry)).await?;
        tx.commit().await?;
        Ok(Ok(branch))
    }

    async fn merge_customers(
        &self,
        merge: &MergeRecord,
        entries: &[fincrm_store::NewAuditEntry],
    ) -> StoreResult<bool> {
        fincrm_store::audit::check_entries(entries)?;
        let mut tx = self.pool.begin().await?;
        let pointed = sqlx::query(
            "UPDATE customer SET merged_into = $1, status = 'merged' \
             WHERE customer_id = $2 AND merged_into IS NULL",
        )
        .bind(&merge.survivor_id)
        .bind(&merge.merged_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if pointed != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO customer_merge (merge_id, survivor_id, merged_id, merged_at, merged_by, \
             reason, prior_status) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&merge.merge_id)
        .bind(&merge.survivor_id)
        .bind(&merge.merged_id)
        .bind(merge.merged_at)
        .bind(&merge.merged_by)
        .bind(&merge.reason)
        .bind(&merge.prior_status)
        .execute(&mut *tx)
        .await?;
        audit::append_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn undo_merge(
        &self,
        merge_id: &str,
        undone_by: &str,
        at: DateTime<Utc>,
        entries: &[fincrm_store::NewAuditEntry],
    ) -> StoreResult<Option<MergeRecord>> {
        fincrm_store::audit::check_entries(entries)?;
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE customer_merge SET undone_at = $1, undone_by = $2 \
             WHERE merge_id = $3 AND undone_at IS NULL RETURNING {MERGE_COLUMNS}"
        );
        let Some(record): Option<MergeRecord> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(at)
            .bind(undone_by)
            .bind(merge_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE customer SET merged_into = NULL, status = $1 \
             WHERE customer_id = $2 AND merged_into = $3",
        )
        .bind(&record.prior_status)
        .bind(&record.merged_id)
        .bind(&record.survivor_id)
        .execute(&mut *tx)
        .await?;
        audit::append_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn merge_record(&self, merge_id: &str) -> StoreResult<Option<MergeRecord>> {
        let sql = format!("SELECT {MERGE_COLUMNS} FROM customer_merge WHERE merge_id = $1");
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(merge_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn merges_of(&self, id: &CustomerId) -> StoreResult<Vec<MergeRecord>> {
        let sql = format!(
            "SELECT {MERGE_COLUMNS} FROM customer_merge \
             WHERE survivor_id = $1 OR merged_id = $2 ORDER BY merged_at DESC, merge_id"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await?)
    }

    async fn relationships_of(
        &self,
        id: &CustomerId,
    ) -> StoreResult<Vec<fincrm_domain::Relationship>> {
        let rows: Vec<fincrm_store::rows::RelationshipRow> = sqlx::query_as(
            "SELECT from_customer_id, to_customer_id, kind, role FROM relationship \
             WHERE from_customer_id = $1 OR to_customer_id = $2 \
             ORDER BY from_customer_id, to_customer_id, kind",
        )
        .bind(id.as_str())
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(fincrm_domain::Relationship::try_from)
            .collect()
    }

    async fn erase_customer(
        &self,
        anonymised: &Customer,
        entries: &[fincrm_store::NewAuditEntry],
    ) -> StoreResult<()> {
        fincrm_store::audit::check_entries(entries)?;
        let mut tx = self.pool.begin().await?;
        write_in(
            &mut tx,
            self.keyring.as_deref(),
            None,
            &[fincrm_store::tables::customers(std::slice::from_ref(
                anonymised,
            ))],
            Rows::AsSpecified,
        )
        .await?;
        sqlx::query("UPDATE interaction SET content = NULL WHERE customer_id = $1")
            .bind(anonymised.id.as_str())
            .execute(&mut *tx)
            .await?;
        audit::append_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_customers(
        &self,
        scope: &CustomerScope,
        query: &CustomerQuery,
    ) -> StoreResult<Vec<Customer>> {
        // A search is driven by its rarest term (the first): for a full name, the given
        // name's pair rather than the surname's.
        let mut query = query.clone();
        if query.terms.len() > 1 {
            let counted: Vec<(i64, String)> =
                sqlx::query_as(fincrm_store::search::TERMS_COUNT_POSTGRES)
                    .bind(&query.terms)
                    .bind(fincrm_store::search::TERM_COUNT_CAP)
                    .fetch_all(&self.pool)
                    .await?;
            match fincrm_store::search::rarest_first(counted) {
                Some(terms) => query.terms = terms,
                None => return Ok(Vec::new()),
            }
        }
        let (sql, args) = fincrm_store::search::find_customers_sql(
            Dialect::Postgres,
            CUSTOMER_COLUMNS,
            scope,
            &query,
        );
        let query = bind_all(sqlx::query_as::<_, CustomerRow>(AssertSqlSafe(sql)), args);
        let rows = if *scope == CustomerScope::All {
            query.fetch_all(&self.pool).await?
        } else {
            let mut tx = self.scoped(scope).await?;
            let rows = query.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        };
        rows.into_iter()
            .map(|r| r.into_customer(self.keyring.as_deref()))
            .collect()
    }

    async fn customers_by_id_number(&self, raw: &str) -> StoreResult<Vec<CustomerId>> {
        pii::customers_where(
            &self.pool,
            self.keyring.as_deref(),
            fincrm_store::pii::FIELD_ID_NUMBER,
            fincrm_store::pii::normalise_id_number(raw),
        )
        .await
    }

    async fn customers_by_phone(&self, raw: &str) -> StoreResult<Vec<CustomerId>> {
        pii::customers_where(
            &self.pool,
            self.keyring.as_deref(),
            fincrm_store::pii::FIELD_PHONE,
            fincrm_store::pii::normalise_phone(raw),
        )
        .await
    }

    async fn reencrypt_customers(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<fincrm_store::ReencryptPage> {
        pii::reencrypt_page(&self.pool, self.keyring.as_deref(), after, limit).await
    }

    async fn holdings_of(&self, id: &CustomerId) -> StoreResult<Vec<Holding>> {
        let (sql, args) = fincrm_store::merge::family_select(
            Dialect::Postgres,
            HOLDING_COLUMNS,
            "holding",
            id.as_str(),
            "holding_id COLLATE \"C\"",
            None,
        );
        let rows: Vec<HoldingRow> = bind_all(sqlx::query_as(AssertSqlSafe(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Holding::try_from).collect()
    }

    async fn holding(&self, id: &HoldingId) -> StoreResult<Option<Holding>> {
        let sql = format!("SELECT {HOLDING_COLUMNS} FROM holding WHERE holding_id = $1");
        let row: Option<HoldingRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Holding::try_from).transpose()
    }

    async fn recent_transactions(
        &self,
        id: &CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<Transaction>> {
        let (sql, args) = fincrm_store::merge::family_select(
            Dialect::Postgres,
            TRANSACTION_COLUMNS,
            "bank_transaction",
            id.as_str(),
            "posted_at DESC, transaction_id COLLATE \"C\" DESC",
            Some(limit),
        );
        let rows: Vec<TransactionRow> = bind_all(sqlx::query_as(AssertSqlSafe(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Transaction::try_from).collect()
    }

    async fn interactions_of(&self, id: &CustomerId, limit: i64) -> StoreResult<Vec<Interaction>> {
        let (sql, args) = fincrm_store::merge::family_select(
            Dialect::Postgres,
            INTERACTION_COLUMNS,
            "interaction",
            id.as_str(),
            "occurred_at DESC, interaction_id COLLATE \"C\" DESC",
            Some(limit),
        );
        let rows: Vec<InteractionRow> = bind_all(sqlx::query_as(AssertSqlSafe(sql)), args)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Interaction::try_from).collect()
    }

    async fn counts(&self) -> StoreResult<TableCounts> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM customer), (SELECT count(*) FROM holding), \
             (SELECT count(*) FROM bank_transaction), (SELECT count(*) FROM interaction), \
             (SELECT count(*) FROM relationship), (SELECT count(*) FROM branch), \
             (SELECT count(*) FROM staff), (SELECT count(*) FROM product), \
             (SELECT count(*) FROM import_batch)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(TableCounts {
            customers: row.try_get(0)?,
            holdings: row.try_get(1)?,
            transactions: row.try_get(2)?,
            interactions: row.try_get(3)?,
            relationships: row.try_get(4)?,
            branches: row.try_get(5)?,
            staff: row.try_get(6)?,
            products: row.try_get(7)?,
            import_batches: row.try_get(8)?,
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn rule_set(&self, kind: &str) -> StoreResult<Option<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT version, body FROM rule_set WHERE kind = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn save_rule_set(&self, kind: &str, body: &str, actor: &str) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await?;
        let previous: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, body FROM rule_set WHERE kind = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(kind)
        .fetch_optional(&mut *tx)
        .await?;
        let version = previous.as_ref().map_or(1, |(v, _)| v + 1);
        let now = Utc::now();
        sqlx::query(
            "INSERT INTO rule_set (kind, version, body, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(kind)
        .bind(version)
        .bind(body)
        .bind(now)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        let mut entry = fincrm_store::NewAuditEntry::new(
            now,
            actor,
            "rule_set.update",
            "rule_set",
            format!("{kind}/{version}"),
        );
        entry.before_json = previous.map(|(_, b)| b);
        entry.after_json = Some(body.to_owned());
        audit::append_in(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn analytics_customers(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<fincrm_store::analytics::CustomerFacts>> {
        Ok(sqlx::query_as(
            "SELECT c.customer_id, c.kind, c.opened_on, \
                    CAST(COALESCE((SELECT sum(h.balance_minor) FROM holding h \
                       WHERE h.customer_id = c.customer_id AND h.status <> 'closed' \
                         AND h.product_type NOT IN ('loan', 'credit_card')), 0) AS BIGINT) AS aum_minor \
               FROM customer c WHERE c.customer_id > $1 ORDER BY c.customer_id LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn analytics_activity(
        &self,
        first: &str,
        last: &str,
        utc_offset_secs: i32,
    ) -> StoreResult<fincrm_store::analytics::ActivityByDay> {
        // One row a customer (its debits kept on write, `insert_transactions`); the days are
        // made here at the run's offset, as the SQLite store makes them.
        let rows = sqlx::query(
            "SELECT customer_id, posted_at, amount_minor FROM customer_debits \
              WHERE customer_id >= $1 AND customer_id <= $2 ORDER BY customer_id",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        let mut out = fincrm_store::analytics::ActivityByDay::default();
        let mut debits = Vec::new();
        for row in &rows {
            let customer: &str = row.try_get(0)?;
            let at: Vec<i64> = row.try_get(1)?;
            let amount: Vec<i64> = row.try_get(2)?;
            if at.len() != amount.len() {
                return Err(fincrm_store::StoreError::Corrupt(format!(
                    "customer_debits of customer {customer} has {} instants and {} amounts",
                    at.len(),
                    amount.len()
                )));
            }
            debits.clear();
            debits.extend(
                at.into_iter()
                    .zip(amount)
                    .map(|(at, amount_minor)| fincrm_store::debits::Debit { at, amount_minor }),
            );
            fincrm_store::debits::push_days(&mut out, customer, &mut debits, utc_offset_secs)?;
        }
        Ok(out)
    }

    async fn analytics_merged(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(sqlx::query_as(fincrm_store::analytics::MERGED_RECORDS_SQL)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn analytics_corporate_values(
        &self,
    ) -> StoreResult<Vec<fincrm_store::analytics::CorporateValueRow>> {
        Ok(
            sqlx::query_as(fincrm_store::analytics::CORPORATE_VALUES_SQL)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn start_analytics_run(
        &self,
        run: &fincrm_store::analytics::AnalyticsRun,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO analytics_run (run_id, as_of, model_version, params, started_at, status, customers) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(&run.run_id)
        .bind(run.as_of)
        .bind(&run.model_version)
        .bind(&run.params)
        .bind(run.started_at)
        .bind(&run.status)
        .bind(run.customers)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn analytics_run(
        &self,
        run_id: &str,
    ) -> StoreResult<Option<fincrm_store::analytics::AnalyticsRun>> {
        Ok(sqlx::query_as(
            "SELECT run_id, as_of, model_version, params, started_at, finished_at, status, customers \
               FROM analytics_run WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn finish_analytics_run(
        &self,
        run_id: &str,
        status: &str,
        customers: i64,
        params: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE analytics_run SET status = $1, customers = $2, params = $3, finished_at = $4 \
              WHERE run_id = $5",
        )
        .bind(status)
        .bind(customers)
        .bind(params)
        .bind(Utc::now())
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn aum_history(
        &self,
        on_or_before: chrono::NaiveDate,
        except_run: &str,
    ) -> StoreResult<Option<(chrono::NaiveDate, Vec<(String, i64)>)>> {
        let run: Option<(String, chrono::NaiveDate)> = sqlx::query_as(
            "SELECT run_id, as_of FROM analytics_run WHERE status = 'completed' AND run_id <> $1 \
               AND as_of <= $2 ORDER BY as_of DESC, finished_at DESC LIMIT 1",
        )
        .bind(except_run)
        .bind(on_or_before)
        .fetch_optional(&self.pool)
        .await?;
        let Some((run_id, as_of)) = run else {
            return Ok(None);
        };
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT customer_id, aum_minor FROM customer_score WHERE run_id = $1")
                .bind(run_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(Some((as_of, rows)))
    }

    async fn previous_scores(
        &self,
        except_run: &str,
    ) -> StoreResult<Vec<fincrm_store::analytics::PreviousScore>> {
        Ok(sqlx::query_as(
            "SELECT customer_id, tier, tier_since, tier_below_since, stage FROM customer_score \
              WHERE run_id = (SELECT run_id FROM analytics_run WHERE status = 'completed' AND run_id <> $1 \
                               ORDER BY as_of DESC, finished_at DESC LIMIT 1)",
        )
        .bind(except_run)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn score_history(
        &self,
        id: &CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<fincrm_store::analytics::ScoreRow>> {
        let sql = fincrm_store::analytics::score_history_sql("$1", "$2");
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scope a scoped transaction declares for the row-level security policy, whichever way
    /// it travelled (with BEGIN for plain codes, bound otherwise). Runs when
    /// `FINCRM_TEST_PG_URL` is set.
    #[tokio::test]
    async fn a_scoped_transaction_declares_its_scope() {
        let Some(url) = crate::testing::url_or_skip("the scoped transaction test") else {
            return;
        };
        let store = PgStore::connect(&url).await.unwrap();
        let cases = [
            (
                CustomerScope::Branches("B1-1".parse().unwrap()),
                "branches",
                "B1-1",
            ),
            (
                CustomerScope::Book("RM.07".parse().unwrap()),
                "book",
                "RM.07",
            ),
            (
                CustomerScope::Book("经理1".parse().unwrap()),
                "book",
                "经理1",
            ),
            (CustomerScope::All, "all", ""),
        ];
        for (scope, kind, key) in cases {
            let mut tx = store.scoped(&scope).await.unwrap();
            let declared: (String, String) = sqlx::query_as(
                "SELECT current_setting('fincrm.scope'), current_setting('fincrm.scope_key')",
            )
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            assert_eq!(declared, (kind.to_owned(), key.to_owned()), "{scope:?}");
            tx.rollback().await.unwrap();
            // Local to the transaction: the pooled connection forgets it.
            let after: Option<String> =
                sqlx::query_scalar("SELECT nullif(current_setting('fincrm.scope', true), '')")
                    .fetch_one(&store.pool)
                    .await
                    .unwrap();
            assert_eq!(after, None, "{scope:?}");
        }
    }
}
