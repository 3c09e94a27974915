//! Logs never contain personal information: runs the real binary through demo, import (with a
//! reject file), analytics and audit at the most verbose log level, and searches everything it
//! wrote to stderr and stdout for the demo bank's ID numbers and phone numbers.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use std::path::Path;
use std::process::Command;

fn fincrm(db: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fincrm"))
        .args(["--database", db])
        .args(args)
        .env("FINCRM_LOG", "trace")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fincrm {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn column(path: &Path, name: &str) -> Vec<String> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let i = r.headers().unwrap().iter().position(|h| h == name).unwrap();
    r.records()
        .map(|rec| rec.unwrap()[i].to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

#[test]
fn no_id_number_or_phone_appears_in_any_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv_dir = dir.path().join("csv");
    let db = format!("sqlite://{}", dir.path().join("leak.db").display());
    let mut logs = String::new();
    logs += &fincrm(
        &db,
        &[
            "demo",
            "--customers",
            "300",
            "--out",
            csv_dir.to_str().unwrap(),
        ],
    );

    // One customer with a broken ID number and one with a broken phone, so rejects are logged too.
    let customers = csv_dir.join("customers.csv");
    let mut text = std::fs::read_to_string(&customers).unwrap();
    text.push_str("PX1,individual,坏数据,,resident_id,110105199801139235,,,,,,,,,,active,,,,,,\n");
    text.push_str(
        "PX2,individual,坏电话,,resident_id,110105199801139234,,,12345,,,,,,,active,,,,,,\n",
    );
    std::fs::write(&customers, text).unwrap();

    let report = dir.path().join("report");
    logs += &fincrm(
        &db,
        &[
            "import",
            csv_dir.to_str().unwrap(),
            "--report-dir",
            report.to_str().unwrap(),
        ],
    );
    logs += &fincrm(
        &db,
        &[
            "import",
            csv_dir.to_str().unwrap(),
            "--report-dir",
            report.to_str().unwrap(),
            "--json",
        ],
    );
    logs += &fincrm(&db, &["analytics", "run", "--as-of", "2026-10-31"]);
    logs += &fincrm(&db, &["audit", "verify"]);

    let mut secrets = column(&customers, "id_number");
    secrets.extend(column(&customers, "phone"));
    secrets.retain(|s| s.len() >= 11);
    assert!(
        secrets.len() > 300,
        "the demo bank has ID numbers and phones to look for"
    );
    assert!(
        logs.len() > 10_000,
        "trace logging produced output to search"
    );
    for s in &secrets {
        assert!(
            !logs.contains(s.as_str()),
            "a log line contains personal information ({} characters)",
            s.len()
        );
    }
    // The reject file names the problem without repeating the value.
    let rejects = std::fs::read_to_string(report.join("customers.csv.rejects.csv")).unwrap();
    assert!(
        rejects.contains("check digit") && !rejects.contains("110105199801139235"),
        "{rejects}"
    );
}
