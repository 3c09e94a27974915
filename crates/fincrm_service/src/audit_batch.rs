//! Group commit for the audit trail: concurrent appends share one transaction.
//!
//! Every customer view, reveal and PI lookup appends an audit record before its answer goes
//! out. Appends are serialised (the hash chain must not fork) and each is a durable commit —
//! one fsync on SQLite with `synchronous=FULL` — so under load the callers would queue behind
//! one another's fsyncs. [`GroupCommitAudit`] hands appends to one writer task that takes
//! everything waiting and appends it in one transaction: the same chain, the same durability
//! (no caller hears "done" before its records are committed), one fsync for the group.

use async_trait::async_trait;
use fincrm_domain::audit::AuditRecord;
use fincrm_store::audit::check_entries;
use fincrm_store::audit::group::{self, MAX_GROUP, Waiting};
use fincrm_store::{AuditStore, NewAuditEntry, StoreError, StoreResult};
use std::sync::Arc;
use tokio::sync::mpsc;

/// An [`AuditStore`] whose appends are group-committed through one writer task; reads go
/// straight to the inner store.
pub struct GroupCommitAudit {
    inner: Arc<dyn AuditStore>,
    queue: mpsc::Sender<Waiting>,
}

impl GroupCommitAudit {
    /// Wraps `inner`, starting the writer task on the current Tokio runtime. The task ends
    /// when the last handle is dropped, after the appends already queued.
    pub fn new(inner: Arc<dyn AuditStore>) -> Self {
        let (queue, jobs) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(writer(Arc::clone(&inner), jobs));
        Self { inner, queue }
    }
}

/// `audit` with concurrent appends group-committed: as it is when the store groups them
/// itself ([`AuditStore::groups_appends`]), else behind a [`GroupCommitAudit`].
pub fn group_commit(audit: Arc<dyn AuditStore>) -> Arc<dyn AuditStore> {
    if audit.groups_appends() {
        audit
    } else {
        Arc::new(GroupCommitAudit::new(audit))
    }
}

async fn writer(inner: Arc<dyn AuditStore>, mut jobs: mpsc::Receiver<Waiting>) {
    while let Some(first) = jobs.recv().await {
        let group = group::gather(first, || jobs.try_recv().ok());
        let appended = inner.append(&group::entries(&group)).await;
        group::answer(group, appended);
    }
}

#[async_trait]
impl AuditStore for GroupCommitAudit {
    async fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<AuditRecord>> {
        // Refuse a bad entry here, so it can never fail the group it would have joined.
        check_entries(entries)?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let (waiting, answer) = Waiting::new(entries.to_vec());
        self.queue
            .send(waiting)
            .await
            .map_err(|_| StoreError::Other(anyhow::anyhow!("the audit writer has stopped")))?;
        answer
            .await
            .map_err(|_| StoreError::Other(anyhow::anyhow!("the audit writer has stopped")))?
    }

    async fn records(&self, from_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        self.inner.records(from_seq, limit).await
    }

    async fn head(&self) -> StoreResult<Option<(i64, String)>> {
        self.inner.head().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_transactions_and_keep_one_chain() {
        let dir = tempfile::tempdir().expect("dir");
        let store = fincrm_store_sqlite::SqliteStore::open(&dir.path().join("a.db"))
            .await
            .expect("open");
        fincrm_store::Store::migrate(&store).await.expect("migrate");
        let audit = Arc::new(GroupCommitAudit::new(Arc::new(store.clone())));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let audit = Arc::clone(&audit);
            tasks.push(tokio::spawn(async move {
                let e = NewAuditEntry::new(
                    chrono::Utc::now(),
                    format!("u{i}"),
                    "customer.view",
                    "customer",
                    format!("C{i}"),
                );
                audit.append(&[e.clone(), e]).await
            }));
        }
        let mut seqs = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            let records = t.await.expect("task").expect("append");
            assert_eq!(records.len(), 2);
            for r in &records {
                assert_eq!(
                    r.entry.actor,
                    format!("u{i}"),
                    "each caller gets its own records"
                );
                seqs.push(r.seq);
            }
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=400).collect::<Vec<i64>>());
        let report = fincrm_store::audit::verify(&store, None, 100)
            .await
            .expect("verify");
        assert!(report.is_ok(), "{report:?}");
        let bad = NewAuditEntry::new(chrono::Utc::now(), "", "customer.view", "customer", "C1");
        assert!(
            audit.append(&[bad]).await.is_err(),
            "refused before the queue"
        );
    }
}
