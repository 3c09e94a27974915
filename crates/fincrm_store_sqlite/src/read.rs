//! The hot reads — a customer 360, a bearer token with its user — answered in one hop.
//!
//! sqlx runs each SQLite connection on a thread of its own, and every statement is a round trip
//! between that thread and the async runtime: the command goes over, each row and the result
//! come back, and each hop wakes a sleeping thread. A 360 is seven statements, a bearer request
//! two more; under load (`bench/api`) the server spent most of its time switching threads, not
//! in SQLite. Here a whole read — all the statements of a 360 — is one job, run by a thread
//! that owns a read-only rusqlite connection to the same file: one hop there, one back.
//!
//! Both drivers link the same SQLite (libsqlite3-sys, bundled). Writes stay on sqlx's single
//! writer; WAL lets these readers run beside it, each job seeing the last committed state.
//! Each function here is the only implementation of its read: the async [`fincrm_store::Store`]
//! methods send it as a job, [`customer_360`] runs several in one.

use chrono::SecondsFormat;
use fincrm_crypto::Keyring;
use fincrm_domain::{Customer, CustomerId, Holding, Interaction, Transaction, User};
use fincrm_store::analytics::ScoreRow;
use fincrm_store::auth::{API_TOKEN_COLUMNS, ApiTokenRecord, ApiTokenRow, StaffRow};
use fincrm_store::rows::{
    CONSENT_COLUMNS, CUSTOMER_COLUMNS, ConsentRow, CustomerRow, HOLDING_COLUMNS, HoldingRow,
    INTERACTION_COLUMNS, InteractionRow, RelationshipRow, TRANSACTION_COLUMNS, TransactionRow,
};
use fincrm_store::sql::{Dialect, SqlArg};
use fincrm_store::{
    Customer360, CustomerQuery, CustomerScope, KeyMatch, StoreError, StoreResult, View360Limits,
};
use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Duration;

/// A read sent to a reader thread.
type Job = Box<dyn FnOnce(&Connection) + Send>;

/// Threads each owning one rusqlite connection, taking jobs from one queue: the read-only
/// readers ([`Readers::open`]) and the one bulk writer ([`Readers::open_bulk_writer`]). They end
/// (and close their connections) when the last handle is dropped.
pub(crate) struct Readers {
    jobs: flume::Sender<Job>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("queued", &self.jobs.len())
            .finish()
    }
}

/// How long a reader waits for a lock (a checkpoint, a schema change) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl Readers {
    /// Opens `threads` read-only connections to the database file at `path` (which the writer
    /// has created) and starts a thread for each.
    pub(crate) fn open(path: &Path, threads: u32) -> StoreResult<Self> {
        Self::start(
            path,
            threads,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            "fincrm-sqlite-read",
            |conn| {
                // 64 MiB page cache a connection, as the sqlx readers; temporary b-trees in
                // memory.
                conn.pragma_update(None, "cache_size", -65536)?;
                conn.pragma_update(None, "temp_store", "memory")?;
                // Plans that do not depend on bound values: without this SQLite re-prepares a
                // statement whenever a value it could plan with changes, e.g. every `LIMIT ?`
                // (three of a 360's seven statements, every time: perf probes under bench/api
                // load).
                conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
                Ok(())
            },
        )
    }

    /// One read-write connection on a thread of its own, set up by `configure` (WAL,
    /// `synchronous=FULL` and `wal_autocheckpoint` as the sqlx writer; see
    /// [`crate::bulk::configure`] for its foreign keys): for the bulk writes of [`crate::bulk`],
    /// made while the caller holds the sqlx writer.
    pub(crate) fn open_direct_writer(
        path: &Path,
        configure: fn(&Connection) -> rusqlite::Result<()>,
    ) -> StoreResult<Self> {
        Self::start(
            path,
            1,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            "fincrm-sqlite-write",
            configure,
        )
    }

    fn start(
        path: &Path,
        threads: u32,
        flags: OpenFlags,
        name: &str,
        configure: fn(&Connection) -> rusqlite::Result<()>,
    ) -> StoreResult<Self> {
        let (jobs, queue) = flume::unbounded::<Job>();
        for n in 0..threads {
            let conn = Connection::open_with_flags(path, flags).map_err(db)?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
            conn.set_prepared_statement_cache_capacity(64);
            configure(&conn).map_err(db)?;
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || {
                    for job in &queue {
                        // A bug in one read costs that read (its caller sees the reader gone),
                        // not the thread and its connection.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&conn)));
                    }
                })
                .map_err(|e| StoreError::Other(anyhow::Error::new(e)))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `read` on a reader thread and returns its answer.
    pub(crate) async fn run<T, F>(&self, read: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // The caller may have gone (request cancelled): then nobody needs the answer.
            let _ = reply.send(read(conn));
        });
        self.jobs.send(job).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

