//! The analytics run's bulk reads, each a million rows at 1M customers, run on the rusqlite
//! reader threads rather than through sqlx (whose per-row hops and chrono's format-string date
//! parsing were most of their time).
//!
//! Purchases: debit transactions summed by customer and local calendar day, from each customer's
//! list of debits kept on write (`customer_debits`, see `crate::debits`). Until a database
//! written before that table existed has it filled, from the transactions: in SQL this is a
//! `GROUP BY customer_id, date(posted_at, '+N seconds')`: SQLite evaluates `date()` on every
//! row (a string parse and format) and sorts the groups in a temporary b-tree, and at 20M
//! transactions that was most of a run (`analytics run` at 1M customers: 48 s of 56). Here a
//! reader thread walks the rows in the order of the `(customer_id, posted_at)` index, so each
//! customer's days arrive in order, and folds them into days as they come: no sort, and a
//! timestamp costs a few byte comparisons.
//!
//! The customers' facts (kind, start, AUM), the previous run's tiers and stages, and the
//! balances of the run a year before: read with dates parsed by
//! [`fincrm_store::tables::parse_iso_date`].

use crate::read::db;
use chrono::{DateTime, NaiveDate};
use fincrm_store::StoreResult;
use fincrm_store::analytics::{ActivityByDay, CustomerFacts, PreviousScore};
use fincrm_store::tables::parse_iso_date;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row};

const SECS_PER_DAY: i64 = 86_400;

/// Debit sums and counts by customer and local day for customers `first..=last`, ordered by
/// customer and day (what `Store::analytics_activity` returns): from each customer's list of
/// debits (`customer_debits`), or from the transactions while that table is still being filled.
pub(crate) fn daily_activity(
    conn: &Connection,
    first: &str,
    last: &str,
    utc_offset_secs: i32,
) -> StoreResult<ActivityByDay> {
    if crate::debits::fill_pending(conn)? {
        return daily_activity_of_transactions(conn, first, last, utc_offset_secs);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT customer_id, debits FROM customer_debits \
              WHERE customer_id >= ?1 AND customer_id <= ?2 ORDER BY customer_id",
        )
        .map_err(db)?;
    let mut rows = stmt.query((first, last)).map_err(db)?;
    let mut out = ActivityByDay::default();
    let mut debits = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        let customer = text_at(row, 0)?;
        let encoded = row
            .get_ref(1)
            .map_err(db)?
            .as_blob()
            .map_err(|e| from_sql(&e))?;
        debits.clear();
        fincrm_store::debits::decode_into(encoded, &mut debits)?;
        fincrm_store::debits::push_days(&mut out, customer, &mut debits, utc_offset_secs)?;
    }
    Ok(out)
}

/// [`daily_activity`] read from the transactions themselves: a walk of every debit row.
pub(crate) fn daily_activity_of_transactions(
    conn: &Connection,
    first: &str,
    last: &str,
    utc_offset_secs: i32,
) -> StoreResult<ActivityByDay> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT customer_id, posted_at, amount_minor FROM bank_transaction \
              WHERE customer_id >= ?1 AND customer_id <= ?2 AND direction = 'debit' \
              ORDER BY customer_id, posted_at",
        )
        .map_err(db)?;
    let mut rows = stmt.query((first, last)).map_err(db)?;
    let mut days = LocalDays::new(utc_offset_secs);
    let mut out = ActivityByDay::default();
    while let Some(row) = rows.next().map_err(db)? {
        let customer = text_at(row, 0)?;
        let posted_at = text_at(row, 1)?;
        let amount: i64 = row.get(2).map_err(db)?;
        let day = days.of(posted_at).ok_or_else(|| {
            fincrm_store::StoreError::Corrupt(format!(
                "bank_transaction.posted_at of customer {customer} is not an RFC 3339 instant"
            ))
        })?;
        let same_customer = out.customers.last().is_some_and(|c| c == customer);
        if same_customer && out.day.last() == Some(&day) {
            add_to_last_row(&mut out, amount, 1);
            continue;
        }
        if !same_customer {
            settle_last_customer(&mut out);
            out.start_customer(customer);
        }
        out.push_day(day, amount, 1);
    }
    settle_last_customer(&mut out);
    Ok(out)
}

