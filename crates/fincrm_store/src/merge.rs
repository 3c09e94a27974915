//! Reversible merges of duplicate customers: the lineage record and the SQL both engines share.
//!
//! A merge moves no rows. The merged record points at the survivor (`customer.merged_into`);
//! reads of a customer's holdings, transactions, interactions and consents cover the customer
//! and every record merged into it ([`family_sql`]); an undo clears the pointer and restores
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

/// `customer_id IN (…)` covering `customer_id` and the records merged into it, with its
/// arguments appended to `args`.
pub fn family_sql(dialect: Dialect, args: &mut Vec<SqlArg>, customer_id: &str) -> String {
    let own = push(dialect, args, SqlArg::Text(customer_id.to_owned()));
    let merged = push(dialect, args, SqlArg::Text(customer_id.to_owned()));
    let cast = if dialect == Dialect::Postgres {
        "::text"
    } else {
        ""
    };
    format!(
        "customer_id IN (SELECT {own}{cast} UNION ALL \
         SELECT m.customer_id FROM customer m WHERE m.merged_into = {merged})"
    )
}

/// `SELECT columns FROM table WHERE <family of customer_id> ORDER BY order LIMIT limit`.
pub fn family_select(
    dialect: Dialect,
    columns: &str,
    table: &str,
    customer_id: &str,
    order: &str,
    limit: Option<i64>,
) -> (String, Vec<SqlArg>) {
    let mut args = Vec::new();
    let family = family_sql(dialect, &mut args, customer_id);
    let limit = limit
        .map(|l| format!(" LIMIT {}", push(dialect, &mut args, SqlArg::Int(l))))
        .unwrap_or_default();
    (
        format!("SELECT {columns} FROM {table} WHERE {family} ORDER BY {order}{limit}"),
        args,
    )
}
