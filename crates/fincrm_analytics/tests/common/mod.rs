//! Loading the shared reference data for the validation tests.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

use serde_json::Value;

pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

pub fn reference() -> Value {
    let text =
        std::fs::read_to_string(format!("{DATA}/reference/clv_reference.json")).expect("test data");
    serde_json::from_str(&text).expect("test data")
}

/// A value of the flat reference JSON: `key` is a top-level key, `path` the nested ones.
pub fn num(r: &Value, key: &str, path: &[&str]) -> f64 {
    let mut v = &r[key];
    for p in path {
        v = &v[*p];
    }
    v.as_f64()
        .unwrap_or_else(|| panic!("{key} {path:?} is not a number"))
}

pub fn assert_rel(actual: f64, expected: f64, tol: f64, what: &str) {
    let rel = (actual - expected).abs() / expected.abs().max(f64::MIN_POSITIVE);
    assert!(
        rel <= tol,
        "{what}: {actual} vs {expected} (relative error {rel:e} > {tol:e})"
    );
}

/// The CDNOW calibration summary file: (ID, x, tₓ, T) in weeks.
pub struct CdnowSummary {
    pub id: Vec<u64>,
    pub frequency: Vec<u32>,
    pub recency: Vec<f64>,
    pub age: Vec<f64>,
    pub monetary: Vec<f64>,
}

pub fn cdnow_summary() -> CdnowSummary {
    let mut s = CdnowSummary {
        id: vec![],
        frequency: vec![],
        recency: vec![],
        age: vec![],
        monetary: vec![],
    };
    let mut rdr = csv::Reader::from_path(format!(
        "{DATA}/cdnow_customers_summary_with_transactions.csv"
    ))
    .expect("test data");
    for rec in rdr.records() {
        let rec = rec.expect("test data");
        s.id.push(rec[0].parse().expect("test data"));
        s.frequency.push(rec[1].parse().expect("test data"));
        s.recency.push(rec[2].parse().expect("test data"));
        s.age.push(rec[3].parse().expect("test data"));
        s.monetary.push(rec[4].parse().expect("test data"));
    }
    s
}
