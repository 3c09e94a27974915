//! Bad input gives a typed error with a useful message, never a panic.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use fincrm_analytics_batch::{FitArgs, FitError, Model, fit};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn args(path: &Path) -> FitArgs {
    let mut a = FitArgs::new(path, NaiveDate::from_ymd_opt(2024, 6, 30).expect("date"));
    a.amount_col = Some("amount".to_owned());
    a
}

const GOOD: &str = "customer_id,date,amount\na,2024-01-01,10\na,2024-02-01,12.5\nb,2024-01-03,7\n";

#[test]
fn a_missing_file_is_named() {
    let e = fit(&args(Path::new("/nonexistent/tx.csv"))).expect_err("error");
    assert!(matches!(e, FitError::Open { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/tx.csv"), "{e}");
}

#[test]
fn a_missing_column_is_named_with_the_header() {
    let dir = tempfile::tempdir().expect("dir");
    let p = write(dir.path(), "t.csv", GOOD);
    let mut a = args(&p);
    a.date_col = "posted_at".to_owned();
    let e = fit(&a).expect_err("error");
    assert!(matches!(e, FitError::MissingColumn { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("`posted_at`") && msg.contains("customer_id, date, amount"),
        "{msg}"
    );
}

#[test]
fn an_unparsable_date_gives_its_line_and_value() {
    let dir = tempfile::tempdir().expect("dir");
    let p = write(dir.path(), "t.csv", &format!("{GOOD}c,2024-13-01,5\n"));
    let e = fit(&args(&p)).expect_err("error");
    assert!(matches!(e, FitError::BadDate { line: 5, .. }), "{e:?}");
    assert!(e.to_string().contains("2024-13-01"), "{e}");
    // An explicit format is used as given.
    let p = write(
        dir.path(),
        "u.csv",
        "customer_id,date,amount\na,01/02/2024,1\n",
    );
    let mut a = args(&p);
    a.date_format = Some("%Y-%m-%d".to_owned());
    assert!(matches!(fit(&a), Err(FitError::BadDate { line: 2, .. })));
    a.date_format = Some("%d/%m/%Y".to_owned());
    a.model = Model::BgNbd;
    // Parses, but one customer without repeats cannot identify BG/NBD.
    assert!(!matches!(fit(&a), Err(FitError::BadDate { .. })));
}

#[test]
fn bad_and_negative_amounts_give_their_line() {
    let dir = tempfile::tempdir().expect("dir");
    let p = write(dir.path(), "t.csv", &format!("{GOOD}c,2024-01-05,abc\n"));
    let e = fit(&args(&p)).expect_err("error");
    assert!(matches!(e, FitError::BadAmount { line: 5, .. }), "{e:?}");
    let p = write(dir.path(), "u.csv", &format!("{GOOD}c,2024-01-05,-3.5\n"));
    let e = fit(&args(&p)).expect_err("error");
    assert!(matches!(e, FitError::BadAmount { line: 5, .. }), "{e:?}");
    assert!(e.to_string().contains("negative"), "{e}");
}

#[test]
fn ragged_rows_and_empty_ids_are_reported() {
    let dir = tempfile::tempdir().expect("dir");
    let p = write(dir.path(), "t.csv", &format!("{GOOD}c,2024-01-05\n"));
    let e = fit(&args(&p)).expect_err("error");
    assert!(matches!(e, FitError::Read { line: 5, .. }), "{e:?}");
    let p = write(dir.path(), "u.csv", &format!("{GOOD} ,2024-01-05,1\n"));
    let e = fit(&args(&p)).expect_err("error");
    assert!(
        matches!(e, FitError::EmptyCustomerId { line: 5, .. }),
        "{e:?}"
    );
}

#[test]
fn no_customer_before_the_calibration_end() {
    let dir = tempfile::tempdir().expect("dir");
    let p = write(dir.path(), "t.csv", GOOD);
    let mut a = args(&p);
    a.calibration_end = NaiveDate::from_ymd_opt(2023, 12, 31).expect("date");
    let e = fit(&a).expect_err("error");
    assert!(matches!(e, FitError::NoCustomers { rows: 3, .. }), "{e:?}");
    assert!(e.to_string().contains("2024-01-01"), "{e}");
    let p = write(dir.path(), "empty.csv", "customer_id,date,amount\n");
    assert!(matches!(
        fit(&args(&p)),
        Err(FitError::NoCustomers { rows: 0, .. })
    ));
}

#[test]
fn invalid_arguments() {
    let dir = tempfile::tempdir().expect("dir");
    let p = write(dir.path(), "t.csv", GOOD);
    let mut a = args(&p);
    a.model = Model::GammaGamma;
    a.amount_col = None;
    assert!(matches!(
        fit(&a),
        Err(FitError::InvalidArgument {
            name: "amount-col",
            ..
        })
    ));
    let mut a = args(&p);
    a.predict = Some(-1.0);
    assert!(matches!(
        fit(&a),
        Err(FitError::InvalidArgument {
            name: "predict",
            ..
        })
    ));
    let mut a = args(&p);
    a.model = Model::BgBb;
    a.predict = Some(1.5);
    assert!(matches!(
        fit(&a),
        Err(FitError::InvalidArgument {
            name: "predict",
            ..
        })
    ));
}

#[test]
fn unfittable_data_is_an_error_not_a_result() {
    let dir = tempfile::tempdir().expect("dir");
    // Nobody buys twice: Gamma-Gamma has no repeat buyer.
    let p = write(
        dir.path(),
        "t.csv",
        "customer_id,date,amount\na,2024-01-01,1\nb,2024-01-02,2\nc,2024-03-01,3\n",
    );
    let mut a = args(&p);
    a.model = Model::GammaGamma;
    let e = fit(&a).expect_err("error");
    assert!(
        matches!(e, FitError::Unfittable { model: "gg", .. }),
        "{e:?}"
    );
    // BG/NBD cannot find a maximum without any repeat purchase (the MLE is at r → 0).
    a.model = Model::BgNbd;
    let e = fit(&a).expect_err("error");
    assert!(
        matches!(e, FitError::Unfittable { model: "bgnbd", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("bgnbd"), "{e}");
}

#[test]
fn a_small_fit_writes_every_customer() {
    // The first 500 CDNOW customers, with their ids kept as strings ("0001").
    let all = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/cdnow_sample_transactions.csv"
    ))
    .expect("data");
    let text: String = all
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || l.split(',').nth(1).is_some_and(|c| c <= "0500"))
        .fold(String::new(), |mut acc, (_, l)| {
            acc.push_str(l);
            acc.push('\n');
            acc
        });
    let dir = tempfile::tempdir().expect("dir");
    let p = write(dir.path(), "t.csv", &text);
    let mut a = args(&p);
    a.amount_col = Some("dollars".to_owned());
    a.calibration_end = NaiveDate::from_ymd_opt(1997, 9, 30).expect("date");
    a.out = Some(dir.path().join("out.csv"));
    let report = fit(&a).expect("fit");
    assert_eq!(report.customers, 500);
    assert!(report.gamma_gamma.is_some() && report.clv_total.is_some());
    let out = std::fs::read_to_string(dir.path().join("out.csv")).expect("out");
    assert_eq!(out.lines().count(), 501);
    let first = out.lines().nth(1).expect("row");
    assert!(
        first.starts_with("0001,2,30.428571428571427,38.857142857142854,22.345,"),
        "{first}"
    );
    assert_eq!(first.split(',').count(), 8);
    // Without amounts the CLV column is empty.
    a.amount_col = None;
    fit(&a).expect("fit");
    let out = std::fs::read_to_string(dir.path().join("out.csv")).expect("out");
    let first = out.lines().nth(1).expect("row");
    assert!(first.ends_with(',') && first.contains(",0,"), "{first}");
}
