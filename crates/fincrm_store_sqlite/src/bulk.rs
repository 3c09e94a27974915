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

use chrono::{SecondsFormat, Utc};
use fincrm_store::tables::{CUSTOMER_SCORE, CustomerScore, iso_date};
use fincrm_store::{BatchMarker, OnConflict, StoreError, StoreResult};
use rusqlite::{Connection, TransactionBehavior, params};

/// Sets up the bulk connection as the sqlx writer is set up (see `SqliteStore::connect`).
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.pragma_update(None, "synchronous", "full")?;
    conn.pragma_update(None, "foreign_keys", true)?;
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
        let mut insert = tx
            .prepare_cached(&crate::insert_sql(&CUSTOMER_SCORE, 1, OnConflict::Update))
            .map_err(write_error)?;
        for s in scores {
            let (r, f, m) = s.rfm.unzip3();
            written += insert
                .execute(params![
                    s.customer_id,
                    s.run_id,
                    iso_date(s.as_of),
                    s.model_version,
                    s.frequency,
                    s.recency_weeks,
                    s.age_weeks,
                    s.monetary_minor,
                    r,
                    f,
                    m,
                    s.rfm_segment,
                    s.p_alive,
                    s.expected_purchases_90d,
                    s.clv_minor,
                    s.aum_minor,
                    s.tier,
                    iso_date(s.tier_since),
                    s.tier_below_since.map(iso_date),
                    s.stage,
                    s.segment,
                ])
                .map_err(write_error)?;
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

/// A rusqlite error of a write as the store's: a broken constraint is a conflict, as through
/// sqlx; a database another process keeps locked past the busy timeout is unavailable.
fn write_error(e: rusqlite::Error) -> StoreError {
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
