//! The analytics run (`fincrm analytics run`): value, RFM, P(alive), CLV, tier and lifecycle
//! stage for every customer in the store, written with the run's id so every score keeps its
//! history.
//!
//! Three phases. (1) Page through customers in key order, reading each page's facts and daily
//! debit activity, and summarise it (frequency, recency, age, spend) with bounded memory.
//! (2) Fit BG/NBD and Gamma-Gamma once over all customers. (3) Score and write page by page,
//! each page one transaction with a batch marker, so a run that dies is resumed with
//! `--resume` and skips the pages already written. One run per day and model version: a second
//! process (another `serve` with the nightly schedule) finds the run started and does nothing.
//!
//! Conventions (stated because analysts compare with other tools): purchases are debit
//! transactions, counted by local (Beijing) day; time unit weeks; a CLV month is 4.345 weeks
//! (lifetimes' convention); CLV over 12 months at 1 % a month with margin 1 (the spend itself);
//! RFM monetary is total debit spend; AUM is the sum of open non-credit balances.

use chrono::{Datelike, NaiveDate, Utc};
use fincrm_analytics::bgnbd::{self, BgNbdParams};
use fincrm_analytics::clv::{ClvConfig, MonthConvention, customer_lifetime_values};
use fincrm_analytics::data::RfmData;
use fincrm_analytics::gamma_gamma::{self, GammaGammaParams, SpendData};
use fincrm_analytics::lifecycle::{LifecycleConfig, LifecycleInput, LifecycleStage};
use fincrm_analytics::rfm::rfm_scores;
use fincrm_analytics::summary::{SummaryConfig, TimeUnit, summarize_sorted};
use fincrm_analytics::tiers::{
    CorporateTier, CorporateTierInput, CorporateTierRules, RetailTierBands, TierState, apply_grace,
};
use fincrm_store::analytics::{ActivityByDay, AnalyticsRun, CustomerFacts};
use fincrm_store::tables::CustomerScore;
use fincrm_store::{BatchMarker, Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The AUM trend compares today with the score run this many days earlier…
pub const AUM_TREND_DAYS: i64 = 365;

/// …or, lacking one on that day, the latest run before it, if at most this many days older (a
/// missed night or a weekend; an older run says nothing about "12 months ago").
pub const AUM_TREND_SLACK_DAYS: i64 = 31;

/// Version of the models and rules; part of every run id and score row.
pub const MODEL_VERSION: &str = "v1";

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The day the scores describe (calibration end, inclusive).
    pub as_of: NaiveDate,
    /// Continue a run that was started and did not complete.
    pub resume: bool,
    /// Customers per page (one read and one write transaction each).
    pub page_size: i64,
    /// Offset of local time from UTC, for counting purchase days.
    pub utc_offset_secs: i32,
    /// CLV horizon in months.
    pub clv_months: u32,
    /// Monthly discount rate of the CLV.
    pub monthly_discount_rate: f64,
    /// Share of spend that is the bank's margin, for the CLV.
    pub margin: f64,
    /// Retail AUM tiers.
    pub tiers: RetailTierBands,
    /// Corporate tiers (公司级 / 部门级 / 一般) on the corporate value figures.
    pub corporate_tiers: CorporateTierRules,
    /// Days a customer must qualify for a lower tier before being moved down.
    pub tier_grace_days: u32,
    /// Lifecycle thresholds.
    pub lifecycle: LifecycleConfig,
    /// Number of behavioural segments (k-means clusters); 0 turns segmentation off.
    pub segments: usize,
}

impl RunOptions {
    /// Defaults for a run describing `as_of`.
    pub fn new(as_of: NaiveDate) -> Self {
        Self {
            as_of,
            resume: false,
            page_size: 20_000,
            utc_offset_secs: 8 * 3600,
            clv_months: 12,
            monthly_discount_rate: 0.01,
            margin: 1.0,
            tiers: RetailTierBands::default(),
            corporate_tiers: CorporateTierRules::default(),
            tier_grace_days: 90,
            lifecycle: LifecycleConfig::default(),
            segments: 8,
        }
    }

    /// The run's id: one per day and model version.
    pub fn run_id(&self) -> String {
        format!("{}/{MODEL_VERSION}", self.as_of)
    }
}

/// A run that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store failed; pages written before stay, and `--resume` continues.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The run exists and is not complete: another process is running it, or it failed.
    #[error(
        "analytics run {0} was started before and has not completed; pass --resume to continue it"
    )]
    InProgress(String),
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run's id.
    pub run_id: String,
    /// Whether it had completed before (nothing done now).
    pub already_completed: bool,
    /// Customers scored.
    pub customers: usize,
    /// Customers with at least one purchase day.
    pub active_customers: usize,
    /// Pages written now / skipped as written by an earlier attempt.
    pub pages_written: usize,
    /// Pages skipped.
    pub pages_resumed: usize,
    /// Fitted parameters and settings (also stored with the run).
    pub params: serde_json::Value,
    /// Customers per tier.
    pub tiers: HashMap<String, usize>,
    /// Customers per lifecycle stage.
    pub stages: HashMap<String, usize>,
    /// Anything the run could not compute, and why.
    pub warnings: Vec<String>,
}

