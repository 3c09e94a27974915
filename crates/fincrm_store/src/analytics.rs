//! What the analytics run reads from and writes to the store.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// The facts of one customer an analytics run needs besides transactions.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CustomerFacts {
    /// Customer number.
    pub customer_id: String,
    /// `individual` or `corporate`.
    pub kind: String,
    /// Start of the relationship.
    pub opened_on: Option<NaiveDate>,
    /// Assets under management: balances of open non-credit holdings, minor units.
    pub aum_minor: i64,
}

/// Every record merged into another, as `(merged, survivor)` (`Store::analytics_merged`; the
/// same text on both engines). In no order: ordered by customer number, SQLite walked the
/// whole primary key (0.9 s at 1M customers) rather than sort the few rows of the partial
/// `merged_into` index.
pub const MERGED_RECORDS_SQL: &str = "SELECT customer_id, merged_into FROM customer \
    WHERE merged_into IS NOT NULL";

/// Every corporate's value figures as [`CorporateValueRow`]s
/// (`Store::analytics_corporate_values`; the same text on both engines).
pub const CORPORATE_VALUES_SQL: &str = "SELECT customer_id, avg_yearly_contribution_minor, \
    contribution_growth_bp, departments_used, special_background FROM corporate_value";

/// A corporate customer's value figures (`corporate_value`), as the tier rules read them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CorporateValueRow {
    /// Customer number.
    pub customer_id: String,
    /// Average yearly contribution, CNY fen.
    pub avg_yearly_contribution_minor: i64,
    /// Forecast contribution growth, basis points.
    pub contribution_growth_bp: i64,
    /// Departments serving the client.
    pub departments_used: i64,
    /// 1 for a special background.
    pub special_background: i64,
}

/// Customers' debit activity by local day, in columns (`Store::analytics_activity`).
///
/// Customer `k` is `customers[k]`, and its days are rows `ends[k - 1]..ends[k]` of `day`,
/// `amount_minor` and `transactions` (from 0 for the first), in order of day. Columns, not a
/// struct per day: an analytics run reads about 20M days at 1M customers, and a customer
/// number copied into each of them was most of the allocations of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityByDay {
    /// Customer numbers, in key order, each once.
    pub customers: Vec<String>,
    /// End (exclusive) of each customer's rows.
    pub ends: Vec<usize>,
    /// Local calendar day of each row.
    pub day: Vec<NaiveDate>,
    /// Sum of the day's debit amounts, minor units.
    pub amount_minor: Vec<i64>,
    /// Number of transactions that day.
    pub transactions: Vec<i64>,
}

impl ActivityByDay {
    /// Appends a day of `customer`, which must be the last customer pushed or come after it.
    pub fn push(&mut self, customer: &str, day: NaiveDate, amount_minor: i64, transactions: i64) {
        if self.customers.last().is_none_or(|c| c != customer) {
            self.start_customer(customer);
        }
        self.push_day(day, amount_minor, transactions);
    }

    /// Starts the rows of `customer`, which comes after every customer so far (a reader that
    /// knows where a customer starts calls this and [`Self::push_day`], sparing the comparison
    /// [`Self::push`] makes on every row).
    pub fn start_customer(&mut self, customer: &str) {
        self.customers.push(customer.to_owned());
        self.ends.push(self.day.len());
    }

    /// Appends a day of the last customer started.
    pub fn push_day(&mut self, day: NaiveDate, amount_minor: i64, transactions: i64) {
        self.day.push(day);
        self.amount_minor.push(amount_minor);
        self.transactions.push(transactions);
        if let Some(end) = self.ends.last_mut() {
            *end = self.day.len();
        }
    }

    /// Appends `later`, whose customers all come after this one's.
    pub fn append(&mut self, mut later: Self) {
        let offset = self.day.len();
        self.customers.append(&mut later.customers);
        self.ends.extend(later.ends.iter().map(|e| e + offset));
        self.day.append(&mut later.day);
        self.amount_minor.append(&mut later.amount_minor);
        self.transactions.append(&mut later.transactions);
    }

    /// The rows of customer `k`.
    pub fn rows_of(&self, k: usize) -> std::ops::Range<usize> {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        start..self.ends[k]
    }

    /// Every row as `(customer, day, amount_minor, transactions)`, in order.
    pub fn rows(&self) -> impl Iterator<Item = (&str, NaiveDate, i64, i64)> + '_ {
        self.customers.iter().enumerate().flat_map(move |(k, c)| {
            self.rows_of(k).map(move |r| {
                (
                    c.as_str(),
                    self.day[r],
                    self.amount_minor[r],
                    self.transactions[r],
                )
            })
        })
    }
}

