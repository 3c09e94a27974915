//! The transaction-log summary reproduces lifetimes' CDNOW calibration summary.

mod common;

use common::DATA;
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
        csv::Reader::from_path(format!("{DATA}/cdnow_sample_transactions.csv")).unwrap();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let date: i32 = rec[2].parse().unwrap();
        let (y, m, d) = (date / 10_000, (date / 100 % 100) as u32, (date % 100) as u32);
        log.customer.push(rec[1].parse().unwrap());
        log.day.push(days_from_civil(y, m, d));
        log.amount.push(rec[4].parse().unwrap());
    }
    log
}

/// Rows of a two-decimal CSV column, as the strings lifetimes wrote.
fn column(file: &str, col: usize) -> Vec<String> {
    let mut rdr = csv::Reader::from_path(format!("{DATA}/{file}")).unwrap();
    rdr.records().map(|r| r.unwrap()[col].to_string()).collect()
}

fn parse(v: &[String]) -> Vec<f64> {
    v.iter().map(|s| s.parse().unwrap()).collect()
}

#[test]
fn summary_reproduces_the_cdnow_calibration_summary_exactly() {
    let log = transactions();
    let config = SummaryConfig {
        calibration_end: days_from_civil(1997, 9, 30),
        unit: TimeUnit::Week,
    };
    let s = summarize(&log.customer, &log.day, &log.amount, &config).unwrap();
    let ids: Vec<u64> = column("cdnow_customers_summary.csv", 0)
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(s.customer, ids);
    let freq: Vec<u32> = column("cdnow_customers_summary.csv", 1)
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(s.frequency, freq);
    let rec = parse(&column("cdnow_customers_summary.csv", 2));
    let age = parse(&column("cdnow_customers_summary.csv", 3));
    let zbar = parse(&column("cdnow_customers_summary_with_transactions.csv", 4));
    for i in 0..s.len() {
        // The files hold values rounded to 2 decimals.
        assert!((s.recency[i] - rec[i]).abs() <= 0.005 + 1e-9, "recency of {}", ids[i]);
        assert!((s.age[i] - age[i]).abs() <= 0.005 + 1e-9, "T of {}", ids[i]);
        assert!((s.monetary[i] - zbar[i]).abs() <= 0.005 + 1e-9, "zbar of {}", ids[i]);
        assert_eq!((s.recency[i] * 100.0).round() / 100.0, rec[i], "recency of {}", ids[i]);
        assert_eq!((s.age[i] * 100.0).round() / 100.0, age[i], "T of {}", ids[i]);
    }
    assert_eq!(s.frequency.iter().map(|&x| u64::from(x)).sum::<u64>(), 2457);

    // The streaming summary of the same rows sorted by (customer, day) is identical.
    let mut order: Vec<usize> = (0..log.customer.len()).collect();
    order.sort_by_key(|&i| (log.customer[i], log.day[i]));
    let c: Vec<u64> = order.iter().map(|&i| u64::from(log.customer[i])).collect();
    let d: Vec<i32> = order.iter().map(|&i| log.day[i]).collect();
    let a: Vec<f64> = order.iter().map(|&i| log.amount[i]).collect();
    assert_eq!(summarize_sorted(&c, &d, &a, &config).unwrap(), s);
}