/// The customers after `?1` in key order, at most `?2`, with their kind and start: one walk of
/// the covering index `customer_analytics_idx` (migration 0017).
const ANALYTICS_CUSTOMERS_SQL: &str = "SELECT customer_id, kind, opened_on FROM customer \
    WHERE customer_id > ?1 ORDER BY customer_id LIMIT ?2";

/// The AUM of the customers `?1..=?2` that have one, in key order: one walk of the partial
/// index `holding_aum_idx` (migration 0016), whose WHERE these balance terms are, so no holding
/// row is read and the groups come in the index's order. As a subquery per customer it was a
/// seek into the index for each (most of the read's string comparisons at 1M customers).
const ANALYTICS_AUM_SQL: &str = "SELECT customer_id, sum(balance_minor) FROM holding \
    WHERE customer_id >= ?1 AND customer_id <= ?2 \
      AND status <> 'closed' AND product_type NOT IN ('loan', 'credit_card') \
    GROUP BY customer_id ORDER BY customer_id";

/// The next `limit` customers after `after` in key order, with the facts the run needs (what
/// `Store::analytics_customers` returns). Through sqlx each of the rows was a hop between
/// threads: about a third of the CPU of a run's read phase at 1M customers. The AUMs come from
/// a second walk over the same range of customer numbers, merged in.
pub(crate) fn customers(
    conn: &Connection,
    after: &str,
    limit: i64,
) -> StoreResult<Vec<CustomerFacts>> {
    let mut stmt = conn.prepare_cached(ANALYTICS_CUSTOMERS_SQL).map_err(db)?;
    let rows = stmt
        .query_map((after, limit), |row| {
            Ok(CustomerFacts {
                customer_id: row.get(0)?,
                kind: row.get(1)?,
                opened_on: optional_date_at(row, 2)?,
                aum_minor: 0,
            })
        })
        .map_err(db)?;
    let mut facts: Vec<CustomerFacts> = rows.collect::<Result<_, _>>().map_err(db)?;
    let (Some(first), Some(last)) = (facts.first(), facts.last()) else {
        return Ok(facts);
    };
    let mut aum = conn.prepare_cached(ANALYTICS_AUM_SQL).map_err(db)?;
    let mut sums = aum
        .query((first.customer_id.as_str(), last.customer_id.as_str()))
        .map_err(db)?;
    // Both in key order (SQLite's BINARY collation, byte order as `str`'s): a merge.
    let mut next = 0;
    while let Some(row) = sums.next().map_err(db)? {
        let customer = text_at(row, 0)?;
        let sum: i64 = row.get(1).map_err(db)?;
        while facts
            .get(next)
            .is_some_and(|c| c.customer_id.as_str() < customer)
        {
            next += 1;
        }
        if let Some(facts) = facts.get_mut(next).filter(|c| c.customer_id == customer) {
            facts.aum_minor = sum;
            next += 1;
        }
    }
    Ok(facts)
}

/// The tier and stage state of every customer in the latest completed run other than
/// `except_run` (what `Store::previous_scores` returns).
pub(crate) fn previous_scores(
    conn: &Connection,
    except_run: &str,
) -> StoreResult<Vec<PreviousScore>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT customer_id, tier, tier_since, tier_below_since, stage FROM customer_score \
              WHERE run_id = (SELECT run_id FROM analytics_run \
                               WHERE status = 'completed' AND run_id <> ?1 \
                               ORDER BY as_of DESC, finished_at DESC LIMIT 1)",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([except_run], |row| {
            Ok(PreviousScore {
                customer_id: row.get(0)?,
                tier: row.get(1)?,
                tier_since: date_at(row, 2)?,
                tier_below_since: optional_date_at(row, 3)?,
                stage: row.get(4)?,
            })
        })
        .map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}

