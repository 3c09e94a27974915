//! SIGTERM with writes in flight: `fincrm serve` stops accepting, finishes what it accepted,
//! exits 0, and every write it acknowledged is in the database with its audit record (no
//! acknowledged write lost, the audit chain intact).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

mod common;

use common::{free_port, http, json};
use fincrm_store::{AuditStore as _, Store as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fincrm(db: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fincrm"));
    cmd.args(["--database", db]).env("FINCRM_LOG", "warn");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_accepted_writes_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shutdown.db");
    let db = format!("sqlite://{}", path.display());
    let status = fincrm(&db)
        .args(["demo", "--customers", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let out = fincrm(&db)
        .args([
            "tokens",
            "create",
            "--user",
            "AD0001",
            "--name",
            "shutdown-test",
        ])
        .args(["--scopes", "customers:read,customers:write", "--days", "1"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let port = free_port();
    let mut server = fincrm(&db)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let customer = loop {
        if let Some((200, body)) = http(port, "GET", "/api/v1/customers?limit=1", &token, "") {
            break json(&body)["items"][0]["id"].as_str().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    let writers: Vec<_> = (0..48)
        .map(|i| {
            let token = token.clone();
            let path = format!("/api/v1/customers/{customer}/interactions");
            std::thread::spawn(move || {
                let body = format!(r#"{{"channel":"phone","kind":"回访","content":"call {i}"}}"#);
                http(port, "POST", &path, &token, &body)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let term = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let mut acknowledged = Vec::new();
    for w in writers {
        match w.join().unwrap() {
            Some((201, body)) => {
                acknowledged.push(json(&body)["id"].as_str().unwrap().to_owned());
            }
            // Refused or cut before acceptance: never acknowledged, so nothing to lose.
            None => {}
            Some((status, body)) => panic!("unexpected {status}: {body}"),
        }
    }
    let exit = server.wait().unwrap();
    assert!(exit.success(), "serve exits cleanly on SIGTERM: {exit:?}");
    assert!(!acknowledged.is_empty(), "some writes were in flight");

    let store = fincrm_store_sqlite::SqliteStore::open(&path).await.unwrap();
    let stored: Vec<String> = store
        .interactions_of(&customer.parse().unwrap(), 10_000)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id.as_str().to_owned())
        .collect();
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged write {id} was lost");
    }
    let audited = store
        .records(1, 100_000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.entry.action == "interaction.create")
        .count();
    assert!(audited >= acknowledged.len());
    let chain = fincrm_store::audit::verify(&store, None, 1000)
        .await
        .unwrap();
    assert!(chain.is_ok(), "{chain:?}");
}