/// One analytics run.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AnalyticsRun {
    /// `as_of` + model version: one run per day and version, whatever the number of processes.
    pub run_id: String,
    /// The day the scores describe.
    pub as_of: NaiveDate,
    /// Models and rules version.
    pub model_version: String,
    /// JSON: fitted parameters and settings.
    pub params: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `completed` or `failed`.
    pub status: String,
    /// Customers scored.
    pub customers: i64,
}

/// The state a run carries over from the previous completed run of a customer.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PreviousScore {
    /// Customer number.
    pub customer_id: String,
    /// Tier.
    pub tier: String,
    /// Day the tier was assigned.
    pub tier_since: NaiveDate,
    /// Day the customer first qualified for a lower tier, if the grace period is running.
    pub tier_below_since: Option<NaiveDate>,
    /// Lifecycle stage.
    pub stage: String,
}

/// The column list of [`ScoreRow`].
pub const SCORE_COLUMNS: &str = "customer_id, run_id, as_of, model_version, frequency, \
    recency_weeks, age_weeks, monetary_minor, rfm_r, rfm_f, rfm_m, rfm_segment, p_alive, \
    expected_purchases_90d, clv_minor, aum_minor, tier, tier_since, tier_below_since, stage, segment";

/// A customer's scores of completed runs, newest run first, at most `limit` (the placeholders
/// of the customer and the limit are the caller's dialect's). `customer_score` is keyed by run
/// first (migration 0015), so the statement walks the completed runs newest first (the
/// partial index `analytics_run_completed_idx`) and looks the customer up in each, stopping
/// at `limit`: a customer in every run costs `limit` lookups, one new since the last runs up
/// to one a run.
#[must_use]
pub fn score_history_sql(customer: &str, limit: &str) -> String {
    let columns = SCORE_COLUMNS
        .split(", ")
        .map(|c| format!("s.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {columns} FROM analytics_run r CROSS JOIN customer_score s \
          WHERE r.status = 'completed' AND s.run_id = r.run_id AND s.customer_id = {customer} \
          ORDER BY r.as_of DESC, r.run_id DESC LIMIT {limit}"
    )
}

/// A stored score row.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, sqlx::FromRow)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct ScoreRow {
    pub customer_id: String,
    pub run_id: String,
    pub as_of: NaiveDate,
    pub model_version: String,
    pub frequency: Option<i64>,
    pub recency_weeks: Option<f64>,
    pub age_weeks: Option<f64>,
    pub monetary_minor: Option<f64>,
    pub rfm_r: Option<i64>,
    pub rfm_f: Option<i64>,
    pub rfm_m: Option<i64>,
    pub rfm_segment: Option<String>,
    pub p_alive: Option<f64>,
    pub expected_purchases_90d: Option<f64>,
    pub clv_minor: Option<i64>,
    pub aum_minor: i64,
    pub tier: String,
    pub tier_since: NaiveDate,
    pub tier_below_since: Option<NaiveDate>,
    pub stage: String,
    pub segment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, d).expect("a January day")
    }

    #[test]
    fn activity_columns_keep_each_customers_days_together() {
        let mut low = ActivityByDay::default();
        low.push("C1", day(1), 100, 1);
        low.push("C1", day(3), 50, 2);
        low.push("C2", day(2), 7, 1);
        let mut high = ActivityByDay::default();
        high.push("C3", day(5), 1, 1);
        high.push("C4", day(1), 2, 1);
        high.push("C4", day(9), 3, 4);
        low.append(high);

        assert_eq!(low.customers, ["C1", "C2", "C3", "C4"]);
        assert_eq!(low.ends, [2, 3, 4, 6]);
        assert_eq!(low.rows_of(0), 0..2);
        assert_eq!(low.rows_of(3), 4..6);
        let rows: Vec<_> = low.rows().collect();
        assert_eq!(
            rows,
            [
                ("C1", day(1), 100, 1),
                ("C1", day(3), 50, 2),
                ("C2", day(2), 7, 1),
                ("C3", day(5), 1, 1),
                ("C4", day(1), 2, 1),
                ("C4", day(9), 3, 4),
            ]
        );
    }

    #[test]
    fn empty_activity_has_no_rows_and_appends_cleanly() {
        let mut empty = ActivityByDay::default();
        assert_eq!(empty.rows().count(), 0);
        let mut one = ActivityByDay::default();
        one.push("C9", day(4), 5, 1);
        empty.append(one.clone());
        assert_eq!(empty, one);
        one.append(ActivityByDay::default());
        assert_eq!(empty, one);
    }
}
