//! The transaction-log summary reproduces lifetimes' CDNOW calibration summary.

mod common;

use common::{DATA, assert_rel, cdnow_summary, num, reference};
use fincrm_analytics::summary::{
    SummaryConfig, TimeUnit, days_from_civil, summarize, summarize_sorted,
};

struct Log {
    customer: Vec<u32>,
    day: Vec<i32>,
    amount: Vec<f64>,
}

fn transactions() -> Log {
    let mut log = Log {
        customer: vec![],
        day: vec![],
        amount: vec![],
    };
    let mut rdr =
        csv::Reader::from_path(format!("{DATA}/cdnow_sample_transactions.csv")).expect("test data");
    for rec in rdr.records() {
        let rec = rec.expect("test data");
        let date: i32 = rec[2].parse().expect("test data");
        let (y, m, d) = (
            date / 10_000,
            u32::try_from(date / 100 % 100).expect("month"),
            u32::try_from(date % 100).expect("day"),
        );
        log.customer.push(rec[1].parse().expect("test data"));
        log.day.push(days_from_civil(y, m, d));
        log.amount.push(rec[4].parse().expect("test data"));
    }
    log
}

/// Rows of a two-decimal CSV column, as the strings lifetimes wrote.
fn column(file: &str, col: usize) -> Vec<String> {
    let mut rdr = csv::Reader::from_path(format!("{DATA}/{file}")).expect("test data");
    rdr.records()
        .map(|r| r.expect("test data")[col].to_string())
        .collect()
}

fn parse(v: &[String]) -> Vec<f64> {
    v.iter().map(|s| s.parse().expect("test data")).collect()
}

/// Rounds to 2 decimals as the CSV writer did.
fn round2(v: f64) -> f64 {
    format!("{v:.2}").parse().expect("number")
}

#[test]
#[expect(
    clippy::many_single_char_names,
    reason = "short names for the summary columns"
)]
fn summary_reproduces_the_cdnow_calibration_summary_exactly() {
    let log = transactions();
    let config = SummaryConfig {
        calibration_end: days_from_civil(1997, 9, 30),
        unit: TimeUnit::Week,
    };
    let s = summarize(&log.customer, &log.day, &log.amount, &config).expect("test data");
    let ids: Vec<u64> = column("cdnow_customers_summary.csv", 0)
        .iter()
        .map(|v| v.parse().expect("test data"))
        .collect();
    assert_eq!(s.customer, ids);
    let freq: Vec<u32> = column("cdnow_customers_summary.csv", 1)
        .iter()
        .map(|v| v.parse().expect("test data"))
        .collect();
    assert_eq!(s.frequency, freq);
    let rec = parse(&column("cdnow_customers_summary.csv", 2));
    let age = parse(&column("cdnow_customers_summary.csv", 3));
    let zbar = parse(&column("cdnow_customers_summary_with_transactions.csv", 4));
    for i in 0..s.len() {
        // The files hold values rounded to 2 decimals.
        assert!(
            (s.recency[i] - rec[i]).abs() <= 0.005 + 1e-9,
            "recency of {}",
            ids[i]
        );
        assert!((s.age[i] - age[i]).abs() <= 0.005 + 1e-9, "T of {}", ids[i]);
        assert!(
            (s.monetary[i] - zbar[i]).abs() <= 0.005 + 1e-9,
            "zbar of {}",
            ids[i]
        );
        assert!(
            (round2(s.recency[i]) - rec[i]).abs() < 1e-9,
            "recency of {}",
            ids[i]
        );
        assert!((round2(s.age[i]) - age[i]).abs() < 1e-9, "T of {}", ids[i]);
    }
    let r = reference();
    let total: f64 = s.frequency.iter().map(|&x| f64::from(x)).sum();
    assert_rel(
        total,
        num(&r, "cdnow_summary.sum_frequency", &[]),
        0.0,
        "sum of x",
    );
    assert_rel(
        s.len() as f64,
        num(&r, "cdnow_summary.n_customers", &[]),
        0.0,
        "customers",
    );
    let zeros = s.frequency.iter().filter(|&&x| x == 0).count();
    assert_rel(
        zeros as f64,
        num(&r, "cdnow_summary.n_zero_repeat", &[]),
        0.0,
        "x = 0",
    );
    // The with-transactions file carries the same (x, tₓ, T) and zbar.
    let file = cdnow_summary();
    assert_eq!(file.frequency, s.frequency);
    for i in 0..s.len() {
        assert!((s.monetary[i] - file.monetary[i]).abs() <= 0.005 + 1e-9);
    }

    // The streaming summary of the same rows sorted by (customer, day) is identical.
    let mut order: Vec<usize> = (0..log.customer.len()).collect();
    order.sort_by_key(|&i| (log.customer[i], log.day[i]));
    let c: Vec<u64> = order.iter().map(|&i| u64::from(log.customer[i])).collect();
    let d: Vec<i32> = order.iter().map(|&i| log.day[i]).collect();
    let a: Vec<f64> = order.iter().map(|&i| log.amount[i]).collect();
    assert_eq!(summarize_sorted(&c, &d, &a, &config).expect("test data"), s);
}