/// Progress of a run.
pub trait RunProgress: Send + Sync {
    /// `done` customers of phase `phase` (`read` or `write`).
    fn progressed(&self, phase: &'static str, done: usize);
}

impl RunProgress for () {
    fn progressed(&self, _: &'static str, _: usize) {}
}

/// Per-customer values gathered in phase 1.
struct Gathered {
    facts: Vec<CustomerFacts>,
    /// Index into the summary columns, for customers with a purchase day.
    summary_row: Vec<Option<usize>>,
    frequency: Vec<u32>,
    recency: Vec<f64>,
    age: Vec<f64>,
    monetary: Vec<f64>,
    total_spend: Vec<f64>,
    last_day: Vec<Option<i32>>,
    activity_90d: Vec<u32>,
    activity_365d: Vec<u32>,
    /// Records merged into a survivor and scored with it.
    merged: usize,
}

/// One day of a customer's purchases.
#[derive(Debug, Clone, Copy)]
struct PurchaseDay {
    /// Day number ([`day_number`]).
    day: i32,
    amount_minor: i64,
    transactions: i64,
}

fn day_number(d: NaiveDate) -> i32 {
    d.num_days_from_ce()
}

impl Gathered {
    /// Counts one day of purchases of customer `i` (a day after `end` is outside the
    /// calibration period and counts nowhere).
    fn absorb(&mut self, i: usize, d: &PurchaseDay, end: i32) {
        self.total_spend[i] += d.amount_minor as f64;
        self.last_day[i] = Some(self.last_day[i].map_or(d.day, |l: i32| l.max(d.day)));
        let count = u32::try_from(d.transactions).unwrap_or(u32::MAX);
        if end - d.day < 90 {
            self.activity_90d[i] += count;
        }
        if end - d.day < 365 {
            self.activity_365d[i] += count;
        }
    }

    /// Adds a page of customers (in key order, after those before) and their purchase days.
    /// Merged records' figures and days are set aside in `families`, to join their survivor's.
    fn absorb_page(
        &mut self,
        families: &mut Families,
        page: Vec<CustomerFacts>,
        activity: &ActivityByDay,
        end: i32,
        config: SummaryConfig,
    ) -> Result<(), RunError> {
        let base = self.facts.len();
        // Where each of the page's customers goes in `self.facts`: merged records go nowhere
        // (their figures join their survivor's).
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(page.len());
        let mut kept = Vec::with_capacity(page.len());
        for facts in &page {
            let survivor = families.survivor_of.get(&facts.customer_id);
            kept.push(survivor.is_none());
            if let Some(survivor) = survivor {
                let joined = families.joined.entry(survivor.clone()).or_default();
                joined.0 = joined.0.saturating_add(facts.aum_minor);
                joined.1 = earliest(joined.1, facts.opened_on);
                continue;
            }
            let i = base + index.len();
            if let Some(at) = families.survivor_at.get_mut(&facts.customer_id) {
                *at = i;
            }
            index.insert(facts.customer_id.as_str(), i);
        }
        let n = base + index.len();
        self.summary_row.resize(n, None);
        self.total_spend.resize(n, 0.0);
        self.last_day.resize(n, None);
        self.activity_90d.resize(n, 0);
        self.activity_365d.resize(n, 0);
        let (mut keys, mut days, mut amounts) = (Vec::new(), Vec::new(), Vec::new());
        let no_families = families.survivor_of.is_empty();
        for k in 0..activity.customers.len() {
            let customer = activity.customers[k].as_str();
            let page_days = activity.rows_of(k).map(|r| PurchaseDay {
                day: day_number(activity.day[r]),
                amount_minor: activity.amount_minor[r],
                transactions: activity.transactions[r],
            });
            if !no_families && let Some(survivor) = families.family_of(customer) {
                let survivor = survivor.to_owned();
                families
                    .days
                    .extend(page_days.map(|d| (survivor.clone(), d)));
                continue;
            }
            let Some(&i) = index.get(customer) else {
                continue;
            };
            for d in page_days.filter(|d| d.day <= end) {
                self.absorb(i, &d, end);
                keys.push(i as u64);
                days.push(d.day);
                amounts.push(d.amount_minor as f64);
            }
        }
        drop(index);
        self.facts.extend(
            page.into_iter()
                .zip(kept)
                .filter_map(|(facts, kept)| kept.then_some(facts)),
        );
        self.summarize(&keys, &days, &amounts, config)
    }

    /// Appends the summaries of rows sorted by (customer index, day).
    fn summarize(
        &mut self,
        keys: &[u64],
        days: &[i32],
        amounts: &[f64],
        config: SummaryConfig,
    ) -> Result<(), RunError> {
        let summary = summarize_sorted(keys, days, amounts, &config)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("summarising activity: {e}")))?;
        for k in 0..summary.len() {
            let i = usize::try_from(summary.customer[k]).unwrap_or(usize::MAX);
            self.summary_row[i] = Some(self.frequency.len());
            self.frequency.push(summary.frequency[k]);
            self.recency.push(summary.recency[k]);
            self.age.push(summary.age[k]);
            self.monetary.push(summary.monetary[k]);
        }
        Ok(())
    }
}

/// Merged families (a survivor and the records merged into it) are one customer: the survivor
/// is scored with the family's purchases, balances and earliest start, and the merged records
/// get no score of their own. Their days are set aside while the pages are read (a family's
/// records lie anywhere in key order) and summarised at the end.
#[derive(Default)]
struct Families {
    /// Merged record → its survivor.
    survivor_of: HashMap<String, String>,
    /// Survivor → where it is in `Gathered::facts`, once read.
    survivor_at: HashMap<String, usize>,
    /// The merged records' balances and start days, by survivor.
    joined: HashMap<String, (i64, Option<NaiveDate>)>,
    /// The family members' days: (survivor, day).
    days: Vec<(String, PurchaseDay)>,
}

