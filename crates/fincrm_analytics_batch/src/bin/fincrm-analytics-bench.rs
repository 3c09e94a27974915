//! End-to-end analytics benchmark from a transaction CSV (used by `bench/analytics/run.sh`).
//!
//! ```text
//! fincrm-analytics-bench clv|rfm|kmeans|all FILE CALIBRATION_END [CUSTOMER_COL DATE_COL AMOUNT_COL]
//! ```
//! `clv`: read → summary (weeks) → BG/NBD fit → Gamma-Gamma fit → 12-month CLV at 1 %/month.
//! `rfm`: read → per-customer recency (days since last purchase), count of rows and total
//! amount → quintile scores 1..=5 (`rank(method="first")` + `qcut`, see `fincrm_analytics::rfm`).
//! `kmeans`: read → the same three aggregates as `ln(1 + x)` features → z-scores → k-means
//! (k = 8, one k-means++ start, up to 300 iterations, tolerance 1e-4: scikit-learn's defaults).
//! Prints one JSON object: wall seconds per step, peak RSS (`VmHWM`), sizes and fitted values.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Instant;

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use fincrm_analytics::clv::{ClvConfig, MonthConvention, customer_lifetime_values};
use fincrm_analytics::kmeans::{KMeansConfig, kmeans};
use fincrm_analytics::rfm;
use fincrm_analytics::summary::{SummaryConfig, TimeUnit, summarize};
use fincrm_analytics_batch::read::{ReadOptions, day_number, read_transactions};
use fincrm_analytics_batch::{fit_bgnbd, fit_gamma_gamma};
use serde_json::{Value, json};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct Steps {
    start: Instant,
    last: Instant,
    secs: BTreeMap<String, Value>,
    order: Vec<String>,
}

impl Steps {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            start: now,
            last: now,
            secs: BTreeMap::new(),
            order: Vec::new(),
        }
    }

    fn lap(&mut self, name: &str) {
        let now = Instant::now();
        let s = (now - self.last).as_secs_f64();
        self.last = now;
        self.secs.insert(name.to_owned(), json!(s));
        self.order.push(name.to_owned());
        eprintln!(
            "  {name:<12} {s:>8.3} s   peak RSS {:>7.1} MiB",
            peak_rss_mib()
        );
    }
}

/// Per customer: days from the last purchase to `end`, number of rows and total amount.
fn rfm_aggregates(
    tx: &fincrm_analytics_batch::read::Transactions,
    end: i32,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = tx.customer_ids.len();
    let mut last = vec![i32::MIN; n];
    let mut count = vec![0.0_f64; n];
    let mut total = vec![0.0_f64; n];
    for ((&c, &d), &a) in tx.customer.iter().zip(&tx.day).zip(&tx.amount) {
        let c = c as usize;
        last[c] = last[c].max(d);
        count[c] += 1.0;
        total[c] += a;
    }
    let recency = last.iter().map(|&d| f64::from(end - d)).collect();
    (recency, count, total)
}

