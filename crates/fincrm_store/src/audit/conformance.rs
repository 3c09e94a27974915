//! The audit-log story every adapter must pass: the same entries give the same records (and
//! hashes) on both engines, the database refuses `UPDATE` and `DELETE`, and every kind of
//! tampering by someone who can get past that wall is reported at the right seq.
//!
//! Each function wants a fresh, migrated store; the tampering cases also a [`RawSql`] session on
//! the same database, playing an attacker with DBA rights.

use super::{AuditEntry, AuditRecord, AuditStore, BreakKind, ChainBreak, Checkpoint, verify};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

/// A direct session on the adapter's database, bypassing the store.
#[async_trait]
pub trait RawSql: Send + Sync {
    /// Runs one statement; the error as text.
    async fn execute(&self, sql: &str) -> Result<u64, String>;
    /// Removes the append-only triggers (dropping or disabling them), as a DBA could.
    async fn drop_guards(&self) -> Result<(), String>;
}

fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(1_740_816_000 + secs, nanos)
        .single()
        .expect("valid instant")
}

/// Ten entries with fixed timestamps, covering every optional field, non-ASCII text, CR/LF and
/// JSON images. The first timestamp carries nanoseconds, which are truncated to microseconds.
pub fn sample_entries() -> Vec<AuditEntry> {
    let mut out = Vec::new();
    let mut login = AuditEntry::new(at(0, 0), "RM1228", "session.login", "staff", "RM1228")
        .client_addr("10.1.2.3");
    login.recorded_at = at(0, 123_456_789);
    out.push(login);
    for i in 1..=9_i64 {
        let mut e = AuditEntry::new(
            at(i * 61, u32::try_from(i).unwrap_or(0) * 1_000),
            "RM1228",
            "customer.update",
            "customer",
            format!("C{i:04}"),
        )
        .customer(format!("C{i:04}"))
        .before(format!(
            r#"{{"address":"杭州市西湖区{i}号","tags":["vip"]}}"#
        ))
        .after(format!(
            r#"{{"address":"杭州市滨江区{i}号\n2单元","tags":[]}}"#
        ));
        if i % 3 == 0 {
            "customer.reveal".clone_into(&mut e.action);
            e.before_json = None;
            e.after_json = None;
            e.reason = Some(format!("客户来电核实身份 #{i}\r\n(工单 {i})"));
        }
        if i % 2 == 0 {
            e.client_addr = Some("[2001:db8::7]:443".to_owned());
        }
        out.push(e);
    }
    out
}

/// The records [`sample_entries`] must become in an empty log, computed without a database.
pub fn expected_sample_chain() -> Vec<AuditRecord> {
    AuditRecord::chain_after(None, sample_entries())
}

async fn all_records(store: &dyn AuditStore) -> Vec<AuditRecord> {
    store
        .records(i64::MIN, i64::MAX)
        .await
        .expect("read the log")
}

/// Appends, reads back and verifies: the stored records are exactly the ones the domain
/// computes, so both engines agree hash for hash.
pub async fn append_read_and_verify(store: &dyn AuditStore) {
    assert_eq!(
        store.head().await.expect("head"),
        None,
        "a fresh log is empty"
    );
    let empty = verify(store, None, 3)
        .await
        .expect("verify")
        .expect("empty chain is intact");
    assert_eq!((empty.records, empty.head_seq), (0, 0));

    let expected = expected_sample_chain();
    let entries = sample_entries();
    let first = store.append(&entries[..4]).await.expect("append 4");
    let rest = store.append(&entries[4..]).await.expect("append 6");
    assert_eq!(
        [first, rest].concat(),
        expected,
        "append returns the chained records"
    );
    assert_eq!(
        all_records(store).await,
        expected,
        "stored records read back unchanged"
    );
    assert_eq!(
        store.head().await.expect("head"),
        Some((10, expected[9].hash.clone()))
    );
    assert_eq!(
        store.records(4, 3).await.expect("page"),
        expected[3..6].to_vec(),
        "records(from, limit) pages in seq order"
    );

    let cp = Checkpoint {
        seq: 7,
        hash: expected[6].hash.clone(),
    };
    for page in [1, 3, 10, 1000] {
        let summary = verify(store, Some(cp.clone()), page)
            .await
            .expect("verify")
            .expect("intact chain");
        assert_eq!(summary.records, 10);
        assert_eq!(summary.head_seq, 10);
        assert_eq!(summary.head_hash, expected[9].hash);
    }

    let bad = AuditEntry::new(at(9999, 0), "RM1228", "customer.reveal", "customer", "C1");
    let refused = store.append(&[entries[1].clone(), bad]).await;
    assert!(refused.is_err(), "a reveal without a reason is refused");
    assert_eq!(
        store.head().await.expect("head").map(|h| h.0),
        Some(10),
        "a refused append writes nothing"
    );
}