/// The earlier of two start days, either of which may be unknown.
fn earliest(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Families {
    async fn load(store: &dyn Store) -> Result<Self, RunError> {
        let merged = store.analytics_merged().await?;
        let mut families = Self::default();
        for (record, survivor) in merged {
            families
                .survivor_at
                .entry(survivor.clone())
                .or_insert(usize::MAX);
            families.survivor_of.insert(record, survivor);
        }
        Ok(families)
    }

    /// The survivor whose family `customer` belongs to, if any (itself, for a survivor).
    fn family_of<'a>(&'a self, customer: &'a str) -> Option<&'a str> {
        self.survivor_of
            .get(customer)
            .map(String::as_str)
            .or_else(|| self.survivor_at.contains_key(customer).then_some(customer))
    }

    /// Adds the set-aside families to `g`; the merged records that found no survivor.
    fn settle(self, g: &mut Gathered, end: i32, config: SummaryConfig) -> Result<usize, RunError> {
        let mut orphans = 0;
        for (survivor, (aum, opened)) in &self.joined {
            match self.survivor_at.get(survivor) {
                Some(&i) if i < g.facts.len() => {
                    let facts = &mut g.facts[i];
                    facts.aum_minor = facts.aum_minor.saturating_add(*aum);
                    facts.opened_on = earliest(facts.opened_on, *opened);
                }
                _ => orphans += 1,
            }
        }
        let mut rows: Vec<(usize, PurchaseDay)> = self
            .days
            .into_iter()
            .filter_map(|(survivor, d)| {
                let i = *self.survivor_at.get(&survivor)?;
                (i < g.facts.len() && d.day <= end).then_some((i, d))
            })
            .collect();
        rows.sort_unstable_by_key(|(i, d)| (*i, d.day));
        let (mut keys, mut days, mut amounts) = (Vec::new(), Vec::new(), Vec::new());
        for (i, d) in &rows {
            g.absorb(*i, d, end);
            keys.push(*i as u64);
            days.push(d.day);
            amounts.push(d.amount_minor as f64);
        }
        g.summarize(&keys, &days, &amounts, config)?;
        Ok(orphans)
    }
}

async fn gather(
    store: &dyn Store,
    opts: &RunOptions,
    progress: &dyn RunProgress,
    warnings: &mut Vec<String>,
) -> Result<Gathered, RunError> {
    let end = day_number(opts.as_of);
    let config = SummaryConfig {
        calibration_end: end,
        unit: TimeUnit::Week,
    };
    let mut g = Gathered {
        facts: Vec::new(),
        summary_row: Vec::new(),
        frequency: Vec::new(),
        recency: Vec::new(),
        age: Vec::new(),
        monetary: Vec::new(),
        total_spend: Vec::new(),
        last_day: Vec::new(),
        activity_90d: Vec::new(),
        activity_365d: Vec::new(),
        merged: 0,
    };
    let mut families = Families::load(store).await?;
    let mut read = 0;
    // Two pages ahead: while a page is absorbed (summarised on this thread), the next page's
    // activity and the customers of the one after it are read on the store's threads. The
    // customer read is one job on one thread, the activity two, and on two cores the three
    // keep both busy where the customer read alone left one idle; and summarising a page does
    // not wait for the reads, nor they for it.
    let mut page = store.analytics_customers(None, opts.page_size).await?;
    let (mut activity, mut next) = tokio::try_join!(
        page_activity(store, &page, opts.utc_offset_secs),
        customers_after(store, &page, opts.page_size),
    )?;
    while !page.is_empty() {
        let reads = async {
            tokio::try_join!(
                page_activity(store, &next, opts.utc_offset_secs),
                customers_after(store, &next, opts.page_size),
            )
        };
        read += page.len();
        let absorbing = async { g.absorb_page(&mut families, page, &activity, end, config) };
        // `biased`: the reads are sent to their threads before the absorbing takes this one.
        let (reads, absorbed) = tokio::join!(biased; reads, absorbing);
        absorbed?;
        progress.progressed("read", read);
        let (next_activity, after_next) = reads?;
        (page, activity, next) = (next, next_activity, after_next);
    }
    g.merged = families.survivor_of.len();
    let orphans = families.settle(&mut g, end, config)?;
    if orphans > 0 {
        warnings.push(format!(
            "{orphans} merged families have no survivor to score; their merged records were left out"
        ));
    }
    if g.merged > 0 {
        tracing::info!(
            merged = g.merged,
            "analytics: merged records scored with their survivors"
        );
    }
    Ok(g)
}

/// The page of customers after the last of `page` (none after an empty page: the end).
async fn customers_after(
    store: &dyn Store,
    page: &[CustomerFacts],
    page_size: i64,
) -> Result<Vec<CustomerFacts>, RunError> {
    match page.last() {
        Some(last) => Ok(store
            .analytics_customers(Some(&last.customer_id), page_size)
            .await?),
        None => Ok(Vec::new()),
    }
}

/// The page's purchases by day, read as two halves at once: the store answers each from a
/// connection (a thread) of its own, and reading is most of a run's time.
async fn page_activity(
    store: &dyn Store,
    page: &[CustomerFacts],
    utc_offset_secs: i32,
) -> Result<ActivityByDay, RunError> {
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(ActivityByDay::default());
    };
    let mid = page.len() / 2;
    if mid == 0 {
        return Ok(store
            .analytics_activity(&first.customer_id, &last.customer_id, utc_offset_secs)
            .await?);
    }
    let (mut low, high) = tokio::try_join!(
        store.analytics_activity(
            &first.customer_id,
            &page[mid - 1].customer_id,
            utc_offset_secs
        ),
        store.analytics_activity(&page[mid].customer_id, &last.customer_id, utc_offset_secs),
    )?;
    low.append(high);
    Ok(low)
}