/// The latest completed run on or before `on_or_before` other than `except_run`, with every
/// customer's AUM in it (what `Store::aum_history` returns).
#[expect(
    clippy::type_complexity,
    reason = "the return type of Store::aum_history"
)]
pub(crate) fn aum_history(
    conn: &Connection,
    on_or_before: NaiveDate,
    except_run: &str,
) -> StoreResult<Option<(NaiveDate, Vec<(String, i64)>)>> {
    let run = conn
        .prepare_cached(
            "SELECT run_id, as_of FROM analytics_run WHERE status = 'completed' AND run_id <> ?1 \
               AND as_of <= ?2 ORDER BY as_of DESC, finished_at DESC LIMIT 1",
        )
        .map_err(db)?
        .query_row(
            (except_run, fincrm_store::tables::iso_date(on_or_before)),
            |row| Ok((row.get::<_, String>(0)?, date_at(row, 1)?)),
        )
        .optional()
        .map_err(db)?;
    let Some((run_id, as_of)) = run else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached("SELECT customer_id, aum_minor FROM customer_score WHERE run_id = ?1")
        .map_err(db)?;
    let rows = stmt
        .query_map([run_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(db)?;
    Ok(Some((as_of, rows.collect::<Result<_, _>>().map_err(db)?)))
}

/// The date in column `i`, or none for NULL.
fn optional_date_at(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<NaiveDate>> {
    match row.get_ref(i)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => date_at(row, i).map(Some),
    }
}

/// The date of `YYYY-MM-DD` text by the fast reader; other text through chrono's `%Y-%m-%d`, as
/// sqlx would read it.
fn date_of(text: &str) -> Option<NaiveDate> {
    parse_iso_date(text).or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
}

/// The date in column `i` ([`date_of`]).
fn date_at(row: &Row<'_>, i: usize) -> rusqlite::Result<NaiveDate> {
    let text = row
        .get_ref(i)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))?;
    date_of(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            Type::Text,
            format!("{text:?} is not a date").into(),
        )
    })
}

fn add_to_last_row(out: &mut ActivityByDay, amount_minor: i64, transactions: i64) {
    if let (Some(a), Some(t)) = (out.amount_minor.last_mut(), out.transactions.last_mut()) {
        *a += amount_minor;
        *t += transactions;
    }
}

/// Puts the last customer's days in order, merging days that met twice. Rows come in the order
/// of the stored text, which is the order of time while every instant is written in UTC (as
/// fincrm writes them); text with another offset can land out of place.
fn settle_last_customer(out: &mut ActivityByDay) {
    let Some(k) = out.customers.len().checked_sub(1) else {
        return;
    };
    let rows = out.rows_of(k);
    if out.day[rows.clone()].is_sorted() {
        // Sorted, the twins of a day are neighbours, and the fold merged those.
        return;
    }
    let mut days: Vec<(NaiveDate, i64, i64)> = rows
        .clone()
        .map(|r| (out.day[r], out.amount_minor[r], out.transactions[r]))
        .collect();
    days.sort_by_key(|d| d.0);
    out.day.truncate(rows.start);
    out.amount_minor.truncate(rows.start);
    out.transactions.truncate(rows.start);
    for (day, amount, transactions) in days {
        if out.day.len() > rows.start && out.day.last() == Some(&day) {
            add_to_last_row(out, amount, transactions);
        } else {
            out.day.push(day);
            out.amount_minor.push(amount);
            out.transactions.push(transactions);
        }
    }
    out.ends[k] = out.day.len();
}

fn from_sql(e: &rusqlite::types::FromSqlError) -> fincrm_store::StoreError {
    fincrm_store::StoreError::Corrupt(e.to_string())
}

/// The text in column `i` of a bulk read's row, borrowed (no copy per row).
fn text_at<'r>(row: &'r Row<'_>, i: usize) -> StoreResult<&'r str> {
    row.get_ref(i)
        .map_err(db)?
        .as_str()
        .map_err(|e| from_sql(&e))
}