/// `UPDATE` and `DELETE` on `audit_log` fail in the database itself.
pub async fn updates_and_deletes_are_refused(store: &dyn AuditStore, raw: &dyn RawSql) {
    store.append(&sample_entries()).await.expect("append");
    for sql in [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 5",
        "UPDATE audit_log SET seq = seq + 100",
        "DELETE FROM audit_log WHERE seq = 10",
        "DELETE FROM audit_log",
    ] {
        let Err(err) = raw.execute(sql).await else {
            panic!("{sql} must be refused");
        };
        assert!(err.contains("append-only"), "{sql}: unexpected error {err}");
    }
    assert_eq!(all_records(store).await, expected_sample_chain());
    assert!(verify(store, None, 4).await.expect("verify").is_ok());
}

/// One way to tamper with the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Change a field of record 5.
    EditField,
    /// Change record 5 and recompute its hash.
    EditAndRehash,
    /// Delete record 5.
    DeleteRow,
    /// Swap the seq of records 5 and 6.
    SwapSeq,
    /// Insert a correctly hashed forged record as seq 5, renumbering the rest.
    InsertRow,
    /// Delete records 9 and 10 (only a checkpoint shows it).
    CutTail,
    /// Change record 3 and rehash the rest of the chain consistently (only a checkpoint shows it).
    RewriteTail,
}

/// Every tampering case.
pub const TAMPER_CASES: [Tamper; 7] = [
    Tamper::EditField,
    Tamper::EditAndRehash,
    Tamper::DeleteRow,
    Tamper::SwapSeq,
    Tamper::InsertRow,
    Tamper::CutTail,
    Tamper::RewriteTail,
];

fn lit(value: Option<&str>) -> String {
    value.map_or_else(
        || "NULL".to_owned(),
        |v| format!("'{}'", v.replace('\'', "''")),
    )
}

fn update_sql(r: &AuditRecord) -> String {
    format!(
        "UPDATE audit_log SET reason = {}, prev_hash = {}, hash = {} WHERE seq = {}",
        lit(r.entry.reason.as_deref()),
        lit(Some(&r.prev_hash)),
        lit(Some(&r.hash)),
        r.seq
    )
}

fn insert_sql(r: &AuditRecord) -> String {
    let e = &r.entry;
    format!(
        "INSERT INTO audit_log (seq, recorded_at, actor, action, customer_id, client_addr, \
         target_table, target_key, before_json, after_json, reason, prev_hash, hash) \
         VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        r.seq,
        lit(Some(
            &e.recorded_at
                .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
                .to_string()
        )),
        lit(Some(&e.actor)),
        lit(Some(&e.action)),
        lit(e.customer_id.as_deref()),
        lit(e.client_addr.as_deref()),
        lit(Some(&e.target_table)),
        lit(Some(&e.target_key)),
        lit(e.before_json.as_deref()),
        lit(e.after_json.as_deref()),
        lit(e.reason.as_deref()),
        lit(Some(&r.prev_hash)),
        lit(Some(&r.hash)),
    )
}

async fn run(raw: &dyn RawSql, sql: &str) {
    raw.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("with the guards gone, {sql} should run: {e}"));
}