/// Runs the analytics for every customer and writes the scores.
pub async fn run(
    store: &dyn Store,
    opts: &RunOptions,
    progress: &dyn RunProgress,
) -> Result<RunReport, RunError> {
    let run_id = opts.run_id();
    let started = AnalyticsRun {
        run_id: run_id.clone(),
        as_of: opts.as_of,
        model_version: MODEL_VERSION.to_owned(),
        params: "{}".to_owned(),
        started_at: Utc::now(),
        finished_at: None,
        status: "running".to_owned(),
        customers: 0,
    };
    if !store.start_analytics_run(&started).await? {
        let existing = store.analytics_run(&run_id).await?;
        match existing {
            Some(r) if r.status == "completed" => {
                return Ok(RunReport {
                    run_id,
                    already_completed: true,
                    customers: usize::try_from(r.customers).unwrap_or(0),
                    active_customers: 0,
                    pages_written: 0,
                    pages_resumed: 0,
                    params: serde_json::from_str(&r.params).unwrap_or_default(),
                    tiers: HashMap::new(),
                    stages: HashMap::new(),
                    warnings: Vec::new(),
                });
            }
            _ if opts.resume => {}
            _ => return Err(RunError::InProgress(run_id)),
        }
    }
    // The administrator's rules in force override the built-in defaults.
    let mut opts = opts.clone();
    let (tier_version, tiers) = crate::rules::tier_rules(store).await.map_err(rules_error)?;
    let (lifecycle_version, lifecycle) = crate::rules::lifecycle_rules(store)
        .await
        .map_err(rules_error)?;
    if tier_version > 0 {
        opts.tiers = tiers.retail;
        opts.corporate_tiers = tiers.corporate;
        opts.tier_grace_days = tiers.grace_days;
    }
    if lifecycle_version > 0 {
        opts.lifecycle = lifecycle;
    }
    let mut result = score_and_write(store, &opts, &run_id, progress).await;
    if let Ok(report) = &mut result {
        report.params["tier_rules_version"] = tier_version.into();
        report.params["lifecycle_rules_version"] = lifecycle_version.into();
    }
    match &result {
        Ok(report) => {
            store
                .finish_analytics_run(
                    &run_id,
                    "completed",
                    i64::try_from(report.customers).unwrap_or(i64::MAX),
                    &report.params.to_string(),
                )
                .await?;
        }
        Err(e) => {
            tracing::error!(run_id = %run_id, error = %e, "analytics run failed; resume with --resume");
            let _ = store.finish_analytics_run(&run_id, "failed", 0, "{}").await;
        }
    }
    result
}

#[expect(
    clippy::too_many_lines,
    reason = "one pass over the customers, read top to bottom"
)]
async fn score_and_write(
    store: &dyn Store,
    opts: &RunOptions,
    run_id: &str,
    progress: &dyn RunProgress,
) -> Result<RunReport, RunError> {
    let mut warnings = Vec::new();
    let started = std::time::Instant::now();
    let g = gather(store, opts, progress, &mut warnings).await?;
    let end = day_number(opts.as_of);
    tracing::info!(
        customers = g.facts.len(),
        elapsed_ms = started.elapsed().as_millis(),
        "analytics: activity read"
    );

    // Phase 2: fit once over everybody, on a blocking thread with the segmentation beside the
    // fits on the other core, while the earlier runs' state is read on the store's threads
    // (a million rows each for the previous scores and the balances of a year ago).
    let fit_opts = opts.clone();
    let fitting = tokio::task::spawn_blocking(move || {
        let mut warnings = Vec::new();
        let phase_started = std::time::Instant::now();
        let (segmented, (fitted, fit_ms)) = std::thread::scope(|scope| {
            let segmenting = scope.spawn(|| {
                let mut warnings = Vec::new();
                let (of, info) = segment(&g, end, fit_opts.segments, &mut warnings);
                (of, info, warnings, phase_started.elapsed().as_millis())
            });
            let fitted = fit(&g, &fit_opts, end, &mut warnings);
            let fit_ms = phase_started.elapsed().as_millis();
            (segmenting.join(), (fitted, fit_ms))
        });
        let (segment_of, segment_info, segment_warnings, segment_ms) =
            segmented.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        warnings.extend(segment_warnings);
        let timing = (started.elapsed().as_millis(), fit_ms, segment_ms);
        (g, fitted, segment_of, segment_info, warnings, timing)
    });
    let (fitting, history) = tokio::join!(fitting, read_history(store, opts, run_id));
    let (g, fitted, segment_of, segment_info, fit_warnings, (fitted_ms, fit_ms, segment_ms)) =
        fitting.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    warnings.extend(fit_warnings);
    let Fitted {
        bgnbd,
        gg,
        clv,
        rfm,
    } = fitted?;
    // The two threads of the phase, each from its start: the longer one is the phase.
    tracing::info!(
        elapsed_ms = fitted_ms,
        fit_ms,
        segment_ms,
        "analytics: models fitted"
    );
    let History {
        previous,
        aum_then,
        done,
        corporate_values,
        read_at,
    } = history?;
    tracing::info!(
        elapsed_ms = read_at.duration_since(started).as_millis(),
        previous = previous.len(),
        "analytics: previous scores read"
    );
    let params = serde_json::json!({
        "segments": segment_info,
        "model_version": MODEL_VERSION,
        "as_of": opts.as_of,
        "time_unit": "week",
        "purchases": "debit transactions by local day",
        "merged_records_scored_with_survivor": g.merged,
        "utc_offset_secs": opts.utc_offset_secs,
        "bgnbd": bgnbd,
        "gamma_gamma_yuan": gg,
        "clv": {"months": opts.clv_months, "monthly_discount_rate": opts.monthly_discount_rate, "margin": opts.margin, "month_convention": "lifetimes (4.345 weeks)"},
        "tier_grace_days": opts.tier_grace_days,
    });

    // Phase 3: score and write, page by page.
    let customers = g.facts.len();
    let active_customers = g.frequency.len();
    let scorer = Arc::new(Scorer {
        retail_names: opts.tiers.bands.iter().map(|b| b.name.clone()).collect(),
        g,
        opts: opts.clone(),
        run_id: run_id.to_owned(),
        end,
        previous,
        aum_then,
        corporate_values,
        bgnbd,
        clv,
        rfm,
        segment_of,
    });
    let page = usize::try_from(opts.page_size).unwrap_or(20_000).max(1);
    let mut report = RunReport {
        run_id: run_id.to_owned(),
        already_completed: false,
        customers,
        active_customers,
        pages_written: 0,
        pages_resumed: 0,
        params: params.clone(),
        tiers: HashMap::new(),
        stages: HashMap::new(),
        warnings,
    };
    // Each page is scored on a blocking thread while the one before is written on the store's
    // connection thread. Scored on this runtime thread, a page held back the write it was
    // meant to overlap: the write's first steps (the store's writer connection, handed back
    // to its pool by a task of its own) often waited for the thread, and the writer then sat
    // idle for the length of each page's scoring (15 ms of every 50 at 1M customers).
    // Time spent in the store's writes (with the scoring beside them).
    let mut writing = std::time::Duration::ZERO;
    // A scored page waiting to be written, and the customers done once it is.
    let mut unwritten: Option<(BatchMarker, Vec<CustomerScore>, usize)> = None;
    for (page_no, base) in (0..customers).step_by(page).enumerate() {
        let end_of_page = (base + page).min(customers);
        let last_page_written = write_page(store, unwritten.take());
        let scorer_for_page = Arc::clone(&scorer);
        let scoring = tokio::task::spawn_blocking(move || scorer_for_page.page(base..end_of_page));
        let (written, scoring) = tokio::join!(last_page_written, scoring);
        if let Some((customers_done, took)) = written? {
            writing += took;
            report.pages_written += 1;
            progress.progressed("write", customers_done);
        }
        let ScoredPage {
            scores: page_scores,
            tiers,
            stages,
        } = scoring.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        for (tier, n) in tiers {
            *report.tiers.entry(tier).or_default() += n;
        }
        for (stage, n) in stages {
            *report.stages.entry(stage.to_owned()).or_default() += n;
        }
        let batch_no = i64::try_from(page_no).unwrap_or(i64::MAX);
        if done.contains(&batch_no) {
            report.pages_resumed += 1;
            progress.progressed("write", end_of_page);
        } else {
            let n = i64::try_from(page_scores.len()).unwrap_or(i64::MAX);
            let marker = BatchMarker {
                source: run_id.to_owned(),
                batch_no,
                records: n,
                loaded: n,
            };
            unwritten = Some((marker, page_scores, end_of_page));
        }
    }
    if let Some((customers_done, took)) = write_page(store, unwritten).await? {
        writing += took;
        report.pages_written += 1;
        progress.progressed("write", customers_done);
    }
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis(),
        store_writes_ms = writing.as_millis(),
        "analytics: scores written"
    );
    Ok(report)
}

