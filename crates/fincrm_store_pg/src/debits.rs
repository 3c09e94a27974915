//! `customer_debits` kept on write ([`fincrm_store::debits`]): each write of transactions
//! updates the lists of the customers it touched, in the write's own transaction (migration
//! 0013 filled the table from the transactions stored before it).
//!
//! When every row of a batch was new (the usual load), the batch's debits, grouped by customer
//! in Rust, are appended to the stored arrays in one statement: the append takes the row's lock,
//! so concurrent writers cannot lose each other's debits. When some rows were stored before (a
//! batch loaded twice), which ones this insert added is unknown, and the touched customers'
//! lists are made again from `bank_transaction`, which is always right.

use fincrm_store::StoreResult;
use fincrm_store::debits::Debit;
use sqlx::PgConnection;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Updates the lists of the customers in `new` (a batch's debits, by customer) after the batch
/// was inserted: appended when `all_new` (every row of the batch was inserted), else made
/// again from the stored transactions.
pub(crate) async fn keep(
    conn: &mut PgConnection,
    new: &BTreeMap<String, Vec<Debit>>,
    all_new: bool,
) -> StoreResult<()> {
    if new.is_empty() {
        return Ok(());
    }
    let customers: Vec<&str> = new.keys().map(String::as_str).collect();
    if all_new {
        append(conn, &customers, new).await
    } else {
        remake(conn, &customers).await
    }
}

/// Appends each customer's new debits to the stored arrays (a new customer gets a row). The
/// arrays travel as array literals (`{1,2,3}`), one a customer: the statement then needs no
/// grouping.
async fn append(
    conn: &mut PgConnection,
    customers: &[&str],
    new: &BTreeMap<String, Vec<Debit>>,
) -> StoreResult<()> {
    let instants: Vec<String> = new
        .values()
        .map(|d| array_literal(d.iter().map(|d| d.at)))
        .collect();
    let amounts: Vec<String> = new
        .values()
        .map(|d| array_literal(d.iter().map(|d| d.amount_minor)))
        .collect();
    sqlx::query(
        "INSERT INTO customer_debits (customer_id, posted_at, amount_minor) \
         SELECT c, p::bigint[], a::bigint[] FROM unnest($1::text[], $2::text[], $3::text[]) AS u(c, p, a) \
         ON CONFLICT (customer_id) DO UPDATE \
            SET posted_at = customer_debits.posted_at || excluded.posted_at, \
                amount_minor = customer_debits.amount_minor || excluded.amount_minor",
    )
    .bind(customers)
    .bind(instants)
    .bind(amounts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `{1,2,3}`: PostgreSQL's text form of an array of numbers.
fn array_literal(values: impl Iterator<Item = i64>) -> String {
    let mut out = String::from("{");
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{v}");
    }
    out.push('}');
    out
}

/// Makes the lists of `customers` again from their stored debit transactions. Each row is
/// first made to exist and locked (waiting for any writer appending to it to commit), and only
/// then read from `bank_transaction` by a statement of its own, whose snapshot (read committed)
/// holds every debit committed until the lock was had: a list made from an older snapshot would
/// drop another writer's append.
async fn remake(conn: &mut PgConnection, customers: &[&str]) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO customer_debits (customer_id, posted_at, amount_minor) \
         SELECT unnest($1::text[]), '{}', '{}' ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(customers)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT 1 FROM customer_debits WHERE customer_id = ANY($1) FOR UPDATE")
        .bind(customers)
        .fetch_all(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE customer_debits d \
            SET posted_at = coalesce(t.posted_at, '{}'), \
                amount_minor = coalesce(t.amount_minor, '{}') \
           FROM unnest($1::text[]) AS k(customer_id) \
           CROSS JOIN LATERAL ( \
                SELECT array_agg(floor(extract(epoch FROM b.posted_at))::bigint \
                                 ORDER BY b.posted_at, b.amount_minor) AS posted_at, \
                       array_agg(b.amount_minor ORDER BY b.posted_at, b.amount_minor) AS amount_minor \
                  FROM bank_transaction b \
                 WHERE b.customer_id = k.customer_id AND b.direction = 'debit') t \
          WHERE d.customer_id = k.customer_id",
    )
    .bind(customers)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
