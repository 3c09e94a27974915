//! fincrm's analytics over files: the analyst interface behind `fincrm analytics fit`.
//!
//! [`fit`] reads a transaction CSV (one row per purchase: customer id, date, optional amount),
//! builds the calibration summary with [`fincrm_analytics::summary`], fits one model with
//! [`fincrm_analytics`] and returns a [`FitReport`] (serialisable to JSON); with
//! [`FitArgs::out`] it also writes one CSV row per customer with the predictions and the CLV.
//! This crate does the IO; every formula lives in `fincrm_analytics`.
//!
//! # Conventions
//! - Purchases are aggregated per customer and **day** (lifetimes' convention): several rows on
//!   one day are one purchase whose amount is their sum. Rows after the calibration end are
//!   read and validated but ignored, and so are customers whose first purchase is after it.
//! - Time unit: [`Period`] (day, week = 7 days, month = 30 days); recency, T, the fitted rate
//!   parameters and `predict` are in that unit.
//! - `frequency` is the number of repeat purchase days, `recency` the time from the first to the
//!   last purchase, `T` from the first purchase to the calibration end, `monetary` the mean
//!   amount of the repeat purchase days (0 without repeats).
//! - `expected_purchases` is the conditional expected number of purchases in the next
//!   `predict` periods after the calibration end (**1 period when `predict` is `None`**), and
//!   `p_alive` the probability that the customer is still active at the calibration end.
//! - CLV (BG/NBD or Pareto/NBD with Gamma-Gamma, only when an amount column is given): the
//!   expected spend per purchase is Gamma-Gamma's conditional expected average value, fitted on
//!   the repeat buyers; the value is discounted monthly over `clv_months` months with lifetimes'
//!   month length (30 days, 4.345 weeks or 1 month, see
//!   [`fincrm_analytics::clv::MonthConvention::Lifetimes`]) and multiplied by `margin`.
//!   Repeat buyers with a non-positive mean spend are left out of the Gamma-Gamma fit (counted in
//!   the report). Without amounts `monetary` is 0 and `clv` is empty.
//! - BG/BB (discrete time): each customer's periods are counted from their first purchase day:
//!   period k covers days [first + k·L, first + (k+1)·L) with L the period length. `n` is the
//!   number of **complete** periods after the acquisition period 0 up to the calibration end
//!   (purchases in a trailing incomplete period are ignored), `frequency` the number of periods
//!   1..=n with a purchase and `recency` the last of them (0 if none). In the output CSV the
//!   `frequency`, `recency` and `T` columns carry x, tₓ and n; `predict` must be a whole number of
//!   periods; `clv` is empty.
//! - Gamma-Gamma alone (`model = gg`) needs amounts; its report counts the repeat buyers it was
//!   fitted on; in the output CSV only the summary columns are filled.
//! - A fit that stops without reaching a vanishing gradient is an error
//!   ([`FitError::NotConverged`]), never a silently wrong answer.

mod error;
mod output;
pub mod read;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::NaiveDate;
use fincrm_analytics::bgbb::{self, BgBbData, BgBbPattern};
use fincrm_analytics::clv::{ClvConfig, MonthConvention, PurchaseModel, customer_lifetime_values};
use fincrm_analytics::data::RfmData;
use fincrm_analytics::gamma_gamma::{self, GammaGammaParams, SpendData};
use fincrm_analytics::summary::{self, Summary, SummaryConfig, TimeUnit};
use fincrm_analytics::{AnalyticsError, FitDiagnostics, bgnbd, pareto_nbd};
use serde::Serialize;

pub use error::FitError;
pub use read::{ReadOptions, Transactions, read_transactions};

/// Time unit of the fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One day.
    Day,
    /// Seven days.
    #[default]
    Week,
    /// Thirty days.
    Month,
}

impl Period {
    /// The analytics crate's unit.
    pub fn unit(self) -> TimeUnit {
        match self {
            Self::Day => TimeUnit::Day,
            Self::Week => TimeUnit::Week,
            Self::Month => TimeUnit::Month,
        }
    }

    /// Length in days.
    pub fn days(self) -> i32 {
        match self {
            Self::Day => 1,
            Self::Week => 7,
            Self::Month => 30,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        })
    }
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "day" | "days" | "d" => Ok(Self::Day),
            "week" | "weeks" | "w" => Ok(Self::Week),
            "month" | "months" | "m" => Ok(Self::Month),
            _ => Err(format!(
                "unknown period `{s}` (expected day, week or month)"
            )),
        }
    }
}