/// What scoring reads of the earlier runs, besides the models: the previous run's state and
/// the balances of about a year ago, each sorted by customer number (looked up by it: a hash
/// map keyed by a copy of every number cost about 100 MiB more at 1M customers), the pages of
/// this run already written (when resumed) and the corporate clients' tier inputs.
struct History {
    previous: Vec<fincrm_store::analytics::PreviousScore>,
    aum_then: Vec<(String, i64)>,
    done: std::collections::HashSet<i64>,
    corporate_values: HashMap<String, CorporateTierInput>,
    /// When the reads were done.
    read_at: std::time::Instant,
}

/// Reads the [`History`], the four reads at once (each on a store thread of its own).
async fn read_history(
    store: &dyn Store,
    opts: &RunOptions,
    run_id: &str,
) -> Result<History, RunError> {
    // The balance history of the AUM trend: the run about a year before this one.
    let year_ago = opts.as_of - chrono::Duration::days(AUM_TREND_DAYS);
    let previous = async {
        let mut previous = store.previous_scores(run_id).await?;
        previous.sort_unstable_by(|a, b| a.customer_id.cmp(&b.customer_id));
        Ok::<_, RunError>(previous)
    };
    let aum_then = async {
        let mut rows = match store.aum_history(year_ago, run_id).await? {
            Some((day, rows)) if (year_ago - day).num_days() <= AUM_TREND_SLACK_DAYS => rows,
            _ => Vec::new(),
        };
        rows.sort_unstable();
        Ok::<_, RunError>(rows)
    };
    let done = async { Ok::<_, RunError>(store.committed_batches(run_id).await?) };
    let (previous, aum_then, done, corporate_values) =
        tokio::try_join!(previous, aum_then, done, corporate_inputs(store))?;
    Ok(History {
        previous,
        aum_then,
        done,
        corporate_values,
        read_at: std::time::Instant::now(),
    })
}

/// Writes a scored page, if there is one: the customers done with it and the time it took.
async fn write_page(
    store: &dyn Store,
    page: Option<(BatchMarker, Vec<CustomerScore>, usize)>,
) -> Result<Option<(usize, std::time::Duration)>, RunError> {
    let Some((marker, scores, customers_done)) = page else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    store.write_scores(&marker, scores).await?;
    Ok(Some((customers_done, started.elapsed())))
}

