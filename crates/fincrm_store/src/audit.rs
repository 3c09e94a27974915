//! The audit trail's storage port: an append-only, hash-chained `audit_log` table.
//!
//! The records, their canonical form and the chain rules are in [`fincrm_domain::audit`]
//! (re-exported here). Each adapter implements [`AuditStore`] and, for business writes that must
//! record their audit entry in the same transaction as the change, offers
//! a crate-private `audit::append_in(&mut connection, entries)` to call inside an open
//! transaction (documented in each adapter's `src/audit.rs`).
//!
//! Walls, from the inside out: the chain itself (any edit, deletion or reordering shows in
//! [`verify`]); triggers in both engines that abort every `UPDATE` and `DELETE` on `audit_log`
//! (and `TRUNCATE` on PostgreSQL); on PostgreSQL, `UPDATE`, `DELETE` and `TRUNCATE` revoked from
//! `PUBLIC` (the production application role must not own the table, or it could drop the
//! trigger); and checkpoints (`seq hash`) kept outside the database, which catch a cut-off tail
//! or a consistent rewrite by someone with DBA rights.

pub mod conformance;
pub mod group;

use crate::StoreResult;
use async_trait::async_trait;
pub use fincrm_domain::audit::{
    AuditEntry, AuditRecord, BreakKind, ChainBreak, ChainSummary, ChainVerifier, Checkpoint,
    GENESIS_HASH,
};

/// What a caller hands to [`AuditStore::append`]: the content of a record; the store assigns
/// `seq`, `prev_hash` and `hash`.
pub type NewAuditEntry = AuditEntry;

/// Records read per page by [`verify`].
pub const VERIFY_PAGE: i64 = 5_000;

/// The append-only audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `entries` in one transaction, after the current head: each gets `seq = last + 1`,
    /// `prev_hash = last hash` and its hash. Appenders are serialised, so the chain never forks.
    /// Entries failing [`AuditEntry::check`] are refused (nothing is written). Returns the
    /// records as stored.
    async fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<AuditRecord>>;

    /// Up to `limit` records with `seq >= from_seq`, in seq order (for streaming verification
    /// and audit reads).
    async fn records(&self, from_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>>;

    /// The last record's seq and hash; `None` when the log is empty.
    async fn head(&self) -> StoreResult<Option<(i64, String)>>;

    /// Whether concurrent [`append`](Self::append)s already share transactions (group commit)
    /// inside this store, so that a caller need not group them in front of it.
    fn groups_appends(&self) -> bool {
        false
    }
}

/// The column list of [`AuditRow`], for `SELECT`s, in the order of the `audit_log` table.
pub const AUDIT_COLUMNS: &str = "seq, recorded_at, actor, action, customer_id, client_addr, \
    target_table, target_key, before_json, after_json, reason, prev_hash, hash";

/// A stored audit record, as both adapters read it.
#[derive(Debug, sqlx::FromRow)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct AuditRow {
    pub seq: i64,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub customer_id: Option<String>,
    pub client_addr: Option<String>,
    pub target_table: String,
    pub target_key: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub reason: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditRow> for AuditRecord {
    /// Takes the stored values as they are: whether they are intact is for [`verify`] to say.
    fn from(r: AuditRow) -> Self {
        Self {
            seq: r.seq,
            entry: AuditEntry {
                recorded_at: r.recorded_at,
                actor: r.actor,
                action: r.action,
                customer_id: r.customer_id,
                client_addr: r.client_addr,
                target_table: r.target_table,
                target_key: r.target_key,
                before_json: r.before_json,
                after_json: r.after_json,
                reason: r.reason,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// Checks entries before an adapter writes them, as a validation error the caller can show.
pub fn check_entries(entries: &[NewAuditEntry]) -> StoreResult<()> {
    for e in entries {
        e.check().map_err(|err| {
            crate::StoreError::Other(anyhow::anyhow!("audit entry refused: {err}"))
        })?;
    }
    Ok(())
}

/// Walks the whole chain in pages of `page` records (constant memory) and verifies it, with
/// `checkpoint` when given. The outer error is a storage failure; the inner one the first
/// broken link.
pub async fn verify(
    store: &dyn AuditStore,
    checkpoint: Option<Checkpoint>,
    page: i64,
) -> StoreResult<Result<ChainSummary, ChainBreak>> {
    let page = page.max(1);
    let mut verifier = ChainVerifier::new(checkpoint);
    let mut from = 1;
    loop {
        let records = store.records(from, page).await?;
        let Some(last) = records.last() else { break };
        let next_from = last.seq.saturating_add(1);
        let full = i64::try_from(records.len()).unwrap_or(i64::MAX) >= page;
        for r in &records {
            if let Err(broken) = verifier.push(r) {
                return Ok(Err(broken));
            }
        }
        if !full {
            break;
        }
        from = next_from;
    }
    Ok(verifier.finish())
}