fn gone() -> StoreError {
    StoreError::Other(anyhow::anyhow!("the SQLite reader stopped"))
}

/// A rusqlite error as the store's: a stored value of the wrong type is corrupt data.
pub(crate) fn db(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            StoreError::Corrupt(e.to_string())
        }
        e => StoreError::Other(anyhow::Error::new(e).context("SQLite read")),
    }
}

/// A shared statement's argument as SQLite stores it (instants as sqlx writes them: RFC 3339).
fn value(arg: SqlArg) -> Value {
    match arg {
        SqlArg::Text(t) => Value::Text(t),
        SqlArg::Int(i) => Value::Integer(i),
        SqlArg::Time(t) => Value::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
    }
}

/// Every row of `sql` with `args`, through `map`.
fn all<T>(
    conn: &Connection,
    sql: &str,
    args: Vec<SqlArg>,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args.into_iter().map(value)), map)
        .map_err(db)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db)
}

/// The first row of `sql` with `args`, through `map`.
fn first<T>(
    conn: &Connection,
    sql: &str,
    args: Vec<SqlArg>,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Option<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    stmt.query_row(rusqlite::params_from_iter(args.into_iter().map(value)), map)
        .optional()
        .map_err(db)
}

/// A row struct from the statement's columns, in the order of the struct's fields (the order
/// of its `*_COLUMNS` list).
macro_rules! from_columns {
    ($row:expr, $ty:ident { $($field:ident),* $(,)? }) => {{
        let row = $row;
        let mut column = 0..;
        $ty { $($field: row.get(column.next().unwrap_or_default())?),* }
    }};
}

fn customer_row(row: &Row<'_>) -> rusqlite::Result<CustomerRow> {
    Ok(from_columns!(
        row,
        CustomerRow {
            customer_id,
            kind,
            name,
            name_latin,
            id_type,
            id_number,
            phone,
            email,
            address,
            branch_id,
            primary_rm_id,
            risk_tolerance,
            opened_on,
            status,
            gender,
            birth_date,
            occupation,
            ownership,
            industry_code,
            registered_capital_minor,
            registered_capital_currency,
            founded_on,
            group_parent_id,
            tags,
            id_number_enc,
            phone_enc,
            email_enc,
            address_enc,
            merged_into,
        }
    ))
}

fn holding_row(row: &Row<'_>) -> rusqlite::Result<HoldingRow> {
    Ok(from_columns!(
        row,
        HoldingRow {
            holding_id,
            customer_id,
            product_code,
            product_type,
            balance_minor,
            currency,
            limit_minor,
            opened_on,
            matures_on,
            status,
        }
    ))
}

fn transaction_row(row: &Row<'_>) -> rusqlite::Result<TransactionRow> {
    Ok(from_columns!(
        row,
        TransactionRow {
            transaction_id,
            customer_id,
            holding_id,
            posted_at,
            amount_minor,
            currency,
            direction,
            channel,
            counterparty,
            kind,
            memo,
        }
    ))
}

fn interaction_row(row: &Row<'_>) -> rusqlite::Result<InteractionRow> {
    Ok(from_columns!(
        row,
        InteractionRow {
            interaction_id,
            customer_id,
            occurred_at,
            channel,
            kind,
            user_id,
            content,
        }
    ))
}