/// What scoring a customer reads besides the customer: the run's models, settings and the
/// earlier runs' state. Owned, so that pages are scored on blocking threads.
struct Scorer {
    g: Gathered,
    opts: RunOptions,
    run_id: String,
    end: i32,
    /// The previous run's state, sorted by customer number.
    previous: Vec<fincrm_store::analytics::PreviousScore>,
    /// Balances of about a year ago, sorted by customer number.
    aum_then: Vec<(String, i64)>,
    corporate_values: HashMap<String, CorporateTierInput>,
    retail_names: Vec<String>,
    bgnbd: Option<BgNbdParams>,
    /// CLV in yuan per summary row.
    clv: Option<Vec<f64>>,
    rfm: Vec<Option<fincrm_analytics::rfm::RfmScore>>,
    segment_of: Vec<Option<u32>>,
}

/// A page's scores, and how many of them are in each tier and stage.
struct ScoredPage {
    scores: Vec<CustomerScore>,
    tiers: HashMap<String, usize>,
    stages: HashMap<&'static str, usize>,
}

impl Scorer {
    /// The scores of the gathered customers `range`.
    fn page(&self, range: std::ops::Range<usize>) -> ScoredPage {
        let mut tiers = HashMap::new();
        let mut stages = HashMap::new();
        let scores = self.g.facts[range.clone()]
            .iter()
            .zip(range)
            .map(|(facts, i)| {
                let (score, stage) = self.customer(i, facts);
                *tiers.entry(score.tier.clone()).or_default() += 1;
                *stages.entry(stage).or_default() += 1;
                score
            })
            .collect();
        ScoredPage {
            scores,
            tiers,
            stages,
        }
    }

    /// The score of customer `i` of the gathered facts, and the name of its stage.
    fn customer(&self, i: usize, facts: &CustomerFacts) -> (CustomerScore, &'static str) {
        let Self {
            g,
            opts,
            run_id,
            end,
            previous,
            aum_then,
            corporate_values: _,
            retail_names: _,
            bgnbd,
            clv,
            rfm,
            segment_of,
        } = self;
        let (end, bgnbd) = (*end, *bgnbd);
        let row = g.summary_row[i];
        let prev = previous
            .binary_search_by(|p| p.customer_id.as_str().cmp(&facts.customer_id))
            .ok()
            .map(|at| &previous[at]);
        let (x, t_x, t_cal) =
            row.map_or((0, 0.0, 0.0), |r| (g.frequency[r], g.recency[r], g.age[r]));
        let p_alive = row.and_then(|_| bgnbd.map(|m| m.p_alive(x, t_x, t_cal)));
        let expected = row.and_then(|_| {
            bgnbd.map(|m| m.conditional_expected_purchases(90.0 / 7.0, x, t_x, t_cal))
        });
        let clv_minor = row.and_then(|r| clv.as_ref().map(|v| v[r]).and_then(yuan_to_fen));

        let (tier, tier_state) = self.tier(facts, prev);

        let tenure = facts
            .opened_on
            .map(|d| u32::try_from(end - day_number(d)).unwrap_or(0));
        let stage = opts.lifecycle.evaluate(&LifecycleInput {
            tenure_days: tenure,
            days_since_last_activity: g.last_day[i].map(|d| u32::try_from(end - d).unwrap_or(0)),
            activity_90d: g.activity_90d[i],
            activity_365d: g.activity_365d[i],
            aum_now_minor: facts.aum_minor,
            // Without a run from about a year ago (a new customer, a young installation)
            // the trend is neutral.
            aum_12m_ago_minor: aum_then
                .binary_search_by(|(id, _)| id.as_str().cmp(&facts.customer_id))
                .map_or(facts.aum_minor, |at| aum_then[at].1),
            p_alive,
            previous: prev.and_then(|p| stage_from_str(&p.stage)),
        });
        let stage = stage_name(stage);
        let rfm = rfm[i];
        let score = CustomerScore {
            customer_id: facts.customer_id.clone(),
            run_id: run_id.clone(),
            as_of: opts.as_of,
            model_version: MODEL_VERSION.to_owned(),
            frequency: row.map(|_| i64::from(x)),
            recency_weeks: row.map(|_| t_x),
            age_weeks: row.map(|_| t_cal),
            monetary_minor: row.map(|r| g.monetary[r]),
            rfm: rfm.map(|s| (i64::from(s.r), i64::from(s.f), i64::from(s.m))),
            rfm_segment: rfm.map(|s| s.segment().as_str().to_owned()),
            p_alive,
            expected_purchases_90d: expected,
            clv_minor,
            aum_minor: facts.aum_minor,
            tier,
            tier_since: NaiveDate::from_num_days_from_ce_opt(tier_state.assigned_day)
                .unwrap_or(opts.as_of),
            tier_below_since: tier_state
                .below_since
                .and_then(NaiveDate::from_num_days_from_ce_opt),
            stage: stage.to_owned(),
            segment: segment_of
                .get(i)
                .copied()
                .flatten()
                .map(|l| format!("k{}", l + 1)),
        };
        (score, stage)
    }

    /// A customer's tier (its name and since when), from its figures and the previous run's
    /// tier with the grace period.
    fn tier(
        &self,
        facts: &CustomerFacts,
        prev: Option<&fincrm_store::analytics::PreviousScore>,
    ) -> (String, TierState<usize>) {
        let corporate = facts.kind == "corporate";
        let tier_index = if corporate {
            let tier = self
                .corporate_values
                .get(facts.customer_id.as_str())
                .map_or(CorporateTier::General, |v| {
                    self.opts.corporate_tiers.evaluate(v)
                });
            corporate_index(tier)
        } else {
            self.opts.tiers.tier_index(facts.aum_minor)
        };
        let tier_name = |index: usize| {
            if corporate {
                CORPORATE_TIER_NAMES.get(index).copied()
            } else {
                self.retail_names.get(index).map(String::as_str)
            }
        };
        let tier_position = |name: &str| {
            if corporate {
                CORPORATE_TIER_NAMES.iter().position(|n| *n == name)
            } else {
                self.retail_names.iter().position(|n| n == name)
            }
        };
        let prev_state = prev.and_then(|p| {
            Some(TierState {
                tier: tier_position(&p.tier)?,
                assigned_day: day_number(p.tier_since),
                below_since: p.tier_below_since.map(day_number),
            })
        });
        let state = apply_grace(prev_state, tier_index, self.end, self.opts.tier_grace_days);
        let name = tier_name(state.tier).map_or_else(String::new, str::to_owned);
        (name, state)
    }
}

