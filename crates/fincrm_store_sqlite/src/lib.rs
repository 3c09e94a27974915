//! fincrm's embedded store: one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! Writes go through a pool of one connection (SQLite has one writer; queueing in the pool is
//! cheaper than retrying on `SQLITE_BUSY`), except two kinds that run on rusqlite connections
//! of their own: the analytics run's score pages (`bulk`), which hold the sqlx writer
//! meanwhile, and bare audit appends, group-committed on a thread of their own (`audit`), which
//! wait on SQLite's own lock and give a sqlx write in progress the way. Reads use separate
//! readers, which WAL lets run beside the writer: the hot reads
//! (360, bearer token, search) as one job each on the rusqlite reader threads of the `read`
//! module, the others through a sqlx pool. Bulk writes are multi-row `INSERT … VALUES`
//! statements with upserts, built from the shared [`fincrm_store::tables`] layout.

mod activity;
mod audit;
mod auth;
mod bulk;
mod checkpoint;
mod debits;
mod pii;
mod read;
mod tasks;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fincrm_crypto::Keyring;
use fincrm_domain::{Customer, CustomerId, Holding, HoldingId, Interaction, Transaction};
use fincrm_store::merge::{MERGE_COLUMNS, MergeRecord};
use fincrm_store::rows::{
    BRANCH_COLUMNS, BranchRow, HOLDING_COLUMNS, HoldingRow, INTERACTION_COLUMNS, InteractionRow,
    TRANSACTION_COLUMNS, TransactionRow,
};
use fincrm_store::sql::{Dialect, SqlArg};
use fincrm_store::tables::Rows;
use fincrm_store::{
    Backend, BatchMarker, ColumnData, CustomerQuery, CustomerScope, DuplicateCandidate,
    ImportRunRecord, KeyMatch, OnConflict, PiKey, Store, StoreResult, TableBatch, TableCounts,
    TimeWindow,
};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Arguments, AssertSqlSafe, Row};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Reader connections (or threads) of each read path: SQLite readers do not block each other.
const READERS: u32 = 4;

/// Bytes a WAL file is cut back to when it starts over (64 MiB).
pub(crate) const JOURNAL_SIZE_LIMIT: &str = "67108864";

/// SQLite binds at most 32766 parameters per statement; stay well below to keep statements short.
const MAX_PARAMS_PER_STATEMENT: usize = 8000;

/// The embedded SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The hot reads (a 360, a bearer token), one job each: see [`read`].
    read: Arc<read::Readers>,
    /// A read-write rusqlite connection for the analytics run's score pages, used only while
    /// the sqlx writer is held: see [`bulk`].
    direct_writer: Arc<read::Readers>,
    /// Group commit of bare audit appends, on a connection and thread of its own: see
    /// [`audit`].
    audit: Arc<audit::AuditCommitter>,
    /// Checkpoints the WAL while any clone of the store lives.
    _checkpointer: Arc<checkpoint::Checkpointer>,
    /// Seals personal information on write and opens it on read (`fincrm_store::pii`); `None`
    /// stores it in plaintext.
    keyring: Option<Arc<Keyring>>,
}

impl SqliteStore {
    /// `batches` written as `rows` says, and the audit `entries` appended, in one transaction.
    async fn write_rows_audited(
        &self,
        batches: &[TableBatch],
        entries: &[fincrm_store::NewAuditEntry],
        rows: Rows,
    ) -> StoreResult<u64> {
        fincrm_store::audit::check_entries(entries)?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let written = write_in(&mut tx, self.keyring.as_deref(), None, batches, rows).await?;
        audit::append_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// Opens (creating if missing) the database file at `path`.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::connect(options).await
    }