/// The model to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Model {
    /// BG/NBD (Fader, Hardie & Lee 2005).
    #[default]
    #[serde(rename = "bgnbd")]
    BgNbd,
    /// Pareto/NBD (Schmittlein, Morrison & Colombo 1987).
    #[serde(rename = "pnbd")]
    ParetoNbd,
    /// Gamma-Gamma spend model (needs an amount column).
    #[serde(rename = "gg")]
    GammaGamma,
    /// BG/BB discrete-time model.
    #[serde(rename = "bgbb")]
    BgBb,
}

impl Model {
    /// Short name, as on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::BgNbd => "bgnbd",
            Self::ParetoNbd => "pnbd",
            Self::GammaGamma => "gg",
            Self::BgBb => "bgbb",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace(['-', '_', '/'], "").as_str() {
            "bgnbd" => Ok(Self::BgNbd),
            "pnbd" | "paretonbd" => Ok(Self::ParetoNbd),
            "gg" | "gammagamma" => Ok(Self::GammaGamma),
            "bgbb" => Ok(Self::BgBb),
            _ => Err(format!(
                "unknown model `{s}` (expected bgnbd, pnbd, gg or bgbb)"
            )),
        }
    }
}

/// Arguments of `fincrm analytics fit` (the CLI maps its flags one to one).
#[derive(Debug, Clone, PartialEq)]
pub struct FitArgs {
    /// Transaction CSV with a header row.
    pub transactions: PathBuf,
    /// Customer id column (any string).
    pub customer_col: String,
    /// Date or timestamp column.
    pub date_col: String,
    /// Amount column (non-negative numbers); needed for Gamma-Gamma and CLV.
    pub amount_col: Option<String>,
    /// chrono strftime format of the dates; default: detect `%Y-%m-%d`, `%Y%m%d`, RFC 3339 and
    /// `%Y-%m-%d %H:%M:%S` per value.
    pub date_format: Option<String>,
    /// Last day of the calibration period (inclusive).
    pub calibration_end: NaiveDate,
    /// Time unit of the fit.
    pub period: Period,
    /// Model to fit.
    pub model: Model,
    /// Horizon of `expected_purchases` in periods (default 1).
    pub predict: Option<f64>,
    /// Per-customer output CSV.
    pub out: Option<PathBuf>,
    /// CLV horizon in months (default 12).
    pub clv_months: u32,
    /// Monthly discount rate of the CLV (default 0.01).
    pub discount_rate: f64,
    /// Profit margin applied to spend in the CLV (default 1.0).
    pub margin: f64,
}

impl FitArgs {
    /// Arguments with the defaults: columns `customer_id` and `date`, no amounts, weeks, BG/NBD,
    /// predict 1 period, no output, CLV over 12 months at 1 % a month with margin 1.
    pub fn new(transactions: impl Into<PathBuf>, calibration_end: NaiveDate) -> Self {
        Self {
            transactions: transactions.into(),
            customer_col: "customer_id".to_owned(),
            date_col: "date".to_owned(),
            amount_col: None,
            date_format: None,
            calibration_end,
            period: Period::Week,
            model: Model::BgNbd,
            predict: None,
            out: None,
            clv_months: 12,
            discount_rate: 0.01,
            margin: 1.0,
        }
    }

    fn validate(&self) -> Result<f64, FitError> {
        let predict = self.predict.unwrap_or(1.0);
        if !(predict.is_finite() && predict >= 0.0) {
            return Err(FitError::invalid_argument(
                "predict",
                format!("{predict} is not a non-negative number of periods"),
            ));
        }
        if self.model == Model::BgBb && (predict.fract() != 0.0 || predict > f64::from(u32::MAX)) {
            return Err(FitError::invalid_argument(
                "predict",
                format!("BG/BB is discrete: {predict} must be a whole number of periods"),
            ));
        }
        if !(self.discount_rate.is_finite() && self.discount_rate > -1.0) {
            return Err(FitError::invalid_argument(
                "discount-rate",
                format!("{} must be finite and above -1", self.discount_rate),
            ));
        }
        if !self.margin.is_finite() {
            return Err(FitError::invalid_argument("margin", "must be finite"));
        }
        if self.model == Model::GammaGamma && self.amount_col.is_none() {
            return Err(FitError::invalid_argument(
                "amount-col",
                "the Gamma-Gamma model needs an amount column",
            ));
        }
        Ok(predict)
    }
}