/// What the fits over everybody give: the models and each customer's RFM scores.
struct Fitted {
    bgnbd: Option<BgNbdParams>,
    gg: Option<GammaGammaParams>,
    /// CLV in yuan per summary row.
    clv: Option<Vec<f64>>,
    rfm: Vec<Option<fincrm_analytics::rfm::RfmScore>>,
}

/// Fits BG/NBD and Gamma-Gamma, values every customer with activity and scores RFM. A model
/// that cannot be fitted leaves its outputs empty, with a warning.
fn fit(
    g: &Gathered,
    opts: &RunOptions,
    end: i32,
    warnings: &mut Vec<String>,
) -> Result<Fitted, RunError> {
    let bgnbd_fit = RfmData::new(&g.frequency, &g.recency, &g.age).and_then(|d| bgnbd::fit(&d));
    let bgnbd: Option<BgNbdParams> = match bgnbd_fit {
        Ok(f) => Some(f.params),
        Err(e) => {
            warnings.push(format!(
                "BG/NBD not fitted ({e}); P(alive), expected purchases and CLV are empty"
            ));
            None
        }
    };
    // Gamma-Gamma in yuan keeps the parameters in a comfortable range; CLV is converted back.
    let spend_yuan: Vec<f64> = g.monetary.iter().map(|m| m / 100.0).collect();
    let gg: Option<GammaGammaParams> =
        match SpendData::new(&g.frequency, &spend_yuan).and_then(|d| gamma_gamma::fit(&d)) {
            Ok(f) => Some(f.params),
            Err(e) => {
                warnings.push(format!("Gamma-Gamma not fitted ({e}); CLV is empty"));
                None
            }
        };
    let clv_config = ClvConfig::new(
        opts.clv_months,
        opts.monthly_discount_rate,
        opts.margin,
        TimeUnit::Week,
        MonthConvention::Lifetimes,
    );
    let clv: Option<Vec<f64>> = match (&bgnbd, &gg) {
        (Some(model), Some(gg)) => {
            // With q ≤ 1 the population's mean spend is infinite (heavy-tailed amounts), so a
            // customer without repeat purchases has no finite expected spend: their CLV is left
            // empty rather than made up.
            if gg.q <= 1.0 {
                warnings.push(format!(
                    "Gamma-Gamma q = {:.3} ≤ 1: spend is too heavy-tailed for a population mean; customers without repeat purchases get no CLV",
                    gg.q
                ));
            }
            let spend: Vec<f64> = g
                .frequency
                .iter()
                .zip(&spend_yuan)
                .map(|(&x, &m)| {
                    if x == 0 && gg.q <= 1.0 {
                        f64::NAN
                    } else {
                        gg.conditional_expected_average_profit(x, m)
                    }
                })
                .collect();
            match customer_lifetime_values(
                model,
                &g.frequency,
                &g.recency,
                &g.age,
                &spend,
                &clv_config,
            ) {
                Ok(v) => Some(v),
                Err(e) => {
                    warnings.push(format!("CLV not computed: {e}"));
                    None
                }
            }
        }
        _ => None,
    };
    let rfm = {
        let rows: Vec<usize> = (0..g.facts.len())
            .filter(|&i| g.summary_row[i].is_some())
            .collect();
        let recency: Vec<f64> = rows
            .iter()
            .map(|&i| f64::from(end - g.last_day[i].unwrap_or(end)))
            .collect();
        let frequency: Vec<f64> = rows
            .iter()
            .map(|&i| g.summary_row[i].map_or(0.0, |r| f64::from(g.frequency[r]) + 1.0))
            .collect();
        let monetary: Vec<f64> = rows.iter().map(|&i| g.total_spend[i]).collect();
        let scores = rfm_scores(&recency, &frequency, &monetary)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("RFM: {e}")))?;
        let mut by_customer = vec![None; g.facts.len()];
        for (k, &i) in rows.iter().enumerate() {
            by_customer[i] = Some(scores[k]);
        }
        by_customer
    };
    Ok(Fitted {
        bgnbd,
        gg,
        clv,
        rfm,
    })
}

