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
/// same text on both engines).
pub const MERGED_RECORDS_SQL: &str = "SELECT customer_id, merged_into FROM customer \
    WHERE merged_into IS NOT NULL ORDER BY customer_id";

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

/// A customer's debit activity on one local day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DailyActivity {
    /// Customer number.
    pub customer_id: String,
    /// Local calendar day.
    pub day: NaiveDate,
    /// Sum of the day's debit amounts, minor units.
    pub amount_minor: i64,
    /// Number of transactions that day.
    pub transactions: i64,
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