fn consent_row(row: &Row<'_>) -> rusqlite::Result<ConsentRow> {
    Ok(from_columns!(
        row,
        ConsentRow {
            customer_id,
            purpose,
            channel,
            recorded_at,
            granted,
        }
    ))
}

fn relationship_row(row: &Row<'_>) -> rusqlite::Result<RelationshipRow> {
    Ok(from_columns!(
        row,
        RelationshipRow {
            from_customer_id,
            to_customer_id,
            kind,
            role,
        }
    ))
}

fn score_row(row: &Row<'_>) -> rusqlite::Result<ScoreRow> {
    Ok(from_columns!(
        row,
        ScoreRow {
            customer_id,
            run_id,
            as_of,
            model_version,
            frequency,
            recency_weeks,
            age_weeks,
            monetary_minor,
            rfm_r,
            rfm_f,
            rfm_m,
            rfm_segment,
            p_alive,
            expected_purchases_90d,
            clv_minor,
            aum_minor,
            tier,
            tier_since,
            tier_below_since,
            stage,
            segment,
        }
    ))
}

fn api_token_row(row: &Row<'_>) -> rusqlite::Result<ApiTokenRow> {
    Ok(from_columns!(
        row,
        ApiTokenRow {
            token_id,
            token_hash,
            user_id,
            name,
            scopes,
            created_at,
            expires_at,
            revoked_at,
            last_used_at,
        }
    ))
}

fn staff_row(row: &Row<'_>) -> rusqlite::Result<StaffRow> {
    Ok(from_columns!(
        row,
        StaffRow {
            user_id,
            name,
            branch_id,
            role
        }
    ))
}

fn text(s: &str) -> SqlArg {
    SqlArg::Text(s.to_owned())
}

/// One customer, only within `scope`.
pub(crate) fn customer_in_scope(
    conn: &Connection,
    keyring: Option<&Keyring>,
    scope: &CustomerScope,
    id: &CustomerId,
) -> StoreResult<Option<Customer>> {
    let (sql, args) = match scope {
        CustomerScope::All => (
            format!("SELECT {CUSTOMER_COLUMNS} FROM customer WHERE customer_id = ?1"),
            vec![text(id.as_str())],
        ),
        // UNION (not UNION ALL) stops at a cycle in a hand-edited tree.
        CustomerScope::Branches(root) => (
            format!(
                "WITH RECURSIVE subtree(branch_id) AS ( \
                     SELECT ?1 \
                     UNION SELECT b.branch_id FROM branch b \
                         JOIN subtree s ON b.parent_id = s.branch_id) \
                 SELECT {CUSTOMER_COLUMNS} FROM customer \
                 WHERE customer_id = ?2 AND branch_id IN (SELECT branch_id FROM subtree)"
            ),
            vec![text(root), text(id.as_str())],
        ),
        CustomerScope::Book(user) => (
            format!(
                "SELECT {CUSTOMER_COLUMNS} FROM customer \
                 WHERE customer_id = ?1 \
                   AND (primary_rm_id = ?2 OR EXISTS ( \
                       SELECT 1 FROM coverage cv \
                       WHERE cv.customer_id = customer.customer_id AND cv.user_id = ?2))"
            ),
            vec![text(id.as_str()), text(user)],
        ),
    };
    first(conn, &sql, args, customer_row)?
        .map(|r| r.into_customer(keyring))
        .transpose()
}

/// One customer.
pub(crate) fn customer(
    conn: &Connection,
    keyring: Option<&Keyring>,
    id: &CustomerId,
) -> StoreResult<Option<Customer>> {
    customer_in_scope(conn, keyring, &CustomerScope::All, id)
}

/// A customer family's rows of `table` (see [`fincrm_store::merge`]).
fn family<R>(
    conn: &Connection,
    (columns, table): (&str, &str),
    id: &CustomerId,
    order: &str,
    limit: Option<i64>,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<R>,
) -> StoreResult<Vec<R>> {
    let (sql, args) = fincrm_store::merge::family_select(
        Dialect::Sqlite,
        columns,
        table,
        id.as_str(),
        order,
        limit,
    );
    all(conn, &sql, args, map)
}

