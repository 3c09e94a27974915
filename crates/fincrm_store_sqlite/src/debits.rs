//! `customer_debits` kept on write ([`fincrm_store::debits`]): each write of transactions
//! updates the lists of the customers it touched, in its own transaction, and a database
//! written before the table existed has it filled once when migrated.
//!
//! SQLite has one writer, so reading a list, merging and writing it back cannot lose another
//! writer's debits. When every row of a batch was new (the usual load), its debits are merged
//! into the stored lists; when some were already stored (a batch loaded twice), the touched
//! customers' lists are made again from `bank_transaction`, which is always right.

use crate::MAX_PARAMS_PER_STATEMENT;
use fincrm_store::StoreResult;
use fincrm_store::debits::{Debit, encode, merge_encoded};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, AssertSqlSafe, SqliteConnection};
use std::collections::{BTreeMap, HashMap};

/// The `store_task` row of a fill still to do (see migration 0013).
const FILL_TASK: &str = "customer_debits";

/// Updates the lists of the customers in `new` (a batch's debits, by customer) after the batch
/// was written: merged in when `all_new` (every row of the batch was inserted), else made again
/// from the stored transactions.
pub(crate) async fn keep(
    conn: &mut SqliteConnection,
    new: BTreeMap<String, Vec<Debit>>,
    all_new: bool,
) -> StoreResult<()> {
    if new.is_empty() {
        return Ok(());
    }
    let customers: Vec<&str> = new.keys().map(String::as_str).collect();
    let lists = if all_new {
        let stored: HashMap<String, Vec<u8>> = sqlx::query_as(
            "SELECT customer_id, debits FROM customer_debits \
              WHERE customer_id IN (SELECT value FROM json_each(?))",
        )
        .bind(crate::json_keys(&customers))
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        new.iter()
            .map(|(customer, debits)| {
                let merged = merge_encoded(stored.get(customer).map(Vec::as_slice), debits)?;
                Ok((customer.clone(), merged))
            })
            .collect::<StoreResult<Vec<_>>>()?
    } else {
        from_transactions(conn, &customers).await?
    };
    upsert(conn, &lists).await
}

/// The lists of `customers` made from their stored debit transactions (customers without any
/// get none).
async fn from_transactions(
    conn: &mut SqliteConnection,
    customers: &[&str],
) -> StoreResult<Vec<(String, Vec<u8>)>> {
    // One row a customer, its debits joined as text: a row a transaction through sqlx costs
    // more than parsing the text.
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT customer_id, group_concat(posted_at || ' ' || amount_minor, ',') \
           FROM bank_transaction \
          WHERE customer_id IN (SELECT value FROM json_each(?)) AND direction = 'debit' \
          GROUP BY customer_id",
    )
    .bind(crate::json_keys(customers))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(customer, joined)| {
            let mut debits = joined
                .split(',')
                .map(|pair| parse_pair(pair, &customer))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok((customer, encode(&mut debits)))
        })
        .collect()
}

/// `posted_at amount_minor` as a debit.
fn parse_pair(pair: &str, customer: &str) -> StoreResult<Debit> {
    let corrupt = || {
        fincrm_store::StoreError::Corrupt(format!(
            "a debit of customer {customer} in bank_transaction is not an instant and an amount"
        ))
    };
    let (instant, amount) = pair.split_once(' ').ok_or_else(corrupt)?;
    let at = chrono::DateTime::parse_from_rfc3339(instant).map_err(|_| corrupt())?;
    Ok(Debit {
        at: at.timestamp(),
        amount_minor: amount.parse().map_err(|_| corrupt())?,
    })
}

async fn upsert(conn: &mut SqliteConnection, lists: &[(String, Vec<u8>)]) -> StoreResult<()> {
    for chunk in lists.chunks(MAX_PARAMS_PER_STATEMENT / 2) {
        let values = vec!["(?, ?)"; chunk.len()].join(",");
        let mut args = SqliteArguments::default();
        for (customer, list) in chunk {
            args.add(customer.as_str())
                .and_then(|()| args.add(list.as_slice()))
                .map_err(|e| anyhow::anyhow!("binding a value failed: {e}"))?;
        }
        sqlx::query_with(
            AssertSqlSafe(format!(
                "INSERT INTO customer_debits (customer_id, debits) VALUES {values} \
                 ON CONFLICT (customer_id) DO UPDATE SET debits = excluded.debits"
            )),
            args,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Fills `customer_debits` from the stored transactions when migration 0013 left that to do
/// (a store task: a page of customers a transaction, resumable).
pub(crate) async fn fill_if_pending(pool: &sqlx::SqlitePool) -> StoreResult<()> {
    crate::tasks::run(pool, FILL_TASK, async |tx, after| {
        let page: Vec<String> = sqlx::query_scalar(
            "SELECT customer_id FROM customer WHERE customer_id > ? ORDER BY customer_id LIMIT ?",
        )
        .bind(after)
        .bind(crate::tasks::PAGE)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        let customers: Vec<&str> = page.iter().map(String::as_str).collect();
        let lists = from_transactions(tx, &customers).await?;
        upsert(tx, &lists).await?;
        Ok(Some(last.clone()))
    })
    .await?;
    Ok(())
}

/// Whether the fill is still to do (then the lists are not yet whole, and the transactions
/// are read instead).
pub(crate) fn fill_pending(conn: &rusqlite::Connection) -> StoreResult<bool> {
    crate::tasks::pending(conn, FILL_TASK)
}