/// Behavioural segments: k-means (k-means++ seeding, restarts, z-scored features) over
/// log(1+days since last purchase), log(1+purchase days), log(1+spend in yuan) and
/// log(1+AUM in yuan) of the customers with activity. Returns each customer's cluster (numbered
/// by spend, highest first) and, for the run's parameters, the centroids in feature units in
/// that order and a sampled silhouette score.
fn segment(
    g: &Gathered,
    end: i32,
    k: usize,
    warnings: &mut Vec<String>,
) -> (Vec<Option<u32>>, serde_json::Value) {
    use fincrm_analytics::kmeans::{KMeansConfig, kmeans, silhouette_score};
    const D: usize = 4;
    let rows: Vec<usize> = (0..g.facts.len())
        .filter(|&i| g.summary_row[i].is_some())
        .collect();
    let mut out = vec![None; g.facts.len()];
    if k == 0 || rows.len() < k * 10 {
        return (out, serde_json::Value::Null);
    }
    let mut data = Vec::with_capacity(rows.len() * D);
    for &i in &rows {
        let freq = g.summary_row[i].map_or(0.0, |r| f64::from(g.frequency[r]) + 1.0);
        data.push(f64::from(end - g.last_day[i].unwrap_or(end)).ln_1p());
        data.push(freq.ln_1p());
        data.push((g.total_spend[i] / 100.0).max(0.0).ln_1p());
        data.push((g.facts[i].aum_minor as f64 / 100.0).max(0.0).ln_1p());
    }
    let config = KMeansConfig {
        k,
        n_init: 3,
        max_iter: 100,
        // The restarts choose among local optima by the shape of the data, which 100k
        // customers show as well as a million; only the winner is refined on everybody (at 1M
        // customers three restarts on all of them were most of the fits phase).
        sample_size: Some(100_000),
        ..KMeansConfig::default()
    };
    match kmeans(&data, D, &config) {
        Ok(result) => {
            let (z, _, _) = fincrm_analytics::kmeans::standardize(&data, D);
            let silhouette = silhouette_score(&z, D, &result.labels, config.seed);
            let mut centroids: Vec<Vec<f64>> = result
                .centroids
                .chunks_exact(D)
                .map(|c| {
                    c.iter()
                        .zip(&result.means)
                        .zip(&result.std_devs)
                        .map(|((z, m), s)| z * s + m)
                        .collect()
                })
                .collect();
            // k-means numbers its clusters in no meaningful order, and a restart or a new
            // version numbers them afresh: named by spend, highest first (k1), a segment keeps
            // its name from night to night while the customers' behaviour keeps its shape.
            let mut by_spend: Vec<usize> = (0..centroids.len()).collect();
            by_spend.sort_by(|&a, &b| {
                centroids[b][2]
                    .total_cmp(&centroids[a][2])
                    .then_with(|| centroids[b][3].total_cmp(&centroids[a][3]))
            });
            let mut name_of = vec![0_u32; centroids.len()];
            for (rank, &cluster) in by_spend.iter().enumerate() {
                name_of[cluster] = u32::try_from(rank).unwrap_or(u32::MAX);
            }
            for (j, &i) in rows.iter().enumerate() {
                out[i] = Some(name_of[result.labels[j] as usize]);
            }
            centroids = by_spend.iter().map(|&c| centroids[c].clone()).collect();
            let info = serde_json::json!({
                "k": k,
                "features": ["ln(1+days since last purchase)", "ln(1+purchase days)", "ln(1+spend yuan)", "ln(1+AUM yuan)"],
                "centroids": centroids,
                "named": "k1, k2, … by the centroid's spend, highest first",
                "silhouette": silhouette,
                "iterations": result.iterations,
                "max_iterations": config.max_iter,
                "restarts_on_sample_of": result.sampled,
                "inertia_per_customer": result.inertia / result.labels.len().max(1) as f64,
            });
            (out, info)
        }
        Err(e) => {
            warnings.push(format!("segments not computed: {e}"));
            (out, serde_json::Value::Null)
        }
    }
}

/// Corporate tiers from the lowest: 一般 (general), 部门级 (department level), 公司级 (firm
/// level), the names the scores carry.
pub const CORPORATE_TIER_NAMES: [&str; 3] = ["一般", "部门级", "公司级"];

fn corporate_index(tier: CorporateTier) -> usize {
    match tier {
        CorporateTier::General => 0,
        CorporateTier::DepartmentLevel => 1,
        CorporateTier::FirmLevel => 2,
    }
}

/// The corporate value figures by customer, as the tier rules read them. A corporate without
/// figures is 一般: the rules have nothing to rank it higher on.
async fn corporate_inputs(
    store: &dyn Store,
) -> Result<HashMap<String, CorporateTierInput>, RunError> {
    Ok(store
        .analytics_corporate_values()
        .await?
        .into_iter()
        .map(|v| {
            let input = CorporateTierInput {
                avg_yearly_contribution_minor: v.avg_yearly_contribution_minor,
                departments_used: u32::try_from(v.departments_used).unwrap_or(0),
                forecast_growth_rate: v.contribution_growth_bp as f64 / 10_000.0,
                special_background: v.special_background != 0,
            };
            (v.customer_id, input)
        })
        .collect())
}

/// Yuan (a model output) to whole fen; `None` for values that are not finite or do not fit.
#[expect(
    clippy::cast_possible_truncation,
    reason = "bounds are checked just before"
)]
fn yuan_to_fen(yuan: f64) -> Option<i64> {
    let fen = (yuan * 100.0).round();
    (fen.is_finite() && fen.abs() < 9.0e18).then_some(fen as i64)
}

fn rules_error(e: crate::rules::RulesError) -> RunError {
    match e {
        crate::rules::RulesError::Store(s) => RunError::Store(s),
        other @ crate::rules::RulesError::Invalid { .. } => {
            RunError::Store(StoreError::Corrupt(other.to_string()))
        }
    }
}

fn stage_name(s: LifecycleStage) -> &'static str {
    match s {
        LifecycleStage::Prospect => "prospect",
        LifecycleStage::New => "new",
        LifecycleStage::Growing => "growing",
        LifecycleStage::Mature => "mature",
        LifecycleStage::Loyal => "loyal",
        LifecycleStage::Declining => "declining",
        LifecycleStage::Dormant => "dormant",
        LifecycleStage::Churned => "churned",
        LifecycleStage::WonBack => "won_back",
    }
}

fn stage_from_str(s: &str) -> Option<LifecycleStage> {
    [
        LifecycleStage::Prospect,
        LifecycleStage::New,
        LifecycleStage::Growing,
        LifecycleStage::Mature,
        LifecycleStage::Loyal,
        LifecycleStage::Declining,
        LifecycleStage::Dormant,
        LifecycleStage::Churned,
        LifecycleStage::WonBack,
    ]
    .into_iter()
    .find(|st| stage_name(*st) == s)
}