pub(crate) fn holdings_of(conn: &Connection, id: &CustomerId) -> StoreResult<Vec<Holding>> {
    family(
        conn,
        (HOLDING_COLUMNS, "holding"),
        id,
        "holding_id",
        None,
        holding_row,
    )?
    .into_iter()
    .map(Holding::try_from)
    .collect()
}

pub(crate) fn recent_transactions(
    conn: &Connection,
    id: &CustomerId,
    limit: i64,
) -> StoreResult<Vec<Transaction>> {
    family(
        conn,
        (TRANSACTION_COLUMNS, "bank_transaction"),
        id,
        "posted_at DESC, transaction_id DESC",
        Some(limit),
        transaction_row,
    )?
    .into_iter()
    .map(Transaction::try_from)
    .collect()
}

pub(crate) fn interactions_of(
    conn: &Connection,
    id: &CustomerId,
    limit: i64,
) -> StoreResult<Vec<Interaction>> {
    family(
        conn,
        (INTERACTION_COLUMNS, "interaction"),
        id,
        "occurred_at DESC, interaction_id DESC",
        Some(limit),
        interaction_row,
    )?
    .into_iter()
    .map(Interaction::try_from)
    .collect()
}

pub(crate) fn consents_of(
    conn: &Connection,
    id: &CustomerId,
) -> StoreResult<Vec<fincrm_domain::Consent>> {
    family(
        conn,
        (CONSENT_COLUMNS, "consent"),
        id,
        "recorded_at DESC, purpose, channel",
        None,
        consent_row,
    )?
    .into_iter()
    .map(fincrm_domain::Consent::try_from)
    .collect()
}

pub(crate) fn relationships_of(
    conn: &Connection,
    id: &CustomerId,
) -> StoreResult<Vec<fincrm_domain::Relationship>> {
    all(
        conn,
        "SELECT from_customer_id, to_customer_id, kind, role FROM relationship \
         WHERE from_customer_id = ?1 OR to_customer_id = ?1 \
         ORDER BY from_customer_id, to_customer_id, kind",
        vec![text(id.as_str())],
        relationship_row,
    )?
    .into_iter()
    .map(fincrm_domain::Relationship::try_from)
    .collect()
}

pub(crate) fn score_history(
    conn: &Connection,
    id: &CustomerId,
    limit: i64,
) -> StoreResult<Vec<ScoreRow>> {
    let sql = fincrm_store::analytics::score_history_sql("?1", "?2");
    all(
        conn,
        &sql,
        vec![text(id.as_str()), SqlArg::Int(limit)],
        score_row,
    )
}

/// The 360 of a customer within `scope`: every read of it in this one job.
pub(crate) fn customer_360(
    conn: &Connection,
    keyring: Option<&Keyring>,
    scope: &CustomerScope,
    id: &CustomerId,
    limits: View360Limits,
) -> StoreResult<Option<Customer360>> {
    let Some(customer) = customer_in_scope(conn, keyring, scope, id)? else {
        return Ok(None);
    };
    let id = &customer.id;
    Ok(Some(Customer360 {
        holdings: holdings_of(conn, id)?,
        transactions: recent_transactions(conn, id, limits.latest)?,
        interactions: interactions_of(conn, id, limits.latest)?,
        scores: score_history(conn, id, limits.scores)?,
        relationships: relationships_of(conn, id)?,
        consents: consents_of(conn, id)?,
        customer,
    }))
}