/// Local calendar days of stored instants, at a fixed offset from UTC.
struct LocalDays {
    offset_secs: i64,
    /// The last UTC date parsed, to skip the parse for a customer's next row on the same date.
    last_date: ([u8; 10], NaiveDate),
}

impl LocalDays {
    fn new(offset_secs: i32) -> Self {
        Self {
            offset_secs: i64::from(offset_secs),
            last_date: (*b"0000-00-00", NaiveDate::MIN),
        }
    }

    /// The local day of `instant`. fincrm writes instants in UTC as
    /// `YYYY-MM-DDTHH:MM:SS[.fff]+00:00` (or `Z`); those take the fast path. Any other RFC 3339
    /// text (another offset) is parsed in full. `None` for text that is not an instant.
    fn of(&mut self, instant: &str) -> Option<NaiveDate> {
        let b = instant.as_bytes();
        let utc_suffix = b.ends_with(b"+00:00") || b.ends_with(b"Z");
        if b.len() >= 20 && b[10] == b'T' && b[13] == b':' && b[16] == b':' && utc_suffix {
            let date = if b[..10] == self.last_date.0 {
                self.last_date.1
            } else {
                let d = date_of(instant.get(..10)?)?;
                self.last_date = (b[..10].try_into().ok()?, d);
                d
            };
            let secs = two(&b[11..13])? * 3600 + two(&b[14..16])? * 60 + two(&b[17..19])?;
            let shift = (secs + self.offset_secs).div_euclid(SECS_PER_DAY);
            return date.checked_add_signed(chrono::Duration::days(shift));
        }
        let t = DateTime::parse_from_rfc3339(instant).ok()?;
        let local = t.timestamp().checked_add(self.offset_secs)?;
        DateTime::from_timestamp(local.div_euclid(SECS_PER_DAY) * SECS_PER_DAY, 0)
            .map(|d| d.date_naive())
    }
}