/// Appends the sample chain, takes a checkpoint at its head, removes the guards, tampers as
/// `case` says, and checks verification reports the first broken link at the right seq.
pub async fn tampering_is_detected(store: &dyn AuditStore, raw: &dyn RawSql, case: Tamper) {
    let chain = store.append(&sample_entries()).await.expect("append");
    let cp = Checkpoint {
        seq: 10,
        hash: chain[9].hash.clone(),
    };
    raw.drop_guards().await.expect("drop the guards");
    let (without_cp, with_cp) = tamper(raw, &chain, case).await;
    for page in [1, 4, 100] {
        let found = verify(store, None, page).await.expect("verify").err();
        assert_eq!(
            found, without_cp,
            "{case:?}, page {page}, without checkpoint"
        );
        let found = verify(store, Some(cp.clone()), page)
            .await
            .expect("verify")
            .err();
        assert_eq!(
            found,
            Some(with_cp.clone()),
            "{case:?}, page {page}, with checkpoint"
        );
    }
}

/// Tampers with the sample chain as `case` says; returns the break verification must report
/// without and with a checkpoint at seq 10.
async fn tamper(
    raw: &dyn RawSql,
    chain: &[AuditRecord],
    case: Tamper,
) -> (Option<ChainBreak>, ChainBreak) {
    match case {
        Tamper::EditField => {
            run(raw, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 5").await;
            let b = ChainBreak {
                seq: 5,
                kind: BreakKind::HashMismatch,
            };
            (Some(b.clone()), b)
        }
        Tamper::EditAndRehash => {
            let mut r = chain[4].clone();
            r.entry.reason = Some("nothing to see".to_owned());
            r.hash = r.computed_hash();
            run(raw, &update_sql(&r)).await;
            let b = ChainBreak {
                seq: 6,
                kind: BreakKind::PrevMismatch,
            };
            (Some(b.clone()), b)
        }
        Tamper::DeleteRow => {
            run(raw, "DELETE FROM audit_log WHERE seq = 5").await;
            let b = ChainBreak {
                seq: 5,
                kind: BreakKind::SequenceGap { found: 6 },
            };
            (Some(b.clone()), b)
        }
        Tamper::SwapSeq => {
            run(raw, "UPDATE audit_log SET seq = 1000000 WHERE seq = 5").await;
            run(raw, "UPDATE audit_log SET seq = 5 WHERE seq = 6").await;
            run(raw, "UPDATE audit_log SET seq = 6 WHERE seq = 1000000").await;
            let b = ChainBreak {
                seq: 5,
                kind: BreakKind::PrevMismatch,
            };
            (Some(b.clone()), b)
        }
        Tamper::InsertRow => {
            for seq in (5..=10).rev() {
                run(
                    raw,
                    &format!("UPDATE audit_log SET seq = {} WHERE seq = {seq}", seq + 1),
                )
                .await;
            }
            let forged = AuditEntry::new(at(250, 0), "RM1228", "customer.update", "customer", "C9")
                .reason("forged");
            let forged = AuditRecord::seal(4, &chain[3].hash, forged);
            run(raw, &insert_sql(&forged)).await;
            let b = ChainBreak {
                seq: 6,
                kind: BreakKind::PrevMismatch,
            };
            (Some(b.clone()), b)
        }
        Tamper::CutTail => {
            run(raw, "DELETE FROM audit_log WHERE seq > 8").await;
            (
                None,
                ChainBreak {
                    seq: 10,
                    kind: BreakKind::CheckpointMissing { head_seq: 8 },
                },
            )
        }
        Tamper::RewriteTail => {
            let mut entries = sample_entries();
            entries[2].reason = Some("rewritten".to_owned());
            for r in &AuditRecord::chain_after(None, entries)[2..] {
                run(raw, &update_sql(r)).await;
            }
            (
                None,
                ChainBreak {
                    seq: 10,
                    kind: BreakKind::CheckpointMismatch,
                },
            )
        }
    }
}