/// k-means on `ln(1 + x)` of the three aggregates, with scikit-learn's defaults.
fn kmeans_step(
    recency: &[f64],
    count: &[f64],
    total: &[f64],
    steps: &mut Steps,
    out: &mut serde_json::Map<String, Value>,
) -> anyhow::Result<()> {
    let features: Vec<f64> = recency
        .iter()
        .zip(count)
        .zip(total)
        .flat_map(|((r, c), t)| [r.ln_1p(), c.ln_1p(), t.max(0.0).ln_1p()])
        .collect();
    steps.lap("features");
    let config = KMeansConfig {
        k: 8,
        n_init: 1,
        max_iter: 300,
        tol: 1e-4,
        seed: 42,
        // Every point in every iteration, as scikit-learn does: the comparison is of the same
        // algorithm.
        sample_size: None,
    };
    let fitted = kmeans(&features, 3, &config)?;
    steps.lap("kmeans_fit");
    let mut sizes = vec![0_usize; config.k];
    for &l in &fitted.labels {
        sizes[l as usize] += 1;
    }
    sizes.sort_unstable();
    out.insert("kmeans_iterations".into(), json!(fitted.iterations));
    out.insert(
        "kmeans_inertia_per_point".into(),
        json!(fitted.inertia / fitted.labels.len() as f64),
    );
    out.insert("kmeans_sizes".into(), json!(sizes));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        bail!(
            "usage: fincrm-analytics-bench clv|rfm|kmeans|all FILE CALIBRATION_END [CUSTOMER_COL DATE_COL AMOUNT_COL]"
        );
    }
    let mode = args[0].as_str();
    if !matches!(mode, "clv" | "rfm" | "kmeans" | "all") {
        bail!("unknown mode `{mode}` (clv, rfm, kmeans or all)");
    }
    let path = std::path::Path::new(&args[1]);
    let end_date = NaiveDate::parse_from_str(&args[2], "%Y-%m-%d")
        .with_context(|| format!("calibration end `{}`", args[2]))?;
    let col = |i: usize, d: &'static str| args.get(i).map_or(d, String::as_str);
    let end = day_number(end_date);
    let mut steps = Steps::new();
    let mut out = serde_json::Map::new();

    let tx = read_transactions(
        path,
        &ReadOptions {
            customer_col: col(3, "customer_id"),
            date_col: col(4, "date"),
            amount_col: Some(col(5, "amount")),
            date_format: None,
            last_day: Some(end),
        },
    )?;
    steps.lap("read_csv");
    out.insert("rows".into(), json!(tx.rows_read));
    out.insert("customers".into(), json!(tx.customer_ids.len()));

    if matches!(mode, "clv" | "all") {
        let cfg = SummaryConfig {
            calibration_end: end,
            unit: TimeUnit::Week,
        };
        let s = summarize(&tx.customer, &tx.day, &tx.amount, &cfg)?;
        steps.lap("summary");
        let (bg, bg_fit) = fit_bgnbd(&s)?;
        steps.lap("bgnbd_fit");
        let (gg, gg_fit, _) = fit_gamma_gamma(&s)?;
        steps.lap("gg_fit");
        let spend: Vec<f64> = s
            .frequency
            .iter()
            .zip(&s.monetary)
            .map(|(&x, &m)| gg.conditional_expected_average_profit(x, m))
            .collect();
        let clv_cfg = ClvConfig::new(12, 0.01, 1.0, TimeUnit::Week, MonthConvention::Lifetimes);
        let clv =
            customer_lifetime_values(&bg, &s.frequency, &s.recency, &s.age, &spend, &clv_cfg)?;
        steps.lap("clv");
        out.insert("bgnbd".into(), json!(bg_fit.params));
        out.insert("bgnbd_loglik".into(), json!(bg_fit.loglik));
        out.insert("gg".into(), json!(gg_fit.params));
        out.insert("clv_sum".into(), json!(clv.iter().sum::<f64>()));
    }

    if matches!(mode, "rfm" | "kmeans" | "all") {
        let (recency, count, total) = rfm_aggregates(&tx, end);
        steps.lap("rfm_agg");
        if matches!(mode, "rfm" | "all") {
            let scores = rfm::rfm_scores(&recency, &count, &total)?;
            steps.lap("rfm_scores");
            let mut champions = 0_usize;
            let mut r5 = 0_usize;
            for sc in &scores {
                if sc.segment() == rfm::RfmSegment::Champions {
                    champions += 1;
                }
                if sc.r == 5 {
                    r5 += 1;
                }
            }
            out.insert("rfm_champions".into(), json!(champions));
            out.insert("rfm_r5".into(), json!(r5));
        }
        if matches!(mode, "kmeans" | "all") {
            kmeans_step(&recency, &count, &total, &mut steps, &mut out)?;
        }
    }

    out.insert("mode".into(), json!(mode));
    out.insert("steps".into(), json!(steps.order));
    out.insert(
        "secs".into(),
        Value::Object(steps.secs.into_iter().collect()),
    );
    out.insert(
        "total_secs".into(),
        json!(steps.start.elapsed().as_secs_f64()),
    );
    out.insert("peak_rss_mib".into(), json!(peak_rss_mib()));
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", Value::Object(out))?;
    Ok(())
}
