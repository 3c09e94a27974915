//! Duplicate customers: the candidate list, a reversible merge, and its lineage (issue #3).
//!
//! A merge moves nothing: the duplicate points at the survivor (`fincrm_store::merge`), the
//! survivor's views read the duplicate's holdings, transactions, contacts and consents, and the
//! nightly extract can keep writing the duplicate's accounts under its own number. An undo
//! restores both records exactly. Merges are data-quality work for administrators and branch
//! managers, inside their scope, with a stated reason; each merge and undo is audited on both
//! records in the same transaction.

use crate::activity::new_key;
use crate::customers::{
    Caller, CustomerError, CustomerView, check_reason, entry, find, invalid, require_read,
};
use fincrm_domain::{Customer, StaffRole};
use fincrm_store::{MergeRecord, Store};
use serde::{Deserialize, Serialize};

/// Roles that merge and unmerge customers (within their scope).
pub const MERGE_ROLES: &[StaffRole] = &[StaffRole::Admin, StaffRole::BranchManager];

/// Candidate pairs examined per request (both sides must be in the caller's scope).
pub const DUPLICATES_MAX: i64 = 200;

fn require_merge(caller: &Caller<'_>) -> Result<(), CustomerError> {
    if !MERGE_ROLES.contains(&caller.principal.role) {
        return Err(CustomerError::Forbidden(
            "this role may not merge customers",
        ));
    }
    if !caller
        .principal
        .allows(fincrm_domain::auth::Scope::CustomersWrite)
    {
        return Err(CustomerError::Forbidden(
            "the token lacks the customers:write scope",
        ));
    }
    Ok(())
}

/// Two records that may be one customer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DuplicatePair {
    /// One record (the lower customer number).
    pub a: CustomerView,
    /// The other.
    pub b: CustomerView,
    /// Why: `same_id_number`, `same_uscc` or `same_phone_and_name`.
    pub reason: String,
}

/// Candidate duplicates found by the last import, both records inside the caller's scope and
/// neither merged yet.
pub async fn duplicates(
    store: &dyn Store,
    caller: &Caller<'_>,
) -> Result<Vec<DuplicatePair>, CustomerError> {
    let scope = require_read(caller.principal)?;
    let mut pairs = Vec::new();
    for c in store.duplicate_candidates(DUPLICATES_MAX).await? {
        let (Ok(a), Ok(b)) = (
            fincrm_domain::CustomerId::parse(&c.customer_a),
            fincrm_domain::CustomerId::parse(&c.customer_b),
        ) else {
            continue;
        };
        let (Some(a), Some(b)) = (
            store.customer_in_scope(&scope, &a).await?,
            store.customer_in_scope(&scope, &b).await?,
        ) else {
            continue;
        };
        if a.merged_into.is_some() || b.merged_into.is_some() {
            continue;
        }
        pairs.push(DuplicatePair {
            a: CustomerView::masked(&a),
            b: CustomerView::masked(&b),
            reason: c.reason,
        });
    }
    Ok(pairs)
}

/// A merge request (`POST /api/v1/customers/{id}/merge`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The customer number that stays (the survivor).
    pub into: String,
    /// Why these are one customer, 5–500 characters (recorded in the lineage and the audit
    /// trail).
    #[schema(min_length = 5, max_length = 500)]
    pub reason: String,
}

fn audit_body(record: &MergeRecord) -> String {
    serde_json::json!({
        "merge_id": record.merge_id,
        "survivor_id": record.survivor_id,
        "merged_id": record.merged_id,
    })
    .to_string()
}

/// Merges customer `id` into `request.into`.
pub async fn merge(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    request: &MergeRequest,
) -> Result<MergeRecord, CustomerError> {
    let merged = find(store, caller, id).await?;
    require_merge(caller)?;
    if request.into.trim() == merged.id.as_str() {
        return Err(invalid("into", "a customer cannot be merged into itself"));
    }
    let survivor: Customer = find(store, caller, &request.into).await?;
    let reason = check_reason(&request.reason)?;
    if merged.kind != survivor.kind {
        return Err(invalid(
            "into",
            "an individual and a corporate customer cannot be merged",
        ));
    }
    if survivor.merged_into.is_some() {
        return Err(CustomerError::Conflict(
            "the survivor was itself merged; merge into the record it points at",
        ));
    }
    if merged.merged_into.is_some() {
        return Err(CustomerError::Conflict("this record is already merged"));
    }
    let lineage = store.merges_of(&merged.id).await?;
    if lineage
        .iter()
        .any(|m| m.survivor_id == merged.id.as_str() && m.undone_at.is_none())
    {
        return Err(CustomerError::Conflict(
            "other records are merged into this one; undo those merges first",
        ));
    }
    let record = MergeRecord {
        merge_id: new_key("M", caller.now),
        survivor_id: survivor.id.as_str().to_owned(),
        merged_id: merged.id.as_str().to_owned(),
        merged_at: caller.now,
        merged_by: caller.principal.user_id.as_str().to_owned(),
        reason: reason.to_owned(),
        prior_status: merged.status.as_str().to_owned(),
        undone_at: None,
        undone_by: None,
    };
    let body = audit_body(&record);
    let entries = [
        entry(caller, "customer.merge", &merged.id)
            .after(body.clone())
            .reason(reason),
        entry(caller, "customer.merge", &survivor.id)
            .after(body)
            .reason(reason),
    ];
    if !store.merge_customers(&record, &entries).await? {
        return Err(CustomerError::Conflict("this record is already merged"));
    }
    Ok(record)
}

/// Undoes merge `merge_id`: both records as they were before.
pub async fn undo(
    store: &dyn Store,
    caller: &Caller<'_>,
    merge_id: &str,
) -> Result<MergeRecord, CustomerError> {
    require_read(caller.principal)?;
    let record = store
        .merge_record(merge_id)
        .await?
        .ok_or(CustomerError::NotFound)?;
    let merged = find(store, caller, &record.merged_id).await?;
    let survivor = find(store, caller, &record.survivor_id).await?;
    require_merge(caller)?;
    if record.undone_at.is_some() {
        return Err(CustomerError::Conflict("this merge was already undone"));
    }
    let body = audit_body(&record);
    let entries = [
        entry(caller, "customer.unmerge", &merged.id).before(body.clone()),
        entry(caller, "customer.unmerge", &survivor.id).before(body),
    ];
    store
        .undo_merge(
            merge_id,
            caller.principal.user_id.as_str(),
            caller.now,
            &entries,
        )
        .await?
        .ok_or(CustomerError::Conflict("this merge was already undone"))
}

/// The merges a customer took part in, either side, newest first.
pub async fn lineage(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
) -> Result<Vec<MergeRecord>, CustomerError> {
    let c = find(store, caller, id).await?;
    Ok(store.merges_of(&c.id).await?)
}
