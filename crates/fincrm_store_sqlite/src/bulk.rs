//! The analytics run's score pages, written by rusqlite on a connection of their own.
//!
//! Through sqlx a page of 20,000 scores went as multi-row `INSERT`s whose every value was
//! copied into an argument list, handed to sqlx's connection thread and bound there: at 1M
//! customers that was 12 s of a 30 s run, against about 8 s for the same rows through one
//! prepared statement. Here the page moves to the bulk thread whole and each row is bound from
//! it in place.
//!
//! One writer still: the caller holds the sqlx writer connection (idle, no transaction) for
//! the length of the job, so no other write of this process runs meanwhile, and another
//! process waits on SQLite's lock as it would for any writer.

use chrono::{NaiveDate, SecondsFormat, Utc};
use fincrm_store::tables::{CUSTOMER_SCORE, CustomerScore, iso_date, iso_date_ascii};
use fincrm_store::{BatchMarker, OnConflict, StoreError, StoreResult};
use rusqlite::{Connection, TransactionBehavior, params};

/// Sets up the bulk connection as the sqlx writer is set up (see `SqliteStore::connect`), but
/// for the foreign keys.
///
/// The bulk connection writes `customer_score` and nothing else; the audit committer's
/// connection, set up here too, writes only `audit_log`, which has no foreign key.
/// `customer_score`'s one foreign key (`customer_score_run_fkey`: the run exists)
/// is checked by [`write_scores`] once a page, in the page's transaction, instead of by SQLite
/// once a row: about 0.3 s of a million rows. Deleting a run is checked on the connection that
/// deletes it.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.pragma_update(None, "synchronous", "full")?;
    conn.pragma_update(None, "foreign_keys", false)?;
    conn.pragma_update(None, "cache_size", -262_144)?;
    conn.pragma_update(None, "temp_store", "memory")?;
    conn.pragma_update(
        None,
        "wal_autocheckpoint",
        crate::checkpoint::WRITER_CHECKPOINT_FRAMES,
    )?;
    conn.pragma_update(None, "journal_size_limit", crate::JOURNAL_SIZE_LIMIT)?;
    Ok(())
}

/// Writes `scores` and `marker` in one transaction (what `Store::write_scores` does); a score
/// stored before for the same customer and run is replaced.
pub(crate) fn write_scores(
    conn: &Connection,
    marker: &BatchMarker,
    scores: &[CustomerScore],
) -> StoreResult<u64> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(write_error)?;
    let mut written = 0;
    {
        // Rows go ROWS_PER_INSERT to a statement (the rest one by one): SQLite's work per
        // statement execution (reset, unbinding, the VDBE's set-up) is then shared by the rows.
        let mut many = ScoreInsert::prepare(&tx, ROWS_PER_INSERT)?;
        let mut one = ScoreInsert::prepare(&tx, 1)?;
        let mut checked_run: Option<&str> = None;
        for s in scores {
            if checked_run != Some(s.run_id.as_str()) {
                refuse_unknown_run(&tx, &s.run_id)?;
                checked_run = Some(s.run_id.as_str());
            }
        }
        let mut chunks = scores.chunks_exact(ROWS_PER_INSERT);
        for chunk in &mut chunks {
            written += many.execute(chunk)?;
        }
        for s in chunks.remainder() {
            written += one.execute(std::slice::from_ref(s))?;
        }
        tx.prepare_cached(
            "INSERT INTO import_batch (source, batch_no, records, loaded, committed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (source, batch_no) DO NOTHING",
        )
        .map_err(write_error)?
        .execute(params![
            marker.source,
            marker.batch_no,
            marker.records,
            marker.loaded,
            // As sqlx writes an instant.
            Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, false),
        ])
        .map_err(write_error)?;
    }
    tx.commit().map_err(write_error)?;
    Ok(u64::try_from(written).unwrap_or(u64::MAX))
}

/// Score rows a multi-row insert carries.
const ROWS_PER_INSERT: usize = 32;

/// The run's columns of a score: run, as-of day, model version.
type RunColumns<'a> = (&'a str, NaiveDate, &'a str);

/// A prepared insert of `rows` scores, bound by position (`CUSTOMER_SCORE`'s column order):
/// binding was about half of the writing thread's time at 1M scores through named or
/// generic binding. A bound value stays bound from one execution to the next, so the run's
/// columns, the same on every row of a page, are bound when they change rather than per row.
struct ScoreInsert<'conn> {
    statement: rusqlite::CachedStatement<'conn>,
    rows: usize,
    /// The run bound into every row of the statement, if one is.
    run_bound: Option<RunColumns<'conn>>,
}

impl<'conn> ScoreInsert<'conn> {
    fn prepare(tx: &'conn rusqlite::Transaction<'_>, rows: usize) -> StoreResult<Self> {
        let statement = tx
            .prepare_cached(&crate::insert_sql(
                &CUSTOMER_SCORE,
                rows,
                OnConflict::Update,
            ))
            .map_err(write_error)?;
        // A column added to CUSTOMER_SCORE must be bound below too: unbound, it would be NULL.
        let columns = CUSTOMER_SCORE.columns.len();
        if statement.parameter_count() != SCORE_PARAMETERS * rows || columns != SCORE_PARAMETERS {
            return Err(StoreError::Other(anyhow::anyhow!(
                "customer_score has {columns} columns; write_scores binds {SCORE_PARAMETERS}"
            )));
        }
        Ok(Self {
            statement,
            rows,
            run_bound: None,
        })
    }

