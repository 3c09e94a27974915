//! Reversible merges of duplicate customers: the lineage record and the SQL both engines share.
//!
//! A merge moves no rows. The merged record points at the survivor (`customer.merged_into`);
//! reads of a customer's holdings, transactions, interactions and consents cover the customer
//! and every record merged into it ([`family_union`]); an undo clears the pointer and restores
//! the status. One level only: a record others were merged into is not merged itself (the
//! service refuses), so the family is the survivor plus its direct merges.

use crate::sql::{Dialect, SqlArg, push};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One merge, as the lineage table keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MergeRecord {
    /// Key.
    pub merge_id: String,
    /// The record that stays.
    pub survivor_id: String,
    /// The duplicate merged into it.
    pub merged_id: String,
    /// When.
    pub merged_at: DateTime<Utc>,
    /// Who.
    pub merged_by: String,
    /// Why (e.g. the same ID number, confirmed at the counter).
    pub reason: String,
    /// The merged record's status before, restored by an undo.
    pub prior_status: String,
    /// When it was undone, if it was.
    pub undone_at: Option<DateTime<Utc>>,
    /// Who undid it.
    pub undone_by: Option<String>,
}

/// The column list of [`MergeRecord`].
pub const MERGE_COLUMNS: &str = "merge_id, survivor_id, merged_id, merged_at, merged_by, reason, \
    prior_status, undone_at, undone_by";

/// `SELECT columns FROM table` for the customer whose id is bound at placeholder `own` and for
/// the records merged into it, with the extra `conds`, in `order`, at most `limit` (a
/// placeholder) rows.
///
/// Two branches of a `UNION ALL` — the customer's own rows by plain equality, the merged
/// records' through the (almost always empty) `merged_into` index — rather than one
/// `customer_id IN (own ∪ merged)`: PostgreSQL plans that as a hash semi-join over the whole
/// table, and `= ANY(ARRAY(…))` as a parallel scan on a guessed row count; both cost more than
/// the read itself.
pub fn family_union(
    columns: &str,
    table: &str,
    own: &str,
    conds: &[String],
    order: &str,
    limit: Option<&str>,
) -> String {
    let extra = conds.iter().fold(String::new(), |acc, c| acc + " AND " + c);
    let limit = limit.map(|l| format!(" LIMIT {l}")).unwrap_or_default();
    format!(
        "SELECT * FROM (\
         SELECT {columns} FROM {table} WHERE customer_id = {own}{extra} \
         UNION ALL \
         SELECT {columns} FROM {table} WHERE customer_id IN \
         (SELECT m.customer_id FROM customer m WHERE m.merged_into = {own}){extra}\
         ) f ORDER BY {order}{limit}"
    )
}

/// `SELECT columns FROM table` for a customer's family (see [`family_union`]), in `order`, at
/// most `limit` rows.
pub fn family_select(
    dialect: Dialect,
    columns: &str,
    table: &str,
    customer_id: &str,
    order: &str,
    limit: Option<i64>,
) -> (String, Vec<SqlArg>) {
    let mut args = Vec::new();
    let own = push(dialect, &mut args, SqlArg::Text(customer_id.to_owned()));
    let limit = limit.map(|l| push(dialect, &mut args, SqlArg::Int(l)));
    (
        family_union(columns, table, &own, &[], order, limit.as_deref()),
        args,
    )
}