    /// Opens a database from a `sqlite:` URL such as `sqlite://fincrm.db`.
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> StoreResult<Self> {
        // synchronous=FULL: NORMAL can lose committed transactions on power loss (SECURITY.md F0).
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // 256 MiB page cache: bulk loads into indexed tables are bound by cache misses.
            .pragma("cache_size", "-262144")
            .pragma("temp_store", "memory");
        // No ping before each acquire (sqlx's default): the database is a file in this process,
        // there is no link to lose, and the ping is a round trip to the connection's thread for
        // every statement.
        // Checkpoints run on a thread of their own, not inside the writer's commits, except
        // when a writer that never pauses has let the WAL pass 128 MiB (see `checkpoint`).
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .acquire_timeout(Duration::from_mins(1))
            .connect_with(
                options
                    .clone()
                    .pragma(
                        "wal_autocheckpoint",
                        checkpoint::WRITER_CHECKPOINT_FRAMES.to_string(),
                    )
                    // A WAL that grew during a bulk load shrinks back when it starts over.
                    .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT),
            )
            .await?;
        let checkpointer = Arc::new(checkpoint::Checkpointer::start(options.get_filename())?);
        let read = Arc::new(read::Readers::open(options.get_filename(), READERS)?);
        let audit = Arc::new(audit::AuditCommitter::start(
            options.get_filename(),
            writer.clone(),
            tokio::runtime::Handle::current(),
        )?);
        let direct_writer = Arc::new(read::Readers::open_direct_writer(
            options.get_filename(),
            bulk::configure,
        )?);
        let reader = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(READERS)
            .connect_with(options.read_only(true).pragma("cache_size", "-65536"))
            .await?;
        Ok(Self {
            writer,
            reader,
            read,
            direct_writer,
            audit,
            _checkpointer: checkpointer,
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

    /// The pragmas that make the file durable, as the database reports them (for startup checks
    /// and tests): journal mode, synchronous level and foreign-key enforcement.
    pub async fn durability(&self) -> StoreResult<(String, i64, i64)> {
        let mut conn = self.writer.acquire().await?;
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?;
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await?;
        Ok((journal, sync, fk))
    }

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// `INSERT` of `rows` rows of `spec`'s columns as `?` parameters, with `on_conflict`.
pub(crate) fn insert_sql(
    spec: &fincrm_store::TableSpec,
    rows: usize,
    on_conflict: OnConflict,
) -> String {
    let cols = spec.columns.join(", ");
    let tuple = format!("({})", vec!["?"; spec.columns.len()].join(","));
    let values = vec![tuple.as_str(); rows].join(",");
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
    format!(
        "INSERT INTO {} ({cols}) VALUES {values} ON CONFLICT ({}) {conflict}",
        spec.name,
        spec.key.join(", ")
    )
}

fn bind_row(args: &mut SqliteArguments, batch: &TableBatch, row: usize) -> StoreResult<()> {
    for col in &batch.columns {
        let r = match col {
            // As `&str`: sqlx copies it once, into an `Arc<str>` (a `String` would be copied,
            // then boxed).
            ColumnData::Text(v) => args.add(v[row].as_deref()),
            ColumnData::Int(v) => args.add(v[row]),
            ColumnData::Float(v) => args.add(v[row]),
            ColumnData::Date(v) => args.add(v[row].map(fincrm_store::tables::iso_date)),
            ColumnData::Timestamp(v) => args.add(v[row]),
        };
        r.map_err(|e| anyhow::anyhow!("binding a value failed: {e}"))?;
    }
    Ok(())
}

async fn insert_batch(
    conn: &mut sqlx::SqliteConnection,
    batch: &TableBatch,
    on_conflict: OnConflict,
) -> StoreResult<u64> {
    let total = batch.rows();
    let per_statement = (MAX_PARAMS_PER_STATEMENT / batch.spec.columns.len()).max(1);
    // Shared, not copied, by each full statement (tens of kilobytes of text).
    let full_sql: Arc<str> = insert_sql(batch.spec, per_statement.min(total), on_conflict).into();
    let mut written = 0;
    let mut start = 0;
    while start < total {
        let n = per_statement.min(total - start);
        let sql = if n == per_statement.min(total) {
            Arc::clone(&full_sql)
        } else {
            insert_sql(batch.spec, n, on_conflict).into()
        };
        let mut args = SqliteArguments::default();
        args.reserve(n * batch.columns.len(), 0);
        for row in start..start + n {
            bind_row(&mut args, batch, row)?;
        }
        written += sqlx::query_with(AssertSqlSafe(sql), args)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        start += n;
    }
    Ok(written)
}

/// Replaces the name-index rows of `customers` with `terms` (a renamed customer loses its old
/// terms).
async fn replace_search_terms(
    conn: &mut sqlx::SqliteConnection,
    customers: &[String],
    terms: &TableBatch,
) -> StoreResult<()> {
    let ids: Vec<&str> = customers.iter().map(String::as_str).collect();
    sqlx::query(
        "DELETE FROM customer_search WHERE customer_id IN (SELECT value FROM json_each(?))",
    )
    .bind(json_keys(&ids))
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
async fn build_search_index(pool: &sqlx::SqlitePool) -> StoreResult<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO store_task (name, cursor) SELECT ?, '' \
          WHERE EXISTS (SELECT 1 FROM customer) AND NOT EXISTS (SELECT 1 FROM customer_search)",
    )
    .bind(SEARCH_TASK)
    .execute(pool)
    .await?;
    tasks::run(pool, SEARCH_TASK, async |tx, after| {
        let page: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT customer_id, name, name_latin FROM customer WHERE customer_id > ? \
             ORDER BY customer_id LIMIT ?",
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
    Ok(())
}

/// Binds a list of keys as one JSON array, so a lookup is one statement however many keys.
fn json_keys(ids: &[&str]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned())
}

/// The body of `write`, inside the caller's transaction: each batch, its search-index rows,
/// and the import marker.
async fn write_in(
    tx: &mut sqlx::SqliteConnection,
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
            debits::keep(&mut *tx, debits, all_new).await?;
        }
        if let Some((customers, terms)) = search {
            replace_search_terms(&mut *tx, &customers, &terms).await?;
        }
    }
    if let Some(m) = marker {
        sqlx::query(
            "INSERT INTO import_batch (source, batch_no, records, loaded, committed_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, batch_no) DO NOTHING",
        )
        .bind(&m.source)
        .bind(m.batch_no)
        .bind(m.records)
        .bind(m.loaded)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
    }
    Ok(written)
}

/// Binds the arguments of a shared statement ([`fincrm_store::sql`]) in order.
fn bind_all<O>(
    mut q: sqlx::query::QueryAs<'_, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments>,
    args: Vec<SqlArg>,
) -> sqlx::query::QueryAs<'_, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments> {
    for arg in args {
        q = match arg {
            SqlArg::Text(t) => q.bind(t),
            SqlArg::Int(i) => q.bind(i),
            SqlArg::Time(t) => q.bind(t),
        };
    }
    q
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations")
            .run(&self.writer)
            .await
            .map_err(|e| fincrm_store::StoreError::Other(e.into()))?;
        build_search_index(&self.writer).await?;
        debits::fill_if_pending(&self.writer).await
    }

    async fn write(
        &self,
        marker: Option<&BatchMarker>,
        batches: &[TableBatch],
    ) -> StoreResult<u64> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
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

    async fn write_scores(
        &self,
        marker: &BatchMarker,
        scores: Vec<fincrm_store::tables::CustomerScore>,
    ) -> StoreResult<u64> {
        // Held, idle, for the length of the job: no other write of this process meanwhile.
        let _writer = self.writer.acquire().await?;
        let marker = marker.clone();
        self.direct_writer
            .run(move |c| bulk::write_scores(c, &marker, &scores))
            .await
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
            sqlx::query_scalar("SELECT batch_no FROM import_batch WHERE source = ?")
                .bind(source)
                .fetch_all(&self.writer)
                .await?;
        Ok(rows.into_iter().collect())
    }

    async fn record_import_run(&self, run: &ImportRunRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO import_run (source, file_name, kind, started_at, finished_at, records, \
             loaded, rejected, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn existing_customers(&self, ids: &[&str]) -> StoreResult<HashSet<String>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        // Read on the writer: an import checks references to rows it committed a moment ago.
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT customer_id FROM customer WHERE customer_id IN (SELECT value FROM json_each(?))",
        )
        .bind(json_keys(ids))
        .fetch_all(&self.writer)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn existing_corporates(&self, ids: &[&str]) -> StoreResult<HashSet<String>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT customer_id FROM customer WHERE kind = 'corporate' \
               AND customer_id IN (SELECT value FROM json_each(?))",
        )
        .bind(json_keys(ids))
        .fetch_all(&self.writer)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn existing_holdings(&self, ids: &[&str]) -> StoreResult<HashMap<String, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(
            "SELECT holding_id, customer_id FROM holding \
             WHERE holding_id IN (SELECT value FROM json_each(?))",
        )
        .bind(json_keys(ids))
        .fetch_all(&self.writer)
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
            "INSERT OR IGNORE INTO duplicate_candidate (customer_a, customer_b, reason, detected_at) \
             SELECT a.customer_id, b.customer_id, \
                    CASE a.id_type WHEN 'uscc' THEN 'same_uscc' ELSE 'same_id_number' END, ?1 \
               FROM customer a JOIN customer b \
                 ON a.id_number = b.id_number AND a.id_type = b.id_type \
                AND a.customer_id < b.customer_id \
              WHERE a.id_number IS NOT NULL \
             UNION ALL \
             SELECT a.customer_id, b.customer_id, 'same_phone_and_name', ?1 \
               FROM customer a JOIN customer b \
                 ON a.phone = b.phone AND a.name = b.name AND a.customer_id < b.customer_id \
              WHERE a.phone IS NOT NULL \
             UNION ALL \
             SELECT a.customer_id, b.customer_id, \
                    CASE a.id_type WHEN 'uscc' THEN 'same_uscc' ELSE 'same_id_number' END, ?1 \
               FROM customer a JOIN customer b \
                 ON a.id_number_bidx = b.id_number_bidx AND a.id_type = b.id_type \
                AND a.customer_id < b.customer_id \
              WHERE a.id_number_bidx IS NOT NULL \
             UNION ALL \
             SELECT a.customer_id, b.customer_id, 'same_phone_and_name', ?1 \
               FROM customer a JOIN customer b \
                 ON a.phone_bidx = b.phone_bidx AND a.name = b.name \
                AND a.customer_id < b.customer_id \
              WHERE a.phone_bidx IS NOT NULL",
        )
        .bind(Utc::now())
        .execute(&self.writer)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM duplicate_candidate")
                .fetch_one(&self.writer)
                .await?,
        )
    }

    async fn duplicate_candidates(&self, limit: i64) -> StoreResult<Vec<DuplicateCandidate>> {
        Ok(sqlx::query_as(
            "SELECT customer_a, customer_b, reason FROM duplicate_candidate \
             ORDER BY customer_a, customer_b, reason LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.reader)
        .await?)
    }

    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<Customer>> {
        let (keyring, id) = (self.keyring.clone(), id.clone());
        self.read
            .run(move |c| read::customer(c, keyring.as_deref(), &id))
            .await
    }

    async fn customer_in_scope(
        &self,
        scope: &CustomerScope,
        id: &CustomerId,
    ) -> StoreResult<Option<Customer>> {
        let (keyring, scope, id) = (self.keyring.clone(), scope.clone(), id.clone());
        self.read
            .run(move |c| read::customer_in_scope(c, keyring.as_deref(), &scope, &id))
            .await
    }

    async fn customer_360(
        &self,
        scope: &CustomerScope,
        id: &CustomerId,
        limits: fincrm_store::View360Limits,
    ) -> StoreResult<Option<fincrm_store::Customer360>> {
        let (keyring, scope, id) = (self.keyring.clone(), scope.clone(), id.clone());
        self.read
            .run(move |c| read::customer_360(c, keyring.as_deref(), &scope, &id, limits))
            .await
    }

    async fn transactions_page(
        &self,
        id: &CustomerId,
        window: &TimeWindow,
    ) -> StoreResult<Vec<Transaction>> {
        let (sql, args) = fincrm_store::sql::time_page_sql(
            Dialect::Sqlite,
            TRANSACTION_COLUMNS,
            "bank_transaction",
            ("posted_at", "transaction_id"),
            id.as_str(),
            window,
        );
        let rows: Vec<TransactionRow> = bind_all(sqlx::query_as(AssertSqlSafe(sql)), args)
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(Transaction::try_from).collect()
    }

    async fn interactions_page(
        &self,
        id: &CustomerId,
        window: &TimeWindow,
    ) -> StoreResult<Vec<Interaction>> {
        let (sql, args) = fincrm_store::sql::time_page_sql(
            Dialect::Sqlite,
            INTERACTION_COLUMNS,
            "interaction",
            ("occurred_at", "interaction_id"),
            id.as_str(),
            window,
        );
        let rows: Vec<InteractionRow> = bind_all(sqlx::query_as(AssertSqlSafe(sql)), args)
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(Interaction::try_from).collect()
    }

    async fn consents_of(&self, id: &CustomerId) -> StoreResult<Vec<fincrm_domain::Consent>> {
        let id = id.clone();
        self.read.run(move |c| read::consents_of(c, &id)).await
    }

    async fn branches(&self) -> StoreResult<Vec<fincrm_domain::Branch>> {
        let sql = format!("SELECT {BRANCH_COLUMNS} FROM branch ORDER BY branch_id");
        let rows: Vec<BranchRow> = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(&self.reader)
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
        // BEGIN IMMEDIATE takes the database's write lock at once: every other writer, in
        // this process or another, waits until this transaction ends.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
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
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let pointed = sqlx::query(
            "UPDATE customer SET merged_into = ?, status = 'merged' \
             WHERE customer_id = ? AND merged_into IS NULL",
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
             reason, prior_status) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let sql = format!(
            "UPDATE customer_merge SET undone_at = ?, undone_by = ? \
             WHERE merge_id = ? AND undone_at IS NULL RETURNING {MERGE_COLUMNS}"
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
            "UPDATE customer SET merged_into = NULL, status = ? \
             WHERE customer_id = ? AND merged_into = ?",
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
        let sql = format!("SELECT {MERGE_COLUMNS} FROM customer_merge WHERE merge_id = ?");
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(merge_id)
            .fetch_optional(&self.writer)
            .await?)
    }

    async fn merges_of(&self, id: &CustomerId) -> StoreResult<Vec<MergeRecord>> {
        let sql = format!(
            "SELECT {MERGE_COLUMNS} FROM customer_merge \
             WHERE survivor_id = ? OR merged_id = ? ORDER BY merged_at DESC, merge_id"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(id.as_str())
            .fetch_all(&self.reader)
            .await?)
    }

    async fn relationships_of(
        &self,
        id: &CustomerId,
    ) -> StoreResult<Vec<fincrm_domain::Relationship>> {
        let id = id.clone();
        self.read.run(move |c| read::relationships_of(c, &id)).await
    }

    async fn erase_customer(
        &self,
        anonymised: &Customer,
        entries: &[fincrm_store::NewAuditEntry],
    ) -> StoreResult<()> {
        fincrm_store::audit::check_entries(entries)?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
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
        sqlx::query("UPDATE interaction SET content = NULL WHERE customer_id = ?")
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
        let (keyring, scope, query) = (self.keyring.clone(), scope.clone(), query.clone());
        self.read
            .run(move |c| read::find_customers(c, keyring.as_deref(), &scope, &query))
            .await
    }

    /// One job on a reader thread instead of one a read: each job is a hand-off to a reader
    /// thread and back, and under load a wait for a core.
    async fn customers_by_key(
        &self,
        scope: &CustomerScope,
        number: Option<&CustomerId>,
        pi: Option<PiKey<'_>>,
    ) -> StoreResult<KeyMatch> {
        let pi = pi.map(PiKey::field_and_term);
        if number.is_none() && pi.is_none() {
            return Ok(KeyMatch::Neither);
        }
        let (keyring, scope, number) = (self.keyring.clone(), scope.clone(), number.cloned());
        self.read
            .run(move |c| {
                read::customers_by_key(c, keyring.as_deref(), &scope, number.as_ref(), pi)
            })
            .await
    }

    async fn customers_by_id_number(&self, raw: &str) -> StoreResult<Vec<CustomerId>> {
        let Some(term) = fincrm_store::pii::normalise_id_number(raw) else {
            return Ok(Vec::new());
        };
        let keyring = self.keyring.clone();
        self.read
            .run(move |c| {
                read::customers_where(
                    c,
                    keyring.as_deref(),
                    fincrm_store::pii::FIELD_ID_NUMBER,
                    &term,
                )
            })
            .await
    }

    async fn customers_by_phone(&self, raw: &str) -> StoreResult<Vec<CustomerId>> {
        let Some(term) = fincrm_store::pii::normalise_phone(raw) else {
            return Ok(Vec::new());
        };
        let keyring = self.keyring.clone();
        self.read
            .run(move |c| {
                read::customers_where(c, keyring.as_deref(), fincrm_store::pii::FIELD_PHONE, &term)
            })
            .await
    }

    async fn reencrypt_customers(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<fincrm_store::ReencryptPage> {
        pii::reencrypt_page(&self.writer, self.keyring.as_deref(), after, limit).await
    }

    async fn holdings_of(&self, id: &CustomerId) -> StoreResult<Vec<Holding>> {
        let id = id.clone();
        self.read.run(move |c| read::holdings_of(c, &id)).await
    }

    async fn holding(&self, id: &HoldingId) -> StoreResult<Option<Holding>> {
        let sql = format!("SELECT {HOLDING_COLUMNS} FROM holding WHERE holding_id = ?");
        let row: Option<HoldingRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await?;
        row.map(Holding::try_from).transpose()
    }

    async fn recent_transactions(
        &self,
        id: &CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<Transaction>> {
        let id = id.clone();
        self.read
            .run(move |c| read::recent_transactions(c, &id, limit))
            .await
    }

    async fn interactions_of(&self, id: &CustomerId, limit: i64) -> StoreResult<Vec<Interaction>> {
        let id = id.clone();
        self.read
            .run(move |c| read::interactions_of(c, &id, limit))
            .await
    }

    async fn counts(&self) -> StoreResult<TableCounts> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM customer), (SELECT count(*) FROM holding), \
             (SELECT count(*) FROM bank_transaction), (SELECT count(*) FROM interaction), \
             (SELECT count(*) FROM relationship), (SELECT count(*) FROM branch), \
             (SELECT count(*) FROM staff), (SELECT count(*) FROM product), \
             (SELECT count(*) FROM import_batch)",
        )
        .fetch_one(&self.writer)
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
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn rule_set(&self, kind: &str) -> StoreResult<Option<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT version, body FROM rule_set WHERE kind = ?1 ORDER BY version DESC LIMIT 1",
        )
        .bind(kind)
        .fetch_optional(&self.writer)
        .await?)
    }

    async fn save_rule_set(&self, kind: &str, body: &str, actor: &str) -> StoreResult<i64> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let previous: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, body FROM rule_set WHERE kind = ?1 ORDER BY version DESC LIMIT 1",
        )
        .bind(kind)
        .fetch_optional(&mut *tx)
        .await?;
        let version = previous.as_ref().map_or(1, |(v, _)| v + 1);
        let now = Utc::now();
        sqlx::query(
            "INSERT INTO rule_set (kind, version, body, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
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
        let after = after.unwrap_or_default().to_owned();
        self.read
            .run(move |c| activity::customers(c, &after, limit))
            .await
    }

    async fn analytics_activity(
        &self,
        first: &str,
        last: &str,
        utc_offset_secs: i32,
    ) -> StoreResult<fincrm_store::analytics::ActivityByDay> {
        let (first, last) = (first.to_owned(), last.to_owned());
        self.read
            .run(move |c| activity::daily_activity(c, &first, &last, utc_offset_secs))
            .await
    }

    async fn analytics_merged(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(sqlx::query_as(fincrm_store::analytics::MERGED_RECORDS_SQL)
            .fetch_all(&self.reader)
            .await?)
    }

    async fn analytics_corporate_values(
        &self,
    ) -> StoreResult<Vec<fincrm_store::analytics::CorporateValueRow>> {
        Ok(
            sqlx::query_as(fincrm_store::analytics::CORPORATE_VALUES_SQL)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    async fn start_analytics_run(
        &self,
        run: &fincrm_store::analytics::AnalyticsRun,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO analytics_run (run_id, as_of, model_version, params, started_at, status, customers) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(&run.run_id)
        .bind(run.as_of)
        .bind(&run.model_version)
        .bind(&run.params)
        .bind(run.started_at)
        .bind(&run.status)
        .bind(run.customers)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn analytics_run(
        &self,
        run_id: &str,
    ) -> StoreResult<Option<fincrm_store::analytics::AnalyticsRun>> {
        Ok(sqlx::query_as(
            "SELECT run_id, as_of, model_version, params, started_at, finished_at, status, customers \
               FROM analytics_run WHERE run_id = ?1",
        )
        .bind(run_id)
        .fetch_optional(&self.writer)
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
            "UPDATE analytics_run SET status = ?1, customers = ?2, params = ?3, finished_at = ?4 \
              WHERE run_id = ?5",
        )
        .bind(status)
        .bind(customers)
        .bind(params)
        .bind(Utc::now())
        .bind(run_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn aum_history(
        &self,
        on_or_before: chrono::NaiveDate,
        except_run: &str,
    ) -> StoreResult<Option<(chrono::NaiveDate, Vec<(String, i64)>)>> {
        let except_run = except_run.to_owned();
        self.read
            .run(move |c| activity::aum_history(c, on_or_before, &except_run))
            .await
    }

    async fn previous_scores(
        &self,
        except_run: &str,
    ) -> StoreResult<Vec<fincrm_store::analytics::PreviousScore>> {
        let except_run = except_run.to_owned();
        self.read
            .run(move |c| activity::previous_scores(c, &except_run))
            .await
    }

    async fn score_history(
        &self,
        id: &CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<fincrm_store::analytics::ScoreRow>> {
        let id = id.clone();
        self.read
            .run(move |c| read::score_history(c, &id, limit))
            .await
    }
}
