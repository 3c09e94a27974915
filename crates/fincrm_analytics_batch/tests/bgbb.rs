//! BG/BB through `fit`: a transaction log built from the donations patterns (lifetimes'
//! `donations.csv`, 11,104 donors observed for 6 periods) must give the reference fit.

use std::fmt::Write as _;

use chrono::NaiveDate;
use fincrm_analytics_batch::{FitArgs, Model, Period, fit};
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

#[test]
fn donations_as_a_daily_log_reproduce_the_reference_bgbb_fit() {
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{DATA}/reference/clv_reference.json")).expect("data"),
    )
    .expect("json");
    let mut csv = String::from("donor,day\n");
    let mut rdr = csv::Reader::from_path(format!("{DATA}/donations.csv")).expect("data");
    let mut donor = 0_u32;
    for rec in rdr.records() {
        let rec = rec.expect("row");
        let x: u32 = rec[0].parse().expect("x");
        let tx: u32 = rec[1].parse().expect("t_x");
        assert_eq!(&rec[2], "6");
        let w: u32 = rec[3].parse().expect("weight");
        for _ in 0..w {
            donor += 1;
            // Acquisition on day 1 (2000-01-01); repeat days: x of 1..=t_x, ending at t_x.
            writeln!(csv, "d{donor},2000-01-01").expect("write");
            for k in (tx + 1 - x)..=tx {
                writeln!(csv, "d{donor},2000-01-{:02}", 1 + k).expect("write");
            }
        }
    }
    assert_eq!(donor, 11_104);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("donations_log.csv");
    std::fs::write(&path, csv).expect("write");
    let mut args = FitArgs::new(&path, NaiveDate::from_ymd_opt(2000, 1, 7).expect("date"));
    args.customer_col = "donor".to_owned();
    args.date_col = "day".to_owned();
    args.period = Period::Day;
    args.model = Model::BgBb;
    args.predict = Some(5.0);
    args.out = Some(dir.path().join("out.csv"));
    let report = fit(&args).expect("fit");
    assert_eq!(report.customers, 11_104);
    for (k, v) in &report.params {
        let want = r["bgbb.tight.params"][k].as_f64().expect("num");
        assert!((v - want).abs() / want < 1e-5, "{k}: {v} vs {want}");
    }
    let want = r["bgbb.tight.loglik"].as_f64().expect("num");
    assert!(
        (report.loglik - want).abs() / want.abs() < 1e-8,
        "{}",
        report.loglik
    );
    // A 5-period prediction is wanted as a whole number of periods.
    args.predict = Some(2.5);
    assert!(fit(&args).is_err());
}
