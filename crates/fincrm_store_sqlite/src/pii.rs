//! Personal information at rest on SQLite: the rotation page (exact lookups are in `read`).
//! The sealing itself is shared with PostgreSQL in `fincrm_store::pii`.

use fincrm_crypto::Keyring;
use fincrm_store::pii::{CustomerPi, PI_COLUMNS, ReencryptPage, reseal};
use fincrm_store::{StoreError, StoreResult};
use sqlx::AssertSqlSafe;
use sqlx::sqlite::SqlitePool;

/// One page of the rotation job, in one `BEGIN IMMEDIATE` transaction (the writer's lock is
/// taken before the rows are read, so no other writer changes them in between).
pub(crate) async fn reencrypt_page(
    writer: &SqlitePool,
    keyring: Option<&Keyring>,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<ReencryptPage> {
    let keyring = keyring.ok_or_else(|| {
        StoreError::Other(anyhow::anyhow!(
            "re-encryption needs a keyring: set FINCRM_KEY_FILE"
        ))
    })?;
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let sql = format!(
        "SELECT {PI_COLUMNS} FROM customer WHERE customer_id > ? ORDER BY customer_id LIMIT ?"
    );
    let rows: Vec<CustomerPi> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    let mut page = ReencryptPage {
        scanned: rows.len() as u64,
        rewritten: 0,
        last_key: rows.last().map(|r| r.customer_id.clone()),
    };
    for row in &rows {
        let Some(new) = reseal(keyring, row)? else {
            continue;
        };
        sqlx::query(
            "UPDATE customer SET id_number = ?1, phone = ?2, email = ?3, address = ?4, \
             id_number_enc = ?5, id_number_bidx = ?6, phone_enc = ?7, phone_bidx = ?8, \
             email_enc = ?9, address_enc = ?10 WHERE customer_id = ?11",
        )
        .bind(new.id_number)
        .bind(new.phone)
        .bind(new.email)
        .bind(new.address)
        .bind(new.id_number_enc)
        .bind(new.id_number_bidx)
        .bind(new.phone_enc)
        .bind(new.phone_bidx)
        .bind(new.email_enc)
        .bind(new.address_enc)
        .bind(new.customer_id)
        .execute(&mut *tx)
        .await?;
        page.rewritten += 1;
    }
    tx.commit().await?;
    Ok(page)
}
