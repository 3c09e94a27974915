//! Logs never contain personal information: runs the real binary through demo, import (with a
//! reject file), analytics, audit and `serve` answering searches by ID number and phone,
//! reveals, a personal-information copy and a new customer, all at the most verbose log level,
//! and searches everything it wrote to stderr and stdout for the ID numbers and phone numbers.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

mod common;

use common::{free_port, http, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    // A customer created through the API: its numbers must not be logged either.
    secrets.extend(["330106199001014561".to_owned(), "13800138000".to_owned()]);
    logs += &serve_and_use_personal_information(dir.path(), &db, &secrets);
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

/// Serves the bank at trace level and makes the API handle personal information: searches by
/// ID number and phone, reveals, a copy, a new customer. Returns everything the server logged.
fn serve_and_use_personal_information(dir: &Path, db: &str, secrets: &[String]) -> String {
    let token = fincrm(
        db,
        &[
            "tokens",
            "create",
            "--user",
            "AD0001",
            "--name",
            "leak-test",
            "--scopes",
            "customers:read,customers:write,admin",
            "--days",
            "1",
        ],
    );
    let token = token
        .lines()
        .find(|l| l.starts_with("fcrm_"))
        .unwrap()
        .to_owned();
    let log_path = dir.join("serve.log");
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_fincrm"))
        .args([
            "--database",
            db,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("FINCRM_LOG", "trace")
        .stdout(std::fs::File::create(dir.join("serve.out")).unwrap())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while http(port, "GET", "/health", &token, "").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut found = 0;
    for secret in secrets.iter().take(40) {
        let (status, body) = http(
            port,
            "GET",
            &format!("/api/v1/customers?q={secret}"),
            &token,
            "",
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let items = json(&body)["items"].as_array().unwrap().clone();
        for c in items {
            found += 1;
            let id = c["id"].as_str().unwrap();
            for field in ["id_number", "phone"] {
                let reveal = format!(r#"{{"field":"{field}","reason":"log leak test, verified"}}"#);
                let path = format!("/api/v1/customers/{id}/reveal");
                assert_eq!(http(port, "POST", &path, &token, &reveal).unwrap().0, 200);
            }
            let path = format!("/api/v1/customers/{id}/export");
            let copy = r#"{"reason":"log leak test, verified"}"#;
            assert_eq!(http(port, "POST", &path, &token, copy).unwrap().0, 200);
        }
    }
    assert!(
        found > 10,
        "the searches found customers to reveal ({found})"
    );
    let new = r#"{"kind":"individual","name":"泄露测试","id_type":"resident_id","id_number":"330106199001014561","phone":"13800138000","branch_id":"HO"}"#;
    let (status, body) = http(port, "POST", "/api/v1/customers", &token, new).unwrap();
    assert_eq!(status, 201, "{body}");
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .stdout(Stdio::null())
        .status();
    assert!(server.wait().unwrap().success());
    std::fs::read_to_string(&log_path).unwrap()
        + &std::fs::read_to_string(dir.join("serve.out")).unwrap()
}