/// Customers inside `scope` matching `query`: the term counts that choose the driving term and
/// the search itself, in one job.
pub(crate) fn find_customers(
    conn: &Connection,
    keyring: Option<&Keyring>,
    scope: &CustomerScope,
    query: &CustomerQuery,
) -> StoreResult<Vec<Customer>> {
    use fincrm_store::search::{
        TERM_COUNT_CAP, TERM_COUNT_SQLITE, find_customers_sql, rarest_first,
    };
    // A search is driven by its rarest term (the first): for a full name, the given name's
    // pair rather than the surname's.
    let mut query = query.clone();
    if query.terms.len() > 1 {
        let mut counted = Vec::with_capacity(query.terms.len());
        for term in &query.terms {
            let n: i64 = first(
                conn,
                TERM_COUNT_SQLITE,
                vec![text(term), SqlArg::Int(TERM_COUNT_CAP)],
                |r| r.get(0),
            )?
            .unwrap_or(0);
            counted.push((n, term.clone()));
        }
        match rarest_first(counted) {
            Some(terms) => query.terms = terms,
            None => return Ok(Vec::new()),
        }
    }
    let (sql, args) = find_customers_sql(Dialect::Sqlite, CUSTOMER_COLUMNS, scope, &query);
    all(conn, &sql, args, customer_row)?
        .into_iter()
        .map(|r| r.into_customer(keyring))
        .collect()
}

/// [`fincrm_store::Store::customers_by_key`] as one job: the number in scope, else the
/// customers whose `pi` field (`FIELD_ID_NUMBER` or `FIELD_PHONE`, with its normalised term, or
/// `None` for an invalid one) matches, each in scope.
pub(crate) fn customers_by_key(
    conn: &Connection,
    keyring: Option<&Keyring>,
    scope: &CustomerScope,
    number: Option<&CustomerId>,
    pi: Option<(&str, Option<String>)>,
) -> StoreResult<KeyMatch> {
    if let Some(id) = number
        && let Some(c) = customer_in_scope(conn, keyring, scope, id)?
    {
        return Ok(KeyMatch::Number(Box::new(c)));
    }
    let Some((field, term)) = pi else {
        return Ok(KeyMatch::Neither);
    };
    let mut found = Vec::new();
    if let Some(term) = term {
        for id in customers_where(conn, keyring, field, &term)? {
            if let Some(c) = customer_in_scope(conn, keyring, scope, &id)? {
                found.push(c);
            }
        }
    }
    Ok(KeyMatch::Pi(found))
}

/// Customers whose `field` equals the normalised `term` (through the blind index with a
/// keyring), in customer-number order.
pub(crate) fn customers_where(
    conn: &Connection,
    keyring: Option<&Keyring>,
    field: &str,
    term: &str,
) -> StoreResult<Vec<CustomerId>> {
    let (column, value) = fincrm_store::pii::lookup_term(keyring, field, term);
    // `column` is one of two constants from `lookup_term`, never input.
    let sql = format!("SELECT customer_id FROM customer WHERE {column} = ?1 ORDER BY customer_id");
    all(conn, &sql, vec![SqlArg::Text(value)], |r| {
        r.get::<_, String>(0)
    })?
    .iter()
    .map(|id| CustomerId::parse(id).map_err(Into::into))
    .collect()
}

pub(crate) fn user(conn: &Connection, user_id: &str) -> StoreResult<Option<User>> {
    first(
        conn,
        "SELECT user_id, name, branch_id, role FROM staff WHERE user_id = ?1",
        vec![text(user_id)],
        staff_row,
    )?
    .map(User::try_from)
    .transpose()
}

pub(crate) fn api_token_by_hash(
    conn: &Connection,
    token_hash: &str,
) -> StoreResult<Option<ApiTokenRecord>> {
    let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_token WHERE token_hash = ?1");
    first(conn, &sql, vec![text(token_hash)], api_token_row)?
        .map(ApiTokenRecord::try_from)
        .transpose()
}

/// A bearer token and its user, in one job.
pub(crate) fn api_token_with_user(
    conn: &Connection,
    token_hash: &str,
) -> StoreResult<Option<(ApiTokenRecord, User)>> {
    let Some(token) = api_token_by_hash(conn, token_hash)? else {
        return Ok(None);
    };
    Ok(user(conn, &token.user_id)?.map(|u| (token, u)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn instants_bind_as_sqlx_writes_them() {
        let t: DateTime<Utc> = "2026-07-13T01:41:40.5Z".parse().expect("instant");
        assert_eq!(
            value(SqlArg::Time(t)),
            Value::Text("2026-07-13T01:41:40.500+00:00".to_owned())
        );
    }
}