/// Two ASCII digits.
fn two(b: &[u8]) -> Option<i64> {
    match b {
        [t @ b'0'..=b'9', u @ b'0'..=b'9'] => Some(i64::from((t - b'0') * 10 + (u - b'0'))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local day as SQLite's `date(instant, '+N seconds')` would give it, through chrono.
    fn reference(instant: &str, offset: i32) -> NaiveDate {
        let t = DateTime::parse_from_rfc3339(instant).expect("instant");
        (t.to_utc() + chrono::Duration::seconds(i64::from(offset))).date_naive()
    }

    #[test]
    fn local_days_match_a_full_parse_across_midnight_and_offsets() {
        let instants = [
            "2026-07-13T01:41:40+00:00",
            "2026-07-13T15:59:59+00:00",
            "2026-07-13T16:00:00+00:00",
            "2026-07-13T23:59:59.999+00:00",
            "2026-12-31T16:00:00Z",
            "2024-02-28T20:00:00+00:00",
            "2026-01-01T00:00:00+00:00",
            "2026-07-13T09:00:00+08:00",
            "2026-07-13T01:00:00-05:00",
        ];
        for offset in [28_800, 0, -18_000, 19_800, 50_400] {
            let mut days = LocalDays::new(offset);
            for i in instants {
                assert_eq!(days.of(i), Some(reference(i, offset)), "{i} at {offset}");
            }
        }
    }

    /// The fold gives exactly what the SQL `GROUP BY … date(posted_at, offset)` it replaced
    /// gives, over rows with several customers, days, credits and offsets.
    #[test]
    fn the_fold_equals_the_sql_grouping() {
        let conn = Connection::open_in_memory().expect("memory database");
        conn.execute_batch(
            "CREATE TABLE bank_transaction (customer_id TEXT, posted_at TEXT, amount_minor INTEGER, \
                 direction TEXT); \
             CREATE INDEX bt ON bank_transaction (customer_id, posted_at);",
        )
        .expect("schema");
        let mut seed = 7_u64;
        let mut next = move |m: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % m
        };
        for _ in 0..3_000 {
            let customer = format!("C{:03}", next(40));
            let secs = 1_767_225_600 + i64::try_from(next(90 * 86_400)).expect("small");
            let at = DateTime::from_timestamp(secs, 0).expect("instant");
            let posted = if next(10) == 0 {
                at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("offset"))
                    .to_rfc3339()
            } else {
                at.to_rfc3339()
            };
            let direction = if next(3) == 0 { "credit" } else { "debit" };
            conn.execute(
                "INSERT INTO bank_transaction VALUES (?1, ?2, ?3, ?4)",
                (
                    &customer,
                    &posted,
                    i64::try_from(next(100_000)).expect("small"),
                    direction,
                ),
            )
            .expect("row");
        }
        for offset in [28_800, 0, -36_000] {
            let folded =
                daily_activity_of_transactions(&conn, "C005", "C031", offset).expect("fold");
            let mut stmt = conn
                .prepare(
                    "SELECT customer_id, date(posted_at, ?3 || ' seconds'), sum(amount_minor), \
                            count(*) FROM bank_transaction \
                      WHERE customer_id >= ?1 AND customer_id <= ?2 AND direction = 'debit' \
                      GROUP BY 1, 2 ORDER BY 1, 2",
                )
                .expect("grouping");
            let grouped: Vec<(String, String, i64, i64)> = stmt
                .query_map(("C005", "C031", offset), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            let folded: Vec<(String, String, i64, i64)> = folded
                .rows()
                .map(|(customer, day, amount, transactions)| {
                    (customer.to_owned(), day.to_string(), amount, transactions)
                })
                .collect();
            assert!(grouped.len() > 100, "{}", grouped.len());
            assert_eq!(folded, grouped, "offset {offset}");
        }
    }

    #[test]
    fn text_that_is_not_an_instant_has_no_day() {
        let mut days = LocalDays::new(28_800);
        for bad in [
            "",
            "2026-07-13",
            "2026-07-13T1x:00:00+00:00",
            "2026-13-13T10:00:00+00:00",
            "yesterday",
        ] {
            assert_eq!(days.of(bad), None, "{bad}");
        }
    }

    /// The AUM sums come from one walk of the partial index, grouped in its order: a change
    /// to the statement's balance terms (or the index's) that stops SQLite choosing it would
    /// cost each holding a table lookup again, and a sort for the groups, with no test failing
    /// otherwise. (The plan says `USING INDEX`, not `COVERING`: SQLite does not re-check the
    /// terms the index's WHERE implies, so its deferred seek into the table never happens.)
    #[tokio::test]
    async fn the_analytics_customers_read_sums_balances_from_the_aum_index() {
        assert_eq!(
            plan_on_a_migrated_database(ANALYTICS_AUM_SQL, ("A", "B")).await,
            ["SEARCH holding USING INDEX holding_aum_idx (customer_id>? AND customer_id<?)"]
        );
    }

    /// Every customer's facts come from one walk of `customer_analytics_idx` (migration 0017),
    /// no row of the table read: a column added to the statement and not to the index would
    /// send each customer to the table again, with no other test failing.
    #[tokio::test]
    async fn the_analytics_customers_read_walks_the_covering_index() {
        assert_eq!(
            plan_on_a_migrated_database(ANALYTICS_CUSTOMERS_SQL, ("A", 20_000)).await,
            ["SEARCH customer USING COVERING INDEX customer_analytics_idx (customer_id>?)"]
        );
    }

    /// The steps of SQLite's plan for `sql` with `params` on a freshly migrated database.
    async fn plan_on_a_migrated_database(sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        use fincrm_store::Store as _;
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("plan.db");
        let store = crate::SqliteStore::open(&path).await.expect("store");
        store.migrate().await.expect("migrated");
        let conn = Connection::open(&path).expect("connection");
        let mut plan = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("plan");
        plan.query_map(params, |row| row.get(3))
            .expect("plan rows")
            .collect::<Result<_, _>>()
            .expect("plan text")
    }
}