    /// Inserts `scores`, exactly as many as the statement's rows.
    fn execute<'s>(&mut self, scores: &'s [CustomerScore]) -> StoreResult<usize>
    where
        's: 'conn,
    {
        debug_assert_eq!(scores.len(), self.rows);
        let run_of = |s: &'s CustomerScore| (s.run_id.as_str(), s.as_of, s.model_version.as_str());
        let first = scores.first().map(run_of);
        let one_run = scores.iter().all(|s| Some(run_of(s)) == first);
        let bind_runs = !(one_run && self.run_bound == first);
        for (row, s) in scores.iter().enumerate() {
            bind_score(&mut self.statement, row * SCORE_PARAMETERS, s, bind_runs)?;
        }
        if bind_runs {
            self.run_bound = if one_run { first } else { None };
        }
        self.statement.raw_execute().map_err(write_error)
    }
}

/// Binds score `s` as the row whose parameters start after `offset`; its run's columns too if
/// `with_run`.
fn bind_score(
    insert: &mut rusqlite::Statement<'_>,
    offset: usize,
    s: &CustomerScore,
    with_run: bool,
) -> StoreResult<()> {
    let (r, f, m) = s.rfm.unzip3();
    let at = |column: usize| offset + column;
    let bind = |insert: &mut rusqlite::Statement<'_>| -> rusqlite::Result<()> {
        if with_run {
            insert.raw_bind_parameter(at(2), &s.run_id)?;
            insert.raw_bind_parameter(at(4), &s.model_version)?;
        }
        insert.raw_bind_parameter(at(1), &s.customer_id)?;
        insert.raw_bind_parameter(at(5), s.frequency)?;
        insert.raw_bind_parameter(at(6), s.recency_weeks)?;
        insert.raw_bind_parameter(at(7), s.age_weeks)?;
        insert.raw_bind_parameter(at(8), s.monetary_minor)?;
        insert.raw_bind_parameter(at(9), r)?;
        insert.raw_bind_parameter(at(10), f)?;
        insert.raw_bind_parameter(at(11), m)?;
        insert.raw_bind_parameter(at(12), &s.rfm_segment)?;
        insert.raw_bind_parameter(at(13), s.p_alive)?;
        insert.raw_bind_parameter(at(14), s.expected_purchases_90d)?;
        insert.raw_bind_parameter(at(15), s.clv_minor)?;
        insert.raw_bind_parameter(at(16), s.aum_minor)?;
        insert.raw_bind_parameter(at(17), &s.tier)?;
        insert.raw_bind_parameter(at(20), &s.stage)?;
        insert.raw_bind_parameter(at(21), &s.segment)
    };
    bind(insert).map_err(write_error)?;
    if with_run {
        bind_date(insert, at(3), Some(s.as_of))?;
    }
    bind_date(insert, at(18), Some(s.tier_since))?;
    bind_date(insert, at(19), s.tier_below_since)
}

/// Refuses a score of a run that does not exist, as the foreign key would (see [`configure`]).
fn refuse_unknown_run(tx: &rusqlite::Transaction<'_>, run_id: &str) -> StoreResult<()> {
    let exists: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM analytics_run WHERE run_id = ?1)")
        .and_then(|mut stmt| stmt.query_row([run_id], |row| row.get(0)))
        .map_err(write_error)?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            constraint: "customer_score_run_fkey".to_owned(),
        })
    }
}

/// The parameters `write_scores` binds by position: `CUSTOMER_SCORE`'s columns.
const SCORE_PARAMETERS: usize = 21;

/// Binds a date as the text [`iso_date`] writes, from the stack where the year allows.
fn bind_date(
    stmt: &mut rusqlite::Statement<'_>,
    index: usize,
    date: Option<NaiveDate>,
) -> StoreResult<()> {
    let bound = match date.map(|d| (d, iso_date_ascii(d))) {
        None => stmt.raw_bind_parameter(index, rusqlite::types::Null),
        Some((_, Some(ascii))) => {
            // Ten ASCII digits and dashes: always UTF-8.
            let text = std::str::from_utf8(&ascii).unwrap_or_default();
            stmt.raw_bind_parameter(index, text)
        }
        Some((d, None)) => stmt.raw_bind_parameter(index, iso_date(d)),
    };
    bound.map_err(write_error)
}

/// A rusqlite error of a write as the store's: a broken constraint is a conflict, as through
/// sqlx; a database another process keeps locked past the busy timeout is unavailable.
pub(crate) fn write_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error().map(|code| code.code) {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict {
            constraint: e.to_string(),
        },
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(anyhow::Error::new(e).context("SQLite write"))
        }
        _ => StoreError::Other(anyhow::Error::new(e).context("SQLite write")),
    }
}

/// `Option<(a, b, c)>` as three options.
trait Unzip3<A, B, C> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>);
}

impl<A, B, C> Unzip3<A, B, C> for Option<(A, B, C)> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>) {
        match self {
            Some((a, b, c)) => (Some(a), Some(b), Some(c)),
            None => (None, None, None),
        }
    }
}