/// One fitted model: parameters, log-likelihood, standard errors and how the optimiser went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelFit {
    /// Customers (or repeat buyers, for Gamma-Gamma) the model was fitted on.
    pub customers: usize,
    /// Parameters by name (`r`, `alpha`, `a`, `b`; `r`, `alpha`, `s`, `beta`; `p`, `q`, `v`;
    /// `alpha`, `beta`, `gamma`, `delta`).
    pub params: BTreeMap<String, f64>,
    /// Total log-likelihood at the parameters.
    pub loglik: f64,
    /// Asymptotic standard errors; empty when the Hessian is not positive definite.
    pub std_errors: BTreeMap<String, f64>,
    /// Whether the gradient vanished (always true in a returned report).
    pub converged: bool,
    /// Optimiser iterations.
    pub iterations: usize,
    /// Largest absolute gradient of the log-likelihood w.r.t. the log-parameters at the optimum.
    pub max_abs_grad: f64,
}

/// What [`fit`] found. Serialises to
/// `{"model", "customers", "params", "loglik", "std_errors", ...}` with the extras below.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    /// `bgnbd`, `pnbd`, `gg` or `bgbb`.
    pub model: String,
    /// Customers the model was fitted on (repeat buyers for `gg`).
    pub customers: usize,
    /// Fitted parameters by name.
    pub params: BTreeMap<String, f64>,
    /// Total log-likelihood.
    pub loglik: f64,
    /// Asymptotic standard errors by name (empty when unavailable).
    pub std_errors: BTreeMap<String, f64>,
    /// Time unit of the fit.
    pub period: Period,
    /// Calibration end (inclusive).
    pub calibration_end: NaiveDate,
    /// Whether the optimiser converged (always true in a returned report).
    pub converged: bool,
    /// Optimiser iterations.
    pub iterations: usize,
    /// Largest absolute gradient at the optimum.
    pub max_abs_grad: f64,
    /// Data rows in the file.
    pub rows: u64,
    /// Rows on or before the calibration end.
    pub rows_in_calibration: u64,
    /// Customers with a purchase in calibration (all customers of the summary).
    pub customers_in_calibration: usize,
    /// Horizon of `expected_purchases` in the output, in periods.
    pub predict_periods: f64,
    /// The Gamma-Gamma fit made for the CLV of a BG/NBD or Pareto/NBD run with amounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma_gamma: Option<ModelFit>,
    /// Sum of the customers' CLV, when computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clv_total: Option<f64>,
    /// Where the per-customer CSV was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    /// Things the analyst should know (for example customers left out of Gamma-Gamma).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Per-customer results, one entry per customer of the summary (same order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerResults {
    /// Customer id as in the file.
    pub id: Vec<String>,
    /// Frequency (x), as in the module docs.
    pub frequency: Vec<u32>,
    /// Recency (tₓ).
    pub recency: Vec<f64>,
    /// Age (T), or n for BG/BB.
    pub age: Vec<f64>,
    /// Mean repeat spend.
    pub monetary: Vec<f64>,
    /// Conditional expected purchases over the `predict` horizon.
    pub expected_purchases: Option<Vec<f64>>,
    /// P(alive) at the calibration end.
    pub p_alive: Option<Vec<f64>>,
    /// CLV.
    pub clv: Option<Vec<f64>>,
}

