//! fincrm's production store: PostgreSQL through sqlx.
//!
//! Bulk writes bind each column as one array and insert `SELECT * FROM UNNEST(…)`: one statement
//! and one round trip per batch, close to `COPY` in speed while keeping `ON CONFLICT` upserts.
//! Text comparisons that decide order use `COLLATE "C"`, so results match SQLite's byte order
//! whatever the database's locale.

use async_trait::async_trait;
use chrono::Utc;
use fincrm_domain::{Customer, CustomerId, Holding, HoldingId, Interaction, Transaction};
use fincrm_store::rows::{
    CUSTOMER_COLUMNS, CustomerRow, HOLDING_COLUMNS, HoldingRow, INTERACTION_COLUMNS,
    InteractionRow, TRANSACTION_COLUMNS, TransactionRow,
};
use fincrm_store::{
    Backend, BatchMarker, ColumnData, DuplicateCandidate, ImportRunRecord, OnConflict, Store,
    StoreResult, TableBatch, TableCounts,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

/// Rows per `UNNEST` statement: large enough to amortise the round trip, small enough to keep
/// one statement's memory modest.
const ROWS_PER_STATEMENT: usize = 20_000;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_in_schema(url, None).await
    }

    /// Connects with `search_path` set to `schema` (created if missing): how tests isolate
    /// themselves in one database, and how a bank may keep fincrm beside other applications.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> StoreResult<Self> {
        let mut options = PgConnectOptions::from_str(url)?.application_name("fincrm");
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
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// The connection pool, for adapters' own tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn pg_type(col: &ColumnData) -> &'static str {
    match col {
        ColumnData::Text(_) => "text[]",
        ColumnData::Int(_) => "bigint[]",
        ColumnData::Date(_) => "date[]",
        ColumnData::Timestamp(_) => "timestamptz[]",
    }
}

fn insert_sql(batch: &TableBatch) -> String {
    let spec = batch.spec;
    let params: Vec<String> = batch
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", i + 1, pg_type(c)))
        .collect();
    let conflict = match spec.on_conflict {
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
        "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) ON CONFLICT ({}) {conflict}",
        spec.name,
        spec.columns.join(", "),
        params.join(", "),
        spec.key.join(", ")
    )
}

async fn insert_batch(conn: &mut sqlx::PgConnection, batch: &TableBatch) -> StoreResult<u64> {
    let sql = insert_sql(batch);
    let total = batch.rows();
    let mut written = 0;
    let mut start = 0;
    while start < total {
        let end = (start + ROWS_PER_STATEMENT).min(total);
        let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
        for col in &batch.columns {
            query = match col {
                ColumnData::Text(v) => query.bind(v[start..end].to_vec()),
                ColumnData::Int(v) => query.bind(v[start..end].to_vec()),
                ColumnData::Date(v) => query.bind(v[start..end].to_vec()),
                ColumnData::Timestamp(v) => query.bind(v[start..end].to_vec()),
            };
        }
        written += query.execute(&mut *conn).await?.rows_affected();
        start = end;
    }
    Ok(written)
}

fn keys(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
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
            .map_err(|e| fincrm_store::StoreError::Other(e.into()))
    }

    async fn write(
        &self,
        marker: Option<&BatchMarker>,
        batches: &[TableBatch],
    ) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let mut written = 0;
        for batch in batches {
            if batch.spec.on_conflict == OnConflict::Update {
                let mut deduped = batch.clone();
                deduped.keep_last_per_key();
                written += insert_batch(&mut tx, &deduped).await?;
            } else {
                written += insert_batch(&mut tx, batch).await?;
            }
        }
        if let Some(m) = marker {
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
        }
        tx.commit().await?;
        Ok(written)
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
        row.map(Customer::try_from).transpose()
    }

    async fn holdings_of(&self, id: &CustomerId) -> StoreResult<Vec<Holding>> {
        let sql = format!(
            "SELECT {HOLDING_COLUMNS} FROM holding WHERE customer_id = $1 \
             ORDER BY holding_id COLLATE \"C\""
        );
        let rows: Vec<HoldingRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str())
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
        let sql = format!(
            "SELECT {TRANSACTION_COLUMNS} FROM bank_transaction WHERE customer_id = $1 \
             ORDER BY posted_at DESC, transaction_id COLLATE \"C\" DESC LIMIT $2"
        );
        let rows: Vec<TransactionRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Transaction::try_from).collect()
    }

    async fn interactions_of(&self, id: &CustomerId, limit: i64) -> StoreResult<Vec<Interaction>> {
        let sql = format!(
            "SELECT {INTERACTION_COLUMNS} FROM interaction WHERE customer_id = $1 \
             ORDER BY occurred_at DESC, interaction_id COLLATE \"C\" DESC LIMIT $2"
        );
        let rows: Vec<InteractionRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(limit)
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
}