impl CustomerResults {
    /// The summary columns of every customer, without predictions.
    fn from_summary(s: &Summary, ids: &[String]) -> Self {
        Self {
            id: s
                .customer
                .iter()
                .map(|&c| {
                    usize::try_from(c)
                        .ok()
                        .and_then(|c| ids.get(c))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect(),
            frequency: s.frequency.clone(),
            recency: s.recency.clone(),
            age: s.age.clone(),
            monetary: s.monetary.clone(),
            ..CustomerResults::default()
        }
    }
}

fn analytics_error(model: Model, e: AnalyticsError) -> FitError {
    match e {
        AnalyticsError::FitFailed(reason) => FitError::NotConverged {
            model: model.name(),
            reason,
        },
        other => FitError::Unfittable {
            model: model.name(),
            reason: other.to_string(),
        },
    }
}

fn check_converged(
    model: Model,
    d: &FitDiagnostics,
    params: &BTreeMap<String, f64>,
    loglik: f64,
) -> Result<(), FitError> {
    if let Some((name, v)) = params.iter().find(|(_, v)| !(v.is_finite() && **v > 0.0)) {
        return Err(FitError::NotConverged {
            model: model.name(),
            reason: format!("parameter {name} ended at {v}"),
        });
    }
    if !loglik.is_finite() {
        return Err(FitError::NotConverged {
            model: model.name(),
            reason: format!("the log-likelihood is {loglik}"),
        });
    }
    if !d.converged {
        return Err(FitError::NotConverged {
            model: model.name(),
            reason: format!(
                "after {} iterations the largest log-likelihood gradient is still {:.3e} \
                 (parameters {}); the data may not identify the model (too few repeat \
                 purchases, or a time unit too coarse or too fine)",
                d.iterations,
                d.max_abs_grad,
                params
                    .iter()
                    .map(|(k, v)| format!("{k}={v:.6}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(())
}

/// BG/NBD and Pareto/NBD need repeat purchases: without any, the likelihood has its supremum at
/// r → 0 and the dropout parameters are not identified.
fn require_repeats(model: Model, s: &Summary) -> Result<(), FitError> {
    if s.frequency.iter().all(|&x| x == 0) {
        return Err(FitError::Unfittable {
            model: model.name(),
            reason: format!(
                "none of the {} customers has a repeat purchase before the calibration end, so \
                 the purchase and dropout rates cannot be told apart",
                s.len()
            ),
        });
    }
    Ok(())
}

fn named(names: [&str; 4], v: [f64; 4]) -> BTreeMap<String, f64> {
    names
        .iter()
        .zip(v)
        .map(|(k, v)| ((*k).to_owned(), v))
        .collect()
}

fn named3(names: [&str; 3], v: [f64; 3]) -> BTreeMap<String, f64> {
    names
        .iter()
        .zip(v)
        .map(|(k, v)| ((*k).to_owned(), v))
        .collect()
}

/// Fits BG/NBD on a summary.
pub fn fit_bgnbd(s: &Summary) -> Result<(bgnbd::BgNbdParams, ModelFit), FitError> {
    let m = Model::BgNbd;
    require_repeats(m, s)?;
    let data = RfmData::new(&s.frequency, &s.recency, &s.age).map_err(|e| analytics_error(m, e))?;
    let f = bgnbd::fit(&data).map_err(|e| analytics_error(m, e))?;
    let names = ["r", "alpha", "a", "b"];
    let p = f.params;
    let fit = ModelFit {
        customers: s.len(),
        params: named(names, [p.r, p.alpha, p.a, p.b]),
        loglik: f.log_likelihood,
        std_errors: f
            .std_errors
            .map(|e| named(names, [e.r, e.alpha, e.a, e.b]))
            .unwrap_or_default(),
        converged: f.diagnostics.converged,
        iterations: f.diagnostics.iterations,
        max_abs_grad: f.diagnostics.max_abs_grad,
    };
    check_converged(m, &f.diagnostics, &fit.params, fit.loglik)?;
    Ok((p, fit))
}

/// Fits Pareto/NBD on a summary.
pub fn fit_pareto_nbd(s: &Summary) -> Result<(pareto_nbd::ParetoNbdParams, ModelFit), FitError> {
    let m = Model::ParetoNbd;
    require_repeats(m, s)?;
    let data = RfmData::new(&s.frequency, &s.recency, &s.age).map_err(|e| analytics_error(m, e))?;
    let f = pareto_nbd::fit(&data).map_err(|e| analytics_error(m, e))?;
    let names = ["r", "alpha", "s", "beta"];
    let p = f.params;
    let fit = ModelFit {
        customers: s.len(),
        params: named(names, [p.r, p.alpha, p.s, p.beta]),
        loglik: f.log_likelihood,
        std_errors: f
            .std_errors
            .map(|e| named(names, [e.r, e.alpha, e.s, e.beta]))
            .unwrap_or_default(),
        converged: f.diagnostics.converged,
        iterations: f.diagnostics.iterations,
        max_abs_grad: f.diagnostics.max_abs_grad,
    };
    check_converged(m, &f.diagnostics, &fit.params, fit.loglik)?;
    Ok((p, fit))
}

/// Fits Gamma-Gamma on the repeat buyers of a summary; repeat buyers whose mean spend is not
/// positive are left out (their number is returned as the third element).
pub fn fit_gamma_gamma(s: &Summary) -> Result<(GammaGammaParams, ModelFit, usize), FitError> {
    let m = Model::GammaGamma;
    let mut excluded = 0;
    let freq: Vec<u32> = s
        .frequency
        .iter()
        .zip(&s.monetary)
        .map(|(&x, &mv)| {
            if x > 0 && !(mv.is_finite() && mv > 0.0) {
                excluded += 1;
                0
            } else {
                x
            }
        })
        .collect();
    let data = SpendData::new(&freq, &s.monetary).map_err(|e| match e {
        AnalyticsError::NoData(_) => FitError::Unfittable {
            model: m.name(),
            reason: format!(
                "no repeat buyer with a positive mean spend among {} customers ({excluded} repeat \
                 buyers spent nothing)",
                s.len()
            ),
        },
        e => analytics_error(m, e),
    })?;
    let f = gamma_gamma::fit(&data).map_err(|e| analytics_error(m, e))?;
    let names = ["p", "q", "v"];
    let p = f.params;
    let fit = ModelFit {
        customers: freq.iter().filter(|&&x| x > 0).count(),
        params: named3(names, [p.p, p.q, p.v]),
        loglik: f.log_likelihood,
        std_errors: f
            .std_errors
            .map(|e| named3(names, [e.p, e.q, e.v]))
            .unwrap_or_default(),
        converged: f.diagnostics.converged,
        iterations: f.diagnostics.iterations,
        max_abs_grad: f.diagnostics.max_abs_grad,
    };
    check_converged(m, &f.diagnostics, &fit.params, fit.loglik)?;
    Ok((p, fit, excluded))
}

/// Conditional expected purchases in the next `t` periods and P(alive), per customer; the
/// (x, T)-only factor is computed once per distinct (x, T).
pub fn predict<M: PurchaseModel>(model: &M, s: &Summary, t: f64) -> (Vec<f64>, Vec<f64>) {
    let mut cache: HashMap<(u32, u64), f64> = HashMap::new();
    let n = s.len();
    let (mut expected, mut alive) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let (x, tx, age) = (s.frequency[i], s.recency[i], s.age[i]);
        let if_alive = *cache
            .entry((x, age.to_bits()))
            .or_insert_with(|| model.expected_purchases_if_alive(t, x, age));
        let pa = model.p_alive(x, tx, age);
        alive.push(pa);
        expected.push(pa * if_alive);
    }
    (expected, alive)
}

/// CLV per customer from a purchase model and a Gamma-Gamma spend model.
pub fn clv<M: PurchaseModel>(
    model: &M,
    spend_model: &GammaGammaParams,
    s: &Summary,
    args: &FitArgs,
) -> Result<Vec<f64>, FitError> {
    let spend: Vec<f64> = s
        .frequency
        .iter()
        .zip(&s.monetary)
        .map(|(&x, &m)| spend_model.conditional_expected_average_profit(x, m))
        .collect();
    let cfg = ClvConfig::new(
        args.clv_months,
        args.discount_rate,
        args.margin,
        args.period.unit(),
        MonthConvention::Lifetimes,
    );
    customer_lifetime_values(model, &s.frequency, &s.recency, &s.age, &spend, &cfg)
        .map_err(|e| FitError::invalid_argument("clv", e.to_string()))
}

/// Discrete-time (x, tₓ, n) of each customer of the summary, as in the module docs.
fn bgbb_patterns(tx: &Transactions, s: &Summary, end: i32, period: Period) -> Vec<BgBbPattern> {
    let len = period.days();
    let mut first = vec![i32::MAX; tx.customer_ids.len()];
    for (&c, &d) in tx.customer.iter().zip(&tx.day) {
        if d <= end {
            let f = &mut first[c as usize];
            *f = (*f).min(d);
        }
    }
    let mut row_of = vec![u32::MAX; tx.customer_ids.len()];
    for (i, &c) in s.customer.iter().enumerate() {
        if let Some(r) = usize::try_from(c).ok().and_then(|c| row_of.get_mut(c)) {
            *r = u32::try_from(i).unwrap_or(u32::MAX);
        }
    }
    let n_of = |f: i32| ((end - f + 1) / len - 1).max(0);
    let mut hits: Vec<(u32, u32)> = tx
        .customer
        .iter()
        .zip(&tx.day)
        .filter_map(|(&c, &d)| {
            let f = first[c as usize];
            if d > end || f == i32::MAX {
                return None;
            }
            let k = (d - f) / len;
            (k >= 1 && k <= n_of(f)).then(|| (c, u32::try_from(k).unwrap_or(0)))
        })
        .collect();
    hits.sort_unstable();
    hits.dedup();
    let mut pats: Vec<BgBbPattern> = s
        .customer
        .iter()
        .map(|&c| BgBbPattern {
            frequency: 0,
            recency: 0,
            n_periods: u32::try_from(n_of(first[usize::try_from(c).unwrap_or(0)])).unwrap_or(0),
            weight: 1.0,
        })
        .collect();
    for (c, k) in hits {
        let p = &mut pats[row_of[c as usize] as usize];
        p.frequency += 1;
        p.recency = p.recency.max(k);
    }
    pats
}

fn fill_predictions<M: PurchaseModel>(
    model: &M,
    spend_model: Option<&GammaGammaParams>,
    summ: &Summary,
    args: &FitArgs,
    predict_t: f64,
    results: &mut CustomerResults,
) -> Result<(), FitError> {
    let (expected, alive) = predict(model, summ, predict_t);
    results.expected_purchases = Some(expected);
    results.p_alive = Some(alive);
    if let Some(g) = spend_model {
        results.clv = Some(clv(model, g, summ, args)?);
    }
    Ok(())
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "FitArgs::validate checked that BG/BB's predict is a whole number in 0..=u32::MAX"
)]
fn whole_periods(t: f64) -> u32 {
    t as u32
}

fn fit_bgbb(
    tx: &Transactions,
    summ: &Summary,
    end: i32,
    period: Period,
    predict_t: f64,
    results: &mut CustomerResults,
) -> Result<ModelFit, FitError> {
    let pats = bgbb_patterns(tx, summ, end, period);
    if pats.iter().all(|p| p.frequency == 0) {
        return Err(FitError::Unfittable {
            model: Model::BgBb.name(),
            reason: format!(
                "none of the {} customers has a purchase in a complete {period} after their first",
                pats.len()
            ),
        });
    }
    let data = BgBbData::new(&pats).map_err(|e| analytics_error(Model::BgBb, e))?;
    let f = bgbb::fit(&data).map_err(|e| analytics_error(Model::BgBb, e))?;
    let names = ["alpha", "beta", "gamma", "delta"];
    let p = f.params;
    let fit = ModelFit {
        customers: summ.len(),
        params: named(names, [p.alpha, p.beta, p.gamma, p.delta]),
        loglik: f.log_likelihood,
        std_errors: f
            .std_errors
            .map(|e| named(names, [e.alpha, e.beta, e.gamma, e.delta]))
            .unwrap_or_default(),
        converged: f.diagnostics.converged,
        iterations: f.diagnostics.iterations,
        max_abs_grad: f.diagnostics.max_abs_grad,
    };
    check_converged(Model::BgBb, &f.diagnostics, &fit.params, fit.loglik)?;
    let m_future = whole_periods(predict_t);
    let mut cache: HashMap<(u32, u32, u32), (f64, f64)> = HashMap::new();
    let mut expected = Vec::with_capacity(summ.len());
    let mut alive = Vec::with_capacity(summ.len());
    for q in &pats {
        let (ev, pa) = *cache
            .entry((q.frequency, q.recency, q.n_periods))
            .or_insert_with(|| {
                (
                    p.conditional_expected_purchases(m_future, q.frequency, q.recency, q.n_periods),
                    p.p_alive(0, q.frequency, q.recency, q.n_periods),
                )
            });
        expected.push(ev);
        alive.push(pa);
    }
    results.frequency = pats.iter().map(|q| q.frequency).collect();
    results.recency = pats.iter().map(|q| f64::from(q.recency)).collect();
    results.age = pats.iter().map(|q| f64::from(q.n_periods)).collect();
    results.expected_purchases = Some(expected);
    results.p_alive = Some(alive);
    Ok(fit)
}

/// The Gamma-Gamma fit behind the CLV of a BG/NBD or Pareto/NBD run; a failure only loses the
/// CLV, with a warning.
fn spend_model_for_clv(
    summ: &Summary,
    warnings: &mut Vec<String>,
) -> (Option<GammaGammaParams>, Option<ModelFit>) {
    match fit_gamma_gamma(summ) {
        Ok((p, f, excluded)) => {
            if excluded > 0 {
                warnings.push(format!(
                    "{excluded} repeat buyers with a non-positive mean spend were left out of \
                     the Gamma-Gamma fit"
                ));
            }
            (Some(p), Some(f))
        }
        Err(e) => {
            warnings.push(format!("no CLV: {e}"));
            (None, None)
        }
    }
}

/// Reads the transactions of `args` (rows up to the calibration end).
pub fn read(args: &FitArgs) -> Result<Transactions, FitError> {
    let end = read::day_number(args.calibration_end);
    read_transactions(
        &args.transactions,
        &ReadOptions {
            customer_col: &args.customer_col,
            date_col: &args.date_col,
            amount_col: args.amount_col.as_deref(),
            date_format: args.date_format.as_deref(),
            last_day: Some(end),
        },
    )
}

/// Reads, summarises and fits; writes the per-customer CSV when `args.out` is set.
pub fn fit(args: &FitArgs) -> Result<FitReport, FitError> {
    let (report, results) = fit_with_results(args)?;
    if let Some(path) = &args.out {
        output::write_customers(path, &results)?;
    }
    Ok(report)
}

/// [`fit`] without writing, returning the per-customer results as well.
pub fn fit_with_results(args: &FitArgs) -> Result<(FitReport, CustomerResults), FitError> {
    let predict_t = args.validate()?;
    let end = read::day_number(args.calibration_end);
    let tx = read(args)?;
    let summ = summary::summarize(
        &tx.customer,
        &tx.day,
        &tx.amount,
        &SummaryConfig {
            calibration_end: end,
            unit: args.period.unit(),
        },
    )
    .map_err(|e| FitError::invalid_argument("transactions", e.to_string()))?;
    if summ.is_empty() {
        return Err(FitError::NoCustomers {
            calibration_end: args.calibration_end,
            rows: tx.rows_read,
            first_date: tx.first_day.and_then(read::date_of_day),
        });
    }
    let mut results = CustomerResults::from_summary(&summ, &tx.customer_ids);
    let mut warnings = Vec::new();
    let (gg_params, gg_report) =
        if tx.has_amounts && matches!(args.model, Model::BgNbd | Model::ParetoNbd) {
            spend_model_for_clv(&summ, &mut warnings)
        } else {
            (None, None)
        };
    let fitted = match args.model {
        Model::BgNbd => {
            let (params, fit) = fit_bgnbd(&summ)?;
            fill_predictions(
                &params,
                gg_params.as_ref(),
                &summ,
                args,
                predict_t,
                &mut results,
            )?;
            fit
        }
        Model::ParetoNbd => {
            let (params, fit) = fit_pareto_nbd(&summ)?;
            fill_predictions(
                &params,
                gg_params.as_ref(),
                &summ,
                args,
                predict_t,
                &mut results,
            )?;
            fit
        }
        Model::GammaGamma => {
            let (_, fit, excluded) = fit_gamma_gamma(&summ)?;
            if excluded > 0 {
                warnings.push(format!(
                    "{excluded} repeat buyers with a non-positive mean spend were left out"
                ));
            }
            fit
        }
        Model::BgBb => fit_bgbb(&tx, &summ, end, args.period, predict_t, &mut results)?,
    };
    if fitted.std_errors.is_empty() {
        warnings.push(
            "no standard errors: the Hessian at the optimum is not positive definite, so some \
             parameters may not be identified by the data"
                .to_owned(),
        );
    }
    let report = FitReport {
        model: args.model.name().to_owned(),
        customers: fitted.customers,
        params: fitted.params,
        loglik: fitted.loglik,
        std_errors: fitted.std_errors,
        period: args.period,
        calibration_end: args.calibration_end,
        converged: fitted.converged,
        iterations: fitted.iterations,
        max_abs_grad: fitted.max_abs_grad,
        rows: tx.rows_read,
        rows_in_calibration: tx.customer.len() as u64,
        customers_in_calibration: summ.len(),
        predict_periods: predict_t,
        gamma_gamma: gg_report,
        clv_total: results.clv.as_ref().map(|v| v.iter().sum()),
        out: args.out.clone(),
        warnings,
    };
    Ok((report, results))
}
